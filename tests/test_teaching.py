"""The built-in teaching set: what the issue asks of it, and its worked examples."""

from __future__ import annotations

import io

import polars as pl
import pytest

import drgsim
from drgsim import tables


@pytest.fixture(scope="module")
def teaching() -> tables.TableSet:
    return tables.load("teaching")


def test_contents(teaching):
    i = teaching.info
    assert i["mdc"] == 26
    assert i["adrg"] >= 60
    assert i["cc"] + i["mcc"] >= 300
    assert i["exclusion_tables"] > 1
    assert tables.check("teaching") == []
    readme = teaching.builtin_file("README.md").decode()
    assert "teaching" in readme.lower() and "not a settlement table" in readme.lower()
    assert "drgsim tables import opendrg" in readme


def test_weights_cover_every_drg(teaching):
    w = pl.read_csv(io.BytesIO(teaching.builtin_file("weights.csv")), infer_schema=False)
    drgs = {d for d, _, _, _ in teaching.drgs()}
    assert set(w["drg"]) == drgs
    assert (w["rw"].cast(pl.Float64) > 0).all()


def test_worked_examples(teaching):
    cases = pl.read_csv(io.BytesIO(teaching.builtin_file("examples.csv")), infer_schema=False)
    assert cases.height >= 12
    out = drgsim.group(cases, teaching)
    wrong = out.filter(
        (pl.col("drg") != pl.col("expected_drg"))
        | (pl.col("adrg").fill_null("") != pl.col("expected_adrg").fill_null(""))
        | (pl.col("mdc").fill_null("") != pl.col("expected_mdc").fill_null(""))
    )
    assert wrong.height == 0, wrong


def test_group_works_with_no_external_files():
    out = drgsim.group(
        pl.DataFrame({"sex": ["女"], "age": ["30"], "dx": ["O80.000"], "px": ["73.6x01"]})
    )
    assert out["drg"][0] == "OR19"
