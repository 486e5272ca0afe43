"""Faults: an interrupted write never leaves a file that looks complete, and no command
writes over one of its inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from drgsim.cli import main
from drgsim.exceptions import InputError
from drgsim.io import PARTIAL_SUFFIX, atomic_output, write_frame

CASES = pl.DataFrame(
    {
        "case_id": ["a1", "a2", "a3"],
        "sex": [1, 2, 1],
        "age": [60, 30, 45],
        "dx": ["I63.900", "O80.000", "K35.800x001"],
        "px": ["", "", "47.0901"],
        "los_days": [8, 3, 5],
        "total_cost": [12000.0, 4000.0, 9000.0],
        "hospital_id": ["H1", "H1", "H2"],
        "department": ["神经内科", "产科", "普外科"],
    }
)


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{PARTIAL_SUFFIX}"))


# --------------------------------------------------------------------------- atomic output
def test_atomic_output_names_the_file_only_when_complete(tmp_path):
    out = tmp_path / "out.csv"
    with atomic_output(out) as tmp:
        tmp.write_text("a\n1\n")
        assert not out.exists()
        assert tmp.name.startswith("out.csv.") and tmp.name.endswith(PARTIAL_SUFFIX)
    assert out.read_text() == "a\n1\n"
    assert _partials(tmp_path) == []


def test_atomic_output_removes_the_temporary_file_on_error_and_keeps_the_old_file(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert out.read_text() == "old\n"
    assert _partials(tmp_path) == []


def test_write_frame_that_fails_leaves_nothing(tmp_path):
    out = tmp_path / "nested.csv"
    with pytest.raises(InputError, match="nested"):
        write_frame(pl.DataFrame({"s": [{"a": 1}]}), out)
    assert list(tmp_path.iterdir()) == []


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from drgsim.io import atomic_output
    with atomic_output(sys.argv[1]) as tmp:
        with open(tmp, "w") as f:
            for i in range(10_000):
                f.write("row %d\\n" % i)
                f.flush()
                if i == 10:
                    print("writing", flush=True)
                time.sleep(0.01)
    """
)


def test_killed_while_writing_leaves_only_a_partial_file(tmp_path):
    out = tmp_path / "result.csv"
    with subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(out)], stdout=subprocess.PIPE, text=True
    ) as p:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "writing"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    assert not out.exists()
    [partial] = _partials(tmp_path)
    assert partial.read_text().startswith("row 0\n")


_BIG_WRITER = textwrap.dedent(
    """
    import sys
    import polars as pl
    from drgsim.io import write_frame
    n = 4_000_000
    df = pl.DataFrame({"i": range(n)}).with_columns(
        s=pl.format("case-{}-I63.900|J96.000|K35.800x001", pl.col("i")),
        f=pl.col("i") * 0.5,
    )
    print("ready", flush=True)
    write_frame(df, sys.argv[1])
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_killed_in_the_middle_of_a_large_polars_write(tmp_path, suffix):
    """SIGKILL while polars writes a large frame: the final name never appears."""
    out = tmp_path / f"result{suffix}"
    with subprocess.Popen(
        [sys.executable, "-c", _BIG_WRITER, str(out)], stdout=subprocess.PIPE, text=True
    ) as p:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not _partials(tmp_path) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        finished = p.poll() is not None
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    if finished:
        pytest.skip("the write finished before it could be interrupted")
    assert not out.exists()
    assert len(_partials(tmp_path)) == 1


def test_cli_output_is_complete_or_absent(tmp_path):
    """A normal CLI run leaves the result and no temporary file."""
    src = tmp_path / "cases.csv"
    CASES.write_csv(src)
    out = tmp_path / "grouped.parquet"
    r = CliRunner().invoke(main, ["group", str(src), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert pl.read_parquet(out).height == 3
    assert _partials(tmp_path) == []


# --------------------------------------------------------------------------- never over an input
def _same(src: Path, how: str) -> Path:
    """A path that names the same file as ``src``: itself, relative, a symlink, a hard link."""
    if how == "same":
        return src
    if how == "relative":
        return Path(os.path.relpath(src))
    if how == "dotted":
        return src.parent / "." / ".." / src.parent.name / src.name
    link = src.with_name("alias" + src.suffix)
    if how == "symlink":
        link.symlink_to(src)
    else:
        os.link(src, link)
    return link


def _commands(src: Path, tmp_path: Path, out: Path) -> dict[str, list[str]]:
    return {
        "group": ["group", str(src), "-o", str(out)],
        "pay": ["pay", str(src), "-p", "rate", "-o", str(out)],
        "audit": ["audit", str(src), "-o", str(out)],
        "settle": ["settle", str(src), "-o", str(out)],
        "dip build": ["dip", "build", str(src), "-o", str(out)],
    }


@pytest.mark.parametrize("how", ["same", "relative", "dotted", "symlink", "hardlink"])
@pytest.mark.parametrize("command", ["group", "pay", "audit", "settle", "dip build"])
def test_no_command_overwrites_its_input(tmp_path, monkeypatch, command, how):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "cases.csv"
    CASES.write_csv(src)
    before = src.read_bytes()
    out = _same(src, how)
    files_before = sorted(tmp_path.iterdir())
    r = CliRunner().invoke(main, _commands(src, tmp_path, out)[command])
    assert r.exit_code != 0
    assert "never overwrites an input" in r.output
    assert src.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == files_before


def test_settle_refuses_when_its_monthly_file_would_be_the_input(tmp_path):
    src = tmp_path / "s_monthly.csv"
    CASES.write_csv(src)
    r = CliRunner().invoke(main, ["settle", str(src), "-o", str(tmp_path / "s.csv")])
    assert r.exit_code != 0 and "never overwrites an input" in r.output
    assert not (tmp_path / "s.csv").exists()


def test_report_refuses_to_write_over_its_input(tmp_path):
    src = tmp_path / "report.xlsx"
    src.write_bytes(b"not really a workbook")
    r = CliRunner().invoke(main, ["report", str(src), "-o", str(tmp_path)])
    assert r.exit_code != 0 and "never overwrites an input" in r.output
    assert src.read_bytes() == b"not really a workbook"
    assert not (tmp_path / "report.html").exists()


def test_policy_file_is_an_input_too(tmp_path):
    src = tmp_path / "cases.csv"
    CASES.write_csv(src)
    policy = tmp_path / "policy.csv"  # a mistyped -o naming the policy file
    policy.write_text("x")
    r = CliRunner().invoke(main, ["pay", str(src), "-p", str(policy), "-o", str(policy)])
    assert r.exit_code != 0 and "never overwrites an input" in r.output
    assert policy.read_text() == "x"


def test_dip_commands_refuse_to_overwrite_the_catalogue_or_cases(tmp_path):
    from drgsim.dip import catalogue as cat

    hist = pl.concat([CASES] * 20).with_columns(total_cost=pl.col("total_cost") * 1.0)
    src = tmp_path / "hist.csv"
    hist.write_csv(src)
    catalogue = tmp_path / "cat" / "dip.parquet"
    catalogue.parent.mkdir()
    r = CliRunner().invoke(main, ["dip", "build", str(src), "-o", str(catalogue)])
    assert r.exit_code == 0, r.output
    before = catalogue.read_bytes()
    for args in (
        ["dip", "group", str(src), "-c", str(catalogue), "-o", str(catalogue)],
        ["dip", "group", str(src), "-c", str(catalogue), "-o", str(src)],
        ["dip", "pay", str(src), "-c", str(catalogue), "-o", str(catalogue)],
        ["dip", "import", str(catalogue), "-o", str(catalogue)],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code != 0 and "never overwrites an input" in r.output, args
    assert catalogue.read_bytes() == before
    assert cat.read(catalogue).groups.height > 0


def test_a_different_output_is_written(tmp_path):
    src = tmp_path / "cases.csv"
    CASES.write_csv(src)
    out = tmp_path / "cases_grouped.csv"
    r = CliRunner().invoke(main, ["group", str(src), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert pl.read_csv(out).height == 3
