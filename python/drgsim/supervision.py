"""Supervision (医保智能监管) screens: per-case flags and anomalous coding profiles.

:func:`flags` adds to paid cases (the output of :func:`drgsim.pay`):

===========================  ===========================================================
column                       rule
===========================  ===========================================================
``flag_split_admission``     分解住院: the patient's previous stay (same hospital unless
                             ``same_hospital=False``, same MDC) ended at most
                             ``readmission_days`` days before this admission
                             (0 ≤ admission − previous discharge ≤ N). The later stay is
                             flagged; ``split_admission_reason`` names the earlier one.
``flag_bed_blocking``        挂床 (stay with few services), either rule:
                             (a) LOS above the regional median LOS of the case's DRG and
                             cost below ``bed_cost_share`` (50 %) of the payment standard;
                             (b) a 低倍率 case (``case_class`` low) with LOS ≥
                             ``bed_min_los`` (7) days. ``bed_blocking_reason`` says which.
``flag_upcoding_risk``       高套 risk: ``cf_flag`` (:mod:`drgsim.counterfactual`) contains
                             ``at_risk``; null when the frame has no ``cf_flag``.
===========================  ===========================================================

A flag whose columns are missing from the frame is null (not checked). The thresholds are
illustrative screening defaults, not national rules: a flag is a case
to review, not a finding. Planned readmissions (chemotherapy cycles, staged surgery) also
match the split-admission rule; exclude their DRGs with ``exclude_drgs``.

:func:`profiles` scores doctors or departments by their coding profile with scikit-learn's
IsolationForest (features: CC-or-MCC rate, MCC rate, CMI, cost index against the regional
reference, death rate, share of ``at_risk`` cases, case count) and explains each score by
the features furthest from the median in robust z-score.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> from drgsim.supervision import flags
>>> d = dt.date
>>> df = pl.DataFrame({
...     "case_id": ["c1", "c2"], "patient_id": ["p", "p"], "hospital_id": ["H", "H"],
...     "mdc": ["E", "E"], "drg": ["ES31", "ES31"],
...     "admission_date": [d(2025, 1, 1), d(2025, 1, 12)],
...     "discharge_date": [d(2025, 1, 8), d(2025, 1, 20)],
...     "los_days": [7, 8], "total_cost": [9000.0, 8000.0], "standard": [10000.0, 10000.0],
...     "case_class": ["normal", "normal"]})
>>> flags(df)["flag_split_admission"].to_list()
[False, True]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from drgsim.exceptions import ColumnError
from drgsim.metrics import _as_reference, _death, _grouped, _num

__all__ = ["FEATURES", "flags", "profiles"]

FLAG_COLUMNS: tuple[str, ...] = (
    "flag_split_admission",
    "split_admission_reason",
    "flag_bed_blocking",
    "bed_blocking_reason",
    "flag_upcoding_risk",
)

#: profile features and their labels in ``reasons``
FEATURES: dict[str, str] = {
    "cc_rate": "CC/MCC rate",
    "mcc_rate": "MCC rate",
    "cmi": "CMI",
    "cost_index": "cost index",
    "death_rate": "death rate",
    "at_risk_share": "at-risk share",
    "cases": "cases",
}


def _need(frame: pl.DataFrame, cols: Sequence[str], what: str) -> None:
    for col in cols:
        if col not in frame.columns:
            raise ColumnError(col, f"missing column {col!r} needed for {what}")


def flags(
    paid: pl.DataFrame,
    *,
    readmission_days: int = 15,
    same_hospital: bool = True,
    exclude_drgs: Sequence[str] = (),
    bed_cost_share: float = 0.5,
    bed_min_los: int = 7,
    reference: pl.DataFrame | None = None,
    cost: str = "total_cost",
    los: str = "los_days",
) -> pl.DataFrame:
    """Add the supervision flags of the module documentation to ``paid``.

    Parameters
    ----------
    paid : polars.DataFrame
        Paid cases. Split admission needs ``patient_id``, ``mdc``, ``admission_date`` and
        ``discharge_date`` (and ``hospital_id`` when ``same_hospital``); bed blocking needs
        ``drg``, LOS, cost, ``standard`` and ``case_class``.
    readmission_days : int
        N of the split-admission rule.
    exclude_drgs : DRG codes
        Later stays in these DRGs are not flagged as split admissions.
    bed_cost_share, bed_min_los
        Thresholds of the bed-blocking rules (a) and (b).
    reference : polars.DataFrame, optional
        Regional cases for the median LOS by DRG; default ``paid`` itself.

    Examples
    --------
    Bed blocking: DRG X's median LOS is 6.5; a 9-day stay costing 40 % of the standard is
    flagged by rule (a), a 低倍率 stay of 8 days by rule (b):

    >>> import polars as pl
    >>> from drgsim.supervision import flags
    >>> df = pl.DataFrame({"drg": ["X"] * 4, "los_days": [3, 5, 9, 8],
    ...     "total_cost": [900.0, 1000.0, 400.0, 200.0], "standard": [1000.0] * 4,
    ...     "case_class": ["normal", "normal", "normal", "low"]})
    >>> flags(df)["flag_bed_blocking"].to_list()
    [False, False, True, True]
    """
    df = paid.drop([c for c in FLAG_COLUMNS if c in paid.columns]).with_row_index("_row")
    # 分解住院
    split_cols = ["patient_id", "mdc", "admission_date", "discharge_date"]
    if same_hospital:
        split_cols.append("hospital_id")
    if any(c not in df.columns for c in split_cols):
        df = df.with_columns(
            flag_split_admission=pl.lit(None, dtype=pl.Boolean),
            split_admission_reason=pl.lit(None, dtype=pl.String),
        )
    else:
        df = _split(df, split_cols, readmission_days, exclude_drgs)
    # 挂床
    if any(c not in df.columns for c in ("drg", los, cost, "standard", "case_class")):
        df = df.with_columns(
            flag_bed_blocking=pl.lit(None, dtype=pl.Boolean),
            bed_blocking_reason=pl.lit(None, dtype=pl.String),
        )
    else:
        df = _bed_blocking(df, reference, bed_cost_share, bed_min_los, cost, los)
    # 高套 risk
    if "cf_flag" in df.columns:
        up = pl.col("cf_flag").cast(pl.String).str.contains("at_risk").fill_null(False)
    else:
        up = pl.lit(None, dtype=pl.Boolean)
    df = df.with_columns(flag_upcoding_risk=up)
    return df.drop("_row", "_median_los", strict=False)


def _split(
    df: pl.DataFrame, keys: list[str], readmission_days: int, exclude_drgs: Sequence[str]
) -> pl.DataFrame:
    """The split-admission flag and reason (``keys``: patient, MDC, dates, hospital)."""
    keys = [k for k in keys if k not in ("admission_date", "discharge_date")]
    label = pl.col("case_id").cast(pl.String) if "case_id" in df.columns else pl.col("_row")
    s = (
        df.select(
            "_row",
            *keys,
            adm=pl.col("admission_date").cast(pl.Date),
            dis=pl.col("discharge_date").cast(pl.Date),
            label=label.cast(pl.String),
            drg=pl.col("drg") if "drg" in df.columns else pl.lit(None, pl.String),
        )
        .filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
        .sort([*keys, "adm", "dis", "_row"])
        .with_columns(
            prev_dis=pl.col("dis").shift(1).over(keys),
            prev_label=pl.col("label").shift(1).over(keys),
        )
        .with_columns(gap=(pl.col("adm") - pl.col("prev_dis")).dt.total_days())
    )
    hit = (pl.col("gap") >= 0) & (pl.col("gap") <= readmission_days)
    if exclude_drgs:
        hit = hit & ~pl.col("drg").is_in(list(exclude_drgs)).fill_null(False)
    s = s.filter(hit.fill_null(False)).select(
        "_row",
        flag_split_admission=pl.lit(True),
        split_admission_reason=pl.format(
            "readmitted {} days after {} (discharged {}), same MDC {}",
            pl.col("gap"),
            pl.col("prev_label"),
            pl.col("prev_dis"),
            pl.col("mdc"),
        ),
    )
    return df.join(s, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("flag_split_admission").fill_null(False)
    )


def _bed_blocking(
    df: pl.DataFrame,
    reference: pl.DataFrame | None,
    bed_cost_share: float,
    bed_min_los: int,
    cost: str,
    los: str,
) -> pl.DataFrame:
    """The bed-blocking flag and reason."""
    ref = df if reference is None else reference
    med = (
        ref.filter(_grouped(ref))
        .group_by("drg")
        .agg(_median_los=pl.col(los).cast(pl.Float64, strict=False).median())
    )
    df = df.join(med, on="drg", how="left", maintain_order="left")
    d, c, std = _num(df, los), _num(df, cost), _num(df, "standard")
    rule_a = (d > pl.col("_median_los")) & (c < bed_cost_share * std)
    rule_b = (pl.col("case_class") == "low") & (d >= bed_min_los)
    rule_a, rule_b = rule_a.fill_null(False), rule_b.fill_null(False)
    reason_a = pl.format(
        "LOS {} > DRG median {} and cost {}% of standard",
        d.cast(pl.Int64),
        pl.col("_median_los").round(1),
        (c / std * 100).round(0).cast(pl.Int64),
    )
    reason_b = pl.format("低倍率 case with LOS {} ≥ {}", d.cast(pl.Int64), pl.lit(bed_min_los))
    return df.with_columns(
        flag_bed_blocking=rule_a | rule_b,
        bed_blocking_reason=pl.when(rule_a & rule_b)
        .then(pl.concat_str([reason_a, reason_b], separator="; "))
        .when(rule_a)
        .then(reason_a)
        .when(rule_b)
        .then(reason_b),
    )


def _robust_z(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores by column ((x − median) ÷ 1.4826 MAD; sd, then 1 when MAD is 0)."""
    med = np.nanmedian(x, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(x - med), axis=0)
    sd = np.nanstd(x, axis=0)
    scale = np.where(mad > 0, mad, np.where(sd > 0, sd, 1.0))
    return (x - med) / scale, med


def profiles(
    paid: pl.DataFrame,
    *,
    by: str = "doctor_id",
    contamination: float = 0.05,
    seed: int = 0,
    min_cases: int = 10,
    reference: pl.DataFrame | None = None,
    n_reasons: int = 3,
    mix_column: str | None = "adrg",
    cost: str = "total_cost",
) -> pl.DataFrame:
    """Score coding profiles per ``by`` unit (doctor or department) with IsolationForest.

    Features per unit, over its grouped cases (status ok): ``cc_rate`` (cases with
    ``cc_level`` CC or MCC ÷ cases), ``mcc_rate``, ``cmi`` (mean ``rw``), ``cost_index``
    (Σ cost ÷ Σ regional mean cost of each case's DRG, see :func:`drgsim.metrics.indicators`),
    ``death_rate`` (``discharge_type`` 5), ``at_risk_share`` (``cf_flag`` contains
    ``at_risk``; only when the frame has ``cf_flag``) and ``cases``. Missing features are
    left out.

    **Case-mix adjustment.** A transplant surgeon's CMI and MCC rate are high because of his
    patients, not his coding. Each rate feature therefore has an expected value
    ``<feature>_expected``: the mean over the unit's cases of the frame-wide rate of each
    case's ``mix_column`` (ADRG; upcoding moves a case to a heavier DRG of the same ADRG).
    The model sees the excess (rate − expected) of the rates, log(CMI ÷ expected CMI),
    log(cost index) and log(cases). With ``mix_column=None`` the expected values are the
    frame-wide means.

    Units with fewer than ``min_cases`` grouped cases are listed with null scores. The model
    is fitted on the robust z-scores ((x − median) ÷ 1.4826 MAD) of the model features of
    the other units (``n_estimators`` 200, ``random_state`` = ``seed``); features constant
    across units are dropped.

    Returns
    -------
    polars.DataFrame
        ``by``, the features, ``score`` (−``score_samples``: higher is more anomalous),
        ``anomaly`` (IsolationForest's outlier label at ``contamination``), ``rank`` (1 = most
        anomalous) and ``reasons``: the ``n_reasons`` features with the largest |robust z|,
        as ``"MCC rate 1.00 vs expected 0.35 vs median 0.36"`` (the unit's value, its
        case-mix expectation, the median unit's value). Sorted by rank.
    """
    from sklearn.ensemble import IsolationForest

    _need(paid, [by, "drg"], "coding profiles")
    ref = _as_reference(paid if reference is None else reference)
    df = paid.join(
        ref.select("drg", pl.col("mean_cost").cast(pl.Float64).alias("_ref_cost")),
        on="drg",
        how="left",
        maintain_order="left",
    ).filter(_grouped(paid))
    mix = [mix_column] if mix_column is not None and mix_column in df.columns else []
    e = _num(df, cost)
    in_cost = e.is_not_null() & pl.col("_ref_cost").is_not_null()
    case: dict[str, pl.Expr] = {}
    if "cc_level" in df.columns:
        cc = pl.col("cc_level").cast(pl.String)
        case["cc_rate"] = cc.is_in(["CC", "MCC"]).fill_null(False).cast(pl.Float64)
        case["mcc_rate"] = (cc == "MCC").fill_null(False).cast(pl.Float64)
    if "rw" in df.columns:
        case["cmi"] = _num(df, "rw")
    if "discharge_type" in df.columns:
        case["death_rate"] = _death(df).fill_null(False).cast(pl.Float64)
    if "cf_flag" in df.columns:
        case["at_risk_share"] = (
            pl.col("cf_flag").cast(pl.String).str.contains("at_risk").fill_null(False)
        ).cast(pl.Float64)
    df = df.with_columns(**{f"_o_{k}": v for k, v in case.items()})
    df = df.with_columns(
        **{
            f"_x_{k}": (pl.col(f"_o_{k}").mean().over(mix) if mix else pl.col(f"_o_{k}").mean())
            for k in case
        }
    )
    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("cases")]
    for k in case:
        aggs += [pl.col(f"_o_{k}").mean().alias(k), pl.col(f"_x_{k}").mean().alias(f"{k}_expected")]
    if cost in df.columns:
        aggs.append(
            (e.filter(in_cost).sum() / pl.col("_ref_cost").filter(in_cost).sum()).alias(
                "cost_index"
            )
        )
    units = df.group_by(by).agg(aggs).sort(by)
    feats = [f for f in FEATURES if f in units.columns]
    expected = [f for f in feats if f"{f}_expected" in units.columns]
    units = units.select(
        by, *[c for f in feats for c in (f, f"{f}_expected") if c in units.columns]
    )
    fit = units.filter(pl.col("cases") >= min_cases)

    def model_feature(f: str) -> pl.Expr:
        v = pl.col(f).cast(pl.Float64)
        if f == "cmi":
            return (v.clip(1e-3) / pl.col("cmi_expected").clip(1e-3)).log()
        if f in expected:
            return v - pl.col(f"{f}_expected")
        return v.clip(1e-3).log()

    x = fit.select([model_feature(f) for f in feats]).to_numpy()
    score = np.full(fit.height, np.nan)
    anomaly = np.zeros(fit.height, dtype=bool)
    reasons: list[str | None] = [None] * fit.height
    if fit.height >= 2:
        z, _ = _robust_z(x)
        raw = fit.select(feats).cast(pl.Float64).to_numpy()
        exp = fit.select(
            [(pl.col(f"{f}_expected") if f in expected else pl.lit(np.nan)).alias(f) for f in feats]
        ).to_numpy()
        raw_med = np.nanmedian(raw, axis=0)
        keep = ~np.all(np.isnan(z) | (z == 0), axis=0)
        zf = np.nan_to_num(z[:, keep])
        if zf.shape[1] > 0:
            model = IsolationForest(
                n_estimators=200, contamination=contamination, random_state=seed
            )
            model.fit(zf)
            score = -model.score_samples(zf)
            anomaly = model.predict(zf) == -1
        az = np.nan_to_num(np.abs(z))
        for i in range(fit.height):
            top = [j for j in np.argsort(-az[i], kind="stable")[:n_reasons] if az[i, j] > 0]
            parts = []
            for j in top:
                text = f"{FEATURES[feats[j]]} {_fmt(raw[i, j])}"
                if feats[j] in expected:
                    text += f" vs expected {_fmt(exp[i, j])}"
                parts.append(f"{text} vs median {_fmt(raw_med[j])}")
            reasons[i] = "; ".join(parts)
    scored = fit.select(by).with_columns(
        score=pl.Series(score, dtype=pl.Float64).fill_nan(None),
        anomaly=pl.Series(anomaly, dtype=pl.Boolean),
        reasons=pl.Series(reasons, dtype=pl.String),
    )
    out = units.join(scored, on=by, how="left", maintain_order="left")
    out = out.sort(["score", by], descending=[True, False], nulls_last=True)
    return out.with_columns(
        rank=pl.when(pl.col("score").is_not_null()).then(pl.int_range(1, pl.len() + 1))
    ).select(*units.columns, "score", "anomaly", "rank", "reasons")


def _fmt(v: float) -> str:
    if np.isnan(v):
        return "n/a"
    if float(v).is_integer() and abs(v) >= 10:
        return f"{int(v)}"
    return f"{v:.2f}"
