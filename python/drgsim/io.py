"""Reading case files and writing results.

Codes and identifiers are always read as text, so ``01`` stays ``01`` and ``I10.x00`` is not
parsed as a number. A CSV file that is not valid UTF-8 is read with the bad bytes replaced,
so its rows are kept and the damaged codes come out as unknown codes on their rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from drgsim.exceptions import InputError

__all__ = ["read_cases", "write_frame"]


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
        except (pl.exceptions.PolarsError, OSError) as e:
            raise InputError(f"cannot read {p}: {e}") from e
    if suffix in (".csv", ".txt", ".tsv"):
        try:
            encoding = detect_encoding(p)
        except InputError:
            sep = "\t" if suffix == ".tsv" else ","
            try:
                return pl.read_csv(p, infer_schema=False, separator=sep, encoding="utf8-lossy")
            except (pl.exceptions.PolarsError, OSError) as e:
                raise InputError(f"cannot read {p}: {e}") from e
        return read_table(p, encoding=encoding)[0]
    if suffix in (".xlsx", ".xls"):
        return read_table(p)[0]
    raise InputError(
        f"cannot read {p}: unknown file type {suffix!r} (expected .csv, .xlsx or .parquet)"
    )


def write_frame(
    df: pl.DataFrame, path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Write a frame as Parquet (with key-value metadata) or CSV, chosen by the suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    tmp = p.with_name(p.name + ".partial")
    if suffix in (".parquet", ".pq"):
        df.write_parquet(tmp, metadata=dict(metadata or {}))
    elif suffix == ".csv":
        lists = [c for c, t in df.schema.items() if t == pl.List(pl.String)]
        nested = [c for c, t in df.schema.items() if t.is_nested() and c not in lists]
        if nested:
            raise InputError(f"cannot write nested columns {nested} to CSV; use .parquet")
        df.with_columns(pl.col(c).list.join("|") for c in lists).write_csv(tmp)
    else:
        raise InputError(f"cannot write {p}: unknown file type {suffix!r} (use .parquet or .csv)")
    tmp.replace(p)
