"""DRG performance indicators (绩效指标) by hospital, department, medical group, doctor or DRG.

:func:`indicators` takes paid cases (the output of :func:`drgsim.pay`) and returns one row
per unit of ``by`` with the indicators below. "Grouped" cases are those with ``status`` ok
(every case when the frame has no ``status``) and a ``drg``; "weighted" cases are grouped
cases whose ``rw`` is not null.

=======================  ==============================================================
column                   formula
=======================  ==============================================================
``cases``                all cases of the unit
``grouped``              grouped cases
``grouping_rate``        入组率 = grouped ÷ cases
``drg_groups``           DRG组数 = distinct ``drg`` of grouped cases
``cmi``                  CMI = Σ rw ÷ weighted cases (= Σ(RWᵢ × nᵢ) ÷ Σnᵢ by group)
``rw2_share``            RW ≥ 2 病例占比 = weighted cases with rw ≥ 2 ÷ weighted cases
``cost_index``           费用消耗指数 = Σ actual cost ÷ Σ reference mean cost of each
                         case's DRG, over grouped cases whose DRG has a reference
``time_index``           时间消耗指数 = Σ LOS ÷ Σ reference mean LOS of each case's DRG
``low_risk_cases``       grouped cases in a low-risk group (:func:`low_risk_groups`)
``low_risk_deaths``      those of them with ``discharge_type`` 5 (死亡)
``low_risk_mortality``   低风险组死亡率 = low_risk_deaths ÷ low_risk_cases (null if none)
``high_cases``           高倍率 cases (``case_class`` high)
``low_cases``            低倍率 cases (``case_class`` low)
``cost``, ``paid``       Σ actual cost, Σ ``paid``
``profit``               盈亏 = Σ ``profit`` (paid − cost)
=======================  ==============================================================

The cost and time indices use the common form Σeᵢ ÷ ΣEᵢ (domain notes §4): 1 is the regional
average for the unit's case mix, above 1 costlier / longer. The reference (regional mean
cost and LOS by DRG) comes from :func:`reference_means`; by default from the frame itself.

Low-risk groups (:func:`low_risk_groups`) follow the national performance-evaluation style
(国家三级公立医院绩效考核 / 卫健委 DRG 评价): the in-hospital mortality of each DRG in the
reference data is log-transformed and standardised, ``z = (ln mᵢ − mean) ÷ sd`` over the
groups with at least one death; groups with ``z < threshold`` (−1) are 低风险组. Groups
with no death in the reference (ln 0 undefined) are counted as low-risk too. (The official
text's handling of zero-mortality groups and minimum group sizes is not verified here;
``min_cases`` drops small groups from the calculation.)

Examples
--------
CMI from the worked example of the domain notes (weights 1.2, 0.8, 2.5 with 50, 30 and 20
cases):

>>> import polars as pl
>>> from drgsim.metrics import indicators
>>> df = pl.DataFrame({
...     "hospital_id": ["A"] * 100,
...     "drg": ["X1"] * 50 + ["X2"] * 30 + ["X3"] * 20,
...     "rw": [1.2] * 50 + [0.8] * 30 + [2.5] * 20,
... })
>>> indicators(df).select("cases", "drg_groups", "cmi", "rw2_share").row(0)
(100, 3, 1.34, 0.2)
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from drgsim.exceptions import ColumnError

__all__ = ["INDICATOR_COLUMNS", "indicators", "low_risk_groups", "reference_means"]

INDICATOR_COLUMNS: tuple[str, ...] = (
    "cases",
    "grouped",
    "grouping_rate",
    "drg_groups",
    "cmi",
    "rw2_share",
    "cost_index",
    "time_index",
    "low_risk_cases",
    "low_risk_deaths",
    "low_risk_mortality",
    "high_cases",
    "low_cases",
    "cost",
    "paid",
    "profit",
)

DEATH = "5"


def _grouped(frame: pl.DataFrame) -> pl.Expr:
    ok = pl.col("drg").is_not_null()
    if "status" in frame.columns:
        ok = ok & (pl.col("status") == "ok")
    return ok.fill_null(False)


def _death(frame: pl.DataFrame) -> pl.Expr:
    if "discharge_type" not in frame.columns:
        return pl.lit(None, dtype=pl.Boolean)
    return pl.col("discharge_type").cast(pl.String).str.strip_chars() == DEATH


def _num(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, dtype=pl.Float64)
    return pl.col(col).cast(pl.Float64, strict=False)


def reference_means(
    frame: pl.DataFrame, *, cost: str = "total_cost", los: str = "los_days"
) -> pl.DataFrame:
    """Regional reference by DRG: cases, mean cost, mean LOS, deaths and mortality.

    Computed over the grouped cases of ``frame`` (status ok, a ``drg``). ``mortality`` =
    deaths (``discharge_type`` 5) ÷ cases; null when the frame has no discharge type.

    >>> import polars as pl
    >>> from drgsim.metrics import reference_means
    >>> df = pl.DataFrame({"drg": ["A", "A", "B"], "total_cost": [100.0, 300.0, 50.0],
    ...                    "los_days": [2, 4, 1], "discharge_type": [1, 5, 1]})
    >>> reference_means(df).rows()
    [('A', 2, 200.0, 3.0, 1, 0.5), ('B', 1, 50.0, 1.0, 0, 0.0)]
    """
    if "drg" not in frame.columns:
        raise ColumnError("drg", "missing column 'drg' needed for the reference")
    death = _death(frame)
    return (
        frame.filter(_grouped(frame))
        .group_by("drg")
        .agg(
            cases=pl.len(),
            mean_cost=_num(frame, cost).mean(),
            mean_los=_num(frame, los).mean(),
            deaths=death.sum().cast(pl.Int64) if "discharge_type" in frame.columns else death,
        )
        .with_columns(mortality=pl.col("deaths") / pl.col("cases"))
        .with_columns(pl.col("cases").cast(pl.Int64))
        .sort("drg")
    )


def _as_reference(reference: pl.DataFrame) -> pl.DataFrame:
    """A reference-means frame as is, else the means of a case frame."""
    if "mean_cost" in reference.columns or "mortality" in reference.columns:
        return reference
    return reference_means(reference)


def low_risk_groups(
    reference_frame: pl.DataFrame,
    method: str = "z",
    threshold: float = -1.0,
    *,
    min_cases: int = 1,
) -> list[str]:
    """DRGs whose standardised log mortality is below ``threshold`` (低风险组).

    ``reference_frame`` is regional case data (with ``drg`` and ``discharge_type``) or the
    output of :func:`reference_means`. For each DRG with at least ``min_cases`` cases,
    mortality mᵢ = deaths ÷ cases; over the groups with mᵢ > 0, ``z = (ln mᵢ − mean(ln m)) ÷
    sd(ln m)`` (sample sd); the low-risk groups are those with ``z < threshold`` plus the
    groups with no death. Only ``method="z"`` is implemented.

    Examples
    --------
    Mortalities 0, 1 %, 10 %, 10 %, 10 %: ln m = −4.61, −2.30 ×3 (mean −2.88, sd 1.15), so
    the 1 % group has z = −1.5 and the zero-death group counts as low-risk:

    >>> import polars as pl
    >>> from drgsim.metrics import low_risk_groups
    >>> ref = pl.DataFrame({"drg": ["A", "B", "C", "D", "E"], "cases": [100] * 5,
    ...                     "deaths": [0, 1, 10, 10, 10]}).with_columns(
    ...     mortality=pl.col("deaths") / pl.col("cases"))
    >>> low_risk_groups(ref)
    ['A', 'B']
    """
    if method != "z":
        raise ValueError(f"unknown method {method!r}; only 'z' is implemented")
    ref = _as_reference(reference_frame)
    if "mortality" not in ref.columns or ref["mortality"].null_count() == ref.height:
        raise ColumnError(
            "discharge_type", "low-risk groups need mortality (a discharge_type column)"
        )
    if "cases" in ref.columns:
        ref = ref.filter(pl.col("cases") >= min_cases)
    ref = ref.filter(pl.col("mortality").is_not_null())
    lm = pl.when(pl.col("mortality") > 0).then(pl.col("mortality").log())
    z = (lm - lm.mean()) / lm.std()
    out = ref.with_columns(_z=z).filter(
        (pl.col("mortality") == 0) | (pl.col("_z") < threshold).fill_null(False)
    )
    return sorted(out["drg"].to_list())


def indicators(
    paid: pl.DataFrame,
    *,
    by: str | Sequence[str] | None = "hospital_id",
    reference: pl.DataFrame | None = None,
    low_risk: Sequence[str] | None = None,
    cost: str = "total_cost",
    los: str = "los_days",
) -> pl.DataFrame:
    """DRG indicators per unit of ``by`` (see the module documentation for the formulas).

    Parameters
    ----------
    paid : polars.DataFrame
        Cases with ``drg`` and ``rw`` (``status``, cost, LOS, ``discharge_type``,
        ``case_class``, ``paid`` and ``profit`` are used when present; indicators whose
        columns are missing are null).
    by : column name, list of names, or None
        Units: ``"hospital_id"``, ``"department"``, a medical-group column, ``"doctor_id"``,
        ``"drg"``, or several (``["hospital_id", "department"]``). None or ``[]`` gives one
        row for the whole frame.
    reference : polars.DataFrame, optional
        Regional case data or the output of :func:`reference_means` (``drg``,
        ``mean_cost``, ``mean_los``, ``mortality``); default: ``paid`` itself.
    low_risk : list of DRG codes, optional
        The low-risk groups; default :func:`low_risk_groups` of the reference (none when the
        reference has no mortality).

    Examples
    --------
    Cost index: hospital A's two cases of DRG X cost 120 and 180 against a reference mean of
    100: 300 ÷ 200 = 1.5; their stays of 6 and 4 days against a mean of 5 give 10 ÷ 10 = 1.0.

    >>> import polars as pl
    >>> from drgsim.metrics import indicators
    >>> df = pl.DataFrame({"hospital_id": ["A", "A", "B"], "drg": ["X", "X", None],
    ...                    "status": ["ok", "ok", "qy"], "rw": [1.0, 1.0, None],
    ...                    "total_cost": [120.0, 180.0, 50.0], "los_days": [6, 4, 1]})
    >>> ref = pl.DataFrame({"drg": ["X"], "mean_cost": [100.0], "mean_los": [5.0]})
    >>> indicators(df, by=None, reference=ref).select(
    ...     "cases", "grouping_rate", "cost_index", "time_index").row(0)
    (3, 0.6666666666666666, 1.5, 1.0)
    """
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    for col in ("drg", *keys):
        if col not in paid.columns:
            raise ColumnError(col, f"missing column {col!r} needed for the indicators")
    ref = _as_reference(paid if reference is None else reference)
    if low_risk is None:
        has_mort = "mortality" in ref.columns and ref["mortality"].null_count() < ref.height
        low_risk = low_risk_groups(ref) if has_mort else []
    ref_cols = [c for c in ("mean_cost", "mean_los") if c in ref.columns]
    df = paid.drop([c for c in ("_ref_cost", "_ref_los") if c in paid.columns])
    df = df.join(
        ref.select(
            pl.col("drg"),
            *(pl.col(c).cast(pl.Float64).alias("_ref_" + c[5:]) for c in ref_cols),
        ),
        on="drg",
        how="left",
        maintain_order="left",
    )
    for c in ("_ref_cost", "_ref_los"):
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    g = _grouped(df)
    rw = _num(df, "rw")
    weighted = g & rw.is_not_null()
    e_cost, e_los = _num(df, cost), _num(df, los)
    in_cost = g & e_cost.is_not_null() & pl.col("_ref_cost").is_not_null()
    in_los = g & e_los.is_not_null() & pl.col("_ref_los").is_not_null()
    lr = g & pl.col("drg").is_in(list(low_risk))
    death = _death(df)
    klass = pl.col("case_class") if "case_class" in df.columns else pl.lit(None, pl.String)
    aggs = [
        pl.len().cast(pl.Int64).alias("cases"),
        g.sum().cast(pl.Int64).alias("grouped"),
        pl.col("drg").filter(g).n_unique().cast(pl.Int64).alias("drg_groups"),
        rw.filter(weighted).sum().alias("_rw"),
        weighted.sum().alias("_weighted"),
        (weighted & (rw >= 2)).sum().alias("_rw2"),
        e_cost.filter(in_cost).sum().alias("_e_cost"),
        pl.col("_ref_cost").filter(in_cost).sum().alias("_E_cost"),
        e_los.filter(in_los).sum().alias("_e_los"),
        pl.col("_ref_los").filter(in_los).sum().alias("_E_los"),
        lr.sum().cast(pl.Int64).alias("low_risk_cases"),
        (lr & death).sum().cast(pl.Int64).alias("low_risk_deaths"),
        (klass == "high").sum().cast(pl.Int64).alias("high_cases"),
        (klass == "low").sum().cast(pl.Int64).alias("low_cases"),
        e_cost.sum().alias("cost"),
        _num(df, "paid").sum().alias("paid"),
        _num(df, "profit").sum().alias("profit"),
    ]

    def ratio(a: str, b: str) -> pl.Expr:
        return pl.when(pl.col(b) > 0).then(pl.col(a) / pl.col(b))

    out = df.group_by(keys).agg(aggs) if keys else df.select(aggs)
    out = out.with_columns(
        grouping_rate=ratio("grouped", "cases"),
        cmi=ratio("_rw", "_weighted"),
        rw2_share=ratio("_rw2", "_weighted"),
        cost_index=ratio("_e_cost", "_E_cost"),
        time_index=ratio("_e_los", "_E_los"),
        low_risk_mortality=(
            ratio("low_risk_deaths", "low_risk_cases")
            if "discharge_type" in df.columns
            else pl.lit(None, dtype=pl.Float64)
        ),
    )
    if "discharge_type" not in df.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.Int64).alias("low_risk_deaths"))
    for col in ("paid", "profit", "cost"):
        if col not in df.columns and not (col == "cost" and cost in df.columns):
            out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    out = out.select(*keys, *INDICATOR_COLUMNS)
    return out.sort(keys) if keys else out
