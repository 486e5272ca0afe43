"""drgsim.demo.run: the whole job on built-in data writes its files."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from drgsim import demo


def test_demo_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    out = demo.run(tmp_path / "demo", cases=20_000, seed=1, progress=False)
    seconds = time.perf_counter() - t0
    files = out["files"]
    for key in ("summary", "settlement", "scenario_by_department"):
        assert files[key].is_file() and files[key].stat().st_size > 0, key
        assert files[key].parent == tmp_path / "demo"
    assert out["paid"].height == 20_000
    assert out["settlement"].hospitals.height == 5
    assert out["simulation"].scenario.name == "los-and-cc"
    assert int(out["simulation"].simulated["touched"].sum()) > 0
    text = files["summary"].read_text(encoding="utf-8")
    assert "settlement" in text and "scenario los-and-cc" in text
    printed = capsys.readouterr().out
    assert "report at" in printed
    if importlib.util.find_spec("drgsim.report") is not None:
        reports = {k: p for k, p in files.items() if k.startswith("report_")}
        assert reports, "drgsim.report wrote nothing"
        assert all(p.is_file() and p.stat().st_size > 0 for p in reports.values())
        assert {p.suffix for p in reports.values()} >= {".xlsx", ".html"}
    assert seconds < 60, f"demo.run took {seconds:.1f} s"


def test_demo_same_seed_same_result(tmp_path: Path) -> None:
    a = demo.run(tmp_path / "a", cases=2_000, seed=3, hospitals=2, progress=False)
    b = demo.run(tmp_path / "b", cases=2_000, seed=3, hospitals=2, progress=False)
    assert a["paid"].equals(b["paid"])
    assert a["summary"] == b["summary"]
