"""Synthetic cases for the scale-out tests (batch, Spark, Ray): realistic and deliberately bad."""

from __future__ import annotations

import polars as pl

from drgsim import synth
from drgsim.columns import CANONICAL

CASE_COLUMNS = ["case_id", "hospital_id", *CANONICAL]


def cases(n: int = 3_000, seed: int = 7) -> pl.DataFrame:
    """``n`` cases of three hospitals; every seventh row damaged in one of seven ways.

    ``case_id`` is an Int64 key, ``sex`` a string column (1 / 2 / 男 / 女 / bad), ``dx`` a
    ``list[str]`` (with null lists, empty lists, null items and unknown codes) and ``px`` a
    ``|``-joined string (with nulls, empty strings and unknown codes).
    """
    df = synth.hospital(cases=n, hospitals=3, seed=seed).select(CASE_COLUMNS)
    i = pl.int_range(pl.len())
    kind = pl.when(i % 7 == 3).then(i % 49 // 7)  # which damage, on every seventh row
    return df.with_columns(
        case_id=i.cast(pl.Int64) * 10 + 5,
        sex=pl.when(kind == 0)
        .then(None)
        .when(kind == 1)
        .then(pl.lit("9"))
        .when(i % 5 == 0)
        .then(pl.col("sex").replace_strict({1: "男", 2: "女"}, return_dtype=pl.String))
        .otherwise(pl.col("sex").cast(pl.String)),
        age=pl.when(kind == 2).then(None).when(kind == 3).then(-4).otherwise(pl.col("age")),
        los_days=pl.when(kind == 4).then(None).otherwise(pl.col("los_days")),
        dx=pl.when(kind == 5)
        .then(None)
        .when(kind == 6)
        .then(pl.lit(["NOT.A.CODE", "K35.800x001"]))
        .when(i % 11 == 0)
        .then(pl.concat_list(pl.col("dx"), pl.lit([None], dtype=pl.List(pl.String))))
        .when(i % 13 == 0)
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col("dx")),
        px=pl.when(i % 17 == 0)
        .then(None)
        .when(i % 19 == 0)
        .then(pl.lit(""))
        .when(i % 23 == 0)
        .then(pl.lit("99.9999|47.0901"))
        .otherwise(pl.col("px").list.join("|")),
    )
