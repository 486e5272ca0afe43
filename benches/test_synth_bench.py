"""pytest-benchmark: the synthetic hospital generator, 1,000,000 cases of the teaching set
(``make bench``). Each round draws, groups, checks and assembles the whole frame."""

from __future__ import annotations

import pytest

from drgsim import synth

pytestmark = pytest.mark.benchmark
N = 1_000_000


def test_synth_hospital_million(benchmark):
    synth.hospital(cases=1_000, seed=1)  # load the set and index its code lists once
    out = benchmark.pedantic(
        synth.hospital, kwargs={"cases": N, "seed": 1}, rounds=3, warmup_rounds=0
    )
    assert out.height == N
    benchmark.extra_info["cases"] = N
    benchmark.extra_info["cases_per_second"] = round(N / benchmark.stats.stats.min)
