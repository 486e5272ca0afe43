"""A small, independent, pure-Python CHS-DRG grouper used to test the Rust engine.

It is written from ``grouper_tables/FORMAT.md`` alone (the sections "The rule language" and
"How a case is grouped") and reads a table-set folder itself, so that a disagreement with
:func:`drgsim.group` points at a bug in one of the two, or at a gap in the spec.

Clarity comes first; speed only as far as the differential test needs (every code list is a
``frozenset`` built once, every ``when`` is parsed once, codes are resolved through a cache).

Examples
--------
>>> parse_rule("principal_dx in A and not (age < 1 or los >= 30)")  # doctest: +ELLIPSIS
And(...)
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Case",
    "ReferenceGrouper",
    "RuleSyntaxError",
    "load",
    "normalize_code",
    "parse_rule",
]

# --------------------------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------------------------

#: Characters trimmed from both ends of a code: the Unicode White_Space set and the BOM.
_TRIM = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
#: Full-width ASCII (U+FF01..U+FF5E) to half-width (U+0021..U+007E).
_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}


def normalize_code(code: str | None) -> str:
    """Normalise a code for lookup: trim, full-width to half-width, upper case.

    Parameters
    ----------
    code : str or None
        A code as written in the input or in a table.

    Returns
    -------
    str
        The lookup key; ``""`` for an empty code (which is dropped).

    Examples
    --------
    >>> normalize_code("　ｋ３５.800x001 ")
    'K35.800X001'
    """
    if code is None:
        return ""
    return code.strip(_TRIM).translate(_HALF_WIDTH).upper()


# --------------------------------------------------------------------------------------------
# The rule language
# --------------------------------------------------------------------------------------------

DX_SUBJECTS = ("principal_dx", "secondary_dx", "any_dx")
PX_SUBJECTS = ("principal_px", "secondary_px", "any_px")
ATTRIBUTES = (
    "age",
    "age_days",
    "birth_weight",
    "los",
    "discharge",
    "sex",
    "dx_count",
    "px_count",
)
CC_WORDS = ("mcc", "cc", "cc_or_mcc", "no_cc")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_SEX_WORDS = {"male": 1.0, "female": 2.0}


class RuleSyntaxError(ValueError):
    """A ``when`` expression that does not parse."""


@dataclass(frozen=True)
class Const:
    """``true`` / ``false``."""

    value: bool

    def holds(self, case: Case) -> bool:
        return self.value


@dataclass(frozen=True)
class Not:
    """``not expr``."""

    expr: Node

    def holds(self, case: Case) -> bool:
        return not self.expr.holds(case)


@dataclass(frozen=True)
class And:
    """``expr and expr and ...``."""

    exprs: tuple[Node, ...]

    def holds(self, case: Case) -> bool:
        return all(e.holds(case) for e in self.exprs)


@dataclass(frozen=True)
class Or:
    """``expr or expr or ...``."""

    exprs: tuple[Node, ...]

    def holds(self, case: Case) -> bool:
        return any(e.holds(case) for e in self.exprs)


@dataclass(frozen=True)
class AtLeast:
    """``N of (expr, expr, ...)``: at least ``n`` of the expressions hold."""

    n: int
    exprs: tuple[Node, ...]

    def holds(self, case: Case) -> bool:
        return sum(1 for e in self.exprs if e.holds(case)) >= self.n


@dataclass(frozen=True)
class InLists:
    """``subject in NAME`` or ``subject in (NAME, NAME, ...)``.

    ``codes`` and ``prefixes`` are filled in when the rule is bound to a table set (the union
    of the lists' exact codes and of their ``prefix`` patterns).
    """

    subject: str
    names: tuple[str, ...]
    codes: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    prefixes: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def contains(self, code: str | None) -> bool:
        """A code is in the lists when it is one of their codes or starts with a pattern."""
        if code is None:
            return False
        return code in self.codes or any(code.startswith(p) for p in self.prefixes)

    def holds(self, case: Case) -> bool:
        codes = case.dx if self.subject.endswith("_dx") else case.px
        if self.subject.startswith("principal_"):
            chosen = codes[:1]
        elif self.subject.startswith("secondary_"):
            chosen = codes[1:]
        else:
            chosen = codes
        return any(self.contains(c) for c in chosen)


@dataclass(frozen=True)
class Compare:
    """``attribute OP number``; false when the attribute is missing."""

    attribute: str
    op: str
    number: float

    def holds(self, case: Case) -> bool:
        value = case.attribute(self.attribute)
        if value is None:
            return False
        return OPERATORS[self.op](value, self.number)


@dataclass(frozen=True)
class CcTest:
    """``mcc`` / ``cc`` / ``cc_or_mcc`` / ``no_cc``."""

    word: str

    def holds(self, case: Case) -> bool:
        level = case.cc_level
        return {
            "mcc": level == "MCC",
            "cc": level == "CC",
            "cc_or_mcc": level in ("MCC", "CC"),
            "no_cc": level == "none",
        }[self.word]


Node = Const | Not | And | Or | AtLeast | InLists | Compare | CcTest

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|<|>)|([(),]))")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise RuleSyntaxError(f"unexpected character at {pos} in {text!r}")
        tokens.append(m.group(m.lastindex or 0))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; one method per grammar level."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    # helpers ------------------------------------------------------------------------------
    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise RuleSyntaxError(f"unexpected end of rule {self.text!r}")
        self.pos += 1
        return tok

    def expect(self, want: str) -> None:
        got = self.take()
        if got != want:
            raise RuleSyntaxError(f"expected {want!r}, got {got!r} in {self.text!r}")

    # grammar ------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise RuleSyntaxError(f"unexpected {self.peek()!r} in {self.text!r}")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek() == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.peek() == "and":
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Node:
        if self.peek() == "not":
            self.take()
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if tok in ("true", "false"):
            return Const(tok == "true")
        if tok in CC_WORDS:
            return CcTest(tok)
        if tok.isdigit() and self.peek() == "of":
            self.take()
            self.expect("(")
            exprs = [self.or_expr()]
            while self.peek() == ",":
                self.take()
                exprs.append(self.or_expr())
            self.expect(")")
            return AtLeast(int(tok), tuple(exprs))
        if tok in DX_SUBJECTS or tok in PX_SUBJECTS:
            self.expect("in")
            return InLists(tok, self.list_names())
        if tok in ATTRIBUTES:
            op = self.take()
            if op not in OPERATORS:
                raise RuleSyntaxError(f"expected a comparison after {tok!r} in {self.text!r}")
            return Compare(tok, op, self.number(tok))
        raise RuleSyntaxError(f"unexpected {tok!r} in {self.text!r}")

    def list_names(self) -> tuple[str, ...]:
        if self.peek() != "(":
            return (self.name(),)
        self.take()
        names = [self.name()]
        while self.peek() == ",":
            self.take()
            names.append(self.name())
        self.expect(")")
        return tuple(names)

    def name(self) -> str:
        tok = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            raise RuleSyntaxError(f"expected a list name, got {tok!r} in {self.text!r}")
        return tok

    def number(self, attribute: str) -> float:
        tok = self.take()
        if attribute == "sex" and tok in _SEX_WORDS:
            return _SEX_WORDS[tok]
        try:
            return float(tok)
        except ValueError:
            raise RuleSyntaxError(f"expected a number, got {tok!r} in {self.text!r}") from None


def parse_rule(text: str | None) -> Node:
    """Parse a ``when`` expression; a missing rule always holds.

    Parameters
    ----------
    text : str or None
        The expression.

    Returns
    -------
    Node
        The syntax tree (list names not yet bound to codes).

    Raises
    ------
    RuleSyntaxError
        The expression does not follow the grammar.

    Examples
    --------
    >>> parse_rule("2 of (los > 3, mcc, true)")  # doctest: +ELLIPSIS
    AtLeast(n=2, exprs=(Compare(attribute='los', op='>', number=3.0), CcTest(word='mcc'), ...))
    """
    if text is None:
        return Const(True)
    return _Parser(text).parse()


def _bind(node: Node, lists: Callable[[str, str], CodeList]) -> Node:
    """Give every ``in`` the codes and patterns of its lists (``lists(name, system)``)."""
    if isinstance(node, InLists):
        system = "dx" if node.subject.endswith("_dx") else "px"
        bound = [lists(n, system) for n in node.names]
        codes: frozenset[str] = frozenset().union(*(b.codes for b in bound))
        prefixes: frozenset[str] = frozenset().union(*(b.prefixes for b in bound))
        return InLists(node.subject, node.names, codes, prefixes)
    if isinstance(node, Not):
        return Not(_bind(node.expr, lists))
    if isinstance(node, And | Or):
        return type(node)(tuple(_bind(e, lists) for e in node.exprs))
    if isinstance(node, AtLeast):
        return AtLeast(node.n, tuple(_bind(e, lists) for e in node.exprs))
    return node


# --------------------------------------------------------------------------------------------
# The case as the rules see it
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """A case after step 1 (codes resolved) and step 2 (values checked).

    Attributes
    ----------
    dx, px : list of (str or None)
        Resolved lookup keys, principal first; ``None`` is an unknown code.
    values : dict
        ``age`` (possibly derived from ``age_days``), ``age_days``, ``birth_weight`` (0 taken
        as missing), ``los``, ``discharge``, ``sex``, ``dx_count``, ``px_count``; ``None`` is
        missing.
    cc_level : str
        ``"MCC"``, ``"CC"`` or ``"none"``.
    """

    dx: list[str | None]
    px: list[str | None]
    values: dict[str, float | None]
    cc_level: str = "none"

    def attribute(self, name: str) -> float | None:
        """The value of a rule attribute, ``None`` when missing."""
        return self.values[name]


# --------------------------------------------------------------------------------------------
# The table set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeList:
    """One named list of ``code_lists.csv`` (or ``or_procedures``)."""

    name: str
    system: str
    codes: frozenset[str]  # lookup keys of exact codes
    prefixes: frozenset[str]  # lookup keys of `prefix` patterns


@dataclass(frozen=True)
class Mdc:
    code: str
    rule: Node
    sex: float | None  # 1 male, 2 female, None: no sex
    adrgs: tuple[Adrg, ...]


@dataclass(frozen=True)
class Adrg:
    code: str
    mdc: str
    rule: Node
    splits: tuple[tuple[str, Node], ...]

    @property
    def surgical(self) -> bool:
        """Second letter A-J: a surgical ADRG."""
        return "A" <= self.code[1] <= "J"


@dataclass(frozen=True)
class Options:
    """The ``[grouping]`` table of ``tableset.toml``."""

    mdc_order: tuple[str, ...]
    next_mdc_when_no_adrg: bool = True
    ambiguous_group: bool = False
    require_age: bool = True
    newborn_max_age_days: float = 28
    require_newborn_weight: bool = False
    check_gray_principal: bool = True


def _rows(path: Path) -> Iterable[dict[str, str]]:
    """Rows of an optional CSV file (nothing when the file is absent)."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [
            {k.strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(f)
        ]


class ReferenceGrouper:
    """A table set loaded from its folder, ready to group cases one by one.

    Parameters
    ----------
    folder : path
        The table-set folder (``tableset.toml``, ``mdc.toml``, ``adrg.toml``, CSV files).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        meta = tomllib.loads((self.folder / "tableset.toml").read_text(encoding="utf-8"))
        mdc_doc = tomllib.loads((self.folder / "mdc.toml").read_text(encoding="utf-8"))
        adrg_doc = tomllib.loads((self.folder / "adrg.toml").read_text(encoding="utf-8"))
        self.name: str = meta["tableset"]["name"]

        # codes the set knows, per system; and the canonical spelling of each lookup key
        self.known: dict[str, set[str]] = {"dx": set(), "px": set()}
        self.canonical: dict[str, dict[str, str]] = {"dx": {}, "px": {}}

        def know(system: str, code: str) -> str:
            key = normalize_code(code)
            if key:
                self.known[system].add(key)
                self.canonical[system].setdefault(key, code)
            return key

        # code lists (the `match` column: empty/exact or prefix)
        exact: dict[str, set[str]] = {}
        prefixes: dict[str, set[str]] = {}
        systems: dict[str, str] = {}
        self.prefix_patterns: dict[str, set[str]] = {"dx": set(), "px": set()}
        for r in _rows(self.folder / "code_lists.csv"):
            name, system, match = r["list"], r["system"], r.get("match", "") or "exact"
            if systems.setdefault(name, system) != system:
                raise ValueError(f"list {name} mixes systems")
            exact.setdefault(name, set())
            prefixes.setdefault(name, set())
            if match == "prefix":
                key = normalize_code(r["code"])
                prefixes[name].add(key)
                self.prefix_patterns[system].add(key)
                self.canonical[system].setdefault(key, r["code"])
            elif match == "exact":
                exact[name].add(know(system, r["code"]))
            else:
                raise ValueError(f"code_lists.csv: unknown match {match!r}")
        self.lists: dict[str, CodeList] = {
            n: CodeList(n, systems[n], frozenset(exact[n]), frozenset(prefixes[n])) for n in systems
        }
        or_codes = {know("px", r["code"]) for r in _rows(self.folder / "or_procedures.csv")}
        self.lists["or_procedures"] = CodeList(
            "or_procedures", "px", frozenset(or_codes), frozenset()
        )

        # CC / MCC and exclusion tables
        self.cc: dict[str, tuple[str, str | None]] = {}
        for r in _rows(self.folder / "cc.csv"):
            self.cc[know("dx", r["code"])] = (r["level"].upper(), r.get("exclusion_table") or None)
        self.exclusion_table: dict[str, str] = {}
        for r in _rows(self.folder / "cc_exclusions.csv"):
            key = know("dx", r["principal_dx"])
            self.exclusion_table.setdefault(key, r["exclusion_table"])

        self.gray: dict[str, set[str]] = {"dx": set(), "px": set()}
        for r in _rows(self.folder / "gray_codes.csv"):
            self.gray[r["system"]].add(know(r["system"], r["code"]))
        for r in _rows(self.folder / "dictionary.csv"):
            know(r["system"], r["code"])
        self.code_maps: dict[str, dict[str, str]] = {"dx": {}, "px": {}}
        for r in _rows(self.folder / "code_maps.csv"):
            target = know(r["system"], r["grouper_code"])
            self.code_maps[r["system"]].setdefault(normalize_code(r["input_code"]), target)

        # prefix patterns by length, longest first
        self._prefix_lengths = {
            s: sorted({len(p) for p in pats}, reverse=True)
            for s, pats in self.prefix_patterns.items()
        }
        self._resolved: dict[tuple[str, str], str | None] = {}

        # rules
        def lists_for(name: str, system: str) -> CodeList:
            lst = self.lists.get(name)
            if lst is None:
                raise ValueError(f"{self.folder}: no list {name!r}")
            if lst.system != system:
                raise ValueError(f"{self.folder}: list {name!r} is not a {system} list")
            return lst

        def rule(text: str | None) -> Node:
            return _bind(parse_rule(text), lists_for)

        adrgs_of: dict[str, list[Adrg]] = {}
        for a in adrg_doc.get("adrg", []):
            splits = tuple((d["code"], rule(d.get("when"))) for d in a.get("drg", []))
            adrgs_of.setdefault(a["mdc"], []).append(
                Adrg(a["code"], a["mdc"], rule(a.get("when")), splits)
            )
        self.mdcs: dict[str, Mdc] = {}
        for m in mdc_doc.get("mdc", []):
            sex = {"male": 1.0, "female": 2.0, None: None}[m.get("sex")]
            self.mdcs[m["code"]] = Mdc(
                m["code"], rule(m.get("when")), sex, tuple(adrgs_of.get(m["code"], []))
            )

        g = meta.get("grouping", {})
        self.options = Options(
            mdc_order=tuple(g.get("mdc_order") or self.mdcs),
            next_mdc_when_no_adrg=g.get("next_mdc_when_no_adrg", True),
            ambiguous_group=g.get("ambiguous_group", False),
            require_age=g.get("require_age", True),
            newborn_max_age_days=g.get("newborn_max_age_days", 28),
            require_newborn_weight=g.get("require_newborn_weight", False),
            check_gray_principal=g.get("check_gray_principal", True),
        )

    # step 1 ---------------------------------------------------------------------------------
    def resolve(self, system: str, code: str | None) -> tuple[bool, str | None]:
        """Resolve one input code.

        Returns
        -------
        (kept, key)
            ``kept`` is False for an empty code (dropped); ``key`` is the lookup key the code
            stands for, ``None`` when it is unknown.
        """
        norm = normalize_code(code)
        if not norm:
            return False, None
        cache_key = (system, norm)
        if cache_key not in self._resolved:
            self._resolved[cache_key] = self._resolve(system, norm)
        return True, self._resolved[cache_key]

    def _resolve(self, system: str, norm: str) -> str | None:
        if norm in self.known[system]:
            return norm
        mapped = self.code_maps[system].get(norm)
        if mapped is not None:
            return mapped
        for n in self._prefix_lengths[system]:
            if len(norm) >= n and norm[:n] in self.prefix_patterns[system]:
                return norm[:n]
        return None

    def _codes(self, system: str, codes: Iterable[str | None] | None) -> list[str | None]:
        out: list[str | None] = []
        for c in codes or ():
            kept, key = self.resolve(system, c)
            if kept:
                out.append(key)
        return out

    # steps 2-6 ------------------------------------------------------------------------------
    def group(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """Group one case.

        Parameters
        ----------
        case : mapping
            ``sex``, ``age``, ``age_days``, ``birth_weight_g``, ``los_days``,
            ``discharge_type`` (numbers or ``None``), ``dx`` and ``px`` (lists of codes,
            principal first).

        Returns
        -------
        dict
            ``status``, ``reason``, ``mdc``, ``adrg``, ``drg``, ``cc_level``, ``cc_code``.
        """
        dx = self._codes("dx", case.get("dx"))
        px = self._codes("px", case.get("px"))
        opts = self.options

        def invalid(reason: str) -> dict[str, Any]:
            return _result("invalid", reason, None, None, "0000", None, None)

        # step 2: input checks, in the order of the spec
        raw = {k: case.get(k) for k in _NUMERIC}
        if any(v is not None and not isinstance(v, int | float) for v in raw.values()):
            return invalid("bad_value")
        if not dx:
            return invalid("empty_principal_dx")
        if dx[0] is None:
            return invalid("unknown_principal_dx")
        if opts.check_gray_principal and dx[0] in self.gray["dx"]:
            return invalid("gray_principal_dx")
        sex = raw["sex"]
        if sex is not None and sex not in (1, 2, 0, 9):
            return invalid("invalid_sex")
        age, age_days, weight, los = (
            raw["age"],
            raw["age_days"],
            raw["birth_weight_g"],
            raw["los_days"],
        )
        if age is None and age_days is not None and math.isfinite(age_days) and age_days >= 0:
            age = float(math.floor(age_days / 365))
        for v in (age, age_days, weight, los, raw["discharge_type"]):
            if v is not None and (not math.isfinite(v) or v < 0):
                return invalid("bad_value")
        if age is not None and age > 150:
            return invalid("bad_value")
        if age is None and opts.require_age:
            return invalid("missing_age")
        if weight == 0:
            weight = None
        newborn = (
            age is not None
            and age < 1
            and age_days is not None
            and age_days <= opts.newborn_max_age_days
        )
        if newborn and opts.require_newborn_weight and weight is None:
            return invalid("newborn_missing_weight")

        # step 3: CC level
        cc_level, cc_code = self._cc_level(dx)
        c = Case(
            dx=dx,
            px=px,
            values={
                "age": age,
                "age_days": age_days,
                "birth_weight": weight,
                "los": los,
                "discharge": raw["discharge_type"],
                "sex": sex,
                "dx_count": float(len(dx)),
                "px_count": float(len(px)),
            },
            cc_level=cc_level,
        )

        # steps 4 and 5: MDC, ADRG (with the ambiguous group), DRG
        first_mdc: str | None = None
        for mdc_code in opts.mdc_order:
            mdc = self.mdcs[mdc_code]
            if not mdc.rule.holds(c):
                continue
            first_mdc = first_mdc or mdc_code
            adrg = self._adrg(mdc, c)
            if adrg == "QY":
                qy = f"{mdc_code}QY"
                return _result("qy", None, mdc_code, qy, qy, cc_level, cc_code)
            if adrg is not None:
                for drg, split in adrg.splits:
                    if split.holds(c):
                        return _result("ok", None, mdc_code, adrg.code, drg, cc_level, cc_code)
                return _result(
                    "ungroupable", "no_drg", mdc_code, adrg.code, "0000", cc_level, cc_code
                )
            if not opts.next_mdc_when_no_adrg:
                break

        # step 6: nothing found
        if first_mdc is not None:
            return _result("ungroupable", "no_adrg", first_mdc, None, "0000", cc_level, cc_code)
        if self._sex_conflict(c):
            return _result("ungroupable", "sex_conflict", None, None, "0000", cc_level, cc_code)
        return _result("ungroupable", "no_mdc", None, None, "0000", cc_level, cc_code)

    def _cc_level(self, dx: list[str | None]) -> tuple[str, str | None]:
        """Step 3: the level and the first counted code of that level."""
        own_table = self.exclusion_table.get(dx[0]) if dx[0] is not None else None
        first: dict[str, str] = {}
        for code in dx[1:]:
            if code is None or code not in self.cc:
                continue
            level, table = self.cc[code]
            if table is not None and own_table is not None and table == own_table:
                continue
            first.setdefault(level, code)
        for level in ("MCC", "CC"):
            if level in first:
                return level, self.canonical["dx"][first[level]]
        return "none", None

    def _adrg(self, mdc: Mdc, c: Case) -> Adrg | str | None:
        """Step 4 inside one MDC: the first ADRG that holds, ``"QY"``, or ``None``."""
        qy_at: int | None = None
        if self.options.ambiguous_group and any(a.surgical for a in mdc.adrgs):
            qy_at = next((i for i, a in enumerate(mdc.adrgs) if not a.surgical), len(mdc.adrgs))
        principal_or = bool(c.px) and c.px[0] in self.lists["or_procedures"].codes
        for i, adrg in enumerate(mdc.adrgs):
            if i == qy_at and principal_or:
                return "QY"
            if adrg.rule.holds(c):
                return adrg
        if qy_at == len(mdc.adrgs) and principal_or:
            return "QY"
        return None

    def _sex_conflict(self, c: Case) -> bool:
        """Would an MDC with a ``sex`` hold if the case had that sex?"""
        for mdc_code in self.options.mdc_order:
            mdc = self.mdcs[mdc_code]
            if mdc.sex is None:
                continue
            other = Case(c.dx, c.px, {**c.values, "sex": mdc.sex}, c.cc_level)
            if mdc.rule.holds(other):
                return True
        return False


_NUMERIC = ("sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_type")
RESULT_KEYS = ("status", "reason", "mdc", "adrg", "drg", "cc_level", "cc_code")


def _result(
    status: str,
    reason: str | None,
    mdc: str | None,
    adrg: str | None,
    drg: str,
    cc_level: str | None,
    cc_code: str | None,
) -> dict[str, Any]:
    return dict(zip(RESULT_KEYS, (status, reason, mdc, adrg, drg, cc_level, cc_code), strict=True))


def load(folder: str | Path) -> ReferenceGrouper:
    """Load a table-set folder (see :class:`ReferenceGrouper`)."""
    return ReferenceGrouper(folder)
