"""The 1.1 -> 2.0 migration report (issue 4, item 3) and drgsim.compare."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import polars as pl
import pytest

from drgsim.compare import compare

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "reports"))
import migration  # noqa: E402


@pytest.fixture(scope="module")
def comparison(chs11, chs20_tables):
    return compare(pl.read_csv(migration.CASES, infer_schema=False), chs11, chs20_tables)


def test_every_case_grouped_or_reasoned_under_2_0(comparison):
    c = comparison.cases
    assert c.height == 9728
    assert set(c["status_new"]) <= {"ok", "qy", "ungroupable", "invalid"}
    bad = c.filter(pl.col("drg_new") == "0000")
    assert bad["reason_new"].null_count() == 0
    assert c.filter(pl.col("status_new") == "ok")["drg_new"].str.len_chars().eq(4).all()


def test_summary_is_consistent(comparison):
    s = comparison.summary
    assert s["cases"] == 9728
    assert s["changed_adrg"] <= s["changed_drg"] + s["cases"]
    assert s["renumbered_drg"] <= s["changed_drg"]
    assert comparison.flows["cases"].sum() == s["changed_drg"]
    assert comparison.ungroupable["cases"].sum() == s["newly_ungroupable"]


def test_committed_report_is_current(comparison):
    text = migration.OUT.read_text(encoding="utf-8")
    s = comparison.summary
    for label, key in [("ADRG changes", "changed_adrg"), ("DRG changes", "changed_drg")]:
        m = re.search(rf"\| {label} \| (\d+) ", text)
        assert m and int(m.group(1)) == s[key], f"{label}: run make migration"
    assert f"{s['groups_old']} → {s['groups_new']}" in text


def test_compare_identical_sets_changes_nothing(yancheng):
    df = pl.read_csv(migration.CASES, infer_schema=False).head(500)
    c = compare(df, yancheng, yancheng)
    assert c.summary["changed_drg"] == 0 and c.flows.height == 0
