"""Payment: golden cases computed by hand, and properties of the classes and totals."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgsim.exceptions import ColumnError
from drgsim.payment import CLASSES, pay, summary
from drgsim.policy import PolicyError, example, parse_policy

WEIGHTS = pl.DataFrame(
    {"drg": ["XX19", "YY19", "SP19"], "rw": [1.2, 0.5, 2.0], "special": [False, False, True]}
)


def rate_policy(**classes) -> object:
    return parse_policy(
        {
            "policy": {"name": "t", "method": "rate"},
            "rate": {"base_rate": 10_000},
            "hospital": {"coefficient_by_level": {"三级": 1.0, "二级": 0.9}},
            "classes": {"high_threshold": 3.0, "low_threshold": 0.3, **classes},
            "fund": {"share": {"职工": 0.8, "*": 0.6}},
        }
    )


def points_policy(**classes) -> object:
    return parse_policy(
        {
            "policy": {"name": "p", "method": "points"},
            "points": {"point_value": 100.0, "scale": 100},
            "hospital": {"coefficient": {"H1": 1.1}},
            "classes": {
                "high_threshold": 3.0,
                "low_threshold": 0.3,
                "low_payment": "cost_ratio",
                **classes,
            },
        }
    )


def case(cost, drg="XX19", **kw) -> pl.DataFrame:
    row = {
        "drg": drg,
        "status": "ok",
        "total_cost": float(cost),
        "insurance_type": "职工",
        "hospital_level": "三级",
        "hospital_id": "H0",
        "los_days": 5,
        **kw,
    }
    return pl.DataFrame([row])


def one(df: pl.DataFrame) -> dict:
    return df.row(0, named=True)


def test_rate_method_normal_case():
    """RW 1.2 × 费率 10,000 × coefficient 1.0 = standard 12,000; cost 20,000 lies between
    0.3 × 12,000 = 3,600 and 3 × 12,000 = 36,000, so the case is normal and is paid 12,000;
    the fund pays 80% = 9,600 and the hospital loses 12,000 − 20,000 = −8,000."""
    r = one(pay(case(20_000), rate_policy(), WEIGHTS))
    assert r["standard"] == pytest.approx(12_000)
    assert (r["case_class"], r["paid"]) == ("normal", pytest.approx(12_000))
    assert r["fund_paid"] == pytest.approx(9_600) and r["patient_paid"] == pytest.approx(2_400)
    assert r["profit"] == pytest.approx(-8_000)


def test_high_multiplier_above_three_times_is_paid_by_items():
    """domain.md: RW 1.2, 费率 10,000 → standard 12,000. Cost 40,000 > 3 × 12,000 = 36,000
    → 高倍率, paid 按项目 = 40,000, profit 0."""
    r = one(pay(case(40_000), rate_policy(), WEIGHTS))
    assert (r["case_class"], r["paid"], r["profit"]) == ("high", 40_000, 0)


def test_high_multiplier_standard_plus_excess():
    """Standard 12,000, threshold 3 → 36,000; cost 40,000 pays 12,000 + (40,000 − 36,000)
    × 0.8 = 15,200."""
    pol = rate_policy(high_payment="standard_plus_excess", excess_ratio=0.8)
    assert one(pay(case(40_000), pol, WEIGHTS))["paid"] == pytest.approx(15_200)


def test_low_multiplier_below_threshold():
    """Standard 12,000 × 0.3 = 3,600; a cost of 3,000 is 低倍率 and paid by items: 3,000.
    A cost of 3,600 is not below the threshold: normal, paid 12,000."""
    r = one(pay(case(3_000), rate_policy(), WEIGHTS))
    assert (r["case_class"], r["paid"]) == ("low", 3_000)
    assert one(pay(case(3_600), rate_policy(), WEIGHTS))["case_class"] == "normal"


def test_hospital_level_coefficient_and_level_threshold():
    """二级 coefficient 0.9: standard = 10,000 × 1.2 × 0.9 = 10,800. With a 二级 threshold
    of 2, cost 25,000 > 21,600 is high; with the default 3 (32,400) it would be normal."""
    pol = rate_policy(high_threshold_by_level={"二级": 2.0})
    r = one(pay(case(25_000, hospital_level="二级"), pol, WEIGHTS))
    assert r["standard"] == pytest.approx(10_800) and r["case_class"] == "high"


def test_point_method_with_hospital_coefficient():
    """domain.md: group average 12,000 over city average 10,000 → 基准点数 120 (RW 1.2 ×
    100). With 成本系数 1.1 → 132 points; at 100 CNY per point the case is paid 13,200."""
    r = one(pay(case(12_500, hospital_id="H1"), points_policy(), WEIGHTS))
    assert r["points"] == pytest.approx(132) and r["paid"] == pytest.approx(13_200)


def test_incomplete_stay_capped_at_base_points():
    """domain.md: incomplete stay costing 3,000 → 120 × 3,000 / 12,000 = 30 points (the
    low threshold 0.3 × 12,000 = 3,600 makes it low; cost_ratio caps at the base points)."""
    r = one(pay(case(3_000), points_policy(), WEIGHTS))
    assert (r["case_class"], r["points"]) == ("low", pytest.approx(30))
    capped = one(pay(case(3_000), points_policy(low_threshold=0.5), WEIGHTS))
    assert capped["points"] <= 120


def test_excluded_and_special_classes():
    df = pl.concat(
        [
            case(5_000, status="invalid", drg="0000"),
            case(5_000, drg="ZZ99"),  # no weight
            case(5_000, los_days=1),
            case(5_000, drg="SP19"),
            case(5_000, special_case=True),
        ],
        how="diagonal_relaxed",
    )
    pol = rate_policy(exclude_los_at_most=2)
    out = pay(df, pol, WEIGHTS)
    assert out["case_class"].to_list() == ["excluded", "excluded", "excluded", "special", "special"]
    assert out["class_reason"][0] == "not grouped (0000)"
    assert out["class_reason"][2] == "LOS ≤ 2"
    assert out["paid"].to_list() == [5_000] * 5


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["XX19", "YY19", "SP19", "ZZ99"]),
            st.floats(0, 200_000),
            st.sampled_from(["ok", "invalid"]),
            st.integers(0, 90),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_classes_partition_and_totals_reconcile(rows):
    df = pl.DataFrame(
        [
            {
                "drg": d,
                "total_cost": c,
                "status": s,
                "los_days": los,
                "insurance_type": "居民",
                "hospital_level": "三级",
            }
            for d, c, s, los in rows
        ]
    )
    out = pay(df, rate_policy(exclude_los_at_least=60), WEIGHTS)
    assert out.height == df.height
    assert set(out["case_class"]) <= set(CLASSES)
    s = summary(out)
    total = s.filter(pl.col("case_class") == "total")
    parts = s.filter(pl.col("case_class") != "total")
    assert parts["cases"].sum() == df.height == total["cases"][0]
    assert parts["paid"].sum() == pytest.approx(total["paid"][0])
    assert total["paid"][0] == pytest.approx(out["paid"].sum())
    assert out["profit"].sum() == pytest.approx(out["paid"].sum() - out["total_cost"].sum())


@given(st.floats(0.1, 20), st.floats(0.1, 20), st.floats(1_000, 50_000))
def test_payment_is_monotone_in_rw(rw1, rw2, cost):
    lo, hi = sorted((rw1, rw2))
    w = pl.DataFrame({"drg": ["A", "B"], "rw": [lo, hi]})
    out = pay(
        pl.concat([case(cost, drg="A"), case(cost, drg="B")]),
        rate_policy(high_payment="standard", low_payment="standard"),
        w,
    )
    assert out["paid"][0] <= out["paid"][1] + 1e-9


def test_policy_errors_name_the_field(tmp_path):
    with pytest.raises(PolicyError, match="method must be 'rate' or 'points'"):
        parse_policy({"policy": {"method": "fee"}})
    with pytest.raises(PolicyError, match=r"high_payment must be one of"):
        rate_policy(high_payment="cash")
    with pytest.raises(PolicyError, match=r"unknown key\(s\) \['hi_threshold'\]"):
        rate_policy(hi_threshold=3)
    with pytest.raises(PolicyError, match="base_rate"):
        parse_policy({"policy": {"method": "rate"}, "rate": {"base_rate": "high"}})
    with pytest.raises(ColumnError, match="total_cost"):
        pay(case(1).drop("total_cost"), rate_policy(), WEIGHTS)


@pytest.mark.parametrize("kind", ["rate", "points"])
def test_shipped_examples_load_and_pay(kind):
    pol = example(kind)
    out = pay(case(9_000, drg="GE29"), pol)
    assert out["case_class"][0] in CLASSES and out["paid"][0] > 0


def test_city_weights_standards_and_coefficients(reference):
    """盐城2023 gives standards and coefficients by hospital level per DRG; with
    standards_from_weights a 三级 case is paid that DRG's 三级 standard as it stands."""
    from drgsim.weights import load_city

    w = load_city(reference / "weights" / "盐城2023.csv")
    row = w.filter(pl.col("standard_level3").is_not_null() & ~pl.col("special")).row(0, named=True)
    pol = parse_policy(
        {
            "policy": {"name": "yc", "method": "rate"},
            "rate": {"base_rate": 10_000, "standards_from_weights": True},
            "hospital": {"coefficients_from_weights": True},
            "classes": {"high_threshold": 1e9, "low_threshold": 0.0},
        }
    )
    r = one(pay(case(row["standard_level3"], drg=row["drg"]), pol, w))
    assert r["standard"] == pytest.approx(row["standard_level3"])
    assert r["paid"] == pytest.approx(row["standard_level3"])
    assert r["coefficient"] == pytest.approx(row["coefficient_level3"] or 1.0)
