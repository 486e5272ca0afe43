"""Year-end settlement (drgsim.settle): worked settlements by hand, policy files and errors, and
properties (totals reconcile, the identities of the module docstring, monotone in cost)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import drgsim
from drgsim.policy import PolicyError
from drgsim.settlement import (
    HOSPITAL_COLUMNS,
    MONTHLY_COLUMNS,
    Band,
    Settlement,
    SettlementPolicy,
    band_amount,
    example_settlement,
    load_settlement_policy,
    parse_settlement_policy,
    settle,
)

JAN, FEB, MAR = dt.date(2025, 1, 10), dt.date(2025, 2, 10), dt.date(2025, 3, 10)


def frame(rows: list[tuple[Any, ...]], cols: tuple[str, ...] = ()) -> pl.DataFrame:
    """Cases from (hospital_id, paid, total_cost, discharge_date, *cols) tuples."""
    names = ["hospital_id", "paid", "total_cost", "discharge_date", *cols]
    return pl.DataFrame(rows, schema=names, orient="row")


def one(s: Settlement, hospital: str = "H") -> dict[str, Any]:
    return s.hospitals.filter(pl.col("hospital_id") == hospital).row(0, named=True)


BANDED = {
    "prepayment": {"share": 0.9},
    "deposit": {"share": 0.03},
    "surplus": {"bands": [{"up_to": 0.1, "share": 1.0}, {"share": 0.5}]},
    "overspend": {"bands": [{"up_to": 0.1, "share": 0.6}, {"up_to": 0.2, "share": 0.3}]},
}


# --------------------------------------------------------------------------- worked settlements


def test_surplus_in_the_first_band() -> None:
    """Value 60 + 40 = 100, cost 55 + 40 = 95: surplus 5 = 5% of the value, inside the first
    band (≤ 10%, kept in full): kept 5, settled = 95 + 5 = 100. Prepaid 0.9 × (60 + 40) = 90,
    deposit 0.03 × 100 = 3, returned in full (score 1). The fund pays 100 − 0 (no patient
    part) − 0 (nothing forfeited) = 100; clearing = 100 − 90 − 3 = 7; profit = 100 − 95 = 5."""
    s = settle(frame([("H", 60.0, 55.0, JAN), ("H", 40.0, 40.0, FEB)]), parse(BANDED))
    h = one(s)
    assert (h["cases"], h["drg_value"], h["actual_cost"]) == (2, 100.0, 95.0)
    assert (h["surplus"], h["surplus_kept"], h["overspend"]) == (5.0, 5.0, 0.0)
    assert h["settled"] == pytest.approx(100.0)
    assert h["prepaid"] == pytest.approx(90.0)
    assert h["deposit_withheld"] == pytest.approx(3.0)
    assert h["deposit_returned"] == pytest.approx(3.0)
    assert h["fund_paid_total"] == pytest.approx(100.0)
    assert h["clearing"] == pytest.approx(7.0)
    assert h["profit"] == pytest.approx(5.0)


def test_surplus_in_the_second_band_is_piecewise() -> None:
    """Value 200, cost 150: surplus 50 = 25% of the value. The first 10% (20) is kept at 1.0,
    the remaining 30 at 0.5: kept 20 + 15 = 35; settled = 150 + 35 = 185; profit 35."""
    s = settle(frame([("H", 200.0, 150.0, JAN)]), parse(BANDED))
    h = one(s)
    assert h["surplus"] == 50.0
    assert h["surplus_kept"] == pytest.approx(35.0)
    assert h["settled"] == pytest.approx(185.0)
    assert h["profit"] == pytest.approx(35.0)
    # prepaid 180, deposit 6 returned: clearing = 185 − 180 − 6 = −1 (the fund recovers 1)
    assert h["clearing"] == pytest.approx(-1.0)


def test_overspend_shared_and_borne() -> None:
    """Value 100, cost 130: overspend 30. Up to 10% of the value (10) the fund bears 0.6 → 6;
    from 10% to 20% (10) 0.3 → 3; the last 10 is beyond the bands → the hospital's. Shared 9,
    borne 21; settled = 100 + 9 = 109 = 130 − 21; profit −21."""
    h = one(settle(frame([("H", 100.0, 130.0, JAN)]), parse(BANDED)))
    assert (h["surplus"], h["overspend"]) == (0.0, 30.0)
    assert h["overspend_shared"] == pytest.approx(9.0)
    assert h["overspend_borne"] == pytest.approx(21.0)
    assert h["settled"] == pytest.approx(109.0)
    assert h["profit"] == pytest.approx(-21.0)


def test_monthly_prepayment_and_deposit() -> None:
    """Jan: value 1000 (fund 800), cost 900; Feb: value 500 (fund 400), cost 700. Prepay 90%
    and withhold 5% of the fund part monthly: prepaid 720 + 360 = 1080, deposit 40 + 20 = 60.
    Year: V 1500, C 1600, overspend 100 borne (no bands), settled 1500, patient part 300.
    Quality score 0.5 of full_at 1: 30 returned, 30 forfeited. Fund pays 1500 − 300 − 30 =
    1170 = prepaid 1080 + clearing 60 + returned 30; profit 1170 + 300 − 1600 = −130."""
    p = parse({"prepayment": {"share": 0.9}, "deposit": {"share": 0.05}})
    df = frame(
        [("H", 1000.0, 900.0, JAN, 800.0, 0.5), ("H", 500.0, 700.0, FEB, 400.0, 0.5)],
        ("fund_paid", "quality_score"),
    )
    s = settle(df, p)
    h = one(s)
    assert h["patient_part"] == pytest.approx(300.0)
    assert h["prepaid"] == pytest.approx(1080.0)
    assert h["deposit_withheld"] == pytest.approx(60.0)
    assert h["quality_score"] == 0.5
    assert h["deposit_returned"] == pytest.approx(30.0)
    assert h["deposit_forfeited"] == pytest.approx(30.0)
    assert h["overspend_borne"] == pytest.approx(100.0)
    assert h["fund_paid_total"] == pytest.approx(1170.0)
    assert h["clearing"] == pytest.approx(60.0)
    assert h["profit"] == pytest.approx(-130.0)
    m = s.monthly
    assert m.columns == ["hospital_id", *MONTHLY_COLUMNS]
    assert m["month"].to_list() == [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
    assert m["prepaid"].to_list() == pytest.approx([720.0, 360.0])
    assert m["cum_prepaid"].to_list() == pytest.approx([720.0, 1080.0])
    assert m["cum_deposit_withheld"].to_list() == pytest.approx([40.0, 60.0])
    assert m["cum_balance"].to_list() == pytest.approx([100.0, -100.0])


def test_scores_from_the_policy_and_full_at() -> None:
    """百分制 scores with full_at 90: 95 returns the whole deposit, 72 returns 72/90 = 80%."""
    p = parse({"deposit": {"share": 0.1, "scores": {"A": 95, "B": 72}, "full_at": 90}})
    s = settle(frame([("A", 100.0, 100.0, JAN), ("B", 100.0, 100.0, JAN)]), p)
    assert s.hospitals["deposit_returned"].to_list() == pytest.approx([10.0, 8.0])


def test_budget_basis_prepayment() -> None:
    """basis = budget: each month prepays share × budget × fund ratio ÷ months. Budget 1200
    (one hospital), fund ratio 0.5, 3 months: 0.9 × 1200 × 0.5 ÷ 3 = 180 a month."""
    p = parse({"budget": {"total": 1200.0}, "prepayment": {"share": 0.9, "basis": "budget"}})
    df = frame(
        [("H", 100.0, 100.0, d, 50.0) for d in (JAN, FEB, MAR)] + [("H", 100.0, 100.0, MAR, 50.0)],
        ("fund_paid",),
    )
    s = settle(df, p)
    assert s.monthly["prepaid"].to_list() == pytest.approx([180.0] * 3)
    assert one(s)["prepaid"] == pytest.approx(540.0)


def test_budget_split() -> None:
    """Total 1000; A has an explicit 500, D a share of 10% (100); the rest (400) is split by
    value between B (value 300) and C (100): 300 and 100."""
    p = parse({"budget": {"total": 1000.0, "hospitals": {"A": 500.0}, "shares": {"D": 0.1}}})
    df = frame([(h, v, v, JAN) for h, v in (("A", 50.0), ("B", 300.0), ("C", 100.0), ("D", 7.0))])
    s = settle(df, p)
    assert s.hospitals["budget"].to_list() == pytest.approx([500.0, 300.0, 100.0, 100.0])
    assert s.region["budget"] == 1000.0


@pytest.mark.parametrize(
    ("split", "expected"),
    [("cases", [600.0, 300.0]), ("equal", [450.0, 450.0]), ("cost", [300.0, 600.0])],
)
def test_budget_split_rules(split: str, expected: list[float]) -> None:
    """Budget 900: A has 2 cases costing 10 in all, B 1 case costing 20."""
    df = frame([("A", 1.0, 5.0, JAN), ("A", 1.0, 5.0, JAN), ("B", 1.0, 20.0, JAN)])
    s = settle(df, parse({"budget": {"total": 900.0, "split": split}}))
    assert s.hospitals["budget"].to_list() == pytest.approx(expected)


def test_budget_split_by_a_column_and_override() -> None:
    """Split by last year's value (A 1, B 3); budget= overrides the policy total."""
    df = frame([("A", 1.0, 1.0, JAN, 1.0), ("B", 1.0, 1.0, JAN, 3.0)], ("last_year",))
    p = parse({"budget": {"total": 400.0, "split": "column", "split_column": "last_year"}})
    assert settle(df, p).hospitals["budget"].to_list() == pytest.approx([100.0, 300.0])
    assert settle(df, p, budget=800.0).hospitals["budget"].to_list() == pytest.approx([200, 600])


def test_budget_of_value() -> None:
    """of_value 1.1: region budget = 1.1 × Σ nominal value (300) = 330, split by value."""
    df = frame([("A", 100.0, 1.0, JAN), ("B", 200.0, 1.0, JAN)])
    s = settle(df, parse({"budget": {"of_value": 1.1}}))
    assert s.hospitals["budget"].to_list() == pytest.approx([110.0, 220.0])


def test_caps_and_floors() -> None:
    """Budget 200 split equally (100 each); settled ≤ 1.05 × budget, ≥ min(cost, 0.9 × budget).
    A: value 150, cost 100, surplus 50 kept → 150, capped at 105 (adjustment −45).
    B: value 50, cost 120, overspend 70 borne → 50, floored at min(120, 90) = 90 (+40).
    C (separately, cost 60 < 90): floored only to its cost 60 when its value is 40."""
    p = parse(
        {
            "budget": {"total": 200.0, "split": "equal"},
            "limits": {"max_of_budget": 1.05, "min_of_budget": 0.9},
        }
    )
    s = settle(frame([("A", 150.0, 100.0, JAN), ("B", 50.0, 120.0, JAN)]), p)
    a, b = one(s, "A"), one(s, "B")
    assert (a["settled_before_limits"], a["settled"]) == pytest.approx((150.0, 105.0))
    assert a["limit_adjustment"] == pytest.approx(-45.0)
    assert (b["settled_before_limits"], b["settled"]) == pytest.approx((50.0, 90.0))
    assert b["limit_adjustment"] == pytest.approx(40.0)
    assert b["profit"] == pytest.approx(-30.0)
    c = one(settle(frame([("C", 40.0, 60.0, JAN), ("D", 160.0, 160.0, JAN)]), p), "C")
    assert c["settled"] == pytest.approx(60.0)


def test_adjustment_pool_limits_shared_overspend() -> None:
    """调剂金 5% of 100 = 5. A overspends 20 and B 10, the fund bears half (bands up to 100% of
    the value): 10 + 5 = 15 > 5, so each is scaled by 1/3: A 10/3, B 5/3."""
    p = parse(
        {
            "budget": {"total": 100.0},
            "overspend": {"bands": [{"up_to": 1.0, "share": 0.5}], "pool_share": 0.05},
        }
    )
    s = settle(frame([("A", 50.0, 70.0, JAN), ("B", 50.0, 60.0, JAN)]), p)
    assert s.hospitals["overspend_shared"].to_list() == pytest.approx([10 / 3, 5 / 3])
    assert s.hospitals["overspend_borne"].to_list() == pytest.approx([20 - 10 / 3, 10 - 5 / 3])
    assert s.region["pool"] == pytest.approx(5.0)
    assert s.region["pool_factor"] == pytest.approx(1 / 3)


def test_floating_point_value() -> None:
    """Budget 150. H1: a point case paid 100 and a case paid by items 20 (no points); H2: a
    point case paid 80. k = (150 − 20) ÷ 180; H1 value = 100k + 20, H2 = 80k; Σ = 150. The
    monthly prepayments stay at the nominal value."""
    p = parse({"budget": {"total": 150.0}, "floating": {"enabled": True}})
    df = frame(
        [
            ("H1", 100.0, 90.0, JAN, 1.0),
            ("H1", 20.0, 20.0, JAN, None),
            ("H2", 80.0, 70.0, JAN, 0.8),
        ],
        ("points",),
    )
    s = settle(df, p)
    k = 130 / 180
    assert s.region["value_factor"] == pytest.approx(k)
    assert s.hospitals["drg_value"].to_list() == pytest.approx([100 * k + 20, 80 * k])
    assert s.hospitals["drg_value"].sum() == pytest.approx(150.0)
    assert s.hospitals["nominal_value"].to_list() == [120.0, 80.0]
    assert s.monthly["prepaid"].to_list() == pytest.approx([0.9 * 120, 0.9 * 80])


def test_floating_leaves_excluded_classes_alone() -> None:
    """DRG frames: every case has points, and excluded (items-paid) cases keep their value."""
    p = parse({"budget": {"total": 100.0}, "floating": {"enabled": True}})
    df = frame(
        [("H", 60.0, 1.0, JAN, 0.6, "normal"), ("H", 20.0, 1.0, JAN, 0.2, "excluded")],
        ("points", "case_class"),
    )
    s = settle(df, p)
    assert s.region["value_factor"] == pytest.approx(80 / 60)


def test_no_dates_is_one_period_and_month_column_wins() -> None:
    df = pl.DataFrame({"hospital_id": ["H", "H"], "paid": [1.0, 2.0], "total_cost": [1.0, 2.0]})
    s = settle(df, parse({}))
    assert s.monthly["month"].to_list() == ["year"]
    s = settle(df.with_columns(month=pl.Series(["2025-01", "2025-03"])), parse({}))
    assert s.monthly["month"].to_list() == ["2025-01", "2025-03"]
    assert s.region["months"] == 2


def test_lazy_input_and_other_hospital_column() -> None:
    df = frame([("H", 1.0, 1.0, JAN)]).rename({"hospital_id": "org"}).lazy()
    s = settle(df, parse({}), by="org")
    assert s.hospitals.columns == ["org", *HOSPITAL_COLUMNS]
    assert s.with_total()["org"].to_list() == ["H", "total"]


def test_missing_columns() -> None:
    with pytest.raises(drgsim.exceptions.ColumnError, match="total_cost"):
        settle(pl.DataFrame({"hospital_id": ["H"], "paid": [1.0]}), parse({}))
    with pytest.raises(drgsim.exceptions.ColumnError, match="last_year"):
        settle(
            frame([("H", 1.0, 1.0, JAN)]),
            parse({"budget": {"total": 1.0, "split": "column", "split_column": "last_year"}}),
        )


def test_budget_needed_but_none_given() -> None:
    p = parse({"budget": {"hospitals": {"X": 10.0}}, "limits": {"max_of_budget": 1.0}})
    with pytest.raises(PolicyError, match="needs a budget"):
        settle(frame([("H", 1.0, 1.0, JAN)]), p)


def test_band_amount_beyond_the_last_band_counts_nothing() -> None:
    df = pl.DataFrame({"x": [0.0, 15.0, 50.0], "v": [100.0] * 3})
    bands = (Band(0.1, 1.0), Band(0.2, 0.5))
    got = df.select(band_amount(pl.col("x"), pl.col("v"), bands)).to_series().to_list()
    assert got == pytest.approx([0.0, 12.5, 15.0])


def test_summary_and_html() -> None:
    s = settle(frame([("A", 100.0, 80.0, JAN), ("B", 100.0, 120.0, FEB)]), example_settlement())
    text = s.summary()
    assert "2 hospitals" in text and "A:" in text and "clearing" in text
    assert str(s) == text
    assert "<table" in s._repr_html_() and "total" in s._repr_html_()


# --------------------------------------------------------------------------- policies


def parse(d: dict[str, Any]) -> SettlementPolicy:
    return parse_settlement_policy(d, "test")


def test_example_policy_loads_and_is_documented() -> None:
    p = example_settlement()
    assert p.name == "example-settlement"
    assert (p.prepayment.share, p.deposit.share, p.overspend.pool_share) == (0.85, 0.03, 0.05)
    assert p.surplus.bands == (Band(0.1, 1.0), Band(None, 0.5))
    assert p.path is not None and p.path.name == "example_settlement.toml"
    readme = (Path(drgsim.__file__).parent / "policies" / "README.md").read_text("utf-8")
    section = readme[readme.index("## Settlement policy") :]
    from drgsim.settlement import _KEYS

    for sec, keys in _KEYS.items():
        assert f"[{sec}]" in section, sec
        for k in keys:
            assert f"`{k}`" in section, (sec, k)


def test_load_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text("[budget]\ntotal = 10.0\n[budget.hospitals]\nH01 = 4.0\n", encoding="utf-8")
    p = load_settlement_policy(f)
    assert p.budget.total == 10.0 and p.budget.hospitals == {"H01": 4.0} and p.path == f
    f.write_text("[budget\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape(str(f))):
        load_settlement_policy(f)
    with pytest.raises(PolicyError, match="cannot read"):
        load_settlement_policy(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"nope": {}}, r"unknown section \[nope\]"),
        ({"budget": {"totl": 1}}, r"unknown key\(s\) \['totl'\] in \[budget\]"),
        ({"budget": {"total": "a lot"}}, r"\[budget\] 'total' must be a number"),
        ({"budget": {"split": "vibes"}}, r"\[budget\] split must be one of"),
        ({"budget": {"total": 1, "of_value": 1}}, "not both"),
        ({"budget": {"shares": {"A": 0.7, "B": 0.6}, "total": 1}}, "more than 1"),
        ({"prepayment": {"share": 0.98}, "deposit": {"share": 0.03}}, "must not exceed 1"),
        ({"prepayment": {"basis": "hope"}}, r"\[prepayment\] basis"),
        ({"surplus": {"bands": [{"up_to": 0.2, "share": 1}, {"up_to": 0.1, "share": 1}]}},
         r"\[surplus\] bands\[1\]: up_to must increase"),
        ({"surplus": {"bands": [{"share": 1}, {"up_to": 0.1, "share": 1}]}},
         "only the last band"),
        ({"overspend": {"bands": [{"up_to": 0.1, "share": 1.5}]}},
         r"\[overspend\] bands\[0\]: share must be in"),
        ({"overspend": {"bands": [{"up_to": 0.1}]}}, r"bands\[0\] must be a table"),
        ({"overspend": {"pool_share": 0.05}}, "pool_share needs a"),
        ({"limits": {"max_of_budget": 1.1}}, r"\[limits\] need a \[budget\]"),
        ({"budget": {"total": 1}, "limits": {"max_of_budget": 1, "min_of_budget": 2}},
         "min_of_budget is above"),
        ({"floating": {"enabled": "yes"}}, "true or false"),
        ({"floating": {"enabled": True}}, r"\[floating\] enabled needs a \[budget\]"),
        ({"deposit": {"full_at": 0}}, "full_at must be positive"),
        ({"settlement": {"fund_share": 2}}, r"\[settlement\] fund_share"),
    ],
)  # fmt: skip
def test_policy_errors_name_the_section_and_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message) as e:
        parse_settlement_policy(doc, "my.toml")
    assert str(e.value).startswith("my.toml: ")


def test_replace_validates_and_sets_bands() -> None:
    p = example_settlement()
    q = p.replace(surplus__bands=[{"up_to": 0.05, "share": 1.0}], budget__of_value=1.2)
    assert q.surplus.bands == (Band(0.05, 1.0),) and q.budget.of_value == 1.2
    assert p.surplus.bands != q.surplus.bands  # frozen, not changed in place
    with pytest.raises(PolicyError, match="must not exceed 1"):
        p.replace(prepayment__share=0.99)
    with pytest.raises(PolicyError, match="no section"):
        p.replace(nothing__x=1)
    with pytest.raises(PolicyError):
        p.replace(deposit__nope=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- real frames


def test_settles_drg_and_dip_payment_output() -> None:
    grouped = drgsim.synth.hospital(cases=3000, hospitals=3, seed=3)
    paid = drgsim.pay(grouped, drgsim.policy.example("points"))
    s = settle(paid, example_settlement())
    assert s.hospitals.height == 3 and s.region["months"] == 12
    check_identities(s)
    assert s.hospitals["nominal_value"].sum() == pytest.approx(paid["paid"].sum())
    assert s.hospitals["patient_part"].sum() == pytest.approx(paid["patient_paid"].sum())
    floating = settle(paid, example_settlement().replace(floating__enabled=True))
    assert floating.hospitals["drg_value"].sum() == pytest.approx(floating.region["budget"])
    check_identities(floating)

    from drgsim.dip.payment import pay as dip_pay
    from drgsim.dip.policy import parse_policy

    cases = pl.DataFrame(
        {
            "hospital_id": ["A", "A", "B"],
            "dip_group": ["G", "G", "G"],
            "dip_score": [800.0, 800.0, None],
            "dip_kind": ["core", "core", "blank"],
            "dip_mean_cost": [8000.0, 8000.0, None],
            "total_cost": [8000.0, 20000.0, 3000.0],
            "discharge_date": [JAN, FEB, FEB],
        }
    )
    dpaid = dip_pay(cases, parse_policy({"point_value": {"value": 10.5}}))
    ds = settle(dpaid, parse({"budget": {"total": 20000.0}, "floating": {"enabled": True}}))
    # B's case is paid by items (3000, no points); A's 2000 points absorb the rest: 17000
    assert ds.hospitals["drg_value"].to_list() == pytest.approx([17000.0, 3000.0])
    check_identities(ds)


# --------------------------------------------------------------------------- properties


def check_identities(s: Settlement) -> None:
    h = s.hospitals
    t = s.total().row(0, named=True)
    for c in HOSPITAL_COLUMNS:
        if c != "quality_score":
            assert t[c] == pytest.approx(h[c].sum(), rel=1e-9, abs=1e-6), c
    r = h.to_dict(as_series=False)
    for i in range(h.height):
        g = {k: v[i] for k, v in r.items()}
        approx = lambda x: pytest.approx(x, rel=1e-9, abs=1e-6)  # noqa: E731
        assert g["surplus"] * g["overspend"] == 0
        assert g["drg_value"] - g["actual_cost"] == approx(g["surplus"] - g["overspend"])
        assert -1e-9 <= g["surplus_kept"] <= g["surplus"] + 1e-9
        assert -1e-9 <= g["overspend_shared"] <= g["overspend"] + 1e-9
        assert g["overspend_shared"] + g["overspend_borne"] == approx(g["overspend"])
        assert g["settled_before_limits"] == approx(
            g["actual_cost"] + g["surplus_kept"] - g["overspend_borne"]
        )
        assert g["settled"] == approx(g["settled_before_limits"] + g["limit_adjustment"])
        assert g["deposit_withheld"] == approx(g["deposit_returned"] + g["deposit_forfeited"])
        assert g["fund_paid_total"] == approx(
            g["settled"] - g["patient_part"] - g["deposit_forfeited"]
        )
        assert g["fund_paid_total"] == approx(g["prepaid"] + g["clearing"] + g["deposit_returned"])
        assert g["profit"] == approx(g["fund_paid_total"] + g["patient_part"] - g["actual_cost"])
        assert g["profit"] == approx(
            g["surplus_kept"]
            - g["overspend_borne"]
            + g["limit_adjustment"]
            - g["deposit_forfeited"]
        )
    m = s.monthly.group_by(s.by).agg(
        pl.col("value").sum(), pl.col("cases").sum(), pl.col("prepaid").sum(),
        pl.col("deposit_withheld").sum(), pl.col("cum_value").last(),
    ).sort(s.by)  # fmt: skip
    assert m["value"].to_list() == pytest.approx(h["nominal_value"].to_list())
    assert m["cum_value"].to_list() == pytest.approx(h["nominal_value"].to_list())
    assert m["cases"].to_list() == h["cases"].to_list()
    assert m["prepaid"].to_list() == pytest.approx(h["prepaid"].to_list())
    assert m["deposit_withheld"].to_list() == pytest.approx(h["deposit_withheld"].to_list())


@st.composite
def bands(draw: st.DrawFn) -> list[dict[str, float]]:
    ups = sorted(set(draw(st.lists(st.sampled_from([0.05, 0.1, 0.2, 0.5, 1.0]), max_size=3))))
    out: list[dict[str, float]] = [
        {"up_to": u, "share": draw(st.floats(0, 1)) } for u in ups
    ]  # fmt: skip
    if draw(st.booleans()):
        out.append({"share": draw(st.floats(0, 1))})
    return out


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    dep = draw(st.floats(0, 0.1))
    doc: dict[str, Any] = {
        "settlement": {"fund_share": draw(st.floats(0.5, 1))},
        "prepayment": {
            "share": draw(st.floats(0, 0.9)),
            "basis": draw(st.sampled_from(["value", "budget"])),
        },
        "deposit": {"share": dep, "default_score": draw(st.floats(0, 1.5))},
        "surplus": {"bands": draw(bands())},
        "overspend": {"bands": draw(bands())},
        "budget": {"of_value": draw(st.floats(0.8, 1.2)), "split": "value"},
    }
    if draw(st.booleans()):
        doc["overspend"]["pool_share"] = draw(st.floats(0, 0.1))
    if draw(st.booleans()):
        doc["limits"] = {"max_of_budget": draw(st.floats(1.0, 1.3))}
        if draw(st.booleans()):
            doc["limits"]["min_of_budget"] = draw(st.floats(0.5, 1.0))
    doc["floating"] = {"enabled": draw(st.booleans())}
    return doc


money = st.floats(0, 10_000, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def cases(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 25))
    rows = []
    for _ in range(n):
        v = draw(money)
        rows.append(
            (
                draw(st.sampled_from(["A", "B", "C", "D"])),
                v,
                draw(money),
                dt.date(2025, draw(st.integers(1, 12)), 1),
                v * draw(st.floats(0, 1)) if draw(st.booleans()) else None,
                v / 10 if draw(st.booleans()) else None,
            )
        )
    return frame(rows, ("fund_paid", "points"))


@settings(max_examples=60, deadline=None)
@given(cases(), policies())
@example(  # the items-paid value exceeds the budget: the floating factor stops at 0
    df=pl.DataFrame(
        {
            "hospital_id": ["A", "B"],
            "paid": [5.0, 1.0],
            "total_cost": [0.0, 0.0],
            "discharge_date": [JAN, JAN],
            "points": [None, 0.1],
        }
    ),
    doc={
        "settlement": {"fund_share": 1.0},
        "prepayment": {"share": 0.0, "basis": "value"},
        "deposit": {"share": 0.0, "default_score": 0.0},
        "surplus": {"bands": [{"up_to": 0.05, "share": 0.0}, {"share": 1.0}]},
        "overspend": {"bands": [{"up_to": 0.05, "share": 0.0}, {"share": 1.0}]},
        "budget": {"of_value": 0.8125, "split": "value"},
        "floating": {"enabled": True},
    },
)
def test_totals_and_identities(df: pl.DataFrame, doc: dict[str, Any]) -> None:
    s = settle(df, parse(doc))
    assert s.hospitals.height == df["hospital_id"].n_unique()
    assert s.hospitals["cases"].sum() == df.height
    assert s.hospitals["actual_cost"].sum() == pytest.approx(df["total_cost"].sum())
    check_identities(s)
    if doc["floating"]["enabled"] and s.region["value_factor"] > 0:
        if s.region["value_factor"] != 1.0:
            assert s.hospitals["drg_value"].sum() == pytest.approx(s.region["budget"], abs=1e-6)
    elif doc["floating"]["enabled"]:
        # the items-paid value alone exceeds the budget: the points are worth nothing
        items = df.filter(pl.col("points").is_null())["paid"].sum()
        assert s.hospitals["drg_value"].sum() == pytest.approx(items, abs=1e-6)
        assert items >= s.region["budget"] - 1e-6


@settings(max_examples=40, deadline=None)
@given(money, policies())
def test_value_equal_to_cost_has_no_surplus_nor_overspend(v: float, doc: dict[str, Any]) -> None:
    doc["floating"] = {"enabled": False}
    h = settle(frame([("H", v, v, JAN)]), parse(doc)).hospitals.row(0, named=True)
    assert h["surplus"] == 0 and h["overspend"] == 0
    assert h["surplus_kept"] == 0 and h["overspend_borne"] == 0


@settings(max_examples=60, deadline=None)
@given(cases(), policies(), st.floats(0, 5_000), st.integers(0, 24))
def test_more_cost_never_helps(df: pl.DataFrame, doc: dict[str, Any], extra: float, i: int) -> None:
    """Adding cost to one case never raises its hospital's kept surplus nor its profit (the
    budget split by value and the floating factor do not depend on cost)."""
    i %= df.height
    more = df.with_columns(
        total_cost=pl.when(pl.int_range(pl.len()) == i)
        .then(pl.col("total_cost") + extra)
        .otherwise(pl.col("total_cost"))
    )
    p = parse(doc)
    a, b = settle(df, p).hospitals, settle(more, p).hospitals
    assert (b["surplus_kept"] <= a["surplus_kept"] + 1e-6).all()
    hosp = df["hospital_id"][i]
    pa = a.filter(pl.col("hospital_id") == hosp)["profit"][0]
    pb = b.filter(pl.col("hospital_id") == hosp)["profit"][0]
    assert pb <= pa + 1e-6


def test_bands_given_as_lists_are_normalised() -> None:
    """What-if code may pass bands as a list of Band or of tables; they become a tuple."""
    p = example_settlement()
    q = dataclasses.replace(p.surplus, bands=[Band(0.1, 1.0), {"share": 0.2}])  # type: ignore[arg-type]
    assert q.bands == (Band(0.1, 1.0), Band(None, 0.2))
    with pytest.raises(PolicyError, match="must be a table"):
        p.replace(overspend__bands=[{"up": 0.1}])
