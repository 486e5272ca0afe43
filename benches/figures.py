"""The headline figures of the grouper, measured in one run: ``python benches/figures.py``.

- throughput per core: 1,000,000 synthetic cases (chs-drg-1.1 code lists) as in-memory Arrow,
  grouped by the engine on one thread (a subprocess with ``RAYON_NUM_THREADS=1``); skewed
  (real-looking) and uniform code frequencies;
- scaling: the same with ``RAYON_NUM_THREADS=2``, as a ratio to one thread;
- the Python API: ``drgsim.group`` on a Polars frame, two threads;
- the independent pure-Python grouper (tests/reference_grouper.py) on a sample, as a baseline;
- peak memory of a process that builds and groups one million cases (a fresh subprocess).

Every time is the best of several rounds, and every ratio compares runs of this same process,
because the machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import synthetic  # noqa: E402

import drgsim  # noqa: E402

N = int(os.environ.get("DRGSIM_BENCH_CASES", 1_000_000))
ROUNDS = int(os.environ.get("DRGSIM_BENCH_ROUNDS", 5))


def best(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_rss_mib() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it restarts at exec)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(n: int) -> None:
    """Run in a subprocess: build n cases, group them, print peak RSS in MiB as JSON."""
    ts = synthetic.bench_tables()
    before = peak_rss_mib()
    df = synthetic.cases(ts, n)
    built = peak_rss_mib()
    out = drgsim.group(df, ts)
    assert out.height == n
    print(json.dumps({"tables_loaded": before, "cases_built": built, "peak": peak_rss_mib()}))


def engine_probe() -> None:
    """Run in a subprocess whose RAYON_NUM_THREADS sets the cores: best engine times on Arrow
    input, skewed and uniform, as JSON."""
    ts = synthetic.bench_tables()
    out = {}
    for dist in ("skewed", "uniform"):
        table = synthetic.cases(ts, N, skewed=dist == "skewed").to_arrow()
        out[dist] = best(lambda t=table: ts.grouper.group_arrow(t))
    print(json.dumps(out))


def probe(*args: str, env: dict[str, str] | None = None) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    from reference_grouper import load as load_reference

    ts = synthetic.bench_tables()
    skewed = synthetic.cases(ts, N)
    rows = {}
    for threads in (1, 2):
        times = probe("--engine", env={"RAYON_NUM_THREADS": str(threads)})
        noun = "thread" if threads == 1 else "threads"
        for dist, sec in times.items():
            rows[f"engine, {threads} {noun}, {dist}"] = sec
    rows["drgsim.group (Polars), 2 threads, skewed"] = best(
        lambda: drgsim.group(skewed, ts, threads=2)
    )
    sample_n = 5_000
    ref = load_reference(Path(ts.origin))
    sample = skewed.head(sample_n).to_dicts()
    py_time = best(lambda: [ref.group(c) for c in sample], rounds=2)

    print(f"table set {ts.name} ({ts.content_hash[:12]}), {N:,} synthetic cases, best of {ROUNDS}")
    print(f"{'run':<44} {'seconds':>8} {'cases/s':>12}")
    for name, sec in rows.items():
        print(f"{name:<44} {sec:>8.3f} {N / sec:>12,.0f}")
    print(
        f"{'pure-Python reference grouper (5,000 cases)':<44} {py_time:>8.3f} "
        f"{sample_n / py_time:>12,.0f}"
    )
    for dist in ("skewed", "uniform"):
        one, two = rows[f"engine, 1 thread, {dist}"], rows[f"engine, 2 threads, {dist}"]
        print(f"scaling 1 -> 2 threads ({dist}): {one / two:.2f}x")
    print(
        f"engine (1 thread, skewed) vs pure-Python grouper: "
        f"{(N / rows['engine, 1 thread, skewed']) / (sample_n / py_time):,.0f}x"
    )
    mem = probe("--memory", str(N))
    print(
        f"peak memory building and grouping {N:,} cases: {mem['peak']:.0f} MiB "
        f"(tables loaded: {mem['tables_loaded']:.0f} MiB, cases built: "
        f"{mem['cases_built']:.0f} MiB)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--memory":
        memory_probe(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--engine":
        engine_probe()
    else:
        main()
