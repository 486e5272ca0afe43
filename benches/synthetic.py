"""Synthetic cases built from a table set's own code lists, for benchmarks.

Principal diagnoses come from the MDC lists, secondary diagnoses from the CC/MCC table and the
ADRG lists, procedures from the ADRG procedure lists and the OR list; sex, age, age in days,
birth weight, length of stay and discharge type are drawn to look like an inpatient year.
Everything is drawn with Polars, seeded, so a million cases take about a second.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

import polars as pl

from drgsim.tables import TableSet, import_opendrg, load

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"


@cache
def bench_tables(name: str = "chs-drg-1.1") -> TableSet:
    """Import a reference table set once per process (into a temporary folder)."""
    if name == "teaching":
        return load("teaching")
    root = Path(os.environ.get("DRGSIM_BENCH_ROOT") or tempfile.mkdtemp(prefix="drgsim-bench-"))
    dest = root / name
    if (dest / "tableset.toml").is_file():
        return load(str(dest))
    ts, _ = import_opendrg(REFERENCE / name, name, dest_root=root, overwrite=True)
    return ts


def _pick(codes: list[str], n: int, seed: int, skewed: bool) -> pl.Series:
    """Draw ``n`` codes: uniformly, or skewed like a real case mix (P(rank k) ~ 1/k)."""
    pool = pl.Series(codes, dtype=pl.String)
    if not skewed:
        return pool.sample(n, with_replacement=True, seed=seed)
    pool = pool.sample(fraction=1.0, shuffle=True, seed=seed)  # which codes are common
    u = pl.Series(range(1 << 20), dtype=pl.Float64).sample(n, with_replacement=True, seed=seed)
    rank = ((u / (1 << 20)) * math.log(len(codes))).exp().floor().cast(pl.Int64) - 1
    return pool.gather(rank.clip(0, len(codes) - 1))


def _ints(lo: int, hi: int, n: int, seed: int) -> pl.Series:
    return pl.Series(range(lo, hi), dtype=pl.Int64).sample(n, with_replacement=True, seed=seed)


def cases(ts: TableSet, n: int, seed: int = 42, skewed: bool = True) -> pl.DataFrame:
    """``n`` synthetic cases for table set ``ts`` (canonical columns, codes as list[str]).

    With ``skewed`` (the default) codes are drawn with a long-tailed frequency, as in a real
    hospital's year; ``skewed=False`` draws every code of the lists equally often, which
    defeats the CPU caches and gives the engine its slowest realistic-looking input.
    """
    lists = ts.lists()
    principal = sorted(
        {
            c
            for name, sys_, _ in lists
            if sys_ == "dx" and name.startswith("MDC")
            for c in ts.list_codes(name)
        }
    )
    secondary = sorted({c for name, sys_, _ in lists if sys_ == "dx" for c in ts.list_codes(name)})
    procedures = sorted({c for name, sys_, _ in lists if sys_ == "px" for c in ts.list_codes(name)})
    principal = [c for c in principal if not c.endswith("*")] or secondary
    secondary = [c for c in secondary if not c.endswith("*")]
    procedures = [c for c in procedures if not c.endswith("*")]
    s = seed
    age = _ints(0, 95, n, s + 1)
    frame = pl.DataFrame(
        {
            "sex": _ints(1, 3, n, s + 2),
            "age": age,
            "age_days": age * 365 + _ints(0, 365, n, s + 3),
            "birth_weight_g": _ints(600, 4600, n, s + 4).cast(pl.Float64),
            "los_days": _ints(1, 31, n, s + 5),
            "discharge_type": pl.Series([1] * 18 + [2, 5]).sample(
                n, with_replacement=True, seed=s + 6
            ),
            "_ndx": _ints(1, 6, n, s + 7),
            "_npx": _ints(0, 4, n, s + 8),
            "_d0": _pick(principal, n, s + 10, skewed),
            **{f"_d{i}": _pick(secondary, n, s + 10 + i, skewed) for i in range(1, 5)},
            **{f"_p{i}": _pick(procedures, n, s + 20 + i, skewed) for i in range(3)},
        }
    )
    return frame.select(
        "sex",
        "age",
        pl.when(pl.col("age") == 0)
        .then(pl.col("age_days") % 365)
        .otherwise(None)
        .alias("age_days"),
        pl.when(pl.col("age") == 0)
        .then(pl.col("birth_weight_g"))
        .otherwise(None)
        .alias("birth_weight_g"),
        "los_days",
        "discharge_type",
        pl.concat_list([f"_d{i}" for i in range(5)]).list.head(pl.col("_ndx")).alias("dx"),
        pl.concat_list([f"_p{i}" for i in range(3)]).list.head(pl.col("_npx")).alias("px"),
    )


if __name__ == "__main__":  # write a Parquet file of synthetic cases
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("synthetic.parquet")
    cases(bench_tables(), n).write_parquet(out)
    print(f"wrote {n} cases to {out}")
