"""DIP payment (按病种分值付费): deviation cases, coefficients, points and point values.

:func:`pay` takes matched cases (the output of :func:`drgsim.dip.match`: ``dip_group``,
``dip_score``, ``dip_kind``, ``dip_reason``; plus the cost and the columns the policy names)
and adds, per case:

=========================  ====================================================================
column                     meaning
=========================  ====================================================================
``deviation``              ``normal``, ``high`` (高倍率), ``low`` (低倍率), ``extreme`` (> 5×,
                           for expert review) or ``blank`` (空白病组 KBBZ and invalid cases)
``deviation_reason``       why
``base_cost``              the group's average cost the ratio divides by (policy ``base``)
``cost_ratio``             cost ÷ ``base_cost``
``hospital_coefficient``   等级系数 (per hospital, else by level, else the default)
``deviation_coefficient``  1 for normal cases; the deviation formula otherwise (below)
``severity_level``         辅助目录 severity level 0–3
``aux_coefficient``        辅助目录 coefficient (severity × age × tumour × death, or their max)
``coefficient``            what multiplies the score: points = score × coefficient
``points``                 病例分值 (null for a case paid by items)
``point_value``            点值 of the case's insurance type (fixed, budget or settlement)
``paid``                   points × point value, or cost × items ratio for a case paid by items
``fund_paid``              ``paid`` × reimbursement ratio (null without a ratio in the policy);
                           ``patient_paid`` the rest
``profit``                 盈亏: ``paid`` − cost
``review``                 true for extreme cases (极端异常, 专家评议)
=========================  ====================================================================

Formulas, with r = cost ÷ average cost, H the high threshold (policy ``[deviation]``):

- normal: coefficient = 等级系数 × 辅助系数 [DIPW];
- low (r < 0.5): deviation coefficient = r [DIPW];
- high (r > 2): ``excess_plus_one`` (r − H) + 1 [DIPW], or ``excess_plus_hospital``
  r − H + 医院系数 (Jining [JN]);
- extreme (r > 5): flagged ``review``; paid as high (``high``), with the hospital coefficient
  (``hospital``, [JN]), by items or as normal;
- a deviation case's coefficient = deviation coefficient × (辅助系数 when ``with_aux``) ×
  (等级系数 when ``with_hospital_coefficient``);
- blank: by items, or points = cost ÷ cost per point × factor ([JN]: × 0.7).

Point values per insurance type (pool), with P the pool's total points and I its items-paid
amounts: 预算点值 = (spending − I) ÷ P; 结算点值 = (fund ÷ reimbursement ratio − I) ÷ P
[DIPW] (I only with ``deduct_items``), so that under the settlement point value the pool's
payments add up to fund ÷ ratio, and the fund parts to the fund.

Everything is a Polars expression or a group-by; there is no Python loop over cases.

Examples
--------
The worked DIP example of the design notes (domain.md section 6): 分值 800, average cost 8,000,
点值 10.5. A normal case is paid 800 × 10.5 = 8,400; a case costing 20,000 (r = 2.5) has
coefficient (2.5 − 2) + 1 = 1.5, 1,200 points, 12,600; one costing 3,000 (r = 0.375) 300
points, 3,150:

>>> import polars as pl
>>> from drgsim.dip.payment import pay
>>> from drgsim.dip.policy import parse_policy
>>> policy = parse_policy({"point_value": {"value": 10.5}})
>>> cases = pl.DataFrame({"dip_group": ["G"] * 3, "dip_score": [800.0] * 3,
...                       "dip_mean_cost": [8000.0] * 3,
...                       "total_cost": [8000.0, 20000.0, 3000.0]})
>>> pay(cases, policy).select("deviation", "coefficient", "points", "paid").rows()
[('normal', 1.0, 800.0, 8400.0), ('high', 1.5, 1200.0, 12600.0), ('low', 0.375, 300.0, 3150.0)]
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from drgsim.dip.catalogue import BLANK_GROUP, Catalogue, _code_list, read
from drgsim.dip.policy import Band, DipPolicy, PolicyError
from drgsim.exceptions import ColumnError, DrgsimError, InputError

__all__ = [
    "DEVIATIONS",
    "PAY_COLUMNS",
    "POINT_VALUE_COLUMNS",
    "by_hospital",
    "pay",
    "point_value_mode",
    "point_values",
    "score_cases",
]

#: Columns added by :func:`pay`, in order.
PAY_COLUMNS: tuple[str, ...] = (
    "deviation",
    "deviation_reason",
    "base_cost",
    "cost_ratio",
    "hospital_coefficient",
    "deviation_coefficient",
    "severity_level",
    "aux_coefficient",
    "coefficient",
    "points",
    "point_value",
    "paid",
    "fund_paid",
    "patient_paid",
    "profit",
    "review",
)
#: Deviation classes.
DEVIATIONS: tuple[str, ...] = ("normal", "high", "low", "extreme", "blank")
#: Columns of :func:`point_values`.
POINT_VALUE_COLUMNS: tuple[str, ...] = (
    "insurance_type",
    "cases",
    "cost",
    "points",
    "items_paid",
    "budget_pool",
    "spending",
    "budget_point_value",
    "settlement_pool",
    "fund",
    "reimbursement_ratio",
    "settlement_point_value",
)

Money = float | Mapping[str, float] | None
CatalogueLike = Catalogue | pl.DataFrame | str | os.PathLike[str] | None


def _money(v: Money, what: str) -> dict[str, float]:
    """A number (one pool, ``"*"``) or a mapping by insurance type, checked."""
    if v is None:
        return {}
    items = {"*": v} if isinstance(v, int | float) else dict(v)
    out = {}
    for k, x in items.items():
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0:
            raise InputError(f"{what} must be a finite number >= 0 (by insurance type); "
                             f"got {k!r}: {x!r}")  # fmt: skip
        out[str(k)] = float(x)
    return out


def _hospital_coefficient(df: pl.DataFrame, policy: DipPolicy) -> pl.Expr:
    h = policy.hospital
    coef: pl.Expr = pl.lit(h.default, pl.Float64)
    if h.by_level and h.level_column in df.columns:
        coef = (
            pl.col(h.level_column)
            .cast(pl.String)
            .replace_strict(h.by_level, default=coef, return_dtype=pl.Float64)
        )
    if h.by_hospital and h.hospital_column in df.columns:
        coef = (
            pl.col(h.hospital_column)
            .cast(pl.String)
            .replace_strict(h.by_hospital, default=coef, return_dtype=pl.Float64)
        )
    return coef


def _number(df: pl.DataFrame, col: str) -> pl.Expr:
    t = df.schema[col]
    if t == pl.String:
        return pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.col(col).cast(pl.Float64, strict=False)


def _need(df: pl.DataFrame, col: str, why: str) -> None:
    if col not in df.columns:
        raise ColumnError(col, f"missing column {col!r}, needed for {why}")


def _starts_with_any(code: pl.Expr, prefixes: tuple[str, ...] | list[str]) -> pl.Expr:
    """The code starts with one of the prefixes: one hash lookup per prefix length (fast for
    the thousand codes of a CC/MCC table, where a regex alternation is slow)."""
    by_length: dict[int, list[str]] = {}
    for c in set(prefixes):
        by_length.setdefault(len(c), []).append(c)
    hits = [code.str.slice(0, n).is_in(sorted(cs)) for n, cs in sorted(by_length.items())]
    return functools.reduce(lambda a, b: a | b, hits) if hits else pl.lit(False)


@functools.lru_cache(maxsize=8)
def _table_cc(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(CC codes, MCC codes) of a DRG table set's ``cc.csv``."""
    from drgsim.tables import load

    try:
        data = load(name).builtin_file("cc.csv")
    except (DrgsimError, OSError) as e:
        raise PolicyError(f"[aux.severity] cc_tables: cannot load table set {name!r}: {e}") from e
    if not data:
        raise PolicyError(f"[aux.severity] cc_tables: table set {name!r} has no cc.csv")
    cc = pl.read_csv(data, infer_schema=False)
    if not {"code", "level"} <= set(cc.columns):
        raise PolicyError(f"[aux.severity] cc_tables: {name!r} cc.csv has no code/level columns")
    level = pl.col("level").str.strip_chars().str.to_uppercase()
    codes = cc.select(pl.col("code").str.strip_chars().str.to_uppercase(), level.alias("level"))
    return (
        tuple(codes.filter(pl.col("level") == "CC")["code"].to_list()),
        tuple(codes.filter(pl.col("level") == "MCC")["code"].to_list()),
    )


def _band_coefficient(value: pl.Expr, bands: tuple[Band, ...]) -> pl.Expr:
    out: pl.Expr = pl.lit(1.0)
    for b in reversed(bands):
        cond: pl.Expr = pl.lit(True)
        if b.minimum is not None:
            cond = cond & (value >= b.minimum)
        if b.maximum is not None:
            cond = cond & (value < b.maximum)
        out = pl.when(cond.fill_null(False)).then(pl.lit(b.coefficient)).otherwise(out)
    return out


def _severity_source(df: pl.DataFrame, policy: DipPolicy) -> tuple[str, list[str], list[str]]:
    """(source actually used, CC codes, MCC codes) of the severity coefficient."""
    s = policy.aux.severity
    cc, mcc = list(s.cc_codes), list(s.mcc_codes)
    if s.cc_tables and s.source in ("auto", "codes"):
        tcc, tmcc = _table_cc(s.cc_tables)
        cc += tcc
        mcc += tmcc
    source = s.source
    if source == "auto":
        if policy.cc_level_column in df.columns:
            source = "cc_level"
        elif cc or mcc:
            source = "codes"
        else:
            source = "none"
    if source == "cc_level":
        _need(df, policy.cc_level_column, "[aux.severity] source 'cc_level'")
    if source == "codes":
        _need(df, policy.dx_column, "[aux.severity] (secondary diagnoses)")
        if not (cc or mcc):
            raise PolicyError(
                "[aux.severity] source 'codes' needs cc_codes, mcc_codes or cc_tables"
            )
    return source, cc, mcc


def _aux(df: pl.DataFrame, policy: DipPolicy) -> pl.DataFrame:
    """Columns ``_level`` (severity level 0–3, :class:`~drgsim.dip.policy.Severity`) and
    ``_aux`` (the auxiliary coefficient) of every case, computed in stages so that no list
    expression is evaluated twice."""
    a = policy.aux
    s = a.severity
    source, cc, mcc = _severity_source(df, policy)
    w = pl.repeat(0.0, df.height, eager=True).alias("_score").to_frame()
    if source == "codes" or a.tumour.codes:
        _need(df, policy.dx_column, "[aux.tumour]")
        w = w.with_columns(df.select(_code_list(policy.dx_column, df.schema[policy.dx_column])
                                     .alias("_dx")).to_series())  # fmt: skip
    if source == "cc_level":
        lv = df[policy.cc_level_column].cast(pl.String).str.strip_chars().str.to_uppercase()
        w = w.with_columns(
            _score=pl.when(lv == "MCC")
            .then(pl.lit(s.mcc_weight))
            .when(lv == "CC")
            .then(pl.lit(s.cc_weight))
            .otherwise(pl.lit(0.0))
        )
    elif source == "codes":
        e = pl.element()
        is_mcc, is_cc = _starts_with_any(e, mcc), _starts_with_any(e, cc)
        w = (
            w.with_columns(_sec=pl.col("_dx").list.slice(1).list.unique())
            .with_columns(
                _n_mcc=pl.col("_sec").list.eval(is_mcc).list.sum().cast(pl.Float64),
                _n_cc=pl.col("_sec").list.eval(is_cc & ~is_mcc).list.sum().cast(pl.Float64),
            )
            .with_columns(_score=pl.col("_n_mcc") * s.mcc_weight + pl.col("_n_cc") * s.cc_weight)
        )
    b1, b2, b3 = s.level_bands
    score = pl.col("_score")
    level = (
        (score >= b1).cast(pl.Int8) + (score >= b2).cast(pl.Int8) + (score >= b3).cast(pl.Int8)
    ).fill_null(0)
    if s.min_los is not None and source != "none":
        _need(df, policy.los_column, "[aux.severity] min_los")
        los = df.select(_number(df, policy.los_column)).to_series()
        level = pl.when((pl.lit(los) > s.min_los).fill_null(False)).then(level).otherwise(0)
    w = w.with_columns(_level=level.cast(pl.Int8))
    c = s.coefficients
    parts: list[pl.Expr] = [
        pl.col("_level").replace_strict(
            {0: c[0], 1: c[1], 2: c[2], 3: c[3]}, return_dtype=pl.Float64
        )
    ]
    if a.age_bands:
        _need(df, policy.age_column, "[aux.age]")
        age = df.select(_number(df, policy.age_column)).to_series()
        parts.append(_band_coefficient(pl.lit(age), a.age_bands))
    if a.tumour.codes:
        dx = pl.col("_dx")
        hit = dx.list.eval(_starts_with_any(pl.element(), a.tumour.codes)).list.any()
        if a.tumour.principal_prefixes:
            first = _starts_with_any(dx.list.first(), a.tumour.principal_prefixes)
            hit = hit & first.fill_null(False)
        parts.append(pl.when(hit.fill_null(False)).then(a.tumour.coefficient).otherwise(1.0))
    if a.death.los_bands:
        col = policy.discharge_type_column
        _need(df, col, "[aux.death]")
        _need(df, policy.los_column, "[aux.death] los_bands")
        code = a.death.discharge_type
        if df.schema[col].is_numeric():
            try:
                died = df[col].cast(pl.Float64) == float(code)
            except ValueError:
                died = pl.Series([False] * df.height)
        else:
            died = df[col].cast(pl.String).str.strip_chars() == code
        los = df.select(_number(df, policy.los_column)).to_series()
        band = _band_coefficient(pl.lit(los), a.death.los_bands)
        parts.append(pl.when(pl.lit(died).fill_null(False)).then(band).otherwise(1.0))
    if a.combine == "max":
        coef = pl.max_horizontal(parts)
    else:
        coef = functools.reduce(lambda x, y: x * y, parts)
    return w.select("_level", coef.alias("_aux"))


def _catalogue(catalogue: CatalogueLike) -> tuple[pl.DataFrame | None, dict[str, Any]]:
    if catalogue is None:
        return None, {}
    if isinstance(catalogue, str | os.PathLike):
        catalogue = read(catalogue)
    if isinstance(catalogue, Catalogue):
        return catalogue.groups, dict(catalogue.meta)
    return catalogue, {}


def score_cases(
    matched: pl.DataFrame | pl.LazyFrame, policy: DipPolicy, *, catalogue: CatalogueLike = None
) -> pl.DataFrame:
    """Deviation class, coefficients and points of every case (no point value yet).

    The first step of :func:`pay`: the result has every :data:`PAY_COLUMNS` column except
    ``point_value``, ``fund_paid``, ``patient_paid`` and ``profit``; ``paid`` is set only for
    cases paid by items. :func:`point_values` works on it.

    Parameters
    ----------
    matched : polars.DataFrame
        Matched cases: ``dip_group`` and ``dip_score`` (``dip_kind``, ``dip_reason`` when
        there), the policy's cost column and the columns its coefficients read.
    policy : DipPolicy
    catalogue : Catalogue, groups frame or path, optional
        Gives each group's ``mean_cost`` (when the cases have no ``dip_mean_cost``) and, from
        its metadata, the all-case mean cost ÷ scale as the cost per point.

    Raises
    ------
    ColumnError
        A column the policy needs is missing.
    PolicyError
        The policy needs a cost per point or a mean cost that neither it nor the catalogue
        gives.
    """
    df = matched.collect() if isinstance(matched, pl.LazyFrame) else matched
    for col in ("dip_group", "dip_score", policy.cost_column):
        _need(df, col, "DIP payment")
    df = df.drop([c for c in PAY_COLUMNS if c in df.columns])
    d = policy.deviation
    groups, meta = _catalogue(catalogue)
    cpp = d.cost_per_point
    if cpp is None and meta.get("mean_cost") and meta.get("scale"):
        cpp = float(meta["mean_cost"]) / float(meta["scale"])
    score = pl.col("dip_score").cast(pl.Float64, strict=False)
    cost = _number(df, policy.cost_column)
    hosp = _hospital_coefficient(df, policy)
    df = df.with_columns(hospital_coefficient=hosp, _cost=cost, _score=score)

    # the base (average cost of the group)
    if d.base == "mean_cost":
        if "dip_mean_cost" in df.columns:
            mean: pl.Expr = _number(df, "dip_mean_cost")
        elif groups is not None and "mean_cost" in groups.columns:
            lookup = groups.select(
                pl.col("group_id").cast(pl.String).alias("dip_group"),
                pl.col("mean_cost").cast(pl.Float64).alias("_mean"),
            ).unique("dip_group", keep="first")
            df = df.join(lookup, on="dip_group", how="left", maintain_order="left")
            mean = pl.col("_mean")
        elif cpp is None:
            raise ColumnError(
                "dip_mean_cost",
                "[deviation] base = 'mean_cost' needs the group's mean cost: a "
                "'dip_mean_cost' column, catalogue= with mean_cost, or cost_per_point",
            )
        else:
            mean = pl.lit(None, pl.Float64)
        base = mean if cpp is None else pl.coalesce(mean, pl.col("_score") * cpp)
    elif d.base == "score":
        if cpp is None:
            raise PolicyError(
                "[deviation] base = 'score' needs cost_per_point (or catalogue= whose metadata "
                "has mean_cost)"
            )
        base = pl.col("_score") * cpp
    else:
        assert d.base_column is not None
        _need(df, d.base_column, "[deviation] base_column")
        base = _number(df, d.base_column)
    if d.base_with_level:
        base = base * pl.col("hospital_coefficient")
    df = df.with_columns(base_cost=base).with_columns(
        cost_ratio=pl.when(pl.col("base_cost") > 0).then(pl.col("_cost") / pl.col("base_cost"))
    )

    # classes
    blank = pl.col("_score").is_null() | (pl.col("dip_group").cast(pl.String) == BLANK_GROUP)
    if "dip_kind" in df.columns:
        blank = blank | (pl.col("dip_kind").cast(pl.String) == "blank").fill_null(False)
    invalid: pl.Expr = pl.lit(False)
    if "dip_reason" in df.columns:
        reason = pl.col("dip_reason").cast(pl.String)
        invalid = (reason == "invalid").fill_null(False)
        blank = blank | reason.is_in(["blank", "invalid"]).fill_null(False)
    r = pl.col("cost_ratio")
    hi = r >= d.high_threshold if d.high_inclusive else r > d.high_threshold
    lo = r <= d.low_threshold if d.low_inclusive else r < d.low_threshold
    ext = r > d.extreme_threshold if d.extreme_threshold is not None else pl.lit(False)
    gt, lt = ("≥", "≤")
    klass = (
        pl.when(blank & invalid).then(pl.lit("blank|invalid: no principal diagnosis"))
        .when(blank).then(pl.lit(f"blank|空白病组 {BLANK_GROUP}"))
        .when(pl.col("_cost").is_null()).then(pl.lit("normal|no cost"))
        .when(r.is_null()).then(pl.lit("normal|no average cost for the group"))
        .when(ext).then(pl.lit(f"extreme|cost > {d.extreme_threshold or 0:g} × average: "
                               "expert review"))
        .when(hi).then(pl.lit(f"high|cost {gt if d.high_inclusive else '>'} "
                              f"{d.high_threshold:g} × average"))
        .when(lo).then(pl.lit(f"low|cost {lt if d.low_inclusive else '<'} "
                              f"{d.low_threshold:g} × average"))
        .otherwise(pl.lit("normal|"))
    )  # fmt: skip
    parts = klass.str.split_exact("|", 1)
    df = df.with_columns(
        deviation=parts.struct.field("field_0"), deviation_reason=parts.struct.field("field_1")
    )

    # coefficients and points
    k = pl.col("deviation")
    df = df.with_columns(_aux(df, policy)).with_columns(
        severity_level=pl.when(k != "blank").then(pl.col("_level")),
        aux_coefficient=pl.when(k != "blank").then(pl.col("_aux")),
    )
    hc = pl.col("hospital_coefficient")
    high_coef = {
        "excess_plus_one": r - d.high_threshold + 1.0,
        "excess_plus_hospital": r - d.high_threshold + hc,
        "ratio": r,
    }[d.high_rule]
    as_normal = (
        (k == "normal")
        | ((k == "low") & pl.lit(d.low_rule == "normal"))
        | ((k == "extreme") & pl.lit(d.extreme_rule == "normal"))
    )
    by_items = ((k == "extreme") & pl.lit(d.extreme_rule == "items")) | (
        (k == "blank") & pl.lit(policy.blank.rule == "items")
    )
    dev = (
        pl.when(k == "blank").then(None)
        .when(as_normal).then(pl.lit(1.0))
        .when(by_items).then(None)
        .when(k == "low").then(r)
        .when((k == "extreme") & pl.lit(d.extreme_rule == "hospital")).then(hc)
        .otherwise(high_coef)  # high, extreme paid as high
    )  # fmt: skip
    extra: pl.Expr = pl.lit(1.0)
    if d.with_hospital_coefficient:
        extra = extra * hc
    if d.with_aux:
        extra = extra * pl.col("aux_coefficient")
    coef = (
        pl.when(k == "blank").then(None)
        .when(as_normal).then(hc * pl.col("aux_coefficient"))
        .when(by_items).then(None)
        .otherwise(pl.col("deviation_coefficient") * extra)
    )  # fmt: skip
    if policy.blank.rule == "points" and cpp is None:
        raise PolicyError(
            "[blank] rule = 'points' needs [deviation] cost_per_point (or catalogue= whose "
            "metadata has mean_cost)"
        )
    blank_points = pl.col("_cost") / cpp * policy.blank.factor if cpp is not None else pl.lit(None)
    df = (
        df.with_columns(deviation_coefficient=dev)
        .with_columns(coefficient=coef)
        .with_columns(
            points=pl.when(k == "blank")
            .then(None if policy.blank.rule == "items" else blank_points)
            .otherwise(pl.col("_score") * pl.col("coefficient")),
            paid=pl.when(by_items).then(pl.col("_cost") * policy.items_ratio),
            review=k == "extreme",
        )
    )
    return df.drop("_cost", "_score", "_mean", "_level", "_aux", strict=False)


def _pool(ins: pl.Expr, keys: Mapping[str, float]) -> pl.Expr:
    listed = [k for k in keys if k != "*"]
    other = pl.lit("*") if "*" in keys else pl.lit(None, pl.String)
    return pl.when(ins.is_in(listed)).then(ins).otherwise(other)


def _insurance(df: pl.DataFrame, policy: DipPolicy) -> pl.Expr:
    if policy.insurance_column in df.columns:
        return pl.col(policy.insurance_column).cast(pl.String).fill_null("")
    return pl.lit("*")


def _lookup(pool: pl.Expr, values: Mapping[str, float]) -> pl.Expr:
    return pool.replace_strict(dict(values), default=None, return_dtype=pl.Float64)


def _resolve(policy: DipPolicy, fund: Money, spending: Money) -> tuple[dict, dict]:
    f = _money(fund, "fund") if fund is not None else dict(policy.point_value.fund)
    s = _money(spending, "spending") if spending is not None else dict(policy.point_value.spending)
    return f, s


def point_value_mode(policy: DipPolicy, *, fund: Money = None, spending: Money = None) -> str:
    """Which point value :func:`pay` uses: ``settlement``, ``budget`` or ``fixed``.

    Examples
    --------
    >>> from drgsim.dip.policy import example
    >>> point_value_mode(example()), point_value_mode(example(), fund={"职工": 1e6})
    ('budget', 'settlement')
    """
    mode = policy.point_value.mode
    if mode != "auto":
        return mode
    f, s = _resolve(policy, fund, spending)
    if f:
        return "settlement"
    if s:
        return "budget"
    return "fixed" if policy.point_value.value else "budget"


def point_values(
    scored: pl.DataFrame, policy: DipPolicy, *, fund: Money = None, spending: Money = None
) -> pl.DataFrame:
    """Budget and settlement point values per insurance type.

    Parameters
    ----------
    scored : polars.DataFrame
        The output of :func:`score_cases` or :func:`pay` (``points``, ``paid`` of the cases
        paid by items, the cost and insurance type).
    policy : DipPolicy
    fund : number or mapping by insurance type, optional
        Fund available for DIP (当年医保基金可用于DIP总额); default: the policy's
        ``[point_value] fund``. A number is one pool for every type; a mapping's ``"*"``
        pools the types it does not name.
    spending : number or mapping by insurance type, optional
        Expected total spending (加权年度住院总费用) for the budget point value; default: the
        policy's, else each insurance type's own total cost.

    Returns
    -------
    polars.DataFrame
        One row per insurance type (columns :data:`POINT_VALUE_COLUMNS`): its ``cases``,
        ``cost``, ``points`` and ``items_paid``; the pool it belongs to for each point value
        (``budget_pool``, ``settlement_pool``: the type, or ``"*"``), the pool's ``spending``,
        ``fund`` and ``reimbursement_ratio``, and the pool's ``budget_point_value`` =
        (spending − items) ÷ points and ``settlement_point_value`` = (fund ÷ ratio − items) ÷
        points (null without a fund; items only with ``deduct_items``; null for a pool with
        no points).

    Raises
    ------
    InputError
        A type of the cases has no fund (or spending) and the mapping has no ``"*"``.

    Examples
    --------
    A region of two hospitals, one insurance type, fund 90,000: case points 800 + 1,200 +
    300 + 700 = 3,000, so the settlement point value is 90,000 ÷ 3,000 = 30; with a spending
    of 60,000 the budget point value is 60,000 ÷ 3,000 = 20:

    >>> import polars as pl
    >>> from drgsim.dip.policy import parse_policy
    >>> scored = pl.DataFrame({"insurance_type": ["职工"] * 4,
    ...                        "points": [800.0, 1200.0, 300.0, 700.0],
    ...                        "paid": [None, None, None, None],
    ...                        "total_cost": [8000.0, 20000.0, 3000.0, 9000.0]})
    >>> pv = point_values(scored, parse_policy({}), fund=90_000, spending=60_000)
    >>> pv.select("points", "budget_point_value", "settlement_point_value").row(0)
    (3000.0, 20.0, 30.0)
    """
    _need(scored, "points", "point values (run score_cases or pay first)")
    pv = policy.point_value
    f, s = _resolve(policy, fund, spending)
    ins = _insurance(scored, policy)
    cost = (
        _number(scored, policy.cost_column)
        if policy.cost_column in scored.columns
        else pl.lit(None, pl.Float64)
    )
    paid = pl.col("paid") if "paid" in scored.columns else pl.lit(None, pl.Float64)
    items = pl.when(pl.col("points").is_null()).then(paid)
    base = scored.select(
        ins.alias("insurance_type"),
        cost.alias("_cost"),
        pl.col("points").cast(pl.Float64).alias("_points"),
        items.cast(pl.Float64).alias("_items"),
    )
    # budget pools: by the spending mapping, else per insurance type with its own costs
    budget_pool = _pool(pl.col("insurance_type"), s) if s else pl.col("insurance_type")
    settle_pool = _pool(pl.col("insurance_type"), f) if f else pl.lit(None, pl.String)
    base = base.with_columns(budget_pool=budget_pool, settlement_pool=settle_pool)
    for what, mapping, col in (("spending", s, "budget_pool"), ("fund", f, "settlement_pool")):
        if mapping:
            missing = base.filter(pl.col(col).is_null())["insurance_type"].unique().to_list()
            if missing:
                raise InputError(
                    f"no {what} for insurance type(s) {sorted(missing)}; give them, or '*' "
                    f"for every other type (given: {', '.join(mapping)})"
                )
    sums = [
        pl.col("_points").sum().alias("_pool_points"),
        pl.col("_items").sum().alias("_pool_items"),
        pl.col("_cost").sum().alias("_pool_cost"),
    ]
    deduct = 1.0 if pv.deduct_items else 0.0
    budget = base.group_by("budget_pool").agg(sums)
    spend = _lookup(pl.col("budget_pool"), s) if s else pl.col("_pool_cost")
    budget = budget.with_columns(spending=spend).with_columns(
        budget_point_value=pl.when(pl.col("_pool_points") > 0).then(
            (pl.col("spending") - deduct * pl.col("_pool_items")) / pl.col("_pool_points")
        )
    )
    ratio_map = pv.reimbursement_ratio
    if f:
        settle = base.group_by("settlement_pool").agg(sums)
        ratio = (
            pl.col("settlement_pool").replace_strict(
                ratio_map, default=ratio_map.get("*", 1.0), return_dtype=pl.Float64
            )
            if ratio_map
            else pl.lit(1.0)
        )
        settle = settle.with_columns(
            fund=_lookup(pl.col("settlement_pool"), f), reimbursement_ratio=ratio
        ).with_columns(
            settlement_point_value=pl.when(pl.col("_pool_points") > 0).then(
                (pl.col("fund") / pl.col("reimbursement_ratio") - deduct * pl.col("_pool_items"))
                / pl.col("_pool_points")
            )
        )
    else:
        settle = pl.DataFrame(
            schema={
                "settlement_pool": pl.String,
                "fund": pl.Float64,
                "reimbursement_ratio": pl.Float64,
                "settlement_point_value": pl.Float64,
            }
        )
    per_type = base.group_by("insurance_type").agg(
        pl.len().cast(pl.Int64).alias("cases"),
        pl.col("_cost").sum().alias("cost"),
        pl.col("_points").sum().alias("points"),
        pl.col("_items").sum().alias("items_paid"),
        pl.col("budget_pool").first(),
        pl.col("settlement_pool").first(),
    )
    return (
        per_type.join(
            budget.select("budget_pool", "spending", "budget_point_value"),
            on="budget_pool",
            how="left",
        )
        .join(
            settle.select(
                "settlement_pool", "fund", "reimbursement_ratio", "settlement_point_value"
            ),
            on="settlement_pool",
            how="left",
        )
        .select(POINT_VALUE_COLUMNS)
        .sort("insurance_type")
    )


def pay(
    matched: pl.DataFrame | pl.LazyFrame,
    policy: DipPolicy,
    *,
    fund: Money = None,
    spending: Money = None,
    catalogue: CatalogueLike = None,
) -> pl.DataFrame:
    """Classify, score and pay every matched case under a DIP policy.

    Parameters
    ----------
    matched : polars.DataFrame or LazyFrame
        The output of :func:`drgsim.dip.match` (``dip_group``, ``dip_score``, ``dip_kind``,
        ``dip_reason``) with the cost, insurance type, hospital id and level, and the columns
        the policy's auxiliary coefficients read (``cc_level`` or ``dx``, ``age``,
        ``discharge_type``, ``los_days``). A ``dip_mean_cost`` column, when present, is the
        group's average cost for the deviation ratio.
    policy : DipPolicy
        See :mod:`drgsim.dip.policy`.
    fund : number or mapping by insurance type, optional
        Fund available for DIP: pays at the settlement point value (Σ paid = fund ÷ ratio per
        pool). Default: the policy's ``[point_value] fund``.
    spending : number or mapping by insurance type, optional
        Expected spending: with no fund, pays at the budget point value.
    catalogue : Catalogue, groups frame or path, optional
        Gives the groups' ``mean_cost`` and the cost per point (see :func:`score_cases`).

    Returns
    -------
    polars.DataFrame
        ``matched`` plus :data:`PAY_COLUMNS` (existing columns of those names are replaced),
        one row per case, in order. The point value is chosen by :func:`point_value_mode`.

    Raises
    ------
    ColumnError
        A column the policy needs is missing.
    InputError, PolicyError
        No point value can be found, or a type has no fund.
    """
    scored = score_cases(matched, policy, catalogue=catalogue)
    mode = point_value_mode(policy, fund=fund, spending=spending)
    ins = _insurance(scored, policy)
    if mode == "fixed":
        values = policy.point_value.value
        if not values:
            raise PolicyError("[point_value] mode 'fixed' needs 'value'")
        pool = _pool(ins, values)
        bad = scored.select(ins.alias("t"), pool.alias("p")).filter(pl.col("p").is_null())
        if bad.height:
            raise InputError(
                f"no point value for insurance type(s) {sorted(bad['t'].unique().to_list())}; "
                "add them or '*' to [point_value] value"
            )
        pvx = _lookup(pool, values)
    else:
        table = point_values(scored, policy, fund=fund, spending=spending)
        col = "settlement_point_value" if mode == "settlement" else "budget_point_value"
        if mode == "settlement" and table["fund"].null_count() == table.height:
            raise InputError("settlement point value needs a fund (fund= or [point_value] fund)")
        pvx = ins.replace_strict(
            dict(zip(table["insurance_type"], table[col], strict=True)),
            default=None,
            return_dtype=pl.Float64,
        )
    ratio_map = policy.point_value.reimbursement_ratio
    share = _lookup(_pool(ins, ratio_map), ratio_map) if ratio_map else pl.lit(None, pl.Float64)
    cost = _number(scored, policy.cost_column)
    out = (
        scored.with_columns(point_value=pvx)
        .with_columns(paid=pl.coalesce(pl.col("paid"), pl.col("points") * pl.col("point_value")))
        .with_columns(fund_paid=pl.col("paid") * share, profit=pl.col("paid") - cost)
        .with_columns(patient_paid=pl.col("paid") - pl.col("fund_paid"))
    )
    keep = [c for c in out.columns if c not in PAY_COLUMNS]
    return out.select(*keep, *PAY_COLUMNS)


def by_hospital(paid: pl.DataFrame, policy: DipPolicy | None = None) -> pl.DataFrame:
    """Totals per hospital (and level): cases, cost, points, paid, fund part, profit, and the
    number of high, low, extreme and blank cases; a last row ``total`` adds them up.

    Examples
    --------
    >>> import polars as pl
    >>> paid = pl.DataFrame({"hospital_id": ["H1", "H1", "H2"], "total_cost": [1.0, 2.0, 3.0],
    ...                      "points": [10.0, 20.0, 30.0], "paid": [2.0, 2.0, 4.0],
    ...                      "fund_paid": [None, None, None], "profit": [1.0, 0.0, 1.0],
    ...                      "deviation": ["normal", "high", "low"]})
    >>> by_hospital(paid).select("hospital_id", "cases", "points", "paid", "high").rows()
    [('H1', 2, 30.0, 4.0, 1), ('H2', 1, 30.0, 4.0, 0), ('total', 3, 60.0, 8.0, 1)]
    """
    hcol = policy.hospital.hospital_column if policy else "hospital_id"
    lcol = policy.hospital.level_column if policy else "hospital_level"
    ccol = policy.cost_column if policy else "total_cost"
    _need(paid, hcol, "totals by hospital")
    for c in ("points", "paid", "profit", "deviation"):
        _need(paid, c, "totals by hospital (run pay first)")
    keys = [hcol] + ([lcol] if lcol in paid.columns else [])
    cost = _number(paid, ccol) if ccol in paid.columns else pl.lit(None, pl.Float64)
    fund = pl.col("fund_paid") if "fund_paid" in paid.columns else pl.lit(None, pl.Float64)
    aggs = [
        pl.len().cast(pl.Int64).alias("cases"),
        cost.sum().alias("cost"),
        pl.col("points").sum(),
        pl.col("paid").sum(),
        fund.sum().alias("fund_paid"),
        pl.col("profit").sum(),
        *[(pl.col("deviation") == k).sum().cast(pl.Int64).alias(k) for k in DEVIATIONS[1:]],
    ]
    parts = paid.group_by(keys).agg(aggs).sort(keys)
    parts = parts.with_columns(pl.col(hcol).cast(pl.String))
    total = paid.select(aggs).with_columns(
        pl.lit("total").alias(hcol), *[pl.lit(None, pl.String).alias(k) for k in keys[1:]]
    )
    return pl.concat([parts, total.select(parts.columns)], how="vertical_relaxed")
