"""Fuzzing of the Python entry points with hypothesis: ``group`` on arbitrary frames, the
readers on arbitrary bytes, the policy and scenario loaders on arbitrary TOML and on documents
of the right shape with values of the wrong type.

The invariant everywhere: only :class:`drgsim.DrgsimError` subclasses escape (never a
KeyError, TypeError, AttributeError or a Polars exception), and ``group`` never raises for a
row-level problem and returns exactly one row per input row. Each test is bounded (a moderate
``max_examples`` and no deadline) so that the normal pytest run stays fast. Every crash found
is pinned below as an explicit example. The Rust core is fuzzed by the cargo-fuzz targets in
``rust/drgsim-core/fuzz``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import math
import os
import tomllib
from collections.abc import Callable
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgsim
from drgsim import DrgsimError
from drgsim.dip import policy as dip_policy
from drgsim.io import read_cases
from drgsim.policy import load_policy, parse_policy
from drgsim.readers import read_any
from drgsim.scenario import load_scenario, parse_scenario
from drgsim.settlement import load_settlement_policy, parse_settlement_policy

# DRGSIM_FUZZ_SCALE=50 runs each test 50 times longer (a local fuzzing session).
SCALE = int(os.environ.get("DRGSIM_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=60 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
STATUSES = {"ok", "qy", "ungroupable", "invalid"}

# ------------------------------------------------------------------------------ group

CASE_COLUMNS = ["sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_type"]
ALIASES = ["gender", "性别", "XB", "年龄", "NL", "jbdm", "zdList", "出院方式", "other"]
CODES = ["K35.800x001", "I21.401", "47.0100", "Z37.000", "ｋ３５．８００ｘ００１", "I10.x05", "A"]

texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from([*CODES, "", " ", "NaN", "inf", "-1", "1e309", "男", "女", "Ｍ", "６０"]),
)
code_text = st.one_of(
    st.sampled_from(CODES),
    st.lists(st.sampled_from(CODES), max_size=4).map("|".join),
    st.text(max_size=20),
)


def _column(n: int, draw: Any, *, codes: bool) -> pl.Series:
    kind = draw(
        st.sampled_from(
            ["int", "float", "str", "bool", "null", "list_str", "list_int", "date", "cat"]
        )
        if not codes
        else st.sampled_from(["str", "list_str", "list_null", "null", "int", "float", "cat"])
    )
    opt = lambda s: st.one_of(st.none(), s)  # noqa: E731
    if kind == "int":
        return pl.Series(
            draw(st.lists(opt(st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n))
        )
    if kind == "float":
        return pl.Series(draw(st.lists(opt(st.floats()), min_size=n, max_size=n)), dtype=pl.Float64)
    if kind == "bool":
        return pl.Series(
            draw(st.lists(opt(st.booleans()), min_size=n, max_size=n)), dtype=pl.Boolean
        )
    if kind == "null":
        return pl.Series([None] * n, dtype=pl.Null)
    if kind == "date":
        return pl.Series(draw(st.lists(opt(st.dates()), min_size=n, max_size=n)), dtype=pl.Date)
    if kind == "list_int":
        v = draw(
            st.lists(opt(st.lists(opt(st.integers(-5, 5)), max_size=3)), min_size=n, max_size=n)
        )
        return pl.Series(v, dtype=pl.List(pl.Int64))
    if kind in ("list_str", "list_null"):
        item = code_text if kind == "list_str" else st.none()
        v = draw(st.lists(opt(st.lists(opt(item), max_size=4)), min_size=n, max_size=n))
        return pl.Series(v, dtype=pl.List(pl.String))
    values = draw(st.lists(opt(code_text if codes else texts), min_size=n, max_size=n))
    s = pl.Series(values, dtype=pl.String)
    return s.cast(pl.Categorical) if kind == "cat" else s


@st.composite
def frames(draw: Any) -> pl.DataFrame:
    n = draw(st.integers(0, 6))
    cols: dict[str, pl.Series] = {}
    names = draw(st.lists(st.sampled_from(CASE_COLUMNS + ALIASES), unique=True, max_size=6))
    if draw(st.integers(0, 3)) > 0:
        names = ["sex", "age", *(c for c in names if c not in ("sex", "age"))]
    for name in names:
        cols[name] = _column(n, draw, codes=False)
    for name in ("dx", "px"):
        if draw(st.integers(0, 9)) > 0 or name == "px":
            cols[name] = _column(n, draw, codes=True)
    return pl.DataFrame(cols, height=n) if cols else pl.DataFrame(height=n)


def _readable(df: pl.DataFrame) -> bool:
    """Whether every case column has a type ``group`` reads (row problems only then)."""
    num_ok = (pl.String, pl.Categorical, pl.Null, pl.Int64, pl.Float64)
    for name in CASE_COLUMNS:
        if name in df.columns and not isinstance(df[name].dtype, num_ok):
            return False
    if not {"dx", "sex", "age"} <= set(df.columns):
        return False
    for name in ("dx", "px"):
        if name in df.columns:
            dt = df[name].dtype
            if not (
                isinstance(dt, (pl.String, pl.Categorical, pl.Null)) or dt == pl.List(pl.String)
            ):
                return False
    # an alias may map a column of any type onto a canonical one: not judged here
    return not (set(ALIASES) - {"other"}) & set(df.columns)


def _check_grouped(df: pl.DataFrame, out: pl.DataFrame) -> None:
    assert out.height == df.height
    assert set(out["status"].to_list()) <= STATUSES
    assert out.filter(pl.col("status") == "invalid")["reason"].null_count() == 0


@FUZZ
@given(frames(), st.booleans())
def test_group_arbitrary_frames(df: pl.DataFrame, trace: bool) -> None:
    try:
        out = drgsim.group(df, trace=trace)
    except DrgsimError:
        assert not _readable(df), "a frame of readable columns was refused"
        return
    _check_grouped(df, out)
    lazy = drgsim.group(df.lazy(), trace=trace).collect()
    assert lazy.height == df.height


@FUZZ
@given(st.lists(st.tuples(code_text, code_text, texts, texts), max_size=8))
def test_group_never_raises_for_row_problems(rows: list[tuple[str, str, str, str]]) -> None:
    df = pl.DataFrame(
        {
            "dx": [r[0] for r in rows],
            "px": [r[1] for r in rows],
            "sex": [r[2] for r in rows],
            "age": [r[3] for r in rows],
        },
        schema={"dx": pl.String, "px": pl.String, "sex": pl.String, "age": pl.String},
    )
    _check_grouped(df, drgsim.group(df, trace=True))


# ------------------------------------------------------------------------------ readers

HEADERS = [
    "setl_id", "diag_code", "maindiag_flag", "oprn_oprt_code", "JBDM", "JBDM1", "XB", "NL",
    "SSJCZBM1", "dx_codes", "zdList", "sex", "age", "dx", "px", "性别", "年龄", "出院诊断",
]  # fmt: skip


@st.composite
def csv_bytes(draw: Any) -> bytes:
    """A CSV with the readers' own headers and arbitrary cells, or arbitrary bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=6))
    rows = draw(
        st.lists(st.lists(texts, min_size=len(header), max_size=len(header) + 1), max_size=4)
    )
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows])
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return text.encode(enc, errors="replace")


@functools.cache
def _valid_file(kind: str) -> bytes:
    df = pl.DataFrame({"JBDM": ["K35.800x001"], "XB": ["1"], "NL": ["30"], "SSJCZBM1": ["47.0100"]})
    buf = io.BytesIO()
    if kind == ".parquet":
        df.write_parquet(buf)
    else:
        df.write_excel(buf)
    return buf.getvalue()


@st.composite
def damaged(draw: Any, kind: str) -> bytes:
    """A valid file of the kind with some bytes overwritten, cut short, or arbitrary bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=400))
    b = bytearray(_valid_file(kind))
    # Parquet: only the footer (metadata) is damaged. A damaged data page can make Polars'
    # reader abort the whole process on a huge allocation (polars 2.1; not catchable, see
    # rust/drgsim-core/fuzz/README.md), which would stop the test run itself.
    lo = len(b) // 2 if kind == ".parquet" else 0
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(lo, len(b) - 1))
        b[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        b = b[: draw(st.integers(0, len(b)))]
    return bytes(b)


def _only_drgsim_errors(f: Callable[[], object]) -> None:
    with contextlib.suppress(DrgsimError):
        f()


@FUZZ
@given(csv_bytes(), st.sampled_from([".csv", ".tsv", ".txt"]))
def test_readers_on_arbitrary_text(tmp_path_factory: Any, data: bytes, suffix: str) -> None:
    p = tmp_path_factory.mktemp("fuzz") / f"cases{suffix}"
    p.write_bytes(data)
    _only_drgsim_errors(lambda: read_any(p))
    _only_drgsim_errors(lambda: read_cases(p))


@settings(FUZZ, max_examples=30 * SCALE)
@given(st.sampled_from([".parquet", ".xlsx"]).flatmap(lambda k: st.tuples(st.just(k), damaged(k))))
def test_readers_on_damaged_files(tmp_path_factory: Any, kind_data: tuple[str, bytes]) -> None:
    kind, data = kind_data
    p = tmp_path_factory.mktemp("fuzz") / f"cases{kind}"
    p.write_bytes(data)
    _only_drgsim_errors(lambda: read_any(p))
    _only_drgsim_errors(lambda: read_cases(p))


@FUZZ
@given(frames())
def test_read_any_on_arbitrary_frames(df: pl.DataFrame) -> None:
    _only_drgsim_errors(lambda: read_any(df))


# ------------------------------------------------------------------------------ policies

SHIPPED = resources.files("drgsim")
EXAMPLES: dict[str, tuple[str, Callable[[dict[str, Any]], object], Callable[[Path], object]]] = {
    "rate": ("policies/example_rate.toml", parse_policy, load_policy),
    "points": ("policies/example_points.toml", parse_policy, load_policy),
    "settlement": (
        "policies/example_settlement.toml",
        parse_settlement_policy,
        load_settlement_policy,
    ),
    "dip": ("policies/example_dip.toml", dip_policy.parse_policy, dip_policy.load_policy),
    "scenario_los": ("scenarios/example_los_and_cc.toml", parse_scenario, load_scenario),
    "scenario_mix": ("scenarios/example_policy_and_mix.toml", parse_scenario, load_scenario),
}


def _example(name: str) -> dict[str, Any]:
    return tomllib.loads((SHIPPED / EXAMPLES[name][0]).read_text(encoding="utf-8"))


toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=8),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.sampled_from(["rate", "points", "items", "value", "hospital", "los", "add", "policy"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda v: st.one_of(
        st.lists(v, max_size=3), st.dictionaries(st.text(max_size=6), v, max_size=3)
    ),
    max_leaves=6,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def wrong_typed(draw: Any, name: str) -> dict[str, Any]:
    """A shipped example with a few values (or tables, or arrays) replaced by anything."""
    doc = copy.deepcopy(_example(name))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.integers(0, 5)) == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(toml_values)
    return doc


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, (int, date, datetime, time)):
        return v.isoformat() if not isinstance(v, int) else str(v)
    if isinstance(v, str):
        return (
            '"'
            + "".join(
                c
                if c.isprintable() and c not in '"\\'
                else f"\\u{ord(c):04x}"
                if ord(c) < 0x10000
                else f"\\U{ord(c):08x}"
                for c in v
            )
            + '"'
        )
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _to_toml(doc: dict[str, Any]) -> str:
    """Each top-level key as `key = inline value` (TOML 1.0 allows it for tables too)."""
    return "\n".join(f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in doc.items()) + "\n"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_examples_round_trip_through_the_writer(name: str, tmp_path: Path) -> None:
    # the fuzz tests below write documents with _to_toml: it must keep a valid one valid
    doc = _example(name)
    assert tomllib.loads(_to_toml(doc)) == doc
    p = tmp_path / "doc.toml"
    p.write_text(_to_toml(doc), encoding="utf-8")
    EXAMPLES[name][2](p)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_loaders_on_wrong_typed_documents(name: str, tmp_path_factory: Any) -> None:
    parse, load = EXAMPLES[name][1], EXAMPLES[name][2]

    @settings(FUZZ, max_examples=40 * SCALE)
    @given(wrong_typed(name))
    def run(doc: dict[str, Any]) -> None:
        _only_drgsim_errors(lambda: parse(doc))
        p = tmp_path_factory.mktemp("fuzz") / "doc.toml"
        p.write_text(_to_toml(doc), encoding="utf-8")
        _only_drgsim_errors(lambda: load(p))

    run()


toml_like = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            [
                "[policy]",
                'method = "rate"',
                "[rate]",
                "base_rate = 1e400",
                "[[change]]",
                'type = "los"',
                "[classes]",
                "high_threshold = -1",
                "[settlement]",
                "[budget]",
                "of_value = nan",
                "bands = [{}]",
                "[scenario]",
                "name = 1",
                "where = {mdc = []}",
                "relative = inf",
                "[dip]",
                "x = 1979-05-27",
                "a.b.c = 1",
                '[""]',
                "'' = 0",
            ]
        ),
        max_size=12,
    ).map("\n".join),
)


@FUZZ
@given(toml_like, st.sampled_from(sorted(EXAMPLES)))
def test_loaders_on_arbitrary_toml(tmp_path_factory: Any, text: str, name: str) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "doc.toml"
    p.write_text(text, encoding="utf-8")
    _only_drgsim_errors(lambda: EXAMPLES[name][2](p))


# ------------------------------------------------------------------------------ found

# Each crash the fuzz tests found, pinned.


def test_found_damaged_parquet_footer_is_an_input_error(tmp_path: Path) -> None:
    # Polars' reader panics (PanicException, a BaseException) on this one-byte change of the
    # footer's Thrift data; the readers now report it as an unreadable file.
    b = bytearray(_valid_file(".parquet"))
    b[51] = 127
    p = tmp_path / "cases.parquet"
    p.write_bytes(bytes(b))
    for read in (read_any, read_cases):
        with pytest.raises(DrgsimError, match="cannot read"):
            read(p)


def test_found_list_column_where_one_value_is_expected() -> None:
    # A list in the age column of a frame crashed read_any with a Polars cast error; it is
    # joined into one text value, a bad value of its row.
    df = pl.DataFrame({"sex": [1], "age": [["30", "40"]], "dx": ["K35.800x001"]})
    r = read_any(df)
    assert r.frame["read_status"].to_list() == ["flagged"]
    assert "age '30|40'" in r.frame["read_message"][0]


@pytest.mark.parametrize("value", [9.2234e18, float("inf"), 1e300])
def test_found_huge_whole_number(value: float) -> None:
    # A whole number beyond Int64 made the cast of age_days fail for the whole frame.
    df = pl.DataFrame(
        {"sex": [1, 1], "age_days": [value, 3.0], "age": [0, 0], "dx": ["P07.100"] * 2}
    )
    r = read_any(df)
    assert r.frame["read_status"].to_list() == ["flagged", "ok"]
    assert r.frame["age_days"].to_list() == [None, 3]


def test_found_scenario_change_type_not_a_string() -> None:
    # `type = []` raised TypeError (unhashable) instead of a ScenarioError.
    with pytest.raises(DrgsimError, match=r"change\[0\]\.type must be one of"):
        parse_scenario({"change": [{"type": [], "field": "dx", "codes": ["A"]}]})


def test_found_policy_special_drgs_not_an_array() -> None:
    # `special_drgs = 0` raised TypeError ('int' object is not iterable).
    doc = _example("rate")
    doc["classes"]["special_drgs"] = 0
    with pytest.raises(DrgsimError, match="special_drgs must be an array of strings"):
        parse_policy(doc)
