"""pytest-benchmark: the engine and ``drgsim.group`` on 1,000,000 synthetic chs-drg-1.1 cases,
side by side with the pure-Python reference grouper on a sample (``make bench``).

pytest-benchmark reports seconds per round; cases per second are in each row's extra info
(``--benchmark-columns`` shows them) and ``benches/figures.py`` prints the headline figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

import drgsim

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import synthetic  # noqa: E402

from reference_grouper import load as load_reference  # noqa: E402

pytestmark = pytest.mark.benchmark
N = 1_000_000
SAMPLE = 5_000


@pytest.fixture(scope="module")
def tables():
    return synthetic.bench_tables("chs-drg-1.1")


@pytest.fixture(scope="module")
def frame(tables) -> pl.DataFrame:
    return synthetic.cases(tables, N)


@pytest.fixture(scope="module")
def arrow(frame):
    return frame.to_arrow()


def _rate(benchmark, n: int) -> None:
    benchmark.extra_info["cases"] = n
    benchmark.extra_info["cases_per_second"] = round(n / benchmark.stats.stats.min)


@pytest.mark.parametrize("threads", [1, 2])
def test_engine_arrow(benchmark, tables, arrow, threads):
    benchmark.pedantic(
        tables.grouper.group_arrow,
        args=(arrow,),
        kwargs={"threads": threads},
        rounds=5,
        warmup_rounds=1,
    )
    _rate(benchmark, N)


def test_group_polars_frame(benchmark, tables, frame):
    out = benchmark.pedantic(drgsim.group, args=(frame, tables), rounds=3, warmup_rounds=1)
    assert out.height == N
    _rate(benchmark, N)


def test_pure_python_reference_sample(benchmark, tables, frame):
    ref = load_reference(Path(tables.origin))
    sample = frame.head(SAMPLE).to_dicts()
    benchmark.pedantic(lambda: [ref.group(c) for c in sample], rounds=2)
    _rate(benchmark, SAMPLE)
