"""drgsim.supervision: per-case flags and doctor/department coding profiles."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import drgsim
import drgsim.policy
from drgsim import supervision

D = dt.date


@pytest.fixture(scope="module")
def synth() -> pl.DataFrame:
    return drgsim.synth.hospital("teaching", cases=20000, hospitals=3, seed=1)


@pytest.fixture(scope="module")
def region(synth: pl.DataFrame) -> pl.DataFrame:
    return drgsim.pay(synth, drgsim.policy.example("rate"))


def _stays(**over: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {
        "case_id": ["c1", "c2", "c3", "c4"],
        "patient_id": ["p", "p", "p", "q"],
        "hospital_id": ["H", "H", "H", "H"],
        "mdc": ["E", "E", "E", "E"],
        "drg": ["ES31", "ES31", "ES31", "ES31"],
        "admission_date": [D(2025, 1, 1), D(2025, 1, 23), D(2025, 3, 1), D(2025, 1, 10)],
        "discharge_date": [D(2025, 1, 8), D(2025, 1, 30), D(2025, 3, 5), D(2025, 1, 15)],
        "los_days": [7, 7, 4, 5],
        "total_cost": [9000.0, 8000.0, 7000.0, 9000.0],
        "standard": [10000.0] * 4,
        "case_class": ["normal"] * 4,
    }
    base.update(over)
    return pl.DataFrame(base)


def test_split_admission_rule() -> None:
    # c2 is admitted 15 days after c1's discharge (flagged at N = 15, not at N = 14);
    # c3 30 days after c2; c4 is another patient
    out = supervision.flags(_stays())
    assert out["flag_split_admission"].to_list() == [False, True, False, False]
    assert out["split_admission_reason"][1] == (
        "readmitted 15 days after c1 (discharged 2025-01-08), same MDC E"
    )
    assert not supervision.flags(_stays(), readmission_days=14)["flag_split_admission"].any()
    other_mdc = supervision.flags(_stays(mdc=["E", "F", "E", "E"]))
    assert not other_mdc["flag_split_admission"].any()
    other_hosp = _stays(hospital_id=["H", "K", "H", "H"])
    assert not supervision.flags(other_hosp)["flag_split_admission"].any()
    assert supervision.flags(other_hosp, same_hospital=False)["flag_split_admission"][1]
    assert not supervision.flags(_stays(), exclude_drgs=["ES31"])["flag_split_admission"].any()


def test_bed_blocking_rule() -> None:
    df = pl.DataFrame(
        {
            "drg": ["X"] * 5,
            "los_days": [3, 5, 9, 8, 2],
            "total_cost": [900.0, 1000.0, 400.0, 200.0, 100.0],
            "standard": [1000.0] * 5,
            "case_class": ["normal", "normal", "normal", "low", "low"],
        }
    )
    # median LOS 5: case 3 (9 days, 40 %) by rule (a), case 4 by both, case 5 is too short
    out = supervision.flags(df)
    assert out["flag_bed_blocking"].to_list() == [False, False, True, True, False]
    assert out["bed_blocking_reason"][2] == "LOS 9 > DRG median 5.0 and cost 40% of standard"
    assert out["bed_blocking_reason"][3] == (
        "LOS 8 > DRG median 5.0 and cost 20% of standard; 低倍率 case with LOS 8 ≥ 7"
    )
    assert supervision.flags(df, bed_cost_share=0.3)["flag_bed_blocking"].to_list() == [
        False, False, False, True, False,
    ]  # fmt: skip
    # columns missing: the flags are null, not guessed
    assert out["flag_split_admission"].null_count() == 5
    assert out["flag_upcoding_risk"].null_count() == 5


def test_upcoding_from_cf_flag() -> None:
    df = _stays(cf_flag=["at_risk", "documentation", "at_risk+documentation", None])
    assert supervision.flags(df)["flag_upcoding_risk"].to_list() == [True, False, True, False]


def test_planted_split_admission(region: pl.DataFrame) -> None:
    first = region.filter(
        (pl.col("status") == "ok") & ~pl.col("readmission_31d") & (pl.col("discharge_type") == 1)
    ).row(0, named=True)
    later = pl.DataFrame([first], schema=region.schema).with_columns(
        case_id=pl.lit("PLANTED"),
        admission_date=pl.col("discharge_date") + pl.duration(days=3),
        discharge_date=pl.col("discharge_date") + pl.duration(days=8),
    )
    out = supervision.flags(pl.concat([region, later]))
    assert out.height == region.height + 1
    row = out.filter(pl.col("case_id") == "PLANTED").row(0, named=True)
    assert row["flag_split_admission"]
    assert row["split_admission_reason"].startswith(f"readmitted 3 days after {first['case_id']}")
    assert not out.filter(pl.col("case_id") == first["case_id"])["flag_split_admission"][0]
    # the synthetic region's flagged stays are all second stays it generated
    flagged = out.filter(pl.col("flag_split_admission") & (pl.col("case_id") != "PLANTED"))
    assert flagged.height > 0 and flagged["readmission_31d"].all()
    assert out["flag_bed_blocking"].sum() > 0


def test_planted_anomalous_doctor(synth: pl.DataFrame) -> None:
    doc = "H01-D02-06"
    mcc = synth.filter(pl.col("cc_level") == "MCC")["cc_code"].value_counts(sort=True)[0, 0]
    upcoded = synth.with_columns(
        dx=pl.when(pl.col("doctor_id") == doc)
        .then(pl.col("dx").list.concat(pl.lit([mcc])))
        .otherwise("dx")
    )
    regrouped = drgsim.group(upcoded.drop([c for c in drgsim.RESULT_COLUMNS if c in synth.columns]))
    paid = drgsim.pay(regrouped, drgsim.policy.example("rate"))
    assert paid.filter(pl.col("doctor_id") == doc)["cc_level"].eq("MCC").mean() > 0.9
    prof = supervision.profiles(paid, by="doctor_id", seed=0)
    top = prof.row(0, named=True)
    assert top["doctor_id"] == doc and top["rank"] == 1 and top["anomaly"]
    assert "MCC rate" in top["reasons"] and "vs median" in top["reasons"]
    assert prof["doctor_id"].n_unique() == paid["doctor_id"].n_unique()
    assert (
        prof.filter(pl.col("cases") < 10)["score"].null_count()
        == prof.filter(pl.col("cases") < 10).height
    )
    flagged = prof.filter(pl.col("anomaly")).height
    scored = prof["score"].is_not_null().sum()
    assert 0 < flagged <= round(0.05 * scored) + 1
    # same seed, same scores
    assert supervision.profiles(paid, seed=0)["score"].equals(prof["score"])


def test_profiles_department_and_cf(region: pl.DataFrame) -> None:
    with_cf = region.with_columns(
        cf_flag=pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit("at_risk"))
    )
    prof = supervision.profiles(with_cf, by="department")
    assert {"at_risk_share", "at_risk_share_expected", "score", "reasons"} <= set(prof.columns)
    assert prof.height == region["department"].n_unique()
    assert prof["rank"].drop_nulls().to_list() == list(range(1, prof["score"].count() + 1))


def test_profiles_hand_computed() -> None:
    # 12 doctors with 10 cases each; doctor d0 codes every case MCC in an ADRG where the
    # region codes 1 in 10
    rows = []
    for d in range(12):
        for i in range(10):
            mcc = i == 0 if d else True
            rows.append(
                {"doctor_id": f"d{d}", "drg": "X1" if mcc else "X3", "adrg": "X",
                 "status": "ok", "cc_level": "MCC" if mcc else "none",
                 "rw": 1.5 if mcc else 1.0, "total_cost": 100.0 + d + i,
                 "discharge_type": 1}
            )  # fmt: skip
    prof = supervision.profiles(pl.DataFrame(rows))
    top = prof.row(0, named=True)
    assert top["doctor_id"] == "d0"
    assert top["mcc_rate"] == 1.0
    assert top["mcc_rate_expected"] == pytest.approx(21 / 120)  # the ADRG's rate
    assert top["cmi"] == pytest.approx(1.5)
    assert "; MCC rate 1.00 vs expected 0.17 vs median 0.10" in top["reasons"]
