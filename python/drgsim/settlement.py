"""Year-end settlement of DRG/DIP payments: 总额预算, 月度预拨, 质量保证金, 年终清算,
结余留用 and 超支分担, as parameters of a TOML settlement policy.

:func:`settle` takes paid cases (the output of :func:`drgsim.pay` or
:func:`drgsim.dip.payment.pay`) and a :class:`SettlementPolicy`, and returns a
:class:`Settlement`: one row per hospital for the year and one row per hospital and month for
the path of the year. No city number is built in; ``policies/example_settlement.toml`` is a
documented example and ``policies/README.md`` ("Settlement policy") explains every field.

Definitions, per hospital (money in the unit of ``paid``: the whole DRG/DIP value of a case,
fund part plus patient part):

- ``nominal_value`` = Σ paid; ``drg_value`` V = the same after the floating point value
  (区域浮动点值, optional): point-valued cases are scaled by
  k = (region budget − Σ items-paid) ÷ Σ point-valued paid, so that the region's value adds up
  to its budget; cases paid by items are not scaled. k is never below 0: when the items-paid
  value alone exceeds the budget, the points are worth nothing.
- ``actual_cost`` C = Σ cost; ``patient_part`` = Σ (paid − fund part), the fund part of a case
  being ``fund_paid`` (else paid × ``[settlement] fund_share``).
- ``budget``: the hospital's share of the region's 总额预算 (explicit amounts or shares, the
  rest split in proportion to value, cost, cases, a column, or equally).
- ``surplus`` S = max(V − C, 0), ``overspend`` O = max(C − V, 0).
- Bands are brackets on a fraction of V, applied piecewise like tax brackets: with bands
  (u₁, a₁), (u₂, a₂) …, the kept part of S is a₁ × min(S, u₁V) + a₂ × clip(S − u₁V, 0,
  (u₂ − u₁)V) + …; nothing is kept beyond the last band's ``up_to``.
  ``surplus_kept`` uses the ``[surplus]`` bands (share kept by the hospital);
  ``overspend_shared`` uses the ``[overspend]`` bands (share borne by the fund), scaled down
  pro rata when the region's total exceeds the 调剂金 (``pool_share`` × region budget);
  ``overspend_borne`` = O − ``overspend_shared``.
- ``settled_before_limits`` A = C + surplus_kept − overspend_borne (= V + overspend_shared for
  an overspending hospital, C + surplus_kept for one with a surplus).
- ``settled`` = A limited to [min(C, min_of_budget × budget), max_of_budget × budget];
  ``limit_adjustment`` = settled − A (≤ 0 when capped, ≥ 0 when floored).
- Monthly: ``prepaid`` = prepayment share × the month's base and ``deposit_withheld`` =
  deposit share × the same base; the base is the month's fund part of the nominal value
  (``basis = "value"``) or the hospital's budget × its fund ratio ÷ the number of months
  (``basis = "budget"``).
- ``deposit_returned`` = deposit_withheld × clip(quality score ÷ ``full_at``, 0, 1);
  ``deposit_forfeited`` = withheld − returned.
- ``fund_paid_total`` = settled − patient_part − deposit_forfeited: what the fund pays the
  hospital for the year.
- ``clearing`` (年终清算) = fund_paid_total − prepaid − deposit_returned: the year-end payment
  besides the returned deposit (negative: the fund recovers money), so
  prepaid + clearing + deposit_returned = fund_paid_total.
- ``profit`` = fund_paid_total + patient_part − C
  = surplus_kept − overspend_borne + limit_adjustment − deposit_forfeited.

Everything is a Polars group-by or expression; the only Python loops are over bands.

Examples
--------
One hospital, value 100, cost 80, all paid by the fund, one month; 10% of the value kept in
full, beyond that half; 90% prepaid and 3% withheld:

>>> import datetime as dt
>>> import polars as pl
>>> from drgsim.settlement import parse_settlement_policy, settle
>>> policy = parse_settlement_policy({
...     "prepayment": {"share": 0.9},
...     "deposit": {"share": 0.03},
...     "surplus": {"bands": [{"up_to": 0.1, "share": 1.0}, {"share": 0.5}]},
... })
>>> paid = pl.DataFrame({"hospital_id": ["H1"], "paid": [100.0], "total_cost": [80.0],
...                      "discharge_date": [dt.date(2025, 1, 5)]})
>>> s = settle(paid, policy)
>>> s.hospitals.select("surplus", "surplus_kept", "settled", "prepaid", "clearing").row(0)
(20.0, 15.0, 95.0, 90.0, 2.0)
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from drgsim.exceptions import ColumnError
from drgsim.policy import PolicyError, PolicyProblem, read_toml, refusal

__all__ = [
    "HOSPITAL_COLUMNS",
    "MONTHLY_COLUMNS",
    "Band",
    "Budget",
    "Deposit",
    "Floating",
    "Limits",
    "Overspend",
    "Prepayment",
    "Settlement",
    "SettlementPolicy",
    "Surplus",
    "band_amount",
    "example_settlement",
    "load_settlement_policy",
    "parse_settlement_policy",
    "settle",
]

SPLITS = ("value", "cost", "cases", "equal", "column")
BASES = ("value", "budget")

#: Columns of :attr:`Settlement.hospitals` after the hospital column, in order.
HOSPITAL_COLUMNS: tuple[str, ...] = (
    "cases",
    "nominal_value",
    "drg_value",
    "actual_cost",
    "patient_part",
    "budget",
    "surplus",
    "surplus_kept",
    "overspend",
    "overspend_shared",
    "overspend_borne",
    "settled_before_limits",
    "limit_adjustment",
    "settled",
    "prepaid",
    "deposit_withheld",
    "quality_score",
    "deposit_returned",
    "deposit_forfeited",
    "fund_paid_total",
    "clearing",
    "profit",
)
#: Columns of :attr:`Settlement.monthly` after the hospital column, in order.
MONTHLY_COLUMNS: tuple[str, ...] = (
    "month",
    "cases",
    "value",
    "cost",
    "fund_value",
    "prepaid",
    "deposit_withheld",
    "cum_value",
    "cum_cost",
    "cum_prepaid",
    "cum_deposit_withheld",
    "cum_balance",
)


def _share(v: float | None, what: str, *, upper: float = 1.0) -> None:
    if v is not None and not (0.0 <= v <= upper):
        raise PolicyError(f"{what} must be in [0, {upper:g}], not {v!r}")


@dataclass(frozen=True)
class Band:
    """One bracket: the part of an amount between the previous band's ``up_to`` and this one's
    (fractions of the hospital's DRG value) counts at ``share``; ``up_to=None`` is open-ended."""

    up_to: float | None
    share: float

    def __post_init__(self) -> None:
        _share(self.share, "share")
        if self.up_to is not None and not self.up_to > 0:
            raise PolicyError(f"up_to must be positive, not {self.up_to!r}")


def _as_bands(obj: Any, where: str) -> None:
    """Normalise ``obj.bands`` (a list of Band or of ``{up_to, share}`` tables) to a tuple of
    Band, in place on a frozen dataclass, and check it."""
    bands = obj.bands
    if not isinstance(bands, (list, tuple)):
        raise PolicyError(f"{where} bands must be a list of {{up_to = ..., share = ...}}")
    out = []
    for i, b in enumerate(bands):
        if isinstance(b, Mapping):
            if "share" not in b or set(b) - {"up_to", "share"}:
                raise PolicyError(f"{where} bands[{i}] must be a table {{up_to, share}}")
            up = b.get("up_to")
            b = Band(None if up is None else float(up), float(b["share"]))
        out.append(b)
    object.__setattr__(obj, "bands", tuple(out))
    _check_bands(obj.bands, where)


def _check_bands(bands: tuple[Band, ...], where: str) -> None:
    prev = 0.0
    for i, b in enumerate(bands):
        if not isinstance(b, Band):
            raise PolicyError(f"{where} bands[{i}] must be a Band")
        if prev == math.inf:
            raise PolicyError(f"{where} bands[{i}]: only the last band may leave out up_to")
        up = math.inf if b.up_to is None else b.up_to
        if up <= prev:
            raise PolicyError(f"{where} bands[{i}]: up_to must increase ({up:g} ≤ {prev:g})")
        prev = up


@dataclass(frozen=True)
class Budget:
    """总额预算 of the region and its split by hospital.

    Attributes
    ----------
    total : float or None
        Region total budget in the money of ``paid`` (a fund-only budget ÷ the reimbursement
        ratio). None: ``of_value`` or the sum of ``hospitals``; without either there is no
        budget (no limits, no floating point value).
    of_value : float or None
        Region total = ``of_value`` × Σ nominal value of the cases (a what-if stand-in when
        the data has no real budget, e.g. last year's spending × growth).
    split : {"value", "cost", "cases", "equal", "column"}
        How the budget left after ``hospitals`` and ``shares`` is split among the other
        hospitals: in proportion to their DRG value, cost, cases, equally, or to the
        hospital-level column ``split_column`` (e.g. last year's value).
    split_column : str or None
        Column for ``split = "column"`` (its first value per hospital).
    hospitals : dict
        Explicit budget amounts by hospital id.
    shares : dict
        Explicit shares of the region total by hospital id.
    """

    total: float | None = None
    of_value: float | None = None
    split: str = "value"
    split_column: str | None = None
    hospitals: Mapping[str, float] = field(default_factory=dict)
    shares: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise PolicyError(f"[budget] split must be one of {', '.join(SPLITS)}")
        if self.split == "column" and not self.split_column:
            raise PolicyError("[budget] split = 'column' needs split_column")
        if self.total is not None and self.of_value is not None:
            raise PolicyError("[budget] give total or of_value, not both")
        for k, v in (("total", self.total), ("of_value", self.of_value)):
            if v is not None and v < 0:
                raise PolicyError(f"[budget] {k} must not be negative")
        if any(v < 0 for v in self.hospitals.values()):
            raise PolicyError("[budget.hospitals] amounts must not be negative")
        for h, s in self.shares.items():
            _share(s, f"[budget.shares] {h}")
        if sum(self.shares.values()) > 1 + 1e-9:
            raise PolicyError("[budget.shares] add up to more than 1")
        if self.shares and self.total is None and self.of_value is None:
            raise PolicyError("[budget.shares] needs total or of_value")
        if set(self.hospitals) & set(self.shares):
            raise PolicyError("[budget] a hospital is in both hospitals and shares")

    @property
    def defined(self) -> bool:
        """Whether there is a budget at all."""
        return self.total is not None or self.of_value is not None or bool(self.hospitals)


@dataclass(frozen=True)
class Prepayment:
    """月度预拨.

    Attributes
    ----------
    share : float
        Share of the month's base prepaid (e.g. ≥ 0.85 in Zhejiang [HZ]).
    basis : {"value", "budget"}
        The month's base: the fund part of the month's DRG/DIP value, or the hospital's
        budget × its fund ratio ÷ the number of months.
    """

    share: float = 0.9
    basis: str = "value"

    def __post_init__(self) -> None:
        _share(self.share, "[prepayment] share")
        if self.basis not in BASES:
            raise PolicyError(f"[prepayment] basis must be one of {', '.join(BASES)}")


@dataclass(frozen=True)
class Deposit:
    """质量保证金, withheld monthly and returned at year end by a quality score.

    Attributes
    ----------
    share : float
        Share of the month's base withheld (3% in Chongqing [CQ]).
    score_column : str
        Hospital-level column with the quality score (its first value per hospital).
    scores : dict
        Quality score by hospital id (wins over the column).
    default_score : float
        Score of a hospital with neither.
    full_at : float
        Score at or above which the whole deposit is returned; below it the returned share is
        score ÷ full_at (e.g. ``full_at = 90`` for a 百分制 score).
    """

    share: float = 0.0
    score_column: str = "quality_score"
    scores: Mapping[str, float] = field(default_factory=dict)
    default_score: float = 1.0
    full_at: float = 1.0

    def __post_init__(self) -> None:
        _share(self.share, "[deposit] share")
        if not self.full_at > 0:
            raise PolicyError("[deposit] full_at must be positive")


@dataclass(frozen=True)
class Surplus:
    """结余留用: ``bands`` give the share of the surplus the hospital keeps."""

    bands: tuple[Band, ...] = (Band(None, 1.0),)

    def __post_init__(self) -> None:
        _as_bands(self, "[surplus]")


@dataclass(frozen=True)
class Overspend:
    """超支分担: ``bands`` give the share of the overspend the fund bears; the rest is the
    hospital's. ``pool_share``: the 调剂金 (share of the region budget, e.g. 5% [DOC]) limits
    the region's shared total (None: unlimited)."""

    bands: tuple[Band, ...] = ()
    pool_share: float | None = None

    def __post_init__(self) -> None:
        _as_bands(self, "[overspend]")
        _share(self.pool_share, "[overspend] pool_share")


@dataclass(frozen=True)
class Limits:
    """Cap and floor on the settled amount, as multiples of the hospital's budget."""

    max_of_budget: float | None = None
    min_of_budget: float | None = None

    def __post_init__(self) -> None:
        for k in ("max_of_budget", "min_of_budget"):
            v = getattr(self, k)
            if v is not None and v < 0:
                raise PolicyError(f"[limits] {k} must not be negative")
        lo, hi = self.min_of_budget, self.max_of_budget
        if lo is not None and hi is not None and lo > hi:
            raise PolicyError("[limits] min_of_budget is above max_of_budget")


@dataclass(frozen=True)
class Floating:
    """区域浮动点值: the region's point-valued cases are rescaled so that the region's value
    adds up to its budget (点值 = fund ÷ region total points [FQ] [DIPW]).

    Attributes
    ----------
    enabled : bool
        Apply it.
    points_column : str
        A case is point-valued when this column is present and not null (DIP: cases paid by
        items have no points); without the column every case is.
    class_column, fixed_classes : str, tuple of str
        Cases whose class is in ``fixed_classes`` (``excluded``: paid by items) are not
        rescaled.
    """

    enabled: bool = False
    points_column: str = "points"
    class_column: str = "case_class"
    fixed_classes: tuple[str, ...] = ("excluded",)

    def selects(self, df: pl.DataFrame) -> pl.Expr:
        """Whether each case's value floats with the point value: it has points (when the
        frame has a points column) and its class is not one of ``fixed_classes``."""
        e = pl.lit(True)
        if self.points_column in df.columns:
            e = pl.col(self.points_column).is_not_null()
        if self.class_column in df.columns:
            cls = pl.col(self.class_column).cast(pl.String)
            e = e & ~cls.is_in(list(self.fixed_classes)).fill_null(False)
        return e


@dataclass(frozen=True)
class SettlementPolicy:
    """A settlement policy (see ``policies/README.md``, "Settlement policy").

    Attributes
    ----------
    name, source : str
        What the policy is and where its numbers come from.
    value_column, cost_column, fund_column : str
        Case columns: the DRG/DIP value (``paid``), the actual cost, the fund's part.
    fund_share : float
        Fund part of a case whose ``fund_paid`` is null or missing (1: the fund pays all).
    month_column, date_column : str
        The month of a case: ``month_column`` when present, else the month of
        ``date_column`` (a Date), else one period for the year.
    budget, prepayment, deposit, surplus, overspend, limits, floating
        The sections.
    """

    name: str = ""
    source: str = ""
    value_column: str = "paid"
    cost_column: str = "total_cost"
    fund_column: str = "fund_paid"
    fund_share: float = 1.0
    month_column: str = "month"
    date_column: str = "discharge_date"
    budget: Budget = field(default_factory=Budget)
    prepayment: Prepayment = field(default_factory=Prepayment)
    deposit: Deposit = field(default_factory=Deposit)
    surplus: Surplus = field(default_factory=Surplus)
    overspend: Overspend = field(default_factory=Overspend)
    limits: Limits = field(default_factory=Limits)
    floating: Floating = field(default_factory=Floating)
    path: Path | None = None

    def __post_init__(self) -> None:
        _share(self.fund_share, "[settlement] fund_share")
        if self.prepayment.share + self.deposit.share > 1 + 1e-12:
            raise PolicyError("[prepayment] share + [deposit] share must not exceed 1")
        if self.overspend.pool_share is not None and not self.budget.defined:
            raise PolicyError("[overspend] pool_share needs a [budget]")
        lim = self.limits
        if (lim.max_of_budget is not None or lim.min_of_budget is not None) and (
            not self.budget.defined
        ):
            raise PolicyError("[limits] need a [budget]")
        if self.floating.enabled and not self.budget.defined:
            raise PolicyError("[floating] enabled needs a [budget] total")
        if self.prepayment.basis == "budget" and not self.budget.defined:
            raise PolicyError("[prepayment] basis = 'budget' needs a [budget]")

    def replace(self, **changes: Any) -> SettlementPolicy:
        """A copy with fields changed, validated again; ``section__field`` names a field of a
        section (for what-if runs).

        Examples
        --------
        >>> p = example_settlement().replace(prepayment__share=0.95, name="what-if")
        >>> p.prepayment.share, p.name
        (0.95, 'what-if')
        """
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for k, v in changes.items():
            if "__" in k:
                sec, f = k.split("__", 1)
                nested.setdefault(sec, {})[f] = v
            else:
                top[k] = v
        for sec, fields in nested.items():
            if not hasattr(self, sec) or not dataclasses.is_dataclass(getattr(self, sec)):
                raise PolicyError(f"no section {sec!r} in a settlement policy")
            try:
                top[sec] = dataclasses.replace(getattr(self, sec), **fields)
            except TypeError as e:
                raise PolicyError(f"[{sec}]: {e}") from None
        try:
            return dataclasses.replace(self, **top)
        except TypeError as e:
            raise PolicyError(str(e)) from None


# --------------------------------------------------------------------------- parsing

_KEYS: dict[str, set[str]] = {
    "settlement": {"name", "source", "value_column", "cost_column", "fund_column", "fund_share",
                   "month_column", "date_column"},
    "budget": {"total", "of_value", "split", "split_column", "hospitals", "shares"},
    "prepayment": {"share", "basis"},
    "deposit": {"share", "score_column", "scores", "default_score", "full_at"},
    "surplus": {"bands"},
    "overspend": {"bands", "pool_share"},
    "limits": {"max_of_budget", "min_of_budget"},
    "floating": {"enabled", "points_column", "class_column", "fixed_classes"},
}  # fmt: skip


def _num(d: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float | None:
    v = d.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PolicyError(f"{where} '{key}' must be a number, not {v!r}")
    return float(v)


def _str(d: Mapping[str, Any], key: str, where: str, default: str) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise PolicyError(f"{where} '{key}' must be a string, not {v!r}")
    return v


def _table(d: Mapping[str, Any], key: str, where: str) -> dict[str, float]:
    v = d.get(key, {})
    if not isinstance(v, dict):
        raise PolicyError(f"{where} '{key}' must be a table of numbers by hospital id")
    out = {}
    for k, x in v.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise PolicyError(f"{where} {key}.{k} must be a number, not {x!r}")
        out[str(k)] = float(x)
    return out


def _bands(d: Mapping[str, Any], where: str) -> tuple[Band, ...] | None:
    if "bands" not in d:
        return None
    v = d["bands"]
    if not isinstance(v, list):
        raise PolicyError(f"{where} 'bands' must be a list of {{up_to = ..., share = ...}}")
    out = []
    for i, b in enumerate(v):
        w = f"{where} bands[{i}]"
        if not isinstance(b, dict) or set(b) - {"up_to", "share"} or "share" not in b:
            raise PolicyError(f"{w} must be a table {{up_to = fraction, share = fraction}}")
        up, share = _num(b, "up_to", w), _num(b, "share", w) or 0.0
        try:
            out.append(Band(up, share))
        except PolicyError as e:
            raise PolicyError(f"{w}: {e}") from None
    return tuple(out)


def parse_settlement_policy(
    data: Mapping[str, Any], where: str = "settlement policy"
) -> SettlementPolicy:
    """Validate a parsed TOML document into a :class:`SettlementPolicy`.

    Every section is optional; an empty document is a policy with no budget, 90% monthly
    prepayment, no deposit, the whole surplus kept and the whole overspend borne.

    Raises
    ------
    PolicyError
        An unknown section or key, or a wrong value; the message names ``where``, the section
        and the field.

    Examples
    --------
    >>> p = parse_settlement_policy({"surplus": {"bands": [{"up_to": 0.1, "share": 1}]}})
    >>> p.surplus.bands
    (Band(up_to=0.1, share=1.0),)
    >>> parse_settlement_policy({"deposit": {"share": 3}}, "x.toml")
    Traceback (most recent call last):
    ...
    drgsim.policy.PolicyError: x.toml: [deposit] share must be in [0, 1], not 3.0
    """
    for section, value in data.items():
        if section not in _KEYS:
            raise PolicyError(f"{where}: unknown section [{section}]; known: {', '.join(_KEYS)}")
        if not isinstance(value, dict):
            raise PolicyError(f"{where}: [{section}] must be a table")
        unknown = set(value) - _KEYS[section]
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)} in [{section}]")
    try:
        s = data.get("settlement", {})
        w = "[settlement]"
        b = data.get("budget", {})
        bw = "[budget]"
        budget = Budget(
            total=_num(b, "total", bw),
            of_value=_num(b, "of_value", bw),
            split=_str(b, "split", bw, "value"),
            split_column=_str(b, "split_column", bw, "") or None,
            hospitals=_table(b, "hospitals", bw),
            shares=_table(b, "shares", bw),
        )
        pp = data.get("prepayment", {})
        prepayment = Prepayment(
            share=_num(pp, "share", "[prepayment]", 0.9) or 0.0,
            basis=_str(pp, "basis", "[prepayment]", "value"),
        )
        d = data.get("deposit", {})
        dw = "[deposit]"
        deposit = Deposit(
            share=_num(d, "share", dw, 0.0) or 0.0,
            score_column=_str(d, "score_column", dw, "quality_score"),
            scores=_table(d, "scores", dw),
            default_score=_num(d, "default_score", dw, 1.0) or 0.0,
            full_at=_num(d, "full_at", dw, 1.0) or 0.0,
        )
        su = data.get("surplus", {})
        sb = _bands(su, "[surplus]")
        surplus = Surplus() if sb is None else Surplus(sb)
        o = data.get("overspend", {})
        overspend = Overspend(
            bands=_bands(o, "[overspend]") or (),
            pool_share=_num(o, "pool_share", "[overspend]"),
        )
        lm = data.get("limits", {})
        limits = Limits(
            max_of_budget=_num(lm, "max_of_budget", "[limits]"),
            min_of_budget=_num(lm, "min_of_budget", "[limits]"),
        )
        fl = data.get("floating", {})
        fw = "[floating]"
        enabled = fl.get("enabled", False)
        if not isinstance(enabled, bool):
            raise PolicyError(f"{fw} 'enabled' must be true or false, not {enabled!r}")
        fixed = fl.get("fixed_classes", ["excluded"])
        if not isinstance(fixed, list) or not all(isinstance(x, str) for x in fixed):
            raise PolicyError(f"{fw} 'fixed_classes' must be a list of strings")
        floating = Floating(
            enabled=enabled,
            points_column=_str(fl, "points_column", fw, "points"),
            class_column=_str(fl, "class_column", fw, "case_class"),
            fixed_classes=tuple(fixed),
        )
        return SettlementPolicy(
            name=_str(s, "name", w, ""),
            source=_str(s, "source", w, ""),
            value_column=_str(s, "value_column", w, "paid"),
            cost_column=_str(s, "cost_column", w, "total_cost"),
            fund_column=_str(s, "fund_column", w, "fund_paid"),
            fund_share=_num(s, "fund_share", w, 1.0) or 0.0,
            month_column=_str(s, "month_column", w, "month"),
            date_column=_str(s, "date_column", w, "discharge_date"),
            budget=budget,
            prepayment=prepayment,
            deposit=deposit,
            surplus=surplus,
            overspend=overspend,
            limits=limits,
            floating=floating,
        )
    except PolicyError as e:
        raise PolicyError(f"{where}: {e}") from None


def load_settlement_policy(path: str | Path) -> SettlementPolicy:
    """Read and validate a settlement policy TOML file.

    Raises
    ------
    PolicyError
        The file cannot be read, is not TOML, or a field is wrong; the message names both.
    """
    p = Path(path)
    data = read_toml(p, "settlement policy", PolicyError)
    return dataclasses.replace(parse_settlement_policy(data, str(p)), path=p)


def example_settlement() -> SettlementPolicy:
    """The shipped, documented example (``policies/example_settlement.toml``).

    Examples
    --------
    >>> p = example_settlement()
    >>> p.deposit.share, p.overspend.pool_share
    (0.03, 0.05)
    """
    res = resources.files("drgsim") / "policies" / "example_settlement.toml"
    with resources.as_file(res) as p:
        return load_settlement_policy(p)


# --------------------------------------------------------------------------- settlement


def band_amount(amount: pl.Expr, value: pl.Expr, bands: tuple[Band, ...]) -> pl.Expr:
    """Σ over bands of share × the part of ``amount`` inside the band, bands being fractions
    of ``value`` (piecewise, like tax brackets); the part beyond the last band counts 0.

    Examples
    --------
    >>> import polars as pl
    >>> bands = (Band(0.1, 1.0), Band(None, 0.5))
    >>> df = pl.DataFrame({"x": [5.0, 30.0], "v": [100.0, 100.0]})
    >>> df.select(band_amount(pl.col("x"), pl.col("v"), bands)).to_series().to_list()
    [5.0, 20.0]
    """
    out: pl.Expr = pl.lit(0.0)
    lo = 0.0
    for b in bands:
        part = pl.max_horizontal(amount - lo * value, pl.lit(0.0))
        if b.up_to is not None:
            part = pl.min_horizontal(part, pl.max_horizontal((b.up_to - lo) * value, 0.0))
        out = out + b.share * part
        lo = b.up_to if b.up_to is not None else math.inf
    return out


@dataclass
class Settlement:
    """The result of :func:`settle`.

    Attributes
    ----------
    hospitals : polars.DataFrame
        One row per hospital: the hospital column, then :data:`HOSPITAL_COLUMNS` (definitions
        in the module docstring).
    monthly : polars.DataFrame
        One row per hospital and month: the hospital column, then :data:`MONTHLY_COLUMNS`
        (``value``/``cost``: nominal value and cost of the month, ``fund_value`` its fund
        part, ``cum_*`` running totals within the hospital, ``cum_balance`` = cum_value −
        cum_cost).
    region : dict
        ``budget`` (region total or None), ``value_factor`` (the floating point value's
        scaling, 1 without it), ``pool`` (调剂金 or None), ``pool_factor`` (share of the banded
        overspend the pool could pay), ``months``.
    policy : SettlementPolicy
    by : str
        The hospital column.
    """

    hospitals: pl.DataFrame
    monthly: pl.DataFrame
    region: dict[str, Any]
    policy: SettlementPolicy
    by: str = "hospital_id"

    def total(self) -> pl.DataFrame:
        """One row of region totals (sums; ``quality_score`` null; the hospital column
        ``"total"``)."""
        h = self.hospitals
        aggs = [
            pl.lit(None, dtype=pl.Float64).alias(c) if c == "quality_score" else pl.col(c).sum()
            for c in HOSPITAL_COLUMNS
        ]
        return h.select(pl.lit("total").alias(self.by), *aggs)

    def with_total(self) -> pl.DataFrame:
        """:attr:`hospitals` with the hospital column as text and a ``total`` row at the end."""
        h = self.hospitals.with_columns(pl.col(self.by).cast(pl.String))
        return pl.concat([h, self.total()], how="vertical_relaxed")

    def summary(self) -> str:
        """A short text report: the region and one line per hospital."""
        t = self.total().row(0, named=True)
        r = self.region
        p = self.policy
        lines = [
            f"settlement{' ' + p.name if p.name else ''}: {self.hospitals.height} hospitals, "
            f"{t['cases']:,} cases, {r['months']} months",
            f"  value {t['drg_value']:,.0f} (nominal {t['nominal_value']:,.0f}, factor "
            f"{r['value_factor']:.4f}), cost {t['actual_cost']:,.0f}, budget "
            + ("none" if r["budget"] is None else f"{r['budget']:,.0f}"),
            f"  surplus {t['surplus']:,.0f} kept {t['surplus_kept']:,.0f}; overspend "
            f"{t['overspend']:,.0f} shared {t['overspend_shared']:,.0f} borne "
            f"{t['overspend_borne']:,.0f}",
            f"  fund pays {t['fund_paid_total']:,.0f} = prepaid {t['prepaid']:,.0f} + clearing "
            f"{t['clearing']:,.0f} + deposit returned {t['deposit_returned']:,.0f}; "
            f"profit {t['profit']:,.0f}",
        ]
        for row in self.hospitals.iter_rows(named=True):
            lines.append(
                f"  {row[self.by]}: value {row['drg_value']:,.0f} cost {row['actual_cost']:,.0f}"
                f" settled {row['settled']:,.0f} clearing {row['clearing']:,.0f}"
                f" profit {row['profit']:,.0f}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>" + self.with_total()._repr_html_()


def _month_expr(df: pl.DataFrame, policy: SettlementPolicy) -> pl.Expr:
    if policy.month_column in df.columns:
        return pl.col(policy.month_column)
    if policy.date_column in df.columns:
        d = pl.col(policy.date_column)
        if df.schema[policy.date_column] == pl.String:
            d = d.str.to_date(strict=False)
        return d.dt.truncate("1mo").cast(pl.Date)
    return pl.lit("year")


def _budget(h: pl.DataFrame, by: str, b: Budget, total: float | None) -> pl.Expr:
    """The hospital's budget; ``h`` has the split weights as ``_w``."""
    key = pl.col(by).cast(pl.String)
    named = key.replace_strict(dict(b.hospitals), default=None, return_dtype=pl.Float64)
    if total is None:
        return named
    shared = key.replace_strict(dict(b.shares), default=None, return_dtype=pl.Float64) * total
    ids = h[by].cast(pl.String)
    explicit = sum(v for k, v in b.hospitals.items() if k in set(ids.to_list())) + total * sum(
        v for k, v in b.shares.items() if k in set(ids.to_list())
    )
    rest = max(total - explicit, 0.0)
    other = ~(key.is_in(list(b.hospitals)) | key.is_in(list(b.shares)))
    w = pl.when(other).then(pl.col("_w").fill_null(0.0).clip(lower_bound=0.0)).otherwise(0.0)
    return pl.coalesce(
        named,
        shared,
        pl.when(w.sum() > 0).then(rest * w / w.sum()).otherwise(0.0),
    )


def settle(
    paid: pl.DataFrame | pl.LazyFrame,
    policy: SettlementPolicy,
    *,
    by: str = "hospital_id",
    budget: float | None = None,
) -> Settlement:
    """Settle a year of paid cases by hospital under ``policy``.

    Parameters
    ----------
    paid : polars.DataFrame or LazyFrame
        Paid cases (:func:`drgsim.pay` or :func:`drgsim.dip.payment.pay` output): the hospital
        column, the value (``paid``) and cost (``total_cost``) columns; optionally
        ``fund_paid``, a month or discharge date, ``points`` and ``case_class``, the
        quality-score and budget-split columns the policy names.
    policy : SettlementPolicy
    by : str
        The hospital column.
    budget : float, optional
        Region total budget, overriding the policy's ``[budget] total`` / ``of_value``.

    Returns
    -------
    Settlement

    Raises
    ------
    ColumnError
        A needed column is missing.
    PolicyError
        The policy needs a budget and the data gives none.

    Examples
    --------
    Two hospitals, a budget of 200 split by value, overspend up to 10% of the value shared half
    by the fund: A (value 100, cost 120) gets 100 + 0.5 × 10 = 105; B (value 100, cost 90)
    keeps its whole surplus and gets 100.

    >>> import polars as pl
    >>> p = parse_settlement_policy({"budget": {"total": 200.0},
    ...     "overspend": {"bands": [{"up_to": 0.1, "share": 0.5}]}})
    >>> paid = pl.DataFrame({"hospital_id": ["A", "B"], "paid": [100.0, 100.0],
    ...                      "total_cost": [120.0, 90.0]})
    >>> settle(paid, p).hospitals.select("hospital_id", "budget", "overspend_shared",
    ...                                  "overspend_borne", "settled").rows()
    [('A', 100.0, 5.0, 15.0, 105.0), ('B', 100.0, 0.0, 0.0, 100.0)]
    """
    df = paid.collect() if isinstance(paid, pl.LazyFrame) else paid
    pol = policy
    for col, why in ((by, "the hospital"), (pol.value_column, "the DRG/DIP value"),
                     (pol.cost_column, "the actual cost")):  # fmt: skip
        if col not in df.columns:
            raise ColumnError(col, f"missing column {col!r} ({why}) needed for settlement")
    value = pl.col(pol.value_column).cast(pl.Float64, strict=False).fill_null(0.0)
    fund = value * pol.fund_share
    if pol.fund_column in df.columns:
        fund = pl.coalesce(pl.col(pol.fund_column).cast(pl.Float64, strict=False), fund)
    fl = pol.floating
    floating = fl.selects(df)
    base = df.select(
        pl.col(by),
        _month_expr(df, pol).alias("month"),
        value.alias("_v"),
        pl.col(pol.cost_column).cast(pl.Float64, strict=False).fill_null(0.0).alias("_c"),
        fund.fill_null(0.0).alias("_f"),
        floating.alias("_fl"),
    )
    extra: list[pl.Expr] = []
    if pol.budget.split == "column":
        col = pol.budget.split_column or ""
        if col not in df.columns:
            raise ColumnError(col, f"missing column {col!r} ([budget] split_column)")
        extra.append(pl.col(col).cast(pl.Float64, strict=False).first().alias("_split"))
    if pol.deposit.score_column in df.columns:
        extra.append(
            pl.col(pol.deposit.score_column).cast(pl.Float64, strict=False).first().alias("_q")
        )
    # per-hospital aggregates
    aggs = [
        pl.len().alias("cases"),
        pl.col("_v").sum().alias("nominal_value"),
        pl.col("_v").filter(pl.col("_fl")).sum().alias("_point_value"),
        pl.col("_c").sum().alias("actual_cost"),
        pl.col("_f").sum().alias("_fund_value"),
    ]
    h = base.group_by(by).agg(aggs)
    if extra:
        h = h.join(df.group_by(by).agg(extra), on=by, how="left")
    h = h.sort(by)
    months = base["month"].n_unique()
    # floating point value
    nominal_total = float(h["nominal_value"].sum())
    b = pol.budget
    total = budget
    if total is None:
        if b.total is not None:
            total = b.total
        elif b.of_value is not None:
            total = b.of_value * nominal_total
        elif b.hospitals:
            total = None  # per-hospital amounts only
    factor = 1.0
    if fl.enabled:
        region_budget = total if total is not None else sum(b.hospitals.values())
        points = float(h["_point_value"].sum())
        items = nominal_total - points
        # When the fixed (items-paid) value alone exceeds the budget, nothing is left for
        # the points: their value is 0, never negative.
        factor = max((region_budget - items) / points, 0.0) if points > 0 else 1.0
    h = h.with_columns(
        drg_value=pl.col("nominal_value") + (factor - 1.0) * pl.col("_point_value"),
        patient_part=pl.col("nominal_value") - pl.col("_fund_value"),
    )
    weight = {
        "value": pl.col("drg_value"),
        "cost": pl.col("actual_cost"),
        "cases": pl.col("cases").cast(pl.Float64),
        "equal": pl.lit(1.0),
        "column": pl.col("_split") if "_split" in h.columns else pl.lit(0.0),
    }[b.split]
    h = h.with_columns(_w=weight)
    if b.defined or budget is not None:
        h = h.with_columns(budget=_budget(h, by, b, total))
    else:
        h = h.with_columns(budget=pl.lit(None, dtype=pl.Float64))
    needs_budget = (
        pol.limits.max_of_budget is not None
        or pol.limits.min_of_budget is not None
        or pol.prepayment.basis == "budget"
        or pol.overspend.pool_share is not None
    )
    if needs_budget and h["budget"].null_count() == h.height and h.height > 0:
        raise PolicyError("the policy needs a budget: set [budget] total or pass budget=")
    v, c = pl.col("drg_value"), pl.col("actual_cost")
    h = h.with_columns(
        surplus=pl.max_horizontal(v - c, pl.lit(0.0)),
        overspend=pl.max_horizontal(c - v, pl.lit(0.0)),
    ).with_columns(
        surplus_kept=band_amount(pl.col("surplus"), v, pol.surplus.bands),
        overspend_shared=band_amount(pl.col("overspend"), v, pol.overspend.bands),
    )
    pool = None
    pool_factor = 1.0
    if pol.overspend.pool_share is not None:
        region_budget = total if total is not None else float(h["budget"].sum())
        pool = pol.overspend.pool_share * region_budget
        shared = float(h["overspend_shared"].sum())
        pool_factor = min(1.0, pool / shared) if shared > 0 else 1.0
        h = h.with_columns(overspend_shared=pl.col("overspend_shared") * pool_factor)
    h = h.with_columns(
        overspend_borne=pl.col("overspend") - pl.col("overspend_shared")
    ).with_columns(settled_before_limits=c + pl.col("surplus_kept") - pl.col("overspend_borne"))
    a = pl.col("settled_before_limits")
    settled = a
    lim = pol.limits
    if lim.min_of_budget is not None:
        floor = pl.min_horizontal(c, lim.min_of_budget * pl.col("budget"))
        settled = pl.when(floor > settled).then(floor).otherwise(settled)
    if lim.max_of_budget is not None:
        cap = lim.max_of_budget * pl.col("budget")
        settled = pl.when(cap < settled).then(cap).otherwise(settled)
    h = h.with_columns(settled=settled).with_columns(limit_adjustment=pl.col("settled") - a)
    # monthly path
    m = base.group_by(by, "month").agg(
        pl.len().alias("cases"),
        pl.col("_v").sum().alias("value"),
        pl.col("_c").sum().alias("cost"),
        pl.col("_f").sum().alias("fund_value"),
    )
    if pol.prepayment.basis == "value":
        mbase = pl.col("fund_value")
    else:
        ratio = h.select(
            by,
            (
                pl.col("budget").fill_null(0.0)
                * pl.when(pl.col("nominal_value") != 0)
                .then(pl.col("_fund_value") / pl.col("nominal_value"))
                .otherwise(pol.fund_share)
                / months
            ).alias("_mb"),
        )
        m = m.join(ratio, on=by, how="left")
        mbase = pl.col("_mb")
    m = (
        m.with_columns(
            prepaid=pol.prepayment.share * mbase,
            deposit_withheld=pol.deposit.share * mbase,
        )
        .sort(by, "month")
        .with_columns(
            cum_value=pl.col("value").cum_sum().over(by),
            cum_cost=pl.col("cost").cum_sum().over(by),
            cum_prepaid=pl.col("prepaid").cum_sum().over(by),
            cum_deposit_withheld=pl.col("deposit_withheld").cum_sum().over(by),
        )
        .with_columns(cum_balance=pl.col("cum_value") - pl.col("cum_cost"))
        .select(by, *MONTHLY_COLUMNS)
    )
    h = h.join(
        m.group_by(by).agg(pl.col("prepaid").sum(), pl.col("deposit_withheld").sum()),
        on=by,
        how="left",
    )
    dep = pol.deposit
    key = pl.col(by).cast(pl.String)
    score = pl.lit(dep.default_score)
    if "_q" in h.columns:
        score = pl.coalesce(pl.col("_q"), score)
    if dep.scores:
        score = key.replace_strict(dict(dep.scores), default=score, return_dtype=pl.Float64)
    h = (
        h.with_columns(quality_score=score.cast(pl.Float64))
        .with_columns(
            deposit_returned=pl.col("deposit_withheld")
            * (pl.col("quality_score") / dep.full_at).clip(0.0, 1.0)
        )
        .with_columns(deposit_forfeited=pl.col("deposit_withheld") - pl.col("deposit_returned"))
        .with_columns(
            fund_paid_total=pl.col("settled") - pl.col("patient_part") - pl.col("deposit_forfeited")
        )
        .with_columns(
            clearing=pl.col("fund_paid_total") - pl.col("prepaid") - pl.col("deposit_returned"),
            profit=pl.col("fund_paid_total") + pl.col("patient_part") - c,
        )
        .with_columns(pl.col("cases").cast(pl.Int64))
        .select(by, *HOSPITAL_COLUMNS)
    )
    region = {
        "budget": total if total is not None else (
            float(h["budget"].sum()) if h["budget"].null_count() < h.height else None
        ),
        "value_factor": factor,
        "pool": pool,
        "pool_factor": pool_factor,
        "months": months,
    }  # fmt: skip
    return Settlement(hospitals=h, monthly=m, region=region, policy=pol, by=by)


def problems(data: Mapping[str, Any]) -> list[PolicyProblem]:
    """The problems of a parsed settlement policy document, each with its TOML key: the one
    that refuses it (a settlement policy is checked as it is built: shares in [0, 1], bands
    whose ``up_to`` increase, a floor not above the cap, sections that need a budget), or none.

    Examples
    --------
    >>> [str(p) for p in problems({"limits": {"max_of_budget": 1.0, "min_of_budget": 1.2}})]
    ['limits.min_of_budget: [limits] min_of_budget is above max_of_budget']
    >>> problems({})
    []
    """
    return refusal(parse_settlement_policy, data, "settlement policy", _KEYS)
