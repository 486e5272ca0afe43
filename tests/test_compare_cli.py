"""drgsim compare: migration matrix, CMI and payment shift of two table sets, in one pass."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import drgsim
from drgsim.cli import main
from drgsim.compare import impact
from drgsim.payment import load_weights, pay
from drgsim.policy import example
from drgsim.tables import TableSet

GROUPED = drgsim.RESULT_COLUMNS


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return drgsim.synth.hospital(cases=6000, hospitals=3, seed=5).drop(*GROUPED, "true_drg")


@pytest.fixture(scope="module")
def yancheng_weights(reference: Path) -> pl.DataFrame:
    return load_weights(reference / "weights" / "盐城2023.csv")


def _by_hand(
    cases: pl.DataFrame, old: TableSet, new: TableSet, w_old: pl.DataFrame, w_new: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-case computation of the matrix and the per-hospital shift, to check against."""
    policy = example("rate")
    a = pay(drgsim.group(cases, old), policy, w_old)
    b = pay(drgsim.group(cases, new), policy, w_new)
    both = pl.DataFrame(
        {
            "hospital_id": cases["hospital_id"],
            "drg_old": a["drg"],
            "drg_new": b["drg"],
            "rw_old": a["rw"],
            "rw_new": b["rw"],
            "paid_old": a["paid"],
            "paid_new": b["paid"],
        }
    )
    matrix = both.group_by("drg_old", "drg_new").agg(
        cases=pl.len(), rw_old=pl.col("rw_old").sum(), rw_new=pl.col("rw_new").sum()
    )
    weighted_old = (pl.col("drg_old") != "0000") & pl.col("rw_old").is_not_null()
    weighted_new = (pl.col("drg_new") != "0000") & pl.col("rw_new").is_not_null()
    hosp = (
        both.group_by("hospital_id")
        .agg(
            cases=pl.len(),
            cmi_old=pl.col("rw_old").sum() / weighted_old.sum(),
            cmi_new=pl.col("rw_new").sum() / weighted_new.sum(),
            paid_old=pl.col("paid_old").sum(),
            paid_new=pl.col("paid_new").sum(),
        )
        .sort("hospital_id")
    )
    return matrix, hosp


def test_impact_matches_per_case_computation(
    cases: pl.DataFrame, yancheng: TableSet, yancheng_weights: pl.DataFrame
) -> None:
    teaching = drgsim.tables.load("teaching")
    r = impact(
        cases,
        teaching,
        yancheng,
        weights_new=yancheng_weights,
        policy=example("rate"),
        batch_rows=1000,
    )
    matrix, hosp = _by_hand(cases, teaching, yancheng, load_weights("teaching"), yancheng_weights)
    got = r.matrix.select("drg_old", "drg_new", "cases", "rw_old", "rw_new")
    key = ["drg_old", "drg_new"]
    assert_frame_equal(got.sort(key), matrix.sort(key), check_dtypes=False, rel_tol=1e-9)
    assert r.summary["changed_drg"] > 0 and r.summary["cases"] == cases.height
    shift = r.levels["hospital_id"].select(hosp.columns)
    assert_frame_equal(shift, hosp, check_dtypes=False, rel_tol=1e-9)
    assert r.summary["paid_old"] == pytest.approx(hosp["paid_old"].sum())
    assert set(r.levels) == {"hospital_id", "department", "all"}


def test_files_in_batches_equal_the_frame(
    cases: pl.DataFrame, yancheng: TableSet, yancheng_weights: pl.DataFrame, tmp_path: Path
) -> None:
    for i, part in enumerate(cases.partition_by("hospital_id")):
        part.write_parquet(tmp_path / f"h{i}.parquet")
    kw = {"weights_new": yancheng_weights, "policy": example("rate")}
    whole = impact(cases, "teaching", yancheng, **kw)
    streamed = impact([tmp_path], "teaching", yancheng, batch_rows=700, **kw)
    key = ["drg_old", "drg_new"]
    assert_frame_equal(streamed.matrix.sort(key), whole.matrix.sort(key), rel_tol=1e-9)
    for level in whole.levels:
        assert_frame_equal(streamed.levels[level], whole.levels[level], rel_tol=1e-9)


def test_cli_compare_writes_the_report(
    cases: pl.DataFrame, yancheng: TableSet, reference: Path, tmp_path: Path
) -> None:
    src = tmp_path / "cases.parquet"
    cases.write_parquet(src)
    out = tmp_path / "report"
    res = CliRunner().invoke(
        main,
        [
            "compare",
            "teaching",
            yancheng.origin,
            str(src),
            "--new-weights",
            str(reference / "weights" / "盐城2023.csv"),
            "-o",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "CMI:" in res.output and "## By hospital_id" in res.output
    assert "## By department" in res.output and "payment:" in res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "by_all.csv",
        "by_department.csv",
        "by_hospital_id.csv",
        "matrix.csv",
        "report.md",
    ]
    # weights only, by a chosen level
    res = CliRunner().invoke(
        main,
        [
            "compare",
            "teaching",
            "teaching",
            str(src),
            "--policy",
            "none",
            "--by",
            "doctor_id",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "## By doctor_id" in res.output and "payment:" not in res.output


def test_cli_compare_needs_weights(cases: pl.DataFrame, yancheng: TableSet, tmp_path: Path) -> None:
    src = tmp_path / "cases.parquet"
    cases.head(50).write_parquet(src)
    res = CliRunner().invoke(main, ["compare", "teaching", yancheng.origin, str(src), "-q"])
    assert res.exit_code == 2 and "no weights" in res.output
