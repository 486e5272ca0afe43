"""What-if scenarios as data: a list of changes to cases, payment policy, settlement and tables.

A scenario is a small declarative spec, written in TOML (``scenarios/README.md`` documents
the format; two examples ship beside it) or built from the dataclasses of this module. It is
a list of changes applied in order; changes that touch different cases and different
fields commute (selection is by a seeded hash of each case's key, not by row position).

Change types
------------
=============  ==========================================================================
``add``        add a code (or one drawn per case from a list) to ``dx`` (as a secondary
               diagnosis) or ``px``
``remove``     remove codes from the secondary diagnoses or from the procedures
``swap``       replace the codes ``old`` with a new code (or one drawn from a list)
``principal``  change the principal diagnosis (the old one becomes the first secondary,
               unless ``keep_old = false``)
``los``        length of stay, relative or absolute; the cost follows through
               ``cost_elasticity``
``cost``       cost, relative or absolute
``volume``     more or fewer cases (seeded duplication or dropping of selected cases)
``policy``     overrides of the payment policy (dotted field paths, ``set`` or ``scale``)
``settlement`` overrides of the settlement policy (retention bands …)
``tables``     regroup every case under another table set (grouper version change)
=============  ==========================================================================

Which cases a case change applies to is a :class:`Where`: filters on ``adrg``, ``drg``,
``mdc``, ``department``, ``hospital`` (``hospital_id``), ``doctor`` (``doctor_id``),
``cc_level`` and ``hospital_level`` (a value or a list of values each), then a seeded
``share`` of the matching cases: exactly ``round(share × matching)`` cases, those whose key
hashes lowest under ``seed``.

Examples
--------
>>> from drgsim.scenario import Coding, Scenario, Stay, Where
>>> s = Scenario("demo", changes=(
...     Stay(Where(department=("呼吸内科",)), relative=-0.1, cost_elasticity=0.5),
...     Coding("add", "dx", ("E87.000",), where=Where(adrg=("ES3",), share=0.2, seed=1)),
... ))
>>> [c.kind for c in s.changes]
['los', 'add']
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from drgsim.exceptions import DrgsimError
from drgsim.grouping import RESULT_COLUMNS, group_frame
from drgsim.policy import read_toml
from drgsim.tables import TableSet

__all__ = [
    "KEY_COLUMN",
    "Applied",
    "Change",
    "Coding",
    "Cost",
    "PolicyChange",
    "Principal",
    "Scenario",
    "ScenarioError",
    "SettlementChange",
    "Stay",
    "TablesChange",
    "Volume",
    "Where",
    "apply",
    "apply_policy",
    "apply_settlement",
    "load_scenario",
    "parse_scenario",
]

Tables = str | os.PathLike[str] | TableSet

#: Column holding each case's stable key (``case_id`` when unique, else the row number);
#: selection hashes it, and duplicated cases get a new key.
KEY_COLUMN = "scenario_key"

#: ``where`` keys and the case columns they filter.
WHERE_COLUMNS: dict[str, str] = {
    "adrg": "adrg",
    "drg": "drg",
    "mdc": "mdc",
    "department": "department",
    "hospital": "hospital_id",
    "doctor": "doctor_id",
    "cc_level": "cc_level",
    "hospital_level": "hospital_level",
}

#: Policy TOML names accepted as aliases of the :class:`drgsim.policy.Policy` attribute paths.
POLICY_ALIASES: dict[str, str] = {
    "policy.reserve_share": "reserve_share",
    "policy.weights": "weights",
    "fund.share": "fund_share",
    "hospital.coefficient_by_level": "hospital.by_level",
    "hospital.coefficient": "hospital.by_hospital",
    "hospital.default_coefficient": "hospital.default",
    "classes.high_threshold": "classes.high.default",
    "classes.high_threshold_by_level": "classes.high.by_level",
    "classes.high_threshold_by_rw": "classes.high.rw_bands",
}


class ScenarioError(DrgsimError, ValueError):
    """A scenario is malformed or cannot be applied; the message names the file and field."""


def _strs(v: Any, where: str) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise ScenarioError(f"{where} must be a string or a list of strings, not {v!r}")


@dataclass(frozen=True)
class Where:
    """Which cases a change applies to.

    Attributes
    ----------
    adrg, drg, mdc, department, hospital, doctor, cc_level, hospital_level : tuple of str
        Values of the case columns (``hospital`` is ``hospital_id``, ``doctor`` is
        ``doctor_id``); empty = any. All given filters must hold.
    share : float
        Share of the matching cases chosen (exactly ``round(share × n)``), in [0, 1].
    seed : int
        Seed of the hash that orders the matching cases (and draws codes, rounds stays).
    """

    adrg: tuple[str, ...] = ()
    drg: tuple[str, ...] = ()
    mdc: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    hospital: tuple[str, ...] = ()
    doctor: tuple[str, ...] = ()
    cc_level: tuple[str, ...] = ()
    hospital_level: tuple[str, ...] = ()
    share: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ScenarioError(f"where.share must be in [0, 1], not {self.share}")

    def expr(self, columns: Sequence[str]) -> pl.Expr:
        """The filter as a Polars boolean expression (before the share)."""
        e = pl.lit(True)
        for key, col in WHERE_COLUMNS.items():
            values = getattr(self, key)
            if not values:
                continue
            if col not in columns:
                raise ScenarioError(f"where.{key}: the cases have no column {col!r}")
            e = e & pl.col(col).cast(pl.String).is_in(list(values)).fill_null(False)
        return e


@dataclass(frozen=True)
class Coding:
    """Add, remove or swap a diagnosis or procedure code.

    Attributes
    ----------
    action : {"add", "remove", "swap"}
        ``add``: append one code (``codes`` has one code, or one is drawn per case from the
        list) unless the case already has it; diagnoses are added as secondary diagnoses.
        ``remove``: delete every code of ``codes`` (secondary diagnoses only; any procedure);
        only cases holding one are eligible. ``swap``: replace every occurrence of a code of
        ``old`` (principal included) by a code of ``codes``; only cases holding one are
        eligible.
    field : {"dx", "px"}
        The code list changed.
    codes : tuple of str
        The code(s) added, removed, or swapped in.
    old : tuple of str
        (swap) the codes replaced.
    where : Where
        The cases.
    """

    action: str
    field: str
    codes: tuple[str, ...]
    old: tuple[str, ...] = ()
    where: Where = dataclasses.field(default_factory=Where)

    regroups = True

    @property
    def kind(self) -> str:
        """The change type (the action)."""
        return self.action

    def __post_init__(self) -> None:
        if self.action not in ("add", "remove", "swap"):
            raise ScenarioError(f"coding action must be add, remove or swap, not {self.action!r}")
        if self.field not in ("dx", "px"):
            raise ScenarioError(f"coding field must be 'dx' or 'px', not {self.field!r}")
        if not self.codes:
            raise ScenarioError(f"{self.action}: 'codes' (or 'code') is required")
        if self.action == "swap" and not self.old:
            raise ScenarioError("swap: 'old' (the codes replaced) is required")


@dataclass(frozen=True)
class Principal:
    """Change the principal diagnosis to a code (or one drawn per case from ``codes``).

    Attributes
    ----------
    codes : tuple of str
        The new principal diagnosis (one drawn per case when several).
    keep_old : bool
        The old principal becomes the first secondary diagnosis (default); else it is dropped.
        A secondary equal to the new principal is removed.
    where : Where
    """

    codes: tuple[str, ...]
    keep_old: bool = True
    where: Where = field(default_factory=Where)

    kind = "principal"
    regroups = True

    def __post_init__(self) -> None:
        if not self.codes:
            raise ScenarioError("principal: 'codes' (or 'code') is required")


@dataclass(frozen=True)
class Stay:
    """Change the length of stay, with the cost following through an elasticity.

    ``los' = los × (1 + relative)`` or ``los + absolute``, rounded (``rounding``: ``nearest``;
    ``stochastic``: up with probability equal to the fraction, seeded, which keeps the mean;
    ``none`` keeps fractions, making an integer LOS column Float64), and never below 1 day
    for a stay of at least 1 day (nor below 0). The cost then follows the realised change:
    ``cost' = cost × (1 + cost_elasticity × (los' − los) / los)`` (floored at 0; cases with
    ``los = 0`` keep their cost). ``cost_elasticity = 0`` leaves the cost alone, ``1`` makes
    it proportional to the stay; bed-day costs are a minority of a case's cost, so values
    around 0.2–0.5 are realistic for most groups (illustrative, not an estimate).
    Stays whose LOS changed are regrouped (LOS is an input of the grouper in some sets).

    Attributes
    ----------
    where : Where
    relative, absolute : float or None
        Exactly one is given.
    cost_elasticity : float
    rounding : {"stochastic", "nearest", "none"}
    """

    where: Where = field(default_factory=Where)
    relative: float | None = None
    absolute: float | None = None
    cost_elasticity: float = 0.0
    rounding: str = "stochastic"

    kind = "los"
    regroups = True

    def __post_init__(self) -> None:
        if (self.relative is None) == (self.absolute is None):
            raise ScenarioError("los: give exactly one of 'relative' and 'absolute'")
        if self.relative is not None and self.relative <= -1:
            raise ScenarioError(f"los: 'relative' must be > -1, not {self.relative}")
        if self.rounding not in ("stochastic", "nearest", "none"):
            raise ScenarioError(
                f"los: 'rounding' must be stochastic, nearest or none, not {self.rounding!r}"
            )


@dataclass(frozen=True)
class Cost:
    """Change the cost: ``cost × (1 + relative)`` or ``cost + absolute`` (floored at 0)."""

    where: Where = field(default_factory=Where)
    relative: float | None = None
    absolute: float | None = None

    kind = "cost"
    regroups = False

    def __post_init__(self) -> None:
        if (self.relative is None) == (self.absolute is None):
            raise ScenarioError("cost: give exactly one of 'relative' and 'absolute'")


@dataclass(frozen=True)
class Volume:
    """More or fewer cases of a selection (case-mix shift or growth).

    ``relative = 0.2`` duplicates 20% of the selected cases (those hashing lowest under the
    seed; ``1.5`` copies every case once and half of them twice); ``relative = -0.2`` drops
    20%. Duplicates get the key and ``case_id`` of their original plus ``~v<seed>.<n>``.
    """

    where: Where = field(default_factory=Where)
    relative: float = 0.0

    kind = "volume"
    regroups = False

    def __post_init__(self) -> None:
        if self.relative < -1:
            raise ScenarioError(f"volume: 'relative' must be ≥ -1, not {self.relative}")


@dataclass(frozen=True)
class PolicyChange:
    """Overrides of the payment policy, by dotted attribute path of
    :class:`drgsim.policy.Policy` (``rate.base_rate``, ``classes.low_threshold``,
    ``classes.high.default`` …; the policy TOML names ``classes.high_threshold``,
    ``hospital.coefficient_by_level`` … are accepted too).

    Attributes
    ----------
    set : dict
        New values; a table is merged into a table field (keys given replace, others stay).
    scale : dict
        Factors multiplying a number field, or every value of a table field.
    """

    set: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    kind = "policy"
    regroups = False


@dataclass(frozen=True)
class SettlementChange:
    """Overrides of the settlement policy (``drgsim.settlement.SettlementPolicy``), as
    :class:`PolicyChange`."""

    set: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    kind = "settlement"
    regroups = False


@dataclass(frozen=True)
class TablesChange:
    """Regroup every case under another table set (a grouper version change). The policy's
    weights are not changed: add a ``policy`` change of ``weights`` when the DRG codes
    differ."""

    tables: str | os.PathLike[str] | TableSet

    kind = "tables"
    regroups = True


Change = Coding | Principal | Stay | Cost | Volume | PolicyChange | SettlementChange | TablesChange


@dataclass(frozen=True)
class Scenario:
    """A named list of changes, applied in order.

    Attributes
    ----------
    name, description : str
    changes : tuple of Change
    path : Path or None
        The file the scenario was read from.
    """

    name: str = "scenario"
    changes: tuple[Change, ...] = ()
    description: str = ""
    path: Path | None = None

    def __add__(self, other: Scenario) -> Scenario:
        """The changes of ``self`` then those of ``other``."""
        return Scenario(f"{self.name}+{other.name}", self.changes + other.changes, self.description)

    @property
    def case_changes(self) -> tuple[Change, ...]:
        """Changes to cases or tables (not policy or settlement)."""
        return tuple(c for c in self.changes if c.kind not in ("policy", "settlement"))


# ---------------------------------------------------------------------------- parsing

_COMMON = {"type", "where", "comment"}
_KEYS: dict[str, set[str]] = {
    "add": {"field", "code", "codes"},
    "remove": {"field", "code", "codes"},
    "swap": {"field", "code", "codes", "old"},
    "principal": {"code", "codes", "keep_old"},
    "los": {"relative", "absolute", "cost_elasticity", "rounding"},
    "cost": {"relative", "absolute"},
    "volume": {"relative"},
    "policy": {"set", "scale"},
    "settlement": {"set", "scale"},
    "tables": {"tables"},
}


def _num(d: dict[str, Any], key: str, where: str) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"{where}.{key} must be a number, not {v!r}")
    return float(v)


def _where(v: Any, where: str) -> Where:
    if v is None:
        return Where()
    if not isinstance(v, dict):
        raise ScenarioError(f"{where} must be a table {{adrg = ..., share = ...}}")
    unknown = set(v) - set(WHERE_COLUMNS) - {"share", "seed"}
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {sorted(unknown)}; known: "
            f"{', '.join([*WHERE_COLUMNS, 'share', 'seed'])}"
        )
    kw: dict[str, Any] = {k: _strs(v[k], f"{where}.{k}") for k in WHERE_COLUMNS if k in v}
    share = _num(v, "share", where)
    if share is not None:
        if not 0 <= share <= 1:
            raise ScenarioError(f"{where}.share must be in [0, 1], not {share}")
        kw["share"] = share
    if "seed" in v:
        if isinstance(v["seed"], bool) or not isinstance(v["seed"], int):
            raise ScenarioError(f"{where}.seed must be an integer, not {v['seed']!r}")
        kw["seed"] = v["seed"]
    return Where(**kw)


def _codes(c: dict[str, Any], where: str, required: bool = True) -> tuple[str, ...]:
    if "code" in c and "codes" in c:
        raise ScenarioError(f"{where}: give 'code' or 'codes', not both")
    v = c.get("code", c.get("codes"))
    if v is None:
        if required:
            raise ScenarioError(f"{where}: 'code' or 'codes' is required")
        return ()
    out = _strs(v, f"{where}.{'code' if 'code' in c else 'codes'}")
    if not out:
        raise ScenarioError(f"{where}.codes must not be empty")
    return out


def _overrides(c: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, float]]:
    s, f = c.get("set", {}), c.get("scale", {})
    if not isinstance(s, dict) or not isinstance(f, dict):
        raise ScenarioError(f"{where}: 'set' and 'scale' must be tables of field = value")
    if not s and not f:
        raise ScenarioError(f"{where}: give 'set' or 'scale'")
    for k, x in f.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ScenarioError(f"{where}.scale.{k} must be a number, not {x!r}")
    return dict(s), {k: float(x) for k, x in f.items()}


def _change(c: Any, where: str, base: Path | None) -> Change:
    if not isinstance(c, dict):
        raise ScenarioError(f"{where} must be a table")
    kind = c.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise ScenarioError(f"{where}.type must be one of {', '.join(_KEYS)}, not {kind!r}")
    unknown = set(c) - _COMMON - _KEYS[kind]
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {sorted(unknown)} for type {kind!r}; known: "
            f"{', '.join(sorted(_KEYS[kind] | _COMMON))}"
        )
    if kind in ("policy", "settlement", "tables") and "where" in c:
        raise ScenarioError(f"{where}: a {kind} change takes no 'where'")
    w = _where(c.get("where"), f"{where}.where")
    try:
        if kind in ("add", "remove", "swap"):
            fld = c.get("field", "dx")
            old = _strs(c["old"], f"{where}.old") if "old" in c else ()
            return Coding(kind, fld, _codes(c, where), old, w)
        if kind == "principal":
            keep = c.get("keep_old", True)
            if not isinstance(keep, bool):
                raise ScenarioError(f"{where}.keep_old must be true or false")
            return Principal(_codes(c, where), keep, w)
        if kind == "los":
            return Stay(
                w,
                _num(c, "relative", where),
                _num(c, "absolute", where),
                _num(c, "cost_elasticity", where) or 0.0,
                str(c.get("rounding", "stochastic")),
            )
        if kind == "cost":
            return Cost(w, _num(c, "relative", where), _num(c, "absolute", where))
        if kind == "volume":
            rel = _num(c, "relative", where)
            if rel is None:
                raise ScenarioError(f"{where}.relative is required")
            return Volume(w, rel)
        if kind == "policy":
            return PolicyChange(*_overrides(c, where))
        if kind == "settlement":
            return SettlementChange(*_overrides(c, where))
        t = c.get("tables")
        if not isinstance(t, str) or not t:
            raise ScenarioError(f"{where}.tables must be a table-set name or folder")
        if base is not None and (base / t).is_dir():
            return TablesChange(str(base / t))
        return TablesChange(t)
    except ScenarioError as e:
        msg = str(e)
        raise ScenarioError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def parse_scenario(
    data: dict[str, Any], where: str = "scenario", base: Path | None = None
) -> Scenario:
    """Validate a parsed TOML document into a :class:`Scenario`.

    Parameters
    ----------
    data : dict
        ``[scenario]`` (name, description) and ``[[change]]`` tables.
    where : str
        Name used in error messages (the file).
    base : Path, optional
        Folder relative table-set paths are taken from.
    """
    unknown = set(data) - {"scenario", "change"}
    if unknown:
        raise ScenarioError(
            f"{where}: unknown section(s) {sorted(unknown)}; known: scenario, change"
        )
    head = data.get("scenario", {})
    if not isinstance(head, dict):
        raise ScenarioError(f"{where}: [scenario] must be a table")
    bad = set(head) - {"name", "description"}
    if bad:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(bad)} in [scenario]")
    changes = data.get("change", [])
    if not isinstance(changes, list):
        raise ScenarioError(f"{where}: 'change' must be an array of tables ([[change]])")
    return Scenario(
        name=str(head.get("name", "scenario")),
        description=str(head.get("description", "")),
        changes=tuple(_change(c, f"{where}: change[{i}]", base) for i, c in enumerate(changes)),
    )


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises
    ------
    ScenarioError
        The file cannot be read, is not TOML, or a field is wrong; the message names the file
        and the field (``file: change[2].where.share must be in [0, 1]``).

    Examples
    --------
    >>> from importlib import resources
    >>> from drgsim.scenario import load_scenario
    >>> p = resources.files("drgsim") / "scenarios" / "example_los_and_cc.toml"
    >>> [c.kind for c in load_scenario(str(p)).changes]
    ['los', 'add']
    """
    p = Path(path)
    data = read_toml(p, "scenario", ScenarioError)
    s = parse_scenario(data, str(p), p.parent)
    return dataclasses.replace(s, path=p)


# --------------------------------------------------------------------- policy overrides


def _convert(old: Any, new: Any, where: str) -> Any:
    if isinstance(old, dict):
        if not isinstance(new, dict):
            raise ScenarioError(f"{where} must be a table")
        return {**old, **{str(k): _convert(old.get(k), v, f"{where}.{k}") for k, v in new.items()}}
    if isinstance(old, tuple) or (old is None and isinstance(new, list)):
        if not isinstance(new, (list, tuple)):
            raise ScenarioError(f"{where} must be a list")
        return tuple(tuple(x) if isinstance(x, list) else x for x in new)
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise ScenarioError(f"{where} must be true or false")
        return new
    if isinstance(old, float) or (old is None and isinstance(new, (int, float))):
        if isinstance(new, bool) or not isinstance(new, (int, float)):
            raise ScenarioError(f"{where} must be a number, not {new!r}")
        return float(new)
    return new


def _scaled(old: Any, factor: float, where: str) -> Any:
    if isinstance(old, dict):
        return {k: _scaled(v, factor, f"{where}.{k}") for k, v in old.items()}
    if isinstance(old, bool) or not isinstance(old, (int, float)):
        raise ScenarioError(f"{where} is not a number or a table of numbers; it cannot be scaled")
    return float(old) * factor


def _override(obj: Any, path: list[str], op: Callable[[Any, str], Any], where: str) -> Any:
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise ScenarioError(f"{where}: {type(obj).__name__} has no fields")
    names = {f.name for f in dataclasses.fields(obj)}
    head = path[0]
    if head not in names:
        raise ScenarioError(f"{where}: no field {head!r} (known: {', '.join(sorted(names))})")
    cur = getattr(obj, head)
    if len(path) == 1:
        new = op(cur, where)
    else:
        if cur is None:
            raise ScenarioError(f"{where}: {head!r} is not set in this policy")
        new = _override(cur, path[1:], op, where)
    return dataclasses.replace(obj, **{head: new})


def _setter(value: Any) -> Callable[[Any, str], Any]:
    def op(old: Any, where: str) -> Any:
        return _convert(old, value, where)

    return op


def _scaler(factor: float) -> Callable[[Any, str], Any]:
    def op(old: Any, where: str) -> Any:
        return _scaled(old, factor, where)

    return op


def _apply_overrides(obj: Any, changes: Sequence[PolicyChange | SettlementChange], label: str,
                     aliases: dict[str, str]) -> Any:  # fmt: skip
    for i, ch in enumerate(changes):
        for key, value in ch.set.items():
            w = f"{label} change {i}: set.{key}"
            path = aliases.get(key, key).split(".")
            obj = _override(obj, path, _setter(value), w)
        for key, factor in ch.scale.items():
            w = f"{label} change {i}: scale.{key}"
            path = aliases.get(key, key).split(".")
            obj = _override(obj, path, _scaler(factor), w)
    return obj


def _where_label(s: Scenario) -> str:
    return str(s.path) if s.path is not None else s.name


def apply_policy(policy: Any, scenario: Scenario) -> Any:
    """The payment policy with the scenario's ``policy`` changes applied (in order).

    Raises
    ------
    ScenarioError
        A path names no field of the policy, or a value has the wrong kind.

    Examples
    --------
    >>> from drgsim.policy import example
    >>> from drgsim.scenario import PolicyChange, Scenario, apply_policy
    >>> p = apply_policy(example("rate"), Scenario(changes=(
    ...     PolicyChange(scale={"rate.base_rate": 0.5}, set={"classes.high_threshold": 2.5}),)))
    >>> p.rate.base_rate["居民"], p.classes.high.default
    (4824.62, 2.5)
    """
    chs = [c for c in scenario.changes if isinstance(c, PolicyChange)]
    return _apply_overrides(policy, chs, _where_label(scenario), POLICY_ALIASES)


def apply_settlement(settlement: Any, scenario: Scenario) -> Any:
    """The settlement policy with the scenario's ``settlement`` changes applied (in order)."""
    chs = [c for c in scenario.changes if isinstance(c, SettlementChange)]
    if not chs:
        return settlement
    label = _where_label(scenario)
    if settlement is None:
        raise ScenarioError(f"{label}: settlement changes need a settlement policy")
    from drgsim.policy import PolicyError
    from drgsim.settlement import Band

    def bands(v: Any, where: str) -> Any:
        if not isinstance(v, list) or not all(isinstance(b, dict) and "share" in b for b in v):
            raise ScenarioError(f"{where} must be a list of {{up_to = ..., share = ...}}")
        return [Band(b.get("up_to"), float(b["share"])) for b in v]

    fixed = []
    for i, ch in enumerate(chs):
        try:
            set_ = {
                k: bands(v, f"{label} settlement change {i}: set.{k}") if k.endswith("bands") else v
                for k, v in ch.set.items()
            }
        except PolicyError as e:
            raise ScenarioError(f"{label} settlement change {i}: {e}") from None
        fixed.append(SettlementChange(set_, ch.scale))
    try:
        return _apply_overrides(settlement, fixed, label, {})
    except PolicyError as e:
        raise ScenarioError(f"{label}: settlement change: {e}") from None


# ------------------------------------------------------------------------ case changes


@dataclass(frozen=True)
class Applied:
    """Cases after the case changes of a scenario.

    Attributes
    ----------
    cases : polars.DataFrame
        The cases with :data:`KEY_COLUMN` and ``touched`` (a change altered the case's grouper
        inputs, or it was regrouped under another table set), regrouped where needed.
    tables : str, path or TableSet
        The table set the cases are grouped under at the end.
    regrouped : int
        Rows passed to the grouper while applying the changes.
    """

    cases: pl.DataFrame
    tables: Tables
    regrouped: int


def with_key(cases: pl.DataFrame) -> pl.DataFrame:
    """Add :data:`KEY_COLUMN` (``case_id`` when present and unique, else the row number)."""
    if KEY_COLUMN in cases.columns:
        return cases
    if "case_id" in cases.columns and cases["case_id"].n_unique() == cases.height:
        key = pl.col("case_id").cast(pl.String)
    else:
        key = pl.int_range(pl.len(), dtype=pl.Int64).cast(pl.String)
    return cases.with_columns(key.alias(KEY_COLUMN))


def _uniform(df: pl.DataFrame, seed: int, salt: int) -> np.ndarray:
    h = df[KEY_COLUMN].hash(seed=seed * 1_000_003 + salt).to_numpy()
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _select(df: pl.DataFrame, where: Where, extra: pl.Expr | None = None) -> np.ndarray:
    e = where.expr(df.columns)
    if extra is not None:
        e = e & extra
    elig = df.with_columns(e.alias("_m"))["_m"].to_numpy().astype(bool)
    if where.share >= 1.0:
        return elig
    idx = np.flatnonzero(elig)
    k = int(np.floor(where.share * idx.size + 0.5))
    h = df[KEY_COLUMN].hash(seed=where.seed).to_numpy()[idx]
    order = np.lexsort((df[KEY_COLUMN].to_numpy()[idx], h))  # ties broken by the key
    out = np.zeros(df.height, dtype=bool)
    out[idx[order[:k]]] = True
    return out


def _draw(df: pl.DataFrame, codes: tuple[str, ...], seed: int) -> pl.Series:
    if len(codes) == 1:
        return pl.Series("_new", [codes[0]] * df.height, dtype=pl.String)
    i = df[KEY_COLUMN].hash(seed=seed * 1_000_003 + 7).to_numpy() % np.uint64(len(codes))
    return pl.Series("_new", np.asarray(codes, dtype=object)[i.astype(np.int64)], dtype=pl.String)


def _set_rows(df: pl.DataFrame, mask: np.ndarray, sub: pl.DataFrame) -> pl.DataFrame:
    """Replace the rows of ``mask`` by ``sub`` (same row order), keeping the frame order."""
    if not mask.any():
        return df
    idx = pl.Series("_row", np.flatnonzero(mask), dtype=pl.Int64)
    rest = df.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row")).filter(
        ~pl.Series(mask)
    )
    sub = sub.select(df.columns).with_columns(idx)
    return pl.concat([rest, sub], how="vertical_relaxed").sort("_row").drop("_row")


def _coding(df: pl.DataFrame, ch: Coding) -> tuple[pl.DataFrame, np.ndarray]:
    f = ch.field
    if f not in df.columns:
        raise ScenarioError(f"{ch.action}: the cases have no column {f!r}")
    has = pl.col(f).list.len().fill_null(0) > 0
    extra: pl.Expr | None
    if ch.action == "remove":
        pool = pl.col(f).list.slice(1) if f == "dx" else pl.col(f)
        extra = has & pool.list.eval(pl.element().is_in(list(ch.codes))).list.any().fill_null(False)
    elif ch.action == "swap":
        extra = has & pl.col(f).list.eval(pl.element().is_in(list(ch.old))).list.any().fill_null(
            False
        )
    else:
        extra = has if f == "dx" else None
    mask = _select(df, ch.where, extra)
    if not mask.any():
        return df, mask
    sub = df.filter(pl.Series(mask))
    if ch.action == "remove":
        keep = pl.element().filter(~pl.element().is_in(list(ch.codes)))
        new = (
            pl.concat_list(pl.col(f).list.first(), pl.col(f).list.slice(1).list.eval(keep))
            if f == "dx"
            else pl.col(f).list.eval(keep)
        )
        return _set_rows(df, mask, sub.with_columns(new.alias(f))), mask
    drawn = _draw(sub, ch.codes, ch.where.seed)
    sub = sub.with_columns(drawn)
    out = pl.col(f)
    for code in dict.fromkeys(ch.codes):
        if ch.action == "add":
            add = pl.col(f).list.concat(pl.lit([code], dtype=pl.List(pl.String)))
            branch = pl.when(pl.col(f).list.contains(code)).then(pl.col(f)).otherwise(add)
        else:
            branch = (
                pl.col(f)
                .list.eval(
                    pl.when(pl.element().is_in(list(ch.old)))
                    .then(pl.lit(code))
                    .otherwise(pl.element())
                )
                .list.unique(maintain_order=True)
            )
        out = pl.when(pl.col("_new") == code).then(branch).otherwise(out)
    sub = sub.with_columns(out.alias(f)).drop("_new")
    if sub.schema[f] != df.schema[f]:
        sub = sub.with_columns(pl.col(f).cast(df.schema[f]))
    return _set_rows(df, mask, sub), mask


def _as_lists(df: pl.DataFrame) -> pl.DataFrame:
    """``dx``/``px`` given as text (codes split on ``|`` ``,`` ``;``) become ``list[str]``."""
    out = []
    for f in ("dx", "px"):
        if f in df.columns and df.schema[f] == pl.String:
            out.append(
                pl.col(f)
                .str.replace_all(r"[,;]", "|")
                .str.split("|")
                .list.eval(
                    pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != "")
                )
                .alias(f)
            )
    return df.with_columns(out) if out else df


def _principal(df: pl.DataFrame, ch: Principal) -> tuple[pl.DataFrame, np.ndarray]:
    if "dx" not in df.columns:
        raise ScenarioError("principal: the cases have no column 'dx'")
    mask = _select(df, ch.where, pl.col("dx").list.len().fill_null(0) > 0)
    if not mask.any():
        return df, mask
    sub = df.filter(pl.Series(mask))
    sub = sub.with_columns(_draw(sub, ch.codes, ch.where.seed))
    rest = pl.col("dx").list.slice(1)
    if ch.keep_old:
        rest = pl.concat_list(pl.col("dx").list.first(), rest)
    new = pl.col("dx")
    for code in dict.fromkeys(ch.codes):
        branch = pl.concat_list(
            pl.lit([code], dtype=pl.List(pl.String)),
            rest.list.eval(pl.element().filter(pl.element() != code)),
        )
        new = pl.when(pl.col("_new") == code).then(branch).otherwise(new)
    sub = sub.with_columns(new.alias("dx")).drop("_new")
    return _set_rows(df, mask, sub), mask


def _los(
    df: pl.DataFrame, ch: Stay, los_col: str, cost_col: str
) -> tuple[pl.DataFrame, np.ndarray]:
    if los_col not in df.columns:
        raise ScenarioError(f"los: the cases have no column {los_col!r}")
    sel = _select(df, ch.where, pl.col(los_col).is_not_null())
    if not sel.any():
        return df, sel
    old = df[los_col].cast(pl.Float64).to_numpy()
    x = old * (1.0 + ch.relative) if ch.relative is not None else old + float(ch.absolute or 0.0)
    if ch.rounding == "nearest":
        x = np.floor(x + 0.5)
    elif ch.rounding == "stochastic":
        x = np.floor(x + _uniform(df, ch.where.seed, 3))
    x = np.maximum(x, np.where(old >= 1, 1.0, 0.0))
    new = np.where(sel, x, old)
    changed = sel & (new != old)
    dtype = df.schema[los_col]
    if ch.rounding == "none" and not dtype.is_float():
        dtype = pl.Float64()
    cols = [pl.Series(los_col, new, nan_to_null=True).cast(dtype)]
    if ch.cost_elasticity and cost_col in df.columns:
        cost = df[cost_col].cast(pl.Float64).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(old > 0, 1.0 + ch.cost_elasticity * (new - old) / old, 1.0)
        cols.append(
            pl.Series(
                cost_col, np.where(changed, cost * np.maximum(factor, 0.0), cost), nan_to_null=True
            ).cast(df.schema[cost_col])
        )
    return df.with_columns(cols), changed


def _cost(df: pl.DataFrame, ch: Cost, cost_col: str) -> pl.DataFrame:
    if cost_col not in df.columns:
        raise ScenarioError(f"cost: the cases have no column {cost_col!r}")
    sel = pl.Series(_select(df, ch.where))
    c = pl.col(cost_col).cast(pl.Float64)
    new = c * (1.0 + ch.relative) if ch.relative is not None else c + float(ch.absolute or 0.0)
    return df.with_columns(
        pl.when(sel)
        .then(new.clip(lower_bound=0.0))
        .otherwise(c)
        .cast(df.schema[cost_col])
        .alias(cost_col)
    )


def _volume(df: pl.DataFrame, ch: Volume) -> pl.DataFrame:
    sel = _select(df, ch.where)
    idx = np.flatnonzero(sel)
    if idx.size == 0 or ch.relative == 0:
        return df
    h = df[KEY_COLUMN].hash(seed=ch.where.seed * 1_000_003 + 5).to_numpy()[idx]
    order = idx[np.lexsort((df[KEY_COLUMN].to_numpy()[idx], h))]
    if ch.relative < 0:
        k = int(np.floor(-ch.relative * idx.size + 0.5))
        drop = np.zeros(df.height, dtype=bool)
        drop[order[:k]] = True
        return df.filter(~pl.Series(drop))
    whole, frac = divmod(ch.relative, 1.0)
    parts = []
    for j in range(int(whole) + 1):
        rows = order if j < whole else order[: int(np.floor(frac * idx.size + 0.5))]
        if rows.size == 0:
            continue
        tag = f"~v{ch.where.seed}.{j}"
        dup = df[np.sort(rows)].with_columns(pl.col(KEY_COLUMN) + tag)
        if "case_id" in df.columns and df.schema["case_id"] == pl.String:
            dup = dup.with_columns(pl.col("case_id") + tag)
        if "touched" in dup.columns:
            dup = dup.with_columns(touched=pl.lit(False))
        parts.append(dup)
    return pl.concat([df, *parts], how="vertical_relaxed")


def _regroup(df: pl.DataFrame, mask: np.ndarray | None, tables: Tables) -> tuple[pl.DataFrame, int]:
    """Regroup the rows of ``mask`` (all rows when None), keeping order and columns."""
    cols = df.columns + [c for c in RESULT_COLUMNS if c not in df.columns]
    if mask is None:
        return group_frame(df, tables).select(cols), df.height
    if not mask.any():
        return df, 0
    sub = group_frame(df.filter(pl.Series(mask)), tables).select(cols)
    return _set_rows(df, mask, sub), int(mask.sum())


def apply(
    cases: pl.DataFrame,
    scenario: Scenario,
    *,
    tables: Tables = "teaching",
    regroup: str = "touched",
    los_column: str = "los_days",
    cost_column: str = "total_cost",
) -> Applied:
    """Apply the case and table changes of ``scenario`` to grouped cases, in order.

    Parameters
    ----------
    cases : polars.DataFrame
        Grouped cases (the output of :func:`drgsim.group`, e.g. :func:`drgsim.synth.hospital`);
        ungrouped cases are grouped first.
    scenario : Scenario
    tables : str, path or TableSet
        The table set the cases are grouped under.
    regroup : {"touched", "all"}
        ``touched`` (default) regroups, after each change that alters grouper inputs, only the
        rows it altered (every row after a ``tables`` change); ``all`` regroups every row
        after each such change and once more at the end (the from-scratch check).
    los_column, cost_column : str
        The policy's LOS and cost columns.

    Returns
    -------
    Applied
    """
    if regroup not in ("touched", "all"):
        raise ScenarioError(f"regroup must be 'touched' or 'all', not {regroup!r}")
    df = with_key(cases)
    if any(isinstance(c, (Coding, Principal)) for c in scenario.changes):
        df = _as_lists(df)
    n = 0
    if any(c not in df.columns for c in RESULT_COLUMNS):
        df, n = _regroup(df, None, tables)
    df = df.with_columns(touched=pl.lit(False))
    ts: Tables = tables
    for ch in scenario.case_changes:
        mask: np.ndarray | None = None
        if isinstance(ch, Coding):
            df, mask = _coding(df, ch)
        elif isinstance(ch, Principal):
            df, mask = _principal(df, ch)
        elif isinstance(ch, Stay):
            df, mask = _los(df, ch, los_column, cost_column)
        elif isinstance(ch, Cost):
            df = _cost(df, ch, cost_column)
        elif isinstance(ch, Volume):
            df = _volume(df, ch)
        elif isinstance(ch, TablesChange):
            ts = ch.tables
            mask = np.ones(df.height, dtype=bool)
        if mask is None:
            continue
        df = df.with_columns(touched=pl.col("touched") | pl.Series(mask))
        regroup_mask = None if regroup == "all" or isinstance(ch, TablesChange) else mask
        df, k = _regroup(df, regroup_mask, ts)
        n += k
    if regroup == "all":
        df, k = _regroup(df, None, ts)
        n += k
    return Applied(df, ts, n)
