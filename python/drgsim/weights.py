"""DRG weights and payment standards: one project format, city-table loaders, coverage.

Every city publishes its weights in its own layout (``DRG编码,DRG名称,RW,单议病组,二级医院系数…``
in 盐城, ``DRG编码,DRG名称,RW,支付标准`` in 北京, one RW column per year in 哈尔滨 …).
:func:`load_city` reads such a file into the project format below; :func:`write` and
:func:`read` keep that format as a UTF-8 CSV, so weights can be shipped with a table set and
diffed; :func:`validate` checks a frame; :func:`coverage` says which DRGs of a table set lack
a weight.

The project format
------------------
A Polars frame with exactly these columns, in this order (:data:`SCHEMA`):

======================  =========  =========================================================
column                  type       meaning
======================  =========  =========================================================
``drg``                 String     DRG code, as text (``AB19``, ``0000``, ``BQY`` …); unique
``name``                String?    DRG name (null when the source has none)
``rw``                  Float64?   relative weight (RW, 权重); ≥ 0
``base_points``         Float64?   基准点数 / 标准分值 when the city pays by points; ≥ 0
``special``             Boolean    not paid by the DRG standard: 单议病组, 不稳定病组, 未覆盖组
``coefficient_level2``  Float64?   hospital-level coefficient of 二级 hospitals; ≥ 0
``coefficient_level3``  Float64?   hospital-level coefficient of 三级 hospitals; ≥ 0
``standard_level2``     Float64?   payment standard of 二级 hospitals, CNY; ≥ 0
``standard_level3``     Float64?   payment standard of 三级 hospitals, CNY; ≥ 0
``standard``            Float64?   the payment standard when the city gives one for all, CNY
``year``                Int64?     the year the weights apply to
``source``              String     where the row comes from (file stem, table-set name …)
======================  =========  =========================================================

``?`` marks a nullable column: null means "the source does not say", never zero. As a CSV
(:func:`write`), the header is the column names above, booleans are ``true``/``false``,
null is an empty field, floats are written with the shortest text that reads back to the
same value, and the file is UTF-8 without BOM.

Examples
--------
>>> from drgsim import weights
>>> w = weights.builtin("teaching")
>>> w.columns == list(weights.SCHEMA)
True
>>> w.filter(w["drg"] == "AB19").select("drg", "name", "rw").row(0)
('AB19', '肝移植', 22.0)
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from drgsim.exceptions import InputError
from drgsim.io import atomic_output

if TYPE_CHECKING:
    from drgsim.tables import TableSet

__all__ = [
    "ALIASES",
    "SCHEMA",
    "builtin",
    "coverage",
    "from_frame",
    "load_city",
    "read",
    "validate",
    "write",
]

#: The project's weights format: column name -> Polars type, in file order.
SCHEMA: pl.Schema = pl.Schema(
    {
        "drg": pl.String(),
        "name": pl.String(),
        "rw": pl.Float64(),
        "base_points": pl.Float64(),
        "special": pl.Boolean(),
        "coefficient_level2": pl.Float64(),
        "coefficient_level3": pl.Float64(),
        "standard_level2": pl.Float64(),
        "standard_level3": pl.Float64(),
        "standard": pl.Float64(),
        "year": pl.Int64(),
        "source": pl.String(),
    }
)

_FLOATS = tuple(c for c, t in SCHEMA.items() if t == pl.Float64)
_NON_NEGATIVE = _FLOATS

#: Header spellings recognised by :func:`load_city`, after normalisation (Unicode NFKC, so
#: full-width brackets become ASCII; spaces removed; ASCII lower-cased). A header may carry a
#: qualifier in brackets: ``支付标准（三级职工）``, ``等级系数（二级）``, ``稳定（玉林）``.
#:
#: - ``drg``, ``name``, ``rw``, ``base_points``: the plain column.
#: - ``rw_year``: prefixes of one RW column per year (``weight_2023``, ``RW2024``, ``权重(2023)``).
#: - ``special_yes``: a flag that marks the group special when set (是, ※, √, 1, true …).
#: - ``special_no``: a flag that marks the group special when *not* set (稳定组 = 否).
#: - ``special_kind``: a group type; special when it names 不稳定, 未覆盖, 单议, 不予, 除外 or
#:   按项目 (兰州 病组类型 未覆盖组 / 不稳定组, 南平 不稳定病组); other types (基础组, 正常组,
#:   分级诊疗 …) are not special.
#: - ``standard``, ``coefficient``: words of the measure; the level (一级, 二级, 三级, from the
#:   prefix ``二级医院`` or the qualifier) picks ``standard_level2`` / ``standard_level3`` /
#:   ``coefficient_level2`` / ``coefficient_level3`` (no level: ``standard``); 职工 / 居民 in
#:   the header pick the fund (``fund=``). Levels the format has no column for (一级, 三甲,
#:   三乙, 省三甲, named hospitals) and the other fund's columns are read and dropped.
#: - ``ignored``: known columns the format does not keep (a rate, outlier thresholds, group
#:   lists that share one rate across levels, remarks …); dropped, with any qualifier.
ALIASES: dict[str, tuple[str, ...]] = {
    "drg": ("drg编码", "drg组编码", "drg代码", "分组编码", "病组编码", "drg", "drg_code", "code"),
    "name": ("drg名称", "drg组名称", "分组名称", "病组名称", "名称", "drg_name", "name"),
    "rw": ("rw", "权重", "初始权重", "相对权重", "drg权重", "weight", "relative_weight"),
    "rw_year": ("rw", "weight", "权重"),
    "base_points": ("基准点数", "标准分值", "基准分值", "点数", "分值", "base_points", "points"),
    "special_yes": ("单议病组", "特病单议", "单议", "不稳定病组", "不稳定组", "special"),
    "special_no": ("稳定组", "稳定病组", "稳定"),
    "special_kind": ("病组类型", "病组标识", "病组分类", "组别类型"),
    "standard": ("支付标准", "病组支付标准", "standard"),
    "coefficient": ("等级系数", "医院系数", "系数", "coefficient"),
    "ignored": (
        "基础病组",
        "基础组",
        "中医优势病组",
        "同等费率病组",
        "总量控制病组",
        "总控人次",
        "备注",
        "说明",
        "费率",
        "基础费率",
        "低倍临界值",
        "高倍临界值",
        "例均费用",
        "次均费用",
    ),
}

_SPECIAL_KIND_WORDS = ("不稳定", "未覆盖", "单议", "不予", "除外", "按项目")
_TRUE = frozenset({"是", "y", "yes", "true", "t", "1", "※", "√", "✓", "★"})
_FALSE = frozenset({"否", "n", "no", "false", "f", "0", "×"})
_NO_VALUE = frozenset(
    {"无", "暂无", "空", "-", "--", "—", "–", "/", "null", "none", "nan", "n/a", "na"}
)
_FUNDS = {"employee": "职工", "resident": "居民", "职工": "职工", "居民": "居民"}
_LEVELS = {"": None, "一级": 1, "二级": 2, "三级": 3}


# --------------------------------------------------------------------------------------------
# Header recognition


def _norm(header: str) -> str:
    s = unicodedata.normalize("NFKC", header.replace("\ufeff", ""))
    return re.sub(r"\s+", "", s).lower()


def _split(h: str) -> tuple[str, str]:
    m = re.fullmatch(r"(.*?)\((.*)\)", h)
    return (m.group(1), m.group(2)) if m else (h, "")


@dataclass
class _Plan:
    """Which source column feeds which field."""

    fields: dict[str, str] = field(default_factory=dict)
    special: list[tuple[str, str]] = field(default_factory=list)  # (column, yes|no|kind)
    rw_years: dict[int, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)

    def put(self, target: str, column: str) -> None:
        if target in self.fields:
            self.clashes.append(f"{self.fields[target]!r} and {column!r} both give {target!r}")
        else:
            self.fields[target] = column


def _measure(base: str, qual: str, fund: str) -> tuple[str, str] | Literal["ignore"] | None:
    """(measure, level text) of a standard / coefficient header; 'ignore'; or None.

    The level comes from what precedes the measure word (``二级医院支付标准``) or from the
    qualifier (``支付标准（三级职工）``). Anything else before the measure word (``调整系数``)
    is not understood (None); an unknown qualifier names a level or hospital the format has
    no column for (``三甲``, ``青医/市立``) and is ignored.
    """
    for kind in ("standard", "coefficient"):
        for word in sorted(ALIASES[kind], key=len, reverse=True):
            if word not in base:
                continue
            parts = [base.replace(word, "", 1).replace("医院", ""), qual.replace("医院", "")]
            funds = [f for f in ("职工", "居民") if any(f in x for x in parts)]
            parts = [x.replace("职工", "").replace("居民", "") for x in parts]
            if parts[0] not in _LEVELS:
                return None
            if funds and funds != [fund]:
                return "ignore"
            return kind, parts[0] + parts[1]
    return None


def _classify(header: str, plan: _Plan, fund: str) -> None:
    h = _norm(header)
    base, qual = _split(h)
    m = re.fullmatch(r"(rw|weight|权重)[_\-]?\(?((?:19|20)\d\d)\)?", h) or re.fullmatch(
        r"((?:19|20)\d\d)年?(rw|weight|权重)", h
    )
    if m:
        year = int(next(g for g in m.groups() if g.isdigit()))
        if year in plan.rw_years:
            plan.clashes.append(f"{plan.rw_years[year]!r} and {header!r} both give rw {year}")
        plan.rw_years[year] = header
        return
    if not qual:
        for target in ("drg", "name", "rw", "base_points"):
            if h in ALIASES[target]:
                plan.put(target, header)
                return
    for mode in ("yes", "no", "kind"):
        if base in ALIASES[f"special_{mode}"]:
            plan.special.append((header, mode))
            return
    if base in ALIASES["ignored"]:
        plan.ignored.append(header)
        return
    measured = _measure(base, qual, fund)
    if measured == "ignore":
        plan.ignored.append(header)
        return
    if measured is not None:
        kind, level_text = measured
        if level_text not in _LEVELS:  # 三甲, 省三甲, 一级及基层, a named hospital …
            plan.ignored.append(header)
            return
        level = _LEVELS[level_text]
        if level == 1 or (level is None and kind == "coefficient"):
            plan.ignored.append(header)
        elif level is None:
            plan.put("standard", header)
        else:
            plan.put(f"{kind}_level{level}", header)
        return
    plan.unknown.append(header)


# --------------------------------------------------------------------------------------------
# Value parsing (vectorised; Python only loops over columns)


def _text(col: str) -> pl.Expr:
    s = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _bad_values(df: pl.DataFrame, col: str, ok: pl.Expr, what: str, file: str) -> None:
    """Raise InputError naming up to five rows whose non-null text fails ``ok``."""
    bad = (
        df.with_row_index("_line", offset=2)
        .filter(_text(col).is_not_null() & ~ok.fill_null(False))
        .select("_line", _text(col).alias("_v"))
        .head(5)
    )
    if bad.height:
        shown = ", ".join(f"line {ln}: {v!r}" for ln, v in bad.iter_rows())
        raise InputError(f"{file}: column {col!r} is not {what} ({shown})")


def _number(df: pl.DataFrame, col: str, file: str) -> pl.Expr:
    # thousands separators are written by some spreadsheets; a comma cannot be a decimal mark
    # in an unquoted CSV field, so removing it is safe
    value = _text(col).str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
    _bad_values(df, col, value.is_not_null() & value.is_finite(), "a number", file)
    return value


def _city_number(df: pl.DataFrame, col: str, file: str) -> tuple[pl.Expr, pl.Expr]:
    """(value, special) of a value column of a city table.

    Besides numbers, city tables write 无 / - / 暂无 for "no value" (null) and words such as
    按项目据实支付 or 单议 in place of a weight (null, and the row is special).
    """
    t = _text(col)
    marked = t.str.contains("|".join((*_SPECIAL_KIND_WORDS, "据实"))).fill_null(False)
    blank = t.str.to_lowercase().is_in(list(_NO_VALUE)).fill_null(False)
    value = t.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
    ok = (value.is_not_null() & value.is_finite()) | marked | blank
    _bad_values(df, col, ok, "a number", file)
    return pl.when(marked | blank).then(None).otherwise(value), marked


def _flag(df: pl.DataFrame, col: str, file: str) -> pl.Expr:
    v = _text(col).str.to_lowercase()
    _bad_values(df, col, v.is_in(list(_TRUE | _FALSE)), "a yes/no flag (是/否)", file)
    return pl.when(v.is_in(list(_TRUE))).then(True).when(v.is_in(list(_FALSE))).then(False)


def _special_expr(df: pl.DataFrame, col: str, mode: str, file: str) -> pl.Expr:
    if mode == "kind":
        v = _text(col)
        return v.str.contains("|".join(_SPECIAL_KIND_WORDS)).fill_null(False)
    flag = _flag(df, col, file)
    return (flag if mode == "yes" else ~flag).fill_null(False)


def _codes(col: str) -> pl.Expr:
    s = _text(col)
    return pl.when(s.str.contains(r"^0+$")).then(pl.lit("0000")).otherwise(s)


def _file_label(path: Path) -> str:
    return path.name


def _read_text_csv(path: Path) -> pl.DataFrame:
    """Read a CSV with every column as text; UTF-8 (BOM or not), else GB18030."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from e
    return _text_csv_bytes(raw, path.name)


def _text_csv_bytes(raw: bytes, label: str) -> pl.DataFrame:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as e:
            raise InputError(f"{label}: neither UTF-8 nor GB18030 text ({e})") from e
    try:
        df = pl.read_csv(io.BytesIO(text.encode()), infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise InputError(f"{label}: not a readable CSV file ({e})") from e
    # drop rows that are empty in every column (trailing blank lines, spreadsheet padding)
    if df.width:
        df = df.filter(~pl.all_horizontal(_text(c).is_null() for c in df.columns))
    return df


# --------------------------------------------------------------------------------------------
# City tables


def load_city(
    path: str | os.PathLike[str],
    *,
    year: int | None = None,
    fund: Literal["employee", "resident"] = "employee",
    strict: bool = True,
    duplicates: Literal["error", "drop"] = "error",
) -> pl.DataFrame:
    """Read a city's weight table (one of ``weights/*.csv`` or alike) into the project format.

    Columns are recognised by name through :data:`ALIASES` (e.g. ``DRG编码``/``分组编码``/
    ``drg_code`` → ``drg``; ``RW``/``权重``/``初始权重`` → ``rw``; ``标准分值`` →
    ``base_points``; ``单议病组`` 是 → ``special``; ``二级医院支付标准`` or ``支付标准（二级）``
    → ``standard_level2``; ``等级系数（三级）`` → ``coefficient_level3``; ``支付标准`` →
    ``standard``). Values: surrounding spaces are removed; an empty field, 无, 暂无 or ``-`` is
    null; a note in place of a number that says the group is not paid by DRG (按项目据实支付,
    单议, 不稳定 …) is null and marks the row ``special``; 是/否 (and ※, √, yes/no, 1/0) are
    booleans; codes stay text (a code of zeros such as ``0`` becomes ``0000``, the ungrouped
    DRG); rows empty in every column are skipped and rows repeated identically are kept once.

    Parameters
    ----------
    path : path
        The CSV file (UTF-8 with or without BOM, or GB18030).
    year : int, optional
        For a file with one RW column per year (``weight_2023,weight_2024``): the year to read
        (default the latest). For other files: the ``year`` to record; it must agree with a
        year in the file name, which is used by default (``盐城2023.csv`` → 2023).
    fund : {"employee", "resident"}
        Which fund's standards to read when the file gives separate ones for 职工 and 居民.
    strict : bool
        Raise on a column that is neither recognised nor known to be ignorable (default), so
        that a new layout never loses a column silently; ``False`` drops such columns.
    duplicates : {"error", "drop"}
        A DRG listed twice with different values: raise (default) or drop all its rows.

    Returns
    -------
    pl.DataFrame
        The project format (:data:`SCHEMA`); ``source`` is the file stem.

    Raises
    ------
    InputError
        The message names the file and what is wrong: the columns not recognised, a
        non-numeric RW (with line numbers), a DRG listed twice, no code or no weight column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from drgsim import weights
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "某市2023.csv").write_text(
    ...     "DRG编码,DRG名称,RW,单议病组,二级医院支付标准,三级医院支付标准\\n"
    ...     "AA19,心脏移植,,是,,\\n"
    ...     "GE29,腹股沟及腹疝手术,0.85, ,6800.5,8100\\n", encoding="utf-8")
    >>> w = weights.load_city(d / "某市2023.csv")
    >>> w.select("drg", "rw", "special", "standard_level3", "year", "source").rows()
    [('AA19', None, True, None, 2023, '某市2023'), ('GE29', 0.85, False, 8100.0, 2023, '某市2023')]
    """
    p = Path(path)
    label = _file_label(p)
    fund_word = _FUNDS.get(fund)
    if fund_word is None:
        raise InputError(f"fund must be 'employee' or 'resident', not {fund!r}")
    if duplicates not in ("error", "drop"):
        raise InputError(f"duplicates must be 'error' or 'drop', not {duplicates!r}")
    raw = _read_text_csv(p)
    plan = _Plan()
    for c in raw.columns:
        _classify(c, plan, fund_word)
    problems: list[str] = []
    if plan.clashes:
        problems.append("ambiguous columns: " + "; ".join(plan.clashes))
    if plan.unknown and strict:
        problems.append(
            "columns not recognised: "
            + ", ".join(repr(c) for c in plan.unknown)
            + " (map them in drgsim.weights.ALIASES, or pass strict=False to drop them)"
        )
    if "drg" not in plan.fields:
        problems.append("no DRG code column (e.g. 'DRG编码', '分组编码', 'drg_code')")
    if plan.rw_years and "rw" in plan.fields:
        problems.append(f"both {plan.fields['rw']!r} and per-year RW columns")
    values = ("rw", "base_points", "standard", "standard_level2", "standard_level3")
    if not plan.rw_years and not any(k in plan.fields for k in values):
        problems.append("no weight, points or payment-standard column (e.g. 'RW', '权重')")
    if problems:
        raise InputError(
            f"{label}: cannot read as a weight table: {'; '.join(problems)}; "
            f"columns: {', '.join(raw.columns)}"
        )

    file_years = [int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d\d)(?!\d)", p.stem)]
    rw_col = plan.fields.get("rw")
    if plan.rw_years:
        available = sorted(plan.rw_years)
        chosen = available[-1] if year is None else year
        if chosen not in plan.rw_years:
            raise InputError(
                f"{label}: no weights for year {year}; the file has "
                f"{', '.join(map(str, available))}"
            )
        rw_col = plan.rw_years[chosen]
        the_year: int | None = chosen
    elif year is not None:
        if file_years and year not in file_years:
            raise InputError(
                f"{label}: year={year} but the file name says {', '.join(map(str, file_years))}"
            )
        the_year = year
    else:
        the_year = file_years[0] if len(file_years) == 1 else None

    code_col = plan.fields["drg"]
    missing_code = raw.with_row_index("_line", offset=2).filter(_text(code_col).is_null())
    if missing_code.height:
        lines = ", ".join(map(str, missing_code["_line"].head(5).to_list()))
        raise InputError(f"{label}: rows without a DRG code in {code_col!r} (line {lines})")

    special = pl.lit(False)

    def num(target: str, col: str | None) -> pl.Expr:
        nonlocal special
        if col is None:
            return pl.lit(None, pl.Float64).alias(target)
        value, marked = _city_number(raw, col, label)
        special = special | marked
        return value.alias(target)

    numbers = {
        c: num(c, rw_col if c == "rw" else plan.fields.get(c))
        for c in (
            "rw",
            "base_points",
            "coefficient_level2",
            "coefficient_level3",
            "standard_level2",
            "standard_level3",
            "standard",
        )
    }
    for col, mode in plan.special:
        special = special | _special_expr(raw, col, mode, label)
    name_col = plan.fields.get("name")
    out = raw.select(
        _codes(code_col).alias("drg"),
        (_text(name_col) if name_col else pl.lit(None, pl.String)).alias("name"),
        numbers["rw"],
        numbers["base_points"],
        special.alias("special"),
        *(numbers[c] for c in list(numbers)[2:]),
        pl.lit(the_year, pl.Int64).alias("year"),
        pl.lit(p.stem, pl.String).alias("source"),
    ).unique(maintain_order=True)
    dup = out["drg"].is_duplicated()
    if dup.any():
        if duplicates == "drop":
            out = out.filter(~dup)
        else:
            where = (
                raw.with_row_index("_line", offset=2)
                .filter(_codes(code_col).is_in(out.filter(dup)["drg"].implode()))
                .group_by(_codes(code_col).alias("drg"), maintain_order=True)
                .agg(pl.col("_line"))
            )
            shown = "; ".join(
                f"{d} (lines {', '.join(map(str, ls))})" for d, ls in where.iter_rows()
            )
            raise InputError(
                f"{label}: DRG listed more than once with different values: {shown}; "
                "fix the file or pass duplicates='drop'"
            )
    return validate(out, what=label)


# --------------------------------------------------------------------------------------------
# The project format


def validate(frame: pl.DataFrame, *, what: str = "weights") -> pl.DataFrame:
    """Check a frame in the project format; return it with the exact :data:`SCHEMA`.

    Every problem is collected and reported at once: missing or extra columns, a type that
    cannot be cast, an empty or repeated ``drg``, a negative or non-finite ``rw``,
    ``base_points``, coefficient or standard, a null ``special`` or ``source``.

    Parameters
    ----------
    frame : pl.DataFrame
        Weights in the project format (columns may come in any order and castable types).
    what : str
        How to name the frame in messages (a file name).

    Raises
    ------
    InputError
        Listing every problem.

    Examples
    --------
    >>> import polars as pl
    >>> from drgsim import weights
    >>> w = weights.from_frame(pl.DataFrame({"drg": ["AB19", "AB19"], "rw": [1.0, -2.0]}))
    Traceback (most recent call last):
    ...
    drgsim.exceptions.InputError: frame: DRG listed more than once: AB19; negative rw: AB19
    """
    missing = [c for c in SCHEMA if c not in frame.columns]
    extra = [c for c in frame.columns if c not in SCHEMA]
    problems: list[str] = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"columns not in the weights format: {', '.join(extra)}")
    if problems:
        raise InputError(f"{what}: {'; '.join(problems)}")
    casts = []
    for c, t in SCHEMA.items():
        try:
            frame.select(pl.col(c).cast(t, strict=True))
            casts.append(pl.col(c).cast(t, strict=True))
        except pl.exceptions.PolarsError:
            problems.append(f"column {c!r} is {frame.schema[c]}, not {t}")
    if problems:
        raise InputError(f"{what}: {'; '.join(problems)}")
    df = frame.select(casts)

    def listed(mask: pl.Expr) -> str:
        codes = df.filter(mask)["drg"].fill_null("<null>").unique(maintain_order=True)
        more = f" … ({codes.len()} in all)" if codes.len() > 10 else ""
        return ", ".join(codes.head(10).to_list()) + more

    if df["drg"].is_null().any() or (df["drg"].str.strip_chars() == "").any():
        problems.append("empty DRG code")
    if df["drg"].is_duplicated().any():
        problems.append(f"DRG listed more than once: {listed(pl.col('drg').is_duplicated())}")
    for c in _NON_NEGATIVE:
        if (df[c] < 0).any():
            problems.append(f"negative {c}: {listed(pl.col(c) < 0)}")
        if (~df[c].is_finite()).any():
            problems.append(f"non-finite {c}: {listed(~pl.col(c).is_finite())}")
    for c in ("special", "source"):
        if df[c].is_null().any():
            problems.append(f"null {c}: {listed(pl.col(c).is_null())}")
    if problems:
        raise InputError(f"{what}: {'; '.join(problems)}")
    return df


def from_frame(frame: pl.DataFrame, *, source: str = "frame") -> pl.DataFrame:
    """Complete a typed frame to the project format and validate it.

    Needs ``drg``; other missing columns are filled (null; ``special`` false; ``source``
    from ``source``; nulls in ``special``/``source`` are filled the same way).

    Examples
    --------
    >>> import polars as pl
    >>> from drgsim import weights
    >>> w = weights.from_frame(pl.DataFrame({"drg": ["GE29"], "rw": [0.8]}), source="mine")
    >>> w.select("drg", "rw", "base_points", "special", "source").row(0)
    ('GE29', 0.8, None, False, 'mine')
    """
    if "drg" not in frame.columns:
        raise InputError(f"{source}: weights need a 'drg' column; got {', '.join(frame.columns)}")
    fill = {
        c: (pl.lit(False) if c == "special" else pl.lit(source if c == "source" else None, t))
        for c, t in SCHEMA.items()
    }
    df = frame.with_columns(v.alias(c) for c, v in fill.items() if c not in frame.columns)
    df = df.with_columns(
        pl.col("special").fill_null(False),
        pl.col("source").cast(pl.String).fill_null(source),
    )
    return validate(df, what=source)


def _project_csv(raw: bytes, label: str, source: str) -> pl.DataFrame:
    df = _text_csv_bytes(raw, label)
    extra = [c for c in df.columns if c not in SCHEMA]
    if extra or "drg" not in df.columns:
        raise InputError(
            f"{label}: not the weights format (columns {', '.join(SCHEMA)}); "
            + (f"unknown columns: {', '.join(extra)}" if extra else "no 'drg' column")
            + " — use load_city for a city's own layout"
        )
    exprs: list[pl.Expr] = []
    for c in df.columns:
        t = SCHEMA[c]
        if t == pl.Float64:
            exprs.append(_number(df, c, label).alias(c))
        elif t == pl.Boolean:
            exprs.append(_flag(df, c, label).alias(c))
        elif t == pl.Int64:
            v = _text(c).cast(pl.Int64, strict=False)
            _bad_values(df, c, v.is_not_null(), "an integer", label)
            exprs.append(v.alias(c))
        else:
            exprs.append(_text(c).alias(c))
    return from_frame(df.select(exprs), source=source)


def read(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read weights written by :func:`write` (or any CSV with a subset of its columns).

    Columns missing from the file are filled as in :func:`from_frame`; ``source`` defaults
    to the file stem.

    Raises
    ------
    InputError
        Unknown columns, unparsable values (with line numbers) or any :func:`validate`
        problem; the message names the file.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {p}: {e}") from e
    return _project_csv(raw, p.name, p.stem)


def write(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write weights in the project format as UTF-8 CSV (validated first).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from drgsim import weights
    >>> w = weights.builtin("teaching")
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "teaching_weights.csv"
    >>> weights.write(w, f)
    >>> f.read_text(encoding="utf-8").splitlines()[0]
    'drg,name,rw,base_points,special,coefficient_level2,coefficient_level3,standard_level2,standard_level3,standard,year,source'
    >>> weights.read(f).equals(w)
    True
    """
    df = validate(frame)
    p = Path(path)
    try:
        with atomic_output(p) as tmp:
            df.write_csv(tmp)
    except OSError as e:
        raise InputError(f"cannot write {p}: {e}") from e


def builtin(name: str = "teaching") -> pl.DataFrame:
    """The weights shipped with a table set (its ``weights.csv``), names from the set.

    Parameters
    ----------
    name : str
        A table set name or folder (see :func:`drgsim.tables.load`).

    Raises
    ------
    InputError
        The set ships no ``weights.csv`` or it is malformed.
    """
    from drgsim import tables

    ts = tables.load(name)
    raw = ts.builtin_file("weights.csv")
    if raw is None:
        raise InputError(f"table set {ts.name!r} ships no weights.csv")
    w = _project_csv(raw, f"{ts.name}/weights.csv", ts.name)
    names = pl.DataFrame(
        {"drg": [d[0] for d in ts.drgs()], "_set_name": [d[2] for d in ts.drgs()]},
        schema={"drg": pl.String, "_set_name": pl.String},
    ).unique("drg", keep="first")
    return (
        w.join(names, on="drg", how="left", maintain_order="left")
        .with_columns(pl.coalesce("name", "_set_name").alias("name"))
        .drop("_set_name")
    )


def coverage(weights: pl.DataFrame, tables: str | os.PathLike[str] | TableSet) -> dict[str, Any]:
    """Which DRGs of a table set lack a weight.

    A DRG *has a weight* when its row gives ``rw`` or ``base_points``. A DRG flagged
    ``special`` without a weight is not counted as lacking one: it is paid outside the DRG
    standard on purpose.

    Parameters
    ----------
    weights : pl.DataFrame
        Weights in the project format.
    tables : str, path or TableSet
        The table set whose DRGs are checked (盐城2023 ↔ ``yancheng-2023``, 北京2022 ↔
        ``beijing-2022``).

    Returns
    -------
    dict
        ``tables`` (set name), ``drgs`` (number of DRGs in the set), ``weighted`` (how many
        have a weight), ``share`` (weighted ÷ drgs), and sorted code lists: ``missing`` (DRGs
        of the set with no row), ``unweighted`` (a row, no weight, not special), ``special``
        (DRGs of the set flagged special), ``extra`` (rows for DRGs the set does not have,
        e.g. 0000 or the QY groups).

    Examples
    --------
    >>> from drgsim import weights
    >>> c = weights.coverage(weights.builtin("teaching"), "teaching")
    >>> c["drgs"], c["weighted"], c["missing"], c["extra"]
    (351, 351, [], [])
    """
    from drgsim import tables as tables_mod

    w = validate(weights)
    ts = tables_mod.load(tables)
    set_drgs = {d[0] for d in ts.drgs()}
    has_weight = w.filter(pl.col("rw").is_not_null() | pl.col("base_points").is_not_null())
    weighted = set(has_weight["drg"]) & set_drgs
    rows = set(w["drg"])
    special = set(w.filter(pl.col("special"))["drg"]) & set_drgs
    return {
        "tables": ts.name,
        "drgs": len(set_drgs),
        "weighted": len(weighted),
        "share": len(weighted) / len(set_drgs) if set_drgs else 0.0,
        "missing": sorted(set_drgs - rows),
        "unweighted": sorted((rows & set_drgs) - weighted - special),
        "special": sorted(special),
        "extra": sorted(rows - set_drgs),
    }
