"""The synthetic hospital generator: reproducible, grouped by the engine, and shaped as
documented (cost spread, outliers, coding errors, readmissions, hospitals, case mix)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import drgsim
from drgsim import synth
from drgsim.tables import TableSet, load

N = 30_000
OUTLIERS = 0.03
ERRORS = 0.04


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return synth.hospital(
        cases=N, hospitals=4, seed=11, outlier_share=OUTLIERS, coding_error_share=ERRORS
    )


@pytest.fixture(scope="module")
def weights() -> pl.DataFrame:
    return synth.resolve_weights("teaching")


def _normal(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(pl.col("case_flag") == "normal")


def _mdc_of_drg(ts: TableSet) -> dict[str, str]:
    mdc = {a: m for a, m, _, _ in ts.adrgs()}
    return {d: mdc[a] for d, a, _, _ in ts.drgs()}


def test_same_seed_same_frame() -> None:
    a = synth.hospital(cases=3_000, hospitals=3, seed=5)
    assert_frame_equal(a, synth.hospital(cases=3_000, hospitals=3, seed=5))
    b = synth.hospital(cases=3_000, hospitals=3, seed=6)
    assert not a.equals(b)


def test_config_holds_every_parameter() -> None:
    cfg = synth.SynthConfig(cases=2_000, hospitals=2, seed=3, readmission_share=0.05)
    a = synth.hospital(config=cfg)
    assert_frame_equal(a, synth.hospital(config=cfg, cases=2_000))  # a default: no override
    assert not a.equals(synth.hospital(config=cfg, seed=4))  # a keyword overrides
    assert a.height == 2_000
    assert a["readmission_31d"].mean() > 0.03
    for bad in ({"cases": 0}, {"outlier_share": 0.9}, {"sigma": -1.0}, {"hospitals": 0}):
        with pytest.raises(ValueError):
            synth.SynthConfig(**bad)  # type: ignore[arg-type]


def test_columns_and_types(cases: pl.DataFrame) -> None:
    assert tuple(cases.columns) == synth.COLUMNS
    assert cases.height == N
    s = cases.schema
    for col in ("case_id", "patient_id", "hospital_id", "hospital_level", "department"):
        assert s[col] == pl.String
    for col in ("doctor_id", "insurance_type", "true_drg", "case_flag", *drgsim.RESULT_COLUMNS):
        assert s[col] == pl.String
    for col in ("sex", "age", "age_days", "los_days", "discharge_type"):
        assert s[col].is_integer()
    assert s["dx"] == pl.List(pl.String) and s["px"] == pl.List(pl.String)
    assert s["total_cost"] == pl.Float64 and s["birth_weight_g"] == pl.Float64
    assert s["admission_date"] == pl.Date and s["discharge_date"] == pl.Date
    assert s["readmission_31d"] == pl.Boolean
    assert cases["case_id"].is_unique().all()
    assert set(cases["hospital_level"]) == {"三级", "二级"}
    assert set(cases["insurance_type"]) == {"职工", "居民"}
    assert set(cases["sex"]) == {1, 2}
    assert set(cases["discharge_type"]) == {1, 2, 5}
    assert cases["dx"].list.len().min() >= 1
    assert cases.select((pl.col("total_cost") > 0).all()).item()


def test_groups_are_the_engines(cases: pl.DataFrame) -> None:
    again = drgsim.group(cases.drop(drgsim.RESULT_COLUMNS), "teaching")
    assert_frame_equal(again.select(drgsim.RESULT_COLUMNS), cases.select(drgsim.RESULT_COLUMNS))
    right = cases.filter(pl.col("case_flag") != "coding_error")
    assert (right["drg"] == right["true_drg"]).all()
    assert (right["status"] == "ok").all()
    wrong = cases.filter(pl.col("case_flag") == "coding_error")
    assert (wrong["drg"] != wrong["true_drg"]).mean() > 0.25  # most errors move the group


def test_many_drgs_reachable(cases: pl.DataFrame) -> None:
    n_drg = len(load("teaching").drgs())
    assert cases["true_drg"].n_unique() > 0.8 * n_drg


def test_within_group_cv_below_one(cases: pl.DataFrame) -> None:
    cv = (
        _normal(cases)
        .group_by("true_drg")
        .agg(pl.len().alias("n"), (pl.col("total_cost").std() / pl.col("total_cost").mean()))
        .filter(pl.col("n") >= 30)
    )
    assert cv.height > 50
    assert cv["total_cost"].max() < 1.0
    assert cv["total_cost"].median() > 0.2


def test_log_cost_centred_on_weight_times_rate(cases: pl.DataFrame, weights: pl.DataFrame) -> None:
    level = pl.col("hospital_level").replace_strict({"三级": 1.0, "二级": 0.85})
    per_group = (
        _normal(cases)
        .with_columns((pl.col("total_cost") / level).log().alias("log_cost"))
        .group_by("true_drg")
        .agg(pl.len().alias("n"), pl.col("log_cost").mean())
        .filter(pl.col("n") >= 50)
        .join(weights, left_on="true_drg", right_on="drg")
        .with_columns((pl.col("log_cost") - (pl.col("rw") * 12_000).log()).alias("gap"))
    )
    assert per_group.height > 30
    # hospital factors exp(N(0, 0.05)) and sampling move the groups a little
    assert abs(per_group["gap"].mean()) < 0.12
    assert per_group["gap"].abs().max() < 0.35


def test_base_rate_and_sigma() -> None:
    df = synth.hospital(cases=5_000, hospitals=2, seed=2, base_rate=20_000.0, sigma=0.3)
    w = synth.resolve_weights("teaching")
    g = (
        _normal(df)
        .join(w, left_on="true_drg", right_on="drg")
        .filter(pl.col("hospital_level") == "三级")
        .with_columns((pl.col("total_cost") / (pl.col("rw") * 20_000)).log().alias("z"))
    )
    assert abs(g["z"].mean()) < 0.15  # one 三级 hospital and its factor exp(N(0, 0.05))
    assert 0.25 < g["z"].std() < 0.36


def test_outlier_and_error_shares(cases: pl.DataFrame) -> None:
    flags = dict(cases["case_flag"].value_counts().iter_rows())
    assert flags["high_outlier"] == flags["low_outlier"] == round(N * OUTLIERS / 2)
    assert flags["coding_error"] == round(N * ERRORS)
    median = _normal(cases).group_by("true_drg").agg(pl.col("total_cost").median().alias("med"))
    ratio = (
        cases.join(median, on="true_drg")
        .with_columns((pl.col("total_cost") / pl.col("med")).alias("r"))
        .group_by("case_flag")
        .agg(pl.col("r").median())
    )
    r = dict(ratio.iter_rows())
    assert r["high_outlier"] > 2.5 and r["low_outlier"] < 0.4
    assert 0.8 < r["normal"] < 1.2 and 0.7 < r["coding_error"] < 1.4  # cost of the true case


def test_defaults_give_one_to_three_percent_outliers() -> None:
    df = synth.hospital(cases=4_000, hospitals=2, seed=9)
    share = df["case_flag"].value_counts().filter(pl.col("case_flag").str.ends_with("outlier"))
    assert 0.01 <= share["count"].sum() / df.height <= 0.03
    assert (df["case_flag"] == "coding_error").mean() == pytest.approx(0.03, abs=0.001)


def test_readmissions_within_31_days_same_patient(cases: pl.DataFrame) -> None:
    mdc = _mdc_of_drg(load("teaching"))
    df = cases.with_columns(pl.col("true_drg").replace_strict(mdc).alias("true_mdc"))
    later = df.filter("readmission_31d")
    assert 0.015 < later.height / N < 0.045
    earlier = df.filter(~pl.col("readmission_31d"))
    pairs = later.join(earlier, on="patient_id", suffix="_first")
    assert pairs.height == later.height  # exactly one first stay each
    gap = (pairs["admission_date"] - pairs["discharge_date_first"]).dt.total_days()
    assert gap.min() >= 0 and gap.max() <= 31
    for col in ("hospital_id", "sex", "age", "insurance_type", "true_mdc"):
        assert (pairs[col] == pairs[f"{col}_first"]).all(), col
    assert (pairs["discharge_type_first"] != 5).all()  # the dead are not readmitted
    # no other patient has two stays
    stays = df.group_by("patient_id").len()
    assert stays.filter(pl.col("len") > 1).height == later.height
    assert stays["len"].max() == 2


def test_dates_in_the_year(cases: pl.DataFrame) -> None:
    assert cases["admission_date"].min().year == 2025  # type: ignore[union-attr]
    assert cases["discharge_date"].max().year == 2025  # type: ignore[union-attr]
    los = (cases["discharge_date"] - cases["admission_date"]).dt.total_days()
    assert (los == cases["los_days"]).all()
    assert cases["los_days"].min() >= 1


def test_hospitals_of_both_levels(cases: pl.DataFrame, weights: pl.DataFrame) -> None:
    h = cases.group_by("hospital_id", "hospital_level").len()
    assert h.height == 4 and set(h["hospital_level"]) == {"三级", "二级"}
    # the same DRG costs less in a 二级 hospital (level factor 0.85)
    by = (
        _normal(cases)
        .group_by("true_drg", "hospital_level")
        .agg(pl.col("total_cost").log().mean(), pl.len().alias("n"))
        .filter(pl.col("n") >= 30)
        .pivot("hospital_level", index="true_drg", values="total_cost")
        .drop_nulls()
    )
    assert by.height > 10
    assert (by["二级"] - by["三级"]).median() == pytest.approx(math.log(0.85), abs=0.1)
    # 三级 hospitals treat heavier cases
    cmi = (
        cases.join(weights, left_on="true_drg", right_on="drg")
        .group_by("hospital_level")
        .agg(pl.col("rw").mean())
    )
    c = dict(cmi.iter_rows())
    assert c["三级"] > c["二级"]


def test_skewed_case_mix(cases: pl.DataFrame) -> None:
    counts = cases["true_drg"].value_counts(sort=True)["count"]
    top = counts.head(max(1, counts.len() // 10)).sum()
    assert top / N > 0.35


def test_length_of_stay_follows_cost(cases: pl.DataFrame) -> None:
    z = (
        _normal(cases)
        .with_columns(
            pl.col("total_cost").log().alias("c"), pl.col("los_days").cast(pl.Float64).log()
        )
        .with_columns(
            (pl.col("c") - pl.col("c").mean().over("true_drg")).alias("c"),
            (pl.col("los_days") - pl.col("los_days").mean().over("true_drg")).alias("l"),
        )
    )
    assert z.select(pl.corr("c", "l")).item() > 0.4


def test_deaths_more_likely_with_mcc(cases: pl.DataFrame) -> None:
    right = cases.filter(pl.col("case_flag") != "coding_error")
    death = dict(right.group_by("cc_level").agg((pl.col("discharge_type") == 5).mean()).iter_rows())
    assert death["MCC"] > 3 * death["none"]


def test_departments_and_doctors(cases: pl.DataFrame) -> None:
    right = cases.filter(pl.col("case_flag") != "coding_error")  # departments follow the truth
    dept = dict(right.group_by("mdc").agg(pl.col("department").mode().first()).iter_rows())
    assert dept["O"] == "产科" and dept["F"] == "心血管内科" and dept["E"] == "呼吸内科"
    surgical_b = right.filter((pl.col("mdc") == "B") & pl.col("adrg").str.contains("^B[A-J]"))
    assert set(surgical_b["department"]) <= {"神经外科"}
    medical_g = right.filter(
        pl.col("mdc") == "G", pl.col("adrg").str.contains("^G[R-Z]"), pl.col("age") >= 14
    )
    assert medical_g.height > 0 and (medical_g["department"] == "消化内科").all()
    children = right.filter(pl.col("adrg").str.contains("^[B-L][R-Z]"), pl.col("age") < 14)
    assert (children["department"] == "儿科").all()
    docs = cases.group_by("hospital_id", "department").agg(
        pl.len(), pl.col("doctor_id").n_unique().alias("doctors")
    )
    assert docs.filter(pl.col("len") >= 100)["doctors"].min() >= 2
    assert (cases["doctor_id"].str.slice(0, 3) == cases["hospital_id"]).all()


def test_newborns_have_days_and_weight(cases: pl.DataFrame) -> None:
    p = cases.filter(pl.col("true_drg").str.starts_with("P"))
    assert p.height > 0
    assert (p["age"] == 0).all() and p["age_days"].null_count() == 0
    young = p.filter(pl.col("age_days") <= 28)
    assert young["birth_weight_g"].null_count() == 0
    older = cases.filter(pl.col("age") >= 1)
    assert older["age_days"].null_count() == older.height


def test_sex_specific_groups() -> None:
    df = synth.hospital(cases=8_000, hospitals=2, seed=4)
    mdc = df.filter(pl.col("case_flag") != "coding_error")
    assert (mdc.filter(pl.col("mdc") == "M")["sex"] == 1).all()
    assert (mdc.filter(pl.col("mdc").is_in(["N", "O"]))["sex"] == 2).all()
    assert (
        df.filter(pl.col("sex") == 1)["dx"].list.eval(pl.element().str.starts_with("O")).list.any()
    ).sum() == 0


def test_weights_given_and_by_rule() -> None:
    w = pl.DataFrame({"drg": ["ES31", "ES33"], "rw": [2.0, 1.0]})
    table = synth.resolve_weights("teaching", w)
    src = dict(table.select("drg", "rw_source").iter_rows())
    assert src["ES31"] == "given" and src["ES35"] == "adrg" and src["BR21"] == "rule"
    rw = dict(table.select("drg", "rw").iter_rows())
    assert rw["ES35"] == pytest.approx(1.5)  # median of its ADRG's weighted DRGs
    assert rw["ES31"] == 2.0 and rw["BR21"] > rw["BR25"] > 0
    df = synth.hospital(cases=3_000, hospitals=2, seed=1, weights=w)
    es31 = _normal(df).filter(pl.col("true_drg") == "ES31", pl.col("hospital_level") == "三级")
    if es31.height >= 20:
        assert (es31["total_cost"] / 24_000).log().mean() == pytest.approx(0.0, abs=0.3)


def test_imported_national_set(chs11: TableSet) -> None:
    df = synth.hospital(chs11, cases=5_000, hospitals=3, seed=1)
    again = drgsim.group(df.drop(drgsim.RESULT_COLUMNS), chs11)
    assert (again["drg"] == df["drg"]).all()
    right = df.filter(pl.col("case_flag") != "coding_error")
    assert (right["drg"] == right["true_drg"]).all()
    assert df["true_drg"].n_unique() > 200
    assert set(synth.resolve_weights(chs11)["rw_source"]) == {"rule"}  # no weights.csv
