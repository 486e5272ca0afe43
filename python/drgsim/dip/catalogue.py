"""DIP catalogues (病种目录): build one from historical cases, read, write and import.

A catalogue is a table of groups (病种) with their scores (分值) plus metadata, in the layout
of ``CATALOGUE.md`` beside this module. :func:`build` makes one from a region's cases:

1. **Keys.** :func:`case_keys` gives every case its principal-diagnosis key ``dx_key`` (the
   first diagnosis, normalised, cut to ``dx_length`` characters; the full code when
   ``dx_length`` = 0), its procedure combination ``px_key`` (the counting procedures,
   normalised and cut to 7 characters, unique, sorted, joined with ``+``; 诊断性操作 count only
   with ``count_diagnostic``), its 3-character ``category`` and its ``treatment`` (the highest
   type of all its procedures: 相关手术 > 治疗性操作 > 诊断性操作 > 保守治疗).
2. **Core groups** (核心病种): every (``dx_key``, ``px_key``) with at least ``threshold`` cases.
3. **Comprehensive groups** (综合病种): the other cases, per ``category`` × ``treatment``.
4. **Scores.** score = group mean cost ÷ all-case mean cost × ``scale`` (RW × scale). Means are
   those of :func:`drgsim.calibrate.calibrate` on the final groups: optional trimming within
   each group, and with ``year``/``year_weights`` the year-weighted means
   ``Σ_y w_y·mean_y ÷ Σ_y w_y`` (the national 1:2:7 over the prior three years [DIPW]).

Group ids: ``K80.0|51.2300+54.5100`` (core with procedures), ``K80.0`` (core without a counting
procedure), ``K80|相关手术`` (comprehensive). The matcher does not read them; it matches on
``dx_key``, ``procedures`` and ``treatment``.

Examples
--------
>>> import polars as pl
>>> from drgsim.dip import catalogue as cat
>>> cases = pl.DataFrame({
...     "dx": [["K80.000"]] * 3 + [["K80.100"]],
...     "px": [["51.2300"]] * 3 + [["51.2200"]],
...     "total_cost": [9000.0, 10000.0, 11000.0, 6000.0]})
>>> c = cat.build(cases, threshold=2)
>>> c.groups.select("group_id", "kind", "n", pl.col("score").round(2)).rows()
[('K80.0|51.2300', 'core', 3, 111.11), ('K80|相关手术', 'comprehensive', 1, 66.67)]
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from drgsim.calibrate import Trim, calibrate
from drgsim.exceptions import ColumnError, InputError
from drgsim.io import atomic_output, write_frame

__all__ = [
    "ALIASES",
    "BLANK_GROUP",
    "COLUMNS",
    "KINDS",
    "META_DEFAULTS",
    "REQUIRED",
    "TREATMENTS",
    "Catalogue",
    "build",
    "case_keys",
    "chapter_of",
    "group_id",
    "import_catalogue",
    "meta_path",
    "normalise_code",
    "normalise_expr",
    "normalise_px",
    "procedure_key",
    "read",
    "threshold_for_coverage",
    "treatment_of",
    "validate",
    "write",
]

#: Treatment types (治疗方式) from the lowest to the highest; a case takes the highest of its
#: procedures' types, 保守治疗 when it has none.
TREATMENTS: tuple[str, ...] = ("保守治疗", "诊断性操作", "治疗性操作", "相关手术")
#: Group kinds: 核心病种 and 综合病种.
KINDS: tuple[str, ...] = ("core", "comprehensive")
#: Catalogue columns, in order (CATALOGUE.md).
COLUMNS: tuple[str, ...] = (
    "group_id",
    "kind",
    "dx_key",
    "procedures",
    "treatment",
    "score",
    "mean_cost",
    "n",
    "name",
)
#: Columns every catalogue file must have.
REQUIRED: tuple[str, ...] = COLUMNS[:6]
#: Metadata keys and their defaults (CATALOGUE.md).
META_DEFAULTS: dict[str, Any] = {
    "name": "",
    "version": "",
    "source": "",
    "dx_length": 5,
    "scale": 100.0,
    "count_diagnostic": False,
    "threshold": 15,
}
#: The group of a case no catalogue group takes (空白病组).
BLANK_GROUP = "KBBZ"
#: Characters of a procedure code that form combinations.
PX_LENGTH = 7

_FULL_WIDTH = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"。": "."}
_STRIP = "\ufeff\u3000"
_TRANSLATE = {ord(k): v for k, v in _FULL_WIDTH.items()}
_META_PREFIX = "drgsim.dip."
_META_TYPES: dict[str, type] = {
    "dx_length": int,
    "scale": float,
    "count_diagnostic": bool,
    "threshold": int,
}


# ---------------------------------------------------------------------------------------------
# Codes


def normalise_code(code: str) -> str:
    """Normalise a code as grouping does: trim, full-width to half-width, upper case.

    Examples
    --------
    >>> normalise_code(" ｋ８０．０００x004 ")
    'K80.000X004'
    """
    return code.strip().strip(_STRIP).strip().translate(_TRANSLATE).upper()


def normalise_px(code: str) -> str:
    """A procedure code as it enters a combination: normalised, cut to 7 characters.

    Examples
    --------
    >>> normalise_px("51.2300x001"), normalise_px(" ５１．２３ ")
    ('51.2300', '51.23')
    """
    return normalise_code(code)[:PX_LENGTH]


def chapter_of(code: str) -> int | None:
    """The ICD-9-CM-3 chapter of a procedure code: its first two characters as a number.

    A code that does not start with two digits has no chapter (None); it is ignored when
    forming combinations and treatment types.

    Examples
    --------
    >>> chapter_of("51.2300"), chapter_of("89.5200"), chapter_of("X1")
    (51, 89, None)
    """
    head = normalise_code(code)[:2]
    return int(head) if len(head) == 2 and head.isascii() and head.isdigit() else None


def _rank(chapter: int | None) -> int | None:
    if chapter is None:
        return None
    return 3 if chapter <= 86 else 1 if chapter <= 91 else 2


def treatment_of(code: str) -> str | None:
    """The treatment type of one procedure code, from its chapter.

    00–86 相关手术, 87–91 诊断性操作, 92–99 治疗性操作; None without a chapter.

    Examples
    --------
    >>> treatment_of("51.2300"), treatment_of("89.5200"), treatment_of("99.2501")
    ('相关手术', '诊断性操作', '治疗性操作')
    """
    r = _rank(chapter_of(code))
    return None if r is None else TREATMENTS[r]


def procedure_key(codes: Iterable[str], count_diagnostic: bool = False) -> str:
    """The combination of a list of procedure codes (pure Python; one case).

    Codes are normalised and cut to 7 characters; those without a chapter, and diagnostic
    ones (87–91) unless ``count_diagnostic``, are left out; the rest are made unique, sorted
    and joined with ``+``. Empty for a conservative case.

    Examples
    --------
    >>> procedure_key(["54.5100", "51.2300x001", "89.5200", "51.2300"])
    '51.2300+54.5100'
    >>> procedure_key(["89.5200"]), procedure_key(["89.5200"], count_diagnostic=True)
    ('', '89.5200')
    """
    keep = set()
    for c in codes:
        if c is None:
            continue
        p = normalise_px(c)
        r = _rank(chapter_of(p))
        if r is not None and (r >= 2 or (r == 1 and count_diagnostic)):
            keep.add(p)
    return "+".join(sorted(keep))


def group_id(kind: str, dx_key: str, procedures: str = "", treatment: str = "") -> str:
    """The id :func:`build` gives a group.

    Examples
    --------
    >>> group_id("core", "K80.0", "51.2300"), group_id("core", "K80.0")
    ('K80.0|51.2300', 'K80.0')
    >>> group_id("comprehensive", "K80", treatment="相关手术")
    'K80|相关手术'
    """
    if kind == "comprehensive":
        return f"{dx_key}|{treatment}"
    return f"{dx_key}|{procedures}" if procedures else dx_key


def normalise_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`normalise_code` as a Polars expression on a string column."""
    return (
        expr.str.strip_chars()
        .str.strip_chars(_STRIP)
        .str.strip_chars()
        .str.replace_many(_FULL_WIDTH)
        .str.to_uppercase()
    )


def _code_list(col: str, dtype: pl.DataType) -> pl.Expr:
    """A code column (list[str], or text split on | , ; and their full-width forms) as a list
    of normalised, non-empty codes."""
    if isinstance(dtype, pl.List | pl.Array):
        lst = pl.col(col).arr.to_list() if isinstance(dtype, pl.Array) else pl.col(col)
        lst = lst.cast(pl.List(pl.String))
    elif dtype in (pl.String, pl.Null):
        lst = normalise_expr(pl.col(col).cast(pl.String)).str.replace_all(r"[|,;]", "|")
        lst = lst.str.split("|")
    else:
        raise ColumnError(col, f"column {col!r} must be a list of codes or text, not {dtype}")
    e = normalise_expr(pl.element())
    return lst.list.eval(e.filter(e != "")).fill_null([])


def _rank_expr(code: pl.Expr) -> pl.Expr:
    """Treatment rank (0–3) of a normalised procedure code, null without a chapter."""
    ch = code.str.slice(0, 2)
    num = pl.when(ch.str.contains(r"^[0-9]{2}$")).then(ch.cast(pl.Int32, strict=False))
    return (
        pl.when(num <= 86)
        .then(pl.lit(3, pl.Int8))
        .when(num <= 91)
        .then(pl.lit(1, pl.Int8))
        .when(num <= 99)
        .then(pl.lit(2, pl.Int8))
    )


def _treatment_name(rank: pl.Expr) -> pl.Expr:
    return rank.replace_strict(dict(enumerate(TREATMENTS)), return_dtype=pl.String)


def case_keys(
    frame: pl.DataFrame | pl.LazyFrame,
    dx_length: int = 5,
    count_diagnostic: bool = False,
    *,
    dx: str = "dx",
    px: str = "px",
) -> pl.DataFrame:
    """The matching keys of every case, vectorised.

    Parameters
    ----------
    frame : polars.DataFrame or LazyFrame
        Cases with a diagnosis column (principal first) and, optionally, a procedure column;
        each a ``list[str]`` or text with codes separated by ``|``, ``,`` or ``;``.
    dx_length : int
        Characters of the normalised principal diagnosis that form ``dx_key``; 0 = all.
    count_diagnostic : bool
        Whether 诊断性操作 (chapters 87–91) count in ``px_key``.
    dx, px : str
        Column names.

    Returns
    -------
    polars.DataFrame
        One row per case, in input order: ``dx_key`` (null without a principal diagnosis),
        ``px_key`` (counting procedures, sorted, ``+``-joined; ``""`` when none), ``category``
        (first 3 characters of the principal diagnosis) and ``treatment`` (the highest type of
        all the case's procedures with a chapter, 保守治疗 when none).

    Examples
    --------
    >>> import polars as pl
    >>> cases = pl.DataFrame({"dx": ["k80.000x004|I10.x05", ""],
    ...                       "px": ["89.5200|51.2300x001", None]})
    >>> case_keys(cases).rows()
    [('K80.0', '51.2300', 'K80', '相关手术'), (None, '', None, '保守治疗')]
    """
    if isinstance(dx_length, bool) or not isinstance(dx_length, int) or dx_length < 0:
        raise InputError(f"dx_length must be an integer >= 0; got {dx_length!r}")
    lf = frame.lazy()
    schema = lf.collect_schema()
    if dx not in schema:
        raise ColumnError(dx, f"no diagnosis column {dx!r}; columns: {', '.join(schema)}")
    if px in schema:
        codes = _code_list(px, schema[px]).list.eval(pl.element().str.slice(0, PX_LENGTH))
    else:
        codes = pl.lit([], dtype=pl.List(pl.String))
    # stage the normalised codes so that no list expression is evaluated twice
    staged = lf.select(
        _code_list(dx, schema[dx]).list.first().alias("_principal"), codes.alias("_codes")
    ).collect()
    principal, codes = pl.col("_principal"), pl.col("_codes")
    dx_key = principal.str.slice(0, dx_length) if dx_length else principal
    e = pl.element()
    counting = _rank_expr(e) >= (1 if count_diagnostic else 2)
    px_key = codes.list.eval(e.filter(counting.fill_null(False))).list.unique().list.sort()
    rank = codes.list.eval(_rank_expr(e)).list.max().fill_null(0)
    return staged.select(
        dx_key.alias("dx_key"),
        px_key.list.join("+").alias("px_key"),
        principal.str.slice(0, 3).alias("category"),
        _treatment_name(rank).alias("treatment"),
    )


def _combination_treatment(procedures: pl.Expr) -> pl.Expr:
    """The highest treatment type of a ``+``-joined combination (保守治疗 when empty)."""
    rank = (
        procedures.fill_null("")
        .str.split("+")
        .list.eval(_rank_expr(pl.element()))
        .list.max()
        .fill_null(0)
    )
    return _treatment_name(rank)


# ---------------------------------------------------------------------------------------------
# The catalogue


@dataclass
class Catalogue:
    """A DIP catalogue: groups (columns :data:`COLUMNS`) and metadata.

    Attributes
    ----------
    groups : polars.DataFrame
        One row per group.
    meta : dict
        ``name``, ``version``, ``source``, ``dx_length``, ``scale``, ``count_diagnostic``,
        ``threshold``; :func:`build` adds ``mean_cost`` (the all-case mean the scores divide
        by), ``cases``, ``core_cases``, ``core_share``, ``year_weights`` and ``trim``.
    """

    groups: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def _get(self, key: str) -> Any:
        return self.meta.get(key, META_DEFAULTS[key])

    @property
    def dx_length(self) -> int:
        """Characters of the principal diagnosis keying a core group (0 = full code)."""
        return int(self._get("dx_length"))

    @property
    def scale(self) -> float:
        """Score scale (100 or 1000)."""
        return float(self._get("scale"))

    @property
    def count_diagnostic(self) -> bool:
        """Whether 诊断性操作 count in combinations."""
        return bool(self._get("count_diagnostic"))

    @property
    def threshold(self) -> int:
        """Case threshold used to build the catalogue (informative)."""
        return int(self._get("threshold"))

    @property
    def core(self) -> pl.DataFrame:
        """The core groups."""
        return self.groups.filter(pl.col("kind") == "core")

    @property
    def comprehensive(self) -> pl.DataFrame:
        """The comprehensive groups."""
        return self.groups.filter(pl.col("kind") == "comprehensive")

    def __repr__(self) -> str:
        n_core = self.core.height
        return (
            f"Catalogue(name={self.meta.get('name', '')!r}, groups={self.groups.height}, "
            f"core={n_core}, comprehensive={self.groups.height - n_core}, "
            f"dx_length={self.dx_length}, scale={self.scale:g})"
        )


def _year_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    if dtype in (pl.Date,) or isinstance(dtype, pl.Datetime):
        return pl.col(col).dt.year().cast(pl.Int64)
    if dtype == pl.String:
        s = pl.col(col).str.strip_chars()
        return pl.coalesce(
            s.cast(pl.Int64, strict=False),
            s.str.to_date(strict=False).dt.year().cast(pl.Int64),
        )
    return pl.col(col).cast(pl.Int64, strict=False)


def build(
    cases: pl.DataFrame | pl.LazyFrame,
    *,
    cost: str = "total_cost",
    year: str | None = None,
    year_weights: Mapping[int, float] | None = None,
    dx_length: int = 5,
    threshold: int = 15,
    scale: float = 100,
    count_diagnostic: bool = False,
    trim: Trim = None,
    name: str = "",
    version: str = "",
    source: str = "",
    dx: str = "dx",
    px: str = "px",
) -> Catalogue:
    """Build a catalogue from historical cases (module documentation, steps 1–4).

    Parameters
    ----------
    cases : polars.DataFrame or LazyFrame
        One row per case: diagnoses, procedures and cost (and year).
    cost : str
        Cost column (numbers ≥ 0, or numbers as text).
    year : str, optional
        Year column: integers, or dates (``discharge_date``) whose year is used.
    year_weights : mapping year -> weight, optional
        E.g. ``{2022: 1, 2023: 2, 2024: 7}`` [DIPW]. Cases of years with no positive weight
        are left out entirely (neither counted against the threshold nor in any mean).
        With ``year`` alone every year weighs 1.
    dx_length : int
        Characters of the principal diagnosis keying a core group; 0 = the full code.
    threshold : int
        Fewest cases (of the used years) for a combination to be a core group.
    scale : float
        Score = RW × scale.
    count_diagnostic : bool
        Whether 诊断性操作 count in combinations.
    trim : see :mod:`drgsim.calibrate`
        Outlier trimming within each final group before the means.
    name, version, source : str
        Metadata.
    dx, px : str
        Diagnosis and procedure columns.

    Returns
    -------
    Catalogue
        Groups sorted by category, core before comprehensive, then ``dx_key``,
        ``procedures`` and ``treatment``; ``n`` counts the group's cases, ``mean_cost`` is its
        (weighted, trimmed) mean. Cases without a principal diagnosis are ignored; a group
        none of whose cases has a cost gets no row.

    Raises
    ------
    ColumnError, InputError
        A missing column, a negative or non-numeric cost, a bad threshold or weight.

    Examples
    --------
    Two years, weights 1 and 3: group A costs 100 in 2023 and 300 in 2024, so its mean is
    (1·100 + 3·300) / 4 = 250; all cases: (1·100 + 3·200) / 4 = 175 (2024 has A 300 and
    B 100, mean 200); score(A) = 250 / 175 × 100 = 142.857…

    >>> import polars as pl
    >>> cases = pl.DataFrame({"dx": ["A01.000", "A01.000", "B01.000"],
    ...                       "px": [None, None, None], "year": [2023, 2024, 2024],
    ...                       "total_cost": [100.0, 300.0, 100.0]})
    >>> c = build(cases, year="year", year_weights={2023: 1, 2024: 3}, threshold=1)
    >>> [(g, round(s, 3)) for g, s in c.groups.select("group_id", "score").rows()]
    [('A01.0', 142.857), ('B01.0', 57.143)]
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise InputError(f"threshold must be an integer >= 1; got {threshold!r}")
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise InputError(f"scale must be a positive number; got {scale!r}")
    df = cases.collect() if isinstance(cases, pl.LazyFrame) else cases
    if cost not in df.columns:
        raise ColumnError(cost, f"no cost column {cost!r}; columns: {', '.join(df.columns)}")
    keys = case_keys(df, dx_length, count_diagnostic, dx=dx, px=px)
    cols = [pl.Series("_cost", df[cost])]
    weights: dict[int, float] | None = None
    if year is not None:
        if year not in df.columns:
            raise ColumnError(year, f"no year column {year!r}; columns: {', '.join(df.columns)}")
        years = df.select(_year_expr(year, df.schema[year]).alias("_year")).to_series()
        raw = df[year].cast(pl.String).str.strip_chars()
        bad = raw.filter(years.is_null() & raw.is_not_null() & (raw != ""))
        if bad.len():
            raise InputError(
                f"{bad.len()} case(s) have a year in {year!r} that is neither an integer nor a "
                f"date, e.g. {bad.head(3).to_list()}"
            )
        cols.append(years)
    elif year_weights is not None:
        raise InputError("year_weights needs year= (the name of the cases' year column)")
    frame = keys.with_columns(cols).filter(pl.col("dx_key").is_not_null())
    if year_weights is not None:
        try:
            weights = {int(y): float(w) for y, w in year_weights.items()}
        except (TypeError, ValueError) as e:
            raise InputError(f"year_weights must map years to numbers: {e}") from e
        used = [y for y, w in weights.items() if w > 0]
        frame = frame.filter(pl.col("_year").is_in(used))
    if frame.height == 0:
        raise InputError("no case with a principal diagnosis (in a year of positive weight)")
    counts = frame.group_by("dx_key", "px_key").agg(pl.len().alias("_k"))
    frame = frame.join(counts, on=["dx_key", "px_key"], how="left").with_columns(
        _core=pl.col("_k") >= threshold
    )
    gid = (
        pl.when(~pl.col("_core"))
        .then(pl.col("category") + "|" + pl.col("treatment"))
        .when(pl.col("px_key") == "")
        .then(pl.col("dx_key"))
        .otherwise(pl.col("dx_key") + "|" + pl.col("px_key"))
    )
    frame = frame.with_columns(_gid=gid)
    cal = calibrate(
        frame,
        cost="_cost",
        group="_gid",
        year="_year" if year is not None else None,
        year_weights=weights,
        trim=trim,
        min_cases=1,
        scale=float(scale),
    )
    ok = cal.filter(pl.col("rw") > 0)
    overall = float(ok["mean_cost"][0] / ok["rw"][0]) if ok.height else float("nan")
    groups = (
        frame.group_by("_gid")
        .agg(
            pl.col("_core").first(),
            pl.col("dx_key").first(),
            pl.col("px_key").first(),
            pl.col("category").first(),
            pl.col("treatment").first(),
        )
        .with_columns(
            kind=pl.when("_core").then(pl.lit("core")).otherwise(pl.lit("comprehensive")),
            dx_key=pl.when("_core").then("dx_key").otherwise("category"),
            procedures=pl.when("_core").then("px_key").otherwise(pl.lit("")),
        )
        .with_columns(
            treatment=pl.when("_core")
            .then(_combination_treatment(pl.col("procedures")))
            .otherwise("treatment")
        )
        .join(
            cal.select(pl.col("drg").alias("_gid"), "n", "mean_cost", "base_points"),
            on="_gid",
        )
        .filter(pl.col("base_points").is_not_null())
        .with_columns(_order=pl.col("treatment").replace_strict(
            {t: i for i, t in enumerate(TREATMENTS)}, return_dtype=pl.Int8))
        .sort(pl.col("dx_key").str.slice(0, 3), "_core", "dx_key", "procedures", "_order",
              descending=[False, True, False, False, False])
        .select(
            pl.col("_gid").alias("group_id"),
            "kind",
            "dx_key",
            "procedures",
            "treatment",
            pl.col("base_points").alias("score"),
            "mean_cost",
            pl.col("n").cast(pl.Int64),
            pl.lit(None, pl.String).alias("name"),
        )
    )  # fmt: skip
    n_cases = frame.height
    core_cases = int(frame["_core"].sum())
    meta: dict[str, Any] = {
        **META_DEFAULTS,
        "name": name,
        "version": version,
        "source": source or "drgsim.dip.catalogue.build",
        "dx_length": dx_length,
        "scale": float(scale),
        "count_diagnostic": bool(count_diagnostic),
        "threshold": threshold,
        "mean_cost": overall,
        "cases": n_cases,
        "core_cases": core_cases,
        "core_share": core_cases / n_cases,
        "year_weights": ", ".join(f"{y}:{w:g}" for y, w in sorted(weights.items()))
        if weights
        else "",
        "trim": "" if trim is None else str(trim),
    }
    return Catalogue(groups, meta)


def threshold_for_coverage(
    cases: pl.DataFrame | pl.LazyFrame,
    share: float = 0.85,
    *,
    dx_length: int = 5,
    count_diagnostic: bool = False,
    dx: str = "dx",
    px: str = "px",
) -> int:
    """The largest case threshold whose core groups still cover ``share`` of the cases.

    Regions set the threshold so that core groups cover at least 85 % of cases [SON]. Cases
    without a principal diagnosis count in the total; pass only the years you build from.

    Examples
    --------
    Keys with 5, 3, 1 and 1 cases (10 in all): threshold 3 covers 8/10, threshold 5 only 5/10.

    >>> import polars as pl
    >>> cases = pl.DataFrame({"dx": ["A01.000"] * 5 + ["B01.000"] * 3 + ["C01.000", "D01.000"]})
    >>> threshold_for_coverage(cases, 0.8), threshold_for_coverage(cases, 0.5)
    (3, 5)
    """
    if not 0 < share <= 1:
        raise InputError(f"share must be in (0, 1]; got {share!r}")
    keys = case_keys(cases, dx_length, count_diagnostic, dx=dx, px=px)
    total = keys.height
    counts = (
        keys.filter(pl.col("dx_key").is_not_null())
        .group_by("dx_key", "px_key")
        .len()
        .group_by("len")
        .agg(pl.col("len").sum().alias("_cases"))
        .sort("len", descending=True)
        .with_columns(_covered=pl.col("_cases").cum_sum())
        .filter(pl.col("_covered") >= share * total)
    )
    return int(counts["len"][0]) if counts.height else 1


# ---------------------------------------------------------------------------------------------
# Writing and reading


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return "inf" if v > 0 and math.isinf(v) else repr(v)
    return json.dumps(str(v), ensure_ascii=False)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def meta_path(path: str | os.PathLike[str]) -> Path:
    """Where the metadata of a CSV catalogue lives: ``catalogue.toml`` beside it."""
    return Path(path).parent / "catalogue.toml"


def write(catalogue: Catalogue, path: str | os.PathLike[str]) -> None:
    """Write a catalogue: ``.csv`` (plus ``catalogue.toml`` beside it) or ``.parquet``
    (metadata as key-value metadata ``drgsim.dip.*``), chosen by the suffix.

    Only one CSV catalogue can live in a folder, as its metadata file has a fixed name.
    """
    p = Path(path)
    g = catalogue.groups.select([c for c in COLUMNS if c in catalogue.groups.columns])
    meta = {**META_DEFAULTS, **catalogue.meta}
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        kv = {
            _META_PREFIX + k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in meta.items()
        }
        write_frame(g, p, kv)
    elif suffix == ".csv":
        write_frame(g, p)
        lines = ["# DIP catalogue metadata (drgsim, CATALOGUE.md)"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in meta.items() if v is not None]
        with atomic_output(meta_path(p)) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        raise InputError(f"cannot write {p}: unknown file type {suffix!r} (use .csv or .parquet)")


def _parse_meta(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        t = _META_TYPES.get(k)
        try:
            if t is bool:
                if isinstance(v, str):
                    if v.strip().lower() not in ("true", "false"):
                        raise ValueError(v)
                    v = v.strip().lower() == "true"
                elif not isinstance(v, bool):
                    raise ValueError(v)
            elif t is int:
                if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                    raise ValueError(v)
                v = int(v)
            elif t is float:
                if isinstance(v, bool):
                    raise ValueError(v)
                v = float(v)
            elif k in ("mean_cost", "core_share"):
                v = float(v)
            elif k in ("cases", "core_cases"):
                v = int(v)
        except (TypeError, ValueError):
            raise InputError(f"{where}: metadata {k!r} must be {t.__name__ if t else 'a number'}, "
                             f"not {v!r}") from None  # fmt: skip
        out[k] = v
    if out.get("dx_length", 0) < 0:
        raise InputError(f"{where}: metadata 'dx_length' must be >= 0")
    if not out.get("scale", 1.0) > 0:
        raise InputError(f"{where}: metadata 'scale' must be > 0")
    if out.get("threshold", 1) < 1:
        raise InputError(f"{where}: metadata 'threshold' must be >= 1")
    return out


def _split_procedures(expr: pl.Expr) -> pl.Expr:
    """A procedures cell (codes separated by + / , | ; 、 or spaces) as a normalised combination:
    each code cut to 7 characters, unique, sorted, joined by ``+``."""
    parts = (
        normalise_expr(expr.cast(pl.String).fill_null(""))
        .str.replace_all(r"[+/,|;、\s]+", "+")
        .str.split("+")
        .list.eval(pl.element().filter(pl.element() != "").str.slice(0, PX_LENGTH))
    )
    return parts.list.unique().list.sort().list.join("+")


def _validate(
    df: pl.DataFrame, file: str, *, csv_lines: bool, meta: Mapping[str, Any]
) -> pl.DataFrame:
    """Check and type a catalogue frame; raise one InputError listing every problem."""
    where = (lambda i: f"{file}:{i + 2}") if csv_lines else (lambda i: f"{file}: row {i + 1}")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{file}:1: missing column(s) {', '.join(map(repr, missing))}; a catalogue needs "
            f"{', '.join(REQUIRED)} (CATALOGUE.md)"
        )
    problems: list[str] = []

    def text(c: str) -> pl.Expr:
        return pl.col(c).cast(pl.String).str.strip_chars()

    def report(mask: pl.Expr, col: str, message: pl.Expr | str, frame: pl.DataFrame) -> None:
        msg = pl.lit(message) if isinstance(message, str) else message
        bad = (
            frame.select("_i", msg.alias("_m"), mask.fill_null(False).alias("_bad"))
            .filter("_bad")
            .select("_i", "_m")
        )
        for i, m in bad.head(20).rows():
            problems.append(f"{where(i)}: column {col!r}: {m}")
        if bad.height > 20:
            problems.append(f"{file}: column {col!r}: {bad.height - 20} more like these")

    for c in ("mean_cost", "n", "name"):
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, pl.String).alias(c))
    count_dx = bool(meta.get("count_diagnostic", META_DEFAULTS["count_diagnostic"]))
    t = (
        df.with_row_index("_i")
        .with_columns(
            text("group_id").alias("group_id"),
            text("kind").str.to_lowercase().alias("kind"),
            normalise_expr(pl.col("dx_key").cast(pl.String)).alias("dx_key"),
            _split_procedures(pl.col("procedures")).alias("procedures"),
            text("treatment").alias("treatment"),
            text("score").alias("_score_raw"),
            text("mean_cost").alias("_mean_raw"),
            text("n").alias("_n_raw"),
            text("name").alias("name"),
        )
        .with_columns(
            pl.col("_score_raw").cast(pl.Float64, strict=False).alias("score"),
            pl.col("_mean_raw").cast(pl.Float64, strict=False).alias("mean_cost"),
            pl.col("_n_raw").cast(pl.Float64, strict=False).alias("_n_num"),
            pl.when(pl.col("treatment").is_null() | (pl.col("treatment") == ""))
            .then(
                pl.when(pl.col("kind") == "core").then(_combination_treatment(pl.col("procedures")))
            )
            .otherwise(pl.col("treatment"))
            .alias("treatment"),
        )
    )
    empty = lambda c: pl.col(c).is_null() | (pl.col(c) == "")  # noqa: E731
    report(empty("group_id"), "group_id", "empty group id", t)
    first = pl.col("_i").min().over("group_id")
    report(
        ~empty("group_id") & (pl.col("_i") != first),
        "group_id",
        pl.format(
            "duplicate group id '{}' (first on {} {})",
            "group_id",
            pl.lit("line" if csv_lines else "row"),
            first + (2 if csv_lines else 1),
        ),
        t,
    )
    report(
        ~pl.col("kind").is_in(list(KINDS)),
        "kind",
        pl.format("kind must be core or comprehensive, not '{}'", "kind"),
        t,
    )
    report(empty("dx_key"), "dx_key", "empty principal diagnosis key", t)
    report(
        ~pl.col("treatment").is_in(list(TREATMENTS)),
        "treatment",
        pl.format(
            "treatment must be one of {}, not '{}'", pl.lit(" / ".join(TREATMENTS)), "treatment"
        ),
        t,
    )
    report(
        (pl.col("kind") == "comprehensive") & (pl.col("procedures") != ""),
        "procedures",
        "a comprehensive group lists no procedures",
        t,
    )
    codes = pl.col("procedures").str.split("+").list.eval(pl.element().filter(pl.element() != ""))
    no_chapter = codes.list.eval(pl.element().filter(_rank_expr(pl.element()).is_null())).list.join(
        " "
    )
    report(
        no_chapter != "",
        "procedures",
        pl.format("'{}': not an ICD-9-CM-3 procedure code (no chapter)", no_chapter),
        t,
    )
    if not count_dx:
        diag = codes.list.eval(pl.element().filter(_rank_expr(pl.element()) == 1)).list.join(" ")
        report(
            diag != "",
            "procedures",
            pl.format("diagnostic procedure '{}' in a combination, but count_diagnostic is "
                      "false (set it in the metadata)", diag),
            t,
        )  # fmt: skip
    report(
        (pl.col("kind") == "core") & (
            pl.col("treatment") != _combination_treatment(pl.col("procedures"))),
        "treatment",
        pl.format("core group's treatment '{}' is not that of its procedures ('{}')",
                  "treatment", _combination_treatment(pl.col("procedures"))),
        t,
    )  # fmt: skip
    for key, kind, extra in (
        ("core", "core", "procedures"),
        ("comprehensive", "comprehensive", "treatment"),
    ):
        dupk = (pl.col("kind") == kind) & pl.struct("kind", "dx_key", extra).is_duplicated()
        report(
            dupk,
            extra,
            pl.format(f"two {key} groups with dx_key '{{}}' and {extra} '{{}}'", "dx_key", extra),
            t,
        )
    report(empty("_score_raw"), "score", "score is required", t)
    report(
        ~empty("_score_raw") & pl.col("score").is_null(),
        "score",
        pl.format("'{}' is not a number", "_score_raw"),
        t,
    )
    report(
        ~pl.col("score").is_finite() | (pl.col("score") < 0),
        "score",
        pl.format("score must be a finite number >= 0, not {}", "_score_raw"),
        t,
    )
    report(
        ~empty("_mean_raw")
        & (pl.col("mean_cost").is_null() | ~pl.col("mean_cost").is_finite()
           | (pl.col("mean_cost") < 0)),
        "mean_cost",
        pl.format("mean_cost must be a number >= 0, not '{}'", "_mean_raw"),
        t,
    )  # fmt: skip
    report(
        ~empty("_n_raw")
        & (pl.col("_n_num").is_null() | (pl.col("_n_num") < 0)
           | (pl.col("_n_num") != pl.col("_n_num").floor())),
        "n",
        pl.format("n must be an integer >= 0, not '{}'", "_n_raw"),
        t,
    )  # fmt: skip
    if problems:
        head = f"catalogue {file} has {len(problems)} problem(s):\n  "
        raise InputError(head + "\n  ".join(problems))
    extra_cols = [c for c in df.columns if c not in COLUMNS]
    return t.select(
        "group_id",
        "kind",
        "dx_key",
        "procedures",
        "treatment",
        "score",
        "mean_cost",
        pl.col("_n_num").cast(pl.Int64).alias("n"),
        pl.when(pl.col("name") == "").then(None).otherwise("name").alias("name"),
        *extra_cols,
    )


def validate(
    groups: pl.DataFrame, meta: Mapping[str, Any] | None = None, where: str = "catalogue"
) -> Catalogue:
    """Check a groups frame (any column types) and return a typed :class:`Catalogue`.

    Raises
    ------
    InputError
        Every problem, each naming the row and the column.
    """
    m = {**META_DEFAULTS, **_parse_meta(dict(meta or {}), where)}
    return Catalogue(_validate(groups, where, csv_lines=False, meta=m), m)


def _read_csv_text(p: Path) -> pl.DataFrame:
    """A CSV file as text columns, UTF-8 (with or without BOM), else GB18030."""
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as e:
            raise InputError(f"cannot read {p}: neither UTF-8 nor GB18030 ({e})") from e
    try:
        df = pl.read_csv(text.encode("utf-8"), infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise InputError(f"cannot read {p}: {e}") from e
    return df.rename({c: c.strip().strip(_STRIP) for c in df.columns})


def read(path: str | os.PathLike[str]) -> Catalogue:
    """Read and check a catalogue written by :func:`write` (or by hand in its layout).

    CSV metadata come from ``catalogue.toml`` beside the file (defaults when there is none);
    Parquet metadata from its ``drgsim.dip.*`` keys. Codes are normalised on reading (upper
    case, half-width; combinations cut to 7 characters, unique, sorted, joined with ``+``), and
    an empty ``treatment`` of a core group is taken from its procedures.

    Raises
    ------
    InputError
        The file cannot be read, or has problems: missing columns, empty or duplicate group ids,
        unknown kinds or treatments, scores that are not numbers ≥ 0, two core groups with the
        same key, procedures that cannot match; each named with file, line and column.

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> from drgsim.dip import catalogue as cat
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.csv").write_text(
    ...     "group_id,kind,dx_key,procedures,treatment,score\\n"
    ...     "A,core,K80.0,51.2300,相关手术,-1\\n", encoding="utf-8")
    >>> cat.read(d / "c.csv")
    Traceback (most recent call last):
    ...
    drgsim.exceptions.InputError: catalogue .../c.csv has 1 problem(s):
      .../c.csv:2: column 'score': score must be a finite number >= 0, not -1
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"catalogue file not found: {p}")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            df = pl.read_parquet(p)
            kv = pl.read_parquet_metadata(p)
        except (pl.exceptions.PolarsError, OSError) as e:
            raise InputError(f"cannot read {p}: {e}") from e
        raw = {k[len(_META_PREFIX) :]: v for k, v in kv.items() if k.startswith(_META_PREFIX)}
        meta = {**META_DEFAULTS, **_parse_meta(raw, str(p))}
        return Catalogue(_validate(df, str(p), csv_lines=False, meta=meta), meta)
    if suffix not in (".csv", ".txt"):
        raise InputError(f"cannot read {p}: unknown file type {suffix!r} (use .csv or .parquet)")
    mp = meta_path(p)
    raw_meta: dict[str, Any] = {}
    if mp.is_file():
        try:
            raw_meta = tomllib.loads(mp.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise InputError(f"{mp}: {e}") from e
    meta = {**META_DEFAULTS, **_parse_meta(raw_meta, str(mp))}
    return Catalogue(_validate(_read_csv_text(p), str(p), csv_lines=True, meta=meta), meta)


# ---------------------------------------------------------------------------------------------
# Import of a region's published catalogue

#: Published column names (lower-cased, spaces removed) → catalogue columns.
ALIASES: dict[str, str] = {
    "group_id": "group_id",
    "病种编码": "group_id",
    "病种代码": "group_id",
    "病种组合编码": "group_id",
    "dx_key": "dx_key",
    "主要诊断编码": "dx_key",
    "主要诊断代码": "dx_key",
    "主诊断编码": "dx_key",
    "诊断编码": "dx_key",
    "procedures": "procedures",
    "手术操作编码": "procedures",
    "手术操作代码": "procedures",
    "操作编码": "procedures",
    "手术编码": "procedures",
    "score": "score",
    "分值": "score",
    "病种分值": "score",
    "name": "name",
    "病种名称": "name",
    "kind": "kind",
    "病种类型": "kind",
    "病种类别": "kind",
    "treatment": "treatment",
    "治疗方式": "treatment",
    "mean_cost": "mean_cost",
    "次均费用": "mean_cost",
    "病种次均费用": "mean_cost",
    "n": "n",
    "例数": "n",
    "病例数": "n",
}
_KIND_WORDS = {
    "core": "core",
    "核心": "core",
    "核心病种": "core",
    "comprehensive": "comprehensive",
    "综合": "comprehensive",
    "综合病种": "comprehensive",
}
_TREATMENT_WORDS = {
    **{t: t for t in TREATMENTS},
    "保守": "保守治疗",
    "保守治疗组": "保守治疗",
    "诊断性": "诊断性操作",
    "诊断操作": "诊断性操作",
    "诊断性操作组": "诊断性操作",
    "治疗性": "治疗性操作",
    "治疗操作": "治疗性操作",
    "治疗性操作组": "治疗性操作",
    "手术": "相关手术",
    "手术治疗": "相关手术",
    "相关手术组": "相关手术",
}


def import_catalogue(
    path: str | os.PathLike[str],
    *,
    mapping: Mapping[str, str] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Catalogue:
    """Load a region's published catalogue (CSV in UTF-8 or GB18030, or Parquet).

    Columns are found by :data:`ALIASES` (病种编码/病种代码 → ``group_id``, 主要诊断编码 →
    ``dx_key``, 手术操作编码/操作编码 → ``procedures``, 分值/病种分值 → ``score``, 病种名称 →
    ``name``, 病种类型 → ``kind``, 治疗方式 → ``treatment`` …); ``mapping`` names others
    (``{"score": "RW分值"}``: catalogue column → file column) and wins.

    - ``procedures`` may separate codes with ``+``, ``/``, ``,``, ``|``, ``;``, ``、`` or
      spaces; codes are normalised and cut to 7 characters. A treatment word in the procedure
      column (``保守治疗``, ``相关手术`` …) is moved to ``treatment``.
    - ``kind``: 核心/核心病种 → core, 综合/综合病种 → comprehensive. Without a kind column a
      row is comprehensive when its ``dx_key`` has 3 characters, it lists no procedure and
      names a treatment other than 保守治疗; otherwise core.
    - ``treatment`` accepts the four types and short forms (保守, 手术 …); a core group's
      treatment is always that of its procedures (the matcher keys core groups on the
      procedures; a region's own label is not kept).
    - ``group_id`` is generated as :func:`build` does when the file has none.
    - Metadata: ``meta`` wins; else ``dx_length`` is the longest core ``dx_key`` (cases are
      cut to it, so shorter keys that are whole codes still match), ``count_diagnostic`` is
      true when a combination lists a diagnostic procedure, ``source`` is the file.

    Raises
    ------
    InputError
        As :func:`read`; problems are named by file line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "济宁.csv").write_text(
    ...     "病种编码,病种名称,主要诊断编码,手术操作编码,分值,病种类型\\n"
    ...     "D1,胆囊结石伴胆囊炎,K80.0,51.2300/54.5100,1205,核心\\n"
    ...     "D2,胆石病,K80,相关手术,980,综合\\n", encoding="utf-8")
    >>> c = import_catalogue(d / "济宁.csv", meta={"scale": 1000})
    >>> for row in c.groups.select("group_id", "kind", "procedures", "treatment", "score").rows():
    ...     print(row)
    ('D1', 'core', '51.2300+54.5100', '相关手术', 1205.0)
    ('D2', 'comprehensive', '', '相关手术', 980.0)
    >>> c.dx_length, c.scale
    (5, 1000.0)
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"catalogue file not found: {p}")
    suffix = p.suffix.lower()
    csv_lines = suffix not in (".parquet", ".pq")
    if csv_lines:
        df = _read_csv_text(p)
    else:
        try:
            df = pl.read_parquet(p)
        except (pl.exceptions.PolarsError, OSError) as e:
            raise InputError(f"cannot read {p}: {e}") from e
    rename: dict[str, str] = {}
    for c in df.columns:
        target = ALIASES.get(re.sub(r"\s+", "", c).lower())
        if target is not None and target not in rename.values():
            rename[c] = target
    for target, src in (mapping or {}).items():
        if target not in COLUMNS:
            raise InputError(f"mapping: unknown catalogue column {target!r}; known: {COLUMNS}")
        if src not in df.columns:
            raise InputError(f"{p}: mapping names column {src!r}, which the file does not have")
        rename = {k: v for k, v in rename.items() if v != target and k != src}
        rename[src] = target
    df = df.select([pl.col(c).alias(rename[c]) for c in df.columns if c in rename])
    for c in ("dx_key", "score"):
        if c not in df.columns:
            raise InputError(
                f"{p}:1: no column for {c!r}; give mapping={{{c!r}: 'column name'}} "
                f"(columns found: {', '.join(df.columns) or 'none'})"
            )
    text = lambda c: pl.col(c).cast(pl.String).str.strip_chars()  # noqa: E731
    px = text("procedures") if "procedures" in df.columns else pl.lit("")
    px_word = px.replace_strict(_TREATMENT_WORDS, default=None, return_dtype=pl.String)
    given = (
        text("treatment").replace_strict(_TREATMENT_WORDS, default=text("treatment"))
        if "treatment" in df.columns
        else pl.lit(None, pl.String)
    )
    df = df.with_columns(
        procedures=pl.when(px_word.is_not_null()).then(pl.lit("")).otherwise(px.fill_null("")),
        treatment=pl.when(given.is_null() | (given == "")).then(px_word).otherwise(given),
    )
    df = df.with_columns(procedures=_split_procedures(pl.col("procedures")))
    dx = normalise_expr(text("dx_key"))
    if "kind" in df.columns:
        kind = text("kind").replace_strict(_KIND_WORDS, default=text("kind"))
    else:
        kind = (
            pl.when(
                (dx.str.len_chars() == 3)
                & (pl.col("procedures") == "")
                & pl.col("treatment").is_not_null()
                & (pl.col("treatment") != "保守治疗")
            )
            .then(pl.lit("comprehensive"))
            .otherwise(pl.lit("core"))
        )
    df = df.with_columns(kind=kind, dx_key=dx)
    df = df.with_columns(
        treatment=pl.when(pl.col("kind") == "core")
        .then(_combination_treatment(pl.col("procedures")))
        .otherwise("treatment")
    )
    if "group_id" not in df.columns:
        gid = (
            pl.when(pl.col("kind") == "comprehensive")
            .then(pl.col("dx_key") + "|" + pl.col("treatment").fill_null(""))
            .when(pl.col("procedures") == "")
            .then(pl.col("dx_key"))
            .otherwise(pl.col("dx_key") + "|" + pl.col("procedures"))
        )
        df = df.with_columns(group_id=gid)
    core = df.filter(pl.col("kind") == "core")
    inferred: dict[str, Any] = {"source": str(p), "name": p.stem}
    if core.height:
        inferred["dx_length"] = int(core.select(pl.col("dx_key").str.len_chars().max()).item() or 0)
        has_diag = core.select(
            pl.col("procedures")
            .str.split("+")
            .list.eval(_rank_expr(pl.element()) == 1)
            .list.any()
            .any()
        ).item()
        inferred["count_diagnostic"] = bool(has_diag)
    m = {**META_DEFAULTS, **inferred, **_parse_meta(dict(meta or {}), "meta")}
    return Catalogue(_validate(df, str(p), csv_lines=csv_lines, meta=m), m)
