"""The bad-input matrix: every input column × every kind of bad value, with the status,
reason and message each gives; whole columns of the wrong type; files that are not UTF-8.

Whatever the input, the output has one row per input row, in input order, with every input
column carried through unchanged (test_bad_input.py checks the same on random rows).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass

import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

import drgsim
from drgsim.columns import CANONICAL, MAX_QUOTED
from drgsim.exceptions import ColumnError, InputError
from drgsim.io import read_cases

#: A valid case (盐城 2023: BR25) that each matrix row spoils in one column.
BASE: dict[str, str | None] = {
    "sex": "1",
    "age": "60",
    "age_days": None,
    "birth_weight_g": None,
    "los_days": "8",
    "discharge_type": "1",
    "dx": "I63.900",
    "px": None,
}
BASE_DRG = "BR25"
OVERLONG = "9" * 5000 + "x"  # a number-looking value that is not a number, 5001 characters
LONG_CODE = "Q" * 5000


@dataclass(frozen=True)
class Bad:
    column: str
    kind: str
    value: str | None
    status: str
    reason: str | None = None
    message: str | None = None  # a fragment of the message (None: the message is empty)

    @property
    def id(self) -> str:
        return f"{self.column}-{self.kind}"


def _numeric(col: str, *, missing: tuple[str, str | None, str | None], big: str) -> list[Bad]:
    """The kinds every numeric column shares; ``missing`` is what a null gives, ``big`` the
    status of 99999999."""
    st, reason, msg = missing
    bad = ("invalid", "bad_value")
    big_bad = (
        [Bad(col, "out_of_range", "99999999", "invalid", "bad_value", f"{col} = 99999999")]
        if big == "invalid"
        else [Bad(col, "out_of_range", "99999999", "ok")]
    )
    return [
        Bad(col, "null", None, st, reason, msg),
        Bad(col, "empty", "", st, reason, msg),
        Bad(col, "blank", "  \t", st, reason, msg),
        Bad(col, "ideographic_space", "\u3000", st, reason, msg),
        Bad(col, "not_a_number", "abc", *bad, f"{col}: 'abc' is not a number"),
        Bad(col, "unit_suffix", "6岁", *bad, f"{col}: '6岁' is not a number"),
        Bad(col, "negative", "-1", *bad, f"{col} = -1 is not a valid value"),
        Bad(col, "nan", "NaN", *bad, f"{col} = NaN is not a valid value"),
        Bad(col, "infinite", "inf", *bad, f"{col} = inf is not a valid value"),
        Bad(col, "overflow", "1e400", *bad, f"{col} = inf is not a valid value"),
        *big_bad,
        Bad(col, "overlong", OVERLONG, *bad, f"({len(OVERLONG)} characters)' is not a number"),
        Bad(col, "full_width", "６", "ok"),
        Bad(col, "mixed_full_width", "６.5", "ok"),
        Bad(col, "formula", "=1+1", *bad, f"{col}: '=1+1' is not a number"),
        Bad(col, "at_formula", "@SUM(A1)", *bad, f"{col}: '@SUM(A1)' is not a number"),
        Bad(col, "plus_sign", "+3", "ok"),
        Bad(col, "hex", "0x10", *bad, f"{col}: '0x10' is not a number"),
        Bad(col, "thousands", "1,000", *bad, f"{col}: '1,000' is not a number"),
        Bad(col, "control_char", "6\x000", *bad, f"{col}: '6\x000' is not a number"),
        Bad(col, "arabic_indic", "٦", *bad, f"{col}: '٦' is not a number"),
    ]


MATRIX: list[Bad] = [
    # ---- sex: codes 1/2 (0/9 unknown), 男/女, M/F; missing is allowed
    Bad("sex", "null", None, "ok"),
    Bad("sex", "empty", "", "ok"),
    Bad("sex", "blank", "  ", "ok"),
    Bad("sex", "unknown_0", "0", "ok"),
    Bad("sex", "unknown_9", "9", "ok"),
    Bad("sex", "chinese", "女", "ok"),
    Bad("sex", "letter", "m", "ok"),
    Bad("sex", "word", "abc", "invalid", "bad_value", "sex: 'abc' is not a recognised sex"),
    Bad("sex", "out_of_range", "7", "invalid", "invalid_sex", "sex code 7 is not 1 (male)"),
    Bad("sex", "negative", "-1", "invalid", "invalid_sex", "sex code -1"),
    Bad("sex", "fraction", "1.5", "invalid", "invalid_sex", "sex code 1.5"),
    Bad("sex", "nan", "NaN", "invalid", "invalid_sex", "sex code NaN"),
    Bad("sex", "overlong", "x" * 5000, "invalid", "bad_value", "(5000 characters)"),
    Bad("sex", "full_width_digit", "２", "ok"),
    Bad("sex", "full_width_letter", "Ｆ", "ok"),
    Bad("sex", "ideographic_space", "男\u3000", "ok"),
    Bad("sex", "formula", "=1", "invalid", "bad_value", "sex: '=1' is not a recognised"),
    Bad("sex", "at_formula", "@A1", "invalid", "bad_value", "sex: '@A1'"),
    # ---- age: required (or derived from age_days); 0..150
    *[
        b
        for b in _numeric(
            "age", missing=("invalid", "missing_age", "age is missing"), big="invalid"
        )
        if b.kind != "out_of_range"
    ],
    Bad("age", "out_of_range", "151", "invalid", "bad_value", "age = 151 is out of range"),
    Bad("age", "boundary", "150", "ok"),
    # ---- the optional numbers: missing is fine; no upper bound in the grouper
    *_numeric("age_days", missing=("ok", None, None), big="ok"),
    *_numeric("birth_weight_g", missing=("ok", None, None), big="ok"),
    *_numeric("los_days", missing=("ok", None, None), big="ok"),
    *_numeric("discharge_type", missing=("ok", None, None), big="ok"),
    Bad("discharge_type", "unknown_code", "7", "ok"),  # the grouper does not judge codes
    # ---- dx: principal first
    Bad("dx", "null", None, "invalid", "empty_principal_dx", "no principal diagnosis"),
    Bad("dx", "empty", "", "invalid", "empty_principal_dx", "no principal diagnosis"),
    Bad("dx", "blank", " \t ", "invalid", "empty_principal_dx", "no principal diagnosis"),
    Bad("dx", "separators_only", "|,;", "invalid", "empty_principal_dx", "no principal"),
    Bad("dx", "unknown", "abc", "invalid", "unknown_principal_dx", "principal diagnosis 'abc'"),
    Bad("dx", "number", "12345", "invalid", "unknown_principal_dx", "'12345'"),
    Bad("dx", "overlong", LONG_CODE, "invalid", "unknown_principal_dx", "(5000 characters)"),
    Bad("dx", "full_width", "Ｉ６３．９００", "ok"),
    Bad("dx", "mixed_full_width", "I６3.９00", "ok"),
    Bad("dx", "lower_case_padded", " i63.900 ", "ok"),
    Bad("dx", "full_width_separator", "I63.900，J96.000", "ok"),
    Bad("dx", "formula", "=I63.900", "invalid", "unknown_principal_dx", "'=I63.900'"),
    Bad("dx", "minus_formula", "-I63.900", "invalid", "unknown_principal_dx", "'-I63.900'"),
    Bad("dx", "unknown_secondary", "I63.900|=1+1", "ok", None, "unknown codes ignored: =1+1"),
    # ---- px: unknown procedures are ignored and named
    Bad("px", "null", None, "ok"),
    Bad("px", "empty", "", "ok"),
    Bad("px", "blank", "  ", "ok"),
    Bad("px", "separators_only", "||", "ok"),
    Bad("px", "unknown", "abc", "ok", None, "unknown codes ignored: abc"),
    Bad("px", "overlong", LONG_CODE, "ok", None, "(5000 characters)"),
    Bad("px", "formula", "=1+1", "ok", None, "unknown codes ignored: =1+1"),
    Bad("px", "at_formula", "@SUM(A1)", "ok", None, "unknown codes ignored: @SUM(A1)"),
    Bad(
        "px",
        "many_unknown",
        "|".join(f"BAD{i}" for i in range(30)),
        "ok",
        None,
        "BAD19, … 10 more",
    ),
]


def _frame(rows: list[dict[str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={c: pl.String for c in CANONICAL})


def _row(b: Bad) -> dict[str, str | None]:
    return {**BASE, b.column: b.value}


def test_the_base_case_groups(yancheng):
    out = drgsim.group(_frame([BASE]), yancheng)
    assert out.select("status", "reason", "message", "drg").row(0) == ("ok", None, None, BASE_DRG)


def test_every_column_and_kind_is_in_the_matrix():
    kinds = {c: {b.kind for b in MATRIX if b.column == c} for c in CANONICAL}
    for col in CANONICAL:
        assert {"null", "empty", "overlong", "formula"} <= kinds[col], col
    assert len({b.id for b in MATRIX}) == len(MATRIX)


@pytest.mark.parametrize("bad", MATRIX, ids=[b.id for b in MATRIX])
def test_bad_value(yancheng, bad: Bad):
    out = drgsim.group(_frame([_row(bad)]), yancheng)
    status, reason, message, drg = out.select("status", "reason", "message", "drg").row(0)
    assert (status, reason) == (bad.status, bad.reason), message
    if bad.message is None:
        assert message is None
    else:
        assert message is not None and bad.message in message
    if status == "invalid":
        assert drg == "0000"
    # a message quotes only the start of an overlong value
    assert message is None or len(message) < 4 * MAX_QUOTED + 200
    # the input column itself is carried through as it was
    assert out[bad.column].to_list() == [bad.value]


@pytest.mark.parametrize("threads", [1, 2])
def test_the_whole_matrix_at_once_keeps_rows_in_place(yancheng, threads):
    """All matrix rows in one frame, repeated across the engine's 8192-row chunks: each row
    gets the result it gets alone, in its place, with the user's columns untouched."""
    rows = [_row(b) for b in MATRIX]
    n = 20_000
    idx = [(i * 7919) % len(rows) for i in range(n)]
    df = _frame([rows[i] for i in idx]).with_columns(
        pl.Series("case_id", [f"{i:06d}" for i in range(n)]),
        pl.Series("matrix_row", idx, dtype=pl.Int32),
    )
    out = drgsim.group(df, yancheng, threads=threads)
    assert out.height == n
    assert_frame_equal(out.select(df.columns), df)
    expect = pl.DataFrame(
        {
            "matrix_row": range(len(MATRIX)),
            "e_status": [b.status for b in MATRIX],
            "e_reason": [b.reason for b in MATRIX],
        },
        schema_overrides={"matrix_row": pl.Int32, "e_reason": pl.String},
    )
    got = out.join(expect, on="matrix_row", how="left", maintain_order="left")
    assert (got["status"] == got["e_status"]).all()
    assert got["reason"].eq_missing(got["e_reason"]).all()


# --------------------------------------------------------------------------- whole columns
def _cases(**cols: pl.Series | list[object]) -> pl.DataFrame:
    base: dict[str, object] = {"sex": [1, 2, 1], "age": [60, 50, 70], "dx": ["I63.900"] * 3}
    return pl.DataFrame({**base, **cols})


CONVERTED = [
    ("sex_float", {"sex": [1.0, 2.0, None]}, ["ok", "ok", "ok"]),
    ("sex_int8", {"sex": pl.Series([1, 2, 3], dtype=pl.Int8)}, ["ok", "ok", "invalid"]),
    ("sex_uint64", {"sex": pl.Series([1, 2, 9], dtype=pl.UInt64)}, ["ok", "ok", "ok"]),
    (
        "age_float32",
        {"age": pl.Series([60.5, -1.0, None], dtype=pl.Float32)},
        ["ok", "invalid", "invalid"],
    ),
    (
        "age_decimal",
        {"age": pl.Series([decimal.Decimal("60.5"), decimal.Decimal("-1"), None])},
        ["ok", "invalid", "invalid"],
    ),
    ("age_int128", {"age": pl.Series([60, 200, 1], dtype=pl.Int128)}, ["ok", "invalid", "ok"]),
    (
        "sex_categorical",
        {"sex": pl.Series(["男", "女", "X"], dtype=pl.Categorical)},
        ["ok", "ok", "invalid"],
    ),
    ("sex_enum", {"sex": pl.Series(["1", "2", None], dtype=pl.Enum(["1", "2"]))}, ["ok"] * 3),
    (
        "dx_categorical",
        {"dx": pl.Series(["I63.900", "QQQ", None], dtype=pl.Categorical)},
        ["ok", "invalid", "invalid"],
    ),
    (
        "dx_list_categorical",
        {"dx": pl.Series([["I63.900"], [], None], dtype=pl.List(pl.Categorical))},
        ["ok", "invalid", "invalid"],
    ),
    (
        "dx_array",
        {"dx": pl.Series([["I63.900", "J96.000"]] * 3, dtype=pl.Array(pl.String, 2))},
        ["ok"] * 3,
    ),
    (
        "dx_list_with_nulls",
        {"dx": [["I63.900", None], [None, "I63.900"], []]},
        ["ok", "ok", "invalid"],
    ),
    ("dx_all_null", {"dx": pl.Series([None] * 3, dtype=pl.Null)}, ["invalid"] * 3),
    ("age_all_null", {"age": pl.Series([None] * 3, dtype=pl.Null)}, ["invalid"] * 3),
    ("los_all_null_string", {"los_days": pl.Series([None] * 3, dtype=pl.String)}, ["ok"] * 3),
]


@pytest.mark.parametrize(("name", "cols", "statuses"), CONVERTED, ids=[c[0] for c in CONVERTED])
def test_column_types_that_are_converted(yancheng, name, cols, statuses):
    df = _cases(**cols)
    out = drgsim.group(df, yancheng)
    assert out["status"].to_list() == statuses
    assert_frame_equal(out.select(df.columns), df)  # the input as it was, types too


REFUSED = [
    ("sex_bool", {"sex": [True, False, None]}, "true/false column"),
    ("age_bool", {"age": [True, False, True]}, "true/false column"),
    ("los_bool", {"los_days": [True, False, True]}, "true/false column"),
    ("sex_list", {"sex": [["1"], ["2"], None]}, "has type List"),
    ("age_date", {"age": [dt.date(1960, 1, 1)] * 3}, "has type Date"),
    ("age_datetime", {"age": [dt.datetime(1960, 1, 1)] * 3}, "has type Datetime"),
    ("los_duration", {"los_days": [dt.timedelta(days=3)] * 3}, "has type Duration"),
    ("age_struct", {"age": [{"y": 60}] * 3}, "has type Struct"),
    ("sex_binary", {"sex": [b"1"] * 3}, "has type Binary"),
    ("dx_int", {"dx": [1, 2, 3]}, "expected list.str. or str"),
    ("dx_float", {"dx": [1.5, 2.5, None]}, "expected list.str. or str"),
    ("dx_list_int", {"dx": [[1], [2], None]}, "expected list.str. or str"),
    ("dx_binary", {"dx": [b"I63.900"] * 3}, "expected list.str. or str"),
    ("px_bool", {"px": [True, False, None]}, "expected list.str. or str"),
    ("px_struct", {"px": [{"code": "47.0901"}] * 3}, "expected list.str. or str"),
]


@pytest.mark.parametrize(("name", "cols", "match"), REFUSED, ids=[c[0] for c in REFUSED])
def test_column_types_that_are_refused(yancheng, name, cols, match):
    """A column that cannot hold the values is a mapping mistake: one clear ColumnError
    naming the column, before any row is grouped."""
    column = next(iter(cols))
    with pytest.raises(ColumnError, match=match) as e:
        drgsim.group(_cases(**cols), yancheng)
    assert repr(column) in str(e.value)


def test_missing_required_column_names_the_aliases(yancheng):
    with pytest.raises(ColumnError, match="recognised names are sex, gender"):
        drgsim.group(pl.DataFrame({"age": [60], "dx": ["I63.900"]}), yancheng)


def test_age_days_stands_in_for_a_missing_age_column(yancheng):
    df = pl.DataFrame({"sex": [1, 2], "age_days": [20000, None], "dx": ["I63.900"] * 2})
    assert drgsim.group(df, yancheng)["reason"].to_list() == [None, "missing_age"]


# --------------------------------------------------------------------------- carried through
def _awkward(n: int) -> pl.DataFrame:
    """User columns of awkward types, ``n`` rows."""
    return pl.DataFrame(
        {
            "id": pl.Series(range(n), dtype=pl.Int64),
            "病案号": [f"{i:08d}" for i in range(n)],
            "": ["blank-named"] * n,
            " spaced ": ["x"] * n,
            "cat": pl.Series(["a", "b"] * (n // 2) + ["a"] * (n % 2), dtype=pl.Categorical),
            "when": pl.Series(
                [dt.datetime(2024, 1, 1, 8, 30) + dt.timedelta(hours=i) for i in range(n)]
            ).dt.replace_time_zone("Asia/Shanghai"),
            "money": pl.Series([decimal.Decimal("1.10")] * n),
            "big": pl.Series([2**100] * n, dtype=pl.Int128),
            "f": [float("nan"), float("-inf")] * (n // 2) + [0.0] * (n % 2),
            "flag": [True, None] * (n // 2) + [False] * (n % 2),
            "ints": [[1, 2], None] * (n // 2) + [[]] * (n % 2),
            "nested": [{"a": 1, "b": ["x"]}] * n,
            "raw": [b"\xff\x00"] * n,
            "nothing": pl.Series([None] * n, dtype=pl.Null),
            "note": ['=HYPERLINK("x")', "@a"] * (n // 2) + ["+1"] * (n % 2),
        }
    )


def test_user_columns_of_any_type_come_through_unchanged(yancheng):
    rows = [_row(b) for b in MATRIX]
    cases = _frame(rows)
    extra = _awkward(cases.height)
    df = pl.concat([extra, cases], how="horizontal")
    out = drgsim.group(df, yancheng)
    assert out.height == df.height
    assert out.columns[: df.width] == df.columns
    assert_frame_equal(out.select(df.columns), df)


@pytest.mark.parametrize("kind", ["lazy", "pyarrow", "pandas"])
def test_other_frame_kinds_keep_rows_in_order(yancheng, kind):
    rows = [_row(b) for b in MATRIX]
    df = _frame(rows).with_columns(pl.Series("case_id", [f"c{i}" for i in range(len(rows))]))
    polars_out = drgsim.group(df, yancheng)
    if kind == "lazy":
        got = drgsim.group(df.lazy(), yancheng).collect()
    elif kind == "pyarrow":
        pytest.importorskip("pyarrow")
        got = pl.DataFrame(drgsim.group(df.to_arrow(), yancheng))
    else:
        pytest.importorskip("pandas")
        got = pl.from_pandas(drgsim.group(df.to_pandas(), yancheng))
    assert got["case_id"].to_list() == df["case_id"].to_list()
    assert_series_equal(got["status"], polars_out["status"])
    assert_series_equal(got["reason"], polars_out["reason"])


def test_an_empty_frame_gives_an_empty_result(yancheng):
    out = drgsim.group(_frame([]), yancheng)
    assert out.height == 0 and "status" in out.columns


# --------------------------------------------------------------------------- files
def _csv_bytes(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_bytes_that_are_neither_utf8_nor_gb18030_damage_only_their_row(yancheng, tmp_path):
    p = tmp_path / "cases.csv"
    p.write_bytes(
        _csv_bytes(
            [b"case_id,sex,age,dx", b"1,1,60,I63.900", b"2,1,60,I63.9\xff\xfe", b"3,2,50,I63.900"]
        )
    )
    df = read_cases(p)
    out = drgsim.group(df, yancheng)
    assert out["case_id"].to_list() == ["1", "2", "3"]
    assert out["status"].to_list() == ["ok", "invalid", "ok"]
    assert out["reason"][1] == "unknown_principal_dx"
    assert "\ufffd" in out["message"][1]  # the damaged bytes are shown as replaced


def test_gbk_file_with_one_bad_byte_keeps_its_chinese_headers(yancheng, tmp_path):
    """The lossy fall-back picks the encoding that damages least (here GB18030), so the
    headers and the other rows survive one bad byte."""
    p = tmp_path / "gbk.csv"
    p.write_bytes(
        "病案号,性别,年龄,诊断编码\n1,男,60,I63.900\n".encode("gbk")
        + b"2,\x80\xff,60,I63.900\n"
        + "3,女,50,I63.900\n".encode("gbk")
    )
    df = read_cases(p)
    assert df.columns == ["病案号", "性别", "年龄", "诊断编码"]
    out = drgsim.group(df, yancheng)
    assert out["status"].to_list() == ["ok", "invalid", "ok"]
    assert out["reason"][1] == "bad_value" and "sex:" in out["message"][1]


def test_a_damaged_tab_separated_txt_file_keeps_its_columns(tmp_path):
    """The lossy fall-back sniffs the separator as the other readers do: a ``.txt`` export
    with tabs is split on them."""
    p = tmp_path / "gbk.txt"
    p.write_bytes(
        "性别\t年龄\t诊断编码\n男\t60\tI63.900\n".encode("gbk") + b"\x80\xff\t60\tI63.900\n"
    )
    assert read_cases(p).columns == ["性别", "年龄", "诊断编码"]


def test_a_gbk_line_in_a_utf8_file(yancheng, tmp_path):
    """One GBK line in a UTF-8 file: every row is kept; the damaged text is flagged."""
    p = tmp_path / "mixed.csv"
    p.write_bytes(
        "性别,年龄,诊断编码\n男,60,I63.900\n".encode()
        + "女,50,I63.900\n".encode("gbk")
        + "男,70,I63.900\n".encode()
    )
    out = drgsim.group(read_cases(p), yancheng)
    assert out.height == 3
    assert out["status"].to_list() == ["ok", "invalid", "ok"]
    assert out["reason"][1] == "bad_value"


def test_the_strict_reader_names_the_bad_line(tmp_path):
    """``drgsim group`` reads through drgsim.readers, which refuses undecodable bytes with
    the line and offset instead of guessing."""
    from drgsim.readers import read_any

    p = tmp_path / "cases.csv"
    p.write_bytes(_csv_bytes([b"sex,age,dx", b"1,60,I63.900", b"2,50,I63.9\xff\xfe"]))
    with pytest.raises(InputError, match="line 3"):
        read_any(p)


def test_utf8_bom_and_crlf(yancheng, tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + "性别,年龄,诊断编码\r\n男,60,I63.900\r\n".encode())
    out = drgsim.group(read_cases(p), yancheng)
    assert out.columns[:3] == ["性别", "年龄", "诊断编码"]
    assert out["drg"].to_list() == [BASE_DRG]


def test_matrix_through_a_csv_file(yancheng, tmp_path):
    """The matrix written to CSV and read back: the same statuses (CSV has no null, so a
    null and an empty value read alike, and leading blanks are kept)."""
    rows = [_row(b) for b in MATRIX if b.kind != "control_char"]
    df = _frame(rows)
    p = tmp_path / "matrix.csv"
    df.write_csv(p)
    back = read_cases(p)
    assert back.height == df.height
    got = drgsim.group(back, yancheng)["status"].to_list()
    assert got == drgsim.group(df, yancheng)["status"].to_list()
