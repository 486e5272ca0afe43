"""pytest-benchmark: the counterfactual pass over 100,000 synthetic cases."""

from __future__ import annotations

import polars as pl
import pytest

from drgsim import synth
from drgsim.counterfactual import counterfactual

pytestmark = pytest.mark.benchmark
N = 100_000


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return synth.hospital("teaching", cases=N, hospitals=1, seed=9).select(
        "sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_type", "dx", "px"
    )


def test_counterfactual_100k(benchmark, cases):
    out = benchmark.pedantic(counterfactual, args=(cases,), rounds=3, warmup_rounds=1)
    assert out.height == N
    benchmark.extra_info["cases_per_second"] = round(N / benchmark.stats.stats.min)
