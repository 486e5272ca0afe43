"""Regroup any volume of cases on one machine: streamed, bounded in memory, resumable.

:func:`regroup` reads Parquet or CSV files, or partitioned dataset folders of them (for
example ``region=320900/month=2025-01/part-0.parquet``), in Arrow record batches, groups
each batch in the Rust core and writes one Parquet file per input file under the output
folder, at the same relative path, so the output keeps the input's partitioning.

Every output file records the table set's name, its content hash and the drgsim version, in
its Parquet key-value metadata (``drgsim.tables_name`` ...) and in the columns
``tables_name``, ``tables_hash`` and ``drgsim_version``, together with the input file it
came from and that file's size and modification time. A file is written under a hidden
temporary name (``.NAME.<random>.partial``) and renamed only when complete, so a reader never sees
half a file. A run that is interrupted can be started again with the same command: every
output that is complete and was made from the same input under the same tables is skipped.

Examples
--------
>>> import tempfile, pathlib
>>> import polars as pl
>>> from drgsim.stream import regroup
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "in" / "month=2025-01").mkdir(parents=True)
>>> pl.DataFrame({"case_id": [1, 2], "sex": [1, 2], "age": [60, 30],
...               "dx": [["I63.900"], ["O80.000"]], "px": [[], ["73.6x01"]]}
...              ).write_parquet(root / "in" / "month=2025-01" / "a.parquet")
>>> run = regroup([root / "in"], "teaching", root / "out")
>>> run.cases, run.files_written, run.files_skipped
(2, 1, 0)
>>> pl.read_parquet(root / "out" / "month=2025-01" / "a.parquet")["drg"].to_list()
['BR15', 'OR19']
>>> regroup([root / "in"], "teaching", root / "out").files_skipped  # resumed: nothing to do
1
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from drgsim.exceptions import InputError
from drgsim.grouping import group_frame, provenance_columns, provenance_metadata
from drgsim.io import PARTIAL_SUFFIX, atomic_output
from drgsim.tables import TableSet, load

if TYPE_CHECKING:
    from polars._typing import ParquetCompression

__all__ = [
    "FileResult",
    "RegroupRun",
    "Unit",
    "check_output",
    "discover",
    "read_batches",
    "regroup",
    "remove_partials",
    "total_rows",
    "write_batches",
]

#: Input file suffixes and how they are read.
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".txt": "csv"}
#: Cases per record batch: large enough to keep both cores busy, small enough to bound memory.
BATCH_ROWS = 131_072
#: Name of the run summary written at the top of the output folder.
SUMMARY_FILE = "_drgsim_regroup.json"


@dataclass(frozen=True)
class Unit:
    """One input file and where its output goes.

    Attributes
    ----------
    source : Path
        The input file.
    relative : Path
        The output's path under the output folder (the input's path under its dataset
        folder, with the suffix ``.parquet``).
    kind : {"parquet", "csv"}
    rows : int or None
        Number of cases when known without reading the file (Parquet metadata).
    """

    source: Path
    relative: Path
    kind: str
    rows: int | None

    def fingerprint(self) -> str:
        """Size and modification time of the input, recorded in the output to resume safely."""
        st = self.source.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"


@dataclass(frozen=True)
class FileResult:
    """One output of a :func:`regroup` run.

    Attributes
    ----------
    path : str
        The output's path under the output folder.
    source : str
        The input file it was made from.
    status : dict
        Cases per status.
    skipped : bool
        True when the output was already complete and this run kept it.
    """

    path: str
    source: str
    status: dict[str, int]
    skipped: bool

    @property
    def cases(self) -> int:
        """Cases in the output."""
        return sum(self.status.values())


@dataclass
class RegroupRun:
    """What a :func:`regroup` run did.

    Attributes
    ----------
    output : Path
        The output folder.
    tables : dict
        ``tables_name``, ``tables_hash`` and ``drgsim_version``.
    files : list of FileResult
        One per output, written now or found complete; the counts below derive from them.
    seconds : float
        Wall time of the run.
    """

    output: Path
    tables: dict[str, str]
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        """Cases in all outputs."""
        return sum(f.cases for f in self.files)

    @property
    def cases_written(self) -> int:
        """Cases grouped by this run."""
        return sum(f.cases for f in self.files if not f.skipped)

    @property
    def files_written(self) -> int:
        """Outputs written by this run."""
        return sum(not f.skipped for f in self.files)

    @property
    def files_skipped(self) -> int:
        """Complete outputs this run kept."""
        return sum(f.skipped for f in self.files)

    @property
    def status(self) -> dict[str, int]:
        """Cases per status over all outputs."""
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.status)
        return dict(total)

    def summary(self) -> str:
        """A few lines for the terminal."""
        rate = self.cases_written / self.seconds if self.seconds > 0 else 0.0
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(self.status.items()))
        return (
            f"tables {self.tables['tables_name']} ({self.tables['tables_hash'][:12]}), "
            f"drgsim {self.tables['drgsim_version']}\n"
            f"{self.cases:,} cases in {len(self.files)} file(s): {self.files_written} written, "
            f"{self.files_skipped} already complete; {counts}\n"
            f"{self.seconds:.1f} s, {rate:,.0f} cases/s grouped"
        )

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (timing and what was skipped left out, so a resumed run
        and an uninterrupted one write the same summary)."""
        return {
            "tables": self.tables,
            "cases": self.cases,
            "status": dict(sorted(self.status.items())),
            "files": [
                {"path": f.path, "source": f.source, "cases": f.cases}
                for f in sorted(self.files, key=lambda f: f.path)
            ],
        }


def _parquet_rows(path: Path) -> int:
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"cannot read {path}: {e}") from e


def discover(inputs: Sequence[str | os.PathLike[str]]) -> list[Unit]:
    """The input files of a run, each with its output path.

    A file stands for itself (its output is named after it); a folder stands for every
    ``.parquet``, ``.csv``, ``.tsv`` or ``.txt`` file below it, whose outputs keep their path
    under the folder. Hidden files and names starting with ``_`` (markers such as
    ``_SUCCESS``) are ignored, as Spark and Hive do.

    Raises
    ------
    InputError
        An input does not exist, holds no case file, or two inputs map to one output.
    """
    units: list[Unit] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in SUFFIXES
                and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts)
            )
            if not found:
                raise InputError(f"{p}: no .parquet or .csv files below this folder")
            pairs = [(f, f.relative_to(p)) for f in found]
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise InputError(f"{p}: unknown file type {p.suffix!r} (expected .parquet or .csv)")
            pairs = [(p, Path(p.name))]
        else:
            raise InputError(f"{p}: no such file or folder")
        for f, rel in pairs:
            kind = SUFFIXES[f.suffix.lower()]
            rows = _parquet_rows(f) if kind == "parquet" else None
            units.append(Unit(f, rel.with_suffix(".parquet"), kind, rows))
    seen: dict[Path, Path] = {}
    for u in units:
        if u.relative in seen:
            raise InputError(
                f"{seen[u.relative]} and {u.source} would both be written to {u.relative}; "
                "regroup them in separate runs or give their parent folder"
            )
        seen[u.relative] = u.source
    return units


def total_rows(units: Sequence[Unit]) -> int | None:
    """Cases in ``units``, or None when one of them (a CSV file) has an unknown count."""
    rows = [u.rows for u in units]
    return None if None in rows else sum(r or 0 for r in rows)


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def check_output(inputs: Sequence[str | os.PathLike[str]], output: Path) -> None:
    """Refuse an output folder that holds an input or sits inside an input folder (its files
    would be read back as input on the next run, or overwrite an input).

    Raises
    ------
    InputError
        The folders overlap; the message names both.
    """
    for item in inputs:
        p = Path(item)
        if _inside(p, output) or (p.is_dir() and _inside(output, p)):
            raise InputError(
                f"output folder {output} overlaps input {p}: the output would be read back as "
                "input or overwrite it; choose a separate folder"
            )


def _metadata(ts: TableSet, unit: Unit, keep: Sequence[str] | None) -> dict[str, str]:
    return {
        **provenance_metadata(ts),
        "drgsim.keep": "*" if keep is None else json.dumps(list(keep), ensure_ascii=False),
        "drgsim.source": unit.relative.with_suffix(unit.source.suffix).as_posix(),
        "drgsim.source_fingerprint": unit.fingerprint(),
    }


def _complete(path: Path, expected: Mapping[str, str]) -> bool:
    """A finished output made from the same input under the same tables and drgsim version."""
    if not path.is_file():
        return False
    try:
        meta = pl.read_parquet_metadata(path)
    except (pl.exceptions.PolarsError, OSError):
        return False  # not a readable Parquet file: write it again
    return all(meta.get(k) == v for k, v in expected.items())


def _parquet_slices(
    path: Path, rows: int | None, batch_rows: int, shown: Path
) -> Iterator[pl.DataFrame]:
    """``path`` (of ``rows`` rows, counted here when None) in slices of ``batch_rows`` rows,
    each read only when the previous is taken; a file without rows gives one empty frame,
    so its columns are known.

    Pull-based on purpose: ``collect_batches`` runs ahead of a slow consumer and buffers,
    so its memory grows with the file; a slice reads just the row groups it covers.
    """
    try:
        total = _parquet_rows(path) if rows is None else rows
        for off in range(0, max(total, 1), batch_rows):
            yield pl.scan_parquet(path).slice(off, batch_rows).collect()
    except pl.exceptions.PolarsError as e:
        raise InputError(f"cannot read {shown}: {e}") from e


def _csv_batches(unit: Unit, batch_rows: int, scratch: Path) -> Iterator[pl.DataFrame]:
    """A CSV file as text columns: converted in a stream to a scratch Parquet file (GBK,
    GB18030 and UTF-16 transcoded to UTF-8 first), then read in slices like Parquet input."""
    from drgsim.readers import detect_encoding, separator, transcode

    stem = scratch / unit.relative.as_posix().replace("/", "__")
    src, temps = unit.source, []
    try:
        encoding = detect_encoding(src)
        if encoding not in ("utf-8", "utf-8-sig"):  # Polars reads UTF-8 only
            temps.append(stem.with_suffix(".utf8.csv"))
            transcode(src, temps[-1], encoding)
            src = temps[-1]
        sep = separator(unit.source, encoding)
        temps.append(stem.with_suffix(".parquet"))
        try:
            pl.scan_csv(src, infer_schema=False, separator=sep, encoding="utf8").sink_parquet(
                temps[-1], compression="lz4", row_group_size=batch_rows
            )
        except pl.exceptions.PolarsError as e:
            raise InputError(f"cannot read {unit.source}: {e}") from e
        yield from _parquet_slices(temps[-1], None, batch_rows, unit.source)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)


def _prefetched(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Read the next batch in a thread while the caller works on this one (one ahead)."""
    import queue
    import threading

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def run() -> None:
        try:
            for b in batches:
                if stop.is_set():
                    return
                q.put(("batch", b))
            q.put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            q.put(("error", e))

    t = threading.Thread(target=run, name="drgsim-read", daemon=True)
    t.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # let the reader see the stop signal
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
            t.join(timeout=0.05)


def read_batches(unit: Unit, batch_rows: int, scratch: Path) -> Iterator[pl.DataFrame]:
    """The cases of ``unit`` in frames of at most ``batch_rows`` rows, in file order (at
    least one frame, empty for a file without rows).

    Memory stays bounded whatever the file size: at most the batch being used and the next
    one, read ahead in a thread. ``scratch`` is a folder for temporary copies of CSV input.
    """
    if unit.kind == "csv":
        yield from _prefetched(_csv_batches(unit, batch_rows, scratch))
    else:
        yield from _prefetched(_parquet_slices(unit.source, unit.rows, batch_rows, unit.source))


def _regroup_unit(
    unit: Unit,
    ts: TableSet,
    final: Path,
    *,
    columns: Mapping[str, str] | None,
    batch_rows: int,
    threads: int | None,
    compression: str,
    keep: Sequence[str] | None,
    scratch: Path,
    progress: Callable[[int], None] | None,
) -> Counter[str]:
    """Group one input file into ``final`` (via a hidden partial file); status counts."""
    status: Counter[str] = Counter()
    batches = read_batches(unit, batch_rows, scratch)
    first = next(batches)
    missing = [c for c in keep or () if c not in first.columns]
    if missing:
        raise InputError(f"{unit.source}: no column {', '.join(map(repr, missing))} to keep")

    def result(batch: pl.DataFrame) -> pl.DataFrame:
        out = group_frame(batch, ts, columns=columns, provenance=True, threads=threads)
        if keep is None:
            return out
        return out.select(*keep, *(c for c in out.columns if c not in batch.columns))

    schema = result(first.head(0)).schema

    def grouped() -> Iterator[pl.DataFrame]:
        for batch in itertools.chain([first], batches):
            out = result(batch)
            status.update(dict(out["status"].value_counts().iter_rows()))
            if progress is not None:
                progress(out.height)
            yield out

    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(final, hidden=True) as partial:
        write_batches(grouped(), schema, partial, compression, _metadata(ts, unit, keep))
    return status


def write_batches(
    batches: Iterator[pl.DataFrame],
    schema: pl.Schema,
    path: Path,
    compression: str = "zstd",
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write frames of ``schema``, taken one at a time from ``batches``, as one Parquet file
    through Polars' streaming sink (memory bounded by a few batches, not the file)."""
    from polars.io.plugins import register_io_source

    register_io_source(lambda *_: batches, schema=schema).sink_parquet(
        path,
        compression=cast("ParquetCompression", compression),
        metadata=dict(metadata or {}),
    )


def _finished_status(path: Path) -> Counter[str]:
    counts = pl.scan_parquet(path).group_by("status").len().collect()
    return Counter(dict(counts.iter_rows()))


def regroup(
    inputs: Sequence[str | os.PathLike[str]],
    tables: str | os.PathLike[str] | TableSet,
    output: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
    threads: int | None = None,
    compression: str = "zstd",
    keep: Sequence[str] | None = None,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[list[Unit], int | None], None] | None = None,
) -> RegroupRun:
    """Group every case of ``inputs`` and write partitioned Parquet under ``output``.

    Parameters
    ----------
    inputs : sequence of paths
        Parquet or CSV files, or dataset folders (see :func:`discover`).
    tables : str, path or TableSet
        The table set.
    output : path
        The output folder; created if missing. It must not overlap an input.
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices (see :func:`drgsim.group`).
    batch_rows : int, default 131072
        Cases per record batch; memory grows with it, not with the input size.
    threads : int, optional
        Grouping threads (default: all cores, or ``RAYON_NUM_THREADS``).
    compression : str, default "zstd"
        Parquet compression (``zstd``, ``lz4``, ``snappy``, ``uncompressed`` ...).
    keep : sequence of str, optional
        Input columns to carry into the output (default: all of them), e.g. only the claim
        id; the result and provenance columns always follow. Outputs made with another
        choice are not taken as complete.
    force : bool, default False
        Regroup every file, even those with a complete output.
    progress : callable, optional
        Called with the number of cases of each batch done.
    on_start : callable, optional
        Called once with the units to do and their total number of cases (None when a CSV
        input makes it unknown), after complete outputs are set aside.

    Returns
    -------
    RegroupRun
        Counts, per-file results and the tables' provenance; also written as
        ``_drgsim_regroup.json`` in the output folder.

    Raises
    ------
    InputError
        An input cannot be read, or the output overlaps an input.
    TableNotFoundError, TableError
        The table set cannot be loaded.
    """
    start = time.perf_counter()
    ts = tables if isinstance(tables, TableSet) else load(tables)
    out_dir = Path(output)
    check_output(inputs, out_dir)
    units = discover(inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = RegroupRun(output=out_dir, tables=provenance_columns(ts))
    remove_partials(out_dir)  # left by an interrupted run
    todo: list[Unit] = []
    for u in units:
        final = out_dir / u.relative
        if not force and _complete(final, _metadata(ts, u, keep)):
            run.files.append(_result(u, _finished_status(final), skipped=True))
        else:
            todo.append(u)
    if on_start is not None:
        on_start(todo, total_rows(todo))
    with tempfile.TemporaryDirectory(prefix=".drgsim-", dir=out_dir) as scratch:
        for u in todo:
            counts = _regroup_unit(
                u,
                ts,
                out_dir / u.relative,
                columns=columns,
                batch_rows=batch_rows,
                threads=threads,
                compression=compression,
                keep=keep,
                scratch=Path(scratch),
                progress=progress,
            )
            run.files.append(_result(u, counts, skipped=False))
    run.seconds = time.perf_counter() - start
    _write_summary(out_dir / SUMMARY_FILE, run)
    return run


def _result(unit: Unit, status: Counter[str], *, skipped: bool) -> FileResult:
    return FileResult(unit.relative.as_posix(), str(unit.source), dict(status), skipped)


def _write_summary(path: Path, run: RegroupRun) -> None:
    with atomic_output(path, hidden=True) as tmp:
        tmp.write_text(json.dumps(run.to_dict(), ensure_ascii=False, indent=1) + "\n", "utf-8")


def remove_partials(output: str | os.PathLike[str]) -> int:
    """Delete the hidden partial files an interrupted run left in ``output``; how many."""
    n = 0
    for f in Path(output).rglob(f".*{PARTIAL_SUFFIX}"):
        f.unlink(missing_ok=True)
        n += 1
    for d in Path(output).glob(".drgsim-*"):
        shutil.rmtree(d, ignore_errors=True)
    return n
