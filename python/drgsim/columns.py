"""Canonical case columns, the aliases hospitals' exports use for them, and their checks.

The canonical case frame has these columns:

=================  ==============================================  =========================
column             meaning                                         accepted types
=================  ==============================================  =========================
``sex``            1 male, 2 female (also 男/女, M/F, male/female)  integer or string
``age``            age in years                                     number or numeric string
``age_days``       age in days (日龄), for infants                  number or numeric string
``birth_weight_g`` birth weight in grams (新生儿出生体重)            number or numeric string
``los_days``       length of stay in days (实际住院天数)             number or numeric string
``discharge_type`` 离院方式: 1 医嘱离院, 2 转院, 5 死亡 …            number or numeric string
``dx``             diagnoses, principal first                       list[str] or str split on
                                                                    ``|`` ``,`` ``;``
``px``             procedures, principal first                      same as ``dx``
=================  ==============================================  =========================

Categorical and Enum columns count as strings, decimals as numbers. Full-width characters in
numbers and sex codes (``６０``, ``Ｍ``, typed with a Chinese input method) are read as their
ASCII forms. A true/false column cannot hold any of these values and is refused, as are
dates, durations, structs and binary columns: they are a mapped-wrong column, not bad rows.
A value that cannot be read marks its own row ``invalid`` (reason ``bad_value``); the
message quotes at most :data:`MAX_QUOTED` characters of it.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from drgsim.exceptions import ColumnError

CANONICAL: tuple[str, ...] = (
    "sex",
    "age",
    "age_days",
    "birth_weight_g",
    "los_days",
    "discharge_type",
    "dx",
    "px",
)
REQUIRED: tuple[str, ...] = ("sex", "age", "dx")
NUMERIC: tuple[str, ...] = ("age", "age_days", "birth_weight_g", "los_days", "discharge_type")
CODES: tuple[str, ...] = ("dx", "px")
#: Characters of a bad input value quoted in a row's message (the engine uses the same).
MAX_QUOTED = 40

# Full-width forms (U+FF01-U+FF5E and the ideographic space) and their ASCII equivalents.
_FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_ASCII = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]
_HAS_FULL_WIDTH = r"[\x{FF01}-\x{FF5E}\x{3000}]"
# Numeric types the engine reads directly; other numbers (decimals, 128-bit) become Float64.
_ENGINE_NUMBERS = (
    pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8,
    pl.UInt64, pl.UInt32, pl.UInt16, pl.UInt8,
)  # fmt: skip

#: Names recognised for each canonical column (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "sex": ("sex", "gender", "gend", "xb", "性别", "patient_sex"),
    "age": ("age", "nl", "年龄", "age_years", "年龄(岁)", "年龄_岁"),
    "age_days": (
        "age_days",
        "ageday",
        "age_day",
        "bzyzsnl",
        "日龄",
        "年龄不足1周岁的年龄(天)",
        "不足一周岁年龄",
        "年龄(天)",
    ),
    "birth_weight_g": (
        "birth_weight_g",
        "birth_weight",
        "weight",
        "nwb_bir_wt",
        "xsecstz",
        "新生儿出生体重",
        "出生体重",
        "新生儿出生体重(克)",
    ),
    "los_days": (
        "los_days",
        "los",
        "inhospitaltime",
        "住院天数",
        "act_ipt_days",
        "sjzyts",
        "实际住院天数",
        "住院天数(天)",
    ),
    "discharge_type": (
        "discharge_type",
        "leavingtype",
        "dscg_way",
        "lyfs",
        "离院方式",
        "discharge",
        "出院方式",
    ),
    "dx": (
        "dx",
        "dx_codes",
        "diagnoses",
        "diagnosis_codes",
        "icd10_drgs",
        "诊断编码",
        "诊断代码",
        "zdbm",
        "jbdm",
        "diag_codes",
    ),
    "px": (
        "px",
        "px_codes",
        "procedures",
        "procedure_codes",
        "icd9_drgs",
        "手术编码",
        "手术及操作编码",
        "ssbm",
        "ssjczbm",
        "oprn_oprt_codes",
    ),
}

_SEX: dict[str, int] = {
    "1": 1, "m": 1, "male": 1, "男": 1, "男性": 1,
    "2": 2, "f": 2, "female": 2, "女": 2, "女性": 2,
    "0": 0, "9": 9, "未知": 0, "未说明": 9, "未说明的性别": 9, "unknown": 0, "u": 0,
}  # fmt: skip


def resolve_columns(
    schema: Mapping[str, pl.DataType],
    columns: Mapping[str, str] | None = None,
    required: tuple[str, ...] = REQUIRED,
) -> dict[str, str]:
    """Map canonical column names to the frame's column names.

    Parameters
    ----------
    schema : mapping of column name to dtype
        The input frame's schema.
    columns : mapping, optional
        Explicit ``{canonical: actual}`` choices; they win over aliases.
    required : tuple of str
        Canonical columns that must be found (default: ``sex``, ``age``, ``dx``).

    Returns
    -------
    dict
        ``{canonical: actual}`` for every canonical column found.

    Raises
    ------
    ColumnError
        A required column (``sex``, ``age``, ``dx``) is missing, an explicit column does not
        exist, or a column has a type that cannot hold its values.

    Examples
    --------
    >>> import polars as pl
    >>> resolve_columns({"性别": pl.Int64, "NL": pl.Int64, "dx_codes": pl.String})
    {'sex': '性别', 'age': 'NL', 'dx': 'dx_codes'}
    """
    names = list(schema)
    lower = {n.strip().lower(): n for n in names}
    out: dict[str, str] = {}
    explicit = dict(columns or {})
    for canon, actual in explicit.items():
        if canon not in CANONICAL:
            raise ColumnError(
                canon, f"unknown canonical column {canon!r}; expected one of {', '.join(CANONICAL)}"
            )
        if actual not in schema:
            raise ColumnError(
                canon,
                f"column {actual!r} (given for {canon!r}) is not in the "
                f"input; columns are: {', '.join(names)}",
            )
        out[canon] = actual
    for canon in CANONICAL:
        if canon in out:
            continue
        for alias in ALIASES[canon]:
            if alias in lower:
                out[canon] = lower[alias]
                break
    for canon in required:
        if canon not in out:
            if canon == "age" and "age_days" in out:
                continue
            raise ColumnError(
                canon,
                f"missing column {canon!r} ({_describe(canon)}); recognised names are "
                f"{', '.join(ALIASES[canon])}; map another column with columns={{{canon!r}: ...}}",
            )
    for canon, actual in out.items():
        _check_type(canon, actual, schema[actual])
    return {c: out[c] for c in CANONICAL if c in out}


def _describe(canon: str) -> str:
    return {
        "sex": "1 male / 2 female",
        "age": "age in years",
        "dx": "diagnosis codes, principal first, as list[str] or a '|'-separated string",
    }.get(canon, canon)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Null) or isinstance(dtype, (pl.Categorical, pl.Enum))


def _check_type(canon: str, actual: str, dtype: pl.DataType) -> None:
    if canon in CODES:
        ok = _is_text(dtype) or (
            isinstance(dtype, (pl.List, pl.Array)) and _is_text(dtype.inner)  # type: ignore[arg-type]
        )
        if not ok:
            raise ColumnError(
                canon,
                f"column {actual!r} ({canon}) has type {dtype}; expected "
                "list[str] or str with codes separated by '|' or ','",
            )
    else:
        if dtype == pl.Boolean:
            raise ColumnError(
                canon,
                f"column {actual!r} ({canon}) is a true/false column; expected a number or a "
                "string holding a number (is the right column mapped?)",
            )
        ok = dtype.is_numeric() or _is_text(dtype)
        if not ok:
            raise ColumnError(
                canon,
                f"column {actual!r} ({canon}) has type {dtype}; expected a "
                "number or a string holding a number",
            )


def _ascii_forms(col: pl.Expr) -> pl.Expr:
    """``col`` (strings) with full-width characters replaced by their ASCII forms."""
    return (
        pl.when(col.str.contains(_HAS_FULL_WIDTH))
        .then(col.str.replace_many(_FULL_WIDTH, _ASCII))
        .otherwise(col)
    )


def _quoted(col: pl.Expr) -> pl.Expr:
    """``col`` as a message quotes it: at most :data:`MAX_QUOTED` characters."""
    n = col.str.len_chars()
    return (
        pl.when(n > MAX_QUOTED)
        .then(pl.format("{}… ({} characters)", col.str.slice(0, MAX_QUOTED), n))
        .otherwise(col)
    )


def canonical_frame(df: pl.DataFrame, mapping: Mapping[str, str]) -> pl.DataFrame:
    """Build the frame the engine reads: canonical names, sex as a code, ``_input_error``.

    Numeric columns stay as they are (strings are parsed by the engine, which marks a value
    that is not a number on its row), with full-width characters in strings read as ASCII;
    categorical columns become strings and decimals floats. Sex strings are mapped to codes;
    an unrecognised sex string marks its row invalid instead of being guessed.
    """
    exprs: list[pl.Expr] = []
    errors: list[pl.Expr] = []
    for canon, actual in mapping.items():
        col = pl.col(actual)
        dtype = df.schema[actual]
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            col, dtype = col.cast(pl.String), pl.String()
        if canon not in CODES and dtype == pl.String:
            col = _ascii_forms(col)
        if canon == "sex" and dtype == pl.String:
            norm = col.str.strip_chars().str.to_lowercase()
            code = pl.coalesce(
                norm.replace_strict(_SEX, default=None, return_dtype=pl.Float64),
                norm.cast(pl.Float64, strict=False),  # other numbers: the engine judges them
            )
            exprs.append(code.alias("sex"))
            errors.append(
                pl.when(norm.is_not_null() & (norm != "") & code.is_null())
                .then(
                    pl.format(
                        "sex: '{}' is not a recognised sex code (1/2, 男/女, M/F)",
                        _quoted(pl.col(actual).cast(pl.String)),
                    )
                )
                .otherwise(None)
            )
        elif dtype == pl.Null:  # all-null columns travel as typed nulls
            target = pl.String if canon in CODES or canon == "sex" else pl.Float64
            exprs.append(col.cast(target).alias(canon))
        elif isinstance(dtype, pl.List) and dtype.inner != pl.String:  # null or categorical
            exprs.append(col.cast(pl.List(pl.String)).alias(canon))
        elif isinstance(dtype, pl.Array):
            exprs.append(col.arr.to_list().cast(pl.List(pl.String)).alias(canon))
        elif dtype.is_numeric() and dtype not in _ENGINE_NUMBERS:
            exprs.append(col.cast(pl.Float64).alias(canon))
        else:
            exprs.append(col.alias(canon))
    if errors:
        exprs.append(pl.coalesce(errors).alias("_input_error"))
    return df.select(exprs)
