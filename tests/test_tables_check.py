"""`drgsim tables check` on deliberately broken tables, policies and weights; sealed sets.

The broken tables live in tests/data/broken_tables; expected.toml there lists every planted
problem (file, line, severity, message fragment). Each check must find exactly those.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drgsim import tables
from drgsim.cli import main
from drgsim.exceptions import TableError
from drgsim.policy import PolicyError, load_policy
from drgsim.settlement import load_settlement_policy

ROOT = Path(__file__).resolve().parents[1]
BROKEN = Path(__file__).resolve().parent / "data" / "broken_tables"
TEACHING = ROOT / "grouper_tables" / "teaching"
EXPECTED: list[dict[str, Any]] = tomllib.loads((BROKEN / "expected.toml").read_text("utf-8"))[
    "check"
]
FINDING = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<severity>error|warning): (?P<message>.*)$")


def _run(*args: str) -> tuple[int, list[dict[str, Any]]]:
    r = CliRunner().invoke(main, ["tables", "check", *args])
    found = []
    for ln in r.stdout.splitlines():
        m = FINDING.match(ln)
        assert m or ln.endswith("no problems"), f"unexpected output line: {ln!r}"
        if m:
            d = m.groupdict()
            found.append({**d, "file": Path(d["file"]).name, "line": int(d["line"])})
    return r.exit_code, found


@pytest.mark.parametrize("case", EXPECTED, ids=[" ".join(c["args"]) for c in EXPECTED])
def test_check_finds_every_planted_problem(case: dict[str, Any]) -> None:
    args = [str(BROKEN / a) if (BROKEN / a).exists() else a for a in case["args"]]
    code, found = _run(*args)
    left = list(found)
    for want in case["finding"]:
        hits = [
            f
            for f in left
            if (f["file"], f["line"], f["severity"])
            == (want["file"], want["line"], want["severity"])
            and want["message"] in f["message"]
        ]
        assert len(hits) == 1, f"planted {want} not found once in {found}"
        left.remove(hits[0])
    assert left == [], f"unexpected findings: {left}"
    assert code == case["exit_code"]


def test_errors_refuse_loading_and_list_every_problem() -> None:
    with pytest.raises(TableError) as e:
        tables.load(BROKEN / "analysis")
    msgs = [m for _, _, m in e.value.problems]
    assert len(msgs) == 5 and all("can never be chosen" in m or "conflicting" in m for m in msgs)
    with pytest.raises(TableError, match="content hash mismatch"):
        tables.load(BROKEN / "tampered")


def test_warnings_do_not_refuse_and_strict_exits_1(tmp_path: Path) -> None:
    d = tmp_path / "warn"
    shutil.copytree(BROKEN / "analysis", d)
    # Keep only the warning-level problems: drop the broken splits, codes and weights.
    text = (d / "adrg.toml").read_text("utf-8")
    text = text.replace('when = "los > 30"', 'when = "false or los > 30"')
    for drg in ("GB19", "GC13", "GC15"):
        text = re.sub(rf'\n\[\[adrg\.drg\]\]\ncode = "{drg}"\n(when = "[^"]*"\n)?', "\n", text)
    (d / "adrg.toml").write_text(text, "utf-8")
    for f in ("cc.csv", "cc_exclusions.csv", "weights.csv"):
        (d / f).unlink()
    ts = tables.load(d)
    assert ts.name == "broken-analysis"
    code, found = _run(str(d))
    assert code == 0 and found and {f["severity"] for f in found} == {"warning"}
    code, _ = _run(str(d), "--strict")
    assert code == 1


def test_teaching_is_sealed_and_clean() -> None:
    assert (TEACHING / "MANIFEST.sha256").is_file()
    assert tables.check("teaching") == []
    code, found = _run("teaching", "--strict")
    assert (code, found) == (0, [])


def test_truncated_file_is_a_hash_mismatch(tmp_path: Path) -> None:
    d = tmp_path / "teaching"
    shutil.copytree(TEACHING, d)
    assert tables.load(d).name == "teaching"
    adrg = d / "adrg.toml"
    adrg.write_bytes(adrg.read_bytes()[: adrg.stat().st_size // 2])
    with pytest.raises(TableError) as e:
        tables.load(d)
    assert ("adrg.toml", 0) in {(f, ln) for f, ln, m in e.value.problems if "hash mismatch" in m}
    # weights.csv is sealed too, though grouping does not read it.
    (d / "adrg.toml").write_bytes((TEACHING / "adrg.toml").read_bytes())
    (d / "weights.csv").write_text("drg,rw\nAA29,1.0\n", "utf-8")
    with pytest.raises(TableError, match=r"weights\.csv: content hash mismatch"):
        tables.load(d)
    # Re-sealing accepts the edit.
    r = CliRunner().invoke(main, ["tables", "seal", str(d)])
    assert r.exit_code == 0, r.output
    assert tables.load(d).name == "teaching"
    code, found = _run(str(d))
    assert code == 1
    assert sum("no weight for DRG" in f["message"] for f in found) == 350


def test_unsealed_set_loads_with_a_warning(tmp_path: Path) -> None:
    d = tmp_path / "old"
    shutil.copytree(TEACHING, d)
    (d / "MANIFEST.sha256").unlink()
    assert tables.load(d).name == "teaching"
    assert [(f.file, f.severity) for f in tables.check(d)] == [("MANIFEST.sha256", "warning")]


def test_weights_option(tmp_path: Path) -> None:
    w = tmp_path / "w.csv"
    w.write_text((TEACHING / "weights.csv").read_text("utf-8").replace("AB19,", "XX99,"), "utf-8")
    found = tables.check("teaching", weights=w)
    assert [(f.severity, f.message.split(",")[0]) for f in found] == [
        ("error", "no weight for DRG AB19 (adrg.toml line 24)"),
        ("warning", "weight for DRG XX99"),
    ]
    assert found[1].file == str(w) and found[1].line == 3


def test_bad_policies_are_refused_on_load() -> None:
    with pytest.raises(PolicyError) as e:
        load_policy(BROKEN / "policies" / "bad_payment.toml")
    assert "6 problem(s)" in str(e.value) and "classes.items_ratio" in str(e.value)
    with pytest.raises(PolicyError, match="min_of_budget is above max_of_budget"):
        load_settlement_policy(BROKEN / "policies" / "bad_settlement.toml")


def test_shipped_policies_are_clean() -> None:
    from drgsim.policy import file_problems

    for f in sorted((ROOT / "python" / "drgsim" / "policies").glob("*.toml")):
        assert file_problems(f) == [], f.name
