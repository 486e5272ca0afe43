"""Per-case DRG payment under a policy, vectorised on Polars.

:func:`pay` takes grouped cases (the output of :func:`drgsim.group` plus a cost column) and
adds, per case:

===============  =========================================================================
column           meaning
===============  =========================================================================
``rw``           relative weight of the case's DRG (null when the DRG has no weight)
``coefficient``  hospital coefficient (per hospital, else by level, else the default)
``standard``     payment standard in CNY: rate × RW × coefficient (费率法), or
                 基准点数 × coefficient × point value (点数法)
``case_class``   ``normal``, ``high`` (高倍率), ``low`` (低倍率), ``special`` (特病单议) or
                 ``excluded`` (not paid by DRG: not grouped, no weight, LOS outside the range)
``class_reason`` why the case has its class
``paid``         the amount paid for the case under its class's rule
``points``       (点数法 only) ``paid`` in points
``fund_paid``    the fund's part of ``paid`` (policy ``[fund] share``), ``patient_paid`` the rest
``reserve``      the share of ``paid`` withheld (policy ``reserve_share``)
``profit``       盈亏: ``paid`` − actual cost
===============  =========================================================================

Payment rules of a class: ``items`` = cost × items_ratio (按项目); ``standard``;
``cost_ratio`` = standard × min(cost ÷ standard, 1); ``standard_plus_excess`` = standard +
max(cost − threshold × standard, 0) × excess_ratio.

Examples
--------
>>> import polars as pl
>>> from drgsim.payment import pay
>>> from drgsim.policy import example
>>> cases = pl.DataFrame({"drg": ["GE29"], "status": ["ok"], "total_cost": [9000.0],
...                       "insurance_type": ["职工"], "hospital_level": ["三级"],
...                       "los_days": [5]})
>>> out = pay(cases, example("rate"))
>>> out.select("case_class", "paid").row(0)[0]
'normal'
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from drgsim.exceptions import ColumnError, InputError
from drgsim.policy import Policy, PolicyError

__all__ = ["PAY_COLUMNS", "high_threshold", "load_weights", "pay", "summary"]

PAY_COLUMNS: tuple[str, ...] = (
    "rw",
    "coefficient",
    "standard",
    "case_class",
    "class_reason",
    "paid",
    "fund_paid",
    "patient_paid",
    "reserve",
    "profit",
)
CLASSES: tuple[str, ...] = ("normal", "high", "low", "special", "excluded")


def load_weights(source: str | Path | pl.DataFrame, base: Path | None = None) -> pl.DataFrame:
    """Weights in the project format (see :mod:`drgsim.weights`).

    ``source`` is a frame (at least ``drg`` and ``rw``), a weights CSV in the project format,
    a city weights file as published (``../shared/reference/weights/盐城2023.csv``), or the
    name of a built-in table set (its ``weights.csv``). Relative paths are taken from ``base``.
    """
    from drgsim import weights as w

    if isinstance(source, pl.DataFrame):
        return w.from_frame(source, source="frame")
    s = str(source)
    p = Path(s) if base is None or Path(s).is_absolute() else base / s
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise PolicyError(f"weights file not found: {p}")
        try:
            return w.read(p)
        except InputError:
            return w.load_city(p)
    return w.builtin(s)


def _by_type(col: str, values: dict[str, float], frame: pl.DataFrame) -> pl.Expr:
    default = values.get("*")
    if col not in frame.columns:
        if default is None:
            raise ColumnError(
                col,
                f"missing column {col!r}; the policy sets values by "
                f"{col} ({', '.join(values)}) without a '*' default",
            )
        return pl.lit(default)
    keyed = {k: v for k, v in values.items() if k != "*"}
    return (
        pl.col(col).cast(pl.String).replace_strict(keyed, default=default, return_dtype=pl.Float64)
    )


def high_threshold(df: pl.DataFrame, policy: Policy) -> pl.Expr:
    """The high-multiplier threshold of each case: by hospital level, else by the first RW
    band the case's ``rw`` falls in, else the policy's default (needs an ``rw`` column)."""
    c, h = policy.classes, policy.hospital
    thr = pl.lit(c.high.default)
    for max_rw, t in reversed(c.high.rw_bands):
        thr = pl.when(pl.col("rw") <= max_rw).then(pl.lit(t)).otherwise(thr)
    if c.high.by_level and h.level_column in df.columns:
        thr = (
            pl.col(h.level_column)
            .cast(pl.String)
            .replace_strict(c.high.by_level, default=thr, return_dtype=pl.Float64)
        )
    return thr.cast(pl.Float64)


def pay(
    grouped: pl.DataFrame,
    policy: Policy,
    weights: str | Path | pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Classify and pay every grouped case under ``policy``.

    Parameters
    ----------
    grouped : polars.DataFrame
        Cases with ``drg``, ``status`` and the policy's cost column (``total_cost``);
        optionally the insurance type, hospital id and level, LOS and special-case columns
        the policy names.
    policy : Policy
        See :mod:`drgsim.policy`.
    weights : frame, built-in set name or CSV path, optional
        Overrides the policy's ``weights``.

    Returns
    -------
    polars.DataFrame
        ``grouped`` plus the columns of :data:`PAY_COLUMNS` (and ``points``, ``point_value``
        under the point method). Existing columns of those names are replaced.

    Raises
    ------
    ColumnError
        A column the policy needs is missing.
    """
    src = weights if weights is not None else policy.weights
    if src is None:
        raise PolicyError("no weights: give weights= or set [policy] weights")
    base = policy.path.parent if policy.path is not None else None
    w = load_weights(src, base)
    for col in ("drg", "status", policy.cost_column):
        if col not in grouped.columns:
            raise ColumnError(col, f"missing column {col!r} needed for payment")
    out_cols = set(PAY_COLUMNS) | {
        "points",
        "point_value",
        "base_points",
        "special",
        "standard_level2",
        "standard_level3",
        "coefficient_level2",
        "coefficient_level3",
    }
    df = grouped.drop([c for c in grouped.columns if c in out_cols])
    extra = (
        "base_points",
        "special",
        "standard_level2",
        "standard_level3",
        "coefficient_level2",
        "coefficient_level3",
    )
    keep = [pl.col("drg"), pl.col("rw")] + [pl.col(c) for c in extra if c in w.columns]
    if "standard" in w.columns:
        keep.append(pl.col("standard").alias("_w_standard"))
    df = df.join(w.select(keep), on="drg", how="left", maintain_order="left")
    if "special" not in df.columns:
        df = df.with_columns(special=pl.lit(False))
    c = policy.classes
    h = policy.hospital
    cost = pl.col(policy.cost_column).cast(pl.Float64, strict=False)
    coef = pl.lit(h.default)
    if h.by_level and h.level_column in df.columns:
        coef = _by_type(h.level_column, {**h.by_level, "*": h.default}, df)
    if h.by_hospital and h.hospital_column in df.columns:
        coef = (
            pl.col(h.hospital_column)
            .cast(pl.String)
            .replace_strict(h.by_hospital, default=coef, return_dtype=pl.Float64)
        )
    level = (
        pl.col(h.level_column).cast(pl.String)
        if h.level_column in df.columns
        else pl.lit(None, dtype=pl.String)
    )

    def by_level(l2: str, l3: str, other: pl.Expr) -> pl.Expr:
        out = other
        for lv, col in (("二级", l2), ("三级", l3)):
            if col in df.columns:
                out = (
                    pl.when((level == lv) & pl.col(col).is_not_null())
                    .then(pl.col(col))
                    .otherwise(out)
                )
        return out

    if h.from_weights:
        coef = by_level("coefficient_level2", "coefficient_level3", coef)
    df = df.with_columns(coefficient=coef, _cost=cost)
    if policy.method == "rate":
        assert policy.rate is not None
        rate = _by_type(policy.insurance_column, policy.rate.base_rate, df)
        std = rate * pl.col("rw") * pl.col("coefficient")
        if policy.rate.standards_from_weights:
            flat = pl.col("_w_standard") if "_w_standard" in df.columns else pl.lit(None)
            std = by_level("standard_level2", "standard_level3", pl.coalesce(flat, std))
        df = df.with_columns(standard=std)
    else:
        assert policy.points is not None
        pv = _by_type(policy.insurance_column, policy.points.point_value, df)
        bp = pl.col("rw") * policy.points.scale
        if "base_points" in df.columns:
            bp = pl.coalesce(pl.col("base_points"), bp)
        df = df.with_columns(point_value=pv, base_points=bp).with_columns(
            standard=pl.col("base_points") * pl.col("coefficient") * pl.col("point_value")
        )
    df = df.with_columns(_thr=high_threshold(df, policy))
    los = (
        pl.col(policy.los_column).cast(pl.Float64, strict=False)
        if policy.los_column in df.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    special = pl.col("special").fill_null(False) | pl.col("drg").is_in(list(c.special_drgs))
    if c.special_case_column in df.columns:
        flag = pl.col(c.special_case_column)
        if df.schema[c.special_case_column] == pl.String:
            flag = flag.str.strip_chars().str.to_lowercase().is_in(["true", "1", "是", "yes"])
        special = special | flag.cast(pl.Boolean).fill_null(False)
    short = los <= c.exclude_los_at_most if c.exclude_los_at_most is not None else pl.lit(False)
    long = los >= c.exclude_los_at_least if c.exclude_los_at_least is not None else pl.lit(False)
    std, cst = pl.col("standard"), pl.col("_cost")
    grouped_ok = pl.col("status") == "ok"
    klass = (
        pl.when(~grouped_ok).then(pl.lit("excluded|not grouped (" ) + pl.col("drg") + pl.lit(")"))
        .when(pl.col("rw").is_null()).then(pl.lit("excluded|no weight for the DRG"))
        .when(cst.is_null()).then(pl.lit("excluded|no cost"))
        .when(short.fill_null(False)).then(pl.lit(f"excluded|LOS ≤ {c.exclude_los_at_most:g}"
                                                  if c.exclude_los_at_most is not None else ""))
        .when(long.fill_null(False)).then(pl.lit(f"excluded|LOS ≥ {c.exclude_los_at_least:g}"
                                                 if c.exclude_los_at_least is not None else ""))
        .when(special).then(pl.lit("special|特病单议"))
        .when(cst > pl.col("_thr") * std).then(
            pl.lit("high|cost > ") + pl.col("_thr").cast(pl.String) + pl.lit(" × standard"))
        .when(cst < c.low_threshold * std).then(
            pl.lit(f"low|cost < {c.low_threshold:g} × standard"))
        .otherwise(pl.lit("normal|"))
    )  # fmt: skip
    df = df.with_columns(_k=klass).with_columns(
        case_class=pl.col("_k").str.split_exact("|", 1).struct.field("field_0"),
        class_reason=pl.col("_k").str.split_exact("|", 1).struct.field("field_1"),
    )

    def rule(name: str) -> pl.Expr:
        return {
            "items": cst * c.items_ratio,
            "standard": std,
            "cost_ratio": pl.min_horizontal(cst, std),
            "standard_plus_excess": std
            + pl.max_horizontal(cst - pl.col("_thr") * std, pl.lit(0.0)) * c.excess_ratio,
        }[name]

    k = pl.col("case_class")
    paid = (
        pl.when(k == "normal").then(std)
        .when(k == "high").then(rule(c.high_payment))
        .when(k == "low").then(rule(c.low_payment))
        .when(k == "special").then(rule(c.special_payment))
        .otherwise(pl.when(cst.is_not_null()).then(cst * c.items_ratio))
    )  # fmt: skip
    share = (
        _by_type(policy.insurance_column, policy.fund_share, df)
        if policy.fund_share
        else pl.lit(None, dtype=pl.Float64)
    )
    df = (
        df.with_columns(paid=paid)
        .with_columns(
            fund_paid=pl.col("paid") * share,
            reserve=pl.col("paid") * policy.reserve_share,
            profit=pl.col("paid") - cst,
        )
        .with_columns(patient_paid=pl.col("paid") - pl.col("fund_paid"))
    )
    if policy.method == "points":
        df = df.with_columns(points=pl.col("paid") / pl.col("point_value"))
    return df.drop("_cost", "_thr", "_k", "_w_standard", strict=False)


def summary(paid: pl.DataFrame, by: str | list[str] = "case_class") -> pl.DataFrame:
    """Totals by class (or any columns): cases, cost, paid, profit, and a total row.

    The totals of the rows add up to the total row (a reconciliation users check).
    """
    keys = [by] if isinstance(by, str) else list(by)
    cost = next((c for c in ("total_cost", "_cost") if c in paid.columns), None)
    aggs = [pl.len().alias("cases"), pl.col("paid").sum(), pl.col("profit").sum()]
    if cost is not None:
        aggs.insert(1, pl.col(cost).cast(pl.Float64, strict=False).sum().alias("cost"))
    parts = paid.group_by(keys).agg(aggs).sort(keys)
    total = (
        paid.select(aggs)
        .with_columns([pl.lit("total").cast(parts.schema[k]).alias(k) for k in keys])
        .select(parts.columns)
    )
    return pl.concat([parts, total])
