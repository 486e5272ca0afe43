"""DIP catalogues: keys, building by hand, year weights, read/write, import, synthetic region."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import drgsim.dip
from drgsim import synth
from drgsim.dip import catalogue as cat
from drgsim.exceptions import ColumnError, InputError

# ---------------------------------------------------------------------------------------------
# Codes and keys


def test_code_helpers() -> None:
    assert cat.normalise_code(" ｋ８０．０００x004\u3000") == "K80.000X004"
    assert cat.normalise_px("51.2300x001") == "51.2300"
    assert cat.normalise_px("５１。２３") == "51.23"
    assert [cat.chapter_of(c) for c in ("00.6601", "86.2200", "87.0300", "99.2501", "Z1")] == [
        0,
        86,
        87,
        99,
        None,
    ]
    kinds = [cat.treatment_of(c) for c in ("86.2200", "87.0300", "91.0000", "92.0100", "x")]
    assert kinds == ["相关手术", "诊断性操作", "诊断性操作", "治疗性操作", None]
    assert cat.procedure_key(["99.2501", "51.2300x001", "51.2300", "89.5200", "??"]) == (
        "51.2300+99.2501"
    )
    assert cat.procedure_key(["89.5200"], count_diagnostic=True) == "89.5200"
    assert cat.procedure_key([]) == ""


def test_case_keys_lists_and_text() -> None:
    lists = pl.DataFrame(
        {
            "dx": [["K80.000x004", "I10.x05"], [" ｋ８０．１００ "], [], None],
            "px": [["54.5100", "51.2300x001", "89.5200"], ["89.5200"], ["51.2300"], None],
        }
    )
    assert cat.case_keys(lists).rows() == [
        ("K80.0", "51.2300+54.5100", "K80", "相关手术"),
        ("K80.1", "", "K80", "诊断性操作"),
        (None, "51.2300", None, "相关手术"),
        (None, "", None, "保守治疗"),
    ]
    text = pl.DataFrame({"dx": ["K80.000x004|I10.x05", "K80.100"], "px": ["54.5100，51.2300", ""]})
    assert cat.case_keys(text, dx_length=0)["dx_key"].to_list() == ["K80.000X004", "K80.100"]
    assert cat.case_keys(text)["px_key"].to_list() == ["51.2300+54.5100", ""]
    assert cat.case_keys(text, count_diagnostic=True)["treatment"].to_list() == [
        "相关手术",
        "保守治疗",
    ]
    k = cat.case_keys(lists, dx_length=3, count_diagnostic=True)
    assert k["px_key"].to_list()[:2] == ["51.2300+54.5100+89.5200", "89.5200"]
    assert k["dx_key"].to_list()[:2] == ["K80", "K80"]
    no_px = cat.case_keys(pl.DataFrame({"dx": [["A01.000"]]}))
    assert no_px.row(0) == ("A01.0", "", "A01", "保守治疗")
    with pytest.raises(ColumnError):
        cat.case_keys(pl.DataFrame({"x": [1]}))


# ---------------------------------------------------------------------------------------------
# Building by hand


def hand_cases() -> pl.DataFrame:
    """Eleven cases, total cost 88,000, all-case mean 8,000.

    ===  ============  ======================  ===================  ==================
    set  principal dx  procedures              costs                group
    ===  ============  ======================  ===================  ==================
    A    K80.000x004   51.2300                 9,000 10,000 11,000  core K80.0|51.2300
    B    K80.000       51.2300 + 54.5100       16,000               K80|相关手术
    C    K80.100       51.2200x001             14,000               K80|相关手术
    D    K80.200       none                    3,000                K80|保守治疗
    E    J18.900       89.5200 (diagnostic)    4,000 5,000 6,000    core J18.9
    F    J18.000       96.0400 (therapeutic)   8,000                J18|治疗性操作
    G    J18.100       89.5200                 2,000                J18|诊断性操作
    ===  ============  ======================  ===================  ==================

    With threshold 3: means 10,000, 15,000, 3,000, 5,000, 8,000, 2,000 → scores (× 100 ÷
    8,000) 125, 187.5, 37.5, 62.5, 100, 25. E counts no procedure (89 is diagnostic), so its
    combination is empty and its group's treatment is 保守治疗; G (one case) goes to the
    comprehensive group of its own treatment, 诊断性操作.
    """
    rows = [
        ("K80.000x004", ["51.2300"], 9000),
        ("K80.000x004", ["51.2300"], 10000),
        ("K80.000x004", ["51.2300"], 11000),
        ("K80.000", ["51.2300", "54.5100"], 16000),
        ("K80.100", ["51.2200x001"], 14000),
        ("K80.200", [], 3000),
        ("J18.900", ["89.5200"], 4000),
        ("J18.900", ["89.5200"], 5000),
        ("J18.900", ["89.5200"], 6000),
        ("J18.000", ["96.0400"], 8000),
        ("J18.100", ["89.5200"], 2000),
    ]
    return pl.DataFrame(
        {
            "dx": [[d, "I10.x05"] for d, _, _ in rows],
            "px": [p for _, p, _ in rows],
            "total_cost": [float(c) for _, _, c in rows],
        },
        schema_overrides={"px": pl.List(pl.String)},
    )


def test_build_by_hand() -> None:
    c = cat.build(hand_cases(), threshold=3, name="hand", version="1")
    assert c.groups.columns == list(cat.COLUMNS)
    assert c.groups.select("group_id", "kind", "dx_key", "procedures", "treatment").rows() == [
        ("J18.9", "core", "J18.9", "", "保守治疗"),
        ("J18|诊断性操作", "comprehensive", "J18", "", "诊断性操作"),
        ("J18|治疗性操作", "comprehensive", "J18", "", "治疗性操作"),
        ("K80.0|51.2300", "core", "K80.0", "51.2300", "相关手术"),
        ("K80|保守治疗", "comprehensive", "K80", "", "保守治疗"),
        ("K80|相关手术", "comprehensive", "K80", "", "相关手术"),
    ]
    assert c.groups["score"].to_list() == pytest.approx([62.5, 25, 100, 125, 37.5, 187.5])
    assert c.groups["mean_cost"].to_list() == pytest.approx([5000, 2000, 8000, 10000, 3000, 15000])
    assert c.groups["n"].to_list() == [3, 1, 1, 3, 1, 2]
    assert c.meta["mean_cost"] == pytest.approx(8000)
    assert (c.meta["cases"], c.meta["core_cases"]) == (11, 6)
    assert c.meta["core_share"] == pytest.approx(6 / 11)
    assert (c.dx_length, c.scale, c.count_diagnostic, c.threshold) == (5, 100.0, False, 3)
    assert c.meta["name"] == "hand" and c.core.height == 2 and c.comprehensive.height == 4
    assert "core=2" in repr(c)


def test_build_threshold_and_options() -> None:
    # threshold 4: no combination has 4 cases, every group is comprehensive
    c = cat.build(hand_cases(), threshold=4)
    assert c.core.height == 0
    got = dict(c.groups.select("group_id", "score").rows())
    # J18|保守治疗 is empty: E's three cases have a diagnostic procedure → J18|诊断性操作
    # with G: (4,000 + 5,000 + 6,000 + 2,000) / 4 = 4,250 → 53.125
    assert got["J18|诊断性操作"] == pytest.approx(53.125)
    # K80|相关手术 now holds A, B, C: (30,000 + 30,000) / 5 = 12,000 → 150
    assert got["K80|相关手术"] == pytest.approx(150)
    # diagnostic procedures counting: E becomes the core J18.9|89.5200 (treatment 诊断性操作)
    d = cat.build(hand_cases(), threshold=3, count_diagnostic=True)
    assert ("J18.9|89.5200", "诊断性操作") in d.core.select("group_id", "treatment").rows()
    # scale 1000 and the full code as key (A and B share the dx K80.000 no longer)
    e = cat.build(hand_cases(), threshold=3, scale=1000, dx_length=0)
    assert e.groups.filter(pl.col("group_id") == "K80.000X004|51.2300")["score"].item() == (
        pytest.approx(1250)
    )
    # dx_length 3: the key is the category
    f = cat.build(hand_cases(), threshold=3, dx_length=3)
    assert f.core["group_id"].to_list() == ["J18", "K80|51.2300"]


def test_build_trim() -> None:
    """IQR fences of 10, 10, 10, 10, 1000: Q1 = Q3 = 10, so 1000 is dropped: mean 10."""
    cases = pl.DataFrame(
        {"dx": ["A01.000"] * 5 + ["B01.000"], "total_cost": [10.0, 10.0, 10.0, 10.0, 1000.0, 30.0]}
    )
    c = cat.build(cases, threshold=1, trim="iqr")
    assert c.groups["mean_cost"].to_list() == pytest.approx([10, 30])
    assert c.groups["n"].to_list() == [5, 1]
    # all-case mean 14 (70 / 5 used cases): scores 1,000 / 14 and 3,000 / 14
    assert c.groups["score"].to_list() == pytest.approx([1000 / 14, 3000 / 14])


def year_cases() -> pl.DataFrame:
    """Group X: 2022 100; 2023 200; 2024 300 and 500 (mean 400). Group Y: 2022 300; 2024 100.
    A 2021 case of X costing 1,000,000 has no weight and is left out."""
    return pl.DataFrame(
        {
            "dx": ["X01.000"] * 5 + ["Y01.000"] * 2,
            "year": [2022, 2023, 2024, 2024, 2021, 2022, 2024],
            "total_cost": [100.0, 200.0, 300.0, 500.0, 1e6, 300.0, 100.0],
        }
    )


def test_build_year_weights_1_2_7() -> None:
    """Year weights 1:2:7 [DIPW], by hand.

    X = (1·100 + 2·200 + 7·400) / 10 = 3,300 / 10 = 330.
    Y has no 2023 case: (1·300 + 7·100) / (1 + 7) = 1,000 / 8 = 125.
    All cases: 2022 mean (100 + 300) / 2 = 200, 2023 200, 2024 (300 + 500 + 100) / 3 = 300;
    (1·200 + 2·200 + 7·300) / 10 = 2,700 / 10 = 270.
    Scores: 330 / 270 × 100 = 122.22…, 125 / 270 × 100 = 46.30…
    """
    w = {2022: 1, 2023: 2, 2024: 7}
    c = cat.build(year_cases(), year="year", year_weights=w, threshold=1)
    assert c.groups.select("group_id", "n").rows() == [("X01.0", 4), ("Y01.0", 2)]
    assert c.groups["mean_cost"].to_list() == pytest.approx([330, 125])
    assert c.groups["score"].to_list() == pytest.approx([330 / 270 * 100, 125 / 270 * 100])
    assert c.meta["mean_cost"] == pytest.approx(270)
    assert c.meta["year_weights"] == "2022:1, 2023:2, 2024:7"
    # the year from a date column gives the same catalogue
    dated = year_cases().with_columns(
        discharge_date=pl.col("year").map_elements(
            lambda y: dt.date(y, 6, 30), return_dtype=pl.Date
        )
    )
    d = cat.build(dated.drop("year"), year="discharge_date", year_weights=w, threshold=1)
    assert d.groups.equals(c.groups)
    # the threshold counts only cases of weighted years: X has 4, not 5
    assert cat.build(year_cases(), year="year", year_weights=w, threshold=5).core.height == 0
    assert cat.build(year_cases(), threshold=5).core["group_id"].to_list() == ["X01.0"]


def test_build_errors() -> None:
    cases = hand_cases()
    with pytest.raises(ColumnError, match="cost"):
        cat.build(cases, cost="nope")
    with pytest.raises(InputError, match="threshold"):
        cat.build(cases, threshold=0)
    with pytest.raises(InputError, match="neither an integer nor a date"):
        cat.build(year_cases().with_columns(year=pl.lit("last year")), year="year")
    with pytest.raises(InputError, match="year_weights needs year"):
        cat.build(cases, year_weights={2024: 1})
    with pytest.raises(InputError, match="cost"):
        cat.build(cases.with_columns(total_cost=pl.lit(-1.0)))
    with pytest.raises(InputError, match="no case"):
        cat.build(
            pl.DataFrame({"dx": [None], "total_cost": [1.0]}, schema_overrides={"dx": pl.String})
        )


# ---------------------------------------------------------------------------------------------
# Write and read


@pytest.mark.parametrize("name", ["c.csv", "c.parquet"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    c = cat.build(
        year_cases(), year="year", year_weights={2022: 1, 2023: 2, 2024: 7}, threshold=1,
        name="区域", version="2024",
    )  # fmt: skip
    path = tmp_path / name
    cat.write(c, path)
    back = cat.read(path)
    assert back.groups.equals(c.groups)
    assert back.meta == c.meta
    if name.endswith(".csv"):
        toml = (tmp_path / "catalogue.toml").read_text(encoding="utf-8")
        assert 'name = "区域"' in toml and "dx_length = 5" in toml
    hand = cat.build(hand_cases(), threshold=3, count_diagnostic=True)
    cat.write(hand, path)
    assert cat.read(path).groups.equals(hand.groups)
    assert cat.read(path).count_diagnostic is True


def test_read_without_meta_uses_defaults(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(
        "\ufeffgroup_id,kind,dx_key,procedures,treatment,score\n"
        "a,core,k80.0,54.5100 / 51.2300x001,,120\n"
        "b,comprehensive,K80,,相关手术,90.5\n",
        encoding="utf-8",
    )
    c = cat.read(tmp_path / "c.csv")
    assert c.meta == cat.META_DEFAULTS
    assert c.groups.select("dx_key", "procedures", "treatment", "score").rows() == [
        ("K80.0", "51.2300+54.5100", "相关手术", 120.0),
        ("K80", "", "相关手术", 90.5),
    ]
    assert c.groups["mean_cost"].dtype == pl.Float64 and c.groups["n"].dtype == pl.Int64


def bad(
    tmp_path: Path, body: str, header: str = "group_id,kind,dx_key,procedures,treatment,score"
) -> str:
    p = tmp_path / "bad.csv"
    p.write_text(header + "\n" + body, encoding="utf-8")
    with pytest.raises(InputError) as e:
        cat.read(p)
    return str(e.value)


def test_read_problems_name_file_line_and_column(tmp_path: Path) -> None:
    msg = bad(tmp_path, "a,core,K80.0,51.2300,相关手术,1\na,core,K80.1,51.2300,相关手术,2\n")
    assert (
        f"{tmp_path / 'bad.csv'}:3: column 'group_id': duplicate group id 'a' (first on line 2)"
        in msg
    )
    msg = bad(tmp_path, "a,major,K80.0,,保守治疗,1\n")
    assert "bad.csv:2: column 'kind'" in msg
    msg = bad(
        tmp_path, "a,core,K80.0,,保守治疗,-3\nb,core,K80.1,,保守治疗,x\nc,core,K80.2,,保守治疗,\n"
    )
    assert "bad.csv:2: column 'score': score must be a finite number >= 0" in msg
    assert "bad.csv:3: column 'score': 'x' is not a number" in msg
    assert "bad.csv:4: column 'score': score is required" in msg
    msg = bad(tmp_path, "a,comprehensive,K80,,手术刀,1\n")
    assert "bad.csv:2: column 'treatment': treatment must be one of" in msg
    msg = bad(tmp_path, "a,core,K80.0,89.5200,诊断性操作,1\n")
    assert "count_diagnostic is false" in msg
    msg = bad(tmp_path, "a,core,K80.0,51.2300,相关手术,1\nb,core,K80.0,51.2300,相关手术,2\n")
    assert "bad.csv:2: column 'procedures': two core groups" in msg
    msg = bad(tmp_path, "a,core,K80.0,51.2300,保守治疗,1\n")
    assert "bad.csv:2: column 'treatment': core group's treatment '保守治疗'" in msg
    msg = bad(tmp_path, "a,core,K80.0,ABC,相关手术,1\n")
    assert "'ABC': not an ICD-9-CM-3 procedure code" in msg
    msg = bad(tmp_path, "a,core,K80.0,1\n", header="group_id,kind,dx_key,score")
    assert "bad.csv:1: missing column(s) 'procedures', 'treatment'" in msg
    (tmp_path / "catalogue.toml").write_text("dx_length = -1\n", encoding="utf-8")
    msg = bad(tmp_path, "a,core,K80.0,,保守治疗,1\n")
    assert "catalogue.toml" in msg and "dx_length" in msg
    with pytest.raises(InputError, match="not found"):
        cat.read(tmp_path / "none.csv")
    with pytest.raises(InputError, match="file type"):
        cat.write(cat.build(hand_cases()), tmp_path / "c.xlsx")


def test_validate_frame() -> None:
    g = pl.DataFrame(
        {
            "group_id": ["a"], "kind": ["core"], "dx_key": ["K80.0"], "procedures": ["51.2300"],
            "treatment": [None], "score": [100],
        }
    )  # fmt: skip
    c = cat.validate(g, {"dx_length": 5})
    assert c.groups["treatment"].item() == "相关手术"
    with pytest.raises(InputError, match="row 1: column 'score'"):
        cat.validate(g.with_columns(score=pl.lit(-1)))


# ---------------------------------------------------------------------------------------------
# Import of a published catalogue


JINING_LIKE = (
    "病种编码,病种名称,主要诊断编码,手术操作编码,病种分值,病种类型\n"
    "D0001,胆囊结石伴急性胆囊炎,K80.0,51.2300x001/54.5100,1205.5,核心\n"
    "D0002,胆囊结石伴急性胆囊炎,K80.0,51.2300,980,核心\n"
    "D0003,胆囊结石伴急性胆囊炎,K80.0,保守治疗,420,核心\n"
    'D0004,肺炎,J18.9,"96.0400,93.9000",610,核心\n'
    "D0005,肺炎,J18.9,99.1800|99.2100,650,核心\n"
    "D0006,胆石病,K80,相关手术,1100,综合\n"
    "D0007,胆石病,K80,保守治疗,380,综合\n"
    "D0008,结石,K80.2,５１．２２００＋54.5100,1300,核心病种\n"
)


def test_import_chinese_headers(tmp_path: Path) -> None:
    p = tmp_path / "济宁2023.csv"
    p.write_text(JINING_LIKE, encoding="utf-8")
    c = cat.import_catalogue(p, meta={"scale": 1000, "version": "2023"})
    assert c.groups.select("group_id", "kind", "dx_key", "procedures", "treatment").rows() == [
        ("D0001", "core", "K80.0", "51.2300+54.5100", "相关手术"),
        ("D0002", "core", "K80.0", "51.2300", "相关手术"),
        ("D0003", "core", "K80.0", "", "保守治疗"),
        ("D0004", "core", "J18.9", "93.9000+96.0400", "治疗性操作"),
        ("D0005", "core", "J18.9", "99.1800+99.2100", "治疗性操作"),
        ("D0006", "comprehensive", "K80", "", "相关手术"),
        ("D0007", "comprehensive", "K80", "", "保守治疗"),
        ("D0008", "core", "K80.2", "51.2200+54.5100", "相关手术"),
    ]
    assert c.groups["score"].to_list() == [1205.5, 980, 420, 610, 650, 1100, 380, 1300]
    assert c.groups["name"][0] == "胆囊结石伴急性胆囊炎"
    assert (c.dx_length, c.scale, c.count_diagnostic) == (5, 1000.0, False)
    assert c.meta["source"] == str(p) and c.meta["version"] == "2023"
    # the same in GB18030, written back and read in the project layout
    q = tmp_path / "gbk.csv"
    q.write_bytes(JINING_LIKE.encode("gb18030"))
    assert cat.import_catalogue(q, meta={"scale": 1000}).groups.equals(c.groups)
    cat.write(c, tmp_path / "out" / "c.parquet") if (tmp_path / "out").mkdir() is None else None
    assert cat.read(tmp_path / "out" / "c.parquet").groups.equals(c.groups)


def test_import_without_ids_kinds_and_with_mapping(tmp_path: Path) -> None:
    p = tmp_path / "region.csv"
    p.write_text(
        "主要诊断编码,操作编码,RW分值,治疗方式\n"
        "K80.000,51.2300,1.2,\n"
        "K80,,0.9,手术\n"
        "I10,,0.5,保守\n"
        "J18.900,89.5200,0.7,\n",
        encoding="utf-8",
    )
    c = cat.import_catalogue(p, mapping={"score": "RW分值"})
    assert c.groups.select("group_id", "kind", "treatment", "score").rows() == [
        ("K80.000|51.2300", "core", "相关手术", 1.2),
        ("K80|相关手术", "comprehensive", "相关手术", 0.9),
        ("I10", "core", "保守治疗", 0.5),
        ("J18.900|89.5200", "core", "诊断性操作", 0.7),
    ]
    # the longest core key has 7 characters; a diagnostic procedure is listed
    assert (c.dx_length, c.count_diagnostic) == (7, True)
    with pytest.raises(InputError, match="no column for 'score'"):
        cat.import_catalogue(p)
    with pytest.raises(InputError, match="does not have"):
        cat.import_catalogue(p, mapping={"score": "分"})
    p.write_text("主要诊断编码,分值\nK80.0,abc\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"region.csv:2: column 'score'"):
        cat.import_catalogue(p)


# ---------------------------------------------------------------------------------------------
# A synthetic region over three years


@pytest.fixture(scope="module")
def region() -> pl.DataFrame:
    years = [(2022, 11), (2023, 12), (2024, 13)]
    return pl.concat(
        [synth.hospital("teaching", cases=20_000, hospitals=5, seed=s, year=y) for y, s in years]
    )


def test_synthetic_region_catalogue(region: pl.DataFrame, tmp_path: Path) -> None:
    w = {2022: 1, 2023: 2, 2024: 7}
    c = cat.build(region, year="discharge_date", year_weights=w, threshold=5, name="synth")
    keys = cat.case_keys(region)
    counts = keys.group_by("dx_key", "px_key").len()
    core_cases = counts.filter(pl.col("len") >= 5)["len"].sum()
    assert c.meta["core_cases"] == core_cases
    assert c.meta["core_share"] > 0.6  # core groups take most cases
    assert c.groups["n"].sum() == region.height
    assert c.groups["group_id"].n_unique() == c.groups.height
    assert (c.groups["score"] > 0).all()
    # a higher threshold gives fewer core groups and a smaller share
    d = cat.build(region, year="discharge_date", year_weights=w, threshold=15)
    assert d.core.height < c.core.height and d.meta["core_share"] < c.meta["core_share"]
    # Σ over groups of n × mean_cost is not the total (year weights), but scores are relative:
    # the year-weighted all-case mean equals mean_cost ÷ score × scale of every group
    ratio = c.groups.select(pl.col("mean_cost") / pl.col("score") * 100).to_series()
    assert ratio.min() == pytest.approx(c.meta["mean_cost"]) == pytest.approx(ratio.max())
    cat.write(c, tmp_path / "synth.parquet")
    assert cat.read(tmp_path / "synth.parquet").groups.equals(c.groups)


def test_matcher_agrees_with_case_keys(region: pl.DataFrame) -> None:
    """The Rust matcher keys cases as case_keys does: exact matches are the core group of the
    case's (dx_key, px_key), comprehensive ones the group of its category and treatment."""
    match = getattr(drgsim.dip, "match", None)
    if match is None:
        pytest.skip("drgsim.dip.match is not available")
    c = cat.build(region.head(30_000), threshold=5)
    current = region.tail(10_000)
    m = match(current, c).with_columns(cat.case_keys(current))
    exact = m.filter(pl.col("dip_reason") == "exact")
    assert exact.height > 0
    want = (
        pl.when(pl.col("px_key") == "")
        .then("dx_key")
        .otherwise(pl.col("dx_key") + "|" + pl.col("px_key"))
    )
    assert exact.select((pl.col("dip_group") == want).all()).item()
    comp = m.filter(pl.col("dip_reason") == "comprehensive")
    assert comp.select(
        (pl.col("dip_group") == pl.col("category") + "|" + pl.col("treatment")).all()
    ).item()


def test_threshold_for_coverage(region: pl.DataFrame) -> None:
    """The threshold found gives core groups covering at least the share asked for, and one
    more case per group would not."""
    t = cat.threshold_for_coverage(region, 0.6)
    c = cat.build(region, threshold=t)
    assert c.meta["core_share"] >= 0.6
    assert cat.build(region, threshold=t + 1).meta["core_share"] < 0.6
    assert cat.threshold_for_coverage(hand_cases(), 6 / 11) == 3
    assert cat.threshold_for_coverage(hand_cases(), 1.0) == 1
    with pytest.raises(InputError, match="share"):
        cat.threshold_for_coverage(hand_cases(), 0)
