"""pytest-benchmark of drgsim.group on synthetic cases of the built-in teaching set.

Run with ``make bench``. The baseline in the same run is the same cases grouped one at a time
through :func:`drgsim.group` on one-row frames, so the ratio shows what the columnar path buys.
"""

from __future__ import annotations

import random

import polars as pl
import pytest

import drgsim
from drgsim import tables

pytestmark = pytest.mark.benchmark


def synthetic(n: int, seed: int = 7) -> pl.DataFrame:
    ts = tables.load("teaching")
    dx: list[str] = []
    px: list[str] = []
    for name, system, _ in ts.lists():
        codes = [c for c in ts.list_codes(name) if not c.endswith("*")]
        (dx if system == "dx" else px).extend(codes)
    rng = random.Random(seed)
    return pl.DataFrame(
        {
            "sex": [rng.choice([1, 2]) for _ in range(n)],
            "age": [rng.randrange(0, 95) for _ in range(n)],
            "dx": ["|".join(rng.choices(dx, k=rng.randint(1, 5))) for _ in range(n)],
            "px": ["|".join(rng.choices(px, k=rng.randint(0, 2))) for _ in range(n)],
        }
    )


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return synthetic(200_000)


def test_group_columnar(benchmark, cases):
    out = benchmark(drgsim.group, cases)
    assert out.height == cases.height


def test_group_one_case_at_a_time_baseline(benchmark, cases):
    sample = cases.head(500)

    def one_by_one() -> None:
        for i in range(sample.height):
            drgsim.group(sample.slice(i, 1))

    benchmark(one_by_one)
