"""Readers for settlement lists, front sheets and code lists (drgsim.readers)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import drgsim
from drgsim.exceptions import InputError
from drgsim.readers import (
    CANONICAL_SCHEMA,
    ReadResult,
    detect_encoding,
    read_any,
    read_code_lists,
    read_front_sheet,
    read_settlement_list,
)

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "shared/reference/cases/yancheng_hospital_9728_cases_with_insurance_drg.csv"
)


def _accounted(r: ReadResult) -> pl.DataFrame:
    """Every row read is kept, flags are counted, the schema is canonical, and it groups."""
    assert r.rows_read == r.rows_kept == r.frame.height
    assert r.rows_flagged == r.frame.filter(pl.col("read_status") == "flagged").height
    assert dict(list(r.frame.schema.items())[: len(CANONICAL_SCHEMA)]) == CANONICAL_SCHEMA
    assert r.frame["read_status"].is_in(["ok", "flagged"]).all()
    ok = r.frame.filter(pl.col("read_status") == "ok")
    assert ok["read_message"].is_null().all()
    assert r.frame.filter(pl.col("read_status") == "flagged")["read_message"].is_not_null().all()
    assert str(r.rows_read) in r.summary()
    out = drgsim.group(r.frame)
    assert out.height == r.frame.height
    return out


def _write_gbk(path: Path, text: str, enc: str = "gbk") -> Path:
    path.write_bytes(text.encode(enc))
    return path


@pytest.fixture
def settlement(tmp_path: Path) -> tuple[Path, Path, Path]:
    main = _write_gbk(
        tmp_path / "setlinfo.csv",
        "setl_id,gend,age,nwb_bir_wt,act_ipt_days,dscg_way,medfee_sumamt,dscg_caty,备注\n"
        "S001,1,67,,8,1,12345.60,A03,心内科\n"
        "S002,2,3十,,5,1,8000,A04,年龄写错\n"  # broken age
        'S003,女,0,3200,4,1,"4,500.00",A07,新生儿\n'
        "S004,1,45,,3,1,3000,A03,无诊断\n",  # no diagnosis rows
    )
    dx = _write_gbk(
        tmp_path / "diseinfo.csv",
        "setl_id,diag_type,diag_srt_no,diag_code,diag_name,maindiag_flag\n"
        "S001,1,2,E11.900,2型糖尿病,0\n"
        "S001,1,1,I10.x00,高血压,0\n"
        "S001,1,3,I21.900,急性心肌梗死,1\n"
        "S002,1,1,J18.900,肺炎,是\n"
        "S003,1,1,P07.300,早产儿,1\n"
        "S999,1,1,K35.800,阑尾炎,1\n",  # orphan
    )
    px = _write_gbk(
        tmp_path / "oprninfo.csv",
        "setl_id,oprn_oprt_sn,oprn_oprt_code,oprn_oprt_name,oprn_oprt_date,main_oprn_flag\n"
        "S001,2,88.5500,冠状动脉造影,2024-01-02,0\n"
        "S001,1,36.0700,冠脉支架置入,2024-01-02,1\n"
        "S998,1,47.0900,阑尾切除,2024-01-03,1\n",  # orphan
    )
    return main, dx, px


def test_settlement_list_gbk(settlement: tuple[Path, Path, Path]) -> None:
    main, dx, px = settlement
    assert detect_encoding(main) == "gb18030"
    r = read_settlement_list(main, dx, px)
    out = _accounted(r)
    f = r.frame
    assert r.layout == "settlement_list"
    assert f["case_id"].to_list() == ["S001", "S002", "S003", "S004"]
    assert f["dx"].to_list()[0] == ["I21.900", "I10.x00", "E11.900"]
    assert f["px"].to_list()[0] == ["36.0700", "88.5500"]
    assert f["sex"].to_list() == [1, 2, 2, 1]
    assert f["total_cost"].to_list() == [12345.6, 8000.0, 4500.0, 3000.0]
    assert f["birth_weight_g"].to_list()[2] == 3200.0
    assert f["department"].to_list()[0] == "A03"
    assert f["read_status"].to_list() == ["ok", "flagged", "ok", "flagged"]
    assert "age '3十'" in f["read_message"][1]
    assert f["age"][1] is None
    assert "no diagnosis" in f["read_message"][3]
    assert r.rows_flagged == 2
    assert r.notes["orphan_diagnosis_rows"] == 1
    assert r.notes["orphan_procedure_rows"] == 1
    assert "orphan_diagnosis_rows: 1" in r.summary()
    assert out["status"][0] in ("ok", "qy")
    # read_any finds the three tables in any order, or in a folder
    r2 = read_any([px, main, dx])
    assert r2.frame.equals(f)
    assert read_any(main.parent).frame.equals(f)


def test_settlement_principal_flag_problems(tmp_path: Path) -> None:
    main = tmp_path / "m.csv"
    main.write_text("setl_id,gend,age\nA,1,50\nB,2,60\nA,1,50\n", encoding="utf-8")
    dx = tmp_path / "d.csv"
    dx.write_text(
        "setl_id,diag_code,maindiag_flag,diag_srt_no\n"
        "A,I10.x00,1,2\nA,E11.900,true,1\nB,J18.900,0,2\nB,I10.x00,0,1\nB,,0,3\n",
        encoding="utf-8",
    )
    r = read_any([main, dx])
    _accounted(r)
    msgs = r.frame["read_message"].to_list()
    assert "several diagnoses marked principal" in msgs[0]
    assert "more than once" in msgs[0] and "more than once" in msgs[2]
    assert "no diagnosis marked principal" in msgs[1]
    assert r.frame["dx"][1].to_list() == ["I10.x00", "J18.900"]
    assert r.frame["px"][1].to_list() == []
    assert r.notes["blank_diagnosis_code_rows"] == 1


def test_front_sheet_xlsx(tmp_path: Path) -> None:
    pytest.importorskip("xlsxwriter")
    pytest.importorskip("fastexcel")
    df = pl.DataFrame(
        {
            "BAH": ["0001", "0002", "0003"],
            "XB": ["1", "2", "男"],
            "NL": [60.0, None, 70.0],
            "BZYZSNL": [None, 20.0, None],
            "XSECSTZ": [None, 3100.0, None],
            "SJZYTS": [7.0, 3.0, 2.5],  # 2.5 is not a whole number of days
            "LYFS": ["1", "1", "5"],
            "JBDM": ["I63.900", "P07.300", "J18.900"],
            "JBDM1": ["I10.x00", None, "E11.900"],
            "JBDM2": ["E11.900", None, None],
            "JBDM10": [None, None, "N18.900"],
            "SSJCZBM1": ["99.1000", None, None],
            "SSJCZBM2": ["88.9100", None, None],
            "ZFY": [23000.5, 5000.0, 8000.0],
            "CYKB": ["神经内科", "新生儿科", "呼吸科"],
        }
    )
    path = tmp_path / "首页.xlsx"
    df.write_excel(path)
    r = read_any(path)
    _accounted(r)
    f = r.frame
    assert r.layout == "front_sheet"
    assert f["case_id"].to_list() == ["0001", "0002", "0003"]
    assert f["dx"].to_list() == [
        ["I63.900", "I10.x00", "E11.900"],
        ["P07.300"],
        ["J18.900", "E11.900", "N18.900"],
    ]
    assert f["px"].to_list() == [["99.1000", "88.9100"], [], []]
    assert f["sex"].to_list() == [1, 2, 1]
    assert f["age_days"].to_list() == [None, 20, None]
    assert f["read_status"].to_list() == ["ok", "ok", "flagged"]
    assert "los_days '2.5'" in f["read_message"][2]
    assert f["department"][0] == "神经内科"
    assert read_front_sheet(path).frame.equals(f)


def test_reference_yancheng() -> None:
    if not REFERENCE.exists():
        pytest.skip("shared reference file not present")
    r = read_any(REFERENCE)
    assert r.layout == "code_lists"
    assert r.rows_read == r.rows_kept == 9728
    out = _accounted(r)
    assert r.frame["dx"].list.len().min() >= 1  # type: ignore[operator]
    assert "insurer_actual_drg" in r.frame.columns
    assert out["status"].is_in(["ok", "qy", "ungroupable", "invalid"]).all()


def test_utf8_bom_code_lists(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(
        "\ufeffIndex,gender,age,ageDay,weight,dept,inHospitalTime,leavingType,zdList,ssList\n"
        "01,1,55,,,心内,6,1,I21.900|I10.x00,36.0700\n"
        "02,F,abc,,,心内,6,1,I10.x00,\n".encode()
    )
    assert detect_encoding(path) == "utf-8-sig"
    r = read_code_lists(path)
    _accounted(r)
    f = r.frame
    assert f["case_id"].to_list() == ["01", "02"]  # kept as text
    assert f["dx"][0].to_list() == ["I21.900", "I10.x00"]
    assert f["px"][1].to_list() == []
    assert f["sex"].to_list() == [1, 2]
    assert f["read_status"].to_list() == ["ok", "flagged"]
    assert f["department"][0] == "心内"


def test_gb18030_only_character(tmp_path: Path) -> None:
    # '𠀀' (U+20000) has no GBK encoding: only GB18030 (4-byte) can hold it
    text = "case_id,sex,age,dx_codes,name\nX1,2,30,O80.000,张𠀀\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    path = _write_gbk(tmp_path / "gb.csv", text, "gb18030")
    r = read_any(path)
    _accounted(r)
    assert r.encoding == "gb18030"
    assert r.frame["name"][0] == "张𠀀"


def test_large_gbk_file_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import drgsim.readers as readers

    monkeypatch.setattr(readers, "_CHUNK", 7)  # split multibyte characters across chunks
    rows = "".join(f"C{i},男,{20 + i % 50},I10.x00|E11.900,某某{i}\n" for i in range(200))
    path = _write_gbk(tmp_path / "big.csv", "病案号,性别,年龄,诊断编码,姓名\n" + rows)
    r = read_any(path)
    _accounted(r)
    assert r.rows_read == 200 and r.rows_flagged == 0
    assert r.frame["姓名"][199] == "某某199"


def test_utf8_is_never_read_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("case_id,sex,age,dx_codes,科室\n1,1,40,I10.x00,心内科\n", encoding="utf-8")
    r = read_any(path)
    assert r.encoding == "utf-8"
    assert r.frame["department"][0] == "心内科"


def test_unreadable_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"a,b\n1,2\n\xff\xff\xff\n")
    with pytest.raises(InputError, match=r"garbage\.csv.*line 3"):
        read_any(garbage)
    with pytest.raises(InputError, match=r"missing\.csv"):
        read_any(tmp_path / "missing.csv")
    odd = tmp_path / "cases.docx"
    odd.write_bytes(b"x")
    with pytest.raises(InputError, match=r"cases\.docx"):
        read_any(odd)
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"fake\.xlsx"):
        read_any(fake)
    unknown = tmp_path / "other.csv"
    unknown.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"other\.csv.*columns are: foo, bar"):
        read_any(unknown)
    main = tmp_path / "setl.csv"
    main.write_text("setl_id,gend,age\nA,1,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="diagnosis table"):
        read_any(main)


def test_parquet_with_list_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pl.DataFrame(
        {"case_id": [1, 2], "sex": [1, 2], "age": [30, 40], "dx": [["I10.x00"], []]}
    ).write_parquet(path)
    r = read_any(path)
    _accounted(r)
    assert r.frame["case_id"].to_list() == ["1", "2"]
    assert r.frame["read_status"].to_list() == ["ok", "flagged"]


def test_utf16_unicode_text_export(tmp_path: Path) -> None:
    """Excel's "Unicode text" export: UTF-16 with a byte-order mark, tab-separated, .txt."""
    from drgsim.io import read_cases
    from drgsim.readers import detect_encoding, read_any

    text = "BAH\tXB\tNL\tJBDM\n001\t男\t60\tI63.900\n002\t女\t30\tO80.000\n"
    for codec in ("utf-16-le", "utf-16-be"):
        p = tmp_path / f"export-{codec}.txt"
        bom = "\ufeff".encode(codec)
        p.write_bytes(bom + text.encode(codec))
        assert detect_encoding(p) == "utf-16"
        df = read_cases(p)
        assert df.columns == ["BAH", "XB", "NL", "JBDM"] and df["BAH"].to_list() == ["001", "002"]
        r = read_any(p)
        assert r.frame.height == 2 and r.encoding == "utf-16"
        out = drgsim.group(df)
        assert out["status"].to_list() == ["ok", "ok"]
