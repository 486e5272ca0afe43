"""Weights from data: relative weights (RW) and 基准点数 from case costs, and homogeneity.

:func:`calibrate` computes, per DRG, the relative weight

    RW_g = mean cost of group g ÷ mean cost of all cases

(该DRG组次均住院费用 ÷ 统筹区所有病例次均住院费用) and the points 基准点数 = RW × ``scale``
(100 in most point-method cities), after optional outlier trimming within each group and
optional year weighting. :func:`homogeneity` measures how well a grouping separates costs:
the reduction in variance (RIV) and the within-group coefficients of variation.
:func:`as_weights` turns a calibration into the project's weights format
(:mod:`drgsim.weights`).

Everything is computed with Polars expressions (group-bys and window functions); there is no
Python loop over cases.

Trimming rules (``trim=``), applied within each group, to its cases of the years used, before
any mean is taken; a case outside the bounds is dropped from every mean (its group's and the
all-case mean) and from ``n_used``:

- ``None``: no trimming.
- ``"iqr"`` or ``("iqr", k)``: keep Q1 − k·IQR ≤ cost ≤ Q3 + k·IQR with IQR = Q3 − Q1 and
  k = 1.5 by default (Tukey's fences). Quartiles interpolate linearly between order
  statistics (the 25 % quantile of sorted x₀ … x_{n−1} is at position 0.25·(n − 1)).
- ``"sd"`` or ``("sd", k)``: keep |cost − mean| ≤ k·sd, with the group's mean and sample
  standard deviation (n − 1) before trimming, one pass, k = 3 by default. A single outlier
  among n cases has |z| ≤ (n − 1)/√n, so k = 3 trims nothing in groups of 10 cases or fewer.
- ``"percentile"`` or ``("percentile", lo, hi)``: keep the costs between the group's lo and hi
  quantiles (linear interpolation, bounds included); by default 0.025 and 0.975.

Examples
--------
>>> import polars as pl
>>> from drgsim.calibrate import calibrate
>>> cases = pl.DataFrame({"drg": ["A", "A", "B", "B"],
...                       "total_cost": [1000.0, 3000.0, 5000.0, 7000.0]})
>>> calibrate(cases, min_cases=2).select("drg", "mean_cost", "rw", "base_points").rows()
[('A', 2000.0, 0.5, 50.0), ('B', 6000.0, 1.5, 150.0)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import polars as pl

from drgsim.exceptions import ColumnError, InputError

__all__ = ["CALIBRATE_COLUMNS", "Trim", "as_weights", "calibrate", "homogeneity"]

#: A trimming rule, see the module documentation.
Trim = (
    None
    | Literal["iqr", "sd", "percentile"]
    | tuple[Literal["iqr"], float]
    | tuple[Literal["sd"], float]
    | tuple[Literal["percentile"], float, float]
)

#: Columns of :func:`calibrate`'s result, in order.
CALIBRATE_COLUMNS: tuple[str, ...] = (
    "drg",
    "n",
    "n_used",
    "mean_cost",
    "rw",
    "base_points",
    "cv",
    "flag",
)

_X, _Y, _W, _G = "_cost", "_year", "_weight", "drg"


def _rule(trim: Any) -> tuple[str, float, float]:
    """Normalise ``trim`` to (kind, a, b); raise InputError on a bad rule."""
    if trim is None:
        return ("none", 0.0, 0.0)
    defaults = {"iqr": (1.5, 0.0), "sd": (3.0, 0.0), "percentile": (0.025, 0.975)}
    if isinstance(trim, str) and trim in defaults:
        return (trim, *defaults[trim])
    if isinstance(trim, tuple) and trim and trim[0] in defaults:
        kind, args = trim[0], trim[1:]
        try:
            nums = [float(a) for a in args]
        except (TypeError, ValueError):
            nums = []
        if kind in ("iqr", "sd") and len(nums) == 1 and nums[0] > 0:
            return (kind, nums[0], 0.0)
        if kind == "percentile" and len(nums) == 2 and 0.0 <= nums[0] < nums[1] <= 1.0:
            return (kind, nums[0], nums[1])
    raise InputError(
        f"trim must be None, 'iqr', ('iqr', k>0), 'sd', ('sd', k>0), 'percentile' or "
        f"('percentile', lo, hi) with 0 <= lo < hi <= 1; got {trim!r}"
    )


def _keep(trim: Any, by: str | list[str]) -> pl.Expr:
    """A boolean expression: the case survives the trimming rule within its group."""
    kind, a, b = _rule(trim)
    x = pl.col(_X)
    if kind == "none":
        return pl.lit(True)
    if kind == "iqr":
        q1 = x.quantile(0.25, interpolation="linear").over(by)
        q3 = x.quantile(0.75, interpolation="linear").over(by)
        return (x >= q1 - a * (q3 - q1)) & (x <= q3 + a * (q3 - q1))
    if kind == "sd":
        mean, sd = x.mean().over(by), x.std(ddof=1).over(by)
        return ((x - mean).abs() <= a * sd).fill_null(True)  # sd is null for one case
    lo = x.quantile(a, interpolation="linear").over(by)
    hi = x.quantile(b, interpolation="linear").over(by)
    return (x >= lo) & (x <= hi)


def _prepare(
    cases: pl.DataFrame | pl.LazyFrame,
    cost: str,
    group: str,
    year: str | None,
    year_weights: Mapping[int, float] | None,
) -> pl.DataFrame:
    """Cases as (drg, _cost, _year, _weight), rows without a group removed; costs checked."""
    lf = cases.lazy()
    schema = lf.collect_schema()
    for what, col in (("cost", cost), ("group", group), ("year", year)):
        if col is not None and col not in schema:
            raise ColumnError(
                col, f"no {what} column {col!r} in the cases; columns: {', '.join(schema)}"
            )
    if year_weights is not None and year is None:
        raise InputError("year_weights needs year= (the name of the cases' year column)")
    weights: dict[int, float] = {}
    for y, w in (year_weights or {}).items():
        try:
            weights[int(y)] = float(w)
        except (TypeError, ValueError) as e:
            raise InputError(f"year_weights must map years to numbers; got {y!r}: {w!r}") from e
    if weights and (
        any(not math.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0
    ):
        raise InputError(f"year weights must be finite, >= 0 and not all 0; got {weights}")

    def numeric(col: str, to: pl.DataType) -> pl.Expr:
        t = schema[col]
        if t == pl.String:
            s = pl.col(col).str.strip_chars()
            return pl.when(s == "").then(None).otherwise(s).cast(to, strict=False)
        if t.is_numeric() or t == pl.Null:
            return pl.col(col).cast(to, strict=False)
        raise ColumnError(col, f"column {col!r} must be numeric (or numeric text), not {t}")

    def unparsed(raw: str, source: str, parsed: str) -> pl.Expr:
        """The value is there (not null, not blank text) but did not parse."""
        there = pl.col(raw).is_not_null()
        if schema[source] == pl.String:
            there = there & (pl.col(raw).str.strip_chars() != "")
        return pl.col(parsed).is_null() & there

    raw_year = [pl.col(year).alias("_year_raw")] if year is not None else []
    df = (
        lf.select(
            pl.col(group).cast(pl.String).alias(_G),
            numeric(cost, pl.Float64()).alias(_X),
            pl.col(cost).alias("_cost_raw"),
            (numeric(year, pl.Int64()) if year is not None else pl.lit(0, pl.Int64)).alias(_Y),
            *raw_year,
        )
        .filter(pl.col(_G).is_not_null())
        .collect()
    )
    bad = df.filter(unparsed("_cost_raw", cost, _X) | ~pl.col(_X).is_finite() | (pl.col(_X) < 0))
    if bad.height:
        raise InputError(
            f"{bad.height} case(s) have a cost in {cost!r} that is not a number >= 0, "
            f"e.g. {bad['_cost_raw'].head(3).cast(pl.String).to_list()}"
        )
    if year is not None:
        bad_y = df.filter(unparsed("_year_raw", year, _Y))
        if bad_y.height:
            raise InputError(
                f"{bad_y.height} case(s) have a year in {year!r} that is not an integer, "
                f"e.g. {bad_y['_year_raw'].head(3).cast(pl.String).to_list()}"
            )
    weight = (
        pl.col(_Y).replace_strict(weights, default=0.0, return_dtype=pl.Float64)
        if weights
        else pl.lit(1.0)
    )
    return df.select(_G, _X, _Y, weight.fill_null(0.0).alias(_W))


def _weighted_mean(frame: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    """Σ w_y·mean_y / Σ w_y over the years of each ``by`` group (all cases when by is [])."""
    per_year = frame.group_by([*by, _Y]).agg(
        pl.col(_X).mean().alias("_m"), pl.len().alias("_k"), pl.col(_W).first()
    )
    aggs = [
        ((pl.col(_W) * pl.col("_m")).sum() / pl.col(_W).sum()).alias("mean_cost"),
        pl.col("_k").sum().cast(pl.Int64).alias("n_used"),
    ]
    if by:
        return per_year.group_by(by).agg(aggs)
    return per_year.select(aggs)


def calibrate(
    cases: pl.DataFrame | pl.LazyFrame,
    *,
    cost: str = "total_cost",
    group: str = "drg",
    year: str | None = None,
    year_weights: Mapping[int, float] | None = None,
    trim: Trim = None,
    min_cases: int = 5,
    small: Literal["null", "adrg"] = "null",
    scale: float = 100.0,
) -> pl.DataFrame:
    """Relative weights and 基准点数 of each group from case costs.

    Steps: (1) cases with no group are dropped; cases with no cost, or of a year whose weight
    is 0, are counted in ``n`` but not used; (2) the trimming rule removes outliers within each
    group (module documentation); (3) each group's mean cost is its year-weighted mean
    ``Σ_y w_y·mean_{g,y} / Σ_y w_y`` over the years in which the group has cases, and the
    all-case mean is ``Σ_y w_y·mean_y / Σ_y w_y`` with ``mean_y`` the mean of all used cases
    of year y (without ``year``, both are plain means); (4) ``rw = mean_cost ÷ all-case
    mean`` and ``base_points = rw × scale``.

    Groups with fewer than ``min_cases`` used cases are flagged: with ``small="null"`` their
    ``rw`` is null (``flag`` = ``"small"``); with ``small="adrg"`` they take the RW of their
    ADRG, i.e. the first three characters of the code (``GE25`` → ``GE2``), computed from the
    pooled used cases of all DRGs of that ADRG (``flag`` = ``"adrg"``), or stay null when the
    ADRG too has fewer than ``min_cases``. Their cases still count in the all-case mean.

    Parameters
    ----------
    cases : pl.DataFrame or pl.LazyFrame
        One row per case.
    cost : str
        Column of the case's cost (numbers, or numbers as text); must be >= 0.
    group : str
        Column of the group (DRG) code; the result calls it ``drg`` whatever its name.
    year : str, optional
        Column of the case's year (integers); needed for ``year_weights``.
    year_weights : mapping year -> weight, optional
        E.g. ``{2022: 1, 2023: 2, 2024: 7}``. Years not listed get weight 0 (their cases are
        not used). With ``year`` but no ``year_weights`` every year weighs 1, so each year
        counts the same whatever its number of cases.
    trim : None, "iqr", ("iqr", k), "sd", ("sd", k), "percentile" or ("percentile", lo, hi)
        Outlier trimming within each group; see the module documentation.
    min_cases : int
        Fewest used cases for a group to get its own RW (default 5).
    small : {"null", "adrg"}
        What groups below ``min_cases`` get (see above).
    scale : float
        基准点数 per unit of RW (100 in most point-method cities).

    Returns
    -------
    pl.DataFrame
        One row per group, sorted by code, columns :data:`CALIBRATE_COLUMNS`: ``drg``; ``n``
        (cases of the group); ``n_used`` (cases used after dropping missing costs, zero-weight
        years and trimmed cases); ``mean_cost`` (the group's year-weighted mean); ``rw``;
        ``base_points``; ``cv`` (sample standard deviation ÷ mean of the used costs of the
        group, all years pooled, null under two cases or a zero mean); ``flag`` (``"ok"``,
        ``"small"`` or ``"adrg"``). For ``"ok"`` rows ``rw × all-case mean = mean_cost``
        exactly, so the all-case mean is ``mean_cost / rw`` of any such row.

    Raises
    ------
    ColumnError
        A named column is missing or not numeric.
    InputError
        A cost below 0 or not a number, a bad year, rule or weight, or no usable case.

    Examples
    --------
    Two groups, A with costs 1000, 2000, 3000 (mean 2000) and B with 4000, 6000 (mean 5000);
    the all-case mean is 16000 / 5 = 3200, so RW(A) = 2000 / 3200 = 0.625 and RW(B) =
    5000 / 3200 = 1.5625, 基准点数 62.5 and 156.25:

    >>> import polars as pl
    >>> from drgsim.calibrate import calibrate
    >>> cases = pl.DataFrame({"drg": ["A", "A", "A", "B", "B"],
    ...                       "total_cost": [1000.0, 2000.0, 3000.0, 4000.0, 6000.0]})
    >>> out = calibrate(cases, min_cases=3)
    >>> out.select("drg", "n", "mean_cost", "rw", "base_points", "flag").rows()
    [('A', 3, 2000.0, 0.625, 62.5, 'ok'), ('B', 2, 5000.0, None, None, 'small')]
    >>> calibrate(cases, min_cases=2)["rw"].to_list()
    [0.625, 1.5625]
    """
    if isinstance(min_cases, bool) or not isinstance(min_cases, int) or min_cases < 1:
        raise InputError(f"min_cases must be an integer >= 1; got {min_cases!r}")
    if small not in ("null", "adrg"):
        raise InputError(f"small must be 'null' or 'adrg'; got {small!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise InputError(f"scale must be a positive number; got {scale!r}")
    _rule(trim)  # validate early
    df = _prepare(cases, cost, group, year, year_weights)
    counts = df.lazy().group_by(_G).agg(pl.len().cast(pl.Int64).alias("n"))
    used = (
        df.lazy()
        .filter(pl.col(_X).is_not_null() & (pl.col(_W) > 0))
        .filter(_keep(trim, _G))
        .collect()
    )
    if used.height == 0:
        raise InputError("no case has a cost (in a year of positive weight) to calibrate on")
    overall = _weighted_mean(used.lazy(), []).collect()["mean_cost"].item()
    if not overall > 0:
        raise InputError("the all-case mean cost is 0; relative weights are undefined")
    x = pl.col(_X)
    cv = (
        used.lazy()
        .group_by(_G)
        .agg(pl.when(x.mean() > 0).then(x.std(ddof=1) / x.mean()).otherwise(None).alias("cv"))
    )
    out = (
        counts.join(_weighted_mean(used.lazy(), [_G]), on=_G, how="left")
        .join(cv, on=_G, how="left")
        .with_columns(pl.col("n_used").fill_null(0))
    )
    own = pl.col("n_used") >= min_cases
    if small == "adrg":
        adrg = (
            used.lazy()
            .with_columns(pl.col(_G).str.slice(0, 3).alias("_adrg"))
            .pipe(_weighted_mean, ["_adrg"])
            .rename({"mean_cost": "_adrg_mean", "n_used": "_adrg_n"})
        )
        out = (
            out.with_columns(pl.col(_G).str.slice(0, 3).alias("_adrg"))
            .join(adrg, on="_adrg", how="left")
            .with_columns(pooled=~own & (pl.col("_adrg_n").fill_null(0) >= min_cases))
        )
        rw: pl.Expr = (
            pl.when(own)
            .then(pl.col("mean_cost") / overall)
            .when(pl.col("pooled"))
            .then(pl.col("_adrg_mean") / overall)
        )
        flag: pl.Expr = (
            pl.when(own)
            .then(pl.lit("ok"))
            .when(pl.col("pooled"))
            .then(pl.lit("adrg"))
            .otherwise(pl.lit("small"))
        )
    else:
        rw = pl.when(own).then(pl.col("mean_cost") / overall)
        flag = pl.when(own).then(pl.lit("ok")).otherwise(pl.lit("small"))
    return (
        out.with_columns(rw.cast(pl.Float64).alias("rw"), flag.alias("flag"))
        .with_columns((pl.col("rw") * scale).alias("base_points"))
        .select(
            pl.col(_G).alias("drg"),
            "n",
            "n_used",
            pl.col("mean_cost").cast(pl.Float64),
            "rw",
            "base_points",
            pl.col("cv").cast(pl.Float64),
            "flag",
        )
        .sort("drg")
        .collect()
    )


def as_weights(
    calibrated: pl.DataFrame, *, source: str = "calibrated", year: int | None = None
) -> pl.DataFrame:
    """A :func:`calibrate` result in the project's weights format (:mod:`drgsim.weights`).

    ``drg``, ``rw`` and ``base_points`` are kept; groups without an RW keep a row with a null
    ``rw``; ``special`` is false; standards and coefficients are null.

    Examples
    --------
    >>> import polars as pl
    >>> from drgsim.calibrate import as_weights, calibrate
    >>> cases = pl.DataFrame({"drg": ["A", "B"], "total_cost": [100.0, 300.0]})
    >>> w = as_weights(calibrate(cases, min_cases=1), year=2024)
    >>> w.select("drg", "rw", "base_points", "year", "source").rows()
    [('A', 0.5, 50.0, 2024, 'calibrated'), ('B', 1.5, 150.0, 2024, 'calibrated')]
    """
    from drgsim import weights

    missing = [c for c in ("drg", "rw", "base_points") if c not in calibrated.columns]
    if missing:
        raise InputError(f"not a calibrate() result: missing {', '.join(missing)}")
    return weights.from_frame(
        calibrated.select("drg", "rw", "base_points").with_columns(
            pl.lit(year, pl.Int64).alias("year")
        ),
        source=source,
    )


def homogeneity(
    cases: pl.DataFrame | pl.LazyFrame,
    *,
    cost: str = "total_cost",
    group: str = "drg",
    log: bool = False,
    trim: Trim = None,
) -> dict[str, Any]:
    """How well the groups separate costs: reduction in variance and within-group CV.

    With x_i the cost of case i, x̄ the mean of all cases and x̄_g the mean of case i's group:

    - SST = Σ_i (x_i − x̄)² (total sum of squares);
    - SSW = Σ_g Σ_{i∈g} (x_i − x̄_g)² (within-group sum of squares);
    - RIV = 1 − SSW / SST, the share of the cost variance explained by the grouping
      (0: groups no better than one group; 1: every group has a single cost). Null when
      SST = 0.

    With ``log=True`` the same is computed on ln(cost) as well (``riv_log``; only cases with
    cost > 0, counted in ``n_log``), which damps the weight of very expensive cases.
    The CV of a group is its sample standard deviation (n − 1) ÷ its mean, for groups with at
    least two cases and a mean above 0. Cases with no group or no cost are left out; the
    trimming rule (as in :func:`calibrate`) is applied first within each group.

    Returns
    -------
    dict
        ``n`` (cases), ``groups``, ``mean``, ``sst``, ``ssw``, ``riv``; ``cv_groups`` (groups
        with a CV), ``cv_median``, ``cv_below_1`` (share of those groups with CV < 1);
        with ``log``: ``n_log``, ``sst_log``, ``ssw_log``, ``riv_log``.

    Examples
    --------
    Groups A = {1, 3} and B = {5, 7}: x̄ = 4, SST = 9 + 1 + 1 + 9 = 20, SSW = (1 + 1) + (1 + 1)
    = 4, RIV = 1 − 4/20 = 0.8; CV(A) = √2 / 2, CV(B) = √2 / 6:

    >>> import polars as pl
    >>> from drgsim.calibrate import homogeneity
    >>> h = homogeneity(pl.DataFrame({"drg": ["A", "A", "B", "B"],
    ...                               "total_cost": [1.0, 3.0, 5.0, 7.0]}))
    >>> h["sst"], h["ssw"], h["riv"], h["cv_below_1"]
    (20.0, 4.0, 0.8, 1.0)
    """
    df = _prepare(cases, cost, group, None, None)
    used = df.lazy().filter(pl.col(_X).is_not_null()).filter(_keep(trim, _G)).collect()

    def sums(values: pl.Expr) -> tuple[int, float, float]:
        r = (
            used.lazy()
            .select(pl.col(_G), values.alias("_v"))
            .filter(pl.col("_v").is_not_null())
            .select(
                pl.len().alias("n"),
                ((pl.col("_v") - pl.col("_v").mean()) ** 2).sum().alias("sst"),
                ((pl.col("_v") - pl.col("_v").mean().over(_G)) ** 2).sum().alias("ssw"),
            )
            .collect()
        )
        return int(r["n"].item()), float(r["sst"].item() or 0.0), float(r["ssw"].item() or 0.0)

    def riv(sst: float, ssw: float) -> float | None:
        return 1.0 - ssw / sst if sst > 0 else None

    n, sst, ssw = sums(pl.col(_X))
    x = pl.col(_X)
    cv = (
        used.lazy()
        .group_by(_G)
        .agg(pl.len().alias("k"), x.mean().alias("m"), x.std(ddof=1).alias("s"))
        .filter((pl.col("k") >= 2) & (pl.col("m") > 0))
        .select((pl.col("s") / pl.col("m")).alias("cv"))
        .select(
            pl.len().alias("cv_groups"),
            pl.col("cv").median().alias("cv_median"),
            (pl.col("cv") < 1).mean().cast(pl.Float64).alias("cv_below_1"),
        )
        .collect()
        .row(0, named=True)
    )
    out: dict[str, Any] = {
        "n": n,
        "groups": used[_G].n_unique(),
        "mean": used.select(pl.col(_X).mean()).item(),
        "sst": sst,
        "ssw": ssw,
        "riv": riv(sst, ssw),
        **cv,
    }
    if log:
        n_log, sst_log, ssw_log = sums(pl.when(x > 0).then(x.log()))
        out.update(n_log=n_log, sst_log=sst_log, ssw_log=ssw_log, riv_log=riv(sst_log, ssw_log))
    return out
