"""drgsim.calibrate: RW and 基准点数 from costs, trimming, year weights, small groups, RIV."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import median

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drgsim import weights
from drgsim.calibrate import CALIBRATE_COLUMNS, as_weights, calibrate, homogeneity
from drgsim.exceptions import ColumnError, InputError


def _frame(groups: dict[str, list[float]], **extra: list[object]) -> pl.DataFrame:
    drg = [g for g, xs in groups.items() for _ in xs]
    cost = [x for xs in groups.values() for x in xs]
    return pl.DataFrame({"drg": drg, "total_cost": cost, **extra})


def _by_drg(out: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["drg"]: r for r in out.to_dicts()}


# --- exact RW by hand -----------------------------------------------------------------------


def test_rw_by_hand() -> None:
    """A = 1000, 2000, 3000 (mean 2000, sd 1000); B = 4000, 6000 (mean 5000, sd √2·1000);
    C = 10000, 10000, 10000, 10000, 10000, 10000, 10000 (mean 10000, sd 0).
    All-case mean = (6000 + 10000 + 70000) / 12 = 86000 / 12 = 7166.67.
    RW: A = 2000·12/86000 = 12/43, B = 30/43, C = 60/43; 基准点数 = RW × 100."""
    cases = _frame({"A": [1000, 2000, 3000], "B": [4000, 6000], "C": [10000] * 7})
    out = calibrate(cases, min_cases=2)
    assert tuple(out.columns) == CALIBRATE_COLUMNS
    assert out["drg"].to_list() == ["A", "B", "C"]
    assert out["n"].to_list() == out["n_used"].to_list() == [3, 2, 7]
    assert out["mean_cost"].to_list() == [2000.0, 5000.0, 10000.0]
    assert out["rw"].to_list() == pytest.approx([12 / 43, 30 / 43, 60 / 43], rel=1e-14)
    assert out["base_points"].to_list() == pytest.approx([1200 / 43, 3000 / 43, 6000 / 43])
    assert out["cv"].to_list() == pytest.approx([0.5, math.sqrt(2) * 1000 / 5000, 0.0])
    assert out["flag"].to_list() == ["ok", "ok", "ok"]
    assert out.schema["n"] == pl.Int64 and out.schema["rw"] == pl.Float64
    # another scale, another group column name, a LazyFrame, costs as text
    text = cases.rename({"drg": "my_group"}).with_columns(pl.col("total_cost").cast(pl.String))
    out2 = calibrate(text.lazy(), group="my_group", min_cases=2, scale=1000)
    assert out2["rw"].to_list() == pytest.approx(out["rw"].to_list(), rel=1e-14)
    assert out2["base_points"].to_list() == pytest.approx([12000 / 43, 30000 / 43, 60000 / 43])


def test_missing_costs_count_in_n_only() -> None:
    cases = pl.DataFrame(
        {"drg": ["A", "A", "A", "B", None], "total_cost": [100.0, None, 300.0, 400.0, 9999.0]}
    )
    out = _by_drg(calibrate(cases, min_cases=1))
    assert set(out) == {"A", "B"}  # no group: dropped
    assert (out["A"]["n"], out["A"]["n_used"]) == (3, 2)
    # all-case mean = (100 + 300 + 400) / 3
    assert out["A"]["rw"] == pytest.approx(200 / (800 / 3))
    assert out["B"]["cv"] is None  # one case


# --- trimming -------------------------------------------------------------------------------

#: A has a planted outlier (100); B is constant.
TRIM_CASES = _frame({"A": [10, 11, 12, 13, 14, 100], "B": [20] * 5})


def test_no_trim() -> None:
    """A mean 160/6, B 20, all-case mean 260/11."""
    out = _by_drg(calibrate(TRIM_CASES, min_cases=1))
    assert out["A"]["n_used"] == 6
    assert out["A"]["rw"] == pytest.approx((160 / 6) / (260 / 11))


def test_trim_iqr() -> None:
    """A sorted 10 11 12 13 14 100: Q1 at position 0.25·5 = 1.25 → 11.25, Q3 at 3.75 →
    13.75, IQR 2.5, fences 7.5 and 17.5: 100 goes. A mean 12; B (IQR 0) keeps all.
    All-case mean (60 + 100) / 10 = 16: RW A = 0.75, B = 1.25."""
    for rule in ("iqr", ("iqr", 1.5)):
        out = _by_drg(calibrate(TRIM_CASES, trim=rule, min_cases=1))  # type: ignore[arg-type]
        assert (out["A"]["n"], out["A"]["n_used"], out["B"]["n_used"]) == (6, 5, 5)
        assert out["A"]["mean_cost"] == 12.0
        assert (out["A"]["rw"], out["B"]["rw"]) == (0.75, 1.25)
        assert out["A"]["cv"] == pytest.approx(math.sqrt(2.5) / 12)
    # a wide fence (k = 40: up to 13.75 + 100) keeps the outlier
    out = _by_drg(calibrate(TRIM_CASES, trim=("iqr", 40.0), min_cases=1))
    assert out["A"]["n_used"] == 6


def test_trim_sd() -> None:
    """A: mean 160/6 = 26.67, Σx² = 10730, SS = 10730 − 6·26.67² = 6463.3, sd = √(6463.3/5)
    = 35.95. |100 − 26.67| = 73.3 > 2·35.95 = 71.9: dropped with k = 2, kept with k = 3
    (no z can exceed 5/√6 = 2.04 among 6 cases)."""
    out = _by_drg(calibrate(TRIM_CASES, trim=("sd", 2.0), min_cases=1))
    assert out["A"]["n_used"] == 5 and (out["A"]["rw"], out["B"]["rw"]) == (0.75, 1.25)
    out = _by_drg(calibrate(TRIM_CASES, trim="sd", min_cases=1))
    assert out["A"]["n_used"] == 6
    # one case: sd undefined, the case is kept
    single = _by_drg(calibrate(_frame({"Z": [5.0]}), trim=("sd", 1.0), min_cases=1))
    assert single["Z"]["n_used"] == 1


def test_trim_percentile() -> None:
    """Default 2.5 % / 97.5 %: positions 0.125 and 4.875 of 10 11 12 13 14 100 are 10.125
    and 14 + 0.875·86 = 89.25, so 10 and 100 go: A = 11..14, mean 12.5. B keeps all.
    All-case mean (50 + 100)/9: RW A = 12.5·9/150 = 0.75, B = 20·9/150 = 1.2.
    ("percentile", 0, 0.9): upper 14 + 0.5·86 = 57, so only 100 goes (as IQR)."""
    out = _by_drg(calibrate(TRIM_CASES, trim="percentile", min_cases=1))
    assert out["A"]["n_used"] == 4 and out["A"]["mean_cost"] == 12.5
    assert (out["A"]["rw"], out["B"]["rw"]) == (pytest.approx(0.75), pytest.approx(1.2))
    out = _by_drg(calibrate(TRIM_CASES, trim=("percentile", 0.0, 0.9), min_cases=1))
    assert out["A"]["n_used"] == 5 and (out["A"]["rw"], out["B"]["rw"]) == (0.75, 1.25)


@pytest.mark.parametrize(
    "rule",
    ["tukey", ("iqr", 0), ("iqr", -1.0), ("sd",), ("percentile", 0.9, 0.1), ("percentile", 0, 2)],
)
def test_bad_trim(rule: object) -> None:
    with pytest.raises(InputError, match="trim must be"):
        calibrate(TRIM_CASES, trim=rule)  # type: ignore[arg-type]


# --- year weighting -------------------------------------------------------------------------

#: A: 2022 100; 2023 200; 2024 300, 500 (mean 400). B: 1000 each year.
YEAR_CASES = pl.DataFrame(
    {
        "drg": ["A", "A", "A", "A", "B", "B", "B"],
        "total_cost": [100.0, 200.0, 300.0, 500.0, 1000.0, 1000.0, 1000.0],
        "year": [2022, 2023, 2024, 2024, 2022, 2023, 2024],
    }
)


def test_year_weights_by_hand() -> None:
    """Weights 1:2:7 (Σ = 10). A = (1·100 + 2·200 + 7·400)/10 = 330; B = 1000.
    All-case means by year: 2022 (100 + 1000)/2 = 550, 2023 600, 2024 (300 + 500 + 1000)/3
    = 600; all-case = (550 + 2·600 + 7·600)/10 = 595. RW A = 330/595, B = 1000/595."""
    out = _by_drg(
        calibrate(YEAR_CASES, year="year", year_weights={2022: 1, 2023: 2, 2024: 7}, min_cases=1)
    )
    assert out["A"]["mean_cost"] == pytest.approx(330.0)
    assert out["B"]["mean_cost"] == pytest.approx(1000.0)
    assert out["A"]["rw"] == pytest.approx(330 / 595, rel=1e-14)
    assert out["B"]["rw"] == pytest.approx(1000 / 595, rel=1e-14)
    assert out["A"]["n_used"] == 4


def test_year_weights_other_cases() -> None:
    # year without weights: each year weighs 1. A = (100 + 200 + 400)/3 = 700/3;
    # all-case = (550 + 600 + 600)/3 = 1750/3
    out = _by_drg(calibrate(YEAR_CASES, year="year", min_cases=1))
    assert out["A"]["rw"] == pytest.approx(700 / 1750)
    # a year left out of the weights is not used: only 2024 → A 400, all-case 600
    out = _by_drg(calibrate(YEAR_CASES, year="year", year_weights={2024: 1}, min_cases=1))
    assert (out["A"]["n"], out["A"]["n_used"]) == (4, 2)
    assert out["A"]["rw"] == pytest.approx(400 / 600)
    # a group present in some years only: its mean renormalises over those years
    # C only in 2024 at 600 → mean 600 whatever the weights
    more = pl.concat(
        [YEAR_CASES, pl.DataFrame({"drg": ["C"], "total_cost": [600.0], "year": [2024]})]
    )
    out = _by_drg(
        calibrate(more, year="year", year_weights={2022: 1, 2023: 2, 2024: 7}, min_cases=1)
    )
    assert out["C"]["mean_cost"] == 600.0
    # years as text work too
    text = YEAR_CASES.with_columns(pl.col("year").cast(pl.String))
    out2 = calibrate(text, year="year", year_weights={2022: 1, 2023: 2, 2024: 7}, min_cases=1)
    assert out2["rw"].to_list() == pytest.approx([330 / 595, 1000 / 595])


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"year_weights": {2024: 1}}, InputError, "year_weights needs year="),
        ({"year": "year", "year_weights": {2024: -1}}, InputError, "year weights must be"),
        ({"year": "year", "year_weights": {2024: 0}}, InputError, "year weights must be"),
        ({"year": "yr"}, ColumnError, "no year column 'yr'"),
        ({"cost": "cost"}, ColumnError, "no cost column 'cost'"),
        ({"group": "adrg"}, ColumnError, "no group column 'adrg'"),
        ({"min_cases": 0}, InputError, "min_cases must be"),
        ({"small": "pool"}, InputError, "small must be"),
        ({"scale": 0}, InputError, "scale must be"),
        ({"year": "year", "year_weights": {2019: 1}}, InputError, "no case has a cost"),
    ],
)
def test_argument_errors(kwargs: dict[str, object], error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        calibrate(YEAR_CASES, **kwargs)  # type: ignore[arg-type]


def test_bad_costs() -> None:
    with pytest.raises(InputError, match=r"not a number >= 0.*'-5.0'"):
        calibrate(_frame({"A": [1.0, -5.0]}), min_cases=1)
    with pytest.raises(InputError, match=r"not a number >= 0.*'abc'"):
        calibrate(pl.DataFrame({"drg": ["A"], "total_cost": ["abc"]}), min_cases=1)
    with pytest.raises(InputError, match="not a number >= 0"):
        calibrate(_frame({"A": [1.0, math.inf]}), min_cases=1)
    with pytest.raises(InputError, match="all-case mean cost is 0"):
        calibrate(_frame({"A": [0.0, 0.0]}), min_cases=1)
    with pytest.raises(InputError, match=r"year in 'year' that is not an integer.*'20x'"):
        calibrate(
            YEAR_CASES.with_columns(pl.col("year").cast(pl.String).replace("2022", "20x")),
            year="year",
        )
    with pytest.raises(ColumnError, match="must be numeric"):
        calibrate(pl.DataFrame({"drg": ["A"], "total_cost": [[1.0]]}))


# --- small groups ---------------------------------------------------------------------------


def test_min_cases() -> None:
    """GE25: five cases of 100; GE21: one case of 400; ZZ19: one case of 600.
    All-case mean (500 + 400 + 600)/7 = 1500/7. GE25 RW = 100·7/1500 = 0.4667.
    With small="null": GE21 and ZZ19 have no RW. With small="adrg": GE21 takes the RW of
    ADRG GE2, pooled mean (500 + 400)/6 = 150 → 150·7/1500 = 0.7; ZZ1 has one case: null."""
    cases = _frame({"GE25": [100] * 5, "GE21": [400], "ZZ19": [600]})
    out = _by_drg(calibrate(cases))
    assert out["GE25"]["flag"] == "ok"
    assert out["GE25"]["rw"] == pytest.approx(700 / 1500)
    for drg in ("GE21", "ZZ19"):
        assert (out[drg]["flag"], out[drg]["rw"], out[drg]["base_points"]) == ("small", None, None)
        assert out[drg]["mean_cost"] is not None  # the group's own mean is still reported
    out = _by_drg(calibrate(cases, small="adrg"))
    assert (out["GE21"]["flag"], out["GE21"]["rw"]) == ("adrg", pytest.approx(0.7))
    assert out["GE21"]["base_points"] == pytest.approx(70.0)
    assert out["GE21"]["mean_cost"] == 400.0
    assert (out["GE25"]["flag"], out["GE25"]["rw"]) == ("ok", pytest.approx(700 / 1500))
    assert (out["ZZ19"]["flag"], out["ZZ19"]["rw"]) == ("small", None)
    # min_cases counts used cases: trimming can make a group small
    out = _by_drg(calibrate(TRIM_CASES, trim="iqr", min_cases=6))
    assert out["A"]["flag"] == "small" and out["A"]["n"] == 6


# --- property: rw × all-case mean reproduces the group means --------------------------------

groups_st = st.dictionaries(
    st.sampled_from(["AB19", "GE25", "GE21", "ES31", "XX99", "0000"]),
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=8),
    min_size=1,
).filter(lambda d: sum(x for xs in d.values() for x in xs) > 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=groups_st)
def test_rw_reproduces_group_means(groups: dict[str, list[float]]) -> None:
    cases = _frame(groups)
    out = calibrate(cases, min_cases=1)
    all_mean = sum(x for xs in groups.values() for x in xs) / sum(map(len, groups.values()))
    for r in out.to_dicts():
        xs = groups[r["drg"]]
        assert r["n"] == r["n_used"] == len(xs)
        assert r["mean_cost"] == pytest.approx(sum(xs) / len(xs), rel=1e-9, abs=1e-9)
        assert r["rw"] * all_mean == pytest.approx(r["mean_cost"], rel=1e-9, abs=1e-6)
        assert r["base_points"] == pytest.approx(100 * r["rw"])
    # the case-weighted mean of RW is 1 (CMI of the calibration data)
    cmi = out.select((pl.col("rw") * pl.col("n")).sum() / pl.col("n").sum()).item()
    assert cmi == pytest.approx(1.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=groups_st,
    years=st.lists(st.sampled_from([2022, 2023, 2024]), min_size=64, max_size=64),
    w=st.tuples(*[st.integers(min_value=1, max_value=9)] * 3),
)
def test_year_weighted_rw_matches_direct_computation(
    groups: dict[str, list[float]], years: list[int], w: tuple[int, int, int]
) -> None:
    cases = _frame(groups)
    cases = cases.with_columns(pl.Series("year", years[: cases.height]))
    ws = dict(zip((2022, 2023, 2024), w, strict=True))
    out = calibrate(cases, year="year", year_weights=ws, min_cases=1)
    rows = cases.select("drg", "total_cost", "year").rows()

    def wmean(rs: list[tuple[str, float, int]]) -> float:
        by_year: dict[int, list[float]] = {}
        for _, x, y in rs:
            by_year.setdefault(y, []).append(x)
        num = sum(ws[y] * sum(xs) / len(xs) for y, xs in by_year.items())
        return num / sum(ws[y] for y in by_year)

    overall = wmean(rows)
    if overall == 0:
        return
    for r in out.to_dicts():
        mine = [c for c in rows if c[0] == r["drg"]]
        assert r["mean_cost"] == pytest.approx(wmean(mine), rel=1e-9, abs=1e-9)
        assert r["rw"] * overall == pytest.approx(r["mean_cost"], rel=1e-9, abs=1e-6)


# --- as_weights -----------------------------------------------------------------------------


def test_as_weights_round_trip(tmp_path: Path) -> None:
    cal = calibrate(_frame({"GE25": [100] * 5, "GE21": [400]}), small="null")
    w = as_weights(cal, source="hospital-x", year=2024)
    assert w.schema == weights.SCHEMA
    assert w.select("drg", "rw", "special", "year", "source").rows() == [
        ("GE21", None, False, 2024, "hospital-x"),
        ("GE25", pytest.approx(2 / 3), False, 2024, "hospital-x"),
    ]
    f = tmp_path / "w.csv"
    weights.write(w, f)
    assert weights.read(f).equals(w)
    with pytest.raises(InputError, match="not a calibrate"):
        as_weights(pl.DataFrame({"drg": ["A"]}))


# --- homogeneity ----------------------------------------------------------------------------


def test_riv_by_hand() -> None:
    """A = {1, 3}, B = {5, 7}: grand mean 4; SST = 9 + 1 + 1 + 9 = 20; SSW = 2 + 2 = 4;
    RIV = 1 − 4/20 = 0.8. CV: A sd √2 / mean 2, B √2 / 6; median of the two; both < 1.
    On ln cost: the same formula on ln 1, ln 3, ln 5, ln 7."""
    cases = _frame({"A": [1, 3], "B": [5, 7]})
    h = homogeneity(cases, log=True)
    assert (h["n"], h["groups"], h["mean"], h["sst"], h["ssw"]) == (4, 2, 4.0, 20.0, 4.0)
    assert h["riv"] == pytest.approx(0.8)
    assert h["cv_groups"] == 2
    assert h["cv_median"] == pytest.approx(median([math.sqrt(2) / 2, math.sqrt(2) / 6]))
    assert h["cv_below_1"] == 1.0
    ln = [math.log(v) for v in (1, 3, 5, 7)]
    grand = sum(ln) / 4
    sst = sum((v - grand) ** 2 for v in ln)
    ssw = sum((v - (ln[0] + ln[1]) / 2) ** 2 for v in ln[:2]) + sum(
        (v - (ln[2] + ln[3]) / 2) ** 2 for v in ln[2:]
    )
    assert h["n_log"] == 4
    assert h["sst_log"] == pytest.approx(sst) and h["ssw_log"] == pytest.approx(ssw)
    assert h["riv_log"] == pytest.approx(1 - ssw / sst)
    assert "riv_log" not in homogeneity(cases)


def test_riv_extremes() -> None:
    # one group: no variance explained
    assert homogeneity(_frame({"A": [1, 2, 3, 10]}))["riv"] == pytest.approx(0.0)
    # every group constant: all of it
    h = homogeneity(_frame({"A": [1, 1], "B": [9, 9, 9]}))
    assert h["riv"] == 1.0 and h["cv_median"] == 0.0
    # no variance at all: undefined
    assert homogeneity(_frame({"A": [5, 5], "B": [5]}))["riv"] is None
    # CV ≥ 1: A = {0, 0, 0, 12}: mean 3, sd √(108/3) = 6, CV 2; B = {1, 1}: CV 0
    h = homogeneity(_frame({"A": [0, 0, 0, 12], "B": [1, 1], "C": [7]}), log=True)
    assert (h["cv_groups"], h["cv_median"], h["cv_below_1"]) == (2, 1.0, 0.5)
    assert h["n_log"] == 4  # the zero costs are left out of the log computation


def test_homogeneity_with_trim() -> None:
    """Trimming the planted outlier of TRIM_CASES raises RIV: after IQR trimming A = 10..14,
    B = 20 × 5: grand mean 16, SST = Σ(A − 16)² + 5·16 = (36+25+16+9+4) + 80 = 170,
    SSW = 10, RIV = 1 − 10/170."""
    raw = homogeneity(TRIM_CASES)
    trimmed = homogeneity(TRIM_CASES, trim="iqr")
    assert trimmed["n"] == 10
    assert (trimmed["sst"], trimmed["ssw"]) == (pytest.approx(170.0), pytest.approx(10.0))
    assert trimmed["riv"] == pytest.approx(1 - 10 / 170)
    assert trimmed["riv"] > raw["riv"]
