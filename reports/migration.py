"""The 1.1 → 2.0 migration report on the 9,728 real 盐城 cases.

Regenerate with ``make migration`` (``python reports/migration.py``): imports ``chs-drg-1.1``
(opendrg layout) and ``chs-drg-2.0`` (chs20 layout) from ``../shared/reference`` into a
temporary folder, groups the same cases under both with :func:`drgsim.compare.compare`, and
writes ``reports/chs-drg-1.1-to-2.0.md``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import polars as pl

from drgsim.compare import compare
from drgsim.tables import import_tables

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
CASES = REFERENCE / "cases" / "yancheng_hospital_9728_cases_with_insurance_drg.csv"
OUT = Path(__file__).resolve().parent / "chs-drg-1.1-to-2.0.md"


def build(tmp: Path) -> str:
    """The report text."""
    old, _ = import_tables(
        "opendrg", REFERENCE / "chs-drg-1.1", "chs-drg-1.1", dest_root=tmp, overwrite=True
    )
    new, _ = import_tables(
        "chs20", REFERENCE / "chs-drg-2.0", "chs-drg-2.0", dest_root=tmp, overwrite=True
    )
    cases = pl.read_csv(CASES, infer_schema=False)
    c = compare(cases, old, new)
    by_mdc = (
        c.cases.filter("drg_changed")
        .group_by(pl.col("mdc_old").fill_null("-").alias("MDC (1.1)"))
        .len("changed")
        .sort(["changed", "MDC (1.1)"], descending=[True, False])
        .head(10)
    )
    adrg_flows = (
        c.cases.filter("adrg_changed")
        .group_by(pl.col("adrg_old").fill_null("0000"), pl.col("adrg_new").fill_null("0000"))
        .len("cases")
        .sort(["cases", "adrg_old", "adrg_new"], descending=[True, False, False])
        .head(20)
    )
    lines = [
        c.markdown(top=30).rstrip(),
        "",
        "## The 20 largest ADRG flows",
        "",
        "| ADRG 1.1 | ADRG 2.0 | cases |",
        "|---|---|---|",
        *[f"| {a} | {b} | {n} |" for a, b, n in adrg_flows.iter_rows()],
        "",
        "## DRG changes by 1.1 MDC (top 10)",
        "",
        "| MDC (1.1) | cases changing DRG |",
        "|---|---|",
        *[f"| {m} | {n} |" for m, n in by_mdc.iter_rows()],
        "",
        "## About this report",
        "",
        f"- Cases: `{CASES.name}` (9,728 real anonymised cases of one 盐城 hospital).",
        f"- Old: `{old.name}` {old.version}, hash `{old.content_hash[:16]}`; new: `{new.name}` "
        f"{new.version}, hash `{new.content_hash[:16]}`.",
        "- Codes are ICD-10 医保版 2.0 / ICD-9-CM-3 医保版 2.0 in both versions; no code mapping "
        "between versions is applied.",
        "- No public CHS-DRG 2.0 weights exist yet, so this report counts cases and groups only; "
        "the money side waits for weights calibrated from cost data (`drgsim.calibrate`).",
        "- Regenerate: `make migration`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        text = build(Path(d))
    OUT.write_text(text, encoding="utf-8")
    print(text.split("## The 30")[0])
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
