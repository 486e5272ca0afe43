"""Calibration recovers the weights a synthetic hospital was generated with (issue 5)."""

from __future__ import annotations

import polars as pl

from drgsim import synth
from drgsim.calibrate import calibrate, homogeneity


def test_calibration_recovers_generating_weights():
    """RW is relative, so both sides are put on the same scale (case-weighted mean 1) before
    the relative error |rw_calibrated − rw_true| / rw_true is taken per group with ≥ 30
    cases; outliers are trimmed with Tukey's fences (IQR rule)."""
    df = synth.hospital("teaching", cases=200_000, hospitals=1, seed=11)
    truth = synth.resolve_weights("teaching").select("drg", pl.col("rw").alias("rw_true"))
    cal = calibrate(df, cost="total_cost", group="drg", trim="iqr", min_cases=30)
    j = cal.join(truth, on="drg").filter(pl.col("n") >= 30, pl.col("rw").is_not_null())
    assert j.height >= 100
    scale_true = (j["rw_true"] * j["n"]).sum() / j["n"].sum()
    scale_cal = (j["rw"] * j["n"]).sum() / j["n"].sum()
    err = (j["rw"] / scale_cal - j["rw_true"] / scale_true).abs() / (j["rw_true"] / scale_true)
    assert err.median() < 0.05, f"median relative error {err.median():.3f}"


def test_synthetic_grouping_is_homogeneous():
    df = synth.hospital("teaching", cases=100_000, hospitals=2, seed=5)
    h = homogeneity(df, cost="total_cost", group="drg", log=True)
    assert h["riv_log"] > 0.5
    assert h["cv_below_1"] > 0.95
