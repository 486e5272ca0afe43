"""Each notebook in notebooks/ runs top to bottom on built-in data (teaching set and synth).

Needs nbclient, nbformat and ipykernel (a ``python3`` kernel); skipped with the reason when
they are missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 120  # per cell; each notebook runs in well under 20 s


def _missing() -> str | None:
    for mod in ("nbclient", "nbformat", "ipykernel"):
        try:
            __import__(mod)
        except ImportError:
            return f"{mod} is not installed (pip install nbclient nbformat ipykernel)"
    return None


def test_notebooks_found() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_why_this_group.ipynb",
        "02_monthly_review.ipynb",
        "03_policy_what_if.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError with the cell and traceback on failure
    seconds = time.perf_counter() - t0
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert seconds < 60, f"{path.name} took {seconds:.1f} s"
