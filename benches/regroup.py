"""End-to-end regroup benchmark: Parquet dataset in, grouped partitioned Parquet out.

Builds (once, cached under ``target/bench-data``) a synthetic dataset partitioned by month,
``month=2025-01/part-0.parquet`` ... ``month=2025-12``, from the chs-drg-1.1 code lists, and
measures in the same run, each in a fresh process:

- the I/O floor: reading every input column of every file and doing nothing with them, the
  faster of Polars' own read-ahead streaming read and regroup's bounded reader
  (``drgsim.stream.read_batches``);
- ``drgsim regroup DATASET -t chs-drg-1.1 -o OUT`` end to end (process start, table load,
  read, group, write, rename), its wall time and peak resident memory;
- the same on one core (``taskset -c 0``, one grouping and one Polars thread) for the
  speed-up from one core to two;
- the phases alone, on input already in memory: grouping, and writing the grouped output;
- the pure-Python reference grouper (tests/reference_grouper.py) on a 5,000-case sample,
  projected to the dataset size.

Usage::

    python benches/regroup.py                 # 10,000,000 cases
    python benches/regroup.py 10000000 30000000   # also show memory at 30M

Prints a Markdown table with the ratios; ``make bench-regroup`` runs both sizes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import synthetic

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DRGSIM_BENCH_DATA", ROOT / "target" / "bench-data"))
MONTHS = 12
CHUNK = 1_000_000
ROUNDS = int(os.environ.get("DRGSIM_BENCH_ROUNDS", 2))


def dataset(n: int) -> Path:
    """The n-case dataset partitioned by month (built once; a marker file says it is whole)."""
    root = DATA / f"regroup-{n}"
    if (root / "_COMPLETE").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    ts = synthetic.bench_tables()
    per_month = -(-n // MONTHS)
    made = 0
    for m in range(MONTHS):
        rows = min(per_month, n - made)
        d = root / f"month=2025-{m + 1:02d}"
        d.mkdir(parents=True)
        parts = []
        for off in range(0, rows, CHUNK):
            k = min(CHUNK, rows - off)
            df = synthetic.cases(ts, k, seed=1000 * m + off // CHUNK)
            ids = pl.int_range(made + off, made + off + k, eager=True)
            parts.append(
                df.with_columns(
                    case_id=pl.format("C{}", ids),
                    hospital_id=pl.format("H{}", (ids * 7919) % 40),
                    department=pl.format("D{}", (ids * 104729) % 25),
                    total_cost=(ids % 50_000).cast(pl.Float64) + 500.0,
                ).select("case_id", "hospital_id", "department", *df.columns, "total_cost")
            )
        pl.concat(parts).write_parquet(d / "part-0.parquet", row_group_size=256 * 1024)
        made += rows
    (root / "_COMPLETE").write_text(f"{n}\n")
    return root


def probe_peak(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and this child's own peak RSS (via /usr/bin/time-like wait4)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_maxrss / 1024


def floor_probe(path: str, how: str) -> None:
    """Child process: read every column of every file, doing nothing else; print rows.

    ``fast``: Polars' own streaming read of each file (all cores, reads ahead);
    ``regroup``: the bounded, one-batch-ahead reader regroup uses.
    """
    import tempfile

    from drgsim.stream import BATCH_ROWS, discover, read_batches

    rows = 0
    with tempfile.TemporaryDirectory() as scratch:
        for u in discover([path]):
            if how == "fast":
                for b in pl.scan_parquet(u.source).collect_batches(chunk_size=BATCH_ROWS):
                    rows += b.height
            else:
                for b in read_batches(u, BATCH_ROWS, Path(scratch)):
                    rows += b.height
    print(json.dumps({"rows": rows}))


def phases_probe(path: str, tables: str) -> None:
    """Child process: the compute and write phases alone, on input already in memory.

    ``group``: grouping every batch (with the provenance columns, as regroup does);
    ``write``: writing the grouped batches to one Parquet file per input through the same
    streaming sink regroup uses. Prints seconds as JSON.
    """
    import tempfile

    from drgsim.grouping import group_frame
    from drgsim.stream import BATCH_ROWS, discover, read_batches, write_batches
    from drgsim.tables import load

    ts = load(tables)
    with tempfile.TemporaryDirectory() as scratch:
        files = [list(read_batches(u, BATCH_ROWS, Path(scratch))) for u in discover([path])]
        t = time.perf_counter()
        grouped = [[group_frame(b, ts, provenance=True) for b in f] for f in files]
        group = time.perf_counter() - t
        del files
        t = time.perf_counter()
        for i, parts in enumerate(grouped):
            write_batches(iter(parts), parts[0].schema, Path(scratch) / f"{i}.parquet")
        write = time.perf_counter() - t
    print(json.dumps({"group": group, "write": write}))


def best(fn, rounds: int = ROUNDS) -> tuple[float, float]:
    results = [fn() for _ in range(rounds)]
    return min(r[0] for r in results), max(r[1] for r in results)


def python_baseline(data: Path, tables: str) -> float:
    """Cases per second of the pure-Python reference grouper on 5,000 cases."""
    from reference_grouper import load as load_reference

    sample = pl.read_parquet(next(data.rglob("*.parquet")), n_rows=5000).to_dicts()
    ref = load_reference(Path(tables))
    t = time.perf_counter()
    for c in sample:
        ref.group(c)
    return len(sample) / (time.perf_counter() - t)


def main(sizes: list[int]) -> None:
    ts = synthetic.bench_tables()
    exe = shutil.which("drgsim") or "drgsim"
    one_core = {"RAYON_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}
    taskset = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    rows = []
    for n in sizes:
        data = dataset(n)
        out = DATA / f"regroup-{n}-out"
        floor = min(
            best(lambda d=data, h=how: probe_peak([sys.executable, __file__, "--floor", str(d), h]))
            for how in ("fast", "regroup")
        )
        cmd = [exe, "regroup", str(data), "-t", ts.origin, "-o", str(out), "-q", "--force"]
        two = best(lambda c=cmd: probe_peak(c))
        written = pl.scan_parquet(out / "**" / "*.parquet").select(pl.len()).collect().item()
        assert written == n, (written, n)
        row = {"cases": n, "floor": floor[0], "regroup": two[0], "peak_mib": two[1]}
        if n == sizes[0]:
            one = best(lambda c=cmd: probe_peak(taskset + c, env=one_core), rounds=1)
            row["one_core"] = one[0]
            res = subprocess.run(
                [sys.executable, __file__, "--phases", str(data), ts.origin],
                check=True,
                capture_output=True,
                text=True,
            )
            row.update(json.loads(res.stdout.strip().splitlines()[-1]))
        rows.append(row)
        shutil.rmtree(out, ignore_errors=True)
    py_rate = python_baseline(dataset(sizes[0]), ts.origin)

    print(f"table set {ts.name} ({ts.content_hash[:12]}); best of {ROUNDS}; 2 cores")
    print()
    print("| cases | I/O floor s | regroup s | × floor | cases/s | peak MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['cases']:,} | {r['floor']:.2f} | {r['regroup']:.2f} | "
            f"{r['regroup'] / r['floor']:.2f} | {r['cases'] / r['regroup']:,.0f} | "
            f"{r['peak_mib']:.0f} |"
        )
    r0 = rows[0]
    print()
    print(
        f"one core: {r0['one_core']:.2f} s; speed-up 1 → 2 cores: "
        f"{r0['one_core'] / r0['regroup']:.2f}x"
    )
    print(
        f"phases alone on {r0['cases']:,} cases already in memory: grouping "
        f"{r0['group']:.2f} s ({r0['group'] / r0['floor']:.2f}x the I/O floor), writing the "
        f"grouped output {r0['write']:.2f} s ({r0['write'] / r0['floor']:.2f}x); "
        f"read + group + write = {(r0['floor'] + r0['group'] + r0['write']) / r0['floor']:.2f}x"
    )
    projected = r0["cases"] / py_rate
    print(
        f"pure-Python reference grouper: {py_rate:,.0f} cases/s, {projected / 3600:.1f} h "
        f"projected for {r0['cases']:,} cases; regroup is {projected / r0['regroup']:,.0f}x faster"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:
        floor_probe(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--phases"]:
        phases_probe(sys.argv[2], sys.argv[3])
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000_000])
