"""The demo: the whole job on built-in data, from a synthetic region to a report.

:func:`run` makes a synthetic region (:func:`drgsim.synth.hospital`, grouped under the
built-in teaching set), pays it under the shipped example rate policy, settles the year under
the example settlement policy, simulates the shipped scenario ``example_los_and_cc.toml``
against it, and writes the report (:func:`drgsim.report.report`, an Excel workbook and an
HTML page) with the scenario's comparison beside it. Everything is seeded, so a run is
reproducible; 50,000 cases take a few seconds.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from drgsim import demo
>>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
...     out = demo.run(Path(d), cases=5_000, progress=False)
"""

from __future__ import annotations

import importlib
import time
from importlib import resources
from pathlib import Path
from typing import Any

from drgsim import synth
from drgsim.io import atomic_output, write_report_csv
from drgsim.payment import pay
from drgsim.policy import example
from drgsim.settlement import example_settlement, settle
from drgsim.simulation import simulate

__all__ = ["SCENARIO", "run"]

SCENARIO = "example_los_and_cc.toml"
"""The shipped scenario the demo simulates (in ``drgsim/scenarios``)."""

_STEPS = ("synthetic region", "pay", "settle", "simulate", "report")


class _NoBar:
    """Stands in for a tqdm bar when tqdm is not installed or progress is off."""

    def set_description_str(self, s: str) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress: bool) -> Any:
    if not progress:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=len(_STEPS), desc="drgsim demo", unit="step")


def _report_module() -> Any:
    """``drgsim.report``, or None when this build does not have it."""
    try:
        return importlib.import_module("drgsim.report")
    except ModuleNotFoundError as e:
        if e.name != "drgsim.report":
            raise
        return None


def run(
    out_dir: Path,
    *,
    cases: int = 50_000,
    seed: int = 1,
    tables: str = "teaching",
    hospitals: int = 5,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo and write its report into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Folder for the report (created if missing).
    cases : int, default 50,000
        Cases of the synthetic region.
    seed : int, default 1
        Seed of the synthetic region.
    tables : str, default "teaching"
        Table set to group under (the example policy's weights are those of the teaching set).
    hospitals : int, default 5
        Hospitals of the synthetic region.
    progress : bool, default True
        Show a progress bar (``tqdm.auto``: a widget in a notebook, text in a terminal).

    Returns
    -------
    dict
        ``files`` (name → Path of every file written, the report's included), ``paid``
        (the paid cases), ``settlement`` (:class:`~drgsim.settlement.Settlement`),
        ``simulation`` (:class:`~drgsim.simulation.SimulationResult`), ``summary`` (text)
        and ``seconds`` (wall time per step).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secs: dict[str, float] = {}
    files: dict[str, Path] = {}
    bar = _bar(progress)
    try:
        t = time.perf_counter()
        bar.set_description_str("synthetic region")
        cases_df = synth.hospital(tables, cases=cases, hospitals=hospitals, seed=seed)
        secs["synth"] = time.perf_counter() - t
        bar.update()

        t = time.perf_counter()
        bar.set_description_str("pay")
        policy = example("rate")
        paid = pay(cases_df, policy)
        secs["pay"] = time.perf_counter() - t
        bar.update()

        t = time.perf_counter()
        bar.set_description_str("settle")
        sp = example_settlement()
        settlement = settle(paid, sp)
        secs["settle"] = time.perf_counter() - t
        bar.update()

        t = time.perf_counter()
        bar.set_description_str("simulate")
        res = resources.files("drgsim") / "scenarios" / SCENARIO
        with resources.as_file(res) as scenario_path:
            sim = simulate(cases_df, scenario_path, policy, tables=tables, settlement=sp)
        secs["simulate"] = time.perf_counter() - t
        bar.update()

        t = time.perf_counter()
        bar.set_description_str("report")
        summary = "\n\n".join([
            f"drgsim demo: {cases:,} synthetic cases, {hospitals} hospitals, seed {seed}, "
            f"tables {tables}, policy {policy.name or 'example rate'}",
            settlement.summary(),
            sim.summary(),
        ])  # fmt: skip
        files["summary"] = out / "demo_summary.txt"
        with atomic_output(files["summary"]) as tmp:
            tmp.write_text(summary + "\n", encoding="utf-8")
        files["settlement"] = out / "settlement_by_hospital.csv"
        write_report_csv(settlement.with_total(), files["settlement"])
        files["scenario_by_department"] = out / "scenario_by_department.csv"
        write_report_csv(sim.table("department"), files["scenario_by_department"])
        report = _report_module()
        if report is None:
            print(
                "drgsim demo: drgsim.report is not in this build; wrote the summary and CSVs only"
            )
        else:
            written = report.report(paid, out, title=f"drgsim demo — {cases:,} synthetic cases")
            files.update({f"report_{k}": Path(v) for k, v in written.items()})
        secs["report"] = time.perf_counter() - t
        bar.update()
    finally:
        bar.close()
    secs["total"] = sum(secs.values())
    where = next((p for k, p in files.items() if k.startswith("report_") and p.suffix == ".html"),
                 files["summary"])  # fmt: skip
    print(f"drgsim demo: {cases:,} cases in {secs['total']:.1f} s; report at {where}")
    for k, p in files.items():
        print(f"  {k}: {p}")
    return {
        "files": files,
        "paid": paid,
        "settlement": settlement,
        "simulation": sim,
        "summary": summary,
        "seconds": secs,
    }
