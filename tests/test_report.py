"""Excel and offline HTML reports (drgsim.report)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

import drgsim

report = pytest.importorskip("drgsim.report")
pytest.importorskip("xlsxwriter")


@pytest.fixture(scope="module")
def paid() -> pl.DataFrame:
    cases = drgsim.synth.hospital("teaching", cases=20000, hospitals=3, seed=1)
    return drgsim.pay(cases, drgsim.policy.example("rate"))


@pytest.fixture(scope="module")
def outputs(paid: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("altair")
    pytest.importorskip("vl_convert")
    return report.report(paid, tmp_path_factory.mktemp("report"), title="测试报告")


def test_tables(paid: pl.DataFrame) -> None:
    t = report.tables(paid)
    assert tuple(t) == report.SHEETS
    summary = t["汇总"]
    assert summary["医院"].to_list()[-1] == "合计"
    total = summary.row(-1, named=True)
    assert total["病例数"] == paid.height
    # region reference: the indices of the whole frame are 1
    assert total["费用消耗指数"] == pytest.approx(1.0)
    assert total["时间消耗指数"] == pytest.approx(1.0)
    ok = paid.filter((pl.col("status") == "ok") & pl.col("rw").is_not_null())
    assert total["CMI"] == pytest.approx(ok["rw"].mean())
    assert total["盈亏(万元)"] == pytest.approx(float(paid["profit"].sum()) / 1e4)
    assert t["科室"]["病例数"].sum() == paid.height
    assert t["医疗组／医生"]["病例数"].sum() == paid.height
    assert t["病组"]["病例数"].sum() == ok.height
    assert t["明细"].height == paid.height
    bad = t["未入组／歧义组"]
    assert bad.height == paid.filter(pl.col("status") != "ok").height > 0
    assert set(bad["入组状态"]) <= {"歧义组", "未入组", "数据无效"}


def test_missing_column(paid: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(drgsim.exceptions.ColumnError):
        report.excel_report(paid.drop("profit"), tmp_path / "x.xlsx")


def test_excel(outputs: dict[str, Path]) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    path = outputs["excel"]
    assert path.suffix == ".xlsx" and path.is_file()
    wb = openpyxl.load_workbook(path, read_only=False)
    assert wb.sheetnames == list(report.SHEETS)
    expect = {
        "汇总": ["医院", "病例数", "CMI", "费用消耗指数", "时间消耗指数", "盈亏(万元)"],
        "科室": ["医院", "科室", "CMI", "盈亏(万元)"],
        "医疗组／医生": ["医院", "科室", "医生", "CMI"],
        "病组": ["医院", "DRG", "权重RW", "例均费用(元)", "盈亏(万元)"],
        "明细": ["病案号", "DRG", "病例类型", "支付金额(元)", "盈亏(元)"],
        "未入组／歧义组": ["病案号", "DRG", "入组状态", "说明"],
    }
    for name, cols in expect.items():
        ws = wb[name]
        header = [c.value for c in ws[1]]
        assert set(cols) <= set(header), (name, header)
        assert ws.freeze_panes == "A2", name
        assert ws.max_row > 1, name
    # thousands separators and red losses on 盈亏
    ws = wb["明细"]
    header = [c.value for c in ws[1]]
    col = header.index("盈亏(元)") + 1
    assert ws.cell(row=2, column=col).number_format == "#,##0.00"
    letter = openpyxl.utils.get_column_letter(col)
    rules = [
        (str(rng), r)
        for rng, rs in ws.conditional_formatting._cf_rules.items()
        for r in rs
        if letter in str(rng.sqref)
    ]
    assert rules and rules[0][1].operator == "lessThan"
    assert rules[0][1].dxf.font.color.rgb.endswith("C00000")
    # readable by Polars' default engine as well
    back = pl.read_excel(path, sheet_name="汇总")
    assert back.columns[:2] == ["医院", "病例数"]


def test_html(outputs: dict[str, Path]) -> None:
    text = outputs["html"].read_text(encoding="utf-8")
    assert text.count("<svg") == 4
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text, re.I)
    for label in ("费用消耗指数", "时间消耗指数", "各科室 CMI", "病组盈亏", "病例类型构成", "汇总"):
        assert label in text
    # chart text stays SVG text (the reader's fonts render the Chinese)
    assert re.search(r"<text[^>]*>[^<]*科[^<]*</text>", text)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_html_screenshot(outputs: dict[str, Path], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install -y chromium)")
    png = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--screenshot={png}",
        "--window-size=1200,2400",
        outputs["html"].resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 50_000
    try:
        from PIL import Image
    except ImportError:  # the size check above is all we can do without Pillow
        return
    with Image.open(png) as img:
        assert img.size == (1200, 2400)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200
    # the loss bars (#C62828) and the department CMI bars (#4C78A8) are drawn
    counts = {c: n for n, c in colours}
    assert counts.get((0xC6, 0x28, 0x28), 0) > 1000
    assert counts.get((0x4C, 0x78, 0xA8), 0) > 1000
