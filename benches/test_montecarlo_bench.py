"""pytest-benchmark: Monte Carlo of the settlement, 1,000 draws over a 100,000-case hospital
(``make bench``). Target: under 10 s per run on two cores. Each draw redraws every cell's
volume (Poisson), every case's cost (log-normal, σ 0.2), re-pays the cases and settles."""

from __future__ import annotations

import polars as pl
import pytest

import drgsim
from drgsim.montecarlo import montecarlo
from drgsim.policy import example

pytestmark = pytest.mark.benchmark
N = 100_000
DRAWS = 1_000


@pytest.fixture(scope="module")
def paid() -> pl.DataFrame:
    cases = drgsim.synth.hospital(cases=N, hospitals=1, seed=1)
    return drgsim.pay(cases, example("rate"))


@pytest.mark.parametrize(("volume", "resample"), [("poisson", False), ("multinomial", True)])
def test_montecarlo_1000_draws(benchmark, paid, volume, resample):
    pol = example("rate")
    montecarlo(paid, pol, draws=2, volume=volume, resample=resample)  # compile (or load cache)
    out = benchmark.pedantic(
        montecarlo,
        args=(paid, pol),
        kwargs={"draws": DRAWS, "volume": volume, "resample": resample, "cost_sigma": 0.2},
        rounds=3,
        warmup_rounds=0,
    )
    assert out.draws["net"].shape == (DRAWS, 2)
    benchmark.extra_info["cases"] = N
    benchmark.extra_info["draws"] = DRAWS
    benchmark.extra_info["case_draws_per_second"] = round(N * DRAWS / benchmark.stats.stats.min)
    assert benchmark.stats.stats.min < 10.0
