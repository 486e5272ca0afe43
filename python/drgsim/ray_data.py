"""Group cases on Ray Data: a thin adapter around :class:`drgsim.batch.BatchGrouper`.

Install with ``pip install "drgsim[ray]"``. (The module is not called ``ray`` so that
``import ray`` inside drgsim always finds the Ray package.)

:func:`group_ray` maps a Ray Dataset through a pool of actors with
``map_batches(batch_format="pyarrow")``; each actor loads the table set once, when it starts,
and then groups batch after batch with the function a single machine uses.

Examples
--------
>>> import ray  # doctest: +SKIP
>>> from drgsim.ray_data import group_ray
>>> ds = ray.data.read_parquet("cases/")  # doctest: +SKIP
>>> grouped = group_ray(ds, "teaching", concurrency=4, num_cpus=2)  # doctest: +SKIP
>>> grouped.write_parquet("grouped/")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from drgsim.batch import BatchGrouper
from drgsim.grouping import Tables
from drgsim.tables import DEFAULT

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

__all__ = ["RayGrouper", "group_ray"]


class RayGrouper:
    """The callable class Ray Data instantiates once per actor.

    Parameters
    ----------
    grouper : BatchGrouper
        What to do with each batch; its table set is loaded in the constructor, so once per
        actor and before the first batch arrives.
    """

    def __init__(self, grouper: BatchGrouper) -> None:
        self.grouper = grouper
        grouper.table_set()

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Group one batch (a pyarrow Table: Ray's ``batch_format="pyarrow"``)."""
        return self.grouper.group_table(batch)


def group_ray(
    ds: ray.data.Dataset,
    tables: Tables = DEFAULT,
    *,
    columns: Mapping[str, str] | None = None,
    provenance: bool = True,
    trace: bool = False,
    batch_size: int | None = 20_000,
    concurrency: int | tuple[int, int] = 1,
    num_cpus: float = 1,
    threads: int | None = None,
    **map_batches_args: Any,
) -> ray.data.Dataset:
    """Group the cases of a Ray Dataset with a pool of actors.

    Parameters
    ----------
    ds : ray.data.Dataset
        One row per case, columns as for :func:`drgsim.group`.
    tables : str, path or TableSet, default "teaching"
        The table set, resolved in each actor (see :class:`drgsim.batch.BatchGrouper`).
        The driver loads it too, and actors refuse a set with another content hash.
    columns, provenance, trace
        As in :func:`drgsim.group`; provenance is on by default here.
    batch_size : int or None, default 20000
        Rows per call.
    concurrency : int or (min, max), default 1
        Number of actors (a fixed pool, or an autoscaling range). Each actor holds
        ``num_cpus`` CPUs for its lifetime: leave CPUs over for the tasks that read and write,
        or the pipeline waits forever (on two CPUs, two one-CPU actors starve the reader).
    num_cpus : float, default 1
        CPUs reserved per actor.
    threads : int, optional
        Engine threads per batch; by default ``num_cpus`` rounded down (at least one).
    **map_batches_args
        Passed on to ``Dataset.map_batches`` (``memory``, ``ray_remote_args`` ...).

    Returns
    -------
    ray.data.Dataset
        Lazy; the input columns unchanged, then the result and provenance columns
        (plain Arrow strings). Row order is not guaranteed: compare by a case id.

    Examples
    --------
    >>> import ray, ray.data  # doctest: +SKIP
    >>> ray.init(num_cpus=2, include_dashboard=False)  # doctest: +SKIP
    >>> ds = ray.data.from_arrow(cases.to_arrow())  # doctest: +SKIP
    >>> grouped = group_ray(ds).to_arrow_refs()  # doctest: +SKIP
    """
    from ray.data import ActorPoolStrategy

    if threads is None:
        threads = max(1, int(num_cpus))
    grouper = BatchGrouper(
        tables, columns=columns, provenance=provenance, trace=trace, threads=threads
    ).pinned(missing_ok=True)  # a set only the workers have: trust them
    if isinstance(concurrency, int):
        pool = ActorPoolStrategy(size=concurrency)
    else:
        pool = ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ds.map_batches(
        RayGrouper,
        fn_constructor_args=(grouper,),
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=pool,
        num_cpus=num_cpus,
        **map_batches_args,
    )
