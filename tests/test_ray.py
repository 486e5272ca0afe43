"""drgsim on Ray Data in local mode: the results equal the single-machine run row for row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import drgsim
from drgsim.grouping import RESULT_COLUMNS
from scaleout_cases import cases


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    import ray

    # Two CPUs: the one grouping actor holds one for its lifetime, the other stays free for the
    # tasks that feed it (two one-CPU actors would starve them and the run would hang).
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        ignore_reinit_error=True,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return cases(3_000, seed=11)


def test_group_ray_matches_single_machine(ray_local: Any, frame: pl.DataFrame) -> None:
    import ray.data

    from drgsim.ray_data import group_ray

    table = frame.to_arrow()
    blocks = [table.slice(0, 1_100), table.slice(1_100, 1_100), table.slice(2_200)]
    ds = ray.data.from_arrow(blocks)
    grouped = group_ray(ds, "teaching", batch_size=700, concurrency=1, num_cpus=1)
    result_table = pa.concat_tables(ray_local.get(grouped.to_arrow_refs()))
    for name in [*RESULT_COLUMNS, "tables_name", "tables_hash", "drgsim_version"]:
        assert result_table.schema.field(name).type == pa.string()
    result = pl.from_arrow(result_table)
    assert isinstance(result, pl.DataFrame)
    expected = drgsim.group(frame, provenance=True)
    assert (expected["status"] != "ok").sum() > 300  # the bad rows are in
    assert_frame_equal(result.sort("case_id"), expected.sort("case_id"))


def test_actor_class_loads_the_table_set_in_its_constructor() -> None:
    from drgsim import batch
    from drgsim.ray_data import RayGrouper

    grouper = batch.BatchGrouper("teaching", tables_hash=drgsim.tables.load().content_hash)
    batch._LOADED.clear()
    actor = RayGrouper(grouper)
    assert len(batch._LOADED) == 1  # before any batch
    out = actor(pa.table({"sex": [1], "age": [60], "dx": ["I63.900"]}))
    assert isinstance(out, pa.Table) and out.column("status").to_pylist() == ["ok"]
    assert len(batch._LOADED) == 1
