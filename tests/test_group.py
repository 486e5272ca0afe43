"""The Python API: frame kinds, column aliases, errors, result shape (issue 2, item 6)."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import drgsim
from drgsim.exceptions import ColumnError, DrgsimError, InputError

CASES = {
    "case_id": ["a", "b", "c"],
    "sex": [1, 2, 1],
    "age": [67, 54, 80],
    "dx": ["I63.900,J96.000", "K80.101", "I63.900|I61.900"],
    "px": [None, "51.2300", ""],
}


def test_result_columns_and_order(yancheng):
    out = drgsim.group(pl.DataFrame(CASES), yancheng)
    assert out.columns == list(CASES) + list(drgsim.RESULT_COLUMNS)
    assert out["case_id"].to_list() == ["a", "b", "c"]
    assert out["drg"].to_list() == ["BR21", "HC29", "BR25"]
    assert out["cc_level"].to_list() == ["MCC", "none", "none"]
    assert out["cc_code"].to_list() == ["J96.000", None, None]
    assert out["mdc"].to_list() == ["B", "H", "B"]
    assert out["adrg"].to_list() == ["BR2", "HC2", "BR2"]


def test_frame_kinds_round_trip(yancheng):
    df = pl.DataFrame(CASES)
    eager = drgsim.group(df, yancheng)
    lazy = drgsim.group(df.lazy(), yancheng)
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), eager)
    table = drgsim.group(df.to_arrow(), yancheng)
    assert isinstance(table, pa.Table)
    assert table.column("drg").to_pylist() == eager["drg"].to_list()


def test_list_columns_equal_delimited_strings(yancheng):
    df = pl.DataFrame(CASES)
    as_lists = df.with_columns(
        pl.col("dx")
        .str.split(",")
        .list.eval(pl.element().str.split("|"))
        .list.eval(pl.element().explode()),
        pl.col("px").str.split(","),
    )
    a = drgsim.group(df, yancheng).select(drgsim.RESULT_COLUMNS)
    b = drgsim.group(as_lists, yancheng).select(drgsim.RESULT_COLUMNS)
    assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("sex", "age", "dx", "px"),
    [
        ("gender", "age", "dx_codes", "px_codes"),
        ("性别", "年龄", "诊断编码", "手术及操作编码"),
        ("gend", "age", "dx", "px"),
        ("XB", "NL", "JBDM", "SSJCZBM"),
    ],
)
def test_aliases(yancheng, sex, age, dx, px):
    df = pl.DataFrame(CASES).rename({"sex": sex, "age": age, "dx": dx, "px": px})
    assert drgsim.group(df, yancheng)["drg"].to_list() == ["BR21", "HC29", "BR25"]


def test_explicit_mapping_and_los_alias(yancheng):
    df = pl.DataFrame(CASES).rename({"dx": "codes_of_diagnoses"})
    out = drgsim.group(df, yancheng, columns={"dx": "codes_of_diagnoses"})
    assert out["drg"].to_list()[0] == "BR21"
    with pytest.raises(ColumnError, match="'nope'"):
        drgsim.group(df, yancheng, columns={"dx": "nope"})


def test_missing_and_mistyped_columns_name_the_column(yancheng):
    df = pl.DataFrame(CASES)
    with pytest.raises(ColumnError, match="missing column 'dx'") as e:
        drgsim.group(df.drop("dx"), yancheng)
    assert e.value.column == "dx"
    assert isinstance(e.value, DrgsimError)
    with pytest.raises(ColumnError, match="missing column 'sex'"):
        drgsim.group(df.drop("sex"), yancheng)
    with pytest.raises(ColumnError, match=r"'dx'.*type Int"):
        drgsim.group(df.with_columns(dx=pl.lit(3)), yancheng)
    with pytest.raises(ColumnError, match="'age'"):
        drgsim.group(df.with_columns(age=pl.lit([1, 2])), yancheng)
    with pytest.raises(InputError, match="expected a polars DataFrame"):
        drgsim.group({"sex": [1]}, yancheng)


def test_input_columns_with_result_names_are_replaced(yancheng):
    df = pl.DataFrame(CASES).with_columns(drg=pl.lit("XXXX"), status=pl.lit(1))
    out = drgsim.group(df, yancheng)
    assert out["drg"].to_list() == ["BR21", "HC29", "BR25"]
    assert out.columns.count("drg") == 1


def test_provenance_and_trace(yancheng):
    out = drgsim.group(pl.DataFrame(CASES), yancheng, trace=True, provenance=True)
    assert out["tables_name"].unique().to_list() == ["yancheng-2023"]
    assert out["tables_hash"][0] == yancheng.content_hash
    steps = out["trace"][0].to_list()
    assert steps[0] == {
        "step": "cc",
        "rule": "MCC",
        "outcome": "counted",
        "code": "J96.000",
        "detail": "",
    }
    assert steps[-1]["step"] == "drg" and steps[-1]["rule"] == "BR21"
    excluded = [s for s in out["trace"][2].to_list() if s["outcome"] == "excluded"]
    assert excluded and excluded[0]["code"] == "I61.900"


def test_explain_prints_both_languages(yancheng, capsys):
    e = drgsim.explain({"sex": 1, "age": 67, "dx": ["I63.900", "J96.000"]}, yancheng)
    text = capsys.readouterr().out
    assert e.drg == "BR21"
    assert "主要诊断大类 MDC" in text and "MDCB" in text and "BR21" in text
    assert "细分组 DRG split" in text
    assert "BR21" in repr(e)
    assert "ADRG" in e.text(lang="en") and "核心" not in e.text(lang="en")
    with pytest.raises(InputError, match="one case"):
        drgsim.explain(pl.DataFrame(CASES), yancheng)


def test_empty_frame(yancheng):
    out = drgsim.group(pl.DataFrame(CASES).head(0), yancheng)
    assert out.height == 0 and "drg" in out.columns
