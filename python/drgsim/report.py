"""Reports for finance and coding staff: an Excel workbook and an offline HTML page.

:func:`excel_report` writes one sheet per level, with Chinese headers:

================  ===================================================================
sheet             rows
================  ===================================================================
``汇总``          one per hospital, plus a 合计 (total) row when there are several
``科室``          one per hospital × department
``医疗组／医生``  one per hospital × department × doctor
``病组``          one per hospital × DRG
``明细``          one per case
``未入组／歧义组``  the cases whose grouping status is not ``ok`` (歧义组 QY, 未入组 …)
================  ===================================================================

Excel forbids ``/`` in sheet names, so the level names use the full-width slash ``／``.
Money is in 万元 on the summary levels and in 元 on the case and DRG levels; losses
(negative 盈亏) are red; the header row is frozen.

:func:`html_report` writes a single self-contained HTML file (no scripts, no network
references) with the summary table and four charts rendered to inline SVG by
vl-convert: the 费用消耗指数 × 时间消耗指数 quadrant by department, CMI by department,
盈亏 of the most profitable and loss-making DRGs, and the case-class mix. SVG text stays
text, so Chinese labels use the reader's fonts.

Indicators (computed over grouped cases, ``status == "ok"`` with a weight; the reference
is the whole input frame, i.e. the region):

CMI, 费用消耗指数 and 时间消耗指数 of the 汇总, 科室 and 医疗组／医生 levels come from
:func:`drgsim.metrics.indicators` (Σ cost ÷ Σ the region's mean cost of each case's DRG; the
same with length of stay); for one DRG that is the group's mean cost over the region's.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from drgsim.exceptions import ColumnError
from drgsim.io import atomic_output

__all__ = [
    "SHEETS",
    "WORKBOOK_OPTIONS",
    "excel_report",
    "html_report",
    "report",
]

#: Sheet names of :func:`excel_report`, in order.
SHEETS: tuple[str, ...] = ("汇总", "科室", "医疗组／医生", "病组", "明细", "未入组／歧义组")

CLASS_LABELS: dict[str, str] = {
    "normal": "正常",
    "high": "高倍率",
    "low": "低倍率",
    "special": "特病单议",
    "excluded": "不按病组支付",
}
STATUS_LABELS: dict[str, str] = {
    "ok": "入组",
    "qy": "歧义组",
    "ungroupable": "未入组",
    "invalid": "数据无效",
}
KEY_LABELS: dict[str, str] = {
    "hospital_id": "医院",
    "department": "科室",
    "doctor_id": "医生",
    "mdc": "MDC",
    "adrg": "ADRG",
    "drg": "DRG",
}
REQUIRED: tuple[str, ...] = ("drg", "status", "rw", "case_class", "paid", "profit")

MONEY = "#,##0.00"
COUNT = "#,##0"
INDEX = "0.0000"
RATE = "0.00%"
RED = {"font_color": "#C00000"}
WIDTH = 430
FONT_FAMILY = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', "
    "'WenQuanYi Micro Hei', sans-serif"
)


#: xlsxwriter options: text is always written as text. By default xlsxwriter turns a string
#: starting with ``=`` into a formula and one that looks like a URL into a hyperlink; a code,
#: a name or a message from the input must never run as a formula or become a link.
WORKBOOK_OPTIONS: dict[str, bool] = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


# --------------------------------------------------------------------------- indicators
def _check(paid: pl.DataFrame, cost: str) -> None:
    for col in (*REQUIRED, cost):
        if col not in paid.columns:
            raise ColumnError(col, f"missing column {col!r}: give the output of drgsim.pay")


def _prepared(paid: pl.DataFrame, cost: str, los: str) -> pl.DataFrame:
    """Cases plus ``_grouped``, ``_cost``, ``_los`` and the per-case index ratios."""
    df = paid.with_columns(
        _cost=pl.col(cost).cast(pl.Float64, strict=False),
        _los=(
            pl.col(los).cast(pl.Float64, strict=False)
            if los in paid.columns
            else pl.lit(None, dtype=pl.Float64)
        ),
        _grouped=(pl.col("status") == "ok") & pl.col("rw").is_not_null(),
    )
    ref = (
        df.filter(pl.col("_grouped"))
        .group_by("drg")
        .agg(_ref_cost=pl.col("_cost").mean(), _ref_los=pl.col("_los").mean())
    )
    df = df.join(ref, on="drg", how="left", maintain_order="left")
    g = pl.col("_grouped")
    return df.with_columns(
        _cost_ratio=pl.when(g & (pl.col("_ref_cost") > 0)).then(
            pl.col("_cost") / pl.col("_ref_cost")
        ),
        _los_ratio=pl.when(g & (pl.col("_ref_los") > 0)).then(pl.col("_los") / pl.col("_ref_los")),
    )


def _metrics_indices(paid: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """CMI and the two indices from :func:`drgsim.metrics.indicators` (one definition)."""
    from drgsim.metrics import indicators

    out = indicators(paid, by=by or None)
    return out.select(*by, "cmi", "cost_index", "time_index")


def _indicators(df: pl.DataFrame, by: list[str], paid: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per-unit figures, Chinese headers, money in 万元."""
    g = pl.col("_grouped")
    n_grouped = g.sum()
    aggs = [
        pl.len().alias("病例数"),
        n_grouped.alias("入组病例数"),
        (n_grouped / pl.len()).alias("入组率"),
        pl.col("drg").filter(g).n_unique().alias("DRG组数"),
        pl.col("rw").filter(g).sum().alias("总权重"),
        (pl.col("rw").filter(g).sum() / n_grouped).alias("CMI"),
        pl.col("_cost_ratio").mean().alias("费用消耗指数"),
        pl.col("_los_ratio").mean().alias("时间消耗指数"),
        pl.col("_cost").mean().alias("例均费用(元)"),
        pl.col("_los").mean().alias("平均住院日"),
        (pl.col("_cost").sum() / 1e4).alias("医疗总费用(万元)"),
        (pl.col("paid").sum() / 1e4).alias("支付金额(万元)"),
        (pl.col("profit").sum() / 1e4).alias("盈亏(万元)"),
        (pl.col("case_class") == "high").sum().alias("高倍率病例数"),
        (pl.col("case_class") == "low").sum().alias("低倍率病例数"),
        (pl.col("profit") < 0).sum().alias("亏损病例数"),
    ]
    out = df.group_by(by, maintain_order=True).agg(aggs) if by else df.select(aggs)
    m = _metrics_indices(paid, by) if paid is not None else None
    if m is not None:
        out = (
            (
                out.join(m, on=by, how="left", maintain_order="left")
                if by
                else pl.concat([out, m], how="horizontal")
            )
            .with_columns(
                CMI=pl.col("cmi"),
                费用消耗指数=pl.col("cost_index"),
                时间消耗指数=pl.col("time_index"),
            )
            .drop("cmi", "cost_index", "time_index")
        )
    if by:
        out = out.sort([*by[:-1], "病例数"], descending=[False] * (len(by) - 1) + [True])
    return out.rename({k: KEY_LABELS.get(k, k) for k in by})


def _keys(df: pl.DataFrame, wanted: Sequence[str]) -> list[str]:
    return [k for k in wanted if k in df.columns]


def _levels(paid: pl.DataFrame, cost: str, los: str) -> dict[str, pl.DataFrame]:
    """The six sheets as frames."""
    _check(paid, cost)
    df = _prepared(paid, cost, los)
    hosp = _keys(df, ["hospital_id"])
    summary = _indicators(df, hosp, paid)
    if not hosp or summary.height > 1:
        total = _indicators(df, [], paid)
        if hosp:
            total = total.select(pl.lit("合计").alias("医院"), pl.all())
            summary = pl.concat([summary, total], how="vertical_relaxed")
        else:
            summary = total
    dept = _indicators(df, _keys(df, ["hospital_id", "department"]), paid)
    doctor = _indicators(df, _keys(df, ["hospital_id", "department", "doctor_id"]), paid)

    drg_keys = _keys(df, ["hospital_id", "mdc", "adrg", "drg"])
    grouped = df.filter(pl.col("_grouped"))
    drg = (
        grouped.group_by(drg_keys, maintain_order=True)
        .agg(
            pl.col("rw").first().alias("权重RW"),
            pl.len().alias("病例数"),
            pl.col("_cost").mean().alias("例均费用(元)"),
            pl.col("paid").mean().alias("例均支付(元)"),
            pl.col("profit").mean().alias("例均盈亏(元)"),
            pl.col("_los").mean().alias("平均住院日"),
            pl.col("_cost_ratio").mean().alias("费用消耗指数"),
            pl.col("_los_ratio").mean().alias("时间消耗指数"),
            (pl.col("_cost").sum() / 1e4).alias("医疗总费用(万元)"),
            (pl.col("paid").sum() / 1e4).alias("支付金额(万元)"),
            (pl.col("profit").sum() / 1e4).alias("盈亏(万元)"),
            (pl.col("case_class") == "high").sum().alias("高倍率病例数"),
            (pl.col("case_class") == "low").sum().alias("低倍率病例数"),
        )
        .sort("盈亏(万元)")
        .rename({k: KEY_LABELS[k] for k in drg_keys})
    )

    detail_cols = {
        "case_id": "病案号",
        "hospital_id": "医院",
        "department": "科室",
        "doctor_id": "医生",
        "mdc": "MDC",
        "adrg": "ADRG",
        "drg": "DRG",
        "status": "入组状态",
        "rw": "权重RW",
        "_los": "住院天数",
        "_cost": "总费用(元)",
        "standard": "支付标准(元)",
        "case_class": "病例类型",
        "class_reason": "类型原因",
        "paid": "支付金额(元)",
        "profit": "盈亏(元)",
    }

    def cases(frame: pl.DataFrame, extra: dict[str, str]) -> pl.DataFrame:
        cols = {**detail_cols, **extra}
        return frame.select(
            [
                (
                    pl.col(c).replace(CLASS_LABELS)
                    if c == "case_class"
                    else pl.col(c).replace(STATUS_LABELS)
                    if c == "status"
                    else pl.col(c)
                ).alias(label)
                for c, label in cols.items()
                if c in frame.columns
            ]
        )

    detail = cases(df, {})
    ungrouped = cases(
        df.filter(pl.col("status") != "ok"), {"reason": "原因", "message": "说明"}
    ).drop("权重RW", "类型原因", strict=False)
    return dict(zip(SHEETS, (summary, dept, doctor, drg, detail, ungrouped), strict=True))


def tables(
    paid: pl.DataFrame, *, cost: str = "total_cost", los: str = "los_days"
) -> dict[str, pl.DataFrame]:
    """The report's six levels as frames with Chinese headers, keyed by sheet name."""
    return _levels(paid, cost, los)


# --------------------------------------------------------------------------- Excel
def _formats(frame: pl.DataFrame) -> dict[str, str]:
    fmt: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        if name.endswith("率"):
            fmt[name] = RATE
        elif name in ("CMI", "费用消耗指数", "时间消耗指数", "权重RW"):
            fmt[name] = INDEX
        elif dtype.is_integer():
            fmt[name] = COUNT
        elif dtype.is_float():
            fmt[name] = MONEY
    return fmt


def excel_report(
    paid: pl.DataFrame,
    path: str | Path,
    *,
    title: str = "DRG 付费分析报告",
    cost: str = "total_cost",
    los: str = "los_days",
    levels: dict[str, pl.DataFrame] | None = None,
) -> Path:
    """Write the Excel workbook (sheets :data:`SHEETS`) of paid cases to ``path``.

    Parameters
    ----------
    paid : polars.DataFrame
        The output of :func:`drgsim.pay` (grouped cases with payment columns).
    path : str or Path
        The ``.xlsx`` file to write.
    title : str
        Stored as the workbook's title property.
    cost, los : str
        Cost and length-of-stay columns.
    levels : dict, optional
        The sheets as :func:`tables` gives them, to reuse instead of computing them again.

    Returns
    -------
    Path
        ``path``.
    """
    from xlsxwriter import Workbook

    levels = _levels(paid, cost, los) if levels is None else levels
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    max_rows = 1_048_575
    with atomic_output(path) as tmp, Workbook(str(tmp), WORKBOOK_OPTIONS) as wb:
        wb.set_properties({"title": title, "subject": "drgsim"})
        header = {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}
        for i, (sheet, frame) in enumerate(levels.items()):
            if frame.height > max_rows:
                frame = frame.head(max_rows)
            losses = [c for c in frame.columns if c.startswith("盈亏") or c == "例均盈亏(元)"]
            frame.write_excel(
                workbook=wb,
                worksheet=sheet,
                table_name=f"level{i}",
                table_style="Table Style Light 9",
                header_format=header,
                column_formats=_formats(frame),  # type: ignore[arg-type]
                conditional_formats={
                    c: {"type": "cell", "criteria": "<", "value": 0, "format": RED} for c in losses
                },
                autofit=frame.height <= 50_000,
                freeze_panes=(1, 0),
            )
    return path


# --------------------------------------------------------------------------- HTML
def _svg(chart: Any) -> str:
    buf = io.StringIO()
    chart.save(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]


def _charts(levels: dict[str, pl.DataFrame], paid: pl.DataFrame, top: int) -> list[str]:
    import altair as alt

    font = {"font": FONT_FAMILY}
    dept = levels["科室"].filter(pl.col("入组病例数") > 0)
    several = "医院" in dept.columns and dept["医院"].n_unique() > 1
    if several:
        dept = dept.with_columns(单位=pl.col("医院") + " " + pl.col("科室"))
    else:
        dept = dept.with_columns(单位=pl.col("科室"))
    base = alt.Chart(dept)
    tooltip = ["单位", "病例数", "CMI", "费用消耗指数", "时间消耗指数"]
    points = base.mark_circle(opacity=0.7).encode(
        x=alt.X("费用消耗指数:Q", scale=alt.Scale(zero=False), title="费用消耗指数"),
        y=alt.Y("时间消耗指数:Q", scale=alt.Scale(zero=False), title="时间消耗指数"),
        size=alt.Size("病例数:Q", legend=alt.Legend(title="病例数")),
        color=alt.Color("医院:N") if several else alt.value("#1F77B4"),
        tooltip=tooltip,
    )
    one = alt.Chart(pl.DataFrame({"v": [1.0]}))
    rule = one.mark_rule(color="#888", strokeDash=[4, 4])
    rules = rule.encode(x=alt.X("v:Q", title="费用消耗指数")) + rule.encode(
        y=alt.Y("v:Q", title="时间消耗指数")
    )
    quadrant = (
        (points + rules)
        .properties(
            width=WIDTH,
            height=360,
            title="科室费用消耗指数 × 时间消耗指数（参考线 = 1）",
        )
        .configure(**font)
    )

    cmi = (
        alt.Chart(_dept_cmi(paid))
        .mark_bar(color="#4C78A8")
        .encode(
            x=alt.X("CMI:Q"),
            y=alt.Y("科室:N", sort="-x", title=None),
            tooltip=["科室", "CMI", "入组病例数"],
        )
        .properties(width=WIDTH, title="各科室 CMI")
        .configure(**font)
    )

    drg = levels["病组"]
    drg_keys = [k for k in ("DRG",) if k in drg.columns]
    per_drg = drg.group_by(drg_keys).agg(pl.col("盈亏(万元)").sum(), pl.col("病例数").sum())
    sel = pl.concat(
        [
            per_drg.sort("盈亏(万元)").head(top),
            per_drg.sort("盈亏(万元)", descending=True).head(top),
        ]
    ).unique(subset=drg_keys)
    sel = sel.with_columns(
        盈亏=pl.when(pl.col("盈亏(万元)") < 0).then(pl.lit("亏损")).otherwise(pl.lit("盈余"))
    )
    profit = (
        alt.Chart(sel)
        .mark_bar()
        .encode(
            x=alt.X("盈亏(万元):Q"),
            y=alt.Y("DRG:N", sort="-x", title=None),
            color=alt.Color(
                "盈亏:N",
                scale=alt.Scale(domain=["盈余", "亏损"], range=["#2E7D32", "#C62828"]),
            ),
            tooltip=["DRG", "盈亏(万元)", "病例数"],
        )
        .properties(width=WIDTH, title=f"病组盈亏（万元）：盈余前 {top} 与亏损前 {top}")
        .configure(**font)
    )

    mix_keys = ["hospital_id"] if "hospital_id" in paid.columns else []
    mix = (
        paid.group_by([*mix_keys, "case_class"])
        .agg(pl.len().alias("病例数"))
        .with_columns(
            病例类型=pl.col("case_class").replace(CLASS_LABELS),
            占比=pl.col("病例数") / pl.col("病例数").sum().over(mix_keys or pl.lit(1)),
        )
    )
    mix = mix.rename({"hospital_id": "医院"}) if mix_keys else mix.with_columns(医院=pl.lit("全部"))
    order = list(CLASS_LABELS.values())
    classes = (
        alt.Chart(mix)
        .mark_bar()
        .encode(
            x=alt.X("占比:Q", axis=alt.Axis(format="%"), stack="normalize"),
            y=alt.Y("医院:N", title=None),
            color=alt.Color("病例类型:N", sort=order, scale=alt.Scale(domain=order)),
            order=alt.Order("case_class:N"),
            tooltip=["医院", "病例类型", "病例数", alt.Tooltip("占比:Q", format=".1%")],
        )
        .properties(width=WIDTH, title="病例类型构成")
        .configure(**font)
    )
    return [_svg(c) for c in (quadrant, cmi, profit, classes)]


def _dept_cmi(paid: pl.DataFrame) -> pl.DataFrame:
    """Region-wide CMI per department (across hospitals)."""
    if "department" not in paid.columns:
        return pl.DataFrame({"科室": ["全部"], "CMI": [None], "入组病例数": [0]})
    g = (pl.col("status") == "ok") & pl.col("rw").is_not_null()
    return (
        paid.filter(g)
        .group_by("department")
        .agg(pl.col("rw").mean().alias("CMI"), pl.len().alias("入组病例数"))
        .rename({"department": "科室"})
        .sort("CMI", descending=True)
    )


def _table_html(frame: pl.DataFrame) -> str:
    fmt = _formats(frame)

    def cell(name: str, v: Any) -> str:
        if v is None:
            return "<td></td>"
        f = fmt.get(name)
        if isinstance(v, float):
            if f == RATE:
                text = f"{v:.2%}"
            elif f == INDEX:
                text = f"{v:.4f}"
            else:
                text = f"{v:,.2f}"
        elif isinstance(v, int):
            text = f"{v:,}"
        else:
            return f"<td class='t'>{html.escape(str(v))}</td>"
        neg = " neg" if name.startswith("盈亏") and v < 0 else ""
        return f"<td class='n{neg}'>{text}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, r, strict=True)) + "</tr>"
        for r in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = f"""
body {{ font-family: {FONT_FAMILY}; margin: 24px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
table {{ border-collapse: collapse; font-size: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; }}
th {{ background: #DDEBF7; position: sticky; top: 0; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.t {{ white-space: nowrap; }}
td.neg {{ color: #C00000; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 24px; }}
figure.chart {{ margin: 0; }}
.chart svg {{ max-width: 100%; height: auto; }}
.note {{ color: #666; font-size: 12px; }}
"""


def html_report(
    paid: pl.DataFrame,
    path: str | Path,
    *,
    title: str = "DRG 付费分析报告",
    cost: str = "total_cost",
    los: str = "los_days",
    top: int = 15,
    levels: dict[str, pl.DataFrame] | None = None,
) -> Path:
    """Write a self-contained, offline HTML report of paid cases to ``path``.

    The page holds the 汇总 table and four inline SVG charts (see the module docstring);
    it has no scripts and references nothing on the network.

    Parameters
    ----------
    paid : polars.DataFrame
        The output of :func:`drgsim.pay`.
    path : str or Path
        The ``.html`` file to write.
    title : str
        Page title and heading.
    cost, los : str
        Cost and length-of-stay columns.
    levels : dict, optional
        The sheets as :func:`tables` gives them, to reuse instead of computing them again.
    top : int
        How many most profitable and most loss-making DRGs the 盈亏 chart shows.

    Returns
    -------
    Path
        ``path``.
    """
    levels = _levels(paid, cost, los) if levels is None else levels
    svgs = _charts(levels, paid, top)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ["费用与时间消耗指数象限", "科室 CMI", "病组盈亏", "病例类型构成"]
    charts = "".join(
        f"<figure class='chart' aria-label='{html.escape(n)}'>{s}</figure>"
        for n, s in zip(names, svgs, strict=True)
    )
    doc = (
        "<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='note'>病例数 {paid.height:,}；指数以全部输入病例为参照（区域均值 = 1）；"
        "金额单位：万元（例均为元）。</p>"
        f"<h2>汇总</h2>{_table_html(levels['汇总'])}"
        f"<h2>图表</h2><div class='charts'>{charts}</div>"
        "</body></html>\n"
    )
    with atomic_output(path) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return path


def report(
    paid: pl.DataFrame,
    out_dir: str | Path,
    *,
    title: str = "DRG 付费分析报告",
    cost: str = "total_cost",
    los: str = "los_days",
) -> dict[str, Path]:
    """Write both reports into ``out_dir``: ``{"excel": report.xlsx, "html": report.html}``."""
    out = Path(out_dir)
    levels = _levels(paid, cost, los)  # computed once for both files
    return {
        "excel": excel_report(paid, out / "report.xlsx", title=title, levels=levels),
        "html": html_report(paid, out / "report.html", title=title, levels=levels),
    }
