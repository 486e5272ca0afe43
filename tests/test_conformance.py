"""Conformance against the insurer's groups and the published sample cases (issue 2, item 8)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent / "conformance"))
import conformance as conf


def test_sample_cases_give_their_expected_drg(chs11):
    out = conf.group_sample(chs11)
    a = conf.agreement(out, "drg_expected", "sample")
    assert (a.agree, a.total) == (24, 24), out.filter(pl.col("drg") != pl.col("drg_expected"))


def test_yancheng_cases_agree_with_the_insurer(yancheng):
    out = conf.group_yancheng(yancheng)
    assert out.height == 9728
    a = conf.agreement(out, "insurer_actual_drg", "insurer")
    assert a.total == 9728
    assert a.share >= 0.997, f"{a.agree}/{a.total}"


def test_national_rules_reproduce_the_source_grouper(chs11):
    out = conf.group_yancheng(chs11)
    a = conf.agreement(out, "opendrg_chs_drg_11_drg", "source 1.1")
    assert a.share >= 0.999, f"{a.agree}/{a.total}"


def test_committed_report_lists_the_current_disagreements(yancheng):
    """The committed report must be regenerated when results change."""
    out = conf.group_yancheng(yancheng)
    bad = out.filter(pl.col("drg") != pl.col("insurer_actual_drg"))
    text = conf.REPORT.read_text(encoding="utf-8")
    m = re.search(r"Every disagreement with the insurer under `yancheng-2023` \((\d+)\)", text)
    assert m, "tests/conformance/README.md lacks the disagreement section; run make conformance"
    assert int(m.group(1)) == bad.height, "report is stale; run make conformance"
    for case_id in bad["case_id"]:
        assert f"| {case_id} |" in text
