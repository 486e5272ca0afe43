"""What-if simulation: baseline vs scenario, comparison tables, reconciliation."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl
import pytest

import drgsim
from drgsim.grouping import RESULT_COLUMNS
from drgsim.policy import example
from drgsim.scenario import (
    Coding,
    Cost,
    PolicyChange,
    Scenario,
    SettlementChange,
    Stay,
    Volume,
    Where,
    apply,
    load_scenario,
)
from drgsim.settlement import example_settlement, parse_settlement_policy
from drgsim.simulation import MEASURES, measures, recompute, reconcile, simulate

EXAMPLES = Path(str(resources.files("drgsim") / "scenarios"))


@pytest.fixture(scope="module")
def region() -> pl.DataFrame:
    """A synthetic region from the payment issue's generator."""
    return drgsim.synth.hospital(cases=30_000, hospitals=4, seed=5)


@pytest.fixture(scope="module")
def policy() -> drgsim.Policy:
    return example("rate")


def _all_ok(rec: pl.DataFrame) -> None:
    bad = rec.filter(~pl.col("ok"))
    assert bad.height == 0, bad
    assert rec.height > 0


def test_zero_scenario_changes_nothing(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    r = simulate(region, Scenario("zero"), policy)
    assert r.regrouped == 0
    assert r.simulated.drop("touched").equals(r.baseline)
    for t in (r.by_hospital, r.by_department, r.by_doctor, r.by_drg, r.totals):
        assert t is not None
        for c in t.columns:
            if c.endswith("_delta"):  # settlement sums may differ in the last bits
                scale = t[c.replace("_delta", "_base")].cast(pl.Float64).abs().max() or 0.0
                assert (t[c].fill_null(0).abs() <= 1e-12 * max(scale, 1.0)).all(), c


def test_done_when_scenario_reconciles(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    """Stays −10% in one department and a CC for 20% of one ADRG's cases: the per-department
    deltas reconcile with a full recomputation from scratch."""
    sc = load_scenario(EXAMPLES / "example_los_and_cc.toml")
    r = simulate(region, sc, policy)
    dept = r.by_department
    assert dept is not None
    # something happened, where it should
    moved = dept.filter(pl.col("profit_delta").abs() > 0)["department"].to_list()
    assert "呼吸内科" in moved
    es3 = r.simulated.filter(pl.col("touched") & (pl.col("adrg") == "ES3"))
    assert es3.height > 0
    assert r.regrouped < region.height
    # full recomputation from scratch: every case regrouped, repaid, resettled
    full = recompute(region, sc, policy)
    _all_ok(reconcile(r, full))
    # and independently, by hand: group everything from scratch and pay
    app = apply(region, sc, regroup="all").cases
    scratch = drgsim.pay(drgsim.group(app.drop(RESULT_COLUMNS)), policy)
    base = drgsim.pay(drgsim.group(region.drop(RESULT_COLUMNS)), policy)
    want = (
        measures(scratch, ["department"])
        .join(measures(base, ["department"]), on="department", suffix="_b")
        .select("department", *((pl.col(m) - pl.col(f"{m}_b")).alias(m)
                                for m in ("cases", "revenue", "cost", "profit", "n_high")))
        .sort("department")
    )  # fmt: skip
    got = dept.sort("department")
    for m in ("cases", "revenue", "cost", "profit", "n_high"):
        assert got[f"{m}_delta"].to_list() == pytest.approx(want[m].to_list(), abs=1e-6), m
    r.check_totals()


def test_totals_reconcile(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    sc = load_scenario(EXAMPLES / "example_policy_and_mix.toml")
    r = simulate(region, sc, policy)
    r.check_totals()
    t = r.totals.row(0, named=True)
    assert r.by_drg is not None and r.by_hospital is not None
    assert r.by_drg["cases_delta"].sum() == t["cases_delta"] == r.simulated.height - region.height
    assert r.by_drg["revenue_delta"].sum() == pytest.approx(t["revenue_delta"])
    # settlement figures: per hospital and their totals
    for m in ("drg_value", "actual_cost", "surplus_kept", "overspend_borne", "fund_paid_total"):
        assert r.by_hospital[f"{m}_scenario"].sum() == pytest.approx(t[f"{m}_scenario"])
    assert t["revenue_delta"] < 0  # the base rate went down
    assert r.policy_scenario.rate.base_rate["职工"] == pytest.approx(
        policy.rate.base_rate["职工"] * 0.98
    )
    assert r.settlement_policy_scenario is not None
    assert r.settlement_policy_scenario.surplus.bands[0].up_to == 0.05
    _all_ok(reconcile(r, recompute(region, sc, policy)))


def test_regroup_only_touched_equals_full(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    sc = Scenario(changes=(
        Coding("add", "dx", ("E87.000",), where=Where(adrg=("ES3", "ET2"), share=0.5, seed=9)),
        Stay(Where(department=("心血管内科",), seed=2), relative=0.2, cost_elasticity=1.0),
        Volume(Where(drg=("ES33",), seed=4), 0.3),
    ))  # fmt: skip
    a = simulate(region, sc, policy)
    b = recompute(region, sc, policy)
    assert (
        a.simulated.drop("touched")
        .sort("scenario_key")
        .equals(b.simulated.drop("touched").sort("scenario_key"))
    )
    _all_ok(reconcile(a, b))


def test_budget_fixed_in_advance(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    sc = Scenario(changes=(Cost(Where(), relative=0.1),))
    r = simulate(region, sc, policy, settlement=example_settlement())
    assert r.settlement_baseline is not None and r.settlement_scenario is not None
    assert r.settlement_scenario.region["budget"] == r.settlement_baseline.region["budget"]
    moved = Scenario(changes=(SettlementChange(set={"budget.of_value": 1.2}),))
    r2 = simulate(region, moved, policy)
    assert r2.settlement_scenario is not None and r2.settlement_baseline is not None
    assert r2.settlement_scenario.region["budget"] == pytest.approx(
        1.2 * r2.settlement_baseline.region["budget"]
    )


def test_surplus_and_overspend(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    # costs cut hard: hospitals move from overspend to surplus; retention bands apply
    sp = parse_settlement_policy({"surplus": {"bands": [{"up_to": 0.1, "share": 1.0},
                                                        {"share": 0.5}]}})  # fmt: skip
    sc = Scenario(changes=(Cost(Where(), relative=-0.3),))
    r = simulate(region, sc, policy, settlement=sp)
    h = r.by_hospital
    assert h is not None
    assert (h["surplus_kept_scenario"] > 0).all()
    assert (h["surplus_kept_scenario"] <= h["surplus_scenario"]).all()
    assert (h["overspend_borne_scenario"] == 0).all()


def test_policy_change_reprices_only(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    sc = Scenario(changes=(PolicyChange(set={"classes.high_threshold": 2.0,
                                             "classes.high_threshold_by_level": {}}),))  # fmt: skip
    r = simulate(region, sc, policy)
    t = r.totals.row(0, named=True)
    assert r.regrouped == 0
    assert t["n_high_delta"] >= 0 and t["cases_delta"] == 0 and t["cost_delta"] == 0


def test_summary_and_html(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    r = simulate(region, EXAMPLES / "example_los_and_cc.toml", policy)
    text = r.summary()
    assert "los-and-cc" in text and "呼吸内科" in text and "profit" in text
    assert "<pre>" in r._repr_html_() and "hospital_id" in r._repr_html_()
    assert set(MEASURES) <= {c.rsplit("_", 1)[0] for c in r.totals.columns}
    assert r.table("department") is r.by_department
    assert {"baseline", "apply", "pay", "settle", "total"} <= set(r.seconds)


def test_ungrouped_input_is_grouped(region: pl.DataFrame, policy: drgsim.Policy) -> None:
    raw = region.head(3_000).drop(RESULT_COLUMNS)
    sc = Scenario(changes=(Cost(Where(), relative=0.05),))
    r = simulate(raw, sc, policy, by=("hospital",))
    assert r.by_department is None and r.by_hospital is not None
    assert "drg" in r.baseline.columns
