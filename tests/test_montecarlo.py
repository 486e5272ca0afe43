"""Monte Carlo of the settlement: agreement with settle, convergence, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

import drgsim
from drgsim.montecarlo import MEASURES, case_arrays, montecarlo, repaid
from drgsim.policy import example
from drgsim.scenario import Cost, Scenario, Where
from drgsim.settlement import example_settlement, parse_settlement_policy, settle
from drgsim.simulation import simulate

SETTLE_MEASURES = ("drg_value", "actual_cost", "surplus", "surplus_kept", "overspend",
                   "overspend_shared", "overspend_borne")  # fmt: skip


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    df = drgsim.synth.hospital(cases=20_000, hospitals=4, seed=21)
    # spread the hospitals over surplus and overspend
    factor = {"H01": 0.6, "H02": 0.8, "H03": 0.95, "H04": 1.1}
    return df.with_columns(
        pl.col("total_cost") * pl.col("hospital_id").replace_strict(factor, return_dtype=pl.Float64)
    )


@pytest.fixture(scope="module", params=["rate", "points"])
def paid(request: pytest.FixtureRequest, cases: pl.DataFrame) -> tuple[pl.DataFrame, drgsim.Policy]:
    pol = example(request.param)
    return drgsim.pay(cases, pol), pol


def test_kernel_repays_like_pay(paid: tuple[pl.DataFrame, drgsim.Policy]) -> None:
    df, pol = paid
    a = case_arrays(df, pol)
    np.testing.assert_array_equal(repaid(a), a["paid"])
    # other payment rules for outliers
    alt = dataclasses.replace(pol, classes=dataclasses.replace(
        pol.classes, high_payment="standard_plus_excess", low_payment="cost_ratio",
        excess_ratio=0.7))  # fmt: skip
    df2 = drgsim.pay(df, alt)
    a2 = case_arrays(df2, alt)
    np.testing.assert_array_equal(repaid(a2), a2["paid"])


@pytest.mark.parametrize(
    "sp",
    [
        example_settlement(),
        parse_settlement_policy({"surplus": {"bands": [{"up_to": 0.05, "share": 1.0},
                                                       {"up_to": 0.2, "share": 0.5}]},
                                 "overspend": {"bands": [{"up_to": 0.1, "share": 0.7}]}}),
        parse_settlement_policy({"budget": {"of_value": 0.97},
                                 "overspend": {"bands": [{"share": 0.5}], "pool_share": 0.01},
                                 "floating": {"enabled": True}}),
    ],
    ids=["example", "bands", "pool-floating"],
)  # fmt: skip
def test_zero_noise_equals_settle(paid: tuple[pl.DataFrame, drgsim.Policy], sp) -> None:
    df, pol = paid
    mc = montecarlo(df, pol, sp, draws=3, volume="fixed", resample=False, cost_sigma=0.0)
    det = settle(df, sp, budget=mc.budget).with_total()
    for m in SETTLE_MEASURES:
        got = mc.measure(m).sort("hospital_id")
        want = det.sort("hospital_id")
        assert got["hospital_id"].to_list() == want["hospital_id"].to_list()
        np.testing.assert_allclose(got["mean"], want[m], rtol=1e-9, atol=1e-4, err_msg=m)
        np.testing.assert_allclose(got["p5"], got["p95"], rtol=1e-12, atol=1e-6)
        assert (got["sd"] < 1e-6 * np.maximum(1, want[m].abs().to_numpy())).all()
    cases_ = mc.measure("cases").filter(pl.col("hospital_id") != "total")
    assert cases_["mean"].sum() == df.height
    # the example mixes surplus and overspend
    risk = mc.risk.filter(pl.col("hospital_id") != "total")
    assert set(risk["prob_overspend"].to_list()) == {0.0, 1.0}


def test_mean_converges(cases: pl.DataFrame) -> None:
    """Volume noise alone keeps the expected value and cost: the mean's error falls as the
    number of draws grows, within a few standard errors."""
    pol = example("rate")
    df = drgsim.pay(cases, pol)
    det = settle(df, example_settlement()).with_total().sort("hospital_id")
    errs = []
    for n in (50, 400, 3_200):
        mc = montecarlo(df, pol, draws=n, volume="poisson", cost_sigma=0.0, seed=3)
        for m in ("drg_value", "actual_cost"):
            x = mc.draws[m]
            want = det[m].to_numpy()
            se = x.std(axis=0) / np.sqrt(n)
            assert (np.abs(x.mean(axis=0) - want) <= 4.5 * se + 1e-6).all(), (n, m)
        errs.append(np.abs(mc.draws["drg_value"].mean(axis=0) - det["drg_value"].to_numpy()).max())
    assert errs[-1] < errs[0]


def test_cost_noise_keeps_mean_cost(cases: pl.DataFrame) -> None:
    pol = example("rate")
    df = drgsim.pay(cases, pol)
    mc = montecarlo(df, pol, draws=2_000, volume="fixed", cost_sigma={"ES31": 0.5, "FV21": 0.3},
                    seed=1)  # fmt: skip
    c = mc.draws["actual_cost"]
    det = settle(df, example_settlement()).with_total().sort("hospital_id")["actual_cost"]
    se = c.std(axis=0) / np.sqrt(c.shape[0])
    assert (np.abs(c.mean(axis=0) - det.to_numpy()) <= 4.5 * se + 1e-6).all()
    assert (c.std(axis=0)[:-1] > 0).any()


def test_reproducible_and_volume_models(cases: pl.DataFrame) -> None:
    pol = example("rate")
    df = drgsim.pay(cases, pol)
    kw = {"draws": 200, "cost_sigma": 0.2, "resample": True}
    a = montecarlo(df, pol, seed=7, **kw)
    b = montecarlo(df, pol, seed=7, **kw)
    c = montecarlo(df, pol, seed=8, **kw)
    np.testing.assert_array_equal(a.draws["net"], b.draws["net"])
    assert not np.array_equal(a.draws["net"], c.draws["net"])
    multi = montecarlo(df, pol, seed=1, volume="multinomial", **kw)
    n = df.group_by("hospital_id").len().sort("hospital_id")["len"].to_numpy()
    np.testing.assert_array_equal(multi.draws["cases"][:, :-1], np.broadcast_to(n, (200, n.size)))
    pois = montecarlo(df, pol, seed=1, volume="poisson", **kw)
    assert pois.draws["cases"][:, -1].std() > 0
    assert set(MEASURES) == set(a.draws)
    assert a.risk.columns[:2] == ["hospital_id", "prob_overspend"]
    assert ((a.risk["prob_overspend"] >= 0) & (a.risk["prob_overspend"] <= 1)).all()
    np.testing.assert_allclose(a.draws["net"], a.draws["surplus_kept"] - a.draws["overspend_borne"])
    assert "P(overspend)" in a.summary() and "<pre>" in a._repr_html_()


def test_scenario_side(cases: pl.DataFrame) -> None:
    pol = example("rate")
    r = simulate(cases, Scenario(changes=(Cost(Where(), relative=-0.1),)), pol)
    base = montecarlo(r.baseline, pol, draws=200, seed=1, budget=None)
    scen = montecarlo(r.simulated, r.policy_scenario, r.settlement_policy_scenario, draws=200,
                      seed=1, budget=base.budget)  # fmt: skip
    mb = base.measure("net").filter(pl.col("hospital_id") == "total")["mean"][0]
    ms = scen.measure("net").filter(pl.col("hospital_id") == "total")["mean"][0]
    assert ms > mb


def test_bad_arguments(cases: pl.DataFrame) -> None:
    pol = example("rate")
    df = drgsim.pay(cases.head(100), pol)
    with pytest.raises(ValueError, match="volume"):
        montecarlo(df, pol, volume="gamma")
    with pytest.raises(ValueError, match="draws"):
        montecarlo(df, pol, draws=0)
    with pytest.raises(ValueError, match="missing column 'case_class'"):
        montecarlo(cases.head(100), pol)
