"""Readers for hospital exports: settlement lists, front sheets and code lists.

Three layouts are turned into one canonical case frame:

* the 结算清单 (settlement list): a main table (``setlinfo``: ``setl_id``, ``gend``, ``age`` …)
  plus child tables of diagnoses (``diseinfo``) and procedures (``oprninfo``), one row per code;
* the 病案首页 (front sheet): one wide row per case with pinyin columns (``XB``, ``NL``,
  ``JBDM``, ``JBDM1..15``, ``SSJCZBM1..7`` …);
* code lists: one row per case with ``|``- or ``,``-joined diagnosis and procedure codes
  (OpenDRG's ``zdList``/``ssList``, ``dx_codes``/``px_codes`` …).

The canonical frame has ``case_id``, ``sex``, ``age``, ``age_days``, ``birth_weight_g``,
``los_days``, ``discharge_type``, ``dx`` and ``px`` (``list[str]``, principal first),
``total_cost``, ``department`` and ``hospital_id`` (null when absent), then ``read_status``
(``ok`` / ``flagged``) and ``read_message``. A row with a bad value is kept and flagged, never
dropped; child rows whose ``setl_id`` has no main row are counted in ``ReadResult.notes``.

Codes and identifiers are read as text. CSV files may be UTF-8 (with or without BOM) or
GBK/GB18030: strict UTF-8 is tried first and GB18030 only when that fails, never the reverse;
a GB18030 file is transcoded to UTF-8 in chunks through a temporary file before Polars reads it.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from drgsim.columns import _SEX
from drgsim.exceptions import InputError

__all__ = [
    "CANONICAL_SCHEMA",
    "ReadResult",
    "detect_encoding",
    "read_any",
    "read_code_lists",
    "read_front_sheet",
    "read_settlement_list",
    "read_table",
    "separator",
    "transcode",
]

#: The columns (and types) every reader returns, in this order.
CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.String(),
    "sex": pl.Int64(),
    "age": pl.Float64(),
    "age_days": pl.Int64(),
    "birth_weight_g": pl.Float64(),
    "los_days": pl.Int64(),
    "discharge_type": pl.Int64(),
    "dx": pl.List(pl.String()),
    "px": pl.List(pl.String()),
    "total_cost": pl.Float64(),
    "department": pl.String(),
    "hospital_id": pl.String(),
    "read_status": pl.String(),
    "read_message": pl.String(),
}

_CHUNK = 1 << 20
_FLOAT = ("age", "birth_weight_g", "total_cost")
_INT = ("age_days", "los_days", "discharge_type")
_TRUE = ("1", "是", "true", "t", "y", "yes", "主", "主要")
_SPLIT = r"\s*[|,;，；]\s*"


@dataclass
class ReadResult:
    """What a reader returns: the canonical case frame and an account of every row.

    Attributes
    ----------
    frame : polars.DataFrame
        One row per case, columns as in :data:`CANONICAL_SCHEMA` (code lists keep their other
        columns after these).
    rows_read : int
        Case rows read (main-table rows for a settlement list).
    rows_kept : int
        Rows in ``frame``; always equal to ``rows_read`` (no row is dropped).
    rows_flagged : int
        Rows with ``read_status == "flagged"``.
    source : str
        The file(s) read.
    layout : str
        ``settlement_list``, ``front_sheet`` or ``code_lists``.
    encoding : str
        Encoding(s) detected for the file(s) (``utf-8``, ``utf-8-sig``, ``gb18030``, ``xlsx`` …).
    notes : dict of str to int
        Counts of other things found, e.g. ``orphan_diagnosis_rows`` (child rows whose
        ``setl_id`` has no main row), ``blank_code_rows``.
    """

    frame: pl.DataFrame
    rows_read: int
    rows_kept: int
    rows_flagged: int
    source: str
    layout: str = ""
    encoding: str = ""
    notes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per fact: rows read/kept/flagged, layout, encoding, notes."""
        lines = [
            f"source: {self.source}",
            f"layout: {self.layout} (encoding {self.encoding})",
            f"rows read {self.rows_read}, kept {self.rows_kept}, flagged {self.rows_flagged}",
        ]
        lines += [f"{k}: {v}" for k, v in self.notes.items() if v]
        if self.rows_flagged:
            top = (
                self.frame.filter(pl.col("read_status") == "flagged")
                .select(pl.col("read_message").str.split("; ").explode())
                .select(pl.col("read_message").str.replace(r"'.*'", "'…'"))
                .group_by("read_message")
                .len()
                .sort("len", descending=True)
                .head(5)
            )
            lines += [f"  {n} × {m}" for m, n in top.iter_rows()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- file level


def detect_encoding(path: str | Path) -> str:
    """Return ``utf-8``, ``utf-8-sig``, ``utf-16`` or ``gb18030`` for a text file, reading it
    in chunks.

    A UTF-16 byte-order mark (Excel's "Unicode text" export) means UTF-16; otherwise strict
    UTF-8 is tried first, and GB18030 (a superset of GBK) only when that fails.

    Raises
    ------
    InputError
        The file is neither; the message names the file, line and byte offset.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(3)
    except OSError as e:
        raise InputError(f"cannot read {p}: {e}") from e
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        err = _decode_all(p, "utf-16", None)
        if err is None:
            return "utf-16"
        raise InputError(
            f"cannot read {p}: line {err[1]}: bytes at offset {err[0]} are not valid UTF-16 "
            "(the file starts with a UTF-16 byte-order mark)"
        )
    enc = "utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8"
    if _decode_all(p, enc, None) is None:
        return enc
    err = _decode_all(p, "gb18030", None)
    if err is None:
        return "gb18030"
    offset, line = err
    raise InputError(
        f"cannot read {p}: line {line}: bytes at offset {offset} are neither UTF-8 nor "
        "GBK/GB18030 (is it a text file?)"
    )


def _decode_all(
    p: Path, enc: str, out: Path | None, errors: str = "strict"
) -> tuple[int, int] | None:
    """Decode ``p`` in chunks (writing UTF-8 to ``out`` if given); (offset, line) of an error.

    With ``errors="replace"`` undecodable bytes become U+FFFD and there is no error."""
    dec = codecs.getincrementaldecoder(enc)(errors=errors)
    done = lines = 0
    sink = out.open("w", encoding="utf-8", newline="") if out is not None else None
    try:
        with p.open("rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                final = not chunk
                try:
                    text = dec.decode(chunk, final=final)
                except UnicodeDecodeError as e:
                    pending = len(dec.getstate()[0]) if not final else 0
                    bad = max(0, done - pending + e.start)
                    with p.open("rb") as g:
                        prefix = g.read(bad)
                    return bad, prefix.count(b"\n") + 1
                if sink is not None:
                    sink.write(text)
                done += len(chunk)
                lines += chunk.count(b"\n")
                if final:
                    return None
    finally:
        if sink is not None:
            sink.close()


def separator(path: str | Path, encoding: str) -> str:
    """The field separator of a text file: a tab for ``.tsv`` files and for files whose
    header line has tabs and no commas (Excel's "Unicode text" export), else a comma."""
    p = Path(path)
    with p.open("rb") as f:
        first = f.read(65536).decode(encoding, errors="replace").split("\n", 1)[0]
    return "\t" if p.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","


def _csv(p: Path, encoding: str | None) -> tuple[pl.DataFrame, str]:
    enc = encoding or detect_encoding(p)
    sep = separator(p, enc)
    norm = codecs.lookup(enc).name
    if norm in ("utf-8", "utf-8-sig"):
        return pl.read_csv(p, infer_schema=False, separator=sep), enc
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="drgsim-")
    os.close(fd)
    try:
        transcode(p, tmp, enc)
        return pl.read_csv(tmp, infer_schema=False, separator=sep), enc
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_table(
    source: str | Path | pl.DataFrame, *, encoding: str | None = None, sheet: str | None = None
) -> tuple[pl.DataFrame, str]:
    """Read a CSV/TSV, Excel or Parquet file with every column as text; (frame, encoding).

    List columns from Parquet stay lists of text. Column names are stripped of spaces.

    Raises
    ------
    InputError
        The file cannot be read; the message names the file (and line, for encodings).
    """
    if isinstance(source, pl.DataFrame):
        return _as_text(source), "frame"
    p = Path(source)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise InputError(f"cannot read {p}: no such file")
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            df, enc = _csv(p, encoding)
        elif suffix in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"):
            try:
                import fastexcel  # noqa: F401
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise InputError(
                    f"cannot read {p}: reading Excel needs the 'fastexcel' package "
                    "(pip install fastexcel)"
                ) from e
            if sheet is None:
                df = pl.read_excel(p, infer_schema_length=0)
            else:
                df = pl.read_excel(p, sheet_name=sheet, infer_schema_length=0)
            enc = suffix.lstrip(".")
        elif suffix in (".parquet", ".pq"):
            df, enc = pl.read_parquet(p), "parquet"
        else:
            raise InputError(
                f"cannot read {p}: unknown file type {suffix!r} "
                "(expected .csv, .tsv, .txt, .xlsx, .xls or .parquet)"
            )
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as e:
        raise InputError(f"cannot read {p}: {e}") from e
    except (Exception, pl.exceptions.PanicException) as e:
        # fastexcel raises its own exception types; Polars' Parquet reader panics on some
        # damaged files (PanicException derives from BaseException)
        raise InputError(f"cannot read {p}: {type(e).__name__}: {e}") from e
    return _as_text(df), enc


def _as_text(df: pl.DataFrame) -> pl.DataFrame:
    """Every column as text; a list column stays a list of text when it is a code-list
    column (``dx``, ``zdList`` …), any other list is joined with ``|`` (one value per row, so a
    list where one value is expected is a bad value on its row, not a crash).

    Raises
    ------
    InputError
        A column cannot be read as text (a struct, or nested lists).
    """
    out = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        clean = name.strip().lstrip("\ufeff")
        if isinstance(dtype, (pl.List, pl.Array)):
            if isinstance(dtype, pl.Array):
                col = col.arr.to_list()
            col = col.cast(pl.List(pl.String))
            if clean.lower() not in _CODE_LISTS:
                col = col.list.join("|")
            out.append(col.alias(clean))
        else:
            out.append(col.cast(pl.String).alias(clean))
    try:
        return df.select(out)
    except pl.exceptions.PolarsError as e:
        kinds = ", ".join(f"{n} ({t})" for n, t in df.schema.items())
        raise InputError(f"cannot read the columns as text: {e}; columns: {kinds}") from e


def _find(df: pl.DataFrame, names: Iterable[str]) -> str | None:
    lower = {c.lower(): c for c in df.columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _need(df: pl.DataFrame, names: Sequence[str], what: str, src: str) -> str:
    col = _find(df, names)
    if col is None:
        shown = ", ".join(df.columns[:30]) + (" …" if df.width > 30 else "")
        raise InputError(
            f"cannot read {src}: no {what} column (looked for {', '.join(names)}); "
            f"columns are: {shown}"
        )
    return col


def _numbered(df: pl.DataFrame, stem: str) -> list[str]:
    pat = re.compile(rf"^{stem}(\d+)$", re.IGNORECASE)
    found = [(int(m.group(1)), c) for c in df.columns if (m := pat.match(c))]
    return [c for _, c in sorted(found)]


# --------------------------------------------------------------------------- row level


def _text(name: str | None) -> pl.Expr:
    if name is None:
        return pl.lit(None, dtype=pl.String)
    s = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _codes(exprs: Sequence[pl.Expr]) -> pl.Expr:
    """Concatenate text expressions (each possibly holding joined codes) into list[str]."""
    if not exprs:
        return pl.lit([], dtype=pl.List(pl.String))
    return pl.concat_list(exprs).list.drop_nulls().fill_null(pl.lit([], dtype=pl.List(pl.String)))


def _split_codes(name: str | None, df: pl.DataFrame) -> pl.Expr:
    if name is None:
        return pl.lit([], dtype=pl.List(pl.String))
    if isinstance(df.schema[name], pl.List):
        raw = pl.col(name)
    else:
        raw = pl.col(name).str.strip_chars().str.replace_all(_SPLIT, "|").str.split("|")
    return raw.list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.len_chars() > 0)
    ).fill_null(pl.lit([], dtype=pl.List(pl.String)))


def _canonical(
    df: pl.DataFrame,
    cols: Mapping[str, str | None],
    dx: pl.Expr,
    px: pl.Expr,
    extra_messages: Sequence[pl.Expr] = (),
    keep: Sequence[str] = (),
) -> pl.DataFrame:
    """Build the canonical frame from text columns; flag bad values on their rows."""
    exprs: list[pl.Expr] = [_text(cols.get("case_id")).alias("case_id")]
    msgs: list[pl.Expr] = []
    # sex
    s = _text(cols.get("sex"))
    norm = s.str.to_lowercase()
    code = pl.coalesce(
        norm.replace_strict(_SEX, default=None, return_dtype=pl.Int64),
        norm.cast(pl.Float64, strict=False)
        .cast(pl.Int64, strict=False)
        .replace_strict({0: 0, 1: 1, 2: 2, 9: 9}, default=None, return_dtype=pl.Int64),
    )
    exprs.append(code.alias("sex"))
    msgs.append(pl.when(s.is_not_null() & code.is_null()).then(pl.format("sex '{}' unknown", s)))
    for canon in ("age", "age_days", "birth_weight_g", "los_days", "discharge_type", "total_cost"):
        t = _text(cols.get(canon))
        if canon == "total_cost":
            t = t.str.replace_all(",", "")
        v = t.cast(pl.Float64, strict=False)
        # not finite, or too large for a whole number (2^53: exact in a float, far beyond any
        # real value), is a bad value of its row
        bad = t.is_not_null() & (v.is_null() | ~v.is_finite() | (v < 0) | (v > 2.0**53))
        msgs.append(pl.when(bad).then(pl.format(f"{canon} '{{}}' is not a number ≥ 0", t)))
        v = pl.when(bad).then(None).otherwise(v)
        if canon in _INT:
            frac = v.is_not_null() & (v != v.floor())
            msgs.append(pl.when(frac).then(pl.format(f"{canon} '{{}}' is not a whole number", t)))
            v = pl.when(frac).then(None).otherwise(v).cast(pl.Int64)
        exprs.append(v.alias(canon))
    exprs.append(dx.alias("dx"))
    exprs.append(px.alias("px"))
    exprs.append(_text(cols.get("department")).alias("department"))
    exprs.append(_text(cols.get("hospital_id")).alias("hospital_id"))
    msgs.append(pl.when(dx.list.len() == 0).then(pl.lit("no diagnosis")))
    msgs.append(
        pl.when(s.is_null() & pl.lit(cols.get("sex") is not None)).then(pl.lit("sex missing"))
    )
    msgs += list(extra_messages)
    message = pl.concat_str([m.cast(pl.String) for m in msgs], separator="; ", ignore_nulls=True)
    message = pl.when(message == "").then(None).otherwise(message)
    exprs += [pl.col(k) for k in keep]
    out = df.select(*exprs, message.alias("read_message"))
    out = out.with_columns(
        pl.when(pl.col("read_message").is_null())
        .then(pl.lit("ok"))
        .otherwise(pl.lit("flagged"))
        .alias("read_status")
    )
    order = [*CANONICAL_SCHEMA, *keep]
    return out.select(order).cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]


def _result(
    frame: pl.DataFrame, rows_read: int, source: str, layout: str, encoding: str, **notes: int
) -> ReadResult:
    if frame.height != rows_read:  # a promise of every reader; keep it checked
        raise InputError(f"{source}: read {rows_read} rows but built {frame.height}")
    flagged = int((frame["read_status"] == "flagged").sum())
    return ReadResult(frame, rows_read, frame.height, flagged, source, layout, encoding, notes)


# --------------------------------------------------------------------------- layouts

_MAIN = {
    "case_id": ("setl_id",),
    "sex": ("gend", "sex", "gender"),
    "age": ("age",),
    "age_days": ("nwb_age", "age_days"),
    "birth_weight_g": ("nwb_bir_wt",),
    "los_days": ("act_ipt_days", "ipt_days"),
    "discharge_type": ("dscg_way",),
    "total_cost": ("medfee_sumamt",),
    "department": ("dscg_caty", "dscg_dept_codg", "dept_code"),
    "hospital_id": ("fixmedins_code", "hospital_id"),
}
_FRONT = {
    "case_id": ("BAH", "case_id"),
    "sex": ("XB",),
    "age": ("NL",),
    "age_days": ("BZYZSNL",),
    "birth_weight_g": ("XSECSTZ",),
    "los_days": ("SJZYTS",),
    "discharge_type": ("LYFS",),
    "total_cost": ("ZFY",),
    "department": ("CYKB", "CYKBDM"),
    "hospital_id": ("ZZJGDM", "YLJGDM", "JGDM", "hospital_id"),
}
_LISTS = {
    "case_id": ("case_id", "index", "id", "setl_id", "bah", "病案号"),
    "sex": ("sex", "gender", "gend", "xb", "性别"),
    "age": ("age", "nl", "年龄"),
    "age_days": ("age_days", "ageday", "age_day", "bzyzsnl", "日龄"),
    "birth_weight_g": ("birth_weight_g", "birth_weight", "weight", "nwb_bir_wt", "出生体重"),
    "los_days": ("los_days", "los", "inhospitaltime", "act_ipt_days", "sjzyts", "住院天数"),
    "discharge_type": ("discharge_type", "leavingtype", "dscg_way", "lyfs", "离院方式"),
    "total_cost": ("total_cost", "medfee_sumamt", "zfy", "总费用", "cost", "totalcost"),
    "department": ("department", "dept", "cykb", "科室", "出院科室"),
    "hospital_id": ("hospital_id", "hospital", "fixmedins_code", "医院编码"),
}
_DX_LIST = ("dx", "dx_codes", "zdlist", "diagnoses", "diagnosis_codes", "diag_codes", "诊断编码")
_PX_LIST = ("px", "px_codes", "sslist", "procedures", "procedure_codes", "oprn_codes", "手术编码")
_CODE_LISTS = {n.lower() for n in (*_DX_LIST, *_PX_LIST)}


def read_settlement_list(
    main: str | Path | pl.DataFrame,
    diagnoses: str | Path | pl.DataFrame,
    procedures: str | Path | pl.DataFrame | None = None,
    *,
    encoding: str | None = None,
) -> ReadResult:
    """Read a 结算清单: main table plus diagnosis (and procedure) child tables.

    Parameters
    ----------
    main : path or DataFrame
        ``setlinfo``: ``setl_id``, ``gend``, ``age``, ``nwb_age``, ``nwb_bir_wt``,
        ``act_ipt_days``, ``dscg_way``, ``medfee_sumamt``, ``dscg_caty``, ``fixmedins_code``.
    diagnoses : path or DataFrame
        ``diseinfo``: ``setl_id``, ``diag_code``, ``maindiag_flag`` (1/是/true), ``diag_srt_no``.
        The principal (flagged) diagnosis comes first, then by ``diag_srt_no``, then file order.
    procedures : path or DataFrame, optional
        ``oprninfo``: ``setl_id``, ``oprn_oprt_code``; the main one (``main_oprn_flag``) first,
        then by ``oprn_oprt_sn``/``oprn_oprt_srt_no``, then by ``oprn_oprt_date``, then file order.
    encoding : str, optional
        Force a CSV encoding instead of detecting it.

    Returns
    -------
    ReadResult
        One row per main-table row. Cases without diagnoses, with several or no principal
        diagnosis flag, duplicated ``setl_id`` or bad values are flagged. Child rows whose
        ``setl_id`` is not in the main table are counted in ``notes``.
    """
    srcs = [str(x) if not isinstance(x, pl.DataFrame) else "<frame>" for x in (main, diagnoses)]
    m, e1 = read_table(main, encoding=encoding)
    d, e2 = read_table(diagnoses, encoding=encoding)
    encs = [e1, e2]
    p: pl.DataFrame | None = None
    if procedures is not None:
        srcs.append(str(procedures) if not isinstance(procedures, pl.DataFrame) else "<frame>")
        p, e3 = read_table(procedures, encoding=encoding)
        encs.append(e3)
    return _settlement(m, d, p, " + ".join(srcs), ", ".join(encs))


def _child(
    df: pl.DataFrame,
    src: str,
    code_names: Sequence[str],
    flag_names: Sequence[str],
    seq_names: Sequence[str],
    date_names: Sequence[str],
    main_ids: pl.Series,
    what: str,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Group child rows into ``setl_id -> codes`` (sorted) plus principal-flag counts."""
    key = _need(df, ("setl_id",), "setl_id", src)
    code = _need(df, code_names, f"{what} code", src)
    flag = _find(df, flag_names)
    seq = _find(df, seq_names)
    date = _find(df, date_names)
    flag_e = (
        _text(flag).str.to_lowercase().is_in(list(_TRUE)).fill_null(False)
        if flag
        else pl.lit(False)
    )
    rows = df.with_row_index("_row").select(
        _text(key).alias("_key"),
        _text(code).alias("_code"),
        flag_e.alias("_main"),
        _text(seq).cast(pl.Float64, strict=False).alias("_seq"),
        _text(date).alias("_date"),
        pl.col("_row"),
    )
    orphan = ~rows["_key"].is_in(main_ids.implode()).fill_null(False)
    blank = rows["_code"].is_null() & ~orphan
    notes = {f"orphan_{what}_rows": int(orphan.sum()), f"blank_{what}_code_rows": int(blank.sum())}
    kept = rows.filter(~orphan & ~blank).sort(
        ["_key", "_main", "_seq", "_date", "_row"],
        descending=[False, True, False, False, False],
        nulls_last=True,
    )
    agg = kept.group_by("_key", maintain_order=True).agg(
        pl.col("_code").alias("_codes"),
        pl.col("_main").sum().alias("_n_main"),
    )
    if flag is None:
        agg = agg.with_columns(pl.lit(None, dtype=pl.UInt32).alias("_n_main"))
    return agg, notes


def _settlement(
    m: pl.DataFrame, d: pl.DataFrame, p: pl.DataFrame | None, src: str, enc: str
) -> ReadResult:
    key = _need(m, ("setl_id",), "setl_id", src)
    cols: dict[str, str | None] = {c: _find(m, names) for c, names in _MAIN.items()}
    _need(m, _MAIN["sex"], "sex (gend)", src)
    if cols["age"] is None and cols["age_days"] is None:
        _need(m, _MAIN["age"], "age", src)
    ids = m[key].str.strip_chars()
    dx, notes = _child(
        d,
        src,
        ("diag_code", "diag_codg"),
        ("maindiag_flag",),
        ("diag_srt_no", "diag_sn"),
        (),
        ids,
        "diagnosis",
    )
    m2 = m.with_row_index("_row").with_columns(_text(key).alias("_key"))
    m2 = m2.join(dx.rename({"_codes": "_dx", "_n_main": "_n_dx_main"}), on="_key", how="left").sort(
        "_row"
    )
    if p is not None:
        px, pn = _child(
            p,
            src,
            ("oprn_oprt_code", "oprn_oprt_codg"),
            ("main_oprn_flag",),
            ("oprn_oprt_sn", "oprn_oprt_srt_no", "oprn_srt_no", "oprn_sn"),
            ("oprn_oprt_date", "oprn_oprt_begntime", "oprn_begntime"),
            ids,
            "procedure",
        )
        notes |= pn
        m2 = m2.join(px.rename({"_codes": "_px", "_n_main": "_n_px_main"}), on="_key", how="left")
        m2 = m2.sort("_row")
    else:
        m2 = m2.with_columns(
            pl.lit(None, dtype=pl.List(pl.String)).alias("_px"),
            pl.lit(None, dtype=pl.UInt32).alias("_n_px_main"),
        )
    dup = pl.col("_key").is_duplicated() & pl.col("_key").is_not_null()
    extra = [
        pl.when(pl.col("_key").is_null()).then(pl.lit("no setl_id")),
        pl.when(dup).then(pl.format("setl_id '{}' appears more than once", pl.col("_key"))),
        pl.when(pl.col("_n_dx_main") == 0).then(pl.lit("no diagnosis marked principal")),
        pl.when(pl.col("_n_dx_main") > 1).then(pl.lit("several diagnoses marked principal")),
        pl.when(pl.col("_n_px_main") > 1).then(pl.lit("several procedures marked main")),
    ]
    empty = pl.lit([], dtype=pl.List(pl.String))
    frame = _canonical(
        m2,
        cols,
        pl.col("_dx").fill_null(empty),
        pl.col("_px").fill_null(empty),
        extra,
    )
    notes["duplicate_setl_id_rows"] = int(m2.select(dup.sum()).item())
    return _result(frame, m.height, src, "settlement_list", enc, **notes)


def read_front_sheet(
    path: str | Path | pl.DataFrame, *, encoding: str | None = None, sheet: str | None = None
) -> ReadResult:
    """Read a 病案首页 export: one wide row per case with pinyin columns.

    ``BAH`` (case id), ``XB``, ``NL``, ``BZYZSNL``, ``XSECSTZ``, ``SJZYTS``, ``LYFS``, ``ZFY``,
    ``CYKB``; diagnoses ``JBDM`` (principal) then ``JBDM1..n``; procedures ``SSJCZBM1..n``
    (the first is the main one). ``.csv`` (UTF-8/GBK), ``.xlsx`` or ``.parquet``.
    """
    df, enc = read_table(path, encoding=encoding, sheet=sheet)
    return _front(df, str(path) if not isinstance(path, pl.DataFrame) else "<frame>", enc)


def _front(df: pl.DataFrame, src: str, enc: str) -> ReadResult:
    cols: dict[str, str | None] = {c: _find(df, names) for c, names in _FRONT.items()}
    _need(df, _FRONT["sex"], "sex (XB)", src)
    if cols["age"] is None and cols["age_days"] is None:
        _need(df, _FRONT["age"], "age (NL)", src)
    main_dx = _find(df, ("JBDM", "ZYZDBM", "ZYZD_JBDM"))
    dx_cols = ([main_dx] if main_dx else []) + _numbered(df, "JBDM")
    if not dx_cols:
        _need(df, ("JBDM",), "diagnosis (JBDM)", src)
    px_cols = _numbered(df, "SSJCZBM")
    extra = []
    if main_dx:
        extra.append(
            pl.when(_text(main_dx).is_null() & pl.lit(len(dx_cols) > 1)).then(
                pl.lit("principal diagnosis (JBDM) empty")
            )
        )
    frame = _canonical(
        df,
        cols,
        _codes([_text(c) for c in dx_cols]),
        _codes([_text(c) for c in px_cols]),
        extra,
    )
    return _result(frame, df.height, src, "front_sheet", enc)


def read_code_lists(
    path: str | Path | pl.DataFrame, *, encoding: str | None = None, sheet: str | None = None
) -> ReadResult:
    """Read one row per case with joined code lists (OpenDRG ``zdList``/``ssList``, ``dx_codes``).

    Codes are split on ``|``, ``,``, ``;`` (and their full-width forms); the first is the
    principal. Columns not used for the canonical ones are kept after them.
    """
    df, enc = read_table(path, encoding=encoding, sheet=sheet)
    return _lists(df, str(path) if not isinstance(path, pl.DataFrame) else "<frame>", enc)


def _lists(df: pl.DataFrame, src: str, enc: str) -> ReadResult:
    cols: dict[str, str | None] = {c: _find(df, names) for c, names in _LISTS.items()}
    _need(df, _LISTS["sex"], "sex", src)
    if cols["age"] is None and cols["age_days"] is None:
        _need(df, _LISTS["age"], "age", src)
    dx = _need(df, _DX_LIST, "diagnosis list", src)
    px = _find(df, _PX_LIST)
    used = {c for c in cols.values() if c} | {dx} | ({px} if px else set())
    keep = [c for c in df.columns if c not in used and c not in CANONICAL_SCHEMA]
    frame = _canonical(df, cols, _split_codes(dx, df), _split_codes(px, df), keep=keep)
    return _result(frame, df.height, src, "code_lists", enc)


def _kind(df: pl.DataFrame) -> str:
    lower = {c.lower() for c in df.columns}
    if "diag_code" in lower or "diag_codg" in lower:
        return "diagnoses"
    if "oprn_oprt_code" in lower or "oprn_oprt_codg" in lower:
        return "procedures"
    if "setl_id" in lower and not lower & set(_DX_LIST):
        return "main"
    if "jbdm" in lower or ("xb" in lower and any(re.fullmatch(r"jbdm\d+", c) for c in lower)):
        return "front_sheet"
    if lower & set(_DX_LIST):
        return "code_lists"
    return "unknown"


def read_any(
    path_or_paths: str | Path | pl.DataFrame | Sequence[str | Path | pl.DataFrame],
    *,
    encoding: str | None = None,
) -> ReadResult:
    """Read cases in any supported layout, detected from the columns.

    Parameters
    ----------
    path_or_paths : path, DataFrame, folder or list of them
        One file (front sheet or code lists), or the two or three files of a settlement list
        in any order (main, diagnoses, procedures), or a folder holding those files.

    Raises
    ------
    InputError
        A file cannot be read, or its layout cannot be recognised (the message lists its
        columns; garbled names usually mean a wrong encoding).
    """
    items: list[str | Path | pl.DataFrame]
    if isinstance(path_or_paths, (str, Path)) and Path(path_or_paths).is_dir():
        folder = Path(path_or_paths)
        exts = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".pq"}
        items = [f for f in sorted(folder.iterdir()) if f.suffix.lower() in exts]
        if not items:
            raise InputError(f"cannot read {folder}: no case files in the folder")
    elif isinstance(path_or_paths, (str, Path, pl.DataFrame)):
        items = [path_or_paths]
    else:
        items = list(path_or_paths)
    loaded: dict[str, tuple[pl.DataFrame, str, str]] = {}
    for item in items:
        src = "<frame>" if isinstance(item, pl.DataFrame) else str(item)
        df, enc = read_table(item, encoding=encoding)
        kind = _kind(df)
        if kind == "unknown":
            shown = ", ".join(df.columns[:30]) + (" …" if df.width > 30 else "")
            raise InputError(
                f"cannot read {src}: layout not recognised (no setl_id/diag_code, JBDM/XB or "
                f"dx_codes/zdList columns); columns are: {shown}"
            )
        if kind in loaded:
            raise InputError(f"cannot read {src}: a second {kind} file ({loaded[kind][1]})")
        loaded[kind] = (df, src, enc)
    kinds = set(loaded)
    if kinds & {"main", "diagnoses", "procedures"}:
        if len(items) == 1 and "main" in kinds:
            raise InputError(
                f"cannot read {loaded['main'][1]}: a settlement-list main table needs its "
                "diagnosis table too; pass [main, diagnoses, procedures]"
            )
        for need in ("main", "diagnoses"):
            if need not in loaded:
                raise InputError(
                    f"cannot read {', '.join(str(i) for i in items)}: settlement list without "
                    f"a {need} table"
                )
        if kinds - {"main", "diagnoses", "procedures"}:
            raise InputError("cannot mix a settlement list with other layouts in one read")
        parts = [loaded[k] for k in ("main", "diagnoses", "procedures") if k in loaded]
        proc = loaded["procedures"][0] if "procedures" in loaded else None
        return _settlement(
            loaded["main"][0],
            loaded["diagnoses"][0],
            proc,
            " + ".join(x[1] for x in parts),
            ", ".join(x[2] for x in parts),
        )
    if len(items) != 1:
        raise InputError(
            f"cannot read {', '.join(str(i) for i in items)}: several files are only "
            "accepted for a settlement list (main + diagnoses + procedures)"
        )
    ((kind, (df, src, enc)),) = loaded.items()
    if kind == "front_sheet":
        return _front(df, src, enc)
    return _lists(df, src, enc)


def transcode(src: str | Path, dst: str | Path, encoding: str, *, lossy: bool = False) -> None:
    """Write ``src``, a text file in ``encoding``, to ``dst`` as UTF-8, in a stream.

    With ``lossy``, bytes that are not valid ``encoding`` are replaced (U+FFFD) instead.

    Raises
    ------
    InputError
        ``src`` is not valid ``encoding`` (and not ``lossy``); the message names the line and
        byte offset.
    """
    err = _decode_all(Path(src), encoding, Path(dst), "replace" if lossy else "strict")
    if err is not None:
        offset, line = err
        raise InputError(
            f"cannot read {src}: line {line}: bytes at offset {offset} are not {encoding}"
        )
