"""drgsim.weights: the project weights format, the city-table loader, round trips, coverage."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from drgsim import weights
from drgsim.exceptions import InputError
from drgsim.tables import TableSet, import_opendrg

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CITY_FILES = sorted((REFERENCE / "weights").glob("*.csv")) if REFERENCE.is_dir() else []

#: City files that do not load with the default settings, and why (a fault in the file).
EXPECTED_FAILURES = {
    # DR13 appears twice: line 31 is an OCR slip for BR13 (颅内出血性疾患, between BR11 and BR15)
    "乌鲁木齐2022.csv": "DR13 (lines 31, 124)",
}


@pytest.fixture(scope="module")
def weights_dir(reference: Path) -> Path:
    return reference / "weights"


def _row(w: pl.DataFrame, drg: str) -> dict[str, object]:
    rows = w.filter(pl.col("drg") == drg).to_dicts()
    assert len(rows) == 1, drg
    return rows[0]


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --- the reference cities ---------------------------------------------------------------------


def test_yancheng_2023(weights_dir: Path) -> None:
    w = weights.load_city(weights_dir / "盐城2023.csv")
    assert w.schema == weights.SCHEMA
    assert w.height == 628
    assert w["drg"].is_unique().all()
    assert w["year"].unique().to_list() == [2023]
    assert w["source"].unique().to_list() == ["盐城2023"]
    # 单议病组 = 是 → special; the rest (empty) → not special
    assert w["special"].sum() == 24
    for drg in ("AA19", "AB19", "AC19", "AE19", "AG19"):
        r = _row(w, drg)
        assert r["special"] is True
        assert r["rw"] is None and r["standard_level3"] is None
    # AH11,…,4.846477501,,0.93996516,1.18747197,37479.07564,47347.87381
    r = _row(w, "AH11")
    assert r["special"] is False
    assert r["rw"] == pytest.approx(4.846477501, rel=1e-15)
    assert r["coefficient_level2"] == 0.93996516
    assert r["coefficient_level3"] == 1.18747197
    assert r["standard_level2"] == 37479.07564
    assert r["standard_level3"] == 47347.87381
    assert r["standard"] is None and r["base_points"] is None
    assert str(r["name"]).startswith("有创呼吸机支持")
    # GE15: both levels have coefficient 1 and the same standard
    r = _row(w, "GE15")
    assert (r["coefficient_level2"], r["coefficient_level3"]) == (1.0, 1.0)
    assert r["standard_level2"] == r["standard_level3"] == 8902.714514
    # 90 groups have no RW in the file
    assert w["rw"].null_count() == 90


def test_beijing_2022(weights_dir: Path) -> None:
    w = weights.load_city(weights_dir / "北京2022.csv")
    assert w.height == 696
    r = _row(w, "AE19")
    assert (r["rw"], r["standard"], r["year"]) == (5.8, 118507.0, 2022)
    assert r["standard_level2"] is None and r["standard_level3"] is None
    assert _row(w, "AG11")["standard"] == 255731.0
    # RW "按项目据实支付" (paid by item): no RW, special
    r = _row(w, "AA19")
    assert r["rw"] is None and r["special"] is True and r["standard"] is None
    assert w["special"].sum() == 49
    assert w.filter(pl.col("special"))["rw"].null_count() == 49


def test_harbin_years(weights_dir: Path, tmp_path: Path) -> None:
    path = weights_dir / "哈尔滨2023_2024.csv"
    raw = pl.read_csv(path, infer_schema=False)
    latest = weights.load_city(path)
    w23 = weights.load_city(path, year=2023)
    w24 = weights.load_city(path, year=2024)
    assert latest.equals(w24)
    assert w23.height == w24.height == raw.height == 703
    assert w23["year"].unique().to_list() == [2023]
    assert w24["year"].unique().to_list() == [2024]
    assert w23["rw"].to_list() == raw["weight_2023"].cast(pl.Float64).to_list()
    assert w24["rw"].to_list() == raw["weight_2024"].cast(pl.Float64).to_list()
    # the published 2023 and 2024 columns happen to be identical; the year choice is checked
    # on a file of the same layout whose columns differ
    assert _row(w23, "AA19")["rw"] == _row(w24, "AA19")["rw"] == 18.2858
    f = tmp_path / "哈尔滨2023_2024.csv"
    f.write_text("drg_code,drg_name,weight_2023,weight_2024\nGE29,腹股沟疝,0.8,0.9\n", "utf-8")
    assert weights.load_city(f).select("rw", "year").row(0) == (0.9, 2024)
    assert weights.load_city(f, year=2023).select("rw", "year").row(0) == (0.8, 2023)
    with pytest.raises(InputError, match=r"哈尔滨2023_2024\.csv.*2022.*2023, 2024"):
        weights.load_city(path, year=2022)


def test_every_city_file_loads_or_fails_clearly(weights_dir: Path, tmp_path: Path) -> None:
    """Each file in weights/ loads (and survives a write/read round trip) or raises an
    InputError that names the file; only the files of EXPECTED_FAILURES fail."""
    assert len(CITY_FILES) == 28
    failed: dict[str, str] = {}
    for path in CITY_FILES:
        try:
            w = weights.load_city(path)
        except InputError as e:
            assert path.name in str(e)
            failed[path.name] = str(e)
            continue
        assert w.schema == weights.SCHEMA, path.name
        assert w.height > 500, path.name
        assert w["drg"].is_unique().all(), path.name
        has_value = w.select(
            pl.any_horizontal(
                pl.col(c).is_not_null()
                for c in ("rw", "base_points", "standard", "standard_level2", "standard_level3")
            ).mean()
        ).item()
        assert has_value > 0.8, path.name
        assert w["year"].null_count() == 0, path.name
        out = tmp_path / f"{path.stem}.weights.csv"
        weights.write(w, out)
        assert weights.read(out).equals(w), path.name
    assert set(failed) == set(EXPECTED_FAILURES)
    for name, needle in EXPECTED_FAILURES.items():
        assert needle in failed[name]


def test_urumqi_duplicates_can_be_dropped(weights_dir: Path) -> None:
    with pytest.raises(InputError, match=r"乌鲁木齐2022\.csv: DRG listed more than once.*DR13"):
        weights.load_city(weights_dir / "乌鲁木齐2022.csv")
    w = weights.load_city(weights_dir / "乌鲁木齐2022.csv", duplicates="drop")
    assert "DR13" not in w["drg"].to_list()
    assert w.height == 718 - 2


def test_other_layouts(weights_dir: Path) -> None:
    # 银川: 标准分值 → base_points, 等级系数（二级） → coefficient_level2 (三甲/三乙 dropped)
    w = weights.load_city(weights_dir / "银川2023.csv")
    r = _row(w, "AH11")
    assert (r["rw"], r["base_points"]) == (None, 77361.96)
    assert r["coefficient_level2"] == 0.77006 and r["coefficient_level3"] is None
    # 临沂: standards by level and fund
    emp = weights.load_city(weights_dir / "临沂2022.csv")
    res = weights.load_city(weights_dir / "临沂2022.csv", fund="resident")
    assert (_row(emp, "0000")["standard_level3"], _row(emp, "0000")["standard_level2"]) == (
        1973.0,
        1930.2,
    )
    assert (_row(res, "0000")["standard_level3"], _row(res, "0000")["standard_level2"]) == (
        1878.2,
        1700.2,
    )
    # 无锡 writes the ungrouped DRG as 0
    assert _row(weights.load_city(weights_dir / "无锡2022.csv"), "0000")["rw"] == 0.2
    # 兰州2023: 等级系数（三级） and （二级）; 未覆盖组 and 不稳定病组 are special
    w = weights.load_city(weights_dir / "兰州2023.csv")
    r = _row(w, "AA19")
    assert (r["coefficient_level3"], r["coefficient_level2"], r["special"]) == (
        0.8308,
        0.7487,
        True,
    )
    # 泰州: 稳定组 = 否 → special
    w = weights.load_city(weights_dir / "泰州2022.csv")
    assert _row(w, "AA19")["special"] is True
    # 长沙: 初始权重 → rw, 不稳定病组 ※ → special, 无 → null
    w = weights.load_city(weights_dir / "长沙2023.csv")
    assert _row(w, "AA19")["special"] is True and _row(w, "AB19")["special"] is False
    assert _row(w, "NG19")["rw"] is None
    # 青岛: the generic 三级/二级 standards, not the named hospitals'
    r = _row(weights.load_city(weights_dir / "青岛2023.csv"), "AA19")
    assert (r["standard_level3"], r["standard_level2"]) == (287911.538, 230329.2304)


# --- values and errors on small files ------------------------------------------------------


def test_values(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "某市2024.csv",
        "分组编码 ,分组名称,权重,单议病组,支付标准（三级）,支付标准（二级）,备注\n"
        "0,未入组, 0.2 ,否,1000,900,\n"
        "AA19,心脏移植,,是,,,\n"
        "GE29,腹股沟疝,0.85,,8100,6800.5,说明\n"
        'BR11,颅内出血,无,,"1,000",,\n'
        "BR15,颅内出血2,0.9,※,,,\n"
        ",,,,,,\n",
    )
    w = weights.load_city(f)
    assert w["drg"].to_list() == ["0000", "AA19", "GE29", "BR11", "BR15"]
    assert w["rw"].to_list() == [0.2, None, 0.85, None, 0.9]
    assert w["special"].to_list() == [False, True, False, False, True]
    assert w["standard_level3"].to_list() == [1000.0, None, 8100.0, 1000.0, None]
    assert w["standard_level2"].to_list() == [900.0, None, 6800.5, None, None]
    assert w["year"].unique().to_list() == [2024]
    assert w["source"].unique().to_list() == ["某市2024"]


def test_gb18030_and_bom(tmp_path: Path) -> None:
    text = "DRG编码,DRG名称,RW\nGE29,腹股沟疝,0.85\n"
    a = weights.load_city(_write(tmp_path / "甲2022.csv", text, "gb18030"))
    b = weights.load_city(_write(tmp_path / "乙2022.csv", "\ufeff" + text))
    assert a.drop("source").equals(b.drop("source"))
    assert a.row(0)[:3] == ("GE29", "腹股沟疝", 0.85)


def test_unrecognised_columns(tmp_path: Path) -> None:
    f = _write(tmp_path / "某市2023.csv", "DRG编码,RW,神秘列,另一列\nGE29,0.85,x,y\n")
    with pytest.raises(InputError) as e:
        weights.load_city(f)
    msg = str(e.value)
    assert "某市2023.csv" in msg and "'神秘列'" in msg and "'另一列'" in msg
    assert "'RW'" not in msg.split("columns not recognised")[1].split(";")[0]
    w = weights.load_city(f, strict=False)
    assert w.select("drg", "rw").row(0) == ("GE29", 0.85)
    # a measure word with an unknown prefix is not guessed at; a level or hospital the
    # format has no column for (三甲, 一级, a named hospital) is known and dropped
    g = _write(
        tmp_path / "某市2022.csv",
        "DRG编码,RW,调整系数,等级系数（三甲）,一级医院系数,支付标准（某医院）\nGE29,0.85,1,1,1,1\n",
    )
    with pytest.raises(InputError, match=r"columns not recognised: '调整系数' \("):
        weights.load_city(g)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("名称,RW\n腹股沟疝,0.85\n", "no DRG code column"),
        ("DRG编码,DRG名称\nGE29,腹股沟疝\n", "no weight, points or payment-standard column"),
        ("DRG编码,RW\nGE29,0.85\nGE25,abc\n", "column 'RW' is not a number (line 3: 'abc')"),
        ("DRG编码,RW,单议病组\nGE29,0.85,可能\n", "not a yes/no flag"),
        ("DRG编码,RW\nGE29,0.85\nGE29,0.9\n", "GE29 (lines 2, 3)"),
        ("DRG编码,RW\nGE29,-0.85\n", "negative rw: GE29"),
        ("DRG编码,RW\n,0.85\n", "rows without a DRG code"),
        ("DRG编码,RW,权重\nGE29,0.85,0.9\n", "both give 'rw'"),
    ],
)
def test_clear_errors(tmp_path: Path, text: str, needle: str) -> None:
    f = _write(tmp_path / "坏表2023.csv", text)
    with pytest.raises(InputError) as e:
        weights.load_city(f)
    assert "坏表2023.csv" in str(e.value)
    assert needle in str(e.value)


def test_identical_repeats_are_kept_once(tmp_path: Path) -> None:
    f = _write(tmp_path / "x2023.csv", "DRG编码,RW\nGE29,0.85\nGE29,0.85\n")
    assert weights.load_city(f).height == 1


def test_year_and_file_name(tmp_path: Path) -> None:
    f = _write(tmp_path / "某市2023.csv", "DRG编码,RW\nGE29,0.85\n")
    assert weights.load_city(f, year=2023)["year"].item() == 2023
    with pytest.raises(InputError, match="year=2024 but the file name says 2023"):
        weights.load_city(f, year=2024)
    g = _write(tmp_path / "某市.csv", "DRG编码,RW\nGE29,0.85\n")
    assert weights.load_city(g)["year"].item() is None
    assert weights.load_city(g, year=2021)["year"].item() == 2021
    h = _write(tmp_path / "某市_yearly.csv", "drg_code,RW2022,权重(2023)\nGE29,0.8,0.9\n")
    assert weights.load_city(h)["rw"].item() == 0.9
    assert weights.load_city(h, year=2022).select("rw", "year").row(0) == (0.8, 2022)


# --- the project format ---------------------------------------------------------------------


def test_round_trip(weights_dir: Path, tmp_path: Path) -> None:
    w = weights.load_city(weights_dir / "盐城2023.csv")
    out = tmp_path / "yancheng.csv"
    weights.write(w, out)
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(weights.SCHEMA)
    assert "AH11,有创呼吸机支持" in text and ",4.846477501,,false,0.93996516," in text
    back = weights.read(out)
    assert back.equals(w)
    assert back.schema == weights.SCHEMA
    # writing the read frame again gives the same bytes: diff-friendly
    out2 = tmp_path / "again.csv"
    weights.write(back, out2)
    assert out2.read_bytes() == out.read_bytes()


def test_round_trip_extremes(tmp_path: Path) -> None:
    w = weights.from_frame(
        pl.DataFrame(
            {
                "drg": ["A1", "B2", "C3"],
                "name": ['逗号,与"引号"', None, ""],
                "rw": [1 / 3, 1e-12, None],
                "standard": [123456789.123456, None, 0.0],
                "year": [2024, None, 1999],
                "special": [True, False, None],
            }
        ),
        source="test",
    )
    f = tmp_path / "w.csv"
    weights.write(w, f)
    back = weights.read(f)
    # an empty name is written as an empty field and reads back as null
    assert back.equals(w.with_columns(pl.col("name").replace("", None)))


def test_read_minimal_and_errors(tmp_path: Path) -> None:
    w = weights.read(_write(tmp_path / "mini.csv", "drg,rw\nGE29,0.85\nAA19,\n"))
    assert w.schema == weights.SCHEMA
    assert w.select("drg", "rw", "special", "source").rows() == [
        ("GE29", 0.85, False, "mini"),
        ("AA19", None, False, "mini"),
    ]
    with pytest.raises(InputError, match=r"unknown columns: RW.*load_city"):
        weights.read(_write(tmp_path / "city.csv", "drg,RW\nGE29,0.85\n"))
    with pytest.raises(InputError, match=r"bad\.csv: column 'special' is not a yes/no"):
        weights.read(_write(tmp_path / "bad.csv", "drg,special\nGE29,maybe\n"))
    with pytest.raises(InputError, match=r"cannot read .*missing\.csv"):
        weights.read(tmp_path / "missing.csv")


def test_validate_collects_every_problem() -> None:
    frame = weights.from_frame(pl.DataFrame({"drg": ["GE29"], "rw": [1.0]})).clear()
    bad = pl.concat(
        [
            frame,
            pl.DataFrame(
                {
                    "drg": ["A", "A", "B", "C"],
                    "rw": [1.0, 2.0, -1.0, math.nan],
                    "standard_level3": [None, None, None, -5.0],
                    "special": [False, False, None, False],
                    "source": ["s", "s", "s", "s"],
                }
            ),
        ],
        how="diagonal_relaxed",
    )
    with pytest.raises(InputError) as e:
        weights.validate(bad)
    msg = str(e.value)
    for needle in (
        "DRG listed more than once: A",
        "negative rw: B",
        "non-finite rw: C",
        "negative standard_level3: C",
        "null special: B",
    ):
        assert needle in msg
    with pytest.raises(InputError, match="missing columns: name"):
        weights.validate(frame.drop("name"))
    with pytest.raises(InputError, match="columns not in the weights format: extra"):
        weights.validate(frame.with_columns(extra=pl.lit(1)))
    with pytest.raises(InputError, match="column 'rw' is"):
        weights.validate(weights.builtin().with_columns(pl.lit("x").alias("rw")))
    with pytest.raises(InputError, match="empty DRG code"):
        weights.from_frame(pl.DataFrame({"drg": [" "], "rw": [1.0]}))


def test_builtin_teaching() -> None:
    w = weights.builtin()
    assert w.schema == weights.SCHEMA
    assert w.height == 351
    assert w["name"].null_count() == 0
    assert _row(w, "AB19")["rw"] == 22.0
    assert _row(w, "AB19")["name"] == "肝移植"
    assert w["source"].unique().to_list() == ["teaching"]
    assert weights.builtin("teaching").equals(w)


# --- coverage --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def beijing(imported_root: Path, reference: Path) -> TableSet:
    ts, _ = import_opendrg(
        reference / "beijing-2022", "beijing-2022", dest_root=imported_root, overwrite=True
    )
    return ts


def test_coverage_yancheng(yancheng: TableSet, weights_dir: Path) -> None:
    w = weights.load_city(weights_dir / "盐城2023.csv")
    c = weights.coverage(w, yancheng)
    assert c["tables"] == "yancheng-2023"
    assert c["drgs"] == 628 and c["missing"] == [] and c["extra"] == []
    assert c["weighted"] == 628 - 90
    assert c["share"] == pytest.approx(538 / 628)
    no_rw = set(w.filter(pl.col("rw").is_null() & ~pl.col("special"))["drg"])
    assert set(c["unweighted"]) == no_rw and len(no_rw) == 72
    assert len(c["special"]) == 24 and "AA19" in c["special"]
    # a missing DRG and a DRG the set does not have
    w2 = pl.concat([w.filter(pl.col("drg") != "GE29"), w.head(1).with_columns(drg=pl.lit("ZZZ9"))])
    c2 = weights.coverage(w2, yancheng)
    assert c2["missing"] == ["GE29"] and c2["extra"] == ["ZZZ9"]


def test_coverage_beijing(beijing: TableSet, weights_dir: Path) -> None:
    c = weights.coverage(weights.load_city(weights_dir / "北京2022.csv"), beijing)
    assert c["tables"] == "beijing-2022"
    assert (c["drgs"], c["weighted"]) == (696, 647)
    assert c["missing"] == [] and c["unweighted"] == [] and c["extra"] == []
    assert len(c["special"]) == 49


def test_coverage_teaching_by_name() -> None:
    c = weights.coverage(weights.builtin(), "teaching")
    assert (c["drgs"], c["weighted"], c["share"]) == (351, 351, 1.0)
