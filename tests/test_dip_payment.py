"""DIP payment: the worked numbers of the design notes by hand, policies, point values, and
properties (points add up, payments sum to the fund, more volume lowers the point value)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgsim import synth
from drgsim.dip import catalogue as cat
from drgsim.dip.payment import (
    DEVIATIONS,
    PAY_COLUMNS,
    POINT_VALUE_COLUMNS,
    by_hospital,
    pay,
    point_value_mode,
    point_values,
    score_cases,
)
from drgsim.dip.policy import DipPolicy, PolicyError, example, load_policy, parse_policy
from drgsim.exceptions import ColumnError, InputError


def stub_match(cases: pl.DataFrame, catalogue: cat.Catalogue) -> pl.DataFrame:
    """A tiny matcher for these tests: exact core combination, else the comprehensive group of
    the category and treatment, else KBBZ (the engine's fall-backs are not needed here)."""
    keys = cat.case_keys(cases, catalogue.dx_length, catalogue.count_diagnostic)
    g = catalogue.groups
    core = g.filter(pl.col("kind") == "core").select(
        pl.col("dx_key"), pl.col("procedures").alias("px_key"),
        pl.col("group_id").alias("_core"), pl.col("score").alias("_core_score"),
    )  # fmt: skip
    comp = g.filter(pl.col("kind") == "comprehensive").select(
        pl.col("dx_key").alias("category"), "treatment",
        pl.col("group_id").alias("_comp"), pl.col("score").alias("_comp_score"),
    )  # fmt: skip
    k = (
        keys.join(core, on=["dx_key", "px_key"], how="left", maintain_order="left")
        .join(comp, on=["category", "treatment"], how="left", maintain_order="left")
        .select(
            dip_group=pl.coalesce("_core", "_comp", pl.lit(cat.BLANK_GROUP)),
            dip_score=pl.coalesce("_core_score", "_comp_score"),
            dip_kind=pl.when(pl.col("_core").is_not_null())
            .then(pl.lit("core"))
            .when(pl.col("_comp").is_not_null())
            .then(pl.lit("comprehensive"))
            .otherwise(pl.lit("blank")),
            dip_reason=pl.when(pl.col("dx_key").is_null())
            .then(pl.lit("invalid"))
            .when(pl.col("_core").is_not_null())
            .then(pl.lit("exact"))
            .when(pl.col("_comp").is_not_null())
            .then(pl.lit("comprehensive"))
            .otherwise(pl.lit("blank")),
        )
    )
    return pl.concat([cases, k], how="horizontal")


def policy(**sections: dict[str, Any]) -> DipPolicy:
    """A policy with a fixed point value of 10.5 and no auxiliary coefficients by default."""
    data: dict[str, Any] = {"point_value": {"value": 10.5}}
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    return parse_policy(data)


def cases(costs: list[float], **cols: list[Any]) -> pl.DataFrame:
    """Cases of one group: 分值 800, average cost 8,000 (design notes, section 6)."""
    n = len(costs)
    return pl.DataFrame(
        {
            "dip_group": ["K80.0|51.2300"] * n,
            "dip_score": [800.0] * n,
            "dip_kind": ["core"] * n,
            "dip_reason": ["exact"] * n,
            "dip_mean_cost": [8000.0] * n,
            "total_cost": [float(c) for c in costs],
            "insurance_type": ["职工"] * n,
            "hospital_id": ["H1"] * n,
            "hospital_level": ["三级"] * n,
            **cols,
        }
    )


# ---------------------------------------------------------------------------------------------
# Worked numbers


def test_worked_example_national() -> None:
    """分值 800, average cost 8,000, 点值 10.5 (domain.md section 6).

    - normal (cost 8,000): coefficient 1, 800 points, 800 × 10.5 = 8,400;
    - 20,000 > 2 × 8,000: r = 2.5, (2.5 − 2) + 1 = 1.5, 1,200 points, 12,600;
    - 3,000 < 0.5 × 8,000: r = 0.375, 300 points, 3,150.
    """
    out = pay(cases([8000, 20000, 3000]), policy())
    assert out.columns[-len(PAY_COLUMNS) :] == list(PAY_COLUMNS)
    assert out["deviation"].to_list() == ["normal", "high", "low"]
    assert out["cost_ratio"].to_list() == pytest.approx([1, 2.5, 0.375])
    assert out["deviation_coefficient"].to_list() == pytest.approx([1, 1.5, 0.375])
    assert out["points"].to_list() == pytest.approx([800, 1200, 300])
    assert out["point_value"].to_list() == [10.5] * 3
    assert out["paid"].to_list() == pytest.approx([8400, 12600, 3150])
    assert out["profit"].to_list() == pytest.approx([400, -7400, 150])
    assert out["review"].to_list() == [False] * 3
    assert out["fund_paid"].null_count() == 3  # no reimbursement ratio in the policy


def test_average_from_score_or_catalogue() -> None:
    """The same numbers with the average cost from 分值 × cost per point (800 × 10 = 8,000), or
    from the catalogue's mean_cost."""
    plain = cases([8000, 20000, 3000]).drop("dip_mean_cost")
    by_score = pay(plain, policy(deviation={"base": "score", "cost_per_point": 10}))
    assert by_score["paid"].to_list() == pytest.approx([8400, 12600, 3150])
    groups = pl.DataFrame({"group_id": ["K80.0|51.2300"], "mean_cost": [8000.0]})
    by_cat = pay(plain, policy(), catalogue=groups)
    assert by_cat["paid"].to_list() == pytest.approx([8400, 12600, 3150])
    # a Catalogue object: its metadata's all-case mean ÷ scale is the cost per point
    c = cat.Catalogue(
        groups.with_columns(
            kind=pl.lit("core"), dx_key=pl.lit("K80.0"), procedures=pl.lit("51.2300"),
            treatment=pl.lit("相关手术"), score=pl.lit(800.0),
        ),
        {"mean_cost": 1000.0, "scale": 100.0},
    )  # fmt: skip
    by_meta = pay(plain, policy(deviation={"base": "score"}), catalogue=c)
    assert by_meta["base_cost"].to_list() == pytest.approx([8000] * 3)
    with pytest.raises(ColumnError, match="mean cost"):
        pay(plain, policy())
    with pytest.raises(PolicyError, match="cost_per_point"):
        pay(plain, policy(deviation={"base": "score"}))
    by_col = pay(
        cases([8000, 20000]).with_columns(avg=pl.lit(4000.0)),
        policy(deviation={"base": "column", "base_column": "avg"}),
    )
    # 8,000 / 4,000 = 2 is not above 2; 20,000 / 4,000 = 5 is not above 5
    assert by_col["deviation"].to_list() == ["normal", "high"]


def test_worked_example_jining() -> None:
    """Jining [JN], hospital coefficient 1.05: high 20,000 → 2.5 − 2 + 1.05 = 1.55, 800 × 1.55
    = 1,240 points (the hospital coefficient is not applied again); a normal case at the same
    hospital 800 × 1.05 = 840 points (8,820); extreme 48,000 (r = 6) → coefficient 1.05, 840
    points; low ≤ 0.5: 4,000 (r = 0.5) is low, coefficient 0.5, 400 points."""
    p = policy(
        hospital={"coefficient": {"H1": 1.05}},
        deviation={
            "high_rule": "excess_plus_hospital",
            "extreme_rule": "hospital",
            "low_inclusive": True,
        },
    )
    out = pay(cases([8000, 20000, 48000, 4000]), p)
    assert out["deviation"].to_list() == ["normal", "high", "extreme", "low"]
    assert out["hospital_coefficient"].to_list() == [1.05] * 4
    assert out["coefficient"].to_list() == pytest.approx([1.05, 1.55, 1.05, 0.5])
    assert out["points"].to_list() == pytest.approx([840, 1240, 840, 400])
    assert out["paid"].to_list() == pytest.approx([8820, 13020, 8820, 4200])
    assert out["review"].to_list() == [False, False, True, False]


def test_extreme_rules() -> None:
    """48,000 = 6 × 8,000 > 5×: flagged for review. Paid as high: (6 − 2) + 1 = 5, 4,000
    points, 42,000; by items: 48,000 and no points; as normal: 800 points, 8,400."""
    c = cases([48000])
    high = pay(c, policy())
    assert high.select("deviation", "review", "coefficient", "points", "paid").row(0) == (
        "extreme", True, pytest.approx(5.0), pytest.approx(4000), pytest.approx(42000),
    )  # fmt: skip
    items = pay(c, policy(deviation={"extreme_rule": "items"}))
    assert items.select("points", "coefficient", "paid").row(0) == (None, None, 48000.0)
    normal = pay(c, policy(deviation={"extreme_rule": "normal"}))
    assert normal["paid"].item() == pytest.approx(8400)
    none = pay(c, policy(deviation={"extreme_threshold": False}))
    assert none["deviation"].item() == "high"


def test_boundaries() -> None:
    """r = 2 exactly is normal (cost must exceed 2×), high with high_inclusive (coefficient
    (2 − 2) + 1 = 1); r = 0.5 is normal, low with low_inclusive; r = 5 is high, not extreme."""
    c = cases([16000, 4000, 40000])
    assert pay(c, policy())["deviation"].to_list() == ["normal", "normal", "high"]
    inc = pay(c, policy(deviation={"high_inclusive": True, "low_inclusive": True}))
    assert inc["deviation"].to_list() == ["high", "low", "high"]
    assert inc["points"].to_list() == pytest.approx([800, 400, 3200])


def test_blank_and_invalid_cases() -> None:
    """KBBZ by items: paid the cost (× items ratio 0.9 → 4,500); Jining points rule: 5,000 ÷ 10
    per point × 0.7 = 350 points, × 10.5 = 3,675."""
    c = cases([5000, 5000]).with_columns(
        dip_group=pl.Series(["KBBZ", "KBBZ"]),
        dip_score=pl.Series([None, None], dtype=pl.Float64),
        dip_kind=pl.Series(["blank", "blank"]),
        dip_reason=pl.Series(["blank", "invalid"]),
    )
    items = pay(c, policy(policy={"items_ratio": 0.9}))
    assert items["deviation"].to_list() == ["blank", "blank"]
    assert items["deviation_reason"].to_list() == [
        "空白病组 KBBZ",
        "invalid: no principal diagnosis",
    ]
    assert items["paid"].to_list() == [4500.0, 4500.0]
    assert items["points"].null_count() == 2 and items["aux_coefficient"].null_count() == 2
    pts = pay(c, policy(blank={"rule": "points", "factor": 0.7}, deviation={"cost_per_point": 10}))
    assert pts["points"].to_list() == pytest.approx([350, 350])
    assert pts["paid"].to_list() == pytest.approx([3675, 3675])
    with pytest.raises(PolicyError, match="cost_per_point"):
        pay(c, policy(blank={"rule": "points"}))


def test_no_cost_is_paid_the_score() -> None:
    c = cases([8000]).with_columns(total_cost=pl.lit(None, pl.Float64))
    out = pay(c, policy())
    assert out.select("deviation", "deviation_reason", "paid", "profit").row(0) == (
        "normal", "no cost", 8400.0, None,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Auxiliary catalogue


def test_severity_from_cc_level() -> None:
    """Levels from the grouping's cc_level: MCC → score 2 → level 2 (coefficient 1.10), CC →
    level 1 (1.05), none → 0; LOS must exceed 3 days: an MCC case of 3 days stays level 0.
    A high case with aux: 800 × 1.5 × 1.10 = 1,320 points."""
    p = policy(aux={"severity": {"coefficients": [1.0, 1.05, 1.10, 1.20], "min_los": 3}})
    c = cases(
        [8000, 8000, 8000, 8000, 20000],
        cc_level=["MCC", "CC", "none", "MCC", "MCC"],
        los_days=[5, 5, 5, 3, 9],
    )
    out = pay(c, p)
    assert out["severity_level"].to_list() == [2, 1, 0, 0, 2]
    assert out["aux_coefficient"].to_list() == pytest.approx([1.10, 1.05, 1.0, 1.0, 1.10])
    assert out["points"].to_list() == pytest.approx([880, 840, 800, 800, 1320])
    sev = {"severity": {"coefficients": [1.0, 1.05, 1.10, 1.20], "min_los": 3}}
    no_aux = pay(c, policy(aux=sev, deviation={"with_aux": False}))
    assert no_aux["points"].to_list() == pytest.approx([880, 840, 800, 800, 1200])
    with_hosp = pay(c, policy(aux=sev, hospital={"coefficient": {"H1": 1.05}},
                              deviation={"with_hospital_coefficient": True}))  # fmt: skip
    assert with_hosp["points"][-1] == pytest.approx(800 * 1.5 * 1.10 * 1.05)


def test_severity_from_codes_and_tables() -> None:
    """Counting secondary diagnoses: two distinct MCC (score 4) → level 3; one MCC and one CC
    (3) → level 2; a CC listed twice counts once (1) → level 1; the principal does not count."""
    sev = {
        "source": "codes",
        "mcc_codes": ["J96.0", "N17"],
        "cc_codes": ["E11", "J96"],  # J96.0 is both: counts as MCC
        "coefficients": [1.0, 1.05, 1.10, 1.20],
    }
    dx = [
        ["K80.000", "J96.000", "N17.900"],
        ["K80.000", "J96.000", "E11.900"],
        ["K80.000", "E11.900", "E11.900"],
        ["J96.000", "I10.x05"],
    ]
    out = pay(cases([8000] * 4, dx=dx), policy(aux={"severity": sev}))
    assert out["severity_level"].to_list() == [3, 2, 1, 0]
    # the CC/MCC table of a DRG table set: A40.000 is an MCC of the teaching set
    tables = {"source": "codes", "cc_tables": "teaching", "coefficients": [1, 1.05, 1.1, 1.2]}
    t = pay(cases([8000], dx=[["K80.000", "A40.000"]]), policy(aux={"severity": tables}))
    assert t["severity_level"].item() == 2
    with pytest.raises(PolicyError, match="cc_tables"):
        pay(
            cases([8000], dx=[["K80.000"]]),
            policy(aux={"severity": {**tables, "cc_tables": "nope"}}),
        )


def test_age_tumour_death_and_combination() -> None:
    """Age < 1 → 1.10, ≥ 80 → 1.05; metastasis C78 → 1.10; death (5) with LOS ≥ 4 → 1.20,
    within 3 days 1.0. Product: an 85-year-old with C78.0 who died on day 6: 1.05 × 1.10 × 1.20
    = 1.386, 800 × 1.386 = 1,108.8 points; max: 1.20."""
    aux = {
        "age": {
            "bands": [{"max_age": 1, "coefficient": 1.10}, {"min_age": 80, "coefficient": 1.05}]
        },
        "tumour": {"codes": ["C77", "C78", "C79"], "coefficient": 1.10},
        "death": {
            "discharge_type": "5",
            "los_bands": [{"max_los": 4, "coefficient": 1.0}, {"min_los": 4, "coefficient": 1.20}],
        },
    }
    c = cases(
        [8000] * 5,
        age=[0, 85, 40, 40, 85],
        dx=[["K80.000"], ["K80.000"], ["C34.900", "C78.000"], ["K80.000"], ["K80.000", "C78.000"]],
        discharge_type=[1, 1, 1, 5, 5],
        los_days=[5, 5, 5, 2, 6],
    )
    out = pay(c, policy(aux=aux))
    assert out["aux_coefficient"].to_list() == pytest.approx([1.10, 1.05, 1.10, 1.0, 1.386])
    assert out["points"][-1] == pytest.approx(1108.8)
    mx = pay(c, policy(aux={**aux, "combine": "max"}))
    assert mx["aux_coefficient"][-1] == pytest.approx(1.20)
    only_c = {"tumour": {"codes": ["C78"], "coefficient": 1.1, "principal_prefixes": ["C"]}}
    assert pay(c, policy(aux=only_c))["aux_coefficient"].to_list() == pytest.approx(
        [1, 1, 1.1, 1, 1]
    )
    with pytest.raises(ColumnError, match="'age'"):
        pay(c.drop("age"), policy(aux=aux))


# ---------------------------------------------------------------------------------------------
# Point values


def region() -> pl.DataFrame:
    """A small region: 职工 cases of 800, 1,200, 300 and 700 points (3,000), 居民 cases of
    500 and 500 points (1,000); hospital H1 has the first three 职工 cases."""
    c = cases([8000, 20000, 3000, 8000, 8000, 8000])
    return c.with_columns(
        dip_score=pl.Series([800.0, 800, 800, 700, 500, 500]),
        dip_mean_cost=pl.Series([8000.0, 8000, 8000, 7000, 8000, 8000]),
        insurance_type=pl.Series(["职工"] * 4 + ["居民"] * 2),
        hospital_id=pl.Series(["H1", "H1", "H1", "H2", "H2", "H2"]),
    )


def test_point_values_by_hand() -> None:
    """Settlement: 职工 fund 90,000 ÷ 3,000 points = 30 per point; 居民 fund 25,000 with a
    reimbursement ratio of 0.5: 25,000 ÷ 0.5 = 50,000 ÷ 1,000 = 50 [DIPW]. Budget: 职工
    spending 60,000 ÷ 3,000 = 20; 居民 without a spending: its own cost 16,000 ÷ 1,000 = 16.
    Payments: 职工 800 × 30 = 24,000, 36,000, 9,000, 21,000 (Σ 90,000 = the fund); 居民 500 ×
    50 = 25,000 each (Σ 50,000 = 25,000 ÷ 0.5), fund parts 12,500 each (Σ = the fund)."""
    p = policy(point_value={"reimbursement_ratio": {"职工": 1.0, "居民": 0.5}})
    fund = {"职工": 90_000, "居民": 25_000}
    out = pay(region(), p, fund=fund)
    assert out["points"].to_list() == pytest.approx([800, 1200, 300, 700, 500, 500])
    assert out["point_value"].to_list() == pytest.approx([30] * 4 + [50] * 2)
    assert out["paid"].to_list() == pytest.approx([24000, 36000, 9000, 21000, 25000, 25000])
    assert out["fund_paid"].to_list() == pytest.approx([24000, 36000, 9000, 21000, 12500, 12500])
    assert out["patient_paid"].to_list() == pytest.approx([0, 0, 0, 0, 12500, 12500])
    pv = point_values(out, p, fund=fund, spending={"职工": 60_000, "居民": 16_000})
    assert pv.columns == list(POINT_VALUE_COLUMNS)
    assert pv.select("insurance_type", "cases", "points", "budget_point_value",
                     "settlement_point_value").rows() == [
        ("居民", 2, 1000.0, 16.0, 50.0), ("职工", 4, 3000.0, 20.0, 30.0),
    ]  # fmt: skip
    with pytest.raises(InputError, match=r"no spending for insurance type\(s\) \['居民'\]"):
        point_values(out, p, fund=fund, spending={"职工": 60_000})
    pooled = point_values(out, p, fund=fund, spending={"职工": 60_000, "*": 16_000})
    assert pooled["budget_point_value"].to_list() == [16.0, 20.0]
    budget = pay(region(), p, spending={"职工": 60_000, "居民": 16_000})
    assert budget["point_value"].to_list() == pytest.approx([20] * 4 + [16] * 2)


def test_one_fund_for_all_types_and_items_deduction() -> None:
    """One fund of 120,000 for both types: 120,000 ÷ 4,000 points = 30. An extreme case paid by
    items (48,000) comes out of the pool first: (168,000 − 48,000) ÷ 4,000 = 30 again."""
    p = policy()
    assert pay(region(), p, fund=120_000)["point_value"].to_list() == pytest.approx([30] * 6)
    extra = cases([48000]).with_columns(insurance_type=pl.lit("居民"), hospital_id=pl.lit("H3"))
    both = pl.concat([region(), extra], how="diagonal_relaxed")
    q = policy(deviation={"extreme_rule": "items"})
    out = pay(both, q, fund=168_000)
    assert out["point_value"].to_list() == pytest.approx([30] * 7)
    assert out["paid"].sum() == pytest.approx(168_000)
    kept = pay(both, policy(deviation={"extreme_rule": "items"},
                            point_value={"deduct_items": False}), fund=120_000)  # fmt: skip
    assert kept["point_value"][0] == pytest.approx(30)
    assert kept["paid"].sum() == pytest.approx(120_000 + 48_000)


def test_point_value_modes_and_errors() -> None:
    ex = example()
    assert point_value_mode(ex) == "budget"
    assert point_value_mode(ex, spending=1.0) == "budget"
    assert point_value_mode(policy()) == "fixed"
    assert point_value_mode(policy(), fund=1.0) == "settlement"
    # budget-neutral: without fund, spending or value, payments add up to the costs per type
    neutral = pay(region(), parse_policy({}))
    totals = neutral.group_by("insurance_type").agg(
        pl.col("paid").sum(), pl.col("total_cost").sum()
    )
    for paid, cost in totals.select("paid", "total_cost").rows():
        assert paid == pytest.approx(cost)
    with pytest.raises(InputError, match="no fund for insurance type"):
        pay(region(), policy(), fund={"职工": 1.0})
    with pytest.raises(InputError, match="no point value for insurance type"):
        pay(region(), policy(point_value={"value": {"职工": 10.0}}))
    with pytest.raises(InputError, match="fund must be"):
        pay(region(), policy(), fund=-1)
    with pytest.raises(PolicyError, match="mode 'fixed' needs 'value'"):
        parse_policy({"point_value": {"mode": "fixed"}})


def test_by_hospital() -> None:
    out = pay(region(), policy(), fund=120_000)
    h = by_hospital(out)
    assert h.select("hospital_id", "cases", "points", "paid", "high", "low").rows() == [
        ("H1", 3, pytest.approx(2300), pytest.approx(69_000), 1, 1),
        ("H2", 3, pytest.approx(1700), pytest.approx(51_000), 0, 0),
        ("total", 6, pytest.approx(4000), pytest.approx(120_000), 1, 1),
    ]
    assert set(DEVIATIONS[1:]) <= set(h.columns)


# ---------------------------------------------------------------------------------------------
# Policy files


def test_example_policy_loads_and_documents_itself() -> None:
    p = example()
    assert p.name == "example-dip" and p.path is not None and p.path.name == "example_dip.toml"
    assert (p.deviation.low_threshold, p.deviation.high_threshold) == (0.5, 2.0)
    assert p.deviation.extreme_threshold == 5.0 and p.deviation.with_aux is True
    assert p.aux.severity.min_los == 3 and len(p.aux.age_bands) == 2
    readme = (p.path.parent / "README.md").read_text(encoding="utf-8")
    assert "## DIP policy" in readme and "## [classes]" in readme  # appended, DRG part kept
    for key in ("excess_plus_hospital", "reimbursement_ratio", "level_bands", "los_bands"):
        assert key in readme


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weights": {}}, "unknown section [weights]"),
        ({"deviation": {"high": 2}}, "unknown key(s) ['high'] in [deviation]"),
        ({"deviation": {"high_rule": "double"}}, "'high_rule' must be one of"),
        ({"deviation": {"low_threshold": 3}}, "low_threshold must be below high_threshold"),
        ({"deviation": {"extreme_threshold": 1.5}}, "extreme_threshold must be above"),
        ({"deviation": {"base": "column"}}, "needs 'base_column'"),
        ({"policy": {"method": "rate"}}, "method must be 'dip'"),
        ({"point_value": {"reimbursement_ratio": 1.5}}, "in (0, 1]"),
        ({"point_value": {"value": {"职工": "ten"}}}, "must be a number"),
        ({"aux": {"severity": {"coefficients": [1, 2]}}}, "list of 4 numbers"),
        ({"aux": {"severity": {"level_bands": [3, 2, 1]}}}, "ascending"),
        ({"aux": {"age": {"bands": [{"min_age": 80, "max_age": 1, "coefficient": 1}]}}}, "above"),
        ({"aux": {"death": {"los_bands": [{"min": 1, "coefficient": 1}]}}}, "unknown key"),
        ({"aux": {"tumour": {"codes": "C78"}}}, "list of codes"),
        ({"hospital": {"coefficient_by_level": {"三级": -1}}}, ">= 0"),
    ],
)
def test_policy_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(data, "p.toml")
    assert str(e.value).startswith("p.toml") and message in str(e.value)


def test_load_policy_errors(tmp_path: Path) -> None:
    p = tmp_path / "dip.toml"
    p.write_text("[deviation\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"dip\.toml"):
        load_policy(p)
    p.write_text('[deviation]\nhigh_rule = "x"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"dip.toml: \[deviation\]: 'high_rule'"):
        load_policy(p)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "none.toml")
    with pytest.raises(PolicyError, match="no example"):
        example("jining")


def test_missing_columns() -> None:
    with pytest.raises(ColumnError, match="dip_score"):
        pay(cases([1.0]).drop("dip_score"), policy())
    with pytest.raises(ColumnError, match="points"):
        point_values(cases([1.0]), policy())


# ---------------------------------------------------------------------------------------------
# Properties

money = st.floats(min_value=100, max_value=200_000, allow_nan=False)


@st.composite
def regions(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=1, max_value=40))
    return pl.DataFrame(
        {
            "dip_group": [
                f"G{i}" for i in draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
            ],
            "dip_score": draw(st.lists(st.floats(1, 3000), min_size=n, max_size=n)),
            "dip_mean_cost": draw(st.lists(st.floats(500, 50_000), min_size=n, max_size=n)),
            "total_cost": draw(st.lists(money, min_size=n, max_size=n)),
            "insurance_type": draw(
                st.lists(st.sampled_from(["职工", "居民"]), min_size=n, max_size=n)
            ),
            "hospital_id": draw(
                st.lists(st.sampled_from(["H1", "H2", "H3"]), min_size=n, max_size=n)
            ),
            "hospital_level": draw(
                st.lists(st.sampled_from(["三级", "二级"]), min_size=n, max_size=n)
            ),
            "cc_level": draw(
                st.lists(st.sampled_from(["MCC", "CC", "none"]), min_size=n, max_size=n)
            ),
            "los_days": draw(st.lists(st.integers(1, 30), min_size=n, max_size=n)),
        }
    )


PROPERTY_POLICY = parse_policy(
    {
        "hospital": {"coefficient_by_level": {"三级": 1.0, "二级": 0.9}},
        "deviation": {"extreme_rule": "items"},
        "aux": {"severity": {"coefficients": [1.0, 1.05, 1.1, 1.2], "min_los": 3}},
        "point_value": {"reimbursement_ratio": {"职工": 0.8, "居民": 0.6}},
    }
)


@settings(max_examples=60, deadline=None)
@given(regions(), money, money)
def test_payments_sum_to_the_fund(df: pl.DataFrame, f1: float, f2: float) -> None:
    """Under the settlement point value each insurance type's payments add up to its fund ÷
    its reimbursement ratio, and the fund parts to the fund (items-paid cases included)."""
    fund = {"职工": f1 * 10, "居民": f2 * 10}
    out = pay(df, PROPERTY_POLICY, fund=fund)
    ratio = {"职工": 0.8, "居民": 0.6}
    for t, paid, fpaid, points in (
        out.group_by("insurance_type")
        .agg(pl.col("paid").sum(), pl.col("fund_paid").sum(), pl.col("points").sum())
        .rows()
    ):
        if points > 0:
            assert paid == pytest.approx(fund[t] / ratio[t], rel=1e-9)
            assert fpaid == pytest.approx(fund[t], rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(regions())
def test_points_add_up(df: pl.DataFrame) -> None:
    """Points = score × coefficient per case; the per-type and per-hospital totals add up to
    the region's; payments = points × point value for cases not paid by items."""
    out = pay(df, PROPERTY_POLICY, fund=1e6)
    pointed = out.filter(pl.col("points").is_not_null())
    assert pointed.select(
        ((pl.col("points") - pl.col("dip_score") * pl.col("coefficient")).abs() < 1e-6).all()
    ).item()
    assert pointed.select(
        ((pl.col("paid") - pl.col("points") * pl.col("point_value")).abs() < 1e-6).all()
    ).item()
    total = out["points"].sum()
    assert point_values(out, PROPERTY_POLICY, fund=1e6)["points"].sum() == pytest.approx(total)
    h = by_hospital(out, PROPERTY_POLICY)
    assert h.filter(pl.col("hospital_id") != "total")["points"].sum() == pytest.approx(total)
    assert h.filter(pl.col("hospital_id") == "total")["points"].item() == pytest.approx(total)
    scored = score_cases(df, PROPERTY_POLICY)
    assert scored["points"].to_list() == pytest.approx(out["points"].to_list(), nan_ok=True)
    assert set(out["deviation"].unique()) <= set(DEVIATIONS)


@settings(max_examples=40, deadline=None)
@given(regions(), st.integers(min_value=2, max_value=4))
def test_more_volume_lowers_the_settlement_point_value(df: pl.DataFrame, k: int) -> None:
    """One hospital admitting its cases k times over adds points to the pool; with the fund
    fixed, the region's settlement point value falls, and so does every other hospital's
    payment."""
    fund = 1e7
    p = parse_policy({"deviation": {"extreme_rule": "high"}})
    h1 = df.filter(pl.col("hospital_id") == "H1")
    more = pl.concat([df, *[h1] * (k - 1)])
    before = point_values(score_cases(df, p), p, fund=fund)
    after = point_values(score_cases(more, p), p, fund=fund)
    pv, pv_after = before["settlement_point_value"][0], after["settlement_point_value"][0]
    assert before["settlement_pool"].unique().to_list() == ["*"]  # one pool for all types
    if h1.height and h1["dip_score"].sum() > 0:
        assert after["points"].sum() > before["points"].sum()
        assert pv_after < pv
        others = pay(df, p, fund=fund).filter(pl.col("hospital_id") != "H1")["paid"].sum()
        others_after = pay(more, p, fund=fund).filter(pl.col("hospital_id") != "H1")["paid"].sum()
        assert others_after <= others
    else:
        assert pv_after == pytest.approx(pv)


# ---------------------------------------------------------------------------------------------
# End to end on a synthetic region


def test_synthetic_region_end_to_end() -> None:
    """Build from two years, match the third (the stub matcher), pay with a fund per type:
    every type's payments add up to its fund; the example policy runs on synth's columns."""
    hist = pl.concat(
        [synth.hospital("teaching", cases=8_000, hospitals=4, seed=s, year=y)
         for y, s in ((2023, 21), (2024, 22))]
    )  # fmt: skip
    c = cat.build(hist, year="discharge_date", year_weights={2023: 3, 2024: 7}, threshold=5)
    current = synth.hospital("teaching", cases=6_000, hospitals=4, seed=23, year=2025)
    matched = stub_match(current, c)
    fund = {"职工": 4e7, "居民": 3e7}
    out = pay(matched, example(), fund=fund, catalogue=c)
    assert out.height == current.height
    sums = dict(out.group_by("insurance_type").agg(pl.col("paid").sum()).rows())
    assert sums == pytest.approx(fund)
    assert out["deviation"].value_counts()["count"].sum() == out.height
    assert (out.filter(pl.col("deviation") == "normal")["cost_ratio"] <= 2).all()
    # the mean cost of a matched group is the catalogue's
    g = out.filter(pl.col("dip_kind") == "core").head(1)
    want = c.groups.filter(pl.col("group_id") == g["dip_group"].item())["mean_cost"].item()
    assert g["base_cost"].item() == pytest.approx(want)
