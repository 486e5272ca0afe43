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
    """Read a CSV (UTF-8, with or without BOM) or Parquet file of cases, columns as text.

    Parameters
    ----------
    path : path
        ``.csv``/``.txt``/``.tsv`` or ``.parquet``/``.pq``.

    Raises
    ------
    InputError
        The file cannot be read; the message names the file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(p)
        if suffix in (".csv", ".txt", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            try:
                return pl.read_csv(p, infer_schema=False, separator=sep)
            except pl.exceptions.ComputeError as e:
                if "utf-8" not in str(e).lower() and "utf8" not in str(e).lower():
                    raise
                return pl.read_csv(p, infer_schema=False, separator=sep, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"cannot read {p}: {e}") from e
    raise InputError(f"cannot read {p}: unknown file type {suffix!r} (expected .csv or .parquet)")


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
