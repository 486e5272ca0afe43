"""Streaming regroup: same answers as in memory, partitioned output, provenance, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import drgsim
from drgsim.cli import main
from drgsim.exceptions import InputError
from drgsim.stream import SUMMARY_FILE, discover, regroup

GROUPED = drgsim.RESULT_COLUMNS


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    """Synthetic cases with their input columns only, plus a month to partition by."""
    df = drgsim.synth.hospital(cases=12_000, hospitals=3, seed=11)
    df = df.drop(*GROUPED, "true_drg", "case_flag")
    return df.with_columns(month=pl.col("discharge_date").dt.strftime("%Y-%m"))


def write_dataset(df: pl.DataFrame, root: Path, *, csv_months: int = 0) -> Path:
    """Hive-style ``hospital_id=H/month=M/part-0.parquet`` (the first months as CSV)."""
    months = sorted(df["month"].unique())
    for (hosp, month), part in df.group_by("hospital_id", "month", maintain_order=True):
        d = root / f"hospital_id={hosp}" / f"month={month}"
        d.mkdir(parents=True, exist_ok=True)
        body = part.drop("hospital_id", "month")
        if months.index(month) < csv_months:
            body.with_columns(pl.col("dx").list.join("|"), pl.col("px").list.join("|")).write_csv(
                d / "part-0.csv"
            )
        else:
            body.write_parquet(d / "part-0.parquet")
    return root


def read_dataset(root: Path) -> pl.DataFrame:
    return pl.read_parquet(root / "**" / "*.parquet", hive_partitioning=True)


def test_regroup_equals_in_memory_grouping(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = write_dataset(cases, tmp_path / "in")
    run = regroup([src], "teaching", tmp_path / "out", batch_rows=1000)
    assert run.cases == cases.height and run.files_written == len(discover([src]))
    out = read_dataset(tmp_path / "out").sort("case_id")
    expected = drgsim.group(cases, provenance=True).sort("case_id")
    assert_frame_equal(
        out.select(expected.columns), expected, check_column_order=False, check_dtypes=False
    )
    # the same partitioning, one output per input at the same relative path
    rel_in = sorted(p.relative_to(src) for p in src.rglob("*.parquet"))
    rel_out = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.parquet"))
    assert rel_in == rel_out
    assert run.status == dict(expected["status"].value_counts().iter_rows())


def test_provenance_in_metadata_and_columns(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = tmp_path / "cases.parquet"
    cases.write_parquet(src)
    regroup([src], "teaching", tmp_path / "out")
    ts = drgsim.tables.load("teaching")
    meta = pl.read_parquet_metadata(tmp_path / "out" / "cases.parquet")
    assert meta["drgsim.tables_name"] == "teaching"
    assert meta["drgsim.tables_hash"] == ts.content_hash
    assert meta["drgsim.drgsim_version"] == drgsim.__version__
    assert meta["drgsim.source"] == "cases.parquet"
    cols = pl.read_parquet(tmp_path / "out" / "cases.parquet").select(
        "tables_name", "tables_hash", "drgsim_version"
    )
    assert cols.unique().rows() == [("teaching", ts.content_hash, drgsim.__version__)]
    summary = json.loads((tmp_path / "out" / SUMMARY_FILE).read_text("utf-8"))
    assert summary["tables"]["tables_hash"] == ts.content_hash
    assert summary["cases"] == cases.height


def test_csv_inputs_including_gbk(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = write_dataset(cases, tmp_path / "in", csv_months=2)
    gbk = next(src.rglob("*.csv"))
    header, body = gbk.read_text("utf-8").split("\n", 1)
    gbk.write_bytes((header.replace("department", "科室") + "\n" + body).encode("gb18030"))
    run = regroup([src], "teaching", tmp_path / "out")
    assert run.cases == cases.height
    parts = [pl.read_parquet(f) for f in (tmp_path / "out").rglob("*.parquet")]
    out = pl.concat([p.select("case_id", "drg") for p in parts])
    expected = drgsim.group(cases)
    assert out.sort("case_id")["drg"].to_list() == expected.sort("case_id")["drg"].to_list()
    assert (
        "科室"
        in pl.read_parquet(tmp_path / "out" / gbk.relative_to(src).with_suffix(".parquet")).columns
    )


def test_resume_skips_complete_outputs_and_redoes_stale(
    cases: pl.DataFrame, tmp_path: Path
) -> None:
    src = write_dataset(cases, tmp_path / "in")
    first = regroup([src], "teaching", tmp_path / "out")
    again = regroup([src], "teaching", tmp_path / "out")
    assert again.files_written == 0 and again.files_skipped == first.files_written
    assert again.cases == first.cases and again.status == first.status
    # an input that changed is regrouped; the others are kept
    changed = next(src.rglob("*.parquet"))
    pl.read_parquet(changed).head(5).write_parquet(changed)
    third = regroup([src], "teaching", tmp_path / "out")
    assert third.files_written == 1 and third.files_skipped == first.files_written - 1
    assert pl.read_parquet(tmp_path / "out" / changed.relative_to(src)).height == 5


def test_output_may_not_overlap_input(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = write_dataset(cases.head(100), tmp_path / "in")
    with pytest.raises(InputError, match="overlaps"):
        regroup([src], "teaching", src / "out")
    with pytest.raises(InputError, match="overlaps"):
        regroup([next(src.rglob("*.parquet"))], "teaching", src)


def test_cli_regroup(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = write_dataset(cases.head(3000), tmp_path / "in")
    res = CliRunner().invoke(main, ["regroup", str(src), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "3,000 cases" in res.output and "cases/s" in res.output
    res = CliRunner().invoke(main, ["regroup", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert res.exit_code != 0


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_killed_job_restarts_to_identical_output(cases: pl.DataFrame, tmp_path: Path) -> None:
    big = pl.concat([cases] * 4).with_columns(
        case_id=pl.col("case_id") + "-" + pl.int_range(pl.len()).cast(pl.String)
    )
    src = write_dataset(big, tmp_path / "in")
    n_files = len(discover([src]))
    regroup([src], "teaching", tmp_path / "whole", batch_rows=500)

    cmd = [
        sys.executable,
        "-m",
        "drgsim.cli",
        "regroup",
        str(src),
        "-o",
        str(tmp_path / "cut"),
        "--batch-rows",
        "500",
        "-q",
    ]
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 120
    out = tmp_path / "cut"
    while time.monotonic() < deadline and proc.poll() is None:
        done = list(out.rglob("*.parquet")) if out.exists() else []
        if len(done) >= max(1, n_files // 3):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(out.rglob("*.parquet"))
    assert 0 < len(done) < n_files, "the job was not interrupted half way; make the input larger"
    # nothing half-written looks complete: every visible output reads back whole
    for f in done:
        assert pl.read_parquet(f).height > 0
    assert not (out / SUMMARY_FILE).exists()

    resumed = subprocess.run(cmd, env=env, check=True)
    assert resumed.returncode == 0
    assert _files(out) == _files(tmp_path / "whole")


def test_reader_stays_one_batch_ahead() -> None:
    """Memory is bounded by the batch size: the reader never runs ahead of the consumer."""
    from drgsim.stream import _prefetched

    made: list[int] = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(50):
            made.append(i)
            yield pl.DataFrame({"i": [i]})

    it = _prefetched(source())
    next(it)
    time.sleep(0.2)  # give the reader every chance to run ahead
    assert len(made) <= 3  # the batch taken, the one in the queue, the one waiting to be put
    assert [b["i"][0] for b in it] == list(range(1, 50))


def test_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "in" / "bad.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 this is not parquet PAR1")
    with pytest.raises(InputError, match=r"bad\.parquet"):
        regroup([tmp_path / "in"], "teaching", tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.parquet"))


def test_utf16_tab_separated_text_input(cases: pl.DataFrame, tmp_path: Path) -> None:
    """Excel's "Unicode text" export (UTF-16, tabs, .txt) regroups like the same Parquet."""
    part = cases.head(500).select("case_id", "sex", "age", "los_days", "dx", "px")
    src = tmp_path / "in" / "export.txt"
    src.parent.mkdir()
    body = part.with_columns(pl.col("dx").list.join("|"), pl.col("px").list.join("|"))
    src.write_bytes(body.write_csv(separator="\t").encode("utf-16"))
    regroup([src.parent], "teaching", tmp_path / "out")
    out = pl.read_parquet(tmp_path / "out" / "export.parquet")
    assert out["case_id"].to_list() == part["case_id"].to_list()
    assert out["drg"].to_list() == drgsim.group(part)["drg"].to_list()


def test_keep_chooses_the_carried_columns(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = tmp_path / "cases.parquet"
    cases.head(2000).write_parquet(src)
    regroup([src], "teaching", tmp_path / "out", keep=["case_id"])
    out = pl.read_parquet(tmp_path / "out" / "cases.parquet")
    assert out.columns[0] == "case_id" and "dx" not in out.columns and "drg" in out.columns
    assert out.columns[-3:] == ["tables_name", "tables_hash", "drgsim_version"]
    # another choice of columns is not taken as complete
    again = regroup([src], "teaching", tmp_path / "out")
    assert (
        again.files_written == 1
        and "dx" in pl.read_parquet(tmp_path / "out" / "cases.parquet").columns
    )
    with pytest.raises(InputError, match="nope"):
        regroup([src], "teaching", tmp_path / "out2", keep=["nope"])
    res = CliRunner().invoke(
        main, ["regroup", str(src), "-o", str(tmp_path / "o3"), "--keep", "case_id", "-q"]
    )
    assert res.exit_code == 0, res.output


def test_empty_parquet_input_gives_an_empty_output(cases: pl.DataFrame, tmp_path: Path) -> None:
    src = tmp_path / "empty.parquet"
    cases.head(0).write_parquet(src)
    run = regroup([src], "teaching", tmp_path / "out")
    out = pl.read_parquet(tmp_path / "out" / "empty.parquet")
    assert run.cases == 0 and out.height == 0 and "drg" in out.columns
    header_only = tmp_path / "header.csv"
    header_only.write_text("case_id,sex,age,dx\n", "utf-8")
    regroup([header_only], "teaching", tmp_path / "out")
    out = pl.read_parquet(tmp_path / "out" / "header.parquet")
    assert out.height == 0 and out.columns[:4] == ["case_id", "sex", "age", "dx"]
