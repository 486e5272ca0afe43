"""Scenarios as data: parsing, validation, each change, commutation, regrouping."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import drgsim
from drgsim.policy import example
from drgsim.scenario import (
    KEY_COLUMN,
    Coding,
    Cost,
    PolicyChange,
    Principal,
    Scenario,
    ScenarioError,
    SettlementChange,
    Stay,
    TablesChange,
    Volume,
    Where,
    apply,
    apply_policy,
    apply_settlement,
    load_scenario,
    parse_scenario,
)
from drgsim.settlement import Band, example_settlement

EXAMPLES = Path(str(resources.files("drgsim") / "scenarios"))
CC_CODES = ("E87.000", "E86.x00", "N18.400")


@pytest.fixture(scope="module")
def cases() -> pl.DataFrame:
    return drgsim.synth.hospital(cases=20_000, hospitals=3, seed=11)


def _half_up(x: float) -> int:
    """Counts are rounded half up (``round`` rounds half to even)."""
    return int(np.floor(x + 0.5))


def _by_key(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(KEY_COLUMN)


def test_examples_parse() -> None:
    s = load_scenario(EXAMPLES / "example_los_and_cc.toml")
    assert [c.kind for c in s.changes] == ["los", "add"]
    stay, add = s.changes
    assert isinstance(stay, Stay) and stay.relative == pytest.approx(-0.1)
    assert stay.where.department == ("呼吸内科",)
    assert isinstance(add, Coding) and add.where.adrg == ("ES3",) and add.where.share == 0.2
    s2 = load_scenario(EXAMPLES / "example_policy_and_mix.toml")
    assert [c.kind for c in s2.changes] == ["policy", "settlement", "volume", "volume", "cost"]
    assert s2.path is not None and s2.path.name == "example_policy_and_mix.toml"


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ("[[change]]\ntype = 'grow'\n", "change[0].type must be one of"),
        (
            "[[change]]\ntype = 'add'\ncode = 'X'\ncolour = 1\n",
            "change[0]: unknown key(s) ['colour']",
        ),
        ("[[change]]\ntype = 'add'\n", "change[0]: 'code' or 'codes' is required"),
        (
            "[[change]]\ntype = 'add'\ncode = 'X'\nwhere = { share = 1.5 }\n",
            "change[0].where.share must be in [0, 1]",
        ),
        (
            "[[change]]\ntype = 'add'\ncode = 'X'\nwhere = { ward = 'A' }\n",
            "change[0].where: unknown key(s) ['ward']",
        ),
        (
            "[[change]]\ntype = 'los'\nwhere = { drg = 'ES31' }\n",
            "change[0]: los: give exactly one of",
        ),
        ("[[change]]\ntype = 'los'\nrelative = 'x'\n", "change[0].relative must be a number"),
        (
            "[[change]]\ntype = 'policy'\nwhere = { drg = 'A' }\nset = { x = 1 }\n",
            "a policy change takes no 'where'",
        ),
        ("[[change]]\ntype = 'swap'\ncode = 'X'\n", "swap: 'old'"),
        ("[scenarios]\n", "unknown section(s) ['scenarios']"),
        ("[[change]]\ntype = 'volume'\n", "change[0].relative is required"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, doc: str, fragment: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(doc, encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert str(p) in str(e.value)
    assert fragment in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, drgsim.DrgsimError)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text("[[change]\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"x\.toml"):
        load_scenario(p)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "none.toml")


def test_zero_scenario_changes_nothing(cases: pl.DataFrame) -> None:
    out = apply(cases, Scenario("zero"))
    assert out.regrouped == 0
    assert out.cases.drop(KEY_COLUMN, "touched").equals(cases)
    assert not out.cases["touched"].any()
    assert apply_policy(example("rate"), Scenario()) == example("rate")


def test_add_cc_share_is_exact(cases: pl.DataFrame) -> None:
    ch = Coding("add", "dx", CC_CODES, where=Where(adrg=("ES3",), share=0.2, seed=2))
    out = apply(cases, Scenario(changes=(ch,))).cases
    n_es3 = int((cases["adrg"] == "ES3").sum())
    touched = out.filter("touched")
    assert touched.height == _half_up(0.2 * n_es3)
    base = cases.with_columns(pl.col("case_id").alias(KEY_COLUMN))
    joined = touched.join(base.select(KEY_COLUMN, pl.col("dx").alias("dx0")), on=KEY_COLUMN)
    for dx, dx0 in joined.select("dx", "dx0").iter_rows():
        assert dx[0] == dx0[0]  # the principal stays
        added = set(dx) - set(dx0)
        assert added <= set(CC_CODES) and len(added) <= 1
        assert dx[: len(dx0)] == dx0
    # the drawn codes are spread over the list, and recording a CC moves cases out of ES35
    assert (
        touched.filter(pl.col("drg") == "ES35").height
        < joined.filter(pl.col("dx0").list.len() > 0).height
    )
    untouched = out.filter(~pl.col("touched")).drop(KEY_COLUMN, "touched")
    assert untouched.equals(cases.filter(~pl.col("case_id").is_in(touched["case_id"].implode())))


def test_share_selection_is_seeded(cases: pl.DataFrame) -> None:
    def picked(seed: int) -> set[str]:
        ch = Coding("add", "dx", ("E87.000",), where=Where(adrg=("ES3",), share=0.3, seed=seed))
        return set(apply(cases, Scenario(changes=(ch,))).cases.filter("touched")["case_id"])

    assert picked(1) == picked(1)
    assert picked(1) != picked(2)


def test_remove_and_swap(cases: pl.DataFrame) -> None:
    with_cc = cases.filter(pl.col("cc_level") == "CC")
    code = with_cc["cc_code"][0]
    rm = apply(cases, Scenario(changes=(Coding("remove", "dx", (code,)),))).cases
    t = rm.filter("touched")
    assert t.height > 0
    assert not t["dx"].list.slice(1).list.contains(code).any()
    sw = apply(cases, Scenario(changes=(Coding("swap", "dx", ("E87.000",), old=(code,)),))).cases
    t2 = sw.filter("touched")
    assert t2.height == t.height
    assert t2["dx"].list.contains("E87.000").all()
    assert not t2["dx"].list.contains(code).any()
    px_rm = apply(cases, Scenario(changes=(Coding("remove", "px", ("nonexistent",)),)))
    assert px_rm.regrouped == 0


def test_principal(cases: pl.DataFrame) -> None:
    ch = Principal(("J18.900",), where=Where(adrg=("ES3",), share=0.5, seed=3))
    out = apply(cases, Scenario(changes=(ch,))).cases.filter("touched")
    assert out.height > 0
    assert (out["dx"].list.first() == "J18.900").all()
    old = cases.select("case_id", pl.col("dx").alias("dx0"))
    j = out.join(old, on="case_id")
    for dx, dx0 in j.select("dx", "dx0").iter_rows():
        if dx0[0] != "J18.900":
            assert dx[1] == dx0[0]  # the old principal is kept as the first secondary
        assert dx.count("J18.900") == 1
    drop = Principal(("J18.900",), keep_old=False, where=Where(adrg=("ES3",), share=0.5, seed=3))
    out2 = apply(cases, Scenario(changes=(drop,))).cases.filter("touched")
    assert (out2["dx"].list.len() <= out["dx"].list.len()).all()


def test_los_and_cost_elasticity(cases: pl.DataFrame) -> None:
    dept = "呼吸内科"
    ch = Stay(Where(department=(dept,), seed=1), relative=-0.1, cost_elasticity=0.4)
    out = apply(cases, Scenario(changes=(ch,))).cases
    b = cases.filter(pl.col("department") == dept)
    a = out.filter(pl.col("department") == dept)
    ratio = a["los_days"].sum() / b["los_days"].sum()
    assert 0.87 < ratio < 0.93  # stochastic rounding keeps the mean
    los0, los1 = b["los_days"].to_numpy(), a["los_days"].to_numpy()
    want = b["total_cost"].to_numpy() * (1 + 0.4 * (los1 - los0) / los0)
    np.testing.assert_allclose(a["total_cost"].to_numpy(), want, rtol=1e-12)
    assert (los1 >= 1).all()
    assert (
        out.filter(pl.col("department") != dept)
        .drop(KEY_COLUMN, "touched")
        .equals(cases.filter(pl.col("department") != dept))
    )
    assert a["touched"].sum() == int((los1 != los0).sum())
    near = apply(cases, Scenario(changes=(Stay(Where(department=(dept,)), absolute=2.0,
                                               rounding="nearest"),))).cases  # fmt: skip
    d = near.filter(pl.col("department") == dept)["los_days"] - b["los_days"]
    assert (d == 2).all()


def test_cost(cases: pl.DataFrame) -> None:
    ch = Cost(Where(drg=("ES31",)), relative=0.1)
    out = apply(cases, Scenario(changes=(ch,))).cases
    m = cases["drg"] == "ES31"
    np.testing.assert_allclose(
        out.filter(m)["total_cost"].to_numpy(), cases.filter(m)["total_cost"].to_numpy() * 1.1
    )
    assert out.filter(~m)["total_cost"].equals(cases.filter(~m)["total_cost"])
    assert not out["touched"].any()


def test_volume(cases: pl.DataFrame) -> None:
    n_o = int((cases["mdc"] == "O").sum())
    up = apply(cases, Scenario(changes=(Volume(Where(mdc=("O",)), 0.1),))).cases
    assert up.height == cases.height + _half_up(0.1 * n_o)
    assert up["case_id"].n_unique() == up.height and up[KEY_COLUMN].n_unique() == up.height
    dups = up.filter(pl.col("case_id").str.contains("~v"))
    assert (dups["mdc"] == "O").all()
    down = apply(cases, Scenario(changes=(Volume(Where(mdc=("O",)), -0.25),))).cases
    assert down.height == cases.height - _half_up(0.25 * n_o)
    big = apply(cases, Scenario(changes=(Volume(Where(drg=("ES31",)), 1.5),))).cases
    n = int((cases["drg"] == "ES31").sum())
    assert big.height == cases.height + n + _half_up(0.5 * n)
    gone = apply(cases, Scenario(changes=(Volume(Where(), -1.0),))).cases
    assert gone.height == 0


def test_policy_overrides() -> None:
    p = example("rate")
    s = Scenario(changes=(
        PolicyChange(set={"classes.high_threshold_by_level": {"二级": 2.5},
                          "classes.low_threshold": 0.25, "reserve_share": 0.03},
                     scale={"rate.base_rate": 0.98}),
    ))  # fmt: skip
    q = apply_policy(p, s)
    assert q.classes.high.by_level == {"三级": 3.0, "二级": 2.5}
    assert q.classes.low_threshold == 0.25 and q.reserve_share == 0.03
    assert q.rate is not None and p.rate is not None
    assert q.rate.base_rate["职工"] == pytest.approx(p.rate.base_rate["职工"] * 0.98)
    assert p.classes.low_threshold == 0.3  # the original is unchanged
    with pytest.raises(ScenarioError, match=r"set.classes.colour: no field 'colour'"):
        apply_policy(p, Scenario(changes=(PolicyChange(set={"classes.colour": 1}),)))
    with pytest.raises(ScenarioError, match="must be a number"):
        apply_policy(p, Scenario(changes=(PolicyChange(set={"classes.low_threshold": "x"}),)))
    with pytest.raises(ScenarioError, match="cannot be scaled"):
        apply_policy(p, Scenario(changes=(PolicyChange(scale={"method": 2.0}),)))


def test_settlement_overrides(tmp_path: Path) -> None:
    sp = example_settlement()
    s = parse_scenario({"change": [{"type": "settlement", "set": {
        "surplus.bands": [{"up_to": 0.05, "share": 1.0}, {"share": 0.3}],
        "overspend.pool_share": 0.02}}]})  # fmt: skip
    q = apply_settlement(sp, s)
    assert q.surplus.bands == (Band(0.05, 1.0), Band(None, 0.3))
    assert q.overspend.pool_share == 0.02
    bad = Scenario(
        changes=(
            SettlementChange(
                set={"surplus.bands": [{"up_to": 0.2, "share": 1}, {"up_to": 0.1, "share": 1}]}
            ),
        )
    )
    with pytest.raises(ScenarioError, match="up_to must increase"):
        apply_settlement(sp, bad)
    assert apply_settlement(None, Scenario()) is None


def test_independent_changes_commute(cases: pl.DataFrame) -> None:
    los = Stay(Where(department=("呼吸内科",), seed=1), relative=-0.1, cost_elasticity=0.4)
    cc = Coding("add", "dx", CC_CODES, where=Where(adrg=("ES3",), share=0.2, seed=2))
    cost = Cost(Where(department=("骨科",)), relative=0.05)
    vol = Volume(Where(mdc=("O",), seed=3), 0.1)
    pol = PolicyChange(scale={"rate.base_rate": 0.98})
    a = apply(cases, Scenario(changes=(los, cc, cost, vol, pol))).cases
    b = apply(cases, Scenario(changes=(pol, vol, cost, cc, los))).cases
    assert _by_key(a).equals(_by_key(b))
    assert a["touched"].sum() > 0


def test_regroup_touched_equals_full_regroup(cases: pl.DataFrame) -> None:
    s = Scenario(changes=(
        Stay(Where(department=("呼吸内科",), seed=1), relative=-0.1, cost_elasticity=0.4),
        Coding("add", "dx", CC_CODES, where=Where(adrg=("ES3",), share=0.2, seed=2)),
        Principal(("J18.900",), where=Where(adrg=("ET2",), share=0.3)),
        Coding("remove", "dx", ("E87.000",), where=Where(drg=("ES33",))),
    ))  # fmt: skip
    part = apply(cases, s, regroup="touched")
    full = apply(cases, s, regroup="all")
    assert part.cases.equals(full.cases)
    assert part.regrouped < cases.height < full.regrouped
    # and the touched rows' groups are what the engine gives from scratch
    fresh = drgsim.group(part.cases.drop("status", "drg", "adrg", "mdc", "cc_level"))
    assert fresh["drg"].equals(part.cases["drg"])


def test_tables_change_regroups_all(cases: pl.DataFrame) -> None:
    out = apply(cases, Scenario(changes=(TablesChange("teaching"),)))
    assert out.regrouped == cases.height
    assert out.cases["touched"].all()
    assert out.cases["drg"].equals(cases["drg"])
    s = parse_scenario({"change": [{"type": "tables", "tables": "teaching"}]})
    assert isinstance(s.changes[0], TablesChange)


def test_dataclasses_validate() -> None:
    with pytest.raises(ScenarioError):
        Where(share=2.0)
    with pytest.raises(ScenarioError):
        Coding("move", "dx", ("A",))
    with pytest.raises(ScenarioError):
        Stay(relative=-1.5)
    s = Scenario("a", (Cost(relative=0.1),)) + Scenario("b", (Volume(relative=0.1),))
    assert s.name == "a+b" and len(s.changes) == 2
    assert dataclasses.replace(s, name="c").name == "c"


def test_missing_column(cases: pl.DataFrame) -> None:
    with pytest.raises(ScenarioError, match="no column 'doctor_id'"):
        apply(cases.drop("doctor_id"), Scenario(changes=(Cost(Where(doctor=("D1",)), 0.1),)))


def test_text_code_lists_become_lists() -> None:
    raw = pl.DataFrame(
        {"case_id": ["a", "b"], "sex": [1, 2], "age": [60, 30], "los_days": [5, 3],
         "dx": ["J18.900|I10.x00", "O80.000"], "px": ["", "73.6x01"], "total_cost": [1.0, 2.0]}
    )  # fmt: skip
    out = apply(
        raw, Scenario(changes=(Coding("add", "dx", ("E87.000",), where=Where(mdc=("E",))),))
    )
    assert out.cases["dx"].to_list()[0] == ["J18.900", "I10.x00", "E87.000"]
    assert out.cases["px"].to_list()[0] == []


def test_los_with_nulls_and_fractions() -> None:
    df = pl.DataFrame(
        {"case_id": ["a", "b", "c"], "department": ["X"] * 3, "los_days": [10, None, 3],
         "sex": [1, 2, 1], "age": [50, 60, 70], "dx": [["J18.900"]] * 3, "px": [[]] * 3,
         "total_cost": [100.0, None, 30.0], "status": ["ok"] * 3, "mdc": ["E"] * 3,
         "adrg": ["ES3"] * 3, "drg": ["ES35"] * 3, "reason": [None] * 3, "message": [None] * 3,
         "cc_level": ["none"] * 3, "cc_code": [None] * 3}
    )  # fmt: skip
    s = Scenario(changes=(Stay(Where(department=("X",)), relative=-0.15, cost_elasticity=1.0,
                               rounding="none"),))  # fmt: skip
    out = apply(df, s, regroup="touched").cases
    assert out["los_days"].dtype == pl.Float64
    assert out["los_days"].to_list() == pytest.approx([8.5, None, 2.55], nan_ok=False)
    assert out["total_cost"].to_list()[:1] == pytest.approx([85.0])
    assert out["total_cost"][1] is None


def test_version_change_regroups_under_the_new_set(cases: pl.DataFrame, yancheng) -> None:
    out = apply(cases.head(5_000), Scenario(changes=(TablesChange(yancheng),)))
    want = drgsim.group(cases.head(5_000), yancheng)
    assert out.regrouped == 5_000 and out.tables is yancheng
    assert out.cases["drg"].equals(want["drg"])
    assert (out.cases["drg"] != cases.head(5_000)["drg"]).any()
