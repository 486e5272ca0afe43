"""The Arrow-batch entry point that the Spark and Ray adapters share."""

from __future__ import annotations

import pickle

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import drgsim
from drgsim.batch import (
    BatchGrouper,
    group_batches,
    plain_arrow,
    plain_arrow_schema,
    plain_arrow_type,
)
from drgsim.grouping import RESULT_COLUMNS
from drgsim.tables import load
from scaleout_cases import cases

PROVENANCE = ["tables_name", "tables_hash", "drgsim_version"]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return cases(1_500)


@pytest.fixture(scope="module")
def expected(frame: pl.DataFrame) -> pl.DataFrame:
    return drgsim.group(frame, provenance=True)


def _plain_types(schema: pa.Schema) -> None:
    for f in schema:
        assert plain_arrow_type(f.type) == f.type, f


def test_batches_match_single_machine(frame: pl.DataFrame, expected: pl.DataFrame) -> None:
    table = frame.to_arrow()
    out = list(group_batches(table.to_batches(max_chunksize=400), "teaching"))
    assert [b.num_rows for b in out] == [400, 400, 400, 300]
    result = pl.from_arrow(pa.Table.from_batches(out))
    assert_frame_equal(result, expected)


def test_result_and_provenance_columns_are_plain_strings(frame: pl.DataFrame) -> None:
    batch = pa.record_batch(plain_arrow(frame.head(50).to_arrow()).to_batches()[0])
    out = BatchGrouper("teaching")(batch)
    assert isinstance(out, pa.RecordBatch)
    assert out.schema.names == frame.columns + list(RESULT_COLUMNS) + PROVENANCE
    _plain_types(out.schema)
    assert out.schema.field("dx").type == pa.list_(pa.string())
    for name in [*RESULT_COLUMNS, *PROVENANCE]:
        assert out.schema.field(name).type == pa.string()
    ts = load("teaching")
    assert set(out.column("tables_name").to_pylist()) == {ts.name}
    assert set(out.column("tables_hash").to_pylist()) == {ts.content_hash}
    assert set(out.column("drgsim_version").to_pylist()) == {drgsim.__version__}


def test_input_columns_pass_through_with_their_types() -> None:
    schema = pa.schema(
        [
            ("id", pa.int32()),
            ("sex", pa.large_string()),
            ("age", pa.int8()),
            ("dx", pa.large_list(pa.large_string())),
            ("admitted", pa.timestamp("us", tz="Asia/Shanghai")),
            ("status", pa.int64()),  # replaced by the result column of that name
        ]
    )
    batch = pa.record_batch(
        [[7], ["2"], [30], [["O80.000"]], [0], [99]],
        schema=schema,
    )
    out = BatchGrouper("teaching", provenance=False)(batch)
    for name in ["id", "sex", "age", "dx", "admitted"]:
        assert out.schema.field(name) == schema.field(name)
        assert out.column(name).equals(batch.column(name))
    assert out.schema.field("status").type == pa.string()
    assert out.column("status").to_pylist() == ["ok"]


def test_pickle_round_trip_and_lazy_load() -> None:
    grouper = BatchGrouper("teaching", columns={"sex": "gender"}, trace=True, threads=1)
    copy = pickle.loads(pickle.dumps(grouper))
    assert vars(copy) == vars(grouper)
    pinned = pickle.loads(pickle.dumps(grouper.pinned()))
    assert pinned.tables_hash == load("teaching").content_hash
    out = pinned(pa.record_batch({"gender": ["F"], "age": [30], "dx": ["O80.000"]}))
    assert (
        out.column("drg").to_pylist()
        == drgsim.group(pl.DataFrame({"sex": ["F"], "age": [30], "dx": ["O80.000"]}))[
            "drg"
        ].to_list()
    )
    trace = out.schema.field("trace").type
    assert pa.types.is_list(trace) and pa.types.is_struct(trace.value_type)
    _plain_types(out.schema)


def test_table_set_object_becomes_a_reference() -> None:
    ts = load("teaching")
    grouper = BatchGrouper(ts)
    assert grouper.tables == "teaching"
    assert grouper.tables_hash == ts.content_hash
    assert grouper.table_set() is ts


def test_a_different_table_set_on_a_worker_is_refused() -> None:
    grouper = BatchGrouper("teaching", tables_hash="0" * 64)
    with pytest.raises(drgsim.TableError, match="ship the same table set"):
        grouper(pa.record_batch({"sex": [1], "age": [30], "dx": ["O80.000"]}))


def test_empty_batch(frame: pl.DataFrame) -> None:
    grouper = BatchGrouper("teaching")
    empty = frame.head(0).to_arrow()
    out = grouper(empty)
    assert out.num_rows == 0
    assert out.schema == grouper.output_schema(empty.schema)
    assert out.schema.names[-11:] == list(RESULT_COLUMNS) + PROVENANCE


def test_one_row_batch(frame: pl.DataFrame, expected: pl.DataFrame) -> None:
    out = BatchGrouper("teaching")(frame.slice(1, 1).to_arrow())
    assert out.num_rows == 1
    assert_frame_equal(pl.from_arrow(out), expected.slice(1, 1))


def test_every_row_bad() -> None:
    batch = pa.record_batch(
        {
            "case_id": [1, 2, 3, 4],
            "sex": [None, "9", "1", "2"],
            "age": [None, 40, -3, 30],
            "dx": [None, [], ["NOT.A.CODE"], [None]],
            "px": ["", None, "nope|47.0901", None],
        }
    )
    out = pl.from_arrow(BatchGrouper("teaching")(batch))
    assert out.height == 4
    assert (out["status"] == "invalid").all()
    assert (out["drg"] == "0000").all()
    assert out["message"].null_count() == 0


def test_every_row_null_typed() -> None:
    batch = pa.record_batch([pa.nulls(3)] * 3, names=["sex", "age", "dx"])
    out = BatchGrouper("teaching", provenance=False)(batch)
    assert out.column("status").to_pylist() == ["invalid"] * 3
    _plain_types(out.schema)


def test_inputs_through_the_arrow_pycapsule(frame: pl.DataFrame, expected: pl.DataFrame) -> None:
    grouper = BatchGrouper("teaching")
    from_polars = pl.from_arrow(grouper(frame.head(20)))  # __arrow_c_stream__
    assert_frame_equal(from_polars, expected.head(20))
    reader = pa.RecordBatchReader.from_batches(
        frame.to_arrow().schema, frame.head(30).to_arrow().to_batches(max_chunksize=10)
    )
    assert [b.num_rows for b in group_batches(reader)] == [10, 10, 10]
    with pytest.raises(drgsim.InputError, match="RecordBatch"):
        grouper([1, 2, 3])


def test_plain_arrow_types() -> None:
    nested = pa.struct(
        [
            ("codes", pa.large_list(pa.string_view())),
            ("tags", pa.map_(pa.large_string(), pa.large_binary())),
            ("kind", pa.dictionary(pa.int8(), pa.large_string())),
        ]
    )
    assert plain_arrow_type(nested) == pa.struct(
        [
            ("codes", pa.list_(pa.string())),
            ("tags", pa.map_(pa.string(), pa.binary())),
            ("kind", pa.string()),
        ]
    )
    schema = pa.schema([pa.field("x", pa.large_string(), nullable=False)], metadata={"k": "v"})
    plain = plain_arrow_schema(schema)
    assert plain.field("x") == pa.field("x", pa.string(), nullable=False)
    assert plain.metadata == {b"k": b"v"}
    assert plain_arrow(pl.DataFrame({"x": ["a"]})).schema.field("x").type == pa.string()


def test_column_layout_matches_group_and_other_columns_pass_through() -> None:
    frame = pl.DataFrame(
        {
            "tables_name": ["mine"],  # replaced in place by the provenance column
            "case_id": [1],
            "status": [3],  # replaced by the result column, which goes to the end
            "性别": ["男"],
            "NL": [60],
            "dx_codes": ["I63.900|I10.x00"],
            "note": ["kept"],
        }
    )
    expected = drgsim.group(frame, provenance=True)
    interval = pa.array([(1, 2, 3)], pa.month_day_nano_interval())  # Polars cannot read it
    table = frame.to_arrow().append_column("span", interval)
    out = BatchGrouper("teaching")(table)
    assert out.schema.names == [*frame.columns[:2], *frame.columns[3:], "span"] + [
        c for c in expected.columns if c not in frame.columns or c == "status"
    ]
    assert out.column("span").equals(interval)
    assert_frame_equal(pl.from_arrow(out.drop_columns(["span"])), expected)
    assert out.column("status").to_pylist() == ["ok"]
