"""Bad input of any kind gives per-row statuses: never a crash, never a lost row."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgsim
from drgsim.io import read_cases

STATUSES = {"ok", "qy", "ungroupable", "invalid"}

messy_text = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", " ", "abc", "-1", "1e400", "NaN", "3.5", "１２", "男", "女", "M", "x"]),
)
code = st.one_of(
    st.sampled_from(
        [
            "I63.900",
            "J96.000",
            "K35.800x001",
            "47.0901",
            "51.2300",
            "i63.900 ",
            "Ｉ６３．９００",
            "",
            " ",
            "ZZZ.999",
            "I61.900",
            "O80.000",
        ]
    ),
    st.text(max_size=14),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "sex": messy_text,
                "age": messy_text,
                "age_days": messy_text,
                "birth_weight_g": messy_text,
                "los_days": messy_text,
                "discharge_type": messy_text,
                "dx": st.one_of(st.none(), st.lists(st.one_of(st.none(), code), max_size=5)),
                "px": st.one_of(st.none(), st.lists(st.one_of(st.none(), code), max_size=4)),
            }
        ),
        min_size=1,
        max_size=30,
    )
)
def test_messy_rows_keep_their_place(yancheng, rows):
    df = pl.DataFrame(
        rows,
        schema={
            "sex": pl.String,
            "age": pl.String,
            "age_days": pl.String,
            "birth_weight_g": pl.String,
            "los_days": pl.String,
            "discharge_type": pl.String,
            "dx": pl.List(pl.String),
            "px": pl.List(pl.String),
        },
    ).with_row_index("row")
    out = drgsim.group(df, yancheng)
    assert out.height == df.height
    assert out["row"].to_list() == list(range(df.height))
    assert set(out["status"].unique().to_list()) <= STATUSES
    bad = out.filter(pl.col("status") == "invalid")
    assert bad["reason"].null_count() == 0
    assert (bad["drg"] == "0000").all()
    assert out.filter(pl.col("status") == "ok")["drg"].str.len_chars().eq(4).all()


def test_each_kind_of_bad_value_has_its_reason(yancheng):
    df = pl.DataFrame(
        {
            "sex": ["1", "2", "7", "男", "X", "1", "1", "1", None, "1"],
            "age": ["60", "abc", "60", "60", "60", None, "60", "60", "60", "-3"],
            "dx": [
                "I63.900",
                "I63.900",
                "I63.900",
                "I63.900",
                "I63.900",
                "I63.900",
                "",
                "QQQ",
                "N40.x00",
                "I63.900",
            ],
        }
    )
    out = drgsim.group(df, yancheng)
    assert out["reason"].to_list() == [
        None,
        "bad_value",
        "invalid_sex",
        None,
        "bad_value",
        "missing_age",
        "empty_principal_dx",
        "unknown_principal_dx",
        "sex_conflict",
        "bad_value",
    ]
    assert "age: 'abc' is not a number" in out["message"][1]
    assert "sex: 'X'" in out["message"][4]
    assert "QQQ" in out["message"][7]


def test_unknown_secondary_codes_are_reported_not_fatal(yancheng):
    out = drgsim.group(
        pl.DataFrame(
            {"sex": [1], "age": [60], "dx": ["I63.900,NOT.A.CODE"], "px": ["99.9999x999"]}
        ),
        yancheng,
    )
    assert out["status"][0] == "ok"
    assert "NOT.A.CODE" in out["message"][0] and "99.9999x999" in out["message"][0]


def test_non_utf8_csv_keeps_every_row(yancheng, tmp_path):
    p = tmp_path / "cases.csv"
    p.write_bytes(
        b"sex,age,dx,px\n1,60,I63.900,\n"
        + b"2,50,K35.8\xff\xfe,47.0901\n"
        + b"1,70,I63.900|J96.000,\n"
    )
    df = read_cases(p)
    out = drgsim.group(df, yancheng)
    assert out.height == 3
    assert out["status"].to_list() == ["ok", "invalid", "ok"]
    assert out["reason"][1] == "unknown_principal_dx"


def test_nulls_everywhere(yancheng):
    df = pl.DataFrame({"sex": [None], "age": [None], "dx": [None], "px": [None]})
    out = drgsim.group(df, yancheng)
    assert out["status"].to_list() == ["invalid"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e300])
def test_float_extremes(yancheng, value):
    df = pl.DataFrame({"sex": [1], "age": [value], "dx": ["I63.900"]})
    assert drgsim.group(df, yancheng)["status"][0] in {"invalid", "ok"}


def test_gbk_csv_reads_with_its_headers(yancheng, tmp_path):
    """A GBK export (as Chinese-locale tools write it) keeps its Chinese headers."""
    p = tmp_path / "gbk.csv"
    p.write_bytes("性别,年龄,诊断编码\n男,60,I63.900\n".encode("gbk"))
    df = read_cases(p)
    assert df.columns == ["性别", "年龄", "诊断编码"]
    assert drgsim.group(df, yancheng)["drg"].to_list() == ["BR25"]
