"""pytest-benchmark: matching 1,000,000 cases to a DIP catalogue, beside DRG grouping of the
same cases (the issue asks for the same order of speed)."""

from __future__ import annotations

import polars as pl
import pytest

import drgsim
from drgsim import synth
from drgsim.dip import catalogue as cat
from drgsim.dip import compile_catalogue

pytestmark = pytest.mark.benchmark
N = 1_000_000


@pytest.fixture(scope="module")
def region() -> pl.DataFrame:
    return synth.hospital("teaching", cases=N, hospitals=5, seed=3)


@pytest.fixture(scope="module")
def catalogue(region):
    return cat.build(region, threshold=15)


@pytest.fixture(scope="module")
def canonical(region):
    return region.select(
        "sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_type", "dx", "px"
    ).to_arrow()


def test_dip_match_engine(benchmark, catalogue, canonical):
    compiled = compile_catalogue(catalogue)
    benchmark.pedantic(compiled.match_arrow, args=(canonical,), rounds=5, warmup_rounds=1)
    benchmark.extra_info["cases_per_second"] = round(N / benchmark.stats.stats.min)


def test_drg_group_engine_same_cases(benchmark, canonical):
    g = drgsim.tables.load("teaching").grouper
    benchmark.pedantic(g.group_arrow, args=(canonical,), rounds=5, warmup_rounds=1)
    benchmark.extra_info["cases_per_second"] = round(N / benchmark.stats.stats.min)
