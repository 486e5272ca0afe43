"""Determinism and concurrency: the same input gives byte-identical output across runs,
thread counts, batch sizes and concurrent Python threads."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import drgsim
from drgsim import cli
from drgsim.grouping import RESULT_COLUMNS, group_frame, provenance_metadata
from drgsim.io import write_frame
from drgsim.tables import load

N = 30_000  # spans several of the engine's 8192-row chunks

MESSY = pl.DataFrame(
    {
        "sex": ["1", "X", "2", None, "男", "7"],
        "age": ["60", "abc", "-3", "30", None, "1e400"],
        "dx": ["I63.900|NOT.A.CODE", "", "O80.000", "QQQ", "K35.800x001", "J96.000"],
        "px": ["99.9999x999", None, "", "47.0901", "47.0901", "=1+1"],
    }
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    """Synthetic cases without their grouping, with messy rows spread through them."""
    synth = drgsim.synth.hospital("teaching", cases=N, hospitals=3, seed=11)
    raw = synth.drop([c for c in RESULT_COLUMNS if c in synth.columns]).select(
        "case_id", "hospital_id", "insurance_type", "sex", "age", "age_days", "birth_weight_g",
        "los_days", "discharge_type", "dx", "px", "total_cost",
    )  # fmt: skip
    raw = raw.with_columns(
        pl.col("sex").cast(pl.String),
        pl.col("age").cast(pl.String),
        pl.col("dx").list.join("|"),
        pl.col("px").list.join("|"),
    )
    messy = MESSY.with_columns(
        case_id=pl.format("m{}", pl.int_range(pl.len())), hospital_id=pl.lit("H9")
    )
    parts = []
    for i, off in enumerate(range(0, N, 4093)):
        parts.append(raw.slice(off, 4093))
        parts.append(messy.slice(i % messy.height, 2))
    return pl.concat(parts, how="diagonal_relaxed")


@pytest.fixture(scope="module")
def reference(cases: pl.DataFrame) -> pl.DataFrame:
    return drgsim.group(cases, "teaching", threads=1)


def test_results_are_not_trivial(reference: pl.DataFrame) -> None:
    statuses = set(reference["status"].unique())
    assert {"ok", "invalid"} <= statuses
    assert reference["drg"].n_unique() > 50


def test_repeated_runs_write_byte_identical_files(cases, tmp_path):
    ts = load("teaching")
    digests: dict[str, set[str]] = {".parquet": set(), ".csv": set()}
    for run in range(3):
        out = group_frame(cases, ts, provenance=True)
        for suffix, seen in digests.items():
            p = tmp_path / f"run{run}{suffix}"
            write_frame(out, p, metadata=provenance_metadata(ts))
            seen.add(_digest(p))
    assert all(len(seen) == 1 for seen in digests.values()), digests


@pytest.mark.parametrize("threads", [1, 2, 8, 32])
def test_thread_counts_give_the_same_result(cases, reference, threads, tmp_path):
    out = drgsim.group(cases, "teaching", threads=threads, trace=threads == 2)
    assert_frame_equal(out.select(reference.columns), reference)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_frame(reference, a)
    write_frame(out.select(reference.columns), b)
    assert _digest(a) == _digest(b)


@pytest.mark.parametrize("size", [1, 7, 100])
def test_small_slices_give_the_same_rows(cases, reference, size):
    head = cases.head(700)
    whole = reference.head(700)
    parts = [drgsim.group(head.slice(o, size), "teaching") for o in range(0, head.height, size)]
    assert_frame_equal(pl.concat(parts), whole)


@pytest.mark.parametrize("size", [8191, 8192, 8193, 10_000])
def test_large_slices_around_the_engine_chunk_give_the_same_rows(cases, reference, size):
    parts = [drgsim.group(cases.slice(o, size), "teaching") for o in range(0, cases.height, size)]
    assert_frame_equal(pl.concat(parts), reference)


def test_cli_slicing_writes_the_same_bytes(cases, tmp_path, monkeypatch):
    """``drgsim group`` groups large inputs in slices (with a progress bar): the file is the
    same as grouping the input whole."""
    src = tmp_path / "cases.parquet"
    cases.write_parquet(src)
    whole, sliced = tmp_path / "whole.parquet", tmp_path / "sliced.parquet"
    runner = CliRunner()
    r = runner.invoke(cli.main, ["group", str(src), "-o", str(whole), "-q"])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(cli, "PROGRESS_ROWS", 5_000)
    r = runner.invoke(cli.main, ["group", str(src), "-o", str(sliced)])
    assert r.exit_code == 0, r.output
    assert _digest(whole) == _digest(sliced)


def test_rayon_num_threads_does_not_change_the_output(cases, tmp_path):
    """The engine's thread pool size from the environment (1 or 8) gives the same bytes."""
    src = tmp_path / "cases.csv"
    write_frame(cases, src)
    digests = set()
    for n in ("1", "8"):
        out = tmp_path / f"out{n}.csv"
        env = {**os.environ, "RAYON_NUM_THREADS": n}
        r = subprocess.run(
            [sys.executable, "-m", "drgsim.cli", "group", str(src), "-o", str(out), "-q"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        digests.add(_digest(out))
    assert len(digests) == 1


def test_many_python_threads_at_once(cases, reference):
    """Eight Python threads grouping at the same time (each with its engine threads, the
    table set loaded by each thread) give what one thread gives."""
    slices = [(o, 3_000) for o in range(0, cases.height, 3_000)]

    def work(k: int) -> list[pl.DataFrame]:
        ts = load("teaching")  # concurrent loads share one cached set safely
        full = drgsim.group(cases, ts, threads=1 + k % 3)
        parts = [drgsim.group(cases.slice(o, n), ts) for o, n in slices[k % 8 :: 8]]
        return [full, *parts]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(16)))
    for k, (full, *parts) in enumerate(results):
        assert_frame_equal(full, reference)
        for (o, n), part in zip(slices[k % 8 :: 8], parts, strict=True):
            assert_frame_equal(part, reference.slice(o, n))


def test_explain_from_many_threads(reference):
    row = reference.filter(pl.col("status") == "ok").row(0, named=True)
    case = {k: row[k] for k in ("sex", "age", "dx", "px")}
    one = drgsim.explain(case, "teaching", print_=False)
    with ThreadPoolExecutor(max_workers=8) as pool:
        many = list(pool.map(lambda _: drgsim.explain(case, "teaching", print_=False), range(32)))
    assert all(e.result == one.result and e.steps == one.steps for e in many)


def test_payment_is_deterministic_and_thread_safe(reference):
    pol = drgsim.policy.example("rate")
    one = drgsim.pay(reference, pol)
    with ThreadPoolExecutor(max_workers=8) as pool:
        many = list(pool.map(lambda _: drgsim.pay(reference, pol), range(8)))
    for m in many:
        assert_frame_equal(m, one)


def test_dip_matching_is_deterministic(reference):
    from drgsim.dip import catalogue as cat
    from drgsim.dip import match

    hist = reference.filter(pl.col("hospital_id") != "H9")
    c = cat.build(hist, threshold=5)
    one = match(reference, c, threads=1)
    for threads in (2, 8):
        assert_frame_equal(match(reference, c, threads=threads), one)
    with ThreadPoolExecutor(max_workers=8) as pool:
        many = list(pool.map(lambda _: match(reference, c), range(8)))
    for m in many:
        assert_frame_equal(m, one)
    assert_frame_equal(cat.build(hist, threshold=5).groups, c.groups)
