"""drgsim on Apache Spark in local mode: the results equal the single-machine run row for row."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import drgsim
from drgsim import weights
from drgsim.grouping import RESULT_COLUMNS
from scaleout_cases import cases

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="Spark needs Java 17+ (no java on PATH and no JAVA_HOME)",
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from drgsim.spark import local_session

    # small Arrow batches: every partition is grouped in several calls
    session = local_session(2, app_name="drgsim-tests", max_records_per_batch=500)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return cases(3_000)


@pytest.fixture(scope="module")
def expected(frame: pl.DataFrame) -> pl.DataFrame:
    return drgsim.group(frame, provenance=True).sort("case_id")


@pytest.fixture(scope="module")
def sdf(spark: Any, frame: pl.DataFrame) -> Any:
    return spark.createDataFrame(frame.to_arrow()).repartition(3)


def _collect(df: Any) -> pl.DataFrame:
    out = pl.from_arrow(df.toArrow())
    assert isinstance(out, pl.DataFrame)
    return out


def test_group_spark_matches_single_machine(sdf: Any, expected: pl.DataFrame) -> None:
    from pyspark.sql.types import ArrayType, StringType

    from drgsim.spark import group_spark

    grouped = group_spark(sdf, "teaching")
    assert grouped.columns == expected.columns
    types = {f.name: f.dataType for f in grouped.schema.fields}
    assert types["dx"] == ArrayType(StringType(), True)
    for name in [*RESULT_COLUMNS, "tables_name", "tables_hash", "drgsim_version"]:
        assert types[name] == StringType()
    result = _collect(grouped).sort("case_id")
    assert (result["status"] != "ok").sum() > 300  # the bad rows made it through
    assert_frame_equal(result, expected)


def test_group_spark_with_trace(sdf: Any, frame: pl.DataFrame) -> None:
    from drgsim.spark import group_spark

    few = sdf.where("case_id % 97 = 5")
    result = _collect(group_spark(few, provenance=False, trace=True)).sort("case_id")
    ids = result["case_id"]
    assert ids.len() > 20
    expected = drgsim.group(frame.filter(pl.col("case_id").is_in(ids.implode())), trace=True)
    assert_frame_equal(result, expected.sort("case_id"))


def test_group_spark_by_unit_matches_single_machine(sdf: Any, expected: pl.DataFrame) -> None:
    from drgsim.spark import group_spark_by

    result = _collect(group_spark_by(sdf, "hospital_id", "teaching")).sort("case_id")
    assert_frame_equal(result, expected)


def test_group_spark_by_summary(sdf: Any, expected: pl.DataFrame) -> None:
    from drgsim.spark import group_spark_by

    rw = weights.builtin("teaching").select("drg", "rw")

    def per_hospital(grouped: pl.DataFrame) -> pl.DataFrame:
        ok = pl.col("status") == "ok"
        return (
            grouped.join(rw, on="drg", how="left")
            .group_by("hospital_id")
            .agg(
                cases=pl.len(),
                grouped=ok.sum(),
                drgs=pl.col("drg").filter(ok).n_unique(),
                cmi=pl.col("rw").filter(ok).mean(),
            )
        )

    want = per_hospital(expected).sort("hospital_id")
    want = want.cast({"cases": pl.Int64, "grouped": pl.Int64, "drgs": pl.Int64})
    assert want.height == 3

    summary = group_spark_by(sdf, ["hospital_id"], summarize=per_hospital)
    assert [f.dataType.simpleString() for f in summary.schema.fields] == [
        "string",
        "bigint",
        "bigint",
        "bigint",
        "double",
    ]
    assert_frame_equal(_collect(summary).sort("hospital_id"), want)

    ddl = "hospital_id string, cases int, grouped int, drgs int, cmi double"
    typed = _collect(group_spark_by(sdf, "hospital_id", summarize=per_hospital, schema=ddl))
    assert typed.schema["cases"] == pl.Int32
    assert_frame_equal(typed.sort("hospital_id"), want, check_dtypes=False)


def test_output_schema_keeps_spark_input_types(spark: Any) -> None:
    from drgsim.batch import BatchGrouper
    from drgsim.spark import output_schema

    df = spark.createDataFrame(
        [], "id int, sex string, age smallint, dx array<string>, seen timestamp, status int"
    )
    schema = output_schema(df, BatchGrouper(provenance=False))
    kept = {f.name: f.dataType.simpleString() for f in schema.fields}
    assert kept == {
        "id": "int",
        "sex": "string",
        "age": "smallint",
        "dx": "array<string>",
        "seen": "timestamp",
        **{name: "string" for name in RESULT_COLUMNS},
    }
    assert pa.types.is_string(pa.string())  # pyarrow is the adapters' dependency


def test_table_folder_shipped_with_add_file(
    spark: Any, sdf: Any, expected: pl.DataFrame, tmp_path: Path
) -> None:
    from drgsim.spark import SparkFilesTables, group_spark, ship_tables

    assert ship_tables(spark, "teaching") == "teaching"  # built in: nothing to ship
    folder = tmp_path / "shipped-teaching"
    shutil.copytree(ROOT / "grouper_tables" / "teaching", folder)
    ref = ship_tables(spark, folder)
    assert isinstance(ref, SparkFilesTables)
    assert Path(os.fspath(ref)) != folder  # Spark's copy, not the original
    few = sdf.where("case_id % 13 = 5")
    result = _collect(group_spark(few, ref)).sort("case_id")
    want = expected.filter(pl.col("case_id") % 13 == 5)
    assert_frame_equal(result, want)  # same hash, name and results as the built-in set
