"""Import a rule folder in the "opendrg" layout into the drgsim table format.

The opendrg layout (OpenDRG/DRG_Python) describes one grouper version with CSV files whose
conditions are small Python-like expressions over a case (``record.zdList``,
``record.ssList`` ...). This module translates those expressions into the declarative rule
language of the drgsim table format (``grouper_tables/FORMAT.md``) with a real tokenizer and
a recursive-descent parser: every expression form it does not know is an error naming the
file, the line, the rule and the expression; nothing is skipped silently.

Source files read (in ``src``)::

    mdc_conditions.csv          mdc, entry_condition_python
    mdc_principal_dx_lists.csv  mdc, list_name, code
    adrg_conditions.csv         adrg, entry_condition_python, drg_candidates_in_order
    adrg_code_lists.csv         adrg, list_name, seq, code
    drg_split_conditions.csv    drg, condition_python
    DRG.csv                     drg, name
    MCC.csv, CC.csv             icd10_code, exclusion_table
    CCE.csv                     principal_dx_code, exclusion_table
    SS_VALID.csv                icd9cm3_code, name

and, when an ICD folder is given or found next to ``src`` (``src.parent / "icd"``),
``ICD10医保版v2.0.csv``, ``ICD9CM3医保版v2.0.csv``, their ``灰码`` (gray) lists and the
input-code maps ``ZD_MAP.csv`` / ``SS_MAP.csv``.

Grouping semantics the tables do not carry (see the reference README) are made explicit:
the MDC order, the body regions of MDCZ, the labelled ``adrg_ss1`` lists of JA1/JA2/NA1,
suffixed alternative ADRG rows and the order of DRG splits.

Examples
--------
>>> from pathlib import Path
>>> src = Path("../shared/reference/chs-drg-1.1")
>>> report = import_opendrg(src, Path("out/chs-drg-1.1"), "chs-drg-1.1")  # doctest: +SKIP
>>> print(report.summary())  # doctest: +SKIP
chs-drg-1.1 (from chs-drg-1.1): 26 MDC, 376 ADRG, 628 DRG, 446 code lists, 4678 MCC, 16568 CC
...
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drgsim.exceptions import TableImportError

__all__ = ["MDC_ORDER_HEAD", "ImportReport", "import_opendrg"]

#: MDCs tried before the others (README point 1); the rest follow in alphabetical order.
MDC_ORDER_HEAD: tuple[str, ...] = ("A", "P", "Y", "Z", "M", "N")

#: Names of the MDCs of CHS-DRG 1.x (the opendrg tables carry none).
MDC_NAMES: dict[str, tuple[str, str]] = {
    "A": ("先期分组疾病及相关操作", "Pre-MDC"),
    "B": ("神经系统疾病及功能障碍", "Diseases and disorders of the nervous system"),
    "C": ("眼疾病及功能障碍", "Diseases and disorders of the eye"),
    "D": (
        "头颈、耳、鼻、口、咽疾病及功能障碍",
        "Diseases and disorders of the head, neck, ear, nose, mouth and throat",
    ),
    "E": ("呼吸系统疾病及功能障碍", "Diseases and disorders of the respiratory system"),
    "F": ("循环系统疾病及功能障碍", "Diseases and disorders of the circulatory system"),
    "G": ("消化系统疾病及功能障碍", "Diseases and disorders of the digestive system"),
    "H": (
        "肝、胆、胰疾病及功能障碍",
        "Diseases and disorders of the hepatobiliary system and pancreas",
    ),
    "I": (
        "肌肉、骨骼疾病及功能障碍",
        "Diseases and disorders of the musculoskeletal system and connective tissue",
    ),
    "J": (
        "皮肤、皮下组织及乳腺疾病及功能障碍",
        "Diseases and disorders of the skin, subcutaneous tissue and breast",
    ),
    "K": (
        "内分泌、营养、代谢疾病及功能障碍",
        "Endocrine, nutritional and metabolic diseases and disorders",
    ),
    "L": ("肾脏及泌尿系统疾病及功能障碍", "Diseases and disorders of the kidney and urinary tract"),
    "M": ("男性生殖系统疾病及功能障碍", "Diseases and disorders of the male reproductive system"),
    "N": ("女性生殖系统疾病及功能障碍", "Diseases and disorders of the female reproductive system"),
    "O": ("妊娠、分娩及产褥期", "Pregnancy, childbirth and the puerperium"),
    "P": ("新生儿及其他围产期新生儿疾病", "Newborns and other neonates"),
    "Q": (
        "血液、造血器官及免疫疾病和功能障碍",
        "Diseases and disorders of blood, blood-forming organs and the immune system",
    ),
    "R": (
        "骨髓增生疾病和功能障碍，低分化肿瘤",
        "Myeloproliferative diseases and disorders, poorly differentiated neoplasms",
    ),
    "S": ("感染及寄生虫病（全身性或不明确部位的）", "Infectious and parasitic diseases"),
    "T": ("精神疾病及功能障碍", "Mental diseases and disorders"),
    "U": (
        "酒精/药物使用及其引起的器质性精神功能障碍",
        "Alcohol/drug use and alcohol/drug induced organic mental disorders",
    ),
    "V": ("创伤、中毒及药物毒性反应", "Injuries, poisonings and toxic effects of drugs"),
    "W": ("烧伤", "Burns"),
    "X": (
        "影响健康因素及其他就医情况",
        "Factors influencing health status and other contacts with health services",
    ),
    "Y": ("HIV感染疾病及相关操作", "HIV infection"),
    "Z": ("多发严重创伤", "Multiple significant trauma"),
}

#: Titles of the reference folders shipped with the project's reference data.
KNOWN_TITLES: dict[str, str] = {
    "chs-drg-1.1": "CHS-DRG 1.1 national",
    "chs-drg-1.0": "CHS-DRG 1.0 national (revised)",
    "beijing-2022": "Beijing 2022 (北京, local variant of CHS-DRG)",
    "yancheng-2023": "Yancheng 2023 (盐城, local variant of CHS-DRG 1.1)",
}

DX_EDITION = "ICD-10 医保版 2.0"
PX_EDITION = "ICD-9-CM-3 医保版 2.0"

ICD_FILES: dict[str, str] = {
    "dx_dictionary": "ICD10医保版v2.0.csv",
    "px_dictionary": "ICD9CM3医保版v2.0.csv",
    "dx_gray": "ICD10医保版v2.0灰码.csv",
    "px_gray": "ICD9CM3医保版v2.0灰码.csv",
    "dx_map": "ZD_MAP.csv",
    "px_map": "SS_MAP.csv",
}

#: Every file this importer may write (removed first when overwriting).
OUTPUT_FILES: tuple[str, ...] = (
    "tableset.toml",
    "mdc.toml",
    "adrg.toml",
    "code_lists.csv",
    "cc.csv",
    "cc_exclusions.csv",
    "or_procedures.csv",
    "gray_codes.csv",
    "code_maps.csv",
    "dictionary.csv",
    "IMPORT_NOTES.md",
)

# A code in a diagnosis list (ICD-10, possibly a dagger/asterisk pair); rows of
# mdc_principal_dx_lists.csv that do not look like this are block headers (MDCZ).
_DX_CODE = re.compile(r"^[A-Z][0-9]{2}(?:\.[0-9A-Za-z]*)?(?:[+*/][A-Z0-9.xX*+]*)?$")
_PX_CODE = re.compile(r"^[0-9]{2}(?:\.[0-9A-Za-z]+)?$")
_ADRG_ROW = re.compile(r"^([A-Z][A-Z0-9]{2})(?:_([0-9]+))?$")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import wrote.

    Attributes
    ----------
    name : str
        Name of the table set.
    source : str
        Name of the source folder.
    mdc, adrg, drg : int
        Number of MDCs, ADRGs and DRGs written.
    lists : int
        Number of named code lists written to ``code_lists.csv``.
    cc, mcc : int
        Number of CC and MCC diagnoses written to ``cc.csv``.
    warnings : list of str
        Everything the import changed, dropped or found doubtful (also in
        ``IMPORT_NOTES.md``).
    regions : list of tuple
        ``(list name, header text, number of codes)`` of each body region found in an MDC
        list (MDCZ).
    """

    name: str
    source: str
    mdc: int = 0
    adrg: int = 0
    drg: int = 0
    lists: int = 0
    cc: int = 0
    mcc: int = 0
    warnings: list[str] = field(default_factory=list)
    regions: list[tuple[str, str, int]] = field(default_factory=list)

    def summary(self) -> str:
        """Return a human-readable multi-line summary.

        Returns
        -------
        str
            Counts, body regions and warnings.
        """
        lines = [
            f"{self.name} (from {self.source}): {self.mdc} MDC, {self.adrg} ADRG, "
            f"{self.drg} DRG, {self.lists} code lists, {self.mcc} MCC, {self.cc} CC",
        ]
        if self.regions:
            lines.append("body regions:")
            lines.extend(f"  {n}: {h} ({c} codes)" for n, h, c in self.regions)
        lines.append(f"{len(self.warnings)} warnings:")
        lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Tokenizer and parser of the source expression language (a small Python subset)
# ---------------------------------------------------------------------------------------


class _SyntaxError(Exception):
    """A source expression that is not in the supported Python subset."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class _Untranslatable(Exception):
    """A parsed source expression that has no translation."""

    def __init__(self, node: _Node | None, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "str", "op", "end"
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[0-9]+(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>'[^'\\\n]*'|"[^"\\\n]*")
  | (?P<op>==|!=|<=|>=|<|>|[()\[\],.:\-])
    """,
    re.VERBOSE,
)


def _tokenize(src: str) -> list[_Token]:
    """Split a source expression into tokens.

    Parameters
    ----------
    src : str
        The expression.

    Returns
    -------
    list of _Token
        The tokens, ending with an ``end`` token.

    Raises
    ------
    _SyntaxError
        On a character that starts no token.
    """
    out: list[_Token] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise _SyntaxError(pos, f"unexpected character {src[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Token(kind, m.group(), pos))
        pos = m.end()
    out.append(_Token("end", "", len(src)))
    return out


@dataclass(frozen=True)
class _Node:
    """A node of the parsed source expression; ``start``/``end`` index the source text."""

    start: int
    end: int


@dataclass(frozen=True)
class _PName(_Node):
    name: str


@dataclass(frozen=True)
class _PNum(_Node):
    value: int | float


@dataclass(frozen=True)
class _PStr(_Node):
    value: str


@dataclass(frozen=True)
class _PConst(_Node):
    value: bool | None


@dataclass(frozen=True)
class _PAttr(_Node):
    obj: _Node
    attr: str


@dataclass(frozen=True)
class _PCall(_Node):
    func: _Node
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _PIndex(_Node):
    obj: _Node
    index: _Node


@dataclass(frozen=True)
class _PSlice(_Node):
    obj: _Node
    lower: _Node | None
    upper: _Node | None


@dataclass(frozen=True)
class _PBool(_Node):
    op: str  # "and" | "or"
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _PNot(_Node):
    item: _Node


@dataclass(frozen=True)
class _PCompare(_Node):
    left: _Node
    ops: tuple[tuple[str, _Node], ...]  # ("==", right), ("in", right), ("not in", right) ...


@dataclass(frozen=True)
class _PReturn(_Node):
    value: _Node


class _Parser:
    """Recursive-descent parser of the supported Python subset.

    Grammar::

        statement  := ["return"] or_expr END
        or_expr    := and_expr ("or" and_expr)*
        and_expr   := not_expr ("and" not_expr)*
        not_expr   := "not" not_expr | comparison
        comparison := primary (COMP primary)*
        COMP       := == | != | < | <= | > | >= | in | not in | is | is not
        primary    := atom ( "." NAME | "(" [args] ")" | "[" subscript "]" )*
        atom       := NAME | NUMBER | STRING | True | False | None | "-" NUMBER
                    | "(" or_expr ")"
        subscript  := [or_expr] [":" [or_expr]]
    """

    _KEYWORDS = frozenset({"and", "or", "not", "in", "is", "return", "True", "False", "None"})

    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    # -- helpers --
    def peek(self, k: int = 0) -> _Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, kind: str, text: str | None = None, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == kind and (text is None or t.text == text)

    def take(self) -> _Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind: str, text: str) -> _Token:
        if not self.at(kind, text):
            t = self.peek()
            found = "the end" if t.kind == "end" else repr(t.text)
            raise _SyntaxError(t.pos, f"expected {text!r}, found {found}")
        return self.take()

    def last_end(self) -> int:
        t = self.toks[self.i - 1]
        return t.pos + len(t.text)

    # -- grammar --
    def statement(self, allow_return: bool) -> _Node:
        start = self.peek().pos
        is_return = self.at("name", "return")
        if is_return:
            if not allow_return:
                raise _SyntaxError(start, "'return' is not allowed here")
            self.take()
        node = self.or_expr()
        if not self.at("end"):
            t = self.peek()
            raise _SyntaxError(t.pos, f"unexpected {t.text!r} after a complete expression")
        if is_return:
            return _PReturn(start, node.end, node)
        return node

    def or_expr(self) -> _Node:
        return self._bool("or", self.and_expr)

    def and_expr(self) -> _Node:
        return self._bool("and", self.not_expr)

    def _bool(self, op: str, sub: Callable[[], _Node]) -> _Node:
        items = [sub()]
        while self.at("name", op):
            self.take()
            items.append(sub())
        if len(items) == 1:
            return items[0]
        return _PBool(items[0].start, items[-1].end, op, tuple(items))

    def not_expr(self) -> _Node:
        if self.at("name", "not"):
            start = self.take().pos
            item = self.not_expr()
            return _PNot(start, item.end, item)
        return self.comparison()

    def comparison(self) -> _Node:
        left = self.primary()
        ops: list[tuple[str, _Node]] = []
        while True:
            if self.at("op") and self.peek().text in ("==", "!=", "<", "<=", ">", ">="):
                op = self.take().text
            elif self.at("name", "in"):
                self.take()
                op = "in"
            elif self.at("name", "not") and self.at("name", "in", 1):
                self.take()
                self.take()
                op = "not in"
            elif self.at("name", "is"):
                self.take()
                op = "is"
                if self.at("name", "not"):
                    self.take()
                    op = "is not"
            else:
                break
            ops.append((op, self.primary()))
        if not ops:
            return left
        return _PCompare(left.start, ops[-1][1].end, left, tuple(ops))

    def primary(self) -> _Node:
        node = self.atom()
        while True:
            if self.at("op", "."):
                self.take()
                t = self.peek()
                if t.kind != "name" or t.text in self._KEYWORDS:
                    raise _SyntaxError(t.pos, "expected an attribute name after '.'")
                self.take()
                node = _PAttr(node.start, self.last_end(), node, t.text)
            elif self.at("op", "("):
                self.take()
                args: list[_Node] = []
                if not self.at("op", ")"):
                    args.append(self.or_expr())
                    while self.at("op", ","):
                        self.take()
                        args.append(self.or_expr())
                self.expect("op", ")")
                node = _PCall(node.start, self.last_end(), node, tuple(args))
            elif self.at("op", "["):
                self.take()
                lower = None if self.at("op", ":") or self.at("op", "]") else self.or_expr()
                if self.at("op", ":"):
                    self.take()
                    upper = None if self.at("op", "]") else self.or_expr()
                    self.expect("op", "]")
                    node = _PSlice(node.start, self.last_end(), node, lower, upper)
                else:
                    if lower is None:
                        raise _SyntaxError(self.peek().pos, "empty subscript")
                    self.expect("op", "]")
                    node = _PIndex(node.start, self.last_end(), node, lower)
            else:
                return node

    def atom(self) -> _Node:
        t = self.peek()
        if t.kind == "num":
            self.take()
            value: int | float = float(t.text) if "." in t.text else int(t.text)
            return _PNum(t.pos, self.last_end(), value)
        if t.kind == "op" and t.text == "-" and self.at("num", k=1):
            self.take()
            n = self.take()
            v = float(n.text) if "." in n.text else int(n.text)
            return _PNum(t.pos, self.last_end(), -v)
        if t.kind == "str":
            self.take()
            return _PStr(t.pos, self.last_end(), t.text[1:-1])
        if t.kind == "name":
            if t.text in ("True", "False", "None"):
                self.take()
                const = {"True": True, "False": False, "None": None}[t.text]
                return _PConst(t.pos, self.last_end(), const)
            if t.text in self._KEYWORDS:
                raise _SyntaxError(t.pos, f"unexpected keyword {t.text!r}")
            self.take()
            return _PName(t.pos, self.last_end(), t.text)
        if t.kind == "op" and t.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect("op", ")")
            return inner
        found = "the end" if t.kind == "end" else repr(t.text)
        raise _SyntaxError(t.pos, f"expected a value, found {found}")


# ---------------------------------------------------------------------------------------
# Target rule language
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _T:
    """A node of the translated rule."""


@dataclass(frozen=True)
class _TConst(_T):
    value: bool


@dataclass(frozen=True)
class _TAnd(_T):
    items: tuple[_T, ...]


@dataclass(frozen=True)
class _TOr(_T):
    items: tuple[_T, ...]


@dataclass(frozen=True)
class _TNot(_T):
    item: _T


@dataclass(frozen=True)
class _TAtLeast(_T):
    n: int
    items: tuple[_T, ...]


@dataclass(frozen=True)
class _TIn(_T):
    subject: str  # principal_dx, secondary_dx, any_dx, principal_px, ...
    lists: tuple[str, ...]


@dataclass(frozen=True)
class _TCmp(_T):
    attr: str
    op: str
    value: int | float | str  # str only for sex (male/female)


@dataclass(frozen=True)
class _TCc(_T):
    kind: str  # mcc, cc, cc_or_mcc, no_cc


@dataclass(frozen=True)
class _TPresent(_T):
    """Internal: ``attr is not None`` (dropped next to a comparison of the same attribute)."""

    attr: str
    node: _Node


@dataclass(frozen=True)
class _THasCc(_T):
    """Internal: ``has_cc(...)``; only meaningful as ``has_mcc(...) or has_cc(...)``."""

    node: _Node


TRUE = _TConst(True)
FALSE = _TConst(False)


def _render(t: _T) -> str:
    """Render a translated rule in the syntax of the table format.

    Parameters
    ----------
    t : _T
        The translated rule.

    Returns
    -------
    str
        The rule text; ``and``/``or`` groups inside another group are parenthesised.
    """

    def wrap(c: _T) -> str:
        s = _render(c)
        return f"({s})" if isinstance(c, (_TAnd, _TOr)) else s

    if isinstance(t, _TConst):
        return "true" if t.value else "false"
    if isinstance(t, _TAnd):
        return " and ".join(wrap(c) for c in t.items)
    if isinstance(t, _TOr):
        return " or ".join(wrap(c) for c in t.items)
    if isinstance(t, _TNot):
        return f"not {wrap(t.item)}"
    if isinstance(t, _TAtLeast):
        return f"{t.n} of ({', '.join(wrap(c) for c in t.items)})"
    if isinstance(t, _TIn):
        lists = t.lists[0] if len(t.lists) == 1 else f"({', '.join(t.lists)})"
        return f"{t.subject} in {lists}"
    if isinstance(t, _TCmp):
        return f"{t.attr} {t.op} {t.value}"
    if isinstance(t, _TCc):
        return t.kind
    raise AssertionError(f"internal node left in a rule: {t!r}")  # pragma: no cover


def _walk(t: _T) -> Iterable[_T]:
    yield t
    if isinstance(t, (_TAnd, _TOr, _TAtLeast)):
        for c in t.items:
            yield from _walk(c)
    elif isinstance(t, _TNot):
        yield from _walk(t.item)


def _uses_attributes(t: _T | None) -> bool:
    """Whether a rule compares a case attribute other than the code counts."""
    if t is None:
        return False
    return any(isinstance(n, _TCmp) and n.attr not in ("dx_count", "px_count") for n in _walk(t))


# ---------------------------------------------------------------------------------------
# Translation of the source expressions
# ---------------------------------------------------------------------------------------

_COLLECTIONS = {"zdList": "dx", "ssList": "px"}
_ATTRIBUTES = {
    "age": "age",
    "ageDay": "age_days",
    "weight": "birth_weight",
    "inHospitalTime": "los",
    "leavingType": "discharge",
    "gender": "sex",
}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

#: resolve(list name, system wanted, node) -> target list name
_Resolver = Callable[[str, str, _Node], str]


class _Translator:
    """Translate one parsed source expression.

    Parameters
    ----------
    resolve : callable
        ``resolve(name, system, node)`` returns the target list name of a source list
        name compared with codes of ``system`` (``dx``/``px``), or raises
        :class:`_Untranslatable`.
    label_list : callable or None
        ``label_list(label, node)`` returns the target list of the procedures carrying a
        label of ``ss_matched``; ``None`` where ``ss_matched`` is not allowed.
    allow_cc : bool
        Whether ``has_mcc``/``has_cc`` may be used (DRG splits).
    """

    def __init__(
        self,
        resolve: _Resolver,
        label_list: Callable[[str, _Node], str] | None = None,
        allow_cc: bool = False,
    ) -> None:
        self.resolve = resolve
        self.label_list = label_list
        self.allow_cc = allow_cc
        self.labels: list[str] = []

    def translate(self, node: _Node) -> _T:
        """Translate a boolean expression and resolve the internal markers."""
        return self._finish(self.boolean(node))

    # -- structure --
    def boolean(self, n: _Node) -> _T:
        if isinstance(n, _PConst):
            if n.value is None:
                raise _Untranslatable(n, "None is not a condition")
            return TRUE if n.value else FALSE
        if isinstance(n, _PBool):
            items = [self.boolean(x) for x in n.items]
            return _and(items) if n.op == "and" else _or(items)
        if isinstance(n, _PNot):
            coll = self._collection(n.item)
            if coll is not None:
                if coll[0] != "any":
                    raise _Untranslatable(n, "truth value of a slice")
                return _TCmp(f"{coll[1]}_count", "==", 0)
            return _negate(self.boolean(n.item))
        if isinstance(n, _PCompare):
            return self.compare(n)
        if isinstance(n, _PCall):
            return self.call(n)
        coll = self._collection(n)
        if coll is not None:
            if coll[0] != "any":
                raise _Untranslatable(n, "truth value of a slice")
            return _TCmp(f"{coll[1]}_count", ">", 0)
        field_ = self._record_field(n)
        if field_ in _ATTRIBUTES:
            # Python truth value of a number: missing (None) and 0 are false.
            return _TCmp(_ATTRIBUTES[field_], ">", 0)
        raise _Untranslatable(n, "not a condition")

    # -- pieces of the case --
    @staticmethod
    def _record_field(n: _Node) -> str | None:
        if isinstance(n, _PAttr) and isinstance(n.obj, _PName) and n.obj.name == "record":
            return n.attr
        return None

    def _collection(self, n: _Node) -> tuple[str, str] | None:
        """``("any"|"secondary", "dx"|"px")`` for ``record.zdList`` / ``record.zdList[1:]``."""
        f = self._record_field(n)
        if f in _COLLECTIONS:
            return ("any", _COLLECTIONS[f])
        if isinstance(n, _PSlice):
            f = self._record_field(n.obj)
            if f in _COLLECTIONS:
                if _is_int(n.lower, 1) and n.upper is None:
                    return ("secondary", _COLLECTIONS[f])
                raise _Untranslatable(n, "only the slice [1:] (all but the principal) is known")
        return None

    def _element(self, n: _Node) -> tuple[str, str] | None:
        """``("principal", system)`` for ``record.zdList[0]`` / ``record.ssList[0]``."""
        if isinstance(n, _PIndex):
            f = self._record_field(n.obj)
            if f in _COLLECTIONS:
                if _is_int(n.index, 0):
                    return ("principal", _COLLECTIONS[f])
                raise _Untranslatable(n, "only the index [0] (the principal code) is known")
        return None

    def _list_name(self, n: _Node, system: str) -> str:
        if not isinstance(n, _PName):
            raise _Untranslatable(n, "expected the name of a code list")
        return self.resolve(n.name, system, n)

    # -- comparisons --
    def compare(self, n: _PCompare) -> _T:
        if len(n.ops) == 1 and n.ops[0][0] in ("in", "not in"):
            op, right = n.ops[0]
            t = self._membership(n, n.left, right)
            return _negate(t) if op == "not in" else t
        if any(op in ("in", "not in") for op, _ in n.ops):
            raise _Untranslatable(n, "'in' in a chained comparison")
        parts: list[_T] = []
        left = n.left
        for op, right in n.ops:
            parts.append(self._compare_pair(n, left, op, right))
            left = right
        return _and(parts)

    def _membership(self, n: _Node, left: _Node, right: _Node) -> _T:
        if isinstance(left, _PStr):
            if isinstance(right, _PName) and right.name == "ss_matched":
                if self.label_list is None:
                    raise _Untranslatable(n, "ss_matched is not available here")
                if not _LABEL.match(left.value):
                    raise _Untranslatable(left, "a label must be letters or digits")
                if left.value not in self.labels:
                    self.labels.append(left.value)
                return _TIn("any_px", (self.label_list(left.value, n),))
            raise _Untranslatable(n, "a string can only be looked up in ss_matched")
        el = self._element(left)
        if el is None:
            raise _Untranslatable(left, "expected record.zdList[0] or record.ssList[0]")
        system = el[1]
        return _TIn(f"principal_{system}", (self._list_name(right, system),))

    def _compare_pair(self, whole: _Node, a: _Node, op: str, b: _Node) -> _T:
        if op in ("is", "is not"):
            if not (isinstance(b, _PConst) and b.value is None):
                raise _Untranslatable(whole, f"'{op}' is only known with None")
            op = "==" if op == "is" else "!="
        if isinstance(a, (_PNum, _PConst)) and not isinstance(b, (_PNum, _PConst)):
            a, b, op = b, a, _FLIP[op]
        if isinstance(b, _PConst) and b.value is None:
            attr, wrapped = self._numeric(a)
            if op not in ("==", "!="):
                raise _Untranslatable(whole, "an order comparison with None")
            present = _TPresent(attr, whole)
            return present if op == "!=" else _TNot(present)
        if not isinstance(b, _PNum):
            raise _Untranslatable(whole, "a comparison must be between a case value and a number")
        attr, wrapped = self._numeric(a)
        value = b.value
        if attr == "sex":
            if op not in ("==", "!=") or value not in (1, 2) or wrapped:
                raise _Untranslatable(whole, "record.gender is only compared == / != with 1 or 2")
            return _TCmp("sex", op, "male" if value == 1 else "female")
        if wrapped == "int":
            return _int_compare(whole, attr, op, value)
        if attr == "age" and op == "==" and value == 0:
            return _TCmp("age", "<", 1)  # age in years, possibly fractional
        return _TCmp(attr, op, value)

    def _numeric(self, n: _Node) -> tuple[str, str | None]:
        """The attribute of a numeric case value and how it is wrapped (``int``/``None``)."""
        f = self._record_field(n)
        if f is not None:
            if f in _ATTRIBUTES:
                return _ATTRIBUTES[f], None
            if f in _COLLECTIONS:
                raise _Untranslatable(n, f"record.{f} is a list, not a number")
            raise _Untranslatable(n, f"unknown case field record.{f}")
        if isinstance(n, _PCall) and isinstance(n.func, _PName) and len(n.args) == 1:
            if n.func.name == "len":
                coll = self._collection(n.args[0])
                if coll is None or coll[0] != "any":
                    raise _Untranslatable(n, "len() of something else than record.zdList/ssList")
                return f"{coll[1]}_count", None
            if n.func.name == "int":
                attr, wrapped = self._numeric(n.args[0])
                if wrapped is not None:
                    raise _Untranslatable(n, "nested int()")
                return attr, "int"
        raise _Untranslatable(n, "expected a case value (record.age, len(record.zdList) ...)")

    # -- calls --
    def call(self, n: _PCall) -> _T:
        if not isinstance(n.func, _PName):
            raise _Untranslatable(n, "unknown function call")
        name = n.func.name
        if name == "intersect":
            if len(n.args) != 2:
                raise _Untranslatable(n, "intersect() takes two arguments")
            a, b = n.args
            coll = self._collection(a)
            if coll is None:
                coll, b = self._collection(b), a
            if coll is None:
                raise _Untranslatable(n, "intersect() needs record.zdList/ssList (or [1:])")
            which, system = coll
            return _TIn(f"{which}_{system}", (self._list_name(b, system),))
        if name in ("has_mcc", "has_cc"):
            if not self.allow_cc:
                raise _Untranslatable(n, f"{name}() is only known in DRG splits")
            if (
                len(n.args) != 2
                or self._element(n.args[0]) != ("principal", "dx")
                or self._collection(n.args[1]) != ("secondary", "dx")
            ):
                raise _Untranslatable(n, f"expected {name}(record.zdList[0], record.zdList[1:])")
            return _TCc("mcc") if name == "has_mcc" else _THasCc(n)
        raise _Untranslatable(n, f"unknown function {name}()")

    # -- final pass --
    def _finish(self, t: _T) -> _T:
        if isinstance(t, _TPresent):
            # A value is present: all attributes are non-negative.
            return _TCmp(t.attr, ">=", 0)
        if isinstance(t, _THasCc):
            raise _Untranslatable(
                t.node,
                "has_cc() alone (its meaning, CC with or without MCC, has no exact equivalent; "
                "only 'has_mcc(...) or has_cc(...)' = cc_or_mcc is known)",
            )
        if isinstance(t, _TAnd):
            return _TAnd(tuple(self._finish(c) for c in t.items))
        if isinstance(t, _TOr):
            return _TOr(tuple(self._finish(c) for c in t.items))
        if isinstance(t, _TNot):
            return _TNot(self._finish(t.item))
        if isinstance(t, _TAtLeast):
            return _TAtLeast(t.n, tuple(self._finish(c) for c in t.items))
        return t


def _is_int(n: _Node | None, value: int) -> bool:
    return isinstance(n, _PNum) and isinstance(n.value, int) and n.value == value


def _int_compare(whole: _Node, attr: str, op: str, value: int | float) -> _T:
    """Translate ``int(x) OP n`` for a non-negative ``x``."""
    if not isinstance(value, int):
        raise _Untranslatable(whole, "int() compared with a non-integer")
    if op == "==":
        if value == 0:
            return _TCmp(attr, "<", 1)
        return _TAnd((_TCmp(attr, ">=", value), _TCmp(attr, "<", value + 1)))
    if op == "!=":
        return _TNot(_int_compare(whole, attr, "==", value))
    if op == "<":
        return _TCmp(attr, "<", value)
    if op == "<=":
        return _TCmp(attr, "<", value + 1)
    if op == ">":
        return _TCmp(attr, ">=", value + 1)
    return _TCmp(attr, ">=", value)  # ">="


def _negate(t: _T) -> _T:
    if isinstance(t, _TConst):
        return _TConst(not t.value)
    if isinstance(t, _TNot):
        return t.item
    return _TNot(t)


def _implied_in_and(guard: _T, others: Sequence[_T]) -> bool:
    """Whether a guard of an ``and`` is implied by one of its siblings."""
    positives = [o for o in others if o is not guard]
    if isinstance(guard, _TPresent):
        # any comparison of the attribute is false when it is missing
        return any(isinstance(o, _TCmp) and o.attr == guard.attr for o in positives)
    if not isinstance(guard, _TCmp):
        return False
    a, op, v = guard.attr, guard.op, guard.value
    if a == "px_count" and ((op == ">" and v == 0) or (op == ">=" and v == 1)):
        return any(isinstance(o, _TIn) and o.subject.endswith("_px") for o in positives)
    if a == "dx_count" and ((op == ">" and v in (0, 1)) or (op == ">=" and v in (1, 2))):
        needs_two = (op == ">" and v == 1) or (op == ">=" and v == 2)
        for o in positives:
            if isinstance(o, _TCc) and o.kind in ("mcc", "cc", "cc_or_mcc"):
                return True  # a CC/MCC is a secondary diagnosis
            if isinstance(o, _THasCc):
                return True
            if (
                isinstance(o, _TOr)
                and o.items
                and all(isinstance(x, (_TCc, _THasCc)) for x in o.items)
            ):
                return True
            if (
                isinstance(o, _TIn)
                and o.subject.endswith("_dx")
                and (not needs_two or o.subject == "secondary_dx")
            ):
                return True
        return False
    if op == ">" and v == 0 and not isinstance(v, str):
        # truth value of a number: implied by a comparison that excludes 0 and missing
        for o in positives:
            if (
                isinstance(o, _TCmp)
                and o.attr == a
                and not isinstance(o.value, str)
                and ((o.op in (">=", "==") and o.value > 0) or (o.op == ">" and o.value >= 0))
            ):
                return True
    return False


def _and(items: Sequence[_T]) -> _T:
    flat: list[_T] = []
    for t in items:
        if isinstance(t, _TAnd):
            flat.extend(t.items)
        elif t == TRUE:
            continue
        elif t == FALSE:
            return FALSE
        else:
            flat.append(t)
    kept = [t for t in flat if not _implied_in_and(t, flat)]
    # drop exact duplicates, keep the first
    out: list[_T] = []
    for t in kept:
        if t not in out:
            out.append(t)
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else _TAnd(tuple(out))


def _or(items: Sequence[_T]) -> _T:
    flat: list[_T] = []
    for t in items:
        if isinstance(t, _TOr):
            flat.extend(t.items)
        elif t == FALSE:
            continue
        elif t == TRUE:
            return TRUE
        else:
            flat.append(t)
    # has_mcc(...) or has_cc(...) -> cc_or_mcc
    has_mcc = any(isinstance(t, _TCc) and t.kind == "mcc" for t in flat)
    has_cc = any(isinstance(t, _THasCc) for t in flat)
    if has_mcc and has_cc:
        merged: list[_T] = []
        placed = False
        for t in flat:
            if (isinstance(t, _TCc) and t.kind == "mcc") or isinstance(t, _THasCc):
                if not placed:
                    merged.append(_TCc("cc_or_mcc"))
                    placed = True
            else:
                merged.append(t)
        flat = merged
    # not record.ssList or record.ssList[0] not in L  ->  not principal_px in L
    if any(
        isinstance(t, _TNot) and isinstance(t.item, _TIn) and t.item.subject.endswith("_px")
        for t in flat
    ):
        flat = [t for t in flat if t != _TCmp("px_count", "==", 0)]
    out: list[_T] = []
    for t in flat:
        if t not in out:
            out.append(t)
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else _TOr(tuple(out))


# ---------------------------------------------------------------------------------------
# Reading the source
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    file: str
    line: int
    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values[key]


def _read_csv(path: Path, columns: Sequence[str], *, required: bool = True) -> list[_Row]:
    """Read a UTF-8 CSV file with a header row.

    Parameters
    ----------
    path : Path
        The file.
    columns : sequence of str
        Columns that must be present.
    required : bool
        Whether a missing file is an error (otherwise an empty list is returned).

    Returns
    -------
    list of _Row
        The rows with their line numbers (the header is line 1); values are stripped.

    Raises
    ------
    TableImportError
        When the file is missing (and required), unreadable or lacks a column.
    """
    if not path.is_file():
        if required:
            raise TableImportError(f"{path.name}: required file not found in {path.parent}")
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TableImportError(f"{path.name}: cannot read: {e}") from e
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TableImportError(f"{path.name}: empty file (no header row)") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise TableImportError(
            f"{path.name} line 1: missing column(s) {', '.join(missing)} "
            f"(found {', '.join(header)})"
        )
    rows: list[_Row] = []
    for rec in reader:
        if not rec or all(not v.strip() for v in rec):
            continue
        if len(rec) > len(header):
            raise TableImportError(
                f"{path.name} line {reader.line_num}: {len(rec)} fields, header has {len(header)}"
            )
        values = {h: (rec[i].strip() if i < len(rec) else "") for i, h in enumerate(header)}
        rows.append(_Row(path.name, reader.line_num, values))
    return rows


def _parse(src: str, allow_return: bool) -> _Node:
    return _Parser(src).statement(allow_return)


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------


@dataclass
class _CodeList:
    name: str
    system: str
    codes: list[str]


class _ListRegistry:
    """The named code lists written to ``code_lists.csv`` (in order of first use)."""

    def __init__(self) -> None:
        self.lists: dict[str, _CodeList] = {}

    def add(self, name: str, system: str, codes: Iterable[str]) -> str:
        if not _IDENT.match(name):
            raise TableImportError(f"internal: list name {name!r} is not an identifier")
        existing = self.lists.get(name)
        if existing is not None:
            return name
        unique = list(dict.fromkeys(codes))  # first occurrence wins, order kept
        self.lists[name] = _CodeList(name, system, unique)
        return name


@dataclass
class _AdrgOut:
    code: str
    mdc: str
    when: _T
    drgs: list[tuple[str, str, _T | None]]  # code, name, when
    comments: list[str]
    line: int

    @property
    def name(self) -> str:
        """The ADRG's name, from the names of its DRGs."""
        return _adrg_name([n for _, n, _ in self.drgs])


class _Importer:
    """One import run; see :func:`import_opendrg`."""

    def __init__(self, src: Path, name: str) -> None:
        self.src = src
        self.name = name
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.lists = _ListRegistry()
        self.regions: list[tuple[str, str, int]] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def error(self, row: _Row, rule: str, expr: str, message: str) -> None:
        self.errors.append(f"{row.file} line {row.line}: {rule}: {message} in {expr!r}")

    def raise_errors(self) -> None:
        if self.errors:
            n = len(self.errors)
            head = (
                self.errors[0]
                if n == 1
                else f"{n} untranslatable rules:\n" + "\n".join(self.errors[:50])
            )
            if n > 50:
                head += f"\n... and {n - 50} more"
            raise TableImportError(head)

    def translate(
        self,
        row: _Row,
        rule: str,
        expr: str,
        translator: _Translator,
        *,
        allow_return: bool = False,
        unwrap_not: bool = False,
    ) -> _T | None:
        """Parse and translate one source expression; errors are collected.

        Returns ``None`` after an error; for ``return True`` in a split, returns TRUE.
        """
        try:
            node = _parse(expr, allow_return)
            if allow_return:
                if not isinstance(node, _PReturn):
                    raise _Untranslatable(node, "a split condition must be 'return <condition>'")
                node = node.value
            if unwrap_not:
                if not isinstance(node, _PNot):
                    raise _Untranslatable(node, "an MDC condition must read 'not (<condition>)'")
                node = node.item
            return translator.translate(node)
        except _SyntaxError as e:
            self.error(row, rule, expr, f"syntax error at column {e.pos + 1}: {e.message}")
        except _Untranslatable as e:
            where = ""
            if e.node is not None:
                where = f" ({expr[e.node.start : e.node.end]!r} at column {e.node.start + 1})"
            self.error(row, rule, expr, f"cannot translate: {e.message}{where}")
        return None

    # -- MDC --
    def import_mdcs(self) -> list[tuple[str, _T, str | None, list[str]]]:
        rows = _read_csv(self.src / "mdc_conditions.csv", ["mdc", "entry_condition_python"])
        list_rows = _read_csv(self.src / "mdc_principal_dx_lists.csv", ["mdc", "list_name", "code"])
        if not rows:
            raise TableImportError("mdc_conditions.csv: no MDC")
        source_lists: dict[tuple[str, str], list[_Row]] = {}
        for r in list_rows:
            if not r["code"]:
                raise TableImportError(f"{r.file} line {r.line}: empty code")
            source_lists.setdefault((r["mdc"], r["list_name"]), []).append(r)
        dups = 0
        for rs in source_lists.values():
            codes = [r["code"] for r in rs if _DX_CODE.match(r["code"])]
            dups += len(codes) - len(set(codes))
        if dups:
            self.warn(
                f"mdc_principal_dx_lists.csv: {dups} repeated codes within a list written once"
            )

        out: list[tuple[str, _T, str | None, list[str]]] = []
        seen: set[str] = set()
        used_lists: set[tuple[str, str]] = set()
        for row in rows:
            mdc_id = row["mdc"]
            m = re.fullmatch(r"MDC([A-Z])", mdc_id)
            if not m:
                raise TableImportError(
                    f"{row.file} line {row.line}: MDC code {mdc_id!r} is not MDC<letter>"
                )
            letter = m.group(1)
            if letter in seen:
                raise TableImportError(f"{row.file} line {row.line}: MDC {mdc_id} repeated")
            seen.add(letter)
            comments: list[str] = []
            region_lists: list[str] = []

            def resolve(
                name: str,
                system: str,
                node: _Node,
                mdc_id: str = mdc_id,
                letter: str = letter,
                comments: list[str] = comments,
                region_lists: list[str] = region_lists,
            ) -> str:
                if name == "SS_VALID":
                    if system != "px":
                        raise _Untranslatable(node, "SS_VALID holds procedures")
                    return "or_procedures"
                if system != "dx":
                    raise _Untranslatable(node, f"{name} is compared with procedures")
                rs = source_lists.get((mdc_id, name))
                if not rs:
                    raise _Untranslatable(
                        node, f"list {name} of {mdc_id} not in mdc_principal_dx_lists.csv"
                    )
                used_lists.add((mdc_id, name))
                return self._mdc_list(mdc_id, letter, name, rs, comments, region_lists)

            expr = row["entry_condition_python"]
            t = self.translate(row, mdc_id, expr, _Translator(resolve), unwrap_not=True)
            if t is None:
                continue
            if region_lists:
                t = _and([t, _TAtLeast(2, tuple(_TIn("any_dx", (r,)) for r in region_lists))])
            sex = None
            conj = t.items if isinstance(t, _TAnd) else (t,)
            for c in conj:
                if isinstance(c, _TCmp) and c.attr == "sex" and c.op == "==":
                    sex = str(c.value)
            out.append((letter, t, sex, comments))
        unused = sorted(set(source_lists) - used_lists)
        for mdc_id, lname in unused:
            self.warn(
                f"mdc_principal_dx_lists.csv: list {lname} of {mdc_id} is used by no condition "
                "and was not written"
            )
        return out

    def _mdc_list(
        self,
        mdc_id: str,
        letter: str,
        lname: str,
        rs: list[_Row],
        comments: list[str],
        region_lists: list[str],
    ) -> str:
        target = f"MDC{letter}_dx" if lname == "mdc_zd" else f"MDC{letter}_{lname}"
        if target in self.lists.lists:
            return target
        codes = [r["code"] for r in rs if _DX_CODE.match(r["code"])]
        headers = [r for r in rs if not _DX_CODE.match(r["code"])]
        if headers:
            # Body-region blocks (MDCZ): a header row starts each block (README point 2).
            if _DX_CODE.match(rs[0]["code"]):
                raise TableImportError(
                    f"{rs[0].file} line {rs[0].line}: {mdc_id} list {lname} has header rows "
                    f"(e.g. {headers[0]['code']!r} at line {headers[0].line}) but does not start "
                    "with one; the region of the first codes is unknown"
                )
            blocks: list[tuple[_Row, list[str]]] = []
            for r in rs:
                if _DX_CODE.match(r["code"]):
                    blocks[-1][1].append(r["code"])
                else:
                    blocks.append((r, []))
            if len(blocks) < 2:
                raise TableImportError(
                    f"{rs[0].file} line {rs[0].line}: {mdc_id} list {lname} has a single block "
                    "header; at least two body regions are needed"
                )
            comments.append(
                f"Body regions of {mdc_id}: header rows of list {lname} in "
                "mdc_principal_dx_lists.csv (README point 2); the case needs diagnoses "
                "(principal included) in at least two of them."
            )
            for i, (h, block) in enumerate(blocks, start=1):
                if not block:
                    raise TableImportError(
                        f"{h.file} line {h.line}: {mdc_id} region header {h['code']!r} has no codes"
                    )
                rname = f"MDC{letter}_region{i}_dx"
                self.lists.add(rname, "dx", block)
                region_lists.append(rname)
                n = len(self.lists.lists[rname].codes)
                comments.append(f"  {rname}: {h['code']} ({n} codes)")
                self.regions.append((rname, h["code"], n))
            self.warn(
                f"{mdc_id}: list {lname} is cut into {len(blocks)} body regions by header rows "
                f"({', '.join(h['code'] for h, _ in blocks)}); entry needs 2 of them"
            )
        self.lists.add(target, "dx", codes)
        return target

    # -- ADRG --
    def import_adrgs(self, mdcs: set[str]) -> list[_AdrgOut]:
        rows = _read_csv(
            self.src / "adrg_conditions.csv",
            ["adrg", "entry_condition_python", "drg_candidates_in_order"],
        )
        list_rows = _read_csv(
            self.src / "adrg_code_lists.csv", ["adrg", "list_name", "seq", "code"]
        )
        drg_rows = _read_csv(self.src / "DRG.csv", ["drg", "name"])
        split_rows = _read_csv(self.src / "drg_split_conditions.csv", ["drg", "condition_python"])

        # code lists of each row: (row code, list name) -> [(seq, code, row)]
        source_lists: dict[tuple[str, str], list[tuple[int, str, _Row]]] = {}
        for r in list_rows:
            try:
                seq = int(r["seq"])
            except ValueError:
                raise TableImportError(
                    f"{r.file} line {r.line}: seq {r['seq']!r} is not a number"
                ) from None
            if not r["code"]:
                raise TableImportError(f"{r.file} line {r.line}: empty code")
            source_lists.setdefault((r["adrg"], r["list_name"]), []).append((seq, r["code"], r))
        for key, items in source_lists.items():
            seqs = [s for s, _, _ in items]
            if len(set(seqs)) != len(seqs):
                r = items[0][2]
                raise TableImportError(
                    f"{r.file} line {r.line}: list {key[1]} of {key[0]} repeats a seq"
                )
            items.sort(key=lambda x: x[0])

        drg_names: dict[str, str] = {}
        for r in drg_rows:
            if r["drg"] in drg_names:
                raise TableImportError(f"{r.file} line {r.line}: DRG {r['drg']} repeated")
            drg_names[r["drg"]] = r["name"]
        splits: dict[str, _Row] = {}
        for r in split_rows:
            if r["drg"] in splits:
                raise TableImportError(f"{r.file} line {r.line}: DRG {r['drg']} repeated")
            splits[r["drg"]] = r

        # group rows: plain rows and suffixed alternatives (README point 5)
        groups: dict[str, list[tuple[_Row, str | None]]] = {}
        order: list[str] = []
        for r in rows:
            m = _ADRG_ROW.match(r["adrg"])
            if not m:
                raise TableImportError(
                    f"{r.file} line {r.line}: ADRG code {r['adrg']!r} is not "
                    "<letter><letter><digit>[_<n>]"
                )
            base, suffix = m.group(1), m.group(2)
            if base not in groups:
                groups[base] = []
                order.append(base)
            if suffix is None and any(s is None for _, s in groups[base]):
                raise TableImportError(f"{r.file} line {r.line}: ADRG {base} repeated")
            groups[base].append((r, suffix))

        used_lists: set[tuple[str, str]] = set()
        dropped_rows: set[str] = set()
        out: list[_AdrgOut] = []
        drg_owner: dict[str, str] = {}
        dup_codes = 0
        for base in order:
            members = groups[base]
            plain = [r for r, s in members if s is None]
            alts = [(int(s), r) for r, s in members if s is not None]  # file order
            comments: list[str] = []
            if plain:
                chosen = [plain[0]]
                if alts:
                    names = ", ".join(r["adrg"] for _, r in alts)
                    lines = ", ".join(str(r.line) for _, r in alts)
                    self.warn(
                        f"ADRG {base}: suffixed alternative rows {names} (adrg_conditions.csv "
                        f"lines {lines}) dropped because the plain row exists (README point 5)"
                    )
                    dropped_rows.update(r["adrg"] for _, r in alts)
            else:
                chosen = [r for _, r in alts]
                names = ", ".join(r["adrg"] for r in chosen)
                self.warn(
                    f"ADRG {base}: alternative rows {names} merged into one ADRG "
                    "(their conditions joined with 'or', in order)"
                )
                comments.append(f"Alternatives {names} of adrg_conditions.csv joined with 'or'.")
            letter = base[0]
            if letter not in mdcs:
                r0 = chosen[0]
                raise TableImportError(
                    f"{r0.file} line {r0.line}: ADRG {base}: MDC {letter} is not in "
                    "mdc_conditions.csv"
                )
            candidates = [
                tuple(c.strip() for c in r["drg_candidates_in_order"].split("|")) for r in chosen
            ]
            if any(c != candidates[0] for c in candidates):
                r0 = chosen[0]
                raise TableImportError(
                    f"{r0.file} line {r0.line}: ADRG {base}: its alternative rows list different "
                    f"DRGs ({' vs '.join('|'.join(c) for c in candidates)})"
                )

            whens: list[_T] = []
            failed = False
            for r in chosen:
                t = self._adrg_condition(r, base, source_lists, used_lists)
                if t is None:
                    failed = True
                else:
                    whens.append(t)
            if failed:
                continue
            when = whens[0] if len(whens) == 1 else _or(whens)

            # DRG splits
            drgs: list[tuple[str, str, _T | None]] = []
            r0 = chosen[0]
            if not candidates[0] or candidates[0] == ("",):
                raise TableImportError(f"{r0.file} line {r0.line}: ADRG {base} lists no DRG")
            for d in candidates[0]:
                if d not in drg_names:
                    raise TableImportError(
                        f"{r0.file} line {r0.line}: ADRG {base}: DRG {d!r} is not in DRG.csv"
                    )
                if d not in splits:
                    raise TableImportError(
                        f"{r0.file} line {r0.line}: ADRG {base}: DRG {d} has no row in "
                        "drg_split_conditions.csv"
                    )
                if not d.startswith(base):
                    raise TableImportError(
                        f"{r0.file} line {r0.line}: ADRG {base}: DRG {d} does not start with {base}"
                    )
                if d in drg_owner:
                    raise TableImportError(
                        f"{r0.file} line {r0.line}: ADRG {base}: DRG {d} already belongs to "
                        f"ADRG {drg_owner[d]}"
                    )
                drg_owner[d] = base
                srow = splits[d]
                expr = srow["condition_python"]
                st = self.translate(
                    srow,
                    f"DRG {d} (ADRG {base})",
                    expr,
                    _Translator(_no_lists, allow_cc=True),
                    allow_return=True,
                )
                if st is None:
                    continue
                drgs.append((d, drg_names[d], None if st == TRUE else st))
            drgs = self._order_splits(base, drgs, comments)
            out.append(_AdrgOut(base, letter, when, drgs, comments, r0.line))

        self.raise_errors()

        for items in source_lists.values():
            codes = [c for _, c, _ in items]
            dup_codes += len(codes) - len(set(codes))
        if dup_codes:
            self.warn(f"adrg_code_lists.csv: {dup_codes} repeated codes within a list written once")
        known_rows = {r["adrg"] for r in rows}
        for (row_code, lname), items in sorted(source_lists.items()):
            if (row_code, lname) in used_lists or row_code in dropped_rows:
                continue
            where = "of no ADRG row" if row_code not in known_rows else "used by no condition"
            self.warn(
                f"adrg_code_lists.csv line {items[0][2].line}: list {lname} of {row_code} is "
                f"{where} and was not written"
            )
        for d in drg_names:
            if d not in drg_owner:
                self.warn(f"DRG.csv: DRG {d} is named by no ADRG and was not written")
        for d in splits:
            if d not in drg_names:
                self.warn(f"drg_split_conditions.csv: DRG {d} is not in DRG.csv and was ignored")
        self._check_reachability(out)
        return out

    def _adrg_condition(
        self,
        r: _Row,
        base: str,
        source_lists: dict[tuple[str, str], list[tuple[int, str, _Row]]],
        used_lists: set[tuple[str, str]],
    ) -> _T | None:
        row_code = r["adrg"]
        expr = r["entry_condition_python"]
        if not expr.strip():
            self.warn(
                f"ADRG {row_code} (adrg_conditions.csv line {r.line}): empty condition, "
                "written as 'true'"
            )
            return TRUE
        uses_labels = "ss_matched" in {t.text for t in _safe_tokens(expr) if t.kind == "name"}

        def resolve(name: str, system: str, node: _Node) -> str:
            if name == "SS_VALID":
                if system != "px":
                    raise _Untranslatable(node, "SS_VALID holds procedures")
                return "or_procedures"
            if not name.startswith("adrg_"):
                raise _Untranslatable(node, f"unknown name {name}")
            kind = name[len("adrg_") :]
            list_system = "dx" if kind.startswith("zd") else "px" if kind.startswith("ss") else None
            if list_system is None:
                raise _Untranslatable(node, f"list {name}: kind neither zd nor ss")
            if list_system != system:
                what = "diagnoses" if list_system == "dx" else "procedures"
                raise _Untranslatable(node, f"list {name} holds {what}")
            if uses_labels and name in ("adrg_ss", "adrg_ss1"):
                raise _Untranslatable(
                    node, f"{name} used directly in a condition that uses ss_matched labels"
                )
            items = source_lists.get((row_code, name))
            if not items:
                raise _Untranslatable(node, f"list {name} of {row_code} not in adrg_code_lists.csv")
            used_lists.add((row_code, name))
            return self.lists.add(f"{row_code}_{kind}", list_system, (c for _, c, _ in items))

        label_map: dict[str, list[str]] | None = None
        if uses_labels:
            label_map = self._labels(r, source_lists)
            used_lists.add((row_code, "adrg_ss"))
            used_lists.add((row_code, "adrg_ss1"))

        def label_list(label: str, node: _Node) -> str:
            assert label_map is not None
            if label not in label_map:
                raise _Untranslatable(
                    node, f"no procedure of adrg_ss is labelled {label!r} in adrg_ss1"
                )
            return self.lists.add(f"{row_code}_ss_{label}", "px", label_map[label])

        tr = _Translator(resolve, label_list if uses_labels else None)
        t = self.translate(r, f"ADRG {row_code}", expr, tr)
        if t is None:
            return None
        if uses_labels:
            labels = sorted(tr.labels)
            t = _and([t, _TIn("principal_px", tuple(f"{row_code}_ss_{x}" for x in labels))])
            assert label_map is not None
            unused = sorted(set(label_map) - set(labels))
            extra = f"; labels {', '.join(unused)} are used by no condition" if unused else ""
            self.warn(
                f"ADRG {row_code}: adrg_ss1 labels the codes of adrg_ss (ss_matched, README "
                f"point 4): lists {', '.join(f'{row_code}_ss_{x}' for x in labels)} written, and "
                f"the principal procedure must carry one of the labels{extra}"
            )
        return t

    def _labels(
        self, r: _Row, source_lists: dict[tuple[str, str], list[tuple[int, str, _Row]]]
    ) -> dict[str, list[str]]:
        row_code = r["adrg"]
        ss = source_lists.get((row_code, "adrg_ss"), [])
        ss1 = source_lists.get((row_code, "adrg_ss1"), [])
        if not ss or not ss1:
            raise TableImportError(
                f"{r.file} line {r.line}: ADRG {row_code} uses ss_matched but adrg_ss/adrg_ss1 "
                "are missing in adrg_code_lists.csv"
            )
        labels = {s: c for s, c, _ in ss1}
        codes = {s: c for s, c, _ in ss}
        if set(labels) != set(codes):
            raise TableImportError(
                f"{r.file} line {r.line}: ADRG {row_code} uses ss_matched but the seqs of "
                "adrg_ss1 (labels) and adrg_ss (codes) differ"
            )
        out: dict[str, list[str]] = {}
        for s, _, _ in ss:
            label = labels[s]
            if not _LABEL.match(label):
                raise TableImportError(
                    f"adrg_code_lists.csv: label {label!r} of {row_code} seq {s} is not letters "
                    "or digits"
                )
            out.setdefault(label, []).append(codes[s])
        return dict(sorted(out.items()))

    def _order_splits(
        self, base: str, drgs: list[tuple[str, str, _T | None]], comments: list[str]
    ) -> list[tuple[str, str, _T | None]]:
        attr = [d for d in drgs if d[2] is not None and _uses_attributes(d[2])]
        other = [d for d in drgs if d[2] is not None and not _uses_attributes(d[2])]
        always = [d for d in drgs if d[2] is None]
        ordered = attr + other + always
        if [d[0] for d in ordered] != [d[0] for d in drgs]:
            before = "|".join(d[0] for d in drgs)
            after = "|".join(d[0] for d in ordered)
            self.warn(
                f"ADRG {base}: DRG splits reordered {before} -> {after} (splits on age/los/"
                "discharge first, unconditional last, so that none is unreachable)"
            )
            comments.append(f"DRG splits reordered from {before} (source order).")
        if len(always) > 1:
            self.warn(
                f"ADRG {base}: several unconditional splits ({', '.join(d[0] for d in always)}); "
                f"only {always[0][0]} can be reached"
            )
        if not always:
            self.warn(
                f"ADRG {base}: no unconditional split; a case matching none of "
                f"{', '.join(d[0] for d in ordered)} gets no DRG"
            )
        seen_cc_or_mcc = None
        for d in ordered:
            if d[2] == _TCc("cc_or_mcc"):
                seen_cc_or_mcc = seen_cc_or_mcc or d[0]
            elif d[2] == _TCc("mcc") and seen_cc_or_mcc:
                self.warn(
                    f"ADRG {base}: split {d[0]} (mcc) follows {seen_cc_or_mcc} (cc_or_mcc) "
                    "and is unreachable"
                )
        return ordered

    def _check_reachability(self, adrgs: list[_AdrgOut]) -> None:
        by_mdc: dict[str, list[_AdrgOut]] = {}
        for a in adrgs:
            by_mdc.setdefault(a.mdc, []).append(a)
        for letter, items in by_mdc.items():
            first_with: dict[_T, str] = {}
            for a in items:
                if a.when == TRUE:
                    continue  # reported below
                if a.when in first_with:
                    self.warn(
                        f"ADRG {a.code} has the same condition as the earlier ADRG "
                        f"{first_with[a.when]} of MDC {letter} ({_render(a.when)}) and can "
                        "never be reached"
                    )
                else:
                    first_with[a.when] = a.code
            for i, a in enumerate(items):
                if a.when == TRUE and i + 1 < len(items):
                    later = ", ".join(x.code for x in items[i + 1 :])
                    self.warn(
                        f"ADRG {a.code} always holds: the later ADRGs of MDC {letter} "
                        f"({later}) can never be reached"
                    )
                    break


def _safe_tokens(expr: str) -> list[_Token]:
    try:
        return _tokenize(expr)
    except _SyntaxError:
        return []


def _no_lists(name: str, system: str, node: _Node) -> str:
    raise _Untranslatable(node, f"a code list ({name}) in a DRG split")


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

_NAME_SUFFIX = re.compile(
    r"[，,]\s*(?:(?:不)?伴[^，,]*(?:并发症|合并症)[^，,]*"
    r"|小于等于?\d+岁|大于等于?\d+岁|\d+岁(?:及以下|以下|及以上|以上)"
    r"|\d+(?:[-－~]\d+)?天(?:及以上|以上|以内|以下)?)$"
)


def _strip_split_suffix(name: str) -> str:
    prev = None
    while prev != name:
        prev = name
        name = _NAME_SUFFIX.sub("", name).strip()
    return name


def _adrg_name(drg_names: Sequence[str]) -> str:
    """Best-effort ADRG name from the names of its DRGs."""
    stripped = [_strip_split_suffix(n) for n in drg_names if n]
    if not stripped:
        return ""
    if all(s == stripped[0] for s in stripped):
        return stripped[0]
    first = drg_names[0]
    cut = re.split(r"[，,]", first, maxsplit=1)[0]
    return cut or stripped[0]


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _q(s: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes)."""
    return json.dumps(s, ensure_ascii=False)


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _default_version(name: str) -> str:
    m = re.search(r"(\d+(?:\.\d+)*)$", name)
    return m.group(1) if m else name


def import_opendrg(
    src: Path,
    dest: Path,
    name: str,
    *,
    icd_dir: Path | None = None,
    version: str | None = None,
    overwrite: bool = False,
    title: str | None = None,
    description: str | None = None,
) -> ImportReport:
    """Import a rule folder in the opendrg layout into a drgsim table set.

    Parameters
    ----------
    src : Path
        The opendrg rule folder (``mdc_conditions.csv``, ``adrg_conditions.csv`` ...).
    dest : Path
        The table-set folder to write; created. It must not exist or be empty unless
        ``overwrite`` is true.
    name : str
        Name of the table set (used with ``-t``).
    icd_dir : Path, optional
        Folder of the ICD editions, gray lists and input-code maps; defaults to
        ``src.parent / "icd"`` when that exists. From it ``dictionary.csv``,
        ``gray_codes.csv`` and ``code_maps.csv`` are written.
    version : str, optional
        Version of the set; default: the trailing number of ``name`` (``"1.1"``).
    overwrite : bool
        Replace the files of an existing non-empty ``dest``.
    title, description : str, optional
        Texts for ``tableset.toml``; defaults are derived from the source folder.

    Returns
    -------
    ImportReport
        Counts and warnings (the warnings are also written to ``IMPORT_NOTES.md``).

    Raises
    ------
    TableImportError
        When a file is missing or malformed, or an expression cannot be translated (the
        message names the file, the line, the rule and the expression).
    """
    src = Path(src)
    dest = Path(dest)
    if not name or any(c in name for c in '\n\r"\\'):
        raise TableImportError(f"invalid table-set name {name!r}")
    if not src.is_dir():
        raise TableImportError(f"source folder {src} not found")
    icd_dir = _check_destination(src, dest, overwrite, icd_dir)

    imp = _Importer(src, name)
    files: dict[str, str] = {}

    # ---- rules ----
    mdcs = imp.import_mdcs()
    imp.raise_errors()
    adrgs = imp.import_adrgs({m[0] for m in mdcs})

    # ---- CC / exclusions / OR procedures ----
    cc_rows: list[tuple[str, str, str]] = []
    cc_codes: dict[str, str] = {}
    n_mcc = n_cc = 0
    for fname, level in (("MCC.csv", "MCC"), ("CC.csv", "CC")):
        for r in _read_csv(src / fname, ["icd10_code", "exclusion_table"]):
            code = r["icd10_code"]
            if not code:
                raise TableImportError(f"{fname} line {r.line}: empty code")
            if code in cc_codes:
                imp.warn(f"{fname} line {r.line}: {code} is already {cc_codes[code]}; row ignored")
                continue
            cc_codes[code] = level
            cc_rows.append((code, level, r["exclusion_table"]))
            if level == "MCC":
                n_mcc += 1
            else:
                n_cc += 1
    files["cc.csv"] = _csv_text(["code", "level", "exclusion_table"], cc_rows)

    cce: dict[str, str] = {}
    cce_dups = 0
    for r in _read_csv(src / "CCE.csv", ["principal_dx_code", "exclusion_table"]):
        code, table = r["principal_dx_code"], r["exclusion_table"]
        if code in cce:
            if cce[code] != table:
                imp.warn(f"CCE.csv line {r.line}: {code} has a second exclusion table; ignored")
            else:
                cce_dups += 1
            continue
        cce[code] = table
    if cce_dups:
        imp.warn(f"CCE.csv: {cce_dups} repeated rows written once")
    files["cc_exclusions.csv"] = _csv_text(["principal_dx", "exclusion_table"], cce.items())

    orp: dict[str, str] = {}
    or_dups = 0
    for r in _read_csv(src / "SS_VALID.csv", ["icd9cm3_code", "name"]):
        code = r["icd9cm3_code"]
        if not code:
            raise TableImportError(f"SS_VALID.csv line {r.line}: empty code")
        if code in orp:
            or_dups += 1
            continue
        orp[code] = r["name"]
    if or_dups:
        imp.warn(f"SS_VALID.csv: {or_dups} repeated codes written once")
    files["or_procedures.csv"] = _csv_text(["code", "name"], orp.items())

    # ---- ICD editions ----
    has_icd = False
    if icd_dir is not None:
        has_icd = _icd_files(Path(icd_dir), files, imp)
    else:
        imp.warn("no ICD folder: dictionary.csv, gray_codes.csv and code_maps.csv were not written")

    # ---- code lists ----
    files["code_lists.csv"] = _csv_text(
        ["list", "system", "code", "match"],
        ((cl.name, cl.system, c, "") for cl in imp.lists.lists.values() for c in cl.codes),
    )

    # ---- TOML ----
    n_drg = sum(len(a.drgs) for a in adrgs)
    letters = [m[0] for m in mdcs]
    head = [x for x in MDC_ORDER_HEAD if x in letters]
    for x in MDC_ORDER_HEAD:
        if x not in letters:
            imp.warn(f"MDC {x} is not in mdc_conditions.csv; left out of mdc_order")
    mdc_order = head + sorted(x for x in letters if x not in head)
    files["mdc.toml"] = _mdc_toml(name, src.name, mdcs, imp)
    files["adrg.toml"] = _adrg_toml(name, src.name, adrgs)

    version = version or _default_version(name)
    title = title or KNOWN_TITLES.get(src.name, f"{src.name} (opendrg layout)")
    if description is None:
        description = (
            f"CHS-DRG rules of {src.name}, translated from the opendrg layout "
            f"(OpenDRG/DRG_Python): {len(mdcs)} MDC, {len(adrgs)} ADRG, {n_drg} DRG. "
            "Grouping semantics the source tables do not carry (MDC order, MDCZ body "
            "regions, labelled adrg_ss1 lists, alternative ADRG rows, split order) are made "
            "explicit; see IMPORT_NOTES.md."
        )
    files["tableset.toml"] = _tableset_toml(
        name=name,
        version=version,
        title=title,
        source=src.name,
        description=description,
        mdc_order=mdc_order,
    )

    report = ImportReport(
        name=name,
        source=src.name,
        mdc=len(mdcs),
        adrg=len(adrgs),
        drg=n_drg,
        lists=len(imp.lists.lists),
        cc=n_cc,
        mcc=n_mcc,
        warnings=list(imp.warnings),
        regions=list(imp.regions),
    )
    files["IMPORT_NOTES.md"] = _notes(report, has_icd)

    _write_set(dest, files, overwrite)
    return report


def _check_destination(src: Path, dest: Path, overwrite: bool, icd_dir: Path | None) -> Path | None:
    """Refuse an unusable destination before any work; return the ICD folder to read
    (``src/../icd`` by default, ``None`` when there is none)."""
    if dest.exists():
        if not dest.is_dir():
            raise TableImportError(f"destination {dest} exists and is not a folder")
        if any(dest.iterdir()) and not overwrite:
            raise TableImportError(
                f"destination {dest} exists and is not empty (use overwrite=True to replace it)"
            )
    if icd_dir is None:
        default = src.parent / "icd"
        return default if default.is_dir() else None
    if not Path(icd_dir).is_dir():
        raise TableImportError(f"ICD folder {icd_dir} not found")
    return Path(icd_dir)


def _write_set(dest: Path, files: dict[str, str], overwrite: bool) -> None:
    """Write a translated set (only once everything translated). With ``overwrite``, files of
    the format that this import does not write are removed; other files are left alone."""
    dest.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for f in OUTPUT_FILES:
            p = dest / f
            if p.is_file() and f not in files:
                p.unlink()
    for fname in sorted(files):
        (dest / fname).write_bytes(files[fname].encode("utf-8"))
    # Seal the set: loading checks each file against this manifest of SHA-256 hashes.
    from drgsim import _core

    _core.seal_dir(str(dest))


def _icd_files(icd_dir: Path, files: dict[str, str], imp: _Importer) -> bool:
    present = {k: (icd_dir / v).is_file() for k, v in ICD_FILES.items()}
    if not any(present.values()):
        raise TableImportError(
            f"ICD folder {icd_dir} holds none of {', '.join(ICD_FILES.values())}"
        )
    for k, ok in present.items():
        if not ok:
            imp.warn(f"ICD folder: {ICD_FILES[k]} not found; its rows were not written")

    dictionary: list[tuple[str, str, str]] = []
    for system, key in (("dx", "dx_dictionary"), ("px", "px_dictionary")):
        seen: set[str] = set()
        for r in _read_csv(icd_dir / ICD_FILES[key], ["code", "name"], required=False):
            if not r["code"] or r["code"] in seen:
                continue
            seen.add(r["code"])
            dictionary.append((system, r["code"], r["name"]))
    if dictionary:
        files["dictionary.csv"] = _csv_text(["system", "code", "name"], dictionary)

    gray: list[tuple[str, str]] = []
    for system, key in (("dx", "dx_gray"), ("px", "px_gray")):
        seen = set()
        dups = 0
        for r in _read_csv(icd_dir / ICD_FILES[key], ["code"], required=False):
            if not r["code"]:
                continue
            if r["code"] in seen:
                dups += 1
                continue
            seen.add(r["code"])
            gray.append((system, r["code"]))
        if dups:
            imp.warn(f"{ICD_FILES[key]}: {dups} repeated codes written once")
    if gray:
        files["gray_codes.csv"] = _csv_text(["system", "code"], gray)

    maps: list[tuple[str, str, str]] = []
    for system, key in (("dx", "dx_map"), ("px", "px_map")):
        seen = set()
        for r in _read_csv(
            icd_dir / ICD_FILES[key], ["input_code", "grouper_code"], required=False
        ):
            a, b = r["input_code"], r["grouper_code"]
            if not a or not b or a == b:
                continue
            if a in seen:
                imp.warn(f"{ICD_FILES[key]} line {r.line}: {a} mapped twice; row ignored")
                continue
            seen.add(a)
            maps.append((system, a, b))
    if maps:
        files["code_maps.csv"] = _csv_text(["system", "input_code", "grouper_code"], maps)
    return True


def _header(name: str, source: str, what: str, layout: str = "opendrg layout") -> list[str]:
    return [
        f"# {what} of the table set {name}.",
        f"# Imported from {source} ({layout}) by drgsim tables import; see IMPORT_NOTES.md.",
    ]


def _mdc_toml(
    name: str, source: str, mdcs: list[tuple[str, _T, str | None, list[str]]], imp: _Importer
) -> str:
    lines = _header(name, source, "MDCs")
    for letter, when, sex, comments in mdcs:
        lines.append("")
        lines.extend(f"# {c}" for c in comments)
        mdc_name, name_en = MDC_NAMES.get(letter, (f"MDC{letter}", ""))
        if letter not in MDC_NAMES:
            imp.warn(f"MDC {letter}: no known name; named MDC{letter}")
        lines.append("[[mdc]]")
        lines.append(f"code = {_q(letter)}")
        lines.append(f"name = {_q(mdc_name)}")
        if name_en:
            lines.append(f"name_en = {_q(name_en)}")
        lines.append(f"when = {_q(_render(when))}")
        if sex:
            lines.append(f"sex = {_q(sex)}")
    return "\n".join(lines) + "\n"


def _adrg_toml(name: str, source: str, adrgs: Sequence[Any], layout: str = "opendrg layout") -> str:
    """adrg.toml: each ADRG (code, mdc, name, when, drgs, comments) with its splits."""
    lines = _header(name, source, "ADRGs and their DRG splits", layout)
    for a in adrgs:
        lines.append("")
        lines.extend(f"# {c}" for c in a.comments)
        lines.append("[[adrg]]")
        lines.append(f"code = {_q(a.code)}")
        lines.append(f"mdc = {_q(a.mdc)}")
        lines.append(f"name = {_q(a.name)}")
        lines.append(f"when = {_q(_render(a.when))}")
        for code, dname, when in a.drgs:
            lines.append("")
            lines.append("[[adrg.drg]]")
            lines.append(f"code = {_q(code)}")
            lines.append(f"name = {_q(dname)}")
            if when is not None:
                lines.append(f"when = {_q(_render(when))}")
    return "\n".join(lines) + "\n"


def _tableset_toml(
    *,
    name: str,
    version: str,
    title: str,
    source: str,
    description: str,
    mdc_order: Sequence[str],
) -> str:
    lines = [
        "format = 1",
        "",
        "[tableset]",
        f"name = {_q(name)}",
        f"version = {_q(version)}",
        f"title = {_q(title)}",
        f"dx_edition = {_q(DX_EDITION)}",
        f"px_edition = {_q(PX_EDITION)}",
        f"source = {_q(f'imported from {source} (opendrg layout) by drgsim tables import')}",
        f"licence = {_q('see the source')}",
        f"description = {_q(description)}",
        "",
        "[grouping]",
        f"mdc_order = [{', '.join(_q(x) for x in mdc_order)}]",
        "next_mdc_when_no_adrg = true",
        "ambiguous_group = false",
        "require_age = true",
        "newborn_max_age_days = 28",
        "require_newborn_weight = false",
        "# the source grouper does not reject a gray principal code (gray_codes.csv)",
        "check_gray_principal = false",
    ]
    return "\n".join(lines) + "\n"


def _notes(report: ImportReport, has_icd: bool) -> str:
    lines = [
        f"# Import notes: {report.name}",
        "",
        f"Imported from `{report.source}` (opendrg layout) by `drgsim tables import`.",
        "",
        f"- {report.mdc} MDC, {report.adrg} ADRG, {report.drg} DRG",
        f"- {report.lists} code lists, {report.mcc} MCC, {report.cc} CC",
        "- ICD editions, gray codes and input-code maps: "
        + ("written" if has_icd else "not written (no ICD folder)"),
        "- gray codes are not checked (`check_gray_principal = false`): the source grouper "
        "does not check them",
    ]
    if report.regions:
        lines += ["", "## Body regions", ""]
        lines += [f"- `{n}`: {h} ({c} codes)" for n, h, c in report.regions]
    lines += ["", f"## Warnings ({len(report.warnings)})", ""]
    lines += [f"- {w}" for w in report.warnings] or ["(none)"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m drgsim.tables.importers.opendrg SRC DEST NAME``."""
    from drgsim.tables.importers import run_importer

    return run_importer(import_opendrg, "Import an opendrg rule folder.", argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
