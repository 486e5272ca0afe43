"""Conformance of drgsim against the insurer's groups and the published sample cases.

Run ``python tests/conformance/conformance.py`` (or ``make conformance``) to regenerate
``tests/conformance/README.md``. The tests in ``tests/test_conformance.py`` use the same
functions and hold the thresholds.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import drgsim
from drgsim.tables import TableSet, import_opendrg

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"
CASES = REFERENCE / "cases"
YANCHENG_CASES = CASES / "yancheng_hospital_9728_cases_with_insurance_drg.csv"
SAMPLE_CASES = CASES / "opendrg_input_chs_drg_11_expected.csv"
REPORT = Path(__file__).resolve().parent / "README.md"


def import_reference(name: str, dest_root: Path) -> TableSet:
    """Import ``../shared/reference/<name>`` into ``dest_root/<name>``."""
    ts, _ = import_opendrg(REFERENCE / name, name, dest_root=dest_root, overwrite=True)
    return ts


@dataclass
class Agreement:
    """Agreement of our DRG with a reference column."""

    label: str
    agree: int
    total: int

    @property
    def share(self) -> float:
        return self.agree / self.total if self.total else 0.0

    def line(self) -> str:
        return f"| {self.label} | {self.agree} / {self.total} | {100 * self.share:.2f}% |"


def read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def group_sample(ts: TableSet) -> pl.DataFrame:
    """The 29 sample cases grouped under ``ts`` (24 carry an expected DRG)."""
    return drgsim.group(read(SAMPLE_CASES).rename({"drg": "drg_expected"}), ts)


def group_yancheng(ts: TableSet, trace: bool = False) -> pl.DataFrame:
    """The 9,728 real cases grouped under ``ts``."""
    return drgsim.group(read(YANCHENG_CASES), ts, trace=trace)


def agreement(out: pl.DataFrame, column: str, label: str) -> Agreement:
    have = out.filter(pl.col(column).is_not_null() & (pl.col(column) != ""))
    agree = have.filter(pl.col("drg") == pl.col(column)).height
    return Agreement(label, agree, have.height)


def disagreement_reason(row: dict) -> str:
    """Why our group differs from the insurer's, read from the case's trace."""
    want = row["insurer_actual_drg"]
    steps = row["trace"] or []
    adrg_want = want[:3]
    mdc_want = want[0]
    tried = {s["rule"]: s for s in steps if s["step"] == "adrg"}
    passed_mdcs = [s["rule"][3:] for s in steps if s["step"] == "mdc" and s["outcome"] == "pass"]
    ours = row["drg"]
    src = row.get("opendrg_yancheng_2023_drg")
    if src == ours:
        tail = " (the source grouper agrees with drgsim)"
    elif src:
        tail = f" (the source grouper gives {src})"
    else:
        tail = ""
    if ours[:3] == adrg_want:
        return (
            f"same ADRG, other split: our CC level is {row['cc_level']}"
            + (f" (set by {row['cc_code']})" if row["cc_code"] else "")
            + f"; the insurer chose {want}{tail}"
        )
    if mdc_want not in passed_mdcs:
        dx = row["dx_codes"].split(",")[0]
        return (
            f"principal diagnosis {dx} does not enter MDC {mdc_want} under these tables "
            f"(it enters {', '.join(passed_mdcs) or 'none'}){tail}"
        )
    if adrg_want in tried and tried[adrg_want]["outcome"] == "fail":
        rule = tried[adrg_want]["detail"]
        return f"the entry rule of {adrg_want} does not hold for these codes: {rule}{tail}"
    if adrg_want not in tried:
        return f"an earlier ADRG matched ({ours[:3]}) before {adrg_want} was tried{tail}"
    return f"other{tail}"


def report(tmp: Path) -> tuple[str, dict[str, Agreement]]:
    """Build the conformance report; returns (markdown, figures)."""
    ts11 = import_reference("chs-drg-1.1", tmp)
    tsyc = import_reference("yancheng-2023", tmp)
    sample = group_sample(ts11)
    yc = group_yancheng(tsyc, trace=True)
    nat = group_yancheng(ts11)
    figures = {
        "sample": agreement(sample, "drg_expected", "sample cases, chs-drg-1.1 vs expected"),
        "yancheng": agreement(yc, "insurer_actual_drg", "9,728 cases, yancheng-2023 vs insurer"),
        "yancheng_src": agreement(
            yc, "opendrg_yancheng_2023_drg", "9,728 cases, yancheng-2023 vs source grouper (盐城)"
        ),
        "national_insurer": agreement(
            nat, "insurer_actual_drg", "9,728 cases, chs-drg-1.1 vs insurer"
        ),
        "national_src": agreement(
            nat, "opendrg_chs_drg_11_drg", "9,728 cases, chs-drg-1.1 vs source grouper (1.1)"
        ),
    }
    bad = yc.filter(pl.col("drg") != pl.col("insurer_actual_drg"))
    lines = [
        "# Conformance report",
        "",
        "Regenerate with `make conformance` (runs `python tests/conformance/conformance.py`).",
        "Reference data: `../shared/reference` (tables imported with `drgsim tables import "
        "opendrg`).",
        "",
        f"- `chs-drg-1.1` hash `{ts11.content_hash[:16]}`; `yancheng-2023` hash "
        f"`{tsyc.content_hash[:16]}`",
        "",
        "| check | agree | share |",
        "|---|---|---|",
        *[a.line() for a in figures.values()],
        "",
        f"## Every disagreement with the insurer under `yancheng-2023` ({bad.height})",
        "",
        "| case_id | dx | px | drgsim | insurer | source grouper | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in bad.iter_rows(named=True):
        lines.append(
            f"| {row['case_id']} | {row['dx_codes']} | {row['px_codes'] or ''} | {row['drg']} | "
            f"{row['insurer_actual_drg']} | {row['opendrg_yancheng_2023_drg']} | "
            f"{disagreement_reason(row)} |"
        )
    sample_rows = sample.select(
        [
            c
            for c in ("Index", "ICD10_DRGS", "ICD9_DRGS", "drg_expected", "drg", "status")
            if c in sample.columns
        ]
    )
    lines += ["", "## Sample cases under `chs-drg-1.1`", "", "```", str(sample_rows), "```", ""]
    return "\n".join(lines), figures


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        text, figures = report(Path(d))
    REPORT.write_text(text, encoding="utf-8")
    for a in figures.values():
        print(a.line())
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
