"""Group cases on Apache Spark: thin adapters around :class:`drgsim.batch.BatchGrouper`.

Install with ``pip install "drgsim[spark]"`` (pyspark 4 and pyarrow; Spark needs Java 17+).
Every executor needs drgsim in the Python its workers run: see ``docs/cluster.md``.

* :func:`group_spark` groups a DataFrame with ``mapInArrow``: each Arrow batch Spark hands a
  Python worker is grouped by the same function a single machine uses, and comes back with
  the input columns unchanged plus the result and provenance columns.
* :func:`group_spark_by` groups the cases of each unit (hospital, 统筹区, month ...) together
  with ``groupBy(...).applyInArrow`` and can reduce each unit's grouped cases to a summary
  with a Polars function, e.g. case counts and CMI per hospital.
* :func:`local_session` starts a local-mode session whose workers run this very Python.

The table set is passed by reference and each worker loads it once: a built-in name, a name
in ``$DRGSIM_TABLES`` on the workers, a folder path the workers can read, or a folder sent
to them with :func:`ship_tables`. The driver loads it too, and the workers refuse a set whose
content hash differs from the driver's.

Examples
--------
>>> from drgsim.spark import group_spark, local_session
>>> spark = local_session()  # doctest: +SKIP
>>> cases = spark.read.parquet("cases/")  # doctest: +SKIP
>>> grouped = group_spark(cases, "teaching")  # doctest: +SKIP
>>> grouped.write.partitionBy("hospital_id").parquet("grouped/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from drgsim.batch import BatchGrouper, plain_arrow, plain_arrow_type
from drgsim.exceptions import InputError
from drgsim.grouping import Tables
from drgsim.tables import DEFAULT, load

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "SparkFilesTables",
    "group_spark",
    "group_spark_by",
    "local_session",
    "output_schema",
    "ship_tables",
]


def local_session(
    cores: int = 2,
    *,
    app_name: str = "drgsim",
    max_records_per_batch: int = 10_000,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """Start (or get) a local-mode Spark session for drgsim.

    Its Python workers run ``sys.executable`` (``PYSPARK_PYTHON`` and
    ``PYSPARK_DRIVER_PYTHON`` are set to it: workers started with another Python would not
    find drgsim), Arrow batches hold at most ``max_records_per_batch`` rows, shuffles use
    ``cores`` partitions, the web UI is off, and each worker caps Polars and the engine at one
    thread (Spark already runs one task per core).

    Parameters
    ----------
    cores : int, default 2
        The ``local[N]`` master.
    app_name : str
    max_records_per_batch : int, default 10000
        ``spark.sql.execution.arrow.maxRecordsPerBatch``.
    config : mapping, optional
        More Spark settings; they win over the ones above.
    """
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(max_records_per_batch),
        "spark.sql.shuffle.partitions": str(cores),
        "spark.default.parallelism": str(cores),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.executorEnv.POLARS_MAX_THREADS": "1",
        "spark.executorEnv.RAYON_NUM_THREADS": "1",
        **dict(config or {}),
    }
    builder = SparkSession.builder.master(f"local[{cores}]").appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkFilesTables(os.PathLike[str]):
    """A table-set folder shipped with ``SparkContext.addFile``: on every worker (and on the
    driver) it is the path of that process's copy, ``SparkFiles.get(name)``.

    Made by :func:`ship_tables`; pass it as ``tables=``.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __fspath__(self) -> str:
        from pyspark import SparkFiles

        return str(SparkFiles.get(self.name))

    def __repr__(self) -> str:
        return f"SparkFilesTables({self.name!r})"


def ship_tables(spark: SparkSession, tables: Tables) -> str | SparkFilesTables:
    """Send a table-set folder to every executor; return the reference to group with.

    A built-in set needs no shipping: its name comes back. A folder (or the name of an
    imported set, as the driver resolves it) is added with
    ``SparkContext.addFile(folder, recursive=True)``; Spark copies it to each executor before
    its first task, and the returned :class:`SparkFilesTables` finds that copy.

    Examples
    --------
    >>> ref = ship_tables(spark, "chs-drg-1.1")  # doctest: +SKIP
    >>> grouped = group_spark(cases, ref)  # doctest: +SKIP
    """
    ts = load(tables)
    if ts.origin.startswith("builtin:"):
        return ts.origin.removeprefix("builtin:")
    folder = Path(ts.origin).resolve()
    spark.sparkContext.addFile(str(folder), recursive=True)
    return SparkFilesTables(folder.name)


def _spark_arrow_type(t: pa.DataType) -> pa.DataType:
    """A type Spark can hold: plain offsets, unsigned integers widened to signed ones."""
    import pyarrow as pa

    t = plain_arrow_type(t)
    widen = {
        pa.uint8(): pa.int16(),
        pa.uint16(): pa.int32(),
        pa.uint32(): pa.int64(),
        pa.uint64(): pa.int64(),
    }
    if t in widen:
        return widen[t]
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_spark_arrow_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct(
            [t.field(i).with_type(_spark_arrow_type(t.field(i).type)) for i in range(t.num_fields)]
        )
    return t


def _arrow_schema(schema: StructType, session: Any) -> pa.Schema:
    """The Arrow schema of the batches Spark sends Python for ``schema`` in ``session``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    conf = session.conf
    return to_arrow_schema(
        schema,
        timezone=conf.get("spark.sql.session.timeZone"),
        prefers_large_types=conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")
        == "true",
    )


def _struct_type(arrow: pa.Schema, like: StructType, session: Any) -> StructType:
    """Spark schema of ``arrow``; columns of ``like`` whose Arrow type is unchanged keep their
    Spark type exactly (so pass-through columns stay what they were)."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    known = {f.name: f for f in like.fields}
    known_arrow = {f.name: f.type for f in _arrow_schema(like, session)}
    fields = []
    for f in arrow:
        if f.name in known and known_arrow[f.name] == f.type:
            fields.append(known[f.name])
        else:
            fields.append(StructField(f.name, from_arrow_type(_spark_arrow_type(f.type)), True))
    return StructType(fields)


def output_schema(df: DataFrame, grouper: BatchGrouper) -> StructType:
    """The Spark schema :func:`group_spark` returns for ``df``: its columns plus the results."""
    arrow = grouper.output_schema(_arrow_schema(df.schema, df.sparkSession))
    return _struct_type(arrow, df.schema, df.sparkSession)


def group_spark(
    df: DataFrame,
    tables: Tables = DEFAULT,
    *,
    columns: Mapping[str, str] | None = None,
    provenance: bool = True,
    trace: bool = False,
    threads: int | None = 1,
) -> DataFrame:
    """Group the cases of a Spark DataFrame with ``mapInArrow``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per case, columns as for :func:`drgsim.group` (``dx``/``px`` as
        ``array<string>`` or ``|``-joined strings).
    tables : str, path or TableSet, default "teaching"
        The table set, resolved on each worker (see :class:`drgsim.batch.BatchGrouper`).
    columns, provenance, trace
        As in :func:`drgsim.group`; provenance is on by default here.
    threads : int or None, default 1
        Engine threads per Spark task. Spark runs one task per executor core, so one thread
        each uses the cores without oversubscribing them; ``None`` lets each task use every
        core (or ``RAYON_NUM_THREADS``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``df``'s columns with their types, then the result columns (strings; ``trace`` an
        array of structs) and ``tables_name``, ``tables_hash``, ``drgsim_version``. Row order
        within a partition is kept; compare with a single-machine run by a case id.

    Examples
    --------
    >>> spark = local_session()  # doctest: +SKIP
    >>> df = spark.createDataFrame(  # doctest: +SKIP
    ...     [(1, 1, 45, "K35.800x001", "47.0901")],
    ...     "case_id long, sex int, age int, dx string, px string",
    ... )
    >>> group_spark(df).select("case_id", "drg").collect()  # doctest: +SKIP
    [Row(case_id=1, drg='GE29')]
    """
    grouper = BatchGrouper(
        tables, columns=columns, provenance=provenance, trace=trace, threads=threads
    ).pinned(missing_ok=True)
    return df.mapInArrow(grouper.map, output_schema(df, grouper))


class _UnitFunction:
    """The ``applyInArrow`` function: group one unit's cases, then optionally summarise them."""

    def __init__(
        self,
        grouper: BatchGrouper,
        summarize: Callable[[pl.DataFrame], pl.DataFrame] | None,
        target: pa.Schema,
    ) -> None:
        self.grouper = grouper
        self.summarize = summarize
        self.target = target

    def result(self, table: pa.Table) -> pa.Table:
        out = self.grouper.group_table(table)
        if self.summarize is not None:
            summary = self.summarize(pl.from_arrow(out))  # type: ignore[arg-type]
            out = plain_arrow(summary)
        return out

    def __call__(self, table: pa.Table) -> pa.Table:
        # applyInArrow checks the returned types strictly: give exactly the declared ones
        return self.result(table).select(self.target.names).cast(self.target)


def group_spark_by(
    df: DataFrame,
    by: str | Sequence[str],
    tables: Tables = DEFAULT,
    *,
    summarize: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    schema: StructType | str | None = None,
    columns: Mapping[str, str] | None = None,
    provenance: bool = True,
    trace: bool = False,
    threads: int | None = 1,
) -> DataFrame:
    """Group the cases of each unit together with ``groupBy(by).applyInArrow``.

    Each unit's cases arrive in one Python call as one Arrow table (so a unit must fit in a
    worker's memory), are grouped, and are returned as they are or, with ``summarize``,
    reduced by a Polars function, for example to one row of indicators per hospital.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    by : str or list of str
        The unit columns (``hospital_id``, 统筹区, month ...).
    tables, columns, provenance, trace, threads
        As in :func:`group_spark`.
    summarize : callable, optional
        Takes one unit's grouped cases as a Polars DataFrame (the columns of
        :func:`group_spark`) and returns a Polars DataFrame; it must be picklable (a
        module-level function or a class instance; a lambda is fine with Spark's cloudpickle).
    schema : StructType or DDL string, optional
        The output schema. By default it is found by running ``summarize`` on an empty
        grouped frame, so ``summarize`` must accept zero rows; unsigned integers (Polars
        ``len()`` counts) become the next wider signed Spark type.

    Returns
    -------
    pyspark.sql.DataFrame
        Without ``summarize``, the rows of :func:`group_spark` grouped by unit; with it, the
        concatenated summaries.

    Examples
    --------
    >>> import polars as pl
    >>> def per_hospital(cases: pl.DataFrame) -> pl.DataFrame:
    ...     return cases.group_by("hospital_id").agg(
    ...         cases=pl.len(), grouped=(pl.col("status") == "ok").sum())
    >>> summary = group_spark_by(df, "hospital_id", summarize=per_hospital)  # doctest: +SKIP
    """
    from pyspark.sql.types import StructType

    keys = [by] if isinstance(by, str) else list(by)
    grouper = BatchGrouper(
        tables, columns=columns, provenance=provenance, trace=trace, threads=threads
    ).pinned(missing_ok=True)
    session = df.sparkSession
    grouped_arrow = grouper.output_schema(_arrow_schema(df.schema, session))
    if schema is None:
        if summarize is None:
            spark_schema = _struct_type(grouped_arrow, df.schema, session)
        else:
            empty = pl.from_arrow(grouped_arrow.empty_table())
            try:
                sample = plain_arrow(summarize(empty))  # type: ignore[arg-type]
            except Exception as e:
                raise InputError(
                    f"summarize failed on an empty frame ({e}); pass schema= to give the "
                    "output schema"
                ) from e
            spark_schema = _struct_type(sample.schema, df.schema, session)
    elif isinstance(schema, str):
        parsed = StructType.fromDDL(schema)
        if not isinstance(parsed, StructType):
            raise InputError(f"schema {schema!r} is not a list of columns")
        spark_schema = parsed
    else:
        spark_schema = schema
    fn = _UnitFunction(grouper, summarize, _arrow_schema(spark_schema, session))

    def apply(table):  # type: ignore[no-untyped-def]
        # A plain function without annotations: Spark infers the calling convention from
        # type hints and, on a callable object, fails (pyspark 4.3) instead of falling back.
        return fn(table)

    return df.groupBy(*keys).applyInArrow(apply, spark_schema)
