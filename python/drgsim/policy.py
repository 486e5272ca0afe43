"""Payment policies: a city's DRG payment rules as a readable TOML file.

No city number is built into drgsim: base rates, point values, coefficients, thresholds and
shares all live in a policy file. Two documented examples ship with the package
(``drgsim.policy.example("rate")`` and ``example("points")``); ``policies/README.md`` explains
every field and where the example numbers come from.

Examples
--------
>>> from drgsim.policy import example
>>> p = example("rate")
>>> p.method, p.rate.base_rate["职工"]
('rate', 12252.7)
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from drgsim.exceptions import DrgsimError

__all__ = [
    "Bands",
    "Classes",
    "Hospital",
    "Points",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "Rate",
    "example",
    "file_problems",
    "key_line",
    "load_policy",
    "problems",
    "read_toml",
]

PAYMENT_RULES = ("items", "standard", "cost_ratio", "standard_plus_excess")


class PolicyError(DrgsimError, ValueError):
    """A payment policy is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Rate:
    """费率法: payment standard = base rate × RW × hospital coefficient.

    Attributes
    ----------
    base_rate : dict
        Base rate (CNY per RW) by insurance type; key ``"*"`` applies to any other type.
    standards_from_weights : bool
        Use the payment standards the weights give by hospital level (``standard_level3``,
        ``standard_level2``, else ``standard``) where they exist.
    """

    base_rate: dict[str, float]
    standards_from_weights: bool = False


@dataclass(frozen=True)
class Points:
    """点数法: case points = 基准点数 × hospital coefficient; money = points × point value.

    Attributes
    ----------
    point_value : dict
        CNY per point by insurance type (``"*"`` for any other type).
    scale : float
        基准点数 = RW × scale when the weights give no points (100 in most cities).
    """

    point_value: dict[str, float]
    scale: float = 100.0


@dataclass(frozen=True)
class Hospital:
    """Hospital coefficients (调整系数 / 医院系数).

    Attributes
    ----------
    by_level : dict
        Coefficient by hospital level (``"三级"``, ``"二级"`` ...).
    by_hospital : dict
        Coefficient per hospital id; wins over ``by_level``.
    level_column, hospital_column : str
        Case columns holding the level and the hospital id.
    default : float
        Coefficient when neither applies.
    from_weights : bool
        Use the per-DRG coefficients by level of the weights (``coefficient_level3``,
        ``coefficient_level2``) where they exist; they win over the other coefficients.
    """

    by_level: dict[str, float] = field(default_factory=dict)
    by_hospital: dict[str, float] = field(default_factory=dict)
    level_column: str = "hospital_level"
    hospital_column: str = "hospital_id"
    default: float = 1.0
    from_weights: bool = False


@dataclass(frozen=True)
class Bands:
    """High-multiplier thresholds: by RW band (first band whose ``max_rw`` is not exceeded),
    optionally overridden by hospital level."""

    rw_bands: tuple[tuple[float, float], ...] = ()
    by_level: dict[str, float] = field(default_factory=dict)
    default: float = 3.0


@dataclass(frozen=True)
class Classes:
    """How cases are classed and paid.

    Attributes
    ----------
    high : Bands
        Cost above ``threshold × standard`` makes a high multiplier case (高倍率).
    low_threshold : float
        Cost below ``low_threshold × standard`` makes a low multiplier case (低倍率).
    high_payment, low_payment : str
        ``items`` (按项目: the actual cost × ``items_ratio``), ``standard`` (the standard),
        ``cost_ratio`` (standard × cost/standard, capped at the standard), or
        ``standard_plus_excess`` (standard + (cost − threshold × standard) × ``excess_ratio``).
    excess_ratio : float
        Share of the cost above the high threshold that is paid under ``standard_plus_excess``.
    items_ratio : float
        Share of the actual cost paid for cases paid by items.
    exclude_los_at_most, exclude_los_at_least : float or None
        Stays this short or this long leave DRG payment (class ``excluded``, paid by items).
    special_drgs : tuple of str
        特病单议 groups (also every DRG flagged ``special`` in the weights): class ``special``.
    special_case_column : str
        A boolean case column marking cases approved for 特病单议.
    special_payment : str
        Payment rule of special cases (``items`` by default).
    """

    high: Bands = field(default_factory=Bands)
    low_threshold: float = 0.3
    high_payment: str = "items"
    low_payment: str = "items"
    excess_ratio: float = 1.0
    items_ratio: float = 1.0
    exclude_los_at_most: float | None = None
    exclude_los_at_least: float | None = None
    special_drgs: tuple[str, ...] = ()
    special_case_column: str = "special_case"
    special_payment: str = "items"


@dataclass(frozen=True)
class Policy:
    """A complete payment policy (see ``policies/README.md`` for every field).

    Attributes
    ----------
    name, source : str
        What the policy is and where its numbers come from.
    method : {"rate", "points"}
        费率法 or 点数法.
    weights : str or None
        Where the weights come from: a built-in set name (``teaching``), or a weights CSV in
        the project format (a path relative to the policy file).
    insurance_column, cost_column, los_column : str
        Case columns holding the insurance type, the actual cost and the length of stay.
    fund_share : dict
        Share of a paid amount that the fund pays, by insurance type (``"*"`` for others);
        the rest is the patient's part.
    reserve_share : float
        Share of the DRG payment withheld as a reserve (预留/质量保证金).
    """

    name: str
    method: str
    rate: Rate | None
    points: Points | None
    hospital: Hospital
    classes: Classes
    weights: str | None = None
    source: str = ""
    insurance_column: str = "insurance_type"
    cost_column: str = "total_cost"
    los_column: str = "los_days"
    fund_share: dict[str, float] = field(default_factory=dict)
    reserve_share: float = 0.0
    path: Path | None = None


def _num(d: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    v = d.get(key, default)
    if v is None:
        raise PolicyError(f"{where}: '{key}' is required")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PolicyError(f"{where}: '{key}' must be a number, not {v!r}")
    return float(v)


def _by_type(v: Any, where: str, allow_empty: bool = False) -> dict[str, float]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"*": float(v)}
    if isinstance(v, dict) and (v or allow_empty):
        out = {}
        for k, x in v.items():
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise PolicyError(f"{where}.{k} must be a number, not {x!r}")
            out[str(k)] = float(x)
        return out
    raise PolicyError(f"{where} must be a number or a table of numbers (by key)")


def _flag(d: dict[str, Any], key: str, where: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise PolicyError(f"{where}: '{key}' must be true or false, not {v!r}")
    return v


def _strs(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise PolicyError(f"{where} must be an array of strings, not {v!r}")
    return tuple(v)


def _rule(v: Any, where: str) -> str:
    if v not in PAYMENT_RULES:
        raise PolicyError(f"{where} must be one of {', '.join(PAYMENT_RULES)}, not {v!r}")
    return str(v)


_KEYS = {
    "policy": {"name", "method", "source", "weights", "insurance_column", "cost_column",
               "los_column", "reserve_share"},
    "rate": {"base_rate", "standards_from_weights"},
    "points": {"point_value", "scale"},
    "hospital": {"coefficient_by_level", "coefficient", "level_column", "hospital_column",
                 "default_coefficient", "coefficients_from_weights"},
    "classes": {"high_threshold", "high_threshold_by_rw", "high_threshold_by_level",
                "low_threshold", "high_payment", "low_payment", "excess_ratio", "items_ratio",
                "exclude_los_at_most", "exclude_los_at_least", "special_drgs",
                "special_case_column", "special_payment"},
    "fund": {"share"},
}  # fmt: skip


def parse_policy(data: dict[str, Any], where: str = "policy", *, validate: bool = True) -> Policy:
    """Validate a parsed TOML document into a :class:`Policy`.

    With ``validate`` (the default) the values are also checked together (:func:`problems`)
    and a policy with any problem is refused, naming every problem and its key."""
    for section, value in data.items():
        if section not in _KEYS:
            raise PolicyError(f"{where}: unknown section [{section}]; known: {', '.join(_KEYS)}")
        if not isinstance(value, dict):
            raise PolicyError(f"{where}: [{section}] must be a table")
        unknown = set(value) - _KEYS[section]
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)} in [{section}]")
    p = data.get("policy") or {}
    method = p.get("method")
    if method not in ("rate", "points"):
        raise PolicyError(f"{where}: [policy] method must be 'rate' or 'points', not {method!r}")
    rate = points = None
    if method == "rate":
        if "rate" not in data:
            raise PolicyError(f"{where}: method 'rate' needs a [rate] section with base_rate")
        rate = Rate(
            _by_type(data["rate"].get("base_rate"), f"{where}: [rate] base_rate"),
            standards_from_weights=_flag(data["rate"], "standards_from_weights", where),
        )
    else:
        if "points" not in data:
            raise PolicyError(f"{where}: method 'points' needs a [points] section")
        pt = data["points"]
        points = Points(
            point_value=_by_type(pt.get("point_value"), f"{where}: [points] point_value"),
            scale=_num(pt, "scale", f"{where}: [points]", 100.0),
        )
    h = data.get("hospital") or {}
    hospital = Hospital(
        by_level=_by_type(
            h["coefficient_by_level"], f"{where}: [hospital] coefficient_by_level", True
        )
        if "coefficient_by_level" in h
        else {},
        by_hospital=_by_type(h["coefficient"], f"{where}: [hospital] coefficient", True)
        if "coefficient" in h
        else {},
        level_column=str(h.get("level_column", "hospital_level")),
        hospital_column=str(h.get("hospital_column", "hospital_id")),
        default=_num(h, "default_coefficient", f"{where}: [hospital]", 1.0),
        from_weights=_flag(h, "coefficients_from_weights", where),
    )
    c = data.get("classes") or {}
    bands: list[tuple[float, float]] = []
    for i, b in enumerate(c.get("high_threshold_by_rw", [])):
        w = f"{where}: [classes] high_threshold_by_rw[{i}]"
        if not isinstance(b, dict):
            raise PolicyError(f"{w} must be a table {{max_rw = ..., threshold = ...}}")
        bands.append((_num(b, "max_rw", w, float("inf")), _num(b, "threshold", w)))
    by_level = (
        _by_type(c["high_threshold_by_level"], f"{where}: [classes] high_threshold_by_level")
        if "high_threshold_by_level" in c
        else {}
    )
    cw = f"{where}: [classes]"
    classes = Classes(
        high=Bands(tuple(bands), by_level, _num(c, "high_threshold", cw, 3.0)),
        low_threshold=_num(c, "low_threshold", cw, 0.3),
        high_payment=_rule(c.get("high_payment", "items"), f"{cw} high_payment"),
        low_payment=_rule(c.get("low_payment", "items"), f"{cw} low_payment"),
        excess_ratio=_num(c, "excess_ratio", cw, 1.0),
        items_ratio=_num(c, "items_ratio", cw, 1.0),
        exclude_los_at_most=_num(c, "exclude_los_at_most", cw)
        if "exclude_los_at_most" in c
        else None,
        exclude_los_at_least=_num(c, "exclude_los_at_least", cw)
        if "exclude_los_at_least" in c
        else None,
        special_drgs=_strs(c.get("special_drgs", []), f"{cw} special_drgs"),
        special_case_column=str(c.get("special_case_column", "special_case")),
        special_payment=_rule(c.get("special_payment", "items"), f"{cw} special_payment"),
    )
    fund = data.get("fund") or {}
    pol = Policy(
        name=str(p.get("name", "")),
        method=str(method),
        rate=rate,
        points=points,
        hospital=hospital,
        classes=classes,
        weights=p.get("weights"),
        source=str(p.get("source", "")),
        insurance_column=str(p.get("insurance_column", "insurance_type")),
        cost_column=str(p.get("cost_column", "total_cost")),
        los_column=str(p.get("los_column", "los_days")),
        fund_share=_by_type(fund["share"], f"{where}: [fund] share") if "share" in fund else {},
        reserve_share=_num(p, "reserve_share", f"{where}: [policy]", 0.0),
    )
    if validate:
        raise_problems(problems(pol), where)
    return pol


def read_toml(path: str | Path, what: str, error: type[Exception] = PolicyError) -> dict[str, Any]:
    """Read a TOML file; ``error`` (naming ``what`` and the file) when it cannot be read or
    parsed."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"cannot read {what} {p}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise error(f"{p}: {e}") from e


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy TOML file.

    Raises
    ------
    PolicyError
        The file is not valid TOML or a field is missing or wrong; the message names both.
    """
    p = Path(path)
    data = read_toml(p, "policy")
    pol = parse_policy(data, str(p))
    return Policy(**{**pol.__dict__, "path": p})


def example(kind: str = "rate") -> Policy:
    """One of the shipped, documented example policies: ``rate`` or ``points``."""
    res = resources.files("drgsim") / "policies" / f"example_{kind}.toml"
    if not res.is_file():
        raise PolicyError(f"no example policy {kind!r} (use 'rate' or 'points')")
    with resources.as_file(res) as p:
        return load_policy(p)


@dataclass(frozen=True)
class PolicyProblem:
    """One problem of a policy: the TOML key path (``classes.low_threshold``), what is wrong,
    and the line of the key in the file (0 when unknown)."""

    key: str
    message: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


def raise_problems(found: list[PolicyProblem], where: str) -> None:
    """Refuse a policy with problems: one :class:`PolicyError` naming all of them."""
    if found:
        lines = "\n".join(f"  {p}" for p in found)
        raise PolicyError(f"{where}: {len(found)} problem(s):\n{lines}")


def problems(pol: Policy) -> list[PolicyProblem]:
    """Values of a payment policy that cannot work together: a rate, point value, scale or
    coefficient that is not positive; a high-multiplier threshold not above the low one; RW
    bands out of order; a share outside [0, 1]; LOS exclusions that exclude every stay.

    Examples
    --------
    >>> from dataclasses import replace
    >>> p = example("rate")
    >>> problems(p)
    []
    >>> bad = replace(p, classes=replace(p.classes, low_threshold=3.5, items_ratio=1.2))
    >>> [str(x) for x in problems(bad)]  # doctest: +NORMALIZE_WHITESPACE
    ['classes.low_threshold: the low multiplier threshold 3.5 is not below the high
      multiplier threshold 3 (classes.high_threshold)',
     'classes.low_threshold: the low multiplier threshold 3.5 is not below the high
      multiplier threshold 3 (classes.high_threshold_by_level.三级)',
     'classes.low_threshold: the low multiplier threshold 3.5 is not below the high
      multiplier threshold 2 (classes.high_threshold_by_level.二级)',
     'classes.items_ratio: a share must be in [0, 1], not 1.2']
    """
    out: list[PolicyProblem] = []

    def bad(key: str, message: str) -> None:
        out.append(PolicyProblem(key, message))

    def sub(key: str, k: str) -> str:
        return key if k == "*" else f"{key}.{k}"

    def positive(key: str, values: dict[str, float], what: str) -> None:
        for k, v in values.items():
            if not v > 0:
                bad(sub(key, k), f"{what} must be positive, not {v:g}")

    def share(key: str, v: float | None, upper_open: bool = False) -> None:
        if v is not None and not (0 <= v < 1 if upper_open else 0 <= v <= 1):
            bad(key, f"a share must be in [0, {'1)' if upper_open else '1]'}, not {v:g}")

    if pol.rate is not None:
        positive("rate.base_rate", pol.rate.base_rate, "a base rate")
    if pol.points is not None:
        positive("points.point_value", pol.points.point_value, "a point value")
        if not pol.points.scale > 0:
            bad("points.scale", f"the scale must be positive, not {pol.points.scale:g}")
    h = pol.hospital
    positive("hospital.coefficient_by_level", h.by_level, "a coefficient")
    positive("hospital.coefficient", h.by_hospital, "a coefficient")
    if not h.default > 0:
        bad("hospital.default_coefficient", f"a coefficient must be positive, not {h.default:g}")
    c = pol.classes
    low = c.low_threshold
    if low < 0:
        bad("classes.low_threshold", f"a threshold must not be negative, not {low:g}")
    highs = [("classes.high_threshold", c.high.default)]
    highs += [
        (f"classes.high_threshold_by_rw[{i}].threshold", t)
        for i, (_, t) in enumerate(c.high.rw_bands)
    ]
    highs += [(f"classes.high_threshold_by_level.{k}", v) for k, v in c.high.by_level.items()]
    for key, t in highs:
        if not t > 0:
            bad(key, f"a high multiplier threshold must be positive, not {t:g}")
        elif low >= t:
            bad(
                "classes.low_threshold",
                f"the low multiplier threshold {low:g} is not below the high multiplier "
                f"threshold {t:g} ({key})",
            )
    prev = -math.inf
    for i, (max_rw, _) in enumerate(c.high.rw_bands):
        if prev == math.inf:
            bad(
                f"classes.high_threshold_by_rw[{i}]",
                "never used: an earlier band has no max_rw (takes every RW)",
            )
        elif not max_rw > prev:
            bad(
                f"classes.high_threshold_by_rw[{i}].max_rw",
                f"max_rw must increase from band to band ({max_rw:g} after {prev:g})",
            )
        prev = max(prev, max_rw)
    share("classes.excess_ratio", c.excess_ratio)
    share("classes.items_ratio", c.items_ratio)
    lo, hi = c.exclude_los_at_most, c.exclude_los_at_least
    if lo is not None and lo < 0:
        bad("classes.exclude_los_at_most", f"a length of stay must not be negative, not {lo:g}")
    if hi is not None and hi <= 0:
        bad("classes.exclude_los_at_least", f"must be positive, not {hi:g} (excludes every stay)")
    if lo is not None and hi is not None and lo >= hi:
        bad(
            "classes.exclude_los_at_least",
            f"exclude_los_at_least {hi:g} is not above exclude_los_at_most {lo:g}: the two "
            "exclusions overlap and every stay is excluded",
        )
    for k, v in pol.fund_share.items():
        share(sub("fund.share", k), v)
    share("policy.reserve_share", pol.reserve_share, upper_open=True)
    return out


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def key_line(text: str, key: str) -> int:
    r"""Line (1-based) of a key path like ``classes.high_threshold_by_rw[1].max_rw`` in a TOML
    text: the line of its deepest key found under the table header it belongs to, else of the
    header; 0 when not found. A cheap text search, good for the layout of the examples.

    Examples
    --------
    >>> key_line("[policy]\nname = 'x'\n[classes]\nlow_threshold = 3\n", "classes.low_threshold")
    4
    """
    parts = [re.sub(r"\[\d+\]$", "", p).strip('"') for p in key.split(".") if p]
    lines = text.splitlines()
    headers = [(i, m.group(1)) for i, ln in enumerate(lines) if (m := _HEADER.match(ln))]
    for depth in range(len(parts), 0, -1):
        name = ".".join(parts[:depth])
        for hi, (i, h) in enumerate(headers):
            if h.replace('"', "") != name:
                continue
            if depth == len(parts):
                return i + 1
            end = headers[hi + 1][0] if hi + 1 < len(headers) else len(lines)
            pat = re.compile(rf"^\s*\"?{re.escape(parts[depth])}\"?\s*=")
            for j in range(i + 1, end):
                if pat.match(lines[j]):
                    return j + 1
            return i + 1
    return 0


_KEY_IN_MESSAGE = re.compile(r"\[([A-Za-z_.]+)\]:?\s+'?([A-Za-z_]+)?'?")


def problem_from_error(
    e: Exception, where: str = "", known: Mapping[str, Collection[str]] | None = None
) -> PolicyProblem:
    """A refused policy's error as a problem, its key read from the ``[section] key`` the
    message names (the key only when ``known`` lists it for that section)."""
    msg = str(e)
    if where and msg.startswith(f"{where}: "):
        msg = msg[len(where) + 2 :]
    m = _KEY_IN_MESSAGE.search(msg)
    key = ""
    if m:
        key = m.group(1)
        if m.group(2) and m.group(2) in (known if known is not None else _KEYS).get(key, set()):
            key += f".{m.group(2)}"
    return PolicyProblem(key, msg)


def refusal(
    parse: Callable[[Any, str], object],
    data: Mapping[str, Any],
    where: str,
    known: Mapping[str, Collection[str]],
) -> list[PolicyProblem]:
    """The problems of a policy kind whose parser checks as it builds (DIP, settlement): the
    one that makes ``parse(data, where)`` refuse the document, its key read from the message
    against the kind's ``known`` keys by section, or none."""
    try:
        parse(data, where)
    except PolicyError as e:
        return [problem_from_error(e, where, known)]
    return []


def file_problems(path: str | Path) -> list[PolicyProblem]:
    """Every problem of a policy file of any kind, with the line of its key.

    The kind is read from the file: ``[policy] method = "rate"`` or ``"points"`` is a payment
    policy (:func:`problems`), ``"dip"`` a DIP policy (:mod:`drgsim.dip.policy`), anything
    else a settlement policy (:mod:`drgsim.settlement`). A file that cannot be read, is not
    TOML or has a malformed field gives that one problem.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return [PolicyProblem("", f"cannot read the policy: {e}")]
    method = data.get("policy", {}).get("method") if isinstance(data.get("policy"), dict) else None
    found: list[PolicyProblem]
    if method == "dip" or (method is None and "deviation" in data):
        from drgsim.dip.policy import problems as dip_problems

        found = dip_problems(data)
    elif method is not None or "rate" in data or "points" in data or "classes" in data:
        try:
            found = problems(parse_policy(data, str(p), validate=False))
        except PolicyError as e:
            found = [problem_from_error(e, str(p))]
    else:
        from drgsim.settlement import problems as settlement_problems

        found = settlement_problems(data)
    return [PolicyProblem(x.key, x.message, key_line(text, x.key) if x.key else 0) for x in found]
