"""Arrow batches in, Arrow batches out: the one grouping function behind Spark and Ray.

:class:`BatchGrouper` groups one Arrow record batch (or table) at a time with
:func:`drgsim.grouping.group_frame` and returns the input columns, unchanged, followed by the
result columns and (by default) the provenance columns ``tables_name``, ``tables_hash`` and
``drgsim_version``. Its strings are plain Arrow ``string`` (lists of them ``list<string>``),
not the ``large_string`` Polars produces, because Spark checks the Arrow types a Python
function returns against the declared schema.

A :class:`BatchGrouper` is small and picklable: it holds the *reference* to a table set (a
name or a folder path) and the options, and loads the table set the first time a process
uses it, once per process. That is what a distributed engine needs: the object is shipped to
every worker, and each worker compiles the tables once however many batches it groups.
:mod:`drgsim.spark` and :mod:`drgsim.ray_data` are thin adapters around it.

pyarrow is needed here (``pip install "drgsim[spark]"`` or ``"drgsim[ray]"`` bring it) and is
imported only when a function runs.

Examples
--------
>>> import pyarrow as pa
>>> from drgsim.batch import BatchGrouper
>>> grouper = BatchGrouper("teaching")
>>> batch = pa.record_batch({
...     "case_id": [1, 2],
...     "sex": [1, 2],
...     "age": [45, 30],
...     "dx": [["K35.800x001"], ["O80.000"]],
...     "px": [["47.0901"], []],
... })
>>> out = grouper(batch)
>>> out.num_rows, out.schema.field("drg").type, out.schema.field("tables_name").type
(2, DataType(string), DataType(string))
>>> out.column("status").to_pylist()
['ok', 'ok']
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from drgsim.columns import ALIASES, resolve_columns
from drgsim.exceptions import InputError, TableError, TableNotFoundError
from drgsim.grouping import RESULT_COLUMNS, Tables, group_frame
from drgsim.tables import DEFAULT, TableSet, load

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BatchGrouper",
    "group_batches",
    "plain_arrow",
    "plain_arrow_schema",
    "plain_arrow_type",
]

_PROVENANCE = ("tables_name", "tables_hash", "drgsim_version")
_ALIASES = {alias.lower() for names in ALIASES.values() for alias in names}

#: Table sets loaded in this process, by (reference, working directory, expected hash).
_LOADED: dict[tuple[str, str, str | None], TableSet] = {}


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as e:  # pragma: no cover - pyarrow is in every extra that needs it
        raise ImportError(
            "drgsim.batch needs pyarrow: pip install 'drgsim[spark]' or 'drgsim[ray]'"
        ) from e
    return pyarrow


def plain_arrow_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type with 32-bit offsets and no views or dictionaries, at every depth.

    ``large_string`` and ``string_view`` become ``string``, ``large_binary`` and
    ``binary_view`` become ``binary``, large lists and list views become ``list``, and a
    dictionary becomes its value type. Structs, maps and fixed-size lists keep their shape with
    their children made plain; every other type is returned as it is. These are the types Spark
    sends to and expects from Python functions.

    Examples
    --------
    >>> import pyarrow as pa
    >>> plain_arrow_type(pa.large_list(pa.large_string()))
    ListType(list<item: string>)
    """
    pa = _pyarrow()
    types = pa.types
    if types.is_large_string(t) or types.is_string_view(t):
        return pa.string()
    if types.is_large_binary(t) or types.is_binary_view(t):
        return pa.binary()
    if types.is_dictionary(t):
        return plain_arrow_type(t.value_type)
    if (
        types.is_list(t)
        or types.is_large_list(t)
        or types.is_list_view(t)
        or types.is_large_list_view(t)
    ):
        return pa.list_(_plain_field(t.value_field))
    if types.is_fixed_size_list(t):
        return pa.list_(_plain_field(t.value_field), t.list_size)
    if types.is_map(t):
        return pa.map_(
            _plain_field(t.key_field), _plain_field(t.item_field), keys_sorted=t.keys_sorted
        )
    if types.is_struct(t):
        return pa.struct([_plain_field(t.field(i)) for i in range(t.num_fields)])
    return t


def _plain_field(f: pa.Field) -> pa.Field:
    return f.with_type(plain_arrow_type(f.type))


def plain_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """:func:`plain_arrow_type` applied to every field of a schema (names and nullability kept).

    Examples
    --------
    >>> import pyarrow as pa
    >>> plain_arrow_schema(pa.schema({"drg": pa.large_string()})).field("drg").type
    DataType(string)
    """
    pa = _pyarrow()
    return pa.schema([_plain_field(f) for f in schema], metadata=schema.metadata)


def plain_arrow(data: Any) -> Any:
    """Cast a pyarrow Table or RecordBatch to :func:`plain_arrow_schema` of its schema.

    Also accepts a Polars DataFrame (or any object exporting ``__arrow_c_stream__``), which
    becomes a pyarrow Table. Raises ``pyarrow.ArrowInvalid`` when a column holds more than
    2 GiB of string data in one chunk, which 32-bit offsets cannot address.

    Examples
    --------
    >>> import polars as pl
    >>> plain_arrow(pl.DataFrame({"dx": [["I10"]]})).schema.field("dx").type
    ListType(list<item: string>)
    """
    pa = _pyarrow()
    if not isinstance(data, pa.Table | pa.RecordBatch):
        data = _as_table(data)
    target = plain_arrow_schema(data.schema)
    return data if target.equals(data.schema) else data.cast(target)


def _as_table(data: Any) -> pa.Table:
    pa = _pyarrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "__arrow_c_array__"):
        return pa.Table.from_batches([pa.record_batch(data)])
    raise InputError(
        "expected a pyarrow RecordBatch or Table, or an object exporting __arrow_c_array__ or "
        f"__arrow_c_stream__, got {type(data).__name__}"
    )


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    pa = _pyarrow()
    arrays = [column.combine_chunks() for column in table.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


class BatchGrouper:
    """Group Arrow batches: a picklable callable for distributed engines.

    Parameters
    ----------
    tables : str, path or TableSet, default "teaching"
        The table set. A name or a folder path is kept as given and resolved in each process
        that groups (a relative path against that process's working directory). Any other
        ``os.PathLike`` is kept as an object and turned into a path only there (as
        :func:`drgsim.spark.ship_tables` does to find the copy Spark gave each worker). A
        :class:`~drgsim.tables.TableSet` is kept as its name or folder, with its content hash
        as ``tables_hash``.
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices, as in :func:`drgsim.group`.
    provenance : bool, default True
        Add ``tables_name``, ``tables_hash`` and ``drgsim_version`` columns.
    trace : bool, default False
        Add the ``trace`` column.
    threads : int, optional
        Threads of the engine per batch (default: all cores, or ``RAYON_NUM_THREADS``). Set it
        to the cores one task or actor owns when several share a machine.
    tables_hash : str, optional
        The content hash the table set must have; a process that resolves the reference to a
        set with another hash raises :class:`~drgsim.TableError` instead of grouping with it.
        :meth:`pinned` sets it from the set loaded here.

    Examples
    --------
    >>> import pickle
    >>> g = pickle.loads(pickle.dumps(BatchGrouper("teaching", provenance=False)))
    >>> g
    BatchGrouper(tables='teaching', provenance=False, trace=False, threads=None)
    """

    def __init__(
        self,
        tables: Tables = DEFAULT,
        *,
        columns: Mapping[str, str] | None = None,
        provenance: bool = True,
        trace: bool = False,
        threads: int | None = None,
        tables_hash: str | None = None,
    ) -> None:
        ref: str | os.PathLike[str]
        if isinstance(tables, TableSet):
            ref = tables.origin.removeprefix("builtin:")
            tables_hash = tables_hash or tables.content_hash
        elif isinstance(tables, str | Path):
            ref = os.fspath(tables)
        else:  # another path-like, e.g. drgsim.spark.SparkFilesTables: resolved where it runs
            ref = tables
        self.tables = ref
        self.columns: dict[str, str] | None = dict(columns) if columns is not None else None
        self.provenance = provenance
        self.trace = trace
        self.threads = threads
        self.tables_hash = tables_hash
        self._mappings: dict[pa.Schema, dict[str, str]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_mappings"] = {}  # a cache: rebuilt where the grouper runs
        return state

    def __repr__(self) -> str:
        return (
            f"BatchGrouper(tables={self.tables!r}, provenance={self.provenance}, "
            f"trace={self.trace}, threads={self.threads})"
        )

    def table_set(self) -> TableSet:
        """The table set, loaded once in this process and cached."""
        ref = os.fspath(self.tables)
        key = (ref, os.getcwd(), self.tables_hash)
        ts = _LOADED.get(key)
        if ts is None:
            ts = load(ref)
            if self.tables_hash is not None and ts.content_hash != self.tables_hash:
                raise TableError(
                    f"table set {self.tables!r} resolves here (pid {os.getpid()}) to "
                    f"{ts.origin} with content hash {ts.content_hash[:12]}…, but "
                    f"{self.tables_hash[:12]}… was expected: ship the same table set to "
                    "every worker"
                )
            _LOADED[key] = ts
        return ts

    def pinned(self, *, missing_ok: bool = False) -> BatchGrouper:
        """A copy whose ``tables_hash`` is that of the table set as loaded in this process.

        Workers then refuse a table set whose content differs from the driver's. With
        ``missing_ok``, a table set this process cannot find (it exists only on the workers)
        gives the grouper itself, unpinned: the workers are trusted.
        """
        try:
            ts = self.table_set()
        except TableNotFoundError:
            if missing_ok:
                return self
            raise
        pinned = copy.copy(self)
        pinned.tables_hash = ts.content_hash
        _LOADED[(os.fspath(pinned.tables), os.getcwd(), pinned.tables_hash)] = ts
        return pinned

    def computed_columns(self) -> tuple[str, ...]:
        """Names of the columns this grouper adds (or replaces, when the input has them)."""
        names = list(RESULT_COLUMNS)
        if self.trace:
            names.append("trace")
        if self.provenance:
            names += _PROVENANCE
        return tuple(names)

    def _case_columns(self, schema: pa.Schema) -> dict[str, str]:
        """``{canonical: actual}`` for input batches of ``schema`` (cached per schema).

        Only columns named like a case column (an alias or an explicit choice) have their
        type read by Polars; the others, whatever their type, are just names here.
        """
        mapping = self._mappings.get(schema)
        if mapping is None:
            pa = _pyarrow()
            explicit = set((self.columns or {}).values())
            dtypes: dict[str, pl.DataType] = {}
            for f in schema:
                if f.name in explicit or f.name.strip().lower() in _ALIASES:
                    empty = pl.from_arrow(pa.schema([f]).empty_table())
                    assert isinstance(empty, pl.DataFrame)
                    dtypes[f.name] = empty.schema[f.name]
                else:
                    dtypes[f.name] = pl.Null()
            mapping = resolve_columns(dtypes, self.columns)
            self._mappings[schema] = mapping
        return mapping

    def group_table(self, data: Any) -> pa.Table:
        """Group one batch or table; return a pyarrow Table (one row per input row, in order).

        Only the case columns (``sex``, ``age``, ``dx`` ... or their aliases) are converted to
        Polars and grouped; every other input column is passed through as the very same
        Arrow array, with exactly its input type. The column order is that of
        :func:`drgsim.group`: the input columns (less those a result column replaces), the
        result columns, then the provenance columns (which replace input columns of the same
        name where they stand).
        """
        pa = _pyarrow()
        table = _as_table(data)
        mapping = self._case_columns(table.schema)
        cases = pl.from_arrow(table.select(list(dict.fromkeys(mapping.values()))), rechunk=False)
        if not isinstance(cases, pl.DataFrame):  # pragma: no cover - a Table gives a DataFrame
            raise InputError("expected a table of cases")
        out = group_frame(
            cases,
            self.table_set(),
            trace=self.trace,
            columns=mapping,
            provenance=self.provenance,
            threads=self.threads,
        )
        computed = set(self.computed_columns())
        provenance = [c for c in _PROVENANCE if self.provenance]
        engine = [c for c in out.columns if c in computed and c not in provenance]
        order = [c for c in table.column_names if c not in engine]
        order += engine + [c for c in provenance if c not in table.column_names]
        added = plain_arrow(out.select([c for c in out.columns if c in computed]).to_arrow())
        fields, arrays = [], []
        for name in order:
            source = added if name in computed else table
            fields.append(source.schema.field(name))
            arrays.append(source.column(name))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def __call__(self, batch: Any) -> pa.RecordBatch:
        """Group one record batch (or table); return one record batch."""
        return _one_batch(self.group_table(batch))

    def map(self, batches: Iterable[Any]) -> Iterator[pa.RecordBatch]:
        """Group each batch of an iterator (the shape of Spark's ``mapInArrow`` function)."""
        for batch in batches:
            yield self(batch)

    def output_schema(self, input_schema: pa.Schema) -> pa.Schema:
        """The schema of the output for input batches of ``input_schema``.

        Found by grouping an empty batch. When the table set cannot be found in this process
        (it exists only on the workers), the built-in set stands in: the types of the result
        columns are the same for every table set.
        """
        try:
            self.table_set()
            grouper = self
        except TableNotFoundError:
            grouper = BatchGrouper(
                DEFAULT, columns=self.columns, provenance=self.provenance, trace=self.trace
            )
        return grouper.group_table(input_schema.empty_table()).schema


def group_batches(
    batches: Any,
    tables: Tables = DEFAULT,
    *,
    columns: Mapping[str, str] | None = None,
    provenance: bool = True,
    trace: bool = False,
    threads: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Group a stream of Arrow record batches, one output batch per input batch.

    Parameters
    ----------
    batches : iterable of RecordBatch, or an object exporting ``__arrow_c_stream__``
        For example a ``pyarrow.RecordBatchReader``, a pyarrow Table, or
        ``pyarrow.dataset.dataset(...).to_batches()``.
    tables, columns, provenance, trace, threads
        See :class:`BatchGrouper`.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"sex": [1, 2, 1], "age": [60, 30, 5], "dx": ["I63.900", "O80.000", ""]})
    >>> [b.num_rows for b in group_batches(t.to_batches(max_chunksize=2))]
    [2, 1]
    """
    pa = _pyarrow()
    grouper = BatchGrouper(
        tables, columns=columns, provenance=provenance, trace=trace, threads=threads
    )
    if isinstance(batches, pa.RecordBatch):
        batches = [batches]
    elif hasattr(batches, "__arrow_c_stream__"):
        batches = pa.RecordBatchReader.from_stream(batches)
    yield from grouper.map(batches)
