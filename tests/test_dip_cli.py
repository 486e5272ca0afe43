"""DIP, done when: a synthetic region of 5 hospitals and 3 years, built, matched and paid
from the command line; every case gets a group and a reason, and payments add up to the fund
under the settlement point value."""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner

from drgsim.cli import main


def test_build_group_pay_a_synthetic_region(tmp_path):
    r = CliRunner()
    years = []
    for y in (2022, 2023, 2024):
        out = tmp_path / f"h{y}.parquet"
        res = r.invoke(
            main,
            [
                "synth",
                "--cases",
                "30000",
                "--hospitals",
                "5",
                "--seed",
                str(y),
                "--year",
                str(y),
                "-o",
                str(out),
            ],
        )
        assert res.exit_code == 0, res.output
        years.append(str(out))
    cat, grouped, paid = tmp_path / "cat.csv", tmp_path / "g.parquet", tmp_path / "p.parquet"
    res = r.invoke(
        main,
        [
            "dip",
            "build",
            *years,
            "--year",
            "discharge_date",
            "--year-weights",
            "2022:1,2023:2,2024:7",
            "--threshold",
            "15",
            "-o",
            str(cat),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "catalogue.toml").is_file()
    res = r.invoke(main, ["dip", "group", years[-1], "-c", str(cat), "-o", str(grouped)])
    assert res.exit_code == 0, res.output
    g = pl.read_parquet(grouped)
    assert g.height == 30000
    assert g["dip_group"].null_count() == 0 and g["dip_reason"].null_count() == 0
    fund = 2.5e8
    res = r.invoke(
        main, ["dip", "pay", str(grouped), "-c", str(cat), "--fund", str(fund), "-o", str(paid)]
    )
    assert res.exit_code == 0, res.output
    p = pl.read_parquet(paid)
    assert p["paid"].null_count() == 0
    assert p["paid"].sum() == pytest.approx(fund, rel=1e-9)
    per_hospital = p.group_by("hospital_id").agg(pl.col("paid").sum())
    assert per_hospital.height == 5 and per_hospital["paid"].sum() == pytest.approx(fund)
