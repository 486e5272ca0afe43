"""Import the national CHS-DRG 2.0 folder into the drgsim table format.

The CHS-DRG 2.0 tables (``../shared/reference/chs-drg-2.0``) come from another grouper's data
files (qweaszxcdf/CHS-DRG-Grouper): JSON documents in ``original/`` plus flattened CSV copies.
The JSON documents are the input; the CSV copies, when present, only cross-check them.

Source files read (in ``src/original``, or in ``src`` itself)::

    mdc_rules.json      MDCs: identifyingDiagnoses (principal diagnoses), MDCZ body regions
    adrg_rules.json     ADRGs in the order they are tried: named code sections (主要诊断 ...),
                        an optional logic text over the section names and special keys
    drg_rules.json      one split per DRG (WITH_MCC, WITH_CC, NO_CC, ADRG_ONLY)
    mcc_codes.json, cc_codes.json   secondary diagnosis -> exclusion table
    cce_codes.json      principal diagnosis -> exclusion table
    zd_invalid.json, ss_invalid.json   diagnoses / procedures not valid as principal code
    config.json         the source grouper's strategy (mdcyPrincipalDiagnosisOnly)

and, when an ICD folder is given or found next to ``src`` (``src.parent / "icd"``), the
ICD editions, their gray lists and the input-code maps, as the opendrg importer does.

Everything the source grouper decides in code rather than in data is made explicit rules
(see ``IMPORT_NOTES.md`` of an imported set): the entry of the pre-MDCs A, P, Y and Z, the
meaning of section names, the newborn age and birth-weight limits that only appear in ADRG
and DRG names, the invalid-principal-procedure rule and the DRG split order. A construct
that cannot be translated is an error naming the file and the ADRG or DRG.

Examples
--------
>>> from pathlib import Path
>>> src = Path("../shared/reference/chs-drg-2.0")
>>> report = import_chs20(src, Path("out/chs-drg-2.0"), "chs-drg-2.0")  # doctest: +SKIP
>>> print(report.summary())  # doctest: +SKIP
chs-drg-2.0 (from chs-drg-2.0): 26 MDC, 409 ADRG, 634 DRG, ...
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drgsim.exceptions import TableImportError
from drgsim.tables.importers.opendrg import (
    _DX_CODE,
    _PX_CODE,
    _T,
    DX_EDITION,
    MDC_NAMES,
    MDC_ORDER_HEAD,
    PX_EDITION,
    TRUE,
    ImportReport,
    _and,
    _check_destination,
    _csv_text,
    _default_version,
    _icd_files,
    _Importer,
    _or,
    _q,
    _read_csv,
    _render,
    _TAtLeast,
    _TCc,
    _TCmp,
    _TConst,
    _TIn,
    _TNot,
    _TOr,
    _write_set,
)
from drgsim.tables.importers.opendrg import _adrg_toml as _adrg_toml_1x
from drgsim.tables.importers.opendrg import _header as _header_1x

__all__ = ["import_chs20"]

#: The pre-MDCs; the source grouper tries their ADRGs before looking at the principal's MDC.
PRE_MDCS: tuple[str, ...] = ("A", "P", "Y", "Z")

#: Sex of the sex-specific MDCs (the source grouper skips MDCN for men and MDCM for women).
MDC_SEX: dict[str, str] = {"M": "male", "N": "female"}

#: Source files (inside ``original/``): name -> required.
SOURCE_FILES: dict[str, bool] = {
    "mdc_rules.json": True,
    "adrg_rules.json": True,
    "drg_rules.json": True,
    "mcc_codes.json": True,
    "cc_codes.json": True,
    "cce_codes.json": True,
    "zd_invalid.json": True,
    "ss_invalid.json": True,
    "config.json": False,
}

#: DRG split conditions of drg_rules.json -> rule (None: always holds).
SPLITS: dict[str, _T | None] = {
    "WITH_MCC": _TCc("mcc"),
    "WITH_CC": _TCc("cc_or_mcc"),
    "NO_CC": None,
    "ADRG_ONLY": None,
}

#: What the last character of a DRG code means in the national lists.
LAST_CHAR: dict[str, _T | None] = {"1": _TCc("mcc"), "3": _TCc("cc_or_mcc"), "5": None, "9": None}

#: The keys of an ADRG rule the importer knows.
RULE_KEYS = frozenset(
    {
        "logic",
        "sections",
        "_logicRPN",
        "_logicCompileError",
        "requiredProcedureGroups",
        "referencedADRGs",
        "requiredReferencedADRGs",
        "anyProcedureRequired",
        "zeroProceduresRequired",
    }
)

#: Name of the list of ss_invalid.json (procedures not valid as principal procedure).
SS_INVALID_LIST = "SS_INVALID"

# A section name: 主要诊断, 其他诊断 2, 诊断, 主要手术或操作 1, 手术或操作 3 ...
_SECTION = re.compile(r"^(主要|其他)?(诊断|手术或操作)(?:\s*([0-9]+))?$")
_ADRG_CODE = re.compile(r"^[A-Z][A-Z][0-9]$")
_DRG_CODE = re.compile(r"^[A-Z][A-Z][0-9][0-9A-Z]$")
_MDC_CODE = re.compile(r"^MDC([A-Z])$")
_WS = " \t\r\n\u3000"


# ---------------------------------------------------------------------------------------
# Logic texts of adrg_rules.json
# ---------------------------------------------------------------------------------------


class _LogicError(Exception):
    """A logic text that does not parse."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


@dataclass(frozen=True)
class _LSec:
    name: str


@dataclass(frozen=True)
class _LOp:
    op: str  # "and" | "or"
    items: tuple[_LNode, ...]


_LNode = _LSec | _LOp


def _tokenize_logic(text: str, sections: Sequence[str]) -> list[tuple[str, str, int]]:
    """Split a logic text into tokens.

    The operators are ``+`` (and), ``或`` (or) and parentheses (full- or half-width); the
    operands are the section names of the ADRG. A section name may itself contain ``或``
    (``手术或操作``), so at each position the longest section name is tried first, and the
    blanks before a section number are free (``主要手术或操作 1`` = ``主要手术或操作1``).

    Parameters
    ----------
    text : str
        The logic text.
    sections : sequence of str
        The section names of the ADRG.

    Returns
    -------
    list of (kind, text, position)
        ``kind`` is ``sec`` (text = the section name), ``and``, ``or``, ``(`` or ``)``.

    Raises
    ------
    _LogicError
        At a position where no token starts.
    """
    patterns: list[tuple[re.Pattern[str], str]] = []
    for name in sorted(sections, key=lambda s: (-len(s), s)):
        m = _SECTION.match(name)
        if m and m.group(3):
            body = name[: m.start(3)].rstrip(_WS)
            regex = re.escape(body) + r"[ \t\u3000]*" + m.group(3) + r"(?![0-9])"
        else:
            regex = re.escape(name) + r"(?![ \t\u3000]*[0-9])"
        patterns.append((re.compile(regex), name))
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in _WS:
            pos += 1
            continue
        if ch in "(（":
            out.append(("(", ch, pos))
            pos += 1
            continue
        if ch in ")）":
            out.append((")", ch, pos))
            pos += 1
            continue
        if ch in "+＋":
            out.append(("and", ch, pos))
            pos += 1
            continue
        for pat, name in patterns:
            m = pat.match(text, pos)
            if m:
                out.append(("sec", name, pos))
                pos = m.end()
                break
        else:
            if ch == "或":
                out.append(("or", ch, pos))
                pos += 1
                continue
            rest = text[pos : pos + 12]
            raise _LogicError(pos, f"no section name or operator starts at {rest!r}")
    return out


def _parse_logic(text: str, sections: Sequence[str]) -> _LNode:
    """Parse a logic text (``+`` binds tighter than ``或``).

    Grammar::

        or_expr  := and_expr ("或" and_expr)*
        and_expr := atom ("+" atom)*
        atom     := SECTION | "(" or_expr ")"

    Parameters
    ----------
    text : str
        The logic text.
    sections : sequence of str
        The section names of the ADRG.

    Returns
    -------
    _LNode
        The parsed expression.

    Raises
    ------
    _LogicError
        When the text does not follow the grammar.
    """
    toks = _tokenize_logic(text, sections)
    i = 0

    def peek() -> tuple[str, str, int]:
        return toks[i] if i < len(toks) else ("end", "", len(text))

    def binary(kind: str, sub: Any) -> _LNode:
        nonlocal i
        items = [sub()]
        while peek()[0] == kind:
            i += 1
            items.append(sub())
        return items[0] if len(items) == 1 else _LOp(kind, tuple(items))

    def or_expr() -> _LNode:
        return binary("or", and_expr)

    def and_expr() -> _LNode:
        return binary("and", atom)

    def atom() -> _LNode:
        nonlocal i
        kind, tok, pos = peek()
        if kind == "sec":
            i += 1
            return _LSec(tok)
        if kind == "(":
            i += 1
            inner = or_expr()
            k2, t2, p2 = peek()
            if k2 != ")":
                raise _LogicError(p2, f"expected ')', found {t2 or 'the end'!r}")
            i += 1
            return inner
        raise _LogicError(pos, f"expected a section name or '(', found {tok or 'the end'!r}")

    if not toks:
        raise _LogicError(0, "empty logic text")
    node = or_expr()
    kind, tok, pos = peek()
    if kind != "end":
        raise _LogicError(pos, f"unexpected {tok!r} after a complete expression")
    return node


def _flatten(node: _LNode) -> _LNode:
    """Merge nested operators of the same kind (``a+(b+c)`` = ``a+b+c``)."""
    if isinstance(node, _LSec):
        return node
    items: list[_LNode] = []
    for c in (_flatten(x) for x in node.items):
        if isinstance(c, _LOp) and c.op == node.op:
            items.extend(c.items)
        else:
            items.append(c)
    return _LOp(node.op, tuple(items))


def _rpn_tree(rpn: Any) -> _LNode:
    """The expression of a ``_logicRPN`` list (section tokens, ``&&``, ``||``).

    Raises
    ------
    ValueError
        When the list is not a well-formed RPN of sections, ``&&`` and ``||``.
    """
    if not isinstance(rpn, list):
        raise ValueError("not a list")
    stack: list[_LNode] = []
    for tok in rpn:
        if isinstance(tok, dict) and tok.get("type") == "SECTION":
            stack.append(_LSec(str(tok.get("name"))))
        elif tok in ("&&", "||"):
            if len(stack) < 2:
                raise ValueError(f"{tok} with fewer than two operands")
            b, a = stack.pop(), stack.pop()
            stack.append(_LOp("and" if tok == "&&" else "or", (a, b)))
        else:
            raise ValueError(f"unknown token {tok!r}")
    if len(stack) != 1:
        raise ValueError(f"{len(stack)} values left on the stack")
    return stack[0]


def _logic_sections(node: _LNode) -> list[str]:
    if isinstance(node, _LSec):
        return [node.name]
    return [s for c in node.items for s in _logic_sections(c)]


# ---------------------------------------------------------------------------------------
# Newborn age and birth-weight limits written in names
# ---------------------------------------------------------------------------------------

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_UNIT = r"(kg|公斤|g|克|周岁|岁|天|日|个月|月)"
_SUBJ = r"(出生体重|体重|出生年龄|日龄|年龄|月龄)"
_OP = r"(<=|>=|≤|≥|<|>|=|小于等于|大于等于|不超过|不足|小于|大于|超过|低于|高于)"
_SEP = r"[-~～—–至到]"
_WORD = r"(及以上|以上|及以下|以下|以内)"

#: Clause forms, tried in this order on the NFKC-normalised name.
_CLAUSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("chain", re.compile(rf"{_NUM}\s*{_UNIT}\s*{_OP}\s*{_SUBJ}\s*{_OP}\s*{_NUM}\s*{_UNIT}")),
    (
        "subj_range",
        re.compile(rf"{_SUBJ}\s*[:为]?\s*{_NUM}\s*{_UNIT}?\s*{_SEP}\s*{_NUM}\s*{_UNIT}"),
    ),
    ("subj_op", re.compile(rf"{_SUBJ}\s*{_OP}\s*{_NUM}\s*{_UNIT}")),
    ("subj_word", re.compile(rf"{_SUBJ}\s*{_NUM}\s*{_UNIT}\s*{_WORD}")),
    ("range", re.compile(rf"{_NUM}\s*{_UNIT}?\s*{_SEP}\s*{_NUM}\s*{_UNIT}")),
    ("op", re.compile(rf"{_OP}\s*{_NUM}\s*{_UNIT}")),
    ("word", re.compile(rf"{_NUM}\s*{_UNIT}\s*{_WORD}")),
)
#: Anything that speaks of an age or a weight; each must lie inside a parsed clause.
_MENTION = re.compile(rf"{_SUBJ}|周岁|[0-9]+(?:\.[0-9]+)?\s*{_UNIT}(?![A-Za-z])")

_OPS = {
    "<": "<",
    "<=": "<=",
    "≤": "<=",
    ">": ">",
    ">=": ">=",
    "≥": ">=",
    "=": "==",
    "小于等于": "<=",
    "大于等于": ">=",
    "不超过": "<=",
    "不足": "<",
    "小于": "<",
    "低于": "<",
    "大于": ">",
    "超过": ">",
    "高于": ">",
}
_WORDS = {"及以上": ">=", "以上": ">=", "及以下": "<=", "以下": "<=", "以内": "<="}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}


class _NameError(Exception):
    """An age or weight in a name that cannot be read."""


def _unit_attr(unit: str, subject: str | None) -> tuple[str, float]:
    """Attribute and scale of a unit (``g`` -> birth_weight, ``天`` -> age_days ...)."""
    if unit in ("g", "克", "kg", "公斤"):
        attr, scale = "birth_weight", (1000.0 if unit in ("kg", "公斤") else 1.0)
    elif unit in ("天", "日"):
        attr, scale = "age_days", 1.0
    elif unit in ("岁", "周岁"):
        attr, scale = "age", 1.0
    else:
        raise _NameError(f"unit {unit!r} (months) has no exact attribute")
    if subject is not None:
        weight_subject = subject in ("出生体重", "体重")
        if subject == "月龄":
            raise _NameError("an age in months (月龄) has no exact attribute")
        if weight_subject != (attr == "birth_weight"):
            raise _NameError(f"{subject} given in {unit}")
    return attr, scale


def _bound(attr: str, op: str, value: float) -> list[tuple[str, str, float]]:
    """Comparisons for ``attr OP value``, written with ``>=``/``<`` on whole units.

    Birth weights (g), ages in days and ages in years are whole numbers in the source grouper
    (it truncates them), so ``> 2499`` is ``>= 2500`` and ``<= 28`` is ``< 29``.
    """
    if value != int(value):
        return [(attr, op, value)]
    v = int(value)
    if op == ">":
        return [(attr, ">=", v + 1)]
    if op == "<=":
        return [(attr, "<", v + 1)]
    if op == "==":
        return [(attr, ">=", v), (attr, "<", v + 1)]
    return [(attr, op, v)]


def _name_limits(name: str) -> tuple[list[tuple[str, str, float]], list[str]]:
    """Read the age and birth-weight limits written in an ADRG or DRG name.

    Parameters
    ----------
    name : str
        The name (e.g. ``早产儿（出生体重1500-1999g）``).

    Returns
    -------
    (comparisons, clauses)
        ``(attribute, op, value)`` comparisons (``op`` is ``>=`` or ``<`` for whole values)
        and the source text of each clause read.

    Raises
    ------
    _NameError
        When the name speaks of an age or a weight outside any clause this reader knows.
    """
    text = unicodedata.normalize("NFKC", name)
    taken: list[tuple[int, int]] = []
    comps: list[tuple[str, str, float]] = []
    clauses: list[str] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for kind, pat in _CLAUSES:
        for m in pat.finditer(text):
            if not free(m.start(), m.end()):
                continue
            g = m.groups()
            found: list[tuple[str, str, float]] = []
            if kind == "chain":
                lo, lo_unit, op1, subj, op2, hi, hi_unit = g
                a1, s1 = _unit_attr(lo_unit, subj)
                a2, s2 = _unit_attr(hi_unit, subj)
                found += _bound(a1, _MIRROR[_OPS[op1]], float(lo) * s1)
                found += _bound(a2, _OPS[op2], float(hi) * s2)
            elif kind in ("subj_range", "range"):
                if kind == "subj_range":
                    subj, lo, lo_unit, hi, hi_unit = g
                else:
                    subj = None
                    lo, lo_unit, hi, hi_unit = g
                attr, scale = _unit_attr(hi_unit, subj)
                if lo_unit and _unit_attr(lo_unit, subj) != (attr, scale):
                    raise _NameError(f"range {m.group()!r} mixes units")
                found += _bound(attr, ">=", float(lo) * scale)
                found += _bound(attr, "<=", float(hi) * scale)
            elif kind == "subj_op":
                subj, op, value, unit = g
                attr, scale = _unit_attr(unit, subj)
                found += _bound(attr, _OPS[op], float(value) * scale)
            elif kind == "subj_word":
                subj, value, unit, word = g
                attr, scale = _unit_attr(unit, subj)
                found += _bound(attr, _WORDS[word], float(value) * scale)
            elif kind == "op":
                op, value, unit = g
                attr, scale = _unit_attr(unit, None)
                found += _bound(attr, _OPS[op], float(value) * scale)
            else:  # word
                value, unit, word = g
                attr, scale = _unit_attr(unit, None)
                found += _bound(attr, _WORDS[word], float(value) * scale)
            taken.append((m.start(), m.end()))
            clauses.append(m.group())
            for c in found:
                if c not in comps:
                    comps.append(c)
    for m in _MENTION.finditer(text):
        if free(m.start(), m.end()) or not any(s <= m.start() and m.end() <= e for s, e in taken):
            raise _NameError(f"cannot read the age or weight in {m.group()!r}")
    for attr in {c[0] for c in comps}:
        lows = [v for a, op, v in comps if a == attr and op in (">=", ">")]
        highs = [v for a, op, v in comps if a == attr and op in ("<", "<=")]
        if lows and highs and max(lows) >= min(highs):
            raise _NameError(f"the limits of {attr} exclude every value")
    return comps, clauses


def _cmp_rule(comps: Iterable[tuple[str, str, float]]) -> list[_T]:
    out: list[_T] = []
    for attr, op, value in comps:
        v: int | float = int(value) if value == int(value) else value
        out.append(_TCmp(attr, op, v))
    return out


# ---------------------------------------------------------------------------------------
# Reading the source
# ---------------------------------------------------------------------------------------


def _code_lines(text: str, key: str) -> dict[str, int]:
    """Line of the first ``"key": "VALUE"`` of each value in a JSON text."""
    out: dict[str, int] = {}
    pat = re.compile(rf'^\s*"{re.escape(key)}"\s*:\s*"([^"]*)"')
    for i, line in enumerate(text.splitlines(), start=1):
        m = pat.match(line)
        if m and m.group(1) not in out:
            out[m.group(1)] = i
    return out


def _load_json(folder: Path, fname: str) -> tuple[Any, str]:
    path = folder / fname
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TableImportError(f"{fname}: required file not found in {folder}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TableImportError(f"{fname}: cannot read: {e}") from e
    try:
        return json.loads(text), text
    except json.JSONDecodeError as e:
        raise TableImportError(f"{fname} line {e.lineno}: not valid JSON: {e.msg}") from e


def _code_map(data: Any, fname: str) -> dict[str, str]:
    """A ``{code: value}`` JSON object with string values (table ids, ``true`` flags)."""
    if not isinstance(data, dict):
        raise TableImportError(f"{fname}: expected an object of code -> value")
    out: dict[str, str] = {}
    for code, value in data.items():
        c = code.strip()
        if not c:
            raise TableImportError(f"{fname}: empty code")
        if isinstance(value, bool):
            out[c] = "true" if value else "false"
        elif isinstance(value, (str, int)):
            out[c] = str(value).strip()
        else:
            raise TableImportError(f"{fname}: value of {code!r} is not a string")
    return out


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise TableImportError(f"{where}: expected a list of codes")
    return [c.strip() for c in value]


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------


@dataclass
class _Adrg:
    code: str
    mdc: str
    name: str
    line: int
    rule: dict[str, Any]
    section_lists: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (list, sys)
    when: _T = TRUE
    drgs: list[tuple[str, str, _T | None]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


class _Chs20:
    """One import run; see :func:`import_chs20`."""

    def __init__(self, src: Path, orig: Path, name: str) -> None:
        self.src = src
        self.orig = orig
        self.imp = _Importer(src, name)  # warnings, errors, code lists, body regions
        self.derived: list[str] = []
        self.checked: list[str] = []
        self.ss_invalid: set[str] = set()
        self.zd_invalid: set[str] = set()
        self.mdcy_principal_only = False
        self.split_15 = 0

    # -- helpers --
    def warn(self, message: str) -> None:
        self.imp.warn(message)

    def error(self, message: str) -> None:
        self.imp.errors.append(message)

    def add_list(self, name: str, system: str, codes: Iterable[str], where: str) -> str:
        """Register a code list; drop tokens that are no ICD code (reported once per list)."""
        pattern = _DX_CODE if system == "dx" else _PX_CODE
        kept: list[str] = []
        bad: list[str] = []
        for c in codes:
            (kept if pattern.match(c) else bad).append(c)
        if bad:
            self.warn(
                f"{where}: {len(bad)} token(s) that are no ICD code dropped from list {name}: "
                f"{', '.join(bad)}"
            )
        if not kept:
            raise TableImportError(f"{where}: list {name} has no code")
        return self.imp.lists.add(name, system, kept)

    # -- MDCs --
    def read_mdcs(self, adrgs: list[_Adrg]) -> list[tuple[str, str, _T, str | None, list[str]]]:
        data, text = _load_json(self.orig, "mdc_rules.json")
        lines = _code_lines(text, "code")
        if not isinstance(data, list) or not data:
            raise TableImportError("mdc_rules.json: expected a non-empty list of MDCs")
        out: list[tuple[str, str, _T, str | None, list[str]]] = []
        seen: set[str] = set()
        by_mdc: dict[str, list[_Adrg]] = {}
        for a in adrgs:
            by_mdc.setdefault(a.mdc, []).append(a)
        for entry in data:
            if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
                raise TableImportError("mdc_rules.json: an MDC entry without a code")
            code = entry["code"]
            where = f"mdc_rules.json line {lines.get(code, 0)}: {code}"
            m = _MDC_CODE.match(code)
            if not m:
                raise TableImportError(f"{where}: MDC code is not MDC<letter>")
            letter = m.group(1)
            if letter in seen:
                raise TableImportError(f"{where}: MDC repeated")
            seen.add(letter)
            mdc_name = str(entry.get("name") or MDC_NAMES.get(letter, (f"MDC{letter}", ""))[0])
            dx = _str_list(entry.get("identifyingDiagnoses", []), where)
            cats = entry.get("mdczCategories")
            comments: list[str] = []
            sex = MDC_SEX.get(letter)
            dups = len(dx) - len(set(dx))
            if dups:
                self.warn(f"{where}: {dups} repeated codes in identifyingDiagnoses written once")
            if letter == "A":
                members = by_mdc.get("A", [])
                if dx:
                    self.warn(
                        f"{where}: identifyingDiagnoses ignored (MDCA is entered by its ADRGs)"
                    )
                when = _or_in([a.when for a in members]) if members else _TConst(False)
                comments.append(
                    "Pre-MDC: the source grouper tries the ADRGs of MDCA first and enters MDCA "
                    "only when one of them holds, so the entry rule is the 'or' of their rules."
                )
            elif letter == "P":
                if dx:
                    self.warn(
                        f"{where}: identifyingDiagnoses ignored (the source grouper enters MDCP "
                        "by age alone)"
                    )
                when = _and([_TCmp("age", "<", 1), _TCmp("age_days", "<", 365)])
                comments.append(
                    "Pre-MDC: 2.0 has no MDCP diagnosis list; the source grouper enters MDCP "
                    "for an infant (age 0, age in days given and below 365). The newborn and "
                    "birth-weight limits of its ADRGs come from their names (IMPORT_NOTES.md)."
                )
            elif letter == "Z":
                if not isinstance(cats, dict) or len(cats) < 2:
                    raise TableImportError(f"{where}: MDCZ needs at least two mdczCategories")
                regions: list[_T] = []
                comments.append(
                    "Pre-MDC: multiple significant trauma = diagnoses (principal included) in "
                    "at least two of the body regions of mdczCategories."
                )
                for i, (header, codes) in enumerate(cats.items(), start=1):
                    lname = self.add_list(
                        f"MDC{letter}_region{i}_dx",
                        "dx",
                        _str_list(codes, f"{where} {header}"),
                        f"{where} {header}",
                    )
                    n = len(self.imp.lists.lists[lname].codes)
                    comments.append(f"  {lname}: {header} ({n} codes)")
                    self.imp.regions.append((lname, str(header), n))
                    regions.append(_TIn("any_dx", (lname,)))
                when = _TAtLeast(2, tuple(regions))
                if dx:
                    self.warn(f"{where}: identifyingDiagnoses ignored (MDCZ uses its regions)")
            else:
                if cats:
                    raise TableImportError(f"{where}: mdczCategories outside MDCZ")
                if not dx:
                    self.warn(f"{where}: no identifyingDiagnoses; the MDC can never hold")
                    when = _TConst(False)
                else:
                    lname = self.add_list(f"MDC{letter}_dx", "dx", dx, where)
                    if letter == "Y":
                        subject = "principal_dx" if self.mdcy_principal_only else "any_dx"
                        when = _TIn(subject, (lname,))
                        comments.append(
                            "Pre-MDC: HIV; config.json mdcyPrincipalDiagnosisOnly="
                            f"{str(self.mdcy_principal_only).lower()}, so "
                            + (
                                "the principal diagnosis"
                                if self.mdcy_principal_only
                                else "any diagnosis (principal or other)"
                            )
                            + " must be in the list."
                        )
                    else:
                        when = _TIn("principal_dx", (lname,))
                        if sex:
                            other = "female" if sex == "male" else "male"
                            when = _and([when, _TNot(_TCmp("sex", "==", other))])
                            comments.append(
                                f"Sex-specific: the source grouper skips this MDC only when the "
                                f"sex is {other} (an unknown sex is allowed)."
                            )
            out.append((letter, mdc_name, when, sex, comments))
        for a in adrgs:
            if a.mdc not in seen:
                raise TableImportError(
                    f"adrg_rules.json line {a.line}: ADRG {a.code}: MDC {a.mdc} is not in "
                    "mdc_rules.json"
                )
        return out

    # -- ADRGs --
    def read_adrgs(self) -> list[_Adrg]:
        data, text = _load_json(self.orig, "adrg_rules.json")
        lines = _code_lines(text, "code")
        if not isinstance(data, list) or not data:
            raise TableImportError("adrg_rules.json: expected a non-empty list of ADRGs")
        adrgs: list[_Adrg] = []
        seen: set[str] = set()
        for entry in data:
            if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
                raise TableImportError("adrg_rules.json: an ADRG entry without a code")
            code = entry["code"].strip()
            line = lines.get(code, 0)
            if not _ADRG_CODE.match(code):
                raise TableImportError(
                    f"adrg_rules.json line {line}: ADRG code {code!r} is not "
                    "<letter><letter><digit>"
                )
            if code in seen:
                raise TableImportError(f"adrg_rules.json line {line}: ADRG {code} repeated")
            seen.add(code)
            rule = entry.get("rule")
            if not isinstance(rule, dict):
                raise TableImportError(f"adrg_rules.json line {line}: ADRG {code} has no rule")
            adrgs.append(_Adrg(code, code[0], str(entry.get("name") or ""), line, rule))

        # pass 1: the code lists of every section (referenced ADRGs may come later)
        for a in adrgs:
            where = f"adrg_rules.json line {a.line}: ADRG {a.code}"
            sections = a.rule.get("sections") or {}
            if not isinstance(sections, dict):
                raise TableImportError(f"{where}: sections is not an object")
            for sec, codes in sections.items():
                m = _SECTION.match(sec.strip(_WS))
                if not m:
                    self.error(
                        f"{where}: section {sec!r} is neither 主要/其他 诊断 nor 手术或操作 "
                        "(no translation)"
                    )
                    continue
                pos, kind, num = m.groups()
                system = "dx" if kind == "诊断" else "px"
                prefix = {"主要": "p", "其他": "s", None: ""}[pos]
                lname = f"{a.code}_{prefix}{system}{num or ''}"
                cl = _str_list(codes, f"{where} section {sec}")
                dups = len(cl) - len(set(cl))
                if dups:
                    self.warn(f"{where}: section {sec}: {dups} repeated codes written once")
                self.add_list(lname, system, cl, f"{where} section {sec}")
                a.section_lists[sec] = (lname, system)
            groups = a.rule.get("requiredProcedureGroups")
            if groups is not None:
                if not isinstance(groups, list) or not groups:
                    self.error(f"{where}: requiredProcedureGroups is not a list of groups")
                else:
                    for i, g in enumerate(groups, start=1):
                        self.add_list(
                            f"{a.code}_g{i}_px",
                            "px",
                            _str_list(g, f"{where} requiredProcedureGroups[{i}]"),
                            f"{where} requiredProcedureGroups[{i}]",
                        )
        self.imp.raise_errors()

        # pass 2: the rules
        by_code = {a.code: a for a in adrgs}
        for a in adrgs:
            t = self.adrg_rule(a, by_code)
            if t is not None:
                a.when = t
        self.imp.raise_errors()
        return adrgs

    def section_rule(self, a: _Adrg, sec: str) -> _TIn:
        lname, system = a.section_lists[sec]
        pos = _SECTION.match(sec.strip(_WS)).group(1)  # type: ignore[union-attr]
        subject = {"主要": "principal", "其他": "secondary", None: "any"}[pos]
        return _TIn(f"{subject}_{system}", (lname,))

    def adrg_rule(self, a: _Adrg, by_code: dict[str, _Adrg]) -> _T | None:
        where = f"adrg_rules.json line {a.line}: ADRG {a.code}"
        rule = a.rule
        unknown = sorted(set(rule) - RULE_KEYS)
        if unknown:
            self.error(f"{where}: rule key(s) {', '.join(unknown)} have no translation")
            return None
        if rule.get("_logicCompileError"):
            self.error(
                f"{where}: the source could not compile its logic "
                f"({rule['_logicCompileError']!r}); the source grouper never matches it"
            )
            return None
        parts: list[_T] = []
        kinds: list[str] = []
        logic = rule.get("logic") or ""
        if not isinstance(logic, str):
            self.error(f"{where}: logic is not a text")
            return None
        sections = list(a.section_lists)
        if logic.strip(_WS):
            try:
                tree = _parse_logic(logic, sections)
            except _LogicError as e:
                self.error(
                    f"{where}: cannot translate logic {logic!r}: {e.message} (column {e.pos + 1})"
                )
                return None
            try:
                rpn = _rpn_tree(rule.get("_logicRPN"))
            except ValueError as e:
                self.error(f"{where}: _logicRPN is malformed ({e}); cannot cross-check the logic")
                return None
            if _flatten(rpn) != _flatten(tree):
                self.error(
                    f"{where}: logic {logic!r} parses differently from the source's compiled "
                    "_logicRPN"
                )
                return None
            used = _logic_sections(tree)
            for sec in sections:
                if sec not in used:
                    self.warn(f"{where}: section {sec} is not used by the logic text")
            parts.append(self.logic_rule(a, tree))
            kinds.append("logic")
            a.comments.append(f"Source logic: {logic.strip(_WS)}")
        elif sections:
            # the source grouper's default: sections of one kind or-ed, both kinds and-ed
            by_kind: dict[str, list[_TIn]] = {"dx": [], "px": []}
            for sec in sections:
                by_kind[a.section_lists[sec][1]].append(self.section_rule(a, sec))
            parts.append(_and([_or_in(v) for v in by_kind.values() if v]))
            kinds.append("sections")
        groups = rule.get("requiredProcedureGroups")
        if groups:
            parts.append(
                _and([_TIn("any_px", (f"{a.code}_g{i}_px",)) for i in range(1, len(groups) + 1)])
            )
            kinds.append("requiredProcedureGroups")
        required = rule.get("requiredReferencedADRGs") or []
        referenced = rule.get("referencedADRGs") or []
        if required:
            refs = self.referenced_lists(a, required, "requiredReferencedADRGs", by_code)
            if refs is None:
                return None
            parts.append(_and([_TIn("any_px", r) for r in refs]))
            kinds.append("requiredReferencedADRGs")
        if referenced:
            refs = self.referenced_lists(a, referenced, "referencedADRGs", by_code)
            if refs is None:
                return None
            if set(referenced) <= set(required):
                a.comments.append(
                    f"referencedADRGs {', '.join(referenced)} are implied by "
                    "requiredReferencedADRGs."
                )
            else:
                parts.append(_TIn("any_px", tuple(n for r in refs for n in r)))
                kinds.append("referencedADRGs")
        has_px = _has_valid_px()
        if rule.get("anyProcedureRequired") is True:
            parts.append(has_px)
            kinds.append("anyProcedureRequired")
        if rule.get("zeroProceduresRequired") is True:
            parts.append(_no_valid_px())
            kinds.append("zeroProceduresRequired")
        if not parts:
            self.error(f"{where}: the rule has no section, logic or special key")
            return None
        if len(kinds) > 1:
            self.warn(
                f"{where}: rule parts {', '.join(kinds)} joined with 'and' (the source grouper "
                "uses only the first special key it finds)"
            )
        return _and(parts)

    def logic_rule(self, a: _Adrg, node: _LNode) -> _T:
        if isinstance(node, _LSec):
            return self.section_rule(a, node.name)
        items = [self.logic_rule(a, c) for c in node.items]
        return _and(items) if node.op == "and" else _or_in(items)

    def referenced_lists(
        self, a: _Adrg, refs: Any, key: str, by_code: dict[str, _Adrg]
    ) -> list[tuple[str, ...]] | None:
        where = f"adrg_rules.json line {a.line}: ADRG {a.code}"
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            self.error(f"{where}: {key} is not a list of ADRG codes")
            return None
        out: list[tuple[str, ...]] = []
        for r in refs:
            target = by_code.get(r.strip())
            if target is None:
                self.error(f"{where}: {key} names ADRG {r!r}, which does not exist")
                return None
            names = tuple(n for n, s in target.section_lists.values() if s == "px")
            if not names:
                self.error(f"{where}: {key} names ADRG {r}, which has no procedure section")
                return None
            out.append(names)
        return out

    # -- DRGs --
    def read_drgs(self, adrgs: list[_Adrg]) -> None:
        data, text = _load_json(self.orig, "drg_rules.json")
        lines = _code_lines(text, "drgCode")
        if not isinstance(data, list) or not data:
            raise TableImportError("drg_rules.json: expected a non-empty list of DRGs")
        by_code = {a.code: a for a in adrgs}
        seen: set[str] = set()
        for entry in data:
            if not isinstance(entry, dict) or not isinstance(entry.get("drgCode"), str):
                raise TableImportError("drg_rules.json: a DRG entry without drgCode")
            code = entry["drgCode"].strip()
            where = f"drg_rules.json line {lines.get(code, 0)}: DRG {code}"
            if not _DRG_CODE.match(code):
                raise TableImportError(f"{where}: code is not <ADRG><character>")
            if code in seen:
                raise TableImportError(f"{where}: DRG repeated")
            seen.add(code)
            adrg = str(entry.get("adrgCode") or "").strip()
            if adrg != code[:3]:
                raise TableImportError(f"{where}: adrgCode {adrg!r} is not the first 3 characters")
            a = by_code.get(adrg)
            if a is None:
                raise TableImportError(f"{where}: ADRG {adrg} is not in adrg_rules.json")
            for k in ("diagnosisCodes", "procedureCodes", "diagnosisPrefixes", "procedurePrefixes"):
                if entry.get(k):
                    self.error(f"{where}: {k} is not empty (codes in a split have no translation)")
            conds = entry.get("conditions")
            if not isinstance(conds, list) or not conds:
                self.error(f"{where}: no conditions")
                continue
            rules: list[_T] = []
            bad = False
            for c in conds:
                if c not in SPLITS:
                    self.error(f"{where}: condition {c!r} has no translation")
                    bad = True
                    continue
                t = SPLITS[c]
                if t is not None:
                    rules.append(t)
            if bad:
                continue
            when = _and(rules) if rules else None
            expected = LAST_CHAR.get(code[3], "?")
            if expected == "?":
                self.warn(f"{where}: last character {code[3]!r} has no national meaning")
            elif expected != when:
                self.warn(
                    f"{where}: conditions {'+'.join(conds)} differ from what the last "
                    f"character {code[3]} means; the conditions are used"
                )
            name = str(entry.get("drgName") or "").strip()
            a.drgs.append((code, name, when))
        for a in adrgs:
            if not a.drgs:
                self.error(f"adrg_rules.json line {a.line}: ADRG {a.code} has no DRG")
        self.imp.raise_errors()
        for a in adrgs:
            if [d[0][3] for d in a.drgs] == ["1", "5"]:
                self.split_15 += 1
            always = [d for d in a.drgs if d[2] is None]
            for i, d in enumerate(a.drgs):
                if d[2] is None and i + 1 < len(a.drgs):
                    later = ", ".join(x[0] for x in a.drgs[i + 1 :])
                    self.warn(f"ADRG {a.code}: split {d[0]} always holds; {later} unreachable")
                    break
            if not always:
                self.warn(f"ADRG {a.code}: no unconditional split; some cases get no DRG")
            for d in a.drgs:
                if "不伴严重" in d[1] and any(x[2] == _TCc("cc_or_mcc") for x in a.drgs):
                    self.warn(
                        f"DRG {d[0]} {d[1]}: named 'without a major CC' but ADRG {a.code} has a "
                        "CC split, so it takes only cases without CC (the splits are used)"
                    )
            cc_or_mcc = next((d[0] for d in a.drgs if d[2] == _TCc("cc_or_mcc")), None)
            for i, d in enumerate(a.drgs):
                if d[2] == _TCc("mcc") and cc_or_mcc in [x[0] for x in a.drgs[:i]]:
                    self.warn(f"ADRG {a.code}: split {d[0]} (mcc) after {cc_or_mcc} is unreachable")

    # -- names -> rules --
    def name_rules(self, adrgs: list[_Adrg]) -> None:
        for a in adrgs:
            try:
                comps, clauses = _name_limits(a.name)
            except _NameError as e:
                self.error(f"adrg_rules.json line {a.line}: ADRG {a.code} {a.name}: {e}")
                continue
            source = f"its name ({'; '.join(clauses)})" if clauses else ""
            if a.mdc == "P" and not any(c[0] in ("age_days", "age") for c in comps):
                comps = [*comps, ("age_days", "<", 29)]
                source = (source + " and " if source else "") + (
                    "the newborn period of MDCP (the source grouper applies age in days < 29 "
                    "to every MDCP ADRG whose name gives no other age)"
                )
            if comps:
                extra = _cmp_rule(comps)
                a.when = _and([a.when, *extra])
                text = _render(_and(extra))
                self.derived.append(f"ADRG {a.code} {a.name}: `{text}` from {source}")
                a.comments.append(f"Derived from {source}: {text}")
            for i, (dcode, dname, dwhen) in enumerate(a.drgs):
                try:
                    dcomps, dclauses = _name_limits(dname)
                except _NameError as e:
                    self.error(f"drg_rules.json: DRG {dcode} {dname}: {e}")
                    continue
                own = [c for c in dcomps if c not in comps]
                if own:
                    extra = _cmp_rule(own)
                    a.drgs[i] = (dcode, dname, _and([*extra, *([dwhen] if dwhen else [])]))
                    text = _render(_and(extra))
                    self.derived.append(
                        f"DRG {dcode} {dname}: `{text}` from its name ({'; '.join(dclauses)})"
                    )
        self.imp.raise_errors()


def _or_in(items: Sequence[_T]) -> _T:
    """``or`` of rules; memberships of one subject are merged (``any_px in (A, B)``)."""
    merged: list[_T] = []
    for t in items:
        if isinstance(t, _TIn):
            for j, m in enumerate(merged):
                if isinstance(m, _TIn) and m.subject == t.subject:
                    merged[j] = _TIn(
                        m.subject, m.lists + tuple(x for x in t.lists if x not in m.lists)
                    )
                    break
            else:
                merged.append(t)
        else:
            merged.append(t)
    return _or(merged)


def _has_valid_px() -> _T:
    """A procedure the source grouper sees (it blanks an invalid principal procedure)."""
    return _TOr(
        (
            _TCmp("px_count", ">=", 2),
            _and([_TCmp("px_count", "==", 1), _TNot(_TIn("principal_px", (SS_INVALID_LIST,)))]),
        )
    )


def _no_valid_px() -> _T:
    """No procedure the source grouper sees (none, or one invalid principal procedure)."""
    return _TOr(
        (
            _TCmp("px_count", "==", 0),
            _and([_TCmp("px_count", "==", 1), _TIn("principal_px", (SS_INVALID_LIST,))]),
        )
    )


def _uses(t: _T, name: str) -> bool:
    if isinstance(t, _TIn):
        return name in t.lists
    items: Iterable[_T] = ()
    if isinstance(t, _TNot):
        items = (t.item,)
    elif hasattr(t, "items"):
        items = t.items
    return any(_uses(c, name) for c in items)


# ---------------------------------------------------------------------------------------
# Cross-checks with the flattened CSV copies
# ---------------------------------------------------------------------------------------


def _cross_check(
    run: _Chs20,
    adrgs: list[_Adrg],
    mdc_json: list[dict[str, Any]],
    cc_json: dict[str, dict[str, str]],
    invalid_json: dict[str, set[str]],
) -> None:
    src = run.src
    if not (src / "adrg_code_lists.csv").is_file():
        run.warn("adrg_code_lists.csv not found; the ADRG lists were not cross-checked")
    else:
        flat: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for r in _read_csv(src / "adrg_code_lists.csv", ["adrg", "list_name", "seq", "code"]):
            seq = int(r["seq"]) if r["seq"].isdigit() else 0
            flat.setdefault((r["adrg"], r["list_name"]), []).append((seq, r["code"]))
        expected: dict[tuple[str, str], list[str]] = {}
        for a in adrgs:
            for sec, codes in (a.rule.get("sections") or {}).items():
                expected[(a.code, sec)] = [c.strip() for c in codes]
            for i, g in enumerate(a.rule.get("requiredProcedureGroups") or [], start=1):
                expected[(a.code, f"requiredProcedureGroups[{i}]")] = [c.strip() for c in g]
            for k in ("referencedADRGs", "requiredReferencedADRGs"):
                if a.rule.get(k):
                    expected[(a.code, k)] = [c.strip() for c in a.rule[k]]
        got = {k: [c for _, c in sorted(v)] for k, v in flat.items()}
        diff = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        if diff:
            run.warn(
                f"adrg_code_lists.csv differs from adrg_rules.json in {len(diff)} list(s) "
                f"(first: {diff[0][0]} {diff[0][1]}); adrg_rules.json is used"
            )
        else:
            run.checked.append(f"adrg_code_lists.csv: {len(expected)} ADRG lists equal")
    if (src / "mdc_principal_dx_lists.csv").is_file():
        flat2: dict[tuple[str, str], list[str]] = {}
        for r in _read_csv(src / "mdc_principal_dx_lists.csv", ["mdc", "list_name", "code"]):
            flat2.setdefault((r["mdc"], r["list_name"]), []).append(r["code"])
        exp2: dict[tuple[str, str], list[str]] = {}
        for m in mdc_json:
            if m.get("identifyingDiagnoses"):
                exp2[(m["code"], "identifyingDiagnoses")] = list(m["identifyingDiagnoses"])
            for k, v in (m.get("mdczCategories") or {}).items():
                exp2[(m["code"], f"mdczCategories:{k}")] = list(v)
        if flat2 != exp2:
            run.warn("mdc_principal_dx_lists.csv differs from mdc_rules.json; the JSON is used")
        else:
            run.checked.append(f"mdc_principal_dx_lists.csv: {len(exp2)} MDC lists equal")
    else:
        run.warn("mdc_principal_dx_lists.csv not found; the MDC lists were not cross-checked")
    drg_csv = src / "DRG.csv"
    if drg_csv.is_file():
        rows = {r["drg"]: r["name"] for r in _read_csv(drg_csv, ["drg", "name"])}
        ours = {d[0]: d[1] for a in adrgs for d in a.drgs}
        if set(rows) != set(ours):
            run.warn(f"DRG.csv lists other DRGs than drg_rules.json ({len(rows)} vs {len(ours)})")
        else:
            names = [d for d in rows if _norm_name(rows[d]) != _norm_name(ours[d])]
            if names:
                run.warn(f"DRG.csv: {len(names)} DRG name(s) differ (first {names[0]})")
            run.checked.append(f"DRG.csv: the same {len(rows)} DRGs")
    for fname, key, data in (
        ("MCC.csv", "icd10_code", cc_json["MCC"]),
        ("CC.csv", "icd10_code", cc_json["CC"]),
        ("CCE.csv", "principal_dx_code", cc_json["CCE"]),
    ):
        if not (src / fname).is_file():
            continue
        rows2 = {
            r[key]: r["exclusion_table"] for r in _read_csv(src / fname, [key, "exclusion_table"])
        }
        if rows2 != data:
            run.warn(f"{fname} differs from the JSON original; the JSON is used")
        else:
            run.checked.append(f"{fname}: {len(rows2)} rows equal")
    for fname, system in (("zd_invalid.csv", "dx"), ("ss_invalid.csv", "px")):
        if not (src / fname).is_file():
            continue
        codes = {r["code"] for r in _read_csv(src / fname, ["code"])}
        if codes != invalid_json[system]:
            run.warn(f"{fname} differs from the JSON original; the JSON is used")
        else:
            run.checked.append(f"{fname}: {len(codes)} codes equal")


def _norm_name(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace(" ", "")


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


LAYOUT = "CHS-DRG 2.0 JSON layout"


def _header(name: str, source: str, what: str) -> list[str]:
    return _header_1x(name, source, what, LAYOUT)


def _mdc_toml(
    name: str, source: str, mdcs: list[tuple[str, str, _T, str | None, list[str]]]
) -> str:
    lines = _header(name, source, "MDCs")
    for letter, mdc_name, when, sex, comments in mdcs:
        lines.append("")
        lines.extend(f"# {c}" for c in comments)
        lines.append("[[mdc]]")
        lines.append(f"code = {_q(letter)}")
        lines.append(f"name = {_q(mdc_name)}")
        name_en = MDC_NAMES.get(letter, ("", ""))[1]
        if name_en:
            lines.append(f"name_en = {_q(name_en)}")
        lines.append(f"when = {_q(_render(when))}")
        if sex:
            lines.append(f"sex = {_q(sex)}")
    return "\n".join(lines) + "\n"


def _adrg_toml(name: str, source: str, adrgs: list[_Adrg]) -> str:
    return _adrg_toml_1x(name, source, adrgs, LAYOUT)


def _tableset_toml(
    *, name: str, version: str, source: str, description: str, mdc_order: Sequence[str]
) -> str:
    lines = [
        "format = 1",
        "",
        "[tableset]",
        f"name = {_q(name)}",
        f"version = {_q(version)}",
        f"title = {_q('CHS-DRG 2.0 national (2024)')}",
        f"dx_edition = {_q(DX_EDITION)}",
        f"px_edition = {_q(PX_EDITION)}",
        "source = "
        + _q(f"imported from {source} (CHS-DRG 2.0 JSON layout) by drgsim tables import"),
        "licence = "
        + _q(
            "NHSA rules (医保办发〔2024〕9号) as extracted by qweaszxcdf/CHS-DRG-Grouper, which "
            "relicenses none of the data; redistribution status unclear: reference and testing use"
        ),
        f"description = {_q(description)}",
        "",
        "[grouping]",
        f"mdc_order = [{', '.join(_q(x) for x in mdc_order)}]",
        "next_mdc_when_no_adrg = true",
        "# the source grouper's QY redirect is code, not data (see IMPORT_NOTES.md)",
        "ambiguous_group = false",
        "require_age = true",
        "newborn_max_age_days = 28",
        "require_newborn_weight = false",
        "# zd_invalid.json and the gray lists: a principal diagnosis in gray_codes.csv is invalid",
        "check_gray_principal = true",
    ]
    return "\n".join(lines) + "\n"


def _notes(report: ImportReport, run: _Chs20, has_icd: bool, gray_counts: dict[str, int]) -> str:
    lines = [
        f"# Import notes: {report.name}",
        "",
        f"Imported from `{report.source}` (CHS-DRG 2.0 JSON layout, `original/*.json`) by "
        "`drgsim tables import chs20`.",
        "",
        f"- {report.mdc} MDC, {report.adrg} ADRG, {report.drg} DRG",
        f"- {report.lists} code lists, {report.mcc} MCC, {report.cc} CC",
        "- ICD editions, gray codes and input-code maps: "
        + ("written" if has_icd else "not written (no ICD folder)"),
        "",
        "## How the source was translated",
        "",
        "- **MDC order** A, P, Y, Z, M, N, then B … X; a case whose MDC holds but none of its "
        "ADRGs goes on to the next MDC that holds (`next_mdc_when_no_adrg`), as the source "
        "grouper does for the pre-MDCs.",
        "- **MDCA** has no diagnosis list: the source grouper tries its ADRGs first and enters "
        "it only when one holds. Its entry rule is the `or` of its ADRG rules (in 2.0: principal "
        "procedure in the union of the procedure lists of AA1 … AH1, both procedure groups of "
        "AC1, or the ventilation rule of AH2 (a procedure 96.7201 and a tracheostomy / "
        "intubation procedure or a secondary diagnosis Z93.000)).",
        "- **MDCP** has no list in 2.0: entered by age alone (`age < 1 and age_days < 365`, as "
        "the source grouper: age 0 with an age in days below 365). Its ADRGs carry the newborn "
        "limits of their names (below).",
        "- **MDCY**: any diagnosis (principal or other) in the HIV list "
        f"(config.json mdcyPrincipalDiagnosisOnly={str(run.mdcy_principal_only).lower()}).",
        "- **MDCZ**: the 9 body-region lists of `mdczCategories`; a case enters with diagnoses "
        "(principal included) in at least 2 regions.",
        "- **MDCM / MDCN**: principal diagnosis in the list and the sex not the other one (the "
        "source grouper lets an unknown sex into both; a code in both lists goes to M first).",
        "- **ADRG sections**: 主要诊断 → `principal_dx in`, 其他诊断 → `secondary_dx in`, "
        "诊断 → `any_dx in`, 主要手术或操作 → `principal_px in`, 手术或操作 → `any_px in`; "
        "a trailing number names another list of the same kind. List names: "
        "`<ADRG>_pdx`, `_sdx`, `_dx`, `_ppx`, `_spx`, `_px` plus the number.",
        "- **Without a logic text** (the source grouper's default): diagnosis sections or-ed, "
        "procedure sections or-ed, both kinds and-ed.",
        "- **Logic texts** (`+` = and, `或` = or, `+` binds tighter, full-width parentheses) "
        "are parsed and each parse is checked against the source's compiled `_logicRPN`.",
        "- **Special keys**: requiredProcedureGroups → `any_px in <ADRG>_g<i>_px` for every "
        "group; requiredReferencedADRGs → `any_px in` the procedure lists of each named ADRG; "
        "referencedADRGs → `any_px in` the union of them (implied when the same ADRGs are "
        "required); anyProcedureRequired → a procedure the source grouper sees; "
        "zeroProceduresRequired → none it sees (below).",
        "- **ADRG order** is the order of adrg_rules.json (first match inside an MDC).",
        "- **DRG splits** from drg_rules.json: WITH_MCC → `mcc`, WITH_CC → `cc_or_mcc`, "
        "NO_CC and ADRG_ONLY → no rule (always holds), tried in file order. The DRG 5 of "
        f"the {run.split_15} ADRGs split only into 1 and 5 ('不伴严重合并症或并发症') "
        "therefore takes CC cases.",
        "- **MCC / CC / exclusions** from mcc_codes.json, cc_codes.json and cce_codes.json.",
        "",
        "## Invalid codes (zd_invalid, ss_invalid) and gray codes",
        "",
        "- `zd_invalid.json` (external causes V–Y, personal history Z85–Z92, agent codes "
        "B95–B98, old myocardial infarction, NYHA class …) lists codes the source grouper "
        "rejects as principal diagnosis (0000 '主要诊断无效'). None of them is in an MDC or "
        "ADRG list. They are written to gray_codes.csv and `check_gray_principal = true` "
        "makes such a case invalid (`gray_principal_dx`).",
        "- `ss_invalid.json` (imaging, examinations, injections, irrigations, adjunct codes …) "
        "lists procedures the source grouper blanks when they are the principal procedure "
        "(strategy 'null-slot': the case has no principal procedure, the others stay). None "
        "of them is in an ADRG list, so the list rules are unaffected; they are written to "
        "gray_codes.csv (system px, informative) and to the list `SS_INVALID`, used by "
        "anyProcedureRequired (`px_count >= 2 or (px_count == 1 and not principal_px in "
        "SS_INVALID)`) and zeroProceduresRequired (its negation, written `px_count == 0 or "
        "(px_count == 1 and principal_px in SS_INVALID)`).",
        "- The ICD gray lists (灰码) of the ICD folder are also in gray_codes.csv: the source "
        "grouper rejects a gray principal diagnosis too. No MDC list holds a gray code.",
        f"- gray_codes.csv: {gray_counts.get('dx', 0)} dx and {gray_counts.get('px', 0)} px codes.",
        "",
        "## Not translated (source-grouper code, not data)",
        "",
        "- The source grouper redirects a case with a medical ADRG (second letter after Q) "
        "and a valid principal procedure to `<MDC>QY`. This is not in the data and its "
        "trigger (any procedure) differs from the engine's `ambiguous_group` (an "
        "operating-room procedure after the surgical ADRGs; 2.0 has no operating-room list), "
        "so `ambiguous_group = false`. Because of that redirect the source grouper also "
        "treats ZZ1 as always matching; here ZZ1 follows its data (zeroProceduresRequired) "
        "and a multiple-trauma case with an unlisted procedure goes on to the MDC of its "
        "principal diagnosis.",
        "- The source grouper also rejects a gray principal procedure (except 99.1000); the "
        "engine checks gray principal diagnoses only.",
        "",
        "## Rules derived from names",
        "",
        "Newborn age and birth-weight limits appear only in ADRG/DRG names; they are read with "
        "a parser of age/weight clauses (whole grams and days, as the source grouper truncates "
        "them: `＞2499g` is `>= 2500`, `1500-1999g` is `>= 1500 and < 2000`); a name that "
        "speaks of an age or a weight it cannot read is an error. Other numbers in names "
        "(`≥96小时` of ventilation, `3节段`, burn areas in %) are carried by the code lists.",
        "",
    ]
    lines += [f"- {d}" for d in run.derived] or ["(none)"]
    if report.regions:
        lines += ["", "## Body regions (MDCZ)", ""]
        lines += [f"- `{n}`: {h} ({c} codes)" for n, h, c in report.regions]
    lines += ["", "## Cross-checks with the flattened CSV copies", ""]
    lines += [f"- {c}" for c in run.checked] or ["(none)"]
    others = [w for w in report.warnings if w not in [f"derived rule: {d}" for d in run.derived]]
    lines += ["", f"## Warnings ({len(others)})", ""]
    lines += [f"- {w}" for w in others] or ["(none)"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


def import_chs20(
    src: Path,
    dest: Path,
    name: str,
    *,
    icd_dir: Path | None = None,
    overwrite: bool = False,
    version: str | None = None,
) -> ImportReport:
    """Import the national CHS-DRG 2.0 folder into a drgsim table set.

    Parameters
    ----------
    src : Path
        The CHS-DRG 2.0 folder (holding ``original/*.json``), or the ``original`` folder.
    dest : Path
        The table-set folder to write; created. It must not exist or be empty unless
        ``overwrite`` is true.
    name : str
        Name of the table set (used with ``-t``).
    icd_dir : Path, optional
        Folder of the ICD editions, gray lists and input-code maps; defaults to
        ``src.parent / "icd"`` when that exists.
    overwrite : bool
        Replace the files of an existing non-empty ``dest``.
    version : str, optional
        Version of the set; default: the trailing number of ``name`` (``"2.0"``).

    Returns
    -------
    ImportReport
        Counts and warnings; the rules derived from names are the warnings starting with
        ``derived rule:``. Everything is also written to ``IMPORT_NOTES.md``.

    Raises
    ------
    TableImportError
        When a file is missing or malformed, or a construct cannot be translated (the
        message names the file, its line and the ADRG or DRG).
    """
    src = Path(src)
    dest = Path(dest)
    if not name or any(c in name for c in '\n\r"\\'):
        raise TableImportError(f"invalid table-set name {name!r}")
    if not src.is_dir():
        raise TableImportError(f"source folder {src} not found")
    if (src / "original" / "adrg_rules.json").is_file():
        orig = src / "original"
    elif (src / "adrg_rules.json").is_file():
        orig = src
        src = src.parent if src.name == "original" else src
    else:
        raise TableImportError(f"adrg_rules.json: required file not found in {src / 'original'}")
    icd_dir = _check_destination(src, dest, overwrite, icd_dir)

    run = _Chs20(src, orig, name)
    files: dict[str, str] = {}

    # ---- strategy ----
    if (orig / "config.json").is_file():
        config, _ = _load_json(orig, "config.json")
        strategy = config.get("strategy", {}) if isinstance(config, dict) else {}
        value = strategy.get("mdcyPrincipalDiagnosisOnly", False)
        if not isinstance(value, bool):
            raise TableImportError("config.json: mdcyPrincipalDiagnosisOnly is not true/false")
        run.mdcy_principal_only = value
    else:
        run.warn("config.json not found; MDCY takes any diagnosis (the 2.0 rule)")

    # ---- invalid codes ----
    zd = _code_map(_load_json(orig, "zd_invalid.json")[0], "zd_invalid.json")
    ss = _code_map(_load_json(orig, "ss_invalid.json")[0], "ss_invalid.json")
    run.zd_invalid = {c for c, v in zd.items() if v == "true"}
    run.ss_invalid = {c for c, v in ss.items() if v == "true"}
    for fname, m in (("zd_invalid.json", zd), ("ss_invalid.json", ss)):
        off = sorted(c for c, v in m.items() if v != "true")
        if off:
            run.warn(f"{fname}: {len(off)} code(s) not marked true ignored ({off[0]} …)")

    # ---- rules ----
    adrgs = run.read_adrgs()
    run.read_drgs(adrgs)
    run.name_rules(adrgs)
    mdc_json, _ = _load_json(orig, "mdc_rules.json")
    mdcs = run.read_mdcs(adrgs)
    if any(_uses(a.when, SS_INVALID_LIST) for a in adrgs):
        run.add_list(SS_INVALID_LIST, "px", sorted(run.ss_invalid), "ss_invalid.json")
    for system, invalid in (("dx", run.zd_invalid), ("px", run.ss_invalid)):
        hits = sorted(
            {
                c
                for cl in run.imp.lists.lists.values()
                if cl.system == system and cl.name != SS_INVALID_LIST
                for c in cl.codes
                if c in invalid
            }
        )
        if hits:
            run.warn(
                f"{len(hits)} {system} code(s) of the lists are also invalid as principal code "
                f"({', '.join(hits[:5])} …); they can only match in a secondary position in the "
                "source grouper"
            )

    # ---- CC / exclusions ----
    cc_json: dict[str, dict[str, str]] = {}
    cc_rows: list[tuple[str, str, str]] = []
    n_level = {"MCC": 0, "CC": 0}
    for fname, level in (("mcc_codes.json", "MCC"), ("cc_codes.json", "CC")):
        data = _code_map(_load_json(orig, fname)[0], fname)
        cc_json[level] = data
        for code, table in data.items():
            if any(code == r[0] for r in cc_rows[-1:]) or (
                level == "CC" and code in cc_json["MCC"]
            ):
                run.warn(f"{fname}: {code} is already MCC; CC row ignored")
                continue
            if not table:
                raise TableImportError(f"{fname}: {code} has no exclusion table")
            cc_rows.append((code, level, table))
            n_level[level] += 1
    files["cc.csv"] = _csv_text(["code", "level", "exclusion_table"], cc_rows)
    cce = _code_map(_load_json(orig, "cce_codes.json")[0], "cce_codes.json")
    cc_json["CCE"] = cce
    files["cc_exclusions.csv"] = _csv_text(["principal_dx", "exclusion_table"], cce.items())
    tables = set(cce.values())
    orphan = sorted({t for _, _, t in cc_rows} - tables)
    if orphan:
        run.warn(f"exclusion tables of MCC/CC codes used by no principal diagnosis: {orphan[:10]}")

    _cross_check(
        run,
        adrgs,
        mdc_json if isinstance(mdc_json, list) else [],
        cc_json,
        {"dx": run.zd_invalid, "px": run.ss_invalid},
    )

    # ---- ICD editions, gray codes ----
    has_icd = False
    if icd_dir is not None:
        has_icd = _icd_files(Path(icd_dir), files, run.imp)
    else:
        run.warn("no ICD folder: dictionary.csv and code_maps.csv were not written")
    gray: list[tuple[str, str]] = []
    if "gray_codes.csv" in files:
        reader = csv.DictReader(io.StringIO(files["gray_codes.csv"]))
        gray = [(r["system"], r["code"]) for r in reader]
    have = set(gray)
    for system, codes in (("dx", sorted(run.zd_invalid)), ("px", sorted(run.ss_invalid))):
        gray.extend((system, c) for c in codes if (system, c) not in have)
    gray_counts = {s: sum(1 for g in gray if g[0] == s) for s in ("dx", "px")}
    files["gray_codes.csv"] = _csv_text(["system", "code"], gray)
    if "dictionary.csv" in files:
        known: dict[str, set[str]] = {"dx": set(), "px": set()}
        for r in csv.DictReader(io.StringIO(files["dictionary.csv"])):
            known[r["system"]].add(r["code"])
        for system in ("dx", "px"):
            missing = sorted(
                {
                    c
                    for cl in run.imp.lists.lists.values()
                    if cl.system == system
                    for c in cl.codes
                    if c not in known[system]
                }
            )
            if missing:
                more = " …" if len(missing) > 8 else ""
                run.warn(
                    f"{len(missing)} {system} code(s) of the lists are not in the ICD dictionary "
                    f"(kept; a list makes them known): {', '.join(missing[:8])}{more}"
                )

    # ---- code lists ----
    files["code_lists.csv"] = _csv_text(
        ["list", "system", "code", "match"],
        ((cl.name, cl.system, c, "") for cl in run.imp.lists.lists.values() for c in cl.codes),
    )

    # ---- TOML ----
    letters = [m[0] for m in mdcs]
    head = [x for x in MDC_ORDER_HEAD if x in letters]
    for x in MDC_ORDER_HEAD:
        if x not in letters:
            run.warn(f"MDC {x} is not in mdc_rules.json; left out of mdc_order")
    mdc_order = head + sorted(x for x in letters if x not in head)
    files["mdc.toml"] = _mdc_toml(name, src.name, mdcs)
    files["adrg.toml"] = _adrg_toml(name, src.name, adrgs)
    n_drg = sum(len(a.drgs) for a in adrgs)
    files["tableset.toml"] = _tableset_toml(
        name=name,
        version=version or _default_version(name),
        source=src.name,
        description=(
            f"National CHS-DRG 2.0 (NHSA, 2024-07-23; 医保办发〔2024〕9号) from {src.name}: "
            f"{len(mdcs)} MDC, {len(adrgs)} ADRG, {n_drg} DRG, translated from the JSON rule "
            "files of qweaszxcdf/CHS-DRG-Grouper. What the source grouper decides in code "
            "(pre-MDC entry, section meaning, newborn limits written in names, invalid codes) "
            "is made explicit; see IMPORT_NOTES.md."
        ),
        mdc_order=mdc_order,
    )

    report = ImportReport(
        name=name,
        source=src.name,
        mdc=len(mdcs),
        adrg=len(adrgs),
        drg=n_drg,
        lists=len(run.imp.lists.lists),
        cc=n_level["CC"],
        mcc=n_level["MCC"],
        warnings=[f"derived rule: {d}" for d in run.derived] + list(run.imp.warnings),
        regions=list(run.imp.regions),
    )
    files["IMPORT_NOTES.md"] = _notes(report, run, has_icd, gray_counts)

    _write_set(dest, files, overwrite)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m drgsim.tables.importers.chs20 SRC DEST NAME``."""
    from drgsim.tables.importers import run_importer

    return run_importer(import_chs20, "Import the CHS-DRG 2.0 folder.", argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
