"""The command line: the issue's done-when flow, and the tables commands."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from click.testing import CliRunner

from drgsim.cli import main


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_TABLES", str(tmp_path / "tables"))
    return CliRunner()


def import_reference(runner, reference, name):
    r = runner.invoke(main, ["tables", "import", "opendrg", str(reference / name), "--name", name])
    assert r.exit_code == 0, r.output
    return r.output


def test_import_then_group_the_real_cases(runner, reference, tmp_path):
    out = import_reference(runner, reference, "yancheng-2023")
    assert "ADRG 376, DRG 628" in out
    out = tmp_path / "out.parquet"
    cases = reference / "cases" / "yancheng_hospital_9728_cases_with_insurance_drg.csv"
    r = runner.invoke(main, ["group", str(cases), "-t", "yancheng-2023", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "cases: 9728" in r.output and "0000:" in r.output
    df = pl.read_parquet(out)
    assert df.height == 9728
    assert (df["drg"] == df["insurer_actual_drg"]).mean() >= 0.997
    assert df["case_id"].dtype == pl.String  # ids stay text
    meta = pl.read_parquet_metadata(out)
    assert meta["drgsim.tables_name"] == "yancheng-2023"
    # again into CSV
    r = runner.invoke(
        main, ["group", str(cases), "-t", "yancheng-2023", "-o", str(tmp_path / "out.csv"), "-q"]
    )
    assert r.exit_code == 0, r.output
    assert pl.read_csv(tmp_path / "out.csv", infer_schema=False).height == 9728


def test_tables_list_show_check(runner, reference, tmp_path):
    import_reference(runner, reference, "chs-drg-1.1")
    r = runner.invoke(main, ["tables", "list"])
    assert r.exit_code == 0 and "chs-drg-1.1" in r.output and "teaching" in r.output
    r = runner.invoke(main, ["tables", "show", "chs-drg-1.1"])
    assert r.exit_code == 0, r.output
    assert "MDC 26, ADRG 376, DRG 628, MCC 4678, CC 16568" in r.output
    assert "content_hash" in r.output
    r = runner.invoke(main, ["tables", "check", "chs-drg-1.1"])
    assert r.exit_code == 0 and "no problems" in r.output
    # break a copy: every problem is listed with file and line
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "tables" / "chs-drg-1.1", broken)
    text = (broken / "adrg.toml").read_text(encoding="utf-8")
    text = text.replace('when = "principal_dx in BR2_zd"', 'when = "principal_dx in NO_SUCH"', 1)
    (broken / "adrg.toml").write_text(text, encoding="utf-8")
    r = runner.invoke(main, ["tables", "check", str(broken)])
    assert r.exit_code == 1
    assert "adrg.toml:" in r.output and "unknown list 'NO_SUCH'" in r.output
    r = runner.invoke(
        main,
        [
            "group",
            str(reference / "cases" / "opendrg_input_chs_drg_11_expected.csv"),
            "-t",
            str(broken),
            "-o",
            str(tmp_path / "x.parquet"),
        ],
    )
    assert r.exit_code == 2 and "unknown list 'NO_SUCH'" in r.output


def test_unknown_table_set_is_a_clear_error(runner, tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("sex,age,dx\n1,60,I63.900\n", encoding="utf-8")
    r = runner.invoke(main, ["group", str(p), "-t", "nope", "-o", str(tmp_path / "o.parquet")])
    assert r.exit_code == 2
    assert "no table set named 'nope'" in r.output


def test_group_with_the_builtin_set_needs_no_files(runner, tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(
        "性别,年龄,诊断编码,手术编码\n男,45,K35.800x001,47.0901\n女,30,O80.000,\n",
        encoding="utf-8-sig",
    )
    out = tmp_path / "o.parquet"
    r = runner.invoke(main, ["group", str(p), "-o", str(out)])
    assert r.exit_code == 0, r.output
    df = pl.read_parquet(out)
    assert df.height == 2 and df["tables_name"][0] == "teaching"
    assert df["status"].to_list() == ["ok", "ok"]


def test_explain_command(runner, reference):
    r = runner.invoke(main, ["explain", "--age", "67", "--dx", "I63.900|J96.000"])
    assert r.exit_code == 0, r.output
    assert "MDC" in r.output and "结果 result" in r.output


def test_progress_bar_on_large_inputs(runner, reference, tmp_path, monkeypatch):
    import drgsim.cli as cli

    monkeypatch.setattr(cli, "PROGRESS_ROWS", 1000)
    import_reference(runner, reference, "yancheng-2023")
    cases = reference / "cases" / "yancheng_hospital_9728_cases_with_insurance_drg.csv"
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    r = runner.invoke(main, ["group", str(cases), "-t", "yancheng-2023", "-o", str(a)])
    assert r.exit_code == 0, r.output
    assert "grouping" in r.output and "cases/s" in r.output
    r = runner.invoke(main, ["group", str(cases), "-t", "yancheng-2023", "-o", str(b), "-q"])
    assert r.exit_code == 0 and r.output == ""
    assert pl.read_parquet(a).equals(pl.read_parquet(b))


def test_synth_then_pay(runner, tmp_path):
    """Issue 5, done when: synth 200,000 cases of 5 hospitals, pay them under an example
    policy; every case has a class and a payment, and totals by class reconcile."""
    h, p = tmp_path / "h.parquet", tmp_path / "p.parquet"
    r = runner.invoke(
        main, ["synth", "--cases", "200000", "--hospitals", "5", "--seed", "1", "-o", str(h)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["pay", str(h), "-p", "rate", "-o", str(p)])
    assert r.exit_code == 0, r.output
    assert "total" in r.output
    df = pl.read_parquet(p)
    assert df.height == 200_000 and df["hospital_id"].n_unique() == 5
    assert df["case_class"].null_count() == 0 and df["paid"].null_count() == 0
    by_class = df.group_by("case_class").agg(pl.col("paid").sum())
    assert by_class["paid"].sum() == pytest.approx(df["paid"].sum())


def test_settle_simulate_and_audit(runner, tmp_path):
    """drgsim settle, simulate and audit on a small synthetic region."""
    from importlib import resources

    h = tmp_path / "h.parquet"
    r = runner.invoke(
        main, ["synth", "--cases", "20000", "--hospitals", "3", "--seed", "2", "-o", str(h)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["settle", str(h), "-o", str(tmp_path / "s.parquet")])
    assert r.exit_code == 0, r.output
    s = pl.read_parquet(tmp_path / "s.parquet")
    assert s.height == 4 and (tmp_path / "s_monthly.parquet").is_file()
    scenario = resources.files("drgsim") / "scenarios" / "example_los_and_cc.toml"
    with resources.as_file(scenario) as sc:
        r = runner.invoke(
            main,
            ["simulate", str(h), "-s", str(sc), "--draws", "20", "-o", str(tmp_path / "c.parquet")],
        )
    assert r.exit_code == 0, r.output
    assert "Monte Carlo" in r.output and (tmp_path / "c_hospital.parquet").is_file()
    r = runner.invoke(main, ["audit", str(h), "-o", str(tmp_path / "a.parquet")])
    assert r.exit_code == 0, r.output
    assert pl.read_parquet(tmp_path / "a.parquet")["cf_flag"].drop_nulls().len() > 0


def test_report_command(runner, tmp_path):
    h = tmp_path / "h.parquet"
    r = runner.invoke(main, ["synth", "--cases", "5000", "--hospitals", "2", "-o", str(h)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["report", str(h), "-o", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "report.xlsx").is_file()
    assert (tmp_path / "rep" / "report.html").is_file()
