"""DIP payment policies: a region's 按病种分值付费 rules as a readable TOML file.

Mirrors :mod:`drgsim.policy` (the DRG policies): a TOML file validated into frozen
dataclasses, with a :class:`~drgsim.policy.PolicyError` naming the file and the field on any
mistake. No region's number is built in: thresholds, coefficients and point values live in the
policy; the defaults of the dataclasses are the national defaults of the design notes
(偏差病例 below 0.5× and above 2× the group's average cost, above 5× for review [DIPW]).
``policies/README.md`` (section "DIP policy") documents every field and its source;
``policies/example_dip.toml`` is the shipped example (``example("dip")``).

Sections: ``[policy]`` (name, source, case columns), ``[hospital]`` (等级系数 by level or per
hospital, as in DRG policies), ``[deviation]`` (偏差病例 thresholds and formulas),
``[blank]`` (空白病组 KBBZ), ``[aux]`` with ``[aux.severity]``, ``[aux.age]``,
``[aux.tumour]``, ``[aux.death]`` (辅助目录 coefficients) and ``[point_value]`` (fixed, budget
or settlement point values per insurance type).

Examples
--------
>>> from drgsim.dip.policy import example
>>> p = example()
>>> p.deviation.low_threshold, p.deviation.high_threshold, p.deviation.high_rule
(0.5, 2.0, 'excess_plus_one')
>>> p.aux.tumour.codes, p.aux.severity.coefficients
(('C77', 'C78', 'C79'), (1.0, 1.05, 1.1, 1.2))
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from drgsim.policy import Hospital, PolicyError, PolicyProblem, read_toml, refusal

__all__ = [
    "BASES",
    "BLANK_RULES",
    "EXTREME_RULES",
    "HIGH_RULES",
    "LOW_RULES",
    "MODES",
    "Aux",
    "Band",
    "Blank",
    "Death",
    "Deviation",
    "DipPolicy",
    "Hospital",
    "PointValue",
    "PolicyError",
    "Severity",
    "Tumour",
    "example",
    "load_policy",
    "parse_policy",
]

#: What the deviation ratio divides the cost by (see :class:`Deviation`).
BASES = ("mean_cost", "score", "column")
#: Coefficient rules of low cases: ``ratio`` = cost ÷ average [DIPW]; ``normal`` = paid as normal.
LOW_RULES = ("ratio", "normal")
#: Coefficient rules of high cases: ``excess_plus_one`` = (ratio − high threshold) + 1 [DIPW];
#: ``excess_plus_hospital`` = ratio − high threshold + hospital coefficient [JN]; ``ratio``.
HIGH_RULES = ("excess_plus_one", "excess_plus_hospital", "ratio")
#: Rules of extreme cases (flagged for review): ``high`` (paid as a high case), ``hospital``
#: (coefficient = hospital coefficient [JN]), ``items`` (按项目, outside the points),
#: ``normal`` (paid as a normal case).
EXTREME_RULES = ("high", "hospital", "items", "normal")
#: Rules of blank cases (空白病组 and invalid cases): ``items`` (按项目, outside the points) or
#: ``points`` (cost ÷ cost per point × factor, [JN] KBBZ).
BLANK_RULES = ("items", "points")
#: Point value modes (see :class:`PointValue`).
MODES = ("auto", "fixed", "budget", "settlement")
SEVERITY_SOURCES = ("auto", "cc_level", "codes", "none")


@dataclass(frozen=True)
class Deviation:
    """偏差病例: cases whose cost is far from their group's average cost.

    The ratio is ``r = cost ÷ base``, where ``base`` (the group's average cost, 上一年度同级别
    机构该病种次均费用 [DIPW]) is: ``mean_cost``, the catalogue's mean cost of the group (a
    ``dip_mean_cost`` case column, or joined from the catalogue); ``score``, the group's score
    × ``cost_per_point`` (default: the catalogue's all-case mean cost ÷ its scale, which gives
    back the group's mean for a catalogue built by drgsim); or ``column``, a case column
    ``base_column``. With ``base_with_level`` the base is multiplied by the hospital
    coefficient (an approximation of the same-level average).

    Classes, in order: ``extreme`` r > ``extreme_threshold`` (None: no extreme class);
    ``high`` r > ``high_threshold`` (≥ with ``high_inclusive``); ``low`` r <
    ``low_threshold`` (≤ with ``low_inclusive``, as Jining [JN]); else ``normal``.

    Coefficients: low ``low_rule``, high ``high_rule``, extreme ``extreme_rule`` (see the
    module constants). Their points = score × coefficient × (the hospital coefficient when
    ``with_hospital_coefficient``; national and Jining: not [DIPW] [JN]) × (the auxiliary
    coefficient when ``with_aux``; national: yes [DIPW]).
    """

    base: str = "mean_cost"
    base_column: str | None = None
    cost_per_point: float | None = None
    base_with_level: bool = False
    low_threshold: float = 0.5
    high_threshold: float = 2.0
    extreme_threshold: float | None = 5.0
    low_inclusive: bool = False
    high_inclusive: bool = False
    low_rule: str = "ratio"
    high_rule: str = "excess_plus_one"
    extreme_rule: str = "high"
    with_hospital_coefficient: bool = False
    with_aux: bool = True


@dataclass(frozen=True)
class Blank:
    """空白病组 (KBBZ) and invalid cases (no principal diagnosis).

    ``items``: paid by items (cost × items ratio), no points. ``points``: points = cost ÷
    cost per point × ``factor`` (Jining: coefficient = cost ÷ average × 0.7 [JN]); the cost per
    point is the deviation's ``cost_per_point`` (or the catalogue's all-case mean ÷ scale).
    """

    rule: str = "items"
    factor: float = 1.0


@dataclass(frozen=True)
class Band:
    """A band ``minimum ≤ value < maximum`` (either open) with its coefficient."""

    minimum: float | None
    maximum: float | None
    coefficient: float


@dataclass(frozen=True)
class Severity:
    """疾病严重程度 from secondary diagnoses (CCI-like, levels 0–3).

    A case's severity score is ``mcc_weight`` × (MCC secondaries) + ``cc_weight`` × (CC
    secondaries); its level is the number of ``level_bands`` (ascending minimum scores of
    levels 1, 2, 3) it reaches; the coefficient is ``coefficients[level]``.

    ``source``: ``cc_level`` counts the highest CC/MCC of the grouping result (the
    ``cc_level`` column of :func:`drgsim.group`: MCC / CC / none, after its exclusion tables),
    so levels stop at what one code gives; ``codes`` counts the distinct secondary diagnoses
    (all but the first) starting with a code of ``mcc_codes`` / ``cc_codes`` or, with
    ``cc_tables``, of the ``cc.csv`` of that DRG table set (no exclusions); ``auto`` uses
    ``cc_level`` when the cases have that column, else the codes when there are any;
    ``none`` switches severity off. With ``min_los``, levels above 0 need LOS > ``min_los``
    (Jining: 中度/重度 need more than 3 days [JN]).
    """

    source: str = "auto"
    cc_codes: tuple[str, ...] = ()
    mcc_codes: tuple[str, ...] = ()
    cc_tables: str | None = None
    cc_weight: float = 1.0
    mcc_weight: float = 2.0
    level_bands: tuple[float, float, float] = (1.0, 2.0, 4.0)
    coefficients: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    min_los: float | None = None


@dataclass(frozen=True)
class Tumour:
    """肿瘤严重程度: a diagnosis starting with one of ``codes`` (metastases C77–C79) gives
    ``coefficient``; with ``principal_prefixes``, only when the principal diagnosis starts
    with one of them (e.g. ``["C"]``)."""

    codes: tuple[str, ...] = ()
    coefficient: float = 1.0
    principal_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Death:
    """死亡: a case with discharge type ``discharge_type`` gets the coefficient of the first
    LOS band it falls in (1 when none)."""

    discharge_type: str = "5"
    los_bands: tuple[Band, ...] = ()


@dataclass(frozen=True)
class Aux:
    """辅助目录 coefficients, multiplying the score.

    ``combine``: ``product`` of the severity, age, tumour and death coefficients (each 1 when
    it does not apply), or their ``max``. ``age_bands``: the first band holding the case's age
    in years (``age < 1`` newborns and infants, ``age ≥ 80`` …).
    """

    combine: str = "product"
    severity: Severity = field(default_factory=Severity)
    age_bands: tuple[Band, ...] = ()
    tumour: Tumour = field(default_factory=Tumour)
    death: Death = field(default_factory=Death)


@dataclass(frozen=True)
class PointValue:
    """点值 per insurance type (keys: insurance types; ``"*"`` = every other type, pooled).

    - ``fixed``: ``value``.
    - ``budget`` (预算点值 [DIPW]): (``spending`` − items-paid amounts) ÷ total points;
      without ``spending``, the pool's own total cost (a budget-neutral point value).
    - ``settlement`` (结算点值 [DIPW]): (``fund`` ÷ ``reimbursement_ratio`` − items-paid
      amounts) ÷ total points; without a ratio, ``fund`` is taken as money for the whole cost.
    - ``auto``: settlement when a fund is known (policy or ``fund=``), else budget when a
      spending is known, else fixed when ``value`` is set, else budget from the cases' costs.

    Items-paid amounts (blank or extreme cases paid 按项目) are taken out of the pool first
    when ``deduct_items`` (so the pool's payments add up to the fund); else the fund is for
    the points alone. ``reimbursement_ratio`` also splits each payment into ``fund_paid`` and
    ``patient_paid``.
    """

    mode: str = "auto"
    value: dict[str, float] = field(default_factory=dict)
    fund: dict[str, float] = field(default_factory=dict)
    spending: dict[str, float] = field(default_factory=dict)
    reimbursement_ratio: dict[str, float] = field(default_factory=dict)
    deduct_items: bool = True


@dataclass(frozen=True)
class DipPolicy:
    """A complete DIP payment policy (``policies/README.md``, section "DIP policy").

    Attributes
    ----------
    name, source : str
        What the policy is and where its numbers come from.
    hospital : Hospital
        等级系数 by level / per hospital (the DRG :class:`~drgsim.policy.Hospital`).
    deviation, blank, aux, point_value
        See their classes.
    insurance_column, cost_column, los_column, age_column, discharge_type_column, dx_column,
    cc_level_column : str
        Case columns.
    items_ratio : float
        Share of the cost paid for a case paid by items.
    """

    name: str = ""
    source: str = ""
    hospital: Hospital = field(default_factory=Hospital)
    deviation: Deviation = field(default_factory=Deviation)
    blank: Blank = field(default_factory=Blank)
    aux: Aux = field(default_factory=Aux)
    point_value: PointValue = field(default_factory=PointValue)
    insurance_column: str = "insurance_type"
    cost_column: str = "total_cost"
    los_column: str = "los_days"
    age_column: str = "age"
    discharge_type_column: str = "discharge_type"
    dx_column: str = "dx"
    cc_level_column: str = "cc_level"
    items_ratio: float = 1.0
    path: Path | None = None


# ---------------------------------------------------------------------------------------------
# Validation helpers


def _num(
    d: dict[str, Any], key: str, where: str, default: float | None = None, *, positive: bool = False
) -> float:
    v = d.get(key, default)
    if v is None:
        raise PolicyError(f"{where}: '{key}' is required")
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise PolicyError(f"{where}: '{key}' must be a number, not {v!r}")
    if v < 0 or (positive and v == 0):
        raise PolicyError(f"{where}: '{key}' must be {'> 0' if positive else '>= 0'}, not {v!r}")
    return float(v)


def _opt_num(d: dict[str, Any], key: str, where: str, *, positive: bool = False) -> float | None:
    return _num(d, key, where, positive=positive) if key in d else None


def _flag(d: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise PolicyError(f"{where}: '{key}' must be true or false, not {v!r}")
    return v


def _text(d: dict[str, Any], key: str, where: str, default: str) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise PolicyError(f"{where}: '{key}' must be text, not {v!r}")
    return v


def _choice(d: dict[str, Any], key: str, where: str, default: str, options: tuple[str, ...]) -> str:
    v = d.get(key, default)
    if v not in options:
        raise PolicyError(f"{where}: '{key}' must be one of {', '.join(options)}, not {v!r}")
    return str(v)


def _by_type(
    d: dict[str, Any], key: str, where: str, *, positive: bool = False
) -> dict[str, float]:
    """A number (→ {"*": n}) or a table of numbers by insurance type."""
    if key not in d:
        return {}
    v = d[key]
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = {"*": v}
    if not isinstance(v, dict):
        raise PolicyError(f"{where}: '{key}' must be a number or a table of numbers by type")
    out = {}
    for k in v:
        out[str(k)] = _num(v, k, f"{where} {key}", positive=positive)
    return out


def _codes(d: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    from drgsim.dip.catalogue import normalise_code

    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise PolicyError(f"{where}: '{key}' must be a list of codes (text)")
    return tuple(normalise_code(x) for x in v)


def _bands(d: dict[str, Any], key: str, where: str, what: str) -> tuple[Band, ...]:
    v = d.get(key, [])
    if not isinstance(v, list):
        raise PolicyError(f"{where}: '{key}' must be a list of {{min_{what}, max_{what}, "
                          "coefficient}} tables")  # fmt: skip
    out = []
    for i, b in enumerate(v):
        w = f"{where} {key}[{i}]"
        if not isinstance(b, dict):
            raise PolicyError(f"{w} must be a table {{min_{what} = …, coefficient = …}}")
        unknown = set(b) - {f"min_{what}", f"max_{what}", "coefficient"}
        if unknown:
            raise PolicyError(f"{w}: unknown key(s) {sorted(unknown)}")
        lo = _opt_num(b, f"min_{what}", w)
        hi = _opt_num(b, f"max_{what}", w)
        if lo is not None and hi is not None and hi <= lo:
            raise PolicyError(f"{w}: max_{what} must be above min_{what}")
        out.append(Band(lo, hi, _num(b, "coefficient", w)))
    return tuple(out)


_KEYS: dict[str, set[str]] = {
    "policy": {"name", "method", "source", "insurance_column", "cost_column", "los_column",
               "age_column", "discharge_type_column", "dx_column", "cc_level_column",
               "items_ratio"},
    "hospital": {"coefficient_by_level", "coefficient", "level_column", "hospital_column",
                 "default_coefficient"},
    "deviation": {"base", "base_column", "cost_per_point", "base_with_level", "low_threshold",
                  "high_threshold", "extreme_threshold", "low_inclusive", "high_inclusive",
                  "low_rule", "high_rule", "extreme_rule", "with_hospital_coefficient",
                  "with_aux"},
    "blank": {"rule", "factor"},
    "aux": {"combine", "severity", "age", "tumour", "death"},
    "point_value": {"mode", "value", "fund", "spending", "reimbursement_ratio", "deduct_items"},
}  # fmt: skip
_AUX_KEYS: dict[str, set[str]] = {
    "severity": {"source", "cc_codes", "mcc_codes", "cc_tables", "cc_weight", "mcc_weight",
                 "level_bands", "coefficients", "min_los"},
    "age": {"bands"},
    "tumour": {"codes", "coefficient", "principal_prefixes"},
    "death": {"discharge_type", "los_bands"},
}  # fmt: skip


def _section(data: dict[str, Any], name: str, where: str, keys: set[str]) -> dict[str, Any]:
    v = data.get(name) or {}
    if not isinstance(v, dict):
        raise PolicyError(f"{where}: [{name}] must be a table")
    unknown = set(v) - keys
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)} in [{name}]")
    return v


def parse_policy(data: dict[str, Any], where: str = "policy") -> DipPolicy:
    """Validate a parsed TOML document into a :class:`DipPolicy`.

    Raises
    ------
    PolicyError
        Naming ``where`` (the file), the section and the field.

    Examples
    --------
    >>> p = parse_policy({"deviation": {"high_rule": "excess_plus_hospital"},
    ...                   "hospital": {"coefficient": {"H1": 1.05}}})
    >>> p.deviation.high_rule, p.hospital.by_hospital
    ('excess_plus_hospital', {'H1': 1.05})
    >>> parse_policy({"deviation": {"low_threshold": "half"}}, "my.toml")
    Traceback (most recent call last):
    ...
    drgsim.policy.PolicyError: my.toml: [deviation]: 'low_threshold' must be a number, not 'half'
    """
    for name in data:
        if name not in _KEYS:
            raise PolicyError(f"{where}: unknown section [{name}]; known: {', '.join(_KEYS)}")
    p = _section(data, "policy", where, _KEYS["policy"])
    method = p.get("method", "dip")
    if method != "dip":
        raise PolicyError(f"{where}: [policy] method must be 'dip' in a DIP policy, not {method!r}")
    pw = f"{where}: [policy]"
    cols = {
        k: _text(p, k, pw, default)
        for k, default in (
            ("insurance_column", "insurance_type"),
            ("cost_column", "total_cost"),
            ("los_column", "los_days"),
            ("age_column", "age"),
            ("discharge_type_column", "discharge_type"),
            ("dx_column", "dx"),
            ("cc_level_column", "cc_level"),
        )
    }

    h = _section(data, "hospital", where, _KEYS["hospital"])
    hw = f"{where}: [hospital]"
    hospital = Hospital(
        by_level=_by_type(h, "coefficient_by_level", hw),
        by_hospital=_by_type(h, "coefficient", hw),
        level_column=_text(h, "level_column", hw, "hospital_level"),
        hospital_column=_text(h, "hospital_column", hw, "hospital_id"),
        default=_num(h, "default_coefficient", hw, 1.0),
    )

    d = _section(data, "deviation", where, _KEYS["deviation"])
    dw = f"{where}: [deviation]"
    base = _choice(d, "base", dw, "mean_cost", BASES)
    base_column = d.get("base_column")
    if base == "column" and not (isinstance(base_column, str) and base_column):
        raise PolicyError(f"{dw}: base = 'column' needs 'base_column' (a case column name)")
    ext = d.get("extreme_threshold", 5.0)
    deviation = Deviation(
        base=base,
        base_column=str(base_column) if base_column else None,
        cost_per_point=_opt_num(d, "cost_per_point", dw, positive=True),
        base_with_level=_flag(d, "base_with_level", dw),
        low_threshold=_num(d, "low_threshold", dw, 0.5),
        high_threshold=_num(d, "high_threshold", dw, 2.0, positive=True),
        extreme_threshold=None if ext is False else _num(d, "extreme_threshold", dw, 5.0),
        low_inclusive=_flag(d, "low_inclusive", dw),
        high_inclusive=_flag(d, "high_inclusive", dw),
        low_rule=_choice(d, "low_rule", dw, "ratio", LOW_RULES),
        high_rule=_choice(d, "high_rule", dw, "excess_plus_one", HIGH_RULES),
        extreme_rule=_choice(d, "extreme_rule", dw, "high", EXTREME_RULES),
        with_hospital_coefficient=_flag(d, "with_hospital_coefficient", dw),
        with_aux=_flag(d, "with_aux", dw, True),
    )
    if deviation.low_threshold >= deviation.high_threshold:
        raise PolicyError(f"{dw}: low_threshold must be below high_threshold")
    if deviation.extreme_threshold is not None and (
        deviation.extreme_threshold <= deviation.high_threshold
    ):
        raise PolicyError(f"{dw}: extreme_threshold must be above high_threshold (or false)")

    b = _section(data, "blank", where, _KEYS["blank"])
    bw = f"{where}: [blank]"
    blank = Blank(
        rule=_choice(b, "rule", bw, "items", BLANK_RULES), factor=_num(b, "factor", bw, 1.0)
    )

    a = _section(data, "aux", where, _KEYS["aux"])
    aw = f"{where}: [aux]"
    subs = {}
    for sub, keys in _AUX_KEYS.items():
        s = a.get(sub) or {}
        if not isinstance(s, dict):
            raise PolicyError(f"{aw}: [aux.{sub}] must be a table")
        unknown = set(s) - keys
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)} in [aux.{sub}]")
        subs[sub] = s
    s = subs["severity"]
    sw = f"{where}: [aux.severity]"
    bands = s.get("level_bands", [1, 2, 4])
    coefs = s.get("coefficients", [1, 1, 1, 1])
    if not (isinstance(bands, list) and len(bands) == 3):
        raise PolicyError(f"{sw}: 'level_bands' must be a list of 3 numbers (levels 1, 2, 3)")
    if not (isinstance(coefs, list) and len(coefs) == 4):
        raise PolicyError(f"{sw}: 'coefficients' must be a list of 4 numbers (levels 0–3)")
    band_nums = [_num({"level_bands": x}, "level_bands", sw, positive=True) for x in bands]
    if band_nums != sorted(band_nums):
        raise PolicyError(f"{sw}: 'level_bands' must be ascending")
    c4 = [_num({"coefficients": x}, "coefficients", sw) for x in coefs]
    cc_tables = s.get("cc_tables")
    if cc_tables is not None and not (isinstance(cc_tables, str) and cc_tables):
        raise PolicyError(f"{sw}: 'cc_tables' must be a table-set name or folder")
    severity = Severity(
        source=_choice(s, "source", sw, "auto", SEVERITY_SOURCES),
        cc_codes=_codes(s, "cc_codes", sw),
        mcc_codes=_codes(s, "mcc_codes", sw),
        cc_tables=cc_tables,
        cc_weight=_num(s, "cc_weight", sw, 1.0),
        mcc_weight=_num(s, "mcc_weight", sw, 2.0),
        level_bands=(band_nums[0], band_nums[1], band_nums[2]),
        coefficients=(c4[0], c4[1], c4[2], c4[3]),
        min_los=_opt_num(s, "min_los", sw),
    )
    t = subs["tumour"]
    tw = f"{where}: [aux.tumour]"
    tumour = Tumour(
        codes=_codes(t, "codes", tw),
        coefficient=_num(t, "coefficient", tw, 1.0),
        principal_prefixes=_codes(t, "principal_prefixes", tw),
    )
    de = subs["death"]
    dew = f"{where}: [aux.death]"
    dtype = de.get("discharge_type", "5")
    if isinstance(dtype, bool) or not isinstance(dtype, str | int):
        raise PolicyError(f"{dew}: 'discharge_type' must be a code (text or integer)")
    aux = Aux(
        combine=_choice(a, "combine", aw, "product", ("product", "max")),
        severity=severity,
        age_bands=_bands(subs["age"], "bands", f"{where}: [aux.age]", "age"),
        tumour=tumour,
        death=Death(
            discharge_type=str(dtype).strip(), los_bands=_bands(de, "los_bands", dew, "los")
        ),
    )

    v = _section(data, "point_value", where, _KEYS["point_value"])
    vw = f"{where}: [point_value]"
    ratio = _by_type(v, "reimbursement_ratio", vw, positive=True)
    if any(r > 1 for r in ratio.values()):
        raise PolicyError(f"{vw}: 'reimbursement_ratio' values must be in (0, 1]")
    point_value = PointValue(
        mode=_choice(v, "mode", vw, "auto", MODES),
        value=_by_type(v, "value", vw, positive=True),
        fund=_by_type(v, "fund", vw),
        spending=_by_type(v, "spending", vw),
        reimbursement_ratio=ratio,
        deduct_items=_flag(v, "deduct_items", vw, True),
    )
    if point_value.mode == "fixed" and not point_value.value:
        raise PolicyError(f"{vw}: mode 'fixed' needs 'value' (CNY per point, by insurance type)")
    return DipPolicy(
        name=_text(p, "name", pw, ""),
        source=_text(p, "source", pw, ""),
        hospital=hospital,
        deviation=deviation,
        blank=blank,
        aux=aux,
        point_value=point_value,
        items_ratio=_num(p, "items_ratio", pw, 1.0),
        insurance_column=cols["insurance_column"],
        cost_column=cols["cost_column"],
        los_column=cols["los_column"],
        age_column=cols["age_column"],
        discharge_type_column=cols["discharge_type_column"],
        dx_column=cols["dx_column"],
        cc_level_column=cols["cc_level_column"],
    )


def load_policy(path: str | os.PathLike[str]) -> DipPolicy:
    """Read and validate a DIP policy TOML file.

    Raises
    ------
    PolicyError
        The file is not valid TOML or a field is missing or wrong; the message names both.
    """
    p = Path(path)
    data = read_toml(p, "DIP policy", PolicyError)
    return replace(parse_policy(data, str(p)), path=p)


def example(kind: str = "dip") -> DipPolicy:
    """The shipped, documented example DIP policy (``policies/example_dip.toml``)."""
    res = resources.files("drgsim") / "policies" / f"example_{kind}.toml"
    if kind != "dip" or not res.is_file():
        raise PolicyError(f"no example DIP policy {kind!r} (use 'dip')")
    with resources.as_file(res) as p:
        return load_policy(p)


def problems(data: dict[str, Any]) -> list[PolicyProblem]:
    """The problems of a parsed DIP policy document, each with its TOML key: the one that
    refuses it (a DIP policy is checked as it is built: the low deviation threshold below the
    high one, ascending bands and levels, positive rates and ratios in (0, 1]), or none.

    Examples
    --------
    >>> [str(p) for p in problems({"deviation": {"low_threshold": 2.5, "high_threshold": 2}})]
    ['deviation.low_threshold: [deviation]: low_threshold must be below high_threshold']
    """
    return refusal(parse_policy, data, "DIP policy", _KEYS)
