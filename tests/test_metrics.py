"""drgsim.metrics: indicators by unit, reference means and low-risk groups."""

from __future__ import annotations

import math

import polars as pl
import pytest

import drgsim
import drgsim.policy
from drgsim import metrics
from drgsim.exceptions import ColumnError


@pytest.fixture(scope="module")
def region() -> pl.DataFrame:
    df = drgsim.synth.hospital("teaching", cases=20000, hospitals=3, seed=1)
    return drgsim.pay(df, drgsim.policy.example("rate"))


def test_cmi_worked_example() -> None:
    df = pl.DataFrame(
        {
            "hospital_id": ["A"] * 100,
            "drg": ["X1"] * 50 + ["X2"] * 30 + ["X3"] * 20,
            "rw": [1.2] * 50 + [0.8] * 30 + [2.5] * 20,
        }
    )
    row = metrics.indicators(df).row(0, named=True)
    assert row["cmi"] == pytest.approx(1.34)
    assert row["drg_groups"] == 3
    assert row["rw2_share"] == pytest.approx(0.2)
    assert row["cost_index"] is None and row["low_risk_mortality"] is None


def test_small_hand_computed() -> None:
    df = pl.DataFrame(
        {
            "hospital_id": ["A", "A", "A", "B", "B"],
            "drg": ["X", "Y", None, "X", "Y"],
            "status": ["ok", "ok", "qy", "ok", "ok"],
            "rw": [1.0, 3.0, None, 1.0, None],
            "total_cost": [100.0, 600.0, 50.0, 300.0, 200.0],
            "los_days": [2, 10, 1, 6, 4],
            "discharge_type": [1, 1, 1, 5, 1],
            "case_class": ["normal", "high", "excluded", "low", "normal"],
            "paid": [110.0, 500.0, 50.0, 250.0, 200.0],
            "profit": [10.0, -100.0, 0.0, -50.0, 0.0],
        }
    )
    ref = metrics.reference_means(df)
    # X: (100 + 300) / 2 = 200, LOS 4; Y: (600 + 200) / 2 = 400, LOS 7
    assert ref.select("drg", "mean_cost", "mean_los", "deaths").rows() == [
        ("X", 200.0, 4.0, 1),
        ("Y", 400.0, 7.0, 0),
    ]
    out = metrics.indicators(df, low_risk=["X"])
    a, b = out.rows(named=True)
    assert (a["cases"], a["grouped"], a["grouping_rate"]) == (3, 2, pytest.approx(2 / 3))
    assert a["cmi"] == pytest.approx(2.0) and a["rw2_share"] == pytest.approx(0.5)
    assert a["cost_index"] == pytest.approx(700 / 600)  # (100 + 600) / (200 + 400)
    assert a["time_index"] == pytest.approx(12 / 11)  # (2 + 10) / (4 + 7)
    assert (a["high_cases"], a["low_cases"], a["profit"]) == (1, 0, -90.0)
    assert b["cmi"] == pytest.approx(1.0)  # Y has no weight: CMI over weighted cases
    assert b["cost_index"] == pytest.approx(500 / 600)
    assert (b["low_risk_cases"], b["low_risk_deaths"], b["low_risk_mortality"]) == (1, 1, 1.0)
    assert (a["low_risk_cases"], a["low_risk_mortality"]) == (1, 0.0)
    total = metrics.indicators(df, by=None, low_risk=["X"]).row(0, named=True)
    assert total["cases"] == 5 and total["cost_index"] == pytest.approx(1.0)


def test_low_risk_z() -> None:
    ref = pl.DataFrame(
        {"drg": list("ABCDE"), "cases": [100] * 5, "deaths": [0, 1, 10, 10, 10]}
    ).with_columns(mortality=pl.col("deaths") / pl.col("cases"))
    lm = [math.log(m) for m in (0.01, 0.1, 0.1, 0.1)]
    mean = sum(lm) / 4
    sd = math.sqrt(sum((v - mean) ** 2 for v in lm) / 3)
    assert (lm[0] - mean) / sd == pytest.approx(-1.5)
    assert metrics.low_risk_groups(ref) == ["A", "B"]
    assert metrics.low_risk_groups(ref, threshold=-2) == ["A"]
    assert metrics.low_risk_groups(ref, min_cases=101) == []
    with pytest.raises(ValueError):
        metrics.low_risk_groups(ref, method="rate")
    with pytest.raises(ColumnError):
        metrics.low_risk_groups(pl.DataFrame({"drg": ["A"]}))


def test_region_by_units(region: pl.DataFrame) -> None:
    for by in ("hospital_id", "department", "doctor_id", "drg", ["hospital_id", "department"]):
        out = metrics.indicators(region, by=by)
        assert out["cases"].sum() == region.height
        assert out["profit"].sum() == pytest.approx(region["profit"].sum())
    total = metrics.indicators(region, by=None).row(0, named=True)
    # the region against itself averages 1 by construction
    assert total["cost_index"] == pytest.approx(1.0) and total["time_index"] == pytest.approx(1.0)
    g = region.filter(pl.col("status") == "ok")
    assert total["cmi"] == pytest.approx(g["rw"].mean())
    assert total["drg_groups"] == g["drg"].n_unique()
    assert total["high_cases"] == (region["case_class"] == "high").sum()
    lr = metrics.low_risk_groups(region)
    assert 0 < len(lr) < g["drg"].n_unique()
    lrc = g.filter(pl.col("drg").is_in(lr))
    assert total["low_risk_cases"] == lrc.height
    assert total["low_risk_deaths"] == (lrc["discharge_type"] == 5).sum()
    # a medical-group column works as a unit too
    mg = region.with_columns(medical_group=pl.col("department").str.slice(0, 1))
    assert metrics.indicators(mg, by="medical_group")["cases"].sum() == region.height


def test_external_reference(region: pl.DataFrame) -> None:
    ref = metrics.reference_means(region).with_columns(pl.col("mean_cost") * 2)
    h = metrics.indicators(region, by=None, reference=ref).row(0, named=True)
    assert h["cost_index"] == pytest.approx(0.5)


def test_missing_column() -> None:
    with pytest.raises(ColumnError):
        metrics.indicators(pl.DataFrame({"drg": ["A"], "rw": [1.0]}), by="doctor_id")
