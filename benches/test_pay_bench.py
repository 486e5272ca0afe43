"""pytest-benchmark: paying 1,000,000 grouped cases under the example rate policy."""

from __future__ import annotations

import polars as pl
import pytest

from drgsim import tables
from drgsim.payment import load_weights, pay
from drgsim.policy import example

pytestmark = pytest.mark.benchmark
N = 1_000_000


@pytest.fixture(scope="module")
def grouped() -> pl.DataFrame:
    drgs = [d for d, _, _, _ in tables.load("teaching").drgs()]
    n = len(drgs)
    idx = pl.int_range(0, N, eager=True)
    return pl.DataFrame(
        {
            "drg": pl.Series(drgs).gather(idx % n),
            "status": pl.Series(["ok"] * 97 + ["invalid"] * 3).gather(idx % 100),
            "total_cost": (idx % 997).cast(pl.Float64) * 97.0 + 500.0,
            "insurance_type": pl.Series(["职工", "居民"]).gather(idx % 2),
            "hospital_level": pl.Series(["三级", "二级", "三级"]).gather(idx % 3),
            "hospital_id": ("H" + (idx % 7).cast(pl.String)),
            "los_days": idx % 40,
        }
    )


@pytest.mark.parametrize("method", ["rate", "points"])
def test_pay_one_million(benchmark, grouped, method):
    pol = example(method)
    w = load_weights("teaching")
    out = benchmark.pedantic(pay, args=(grouped, pol, w), rounds=5, warmup_rounds=1)
    assert out.height == N
    benchmark.extra_info["cases_per_second"] = round(N / benchmark.stats.stats.min)
