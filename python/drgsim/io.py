"""Reading case files and writing results.

Codes and identifiers are always read as text, so ``01`` stays ``01`` and ``I10.x00`` is not
parsed as a number. A CSV file that is not valid UTF-8 is read with the bad bytes replaced,
so its rows are kept and the damaged codes come out as unknown codes on their rows.

Every output file drgsim writes goes through :func:`atomic_output`: it is written under a
temporary name ending in ``.partial`` and renamed to its final name only once complete, so
a process that is interrupted (killed, out of disk, an exception) never leaves a file that
looks complete.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from drgsim.exceptions import InputError

__all__ = [
    "PARTIAL_SUFFIX",
    "atomic_output",
    "read_cases",
    "spreadsheet_safe",
    "write_frame",
    "write_report_csv",
]

#: Suffix of a file being written; it is renamed to its final name when complete.
PARTIAL_SUFFIX = ".partial"


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, hidden: bool = False) -> Iterator[Path]:
    """Write a file under a temporary name and give it its final name only when complete.

    Yields a path beside ``path`` (``<name>.<random>.partial``, in the same folder so the
    rename is atomic; with ``hidden=True`` it starts with a dot, so that dataset readers such
    as Spark, which read every file of a folder but hidden ones, never see it) to write to.
    When the block ends normally the file is flushed to disk and renamed onto ``path`` in one
    step (replacing an older file of that name); when it
    raises, the temporary file is removed. A process killed in the block leaves only the
    ``.partial`` file, never a file under the final name that looks complete.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result.txt"
    >>> with atomic_output(out) as tmp:
    ...     _ = tmp.write_text("done")
    ...     out.exists()
    False
    >>> out.read_text(), [p.name for p in out.parent.iterdir()]
    ('done', ['result.txt'])
    """
    p = Path(path)
    dot = "." if hidden else ""
    tmp = p.with_name(f"{dot}{p.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        yield tmp
        if not tmp.exists():
            raise InputError(f"cannot write {p}: nothing was written")
        _fsync(tmp)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(p.parent)


def _fsync(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(d: Path) -> None:
    """Make the rename durable where the platform allows syncing a folder (POSIX)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_cases(path: str | Path) -> pl.DataFrame:
    """Read a file of cases as it is: CSV/TSV (UTF-8, with or without BOM, or GBK/GB18030,
    detected as :func:`drgsim.readers.detect_encoding` does), ``.xlsx`` or Parquet; columns of
    text files as text.

    A text file that is neither UTF-8 nor GB18030 is read with the undecodable bytes replaced,
    so its rows are kept and the damaged codes come out as unknown codes on their rows.

    Raises
    ------
    InputError
        The file cannot be read; the message names the file.
    """
    from drgsim.readers import detect_encoding, read_table

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pl.read_parquet(p)
        except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException) as e:
            # the Parquet reader panics on some damaged files (a BaseException)
            raise InputError(f"cannot read {p}: {e}") from e
    if suffix in (".csv", ".txt", ".tsv"):
        try:
            encoding = detect_encoding(p)
        except InputError:
            return _read_lossy(p)
        return read_table(p, encoding=encoding)[0]
    if suffix in (".xlsx", ".xls"):
        return read_table(p)[0]
    raise InputError(
        f"cannot read {p}: unknown file type {suffix!r} (expected .csv, .xlsx or .parquet)"
    )


def _lossy_encoding(p: Path, sample: int = 1 << 22) -> str:
    """UTF-8 or GB18030, whichever decodes the start of ``p`` with fewer replaced bytes."""
    with p.open("rb") as f:
        head = f.read(sample)
    bad = {enc: head.decode(enc, errors="replace").count("\ufffd") for enc in ("utf-8", "gb18030")}
    return "gb18030" if bad["gb18030"] < bad["utf-8"] else "utf-8"


def _read_lossy(p: Path) -> pl.DataFrame:
    """Read a CSV that is neither valid UTF-8 nor GB18030, replacing the undecodable bytes.

    The encoding that damages fewer bytes wins, so a GBK export with one bad byte keeps its
    Chinese headers and values.
    """
    from drgsim.readers import separator, transcode

    try:
        enc = _lossy_encoding(p)
        sep = separator(p, enc)
        if enc == "utf-8":
            return pl.read_csv(p, infer_schema=False, separator=sep, encoding="utf8-lossy")
        with tempfile.TemporaryDirectory(prefix="drgsim-") as d:
            tmp = Path(d) / "utf8.csv"
            transcode(p, tmp, enc, lossy=True)
            return pl.read_csv(tmp, infer_schema=False, separator=sep)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"cannot read {p}: {e}") from e


def write_frame(
    df: pl.DataFrame, path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Write a frame as Parquet (with key-value metadata) or CSV, chosen by the suffix.

    The file appears under its name only when complete (see :func:`atomic_output`). CSV is a
    data file for programs: text is written as it is, with no spreadsheet escaping.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        with atomic_output(p) as tmp:
            df.write_parquet(tmp, metadata=dict(metadata or {}))
    elif suffix == ".csv":
        lists = [c for c, t in df.schema.items() if t == pl.List(pl.String)]
        nested = [c for c, t in df.schema.items() if t.is_nested() and c not in lists]
        if nested:
            raise InputError(f"cannot write nested columns {nested} to CSV; use .parquet")
        with atomic_output(p) as tmp:
            df.with_columns(pl.col(c).list.join("|") for c in lists).write_csv(tmp)
    else:
        raise InputError(f"cannot write {p}: unknown file type {suffix!r} (use .parquet or .csv)")


#: First characters that make a spreadsheet program read a CSV cell as a formula (OWASP
#: "CSV injection": ``=``, ``+``, ``-``, ``@``, tab and carriage return).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(df: pl.DataFrame) -> pl.DataFrame:
    """Text columns of ``df`` made safe to open in a spreadsheet program from a CSV file.

    A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    prefixed with a single quote ``'``, so Excel, WPS and LibreOffice show it as text instead
    of evaluating it as a formula (the OWASP advice against CSV injection). Numbers stay
    numbers (a negative 盈亏 is not touched: only text columns are), and other text is
    unchanged.

    This is for CSV files meant for people, such as the demo's summary tables. It changes the
    data, so drgsim's data files (:func:`write_frame`: the output of ``group``, ``pay`` …,
    read back by programs) are written as they are: open those through Excel's import, or use
    the Excel report, whose cells are always text (:data:`drgsim.report.WORKBOOK_OPTIONS`).

    Examples
    --------
    >>> df = pl.DataFrame({"t": ["=1+1", "-x", "@A1", "ok", None], "n": [-1, 2, 3, 4, 5]})
    >>> spreadsheet_safe(df).rows()
    [("'=1+1", -1), ("'-x", 2), ("'@A1", 3), ('ok', 4), (None, 5)]
    """
    pattern = "^[" + "".join("\\" + c if c in "-+" else c for c in FORMULA_TRIGGERS) + "]"
    text = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(
        pl.when(pl.col(c).str.contains(pattern))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def write_report_csv(df: pl.DataFrame, path: str | Path) -> Path:
    """Write a table meant for people as a UTF-8 CSV with a BOM (so Excel reads its Chinese
    text), text made :func:`spreadsheet_safe`, under its name only once complete."""
    path = Path(path)
    with atomic_output(path) as tmp:
        spreadsheet_safe(df).write_csv(tmp, include_bom=True)
    return path
