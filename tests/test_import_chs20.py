"""Tests of the CHS-DRG 2.0 importer (``drgsim.tables.importers.chs20``) and conformance.

The reference folder lives outside the repository, at ``../shared/reference/chs-drg-2.0``
relative to the repository root; the tests are skipped when it is absent.

Besides counts and the translation of each source construct, the tests group the worked 2.0
examples and generate cases from the 2.0 code lists until every ADRG and DRG is reached.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import drgsim
from drgsim.exceptions import TableImportError
from drgsim.tables.importers.chs20 import _name_limits, _NameError, _parse_logic, import_chs20

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
SRC = REFERENCE / "chs-drg-2.0"
ORIGINAL = SRC / "original"

pytestmark = pytest.mark.skipif(
    not (ORIGINAL / "adrg_rules.json").is_file(), reason=f"reference data not found at {SRC}"
)


# ---------------------------------------------------------------------------------------
# The imported set (once per session)
# ---------------------------------------------------------------------------------------


@dataclass
class Imported:
    ts: Any  # drgsim TableSet
    report: Any  # ImportReport
    dest: Path
    seconds: float
    tableset: dict[str, Any]
    mdcs: list[dict[str, Any]]
    adrgs: list[dict[str, Any]]
    lists: dict[str, list[str]]
    systems: dict[str, str]
    cc: dict[str, tuple[str, str]]  # code -> (level, table)
    cce: dict[str, str]  # principal dx -> table

    @property
    def adrg(self) -> dict[str, dict[str, Any]]:
        return {a["code"]: a for a in self.adrgs}

    @property
    def mdc(self) -> dict[str, dict[str, Any]]:
        return {m["code"]: m for m in self.mdcs}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load_imported(ts: Any, report: Any, dest: Path, seconds: float) -> Imported:
    lists: dict[str, list[str]] = {}
    systems: dict[str, str] = {}
    for r in read_csv(dest / "code_lists.csv"):
        lists.setdefault(r["list"], []).append(r["code"])
        systems[r["list"]] = r["system"]
    return Imported(
        ts=ts,
        report=report,
        dest=dest,
        seconds=seconds,
        tableset=tomllib.loads((dest / "tableset.toml").read_text(encoding="utf-8")),
        mdcs=tomllib.loads((dest / "mdc.toml").read_text(encoding="utf-8"))["mdc"],
        adrgs=tomllib.loads((dest / "adrg.toml").read_text(encoding="utf-8"))["adrg"],
        lists=lists,
        systems=systems,
        cc={r["code"]: (r["level"], r["exclusion_table"]) for r in read_csv(dest / "cc.csv")},
        cce={r["principal_dx"]: r["exclusion_table"] for r in read_csv(dest / "cc_exclusions.csv")},
    )


@pytest.fixture(scope="session")
def chs20(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """Import the 2.0 folder once (through ``drgsim.tables.import_tables``)."""
    tmp = tmp_path_factory.mktemp("chs20")
    start = time.perf_counter()
    ts, report = drgsim.tables.import_tables(
        "chs20", SRC, "chs-drg-2.0", dest_root=tmp, overwrite=True
    )
    return load_imported(ts, report, tmp / "chs-drg-2.0", time.perf_counter() - start)


def group(ts: Any, cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group case dicts (keys: dx, px and optionally sex, age, age_days, birth_weight_g ...)."""
    df = pl.DataFrame(
        {
            "sex": [c.get("sex", 1) for c in cases],
            "age": [c.get("age", 45.0) for c in cases],
            "age_days": [c.get("age_days") for c in cases],
            "birth_weight_g": [c.get("birth_weight_g") for c in cases],
            "los_days": [c.get("los_days", 7.0) for c in cases],
            "discharge_type": [c.get("discharge_type", 1.0) for c in cases],
            "dx": [list(c["dx"]) for c in cases],
            "px": [list(c.get("px", [])) for c in cases],
        },
        schema={
            "sex": pl.Int64,
            "age": pl.Float64,
            "age_days": pl.Float64,
            "birth_weight_g": pl.Float64,
            "los_days": pl.Float64,
            "discharge_type": pl.Float64,
            "dx": pl.List(pl.Utf8),
            "px": pl.List(pl.Utf8),
        },
    )
    return drgsim.group(df, ts).to_dicts()


# ---------------------------------------------------------------------------------------
# Counts, check, determinism
# ---------------------------------------------------------------------------------------


def test_counts_and_check(chs20: Imported) -> None:
    r = chs20.report
    assert (r.mdc, r.adrg, r.drg) == (26, 409, 634)
    assert (r.mcc, r.cc) == (4477, 8009)
    assert len(r.regions) == 9
    info = chs20.ts.info
    assert (info["mdc"], info["adrg"], info["drg"]) == (26, 409, 634)
    assert len(chs20.mdcs) == 26 and len(chs20.adrgs) == 409
    drgs = [d["code"] for a in chs20.adrgs for d in a["drg"]]
    assert len(drgs) == len(set(drgs)) == 634
    assert drgsim.tables.check(chs20.dest) == []
    # the DRGs and their names are those of the source
    source = {r["drgCode"]: r["drgName"] for r in json.loads(_text("drg_rules.json"))}
    assert {d["code"]: d["name"] for a in chs20.adrgs for d in a["drg"]} == source
    # ADRG order is the order of adrg_rules.json
    assert [a["code"] for a in chs20.adrgs] == [
        a["code"] for a in json.loads(_text("adrg_rules.json"))
    ]
    for a in chs20.adrgs:
        assert a["mdc"] == a["code"][0]
        assert all(d["code"].startswith(a["code"]) for d in a["drg"])
    assert chs20.seconds < 20, f"import took {chs20.seconds:.1f} s"


def test_output_is_deterministic(chs20: Imported, tmp_path: Path) -> None:
    dest = tmp_path / "again"
    import_chs20(SRC, dest, "chs-drg-2.0")
    names = sorted(p.name for p in chs20.dest.iterdir())
    assert names == sorted(p.name for p in dest.iterdir())
    assert "or_procedures.csv" not in names  # 2.0 has no operating-room list
    for n in names:
        assert (chs20.dest / n).read_bytes() == (dest / n).read_bytes(), n


def _text(fname: str) -> str:
    return (ORIGINAL / fname).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Translation of each construct
# ---------------------------------------------------------------------------------------


def test_tableset_and_mdc_entry_rules(chs20: Imported) -> None:
    g = chs20.tableset["grouping"]
    assert g["mdc_order"][:6] == ["A", "P", "Y", "Z", "M", "N"]
    assert g["mdc_order"][6:] == sorted(set("ABCDEFGHIJKLMNOPQRSTUVWXYZ") - set("APYZMN"))
    assert g["next_mdc_when_no_adrg"] is True
    assert g["ambiguous_group"] is False
    assert g["check_gray_principal"] is True
    assert chs20.tableset["tableset"]["version"] == "2.0"
    mdc = chs20.mdc
    a_lists = ", ".join(
        f"{c}_ppx" for c in ("AA1", "AA2", "AB1", "AD1", "AE1", "AF1", "AG1", "AG2", "AG3", "AH1")
    )
    assert mdc["A"]["when"] == (
        f"principal_px in ({a_lists}) or (any_px in AC1_g1_px and any_px in AC1_g2_px) or "
        "((secondary_dx in AH2_sdx or any_px in AH2_px1) and any_px in AH2_px2)"
    )
    assert mdc["P"]["when"] == "age < 1 and age_days < 365"
    assert mdc["Y"]["when"] == "any_dx in MDCY_dx"
    regions = ", ".join(f"any_dx in MDCZ_region{i}_dx" for i in range(1, 10))
    assert mdc["Z"]["when"] == f"2 of ({regions})"
    assert mdc["M"]["when"] == "principal_dx in MDCM_dx and not sex == female"
    assert mdc["M"]["sex"] == "male"
    assert mdc["N"]["when"] == "principal_dx in MDCN_dx and not sex == male"
    assert mdc["N"]["sex"] == "female"
    assert mdc["B"]["when"] == "principal_dx in MDCB_dx"
    assert mdc["B"]["name"] == "神经系统疾病及功能障碍"
    # the region lists are the mdczCategories, in order
    z = next(m for m in json.loads(_text("mdc_rules.json")) if m["code"] == "MDCZ")
    assert [h for _, h, _ in chs20.report.regions] == list(z["mdczCategories"])
    for i, codes in enumerate(z["mdczCategories"].values(), start=1):
        assert chs20.lists[f"MDCZ_region{i}_dx"] == codes


def test_adrg_rules(chs20: Imported) -> None:
    a = chs20.adrg
    expected = {
        "AA1": "principal_px in AA1_ppx",
        "AC1": "any_px in AC1_g1_px and any_px in AC1_g2_px",
        "AH2": "(secondary_dx in AH2_sdx or any_px in AH2_px1) and any_px in AH2_px2",
        "BB2": "principal_dx in BB2_pdx and principal_px in BB2_ppx",
        "BR1": "principal_dx in BR1_pdx",
        "CB2": "any_px in CB4_ppx and any_px in CB5_ppx",
        "CB3": "any_px in CB5_ppx and any_px in CB6_ppx",
        "IB1": "(principal_dx in IB1_pdx and principal_px in IB1_ppx1) or principal_px in IB1_ppx2"
        " or (any_px in IB1_px3 and any_px in IB1_px4)",
        "OF1": "(principal_dx in OF1_pdx1 and principal_px in OF1_ppx) or (principal_dx in "
        "OF1_pdx2 and secondary_dx in OF1_sdx and principal_px in OF1_ppx)",
        "OR1": "secondary_dx in OR1_sdx",
        "WB3": "(principal_dx in WB3_pdx or secondary_dx in WB3_sdx) and principal_px in WB3_ppx",
        "WR2": "principal_dx in WR2_pdx or secondary_dx in WR2_sdx",
        "WJ1": "any_px in (WB1_ppx, WB2_ppx, WB3_ppx)",
        "SB1": "px_count >= 2 or (px_count == 1 and not principal_px in SS_INVALID)",
        "ZZ1": "px_count == 0 or (px_count == 1 and principal_px in SS_INVALID)",
        "YR1": "any_dx in YR1_dx",
        # newborn limits from the names
        "PB1": "principal_px in PB1_ppx and age_days < 29",
        "PK1": "principal_px in PK1_ppx and age_days < 29",
        "PS1": "any_dx in PS1_dx and birth_weight < 1500 and age_days < 29",
        "PS2": "any_dx in PS2_dx and birth_weight >= 1500 and birth_weight < 2000"
        " and age_days < 29",
        "PS3": "any_dx in PS3_dx and birth_weight >= 2000 and birth_weight < 2500"
        " and age_days < 29",
        "PS4": "any_dx in PS4_dx and birth_weight >= 2500 and age_days < 29",
        "PU1": "principal_dx in PU1_pdx and age_days < 29",
        "PV1": "principal_dx in PV1_pdx and age_days >= 29 and age < 1",
    }
    for code, when in expected.items():
        assert a[code]["when"] == when, code
    derived = [w for w in chs20.report.warnings if w.startswith("derived rule:")]
    assert len(derived) == 12  # the 12 ADRGs of MDCP
    notes = (chs20.dest / "IMPORT_NOTES.md").read_text(encoding="utf-8")
    assert "birth_weight >= 1500 and birth_weight < 2000" in notes
    assert "ALK, AILD" in notes  # the non-ICD tokens of MDCR are dropped, and said so
    assert "ALK" not in chs20.lists["MDCR_dx"] and "AILD" not in chs20.lists["MDCR_dx"]


def test_drg_splits(chs20: Imported) -> None:
    a = chs20.adrg

    def splits(code: str) -> list[tuple[str, str | None]]:
        return [(d["code"], d.get("when")) for d in a[code]["drg"]]

    assert splits("BR1") == [("BR11", "mcc"), ("BR13", "cc_or_mcc"), ("BR15", None)]
    assert splits("HC2") == [("HC23", "cc_or_mcc"), ("HC25", None)]
    assert splits("FR2") == [("FR21", "mcc"), ("FR25", None)]  # 5 takes CC cases
    assert splits("AA1") == [("AA19", None)]
    last = {"1": "mcc", "3": "cc_or_mcc", "5": None, "9": None}
    for adrg in chs20.adrgs:
        for d in adrg["drg"]:
            assert d.get("when") == last[d["code"][3]], d["code"]


def test_lists_equal_the_source(chs20: Imported) -> None:
    prefix = {"主要": "p", "其他": "s", "": ""}
    for entry in json.loads(_text("adrg_rules.json")):
        rule = entry["rule"]
        for sec, codes in rule["sections"].items():
            m = re.fullmatch(r"(主要|其他)?(诊断|手术或操作)(?: ?(\d+))?", sec)
            assert m, sec
            system = "dx" if m.group(2) == "诊断" else "px"
            name = f"{entry['code']}_{prefix[m.group(1) or '']}{system}{m.group(3) or ''}"
            assert chs20.lists[name] == codes, name
            assert chs20.systems[name] == system
        for i, grp in enumerate(rule.get("requiredProcedureGroups") or [], start=1):
            assert chs20.lists[f"{entry['code']}_g{i}_px"] == grp
    for m in json.loads(_text("mdc_rules.json")):
        if m.get("identifyingDiagnoses"):
            want = [c for c in m["identifyingDiagnoses"] if c not in ("ALK", "AILD")]
            assert chs20.lists[f"{m['code']}_dx"] == want
    mcc = json.loads(_text("mcc_codes.json"))
    cc = json.loads(_text("cc_codes.json"))
    assert {c: t for c, (lv, t) in chs20.cc.items() if lv == "MCC"} == mcc
    assert {c: t for c, (lv, t) in chs20.cc.items() if lv == "CC"} == cc
    assert chs20.cce == json.loads(_text("cce_codes.json"))
    gray = {(r["system"], r["code"]) for r in read_csv(chs20.dest / "gray_codes.csv")}
    assert {("dx", c) for c in json.loads(_text("zd_invalid.json"))} <= gray
    assert {("px", c) for c in json.loads(_text("ss_invalid.json"))} <= gray
    assert set(chs20.lists["SS_INVALID"]) == set(json.loads(_text("ss_invalid.json")))


@pytest.mark.parametrize(
    ("name", "limits"),
    [
        (
            "早产儿（出生体重1500-1999g）",
            [("birth_weight", ">=", 1500), ("birth_weight", "<", 2000)],
        ),
        ("极度发育不全（出生体重＜1500g）", [("birth_weight", "<", 1500)]),
        ("早产儿（出生体重＞2499g），伴合并症或并发症", [("birth_weight", ">=", 2500)]),
        (
            "源于新生儿（29天≤出生年龄＜1周岁）诊断的婴儿疾病",
            [("age_days", ">=", 29), ("age", "<", 1)],
        ),
        ("新生儿（出生年龄＜29天）腹部手术", [("age_days", "<", 29)]),
        ("新生儿（≤28天）", [("age_days", "<", 29)]),
        ("早产儿（出生体重2500g以下）", [("birth_weight", "<", 2501)]),
        ("婴儿（出生体重1.5-2kg）", [("birth_weight", ">=", 1500), ("birth_weight", "<", 2001)]),
        ("有创呼吸机支持≥96小时", []),
        ("复杂脊柱疾病或3节段及以上脊柱融合手术或翻修手术", []),
        ("烧伤面积≥30%，＜50%，或三度面积≥10%，＜20%的烧伤，伴有手术操作", []),
    ],
)
def test_limits_read_from_names(name: str, limits: list[tuple[str, str, float]]) -> None:
    assert _name_limits(name)[0] == limits


@pytest.mark.parametrize(
    "name",
    [
        "婴儿（3月龄以下）",
        "早产儿（出生体重约一千五百克）",
        "儿童（年龄≥6g）",
        "新生儿（日龄不详）",
        "低体重儿（出生体重2500g以下）",  # 体重 outside a clause
    ],
)
def test_unreadable_limits_in_names(name: str) -> None:
    with pytest.raises(_NameError):
        _name_limits(name)


def test_logic_parser_reads_section_names_containing_or() -> None:
    sections = ["其他诊断", "手术或操作 1", "手术或操作 2"]
    tree = _parse_logic("（其他诊断或手术或操作 1）+手术或操作2", sections)
    assert repr(tree) == (
        "_LOp(op='and', items=(_LOp(op='or', items=(_LSec(name='其他诊断'), "
        "_LSec(name='手术或操作 1'))), _LSec(name='手术或操作 2')))"
    )


# ---------------------------------------------------------------------------------------
# Worked examples
# ---------------------------------------------------------------------------------------

#: (label, case, expected DRG)
EXAMPLES: list[tuple[str, dict[str, Any], str]] = [
    # the source's README: gallstones with chronic cholecystitis, heart failure, cholecystectomy
    ("README HC23", {"dx": ["K80.101", "I50.900"], "px": ["51.2300"]}, "HC23"),
    ("AA19 心肺移植", {"dx": ["I27.001"], "px": ["33.6x00"]}, "AA19"),
    # ventilation >= 96 h with intubation (any position) in any MDC
    ("AH29 呼吸机≥96h", {"dx": ["J18.900"], "px": ["96.7201", "96.0400"]}, "AH29"),
    ("AH29 气管造口状态", {"dx": ["J18.900", "Z93.000"], "px": ["96.7201"]}, "AH29"),
    # intracerebral haemorrhage (table 91): MCC J96.000 (table 104), CC E87.600 (table 48)
    ("BR11", {"dx": ["I61.004", "J96.000"]}, "BR11"),
    ("BR13", {"dx": ["I61.004", "E87.600"]}, "BR13"),
    ("BR15", {"dx": ["I61.004"]}, "BR15"),
    # an MCC of the principal's own exclusion table does not count
    ("BR15 excluded", {"dx": ["I61.004", "I63.500"]}, "BR15"),
    ("FM39 PCI", {"dx": ["I21.900"], "px": ["36.0700"]}, "FM39"),
    ("GE19 perforated appendix", {"dx": ["K35.200"], "px": ["47.0100"]}, "GE19"),
    ("GE29 appendix", {"dx": ["K35.800x001"], "px": ["47.0100"]}, "GE29"),
    ("HC23 CC", {"dx": ["K80.101", "E87.600"], "px": ["51.2300"]}, "HC23"),
    ("HC25", {"dx": ["K80.101"], "px": ["51.2300"]}, "HC25"),
    (
        "PS29 早产儿 1600 g",
        {"dx": ["P07.300"], "age": 0.0, "age_days": 5.0, "birth_weight_g": 1600.0},
        "PS29",
    ),
    (
        "PS15 <1500 g",
        {"dx": ["P07.300"], "age": 0.0, "age_days": 5.0, "birth_weight_g": 1499.0},
        "PS15",
    ),
    (
        "PS39 2000-2499 g",
        {"dx": ["P07.300"], "age": 0.0, "age_days": 5.0, "birth_weight_g": 2499.0},
        "PS39",
    ),
    # head (region 1, table 187) + chest (region 2, table 189 -> a CC): 1/5 split -> ZZ15
    ("ZZ15", {"dx": ["S06.500", "S21.100x002"]}, "ZZ15"),
    ("ZZ11", {"dx": ["S06.500", "S21.100x002", "J96.000"]}, "ZZ11"),
]


def test_example_preconditions(chs20: Imported) -> None:
    """The facts of the 2.0 lists each example relies on."""
    L, cc, cce = chs20.lists, chs20.cc, chs20.cce
    assert "51.2300" in L["HC2_ppx"] and "K80.101" in L["MDCH_dx"]
    assert cc["I50.900"][0] == "MCC" and cc["I50.900"][1] != cce["K80.101"]
    assert cc["E87.600"] == ("CC", "48") and cce["K80.101"] != "48"
    assert "33.6x00" in L["AA1_ppx"]
    gray = {(r["system"], r["code"]) for r in read_csv(chs20.dest / "gray_codes.csv")}
    assert ("dx", "I27.000") in gray and ("dx", "I27.001") not in gray
    assert "96.7201" in L["AH2_px2"] and "96.0400" in L["AH2_px1"] and "Z93.000" in L["AH2_sdx"]
    assert "I61.004" in L["BR1_pdx"] and cce["I61.004"] == "91"
    assert cc["J96.000"] == ("MCC", "104") and cc["I63.500"] == ("CC", "91")
    assert "36.0700" in L["FM3_ppx"] and "I21.900" in L["MDCF_dx"]
    assert "K35.200" in L["GE1_pdx"] and "K35.800x001" not in L["GE1_pdx"]
    assert "47.0100" in L["GE1_ppx"] and "47.0100" in L["GE2_ppx"]
    assert "P07.300" in L["PS2_dx"]
    assert "S06.500" in L["MDCZ_region1_dx"] and "S21.100x002" in L["MDCZ_region2_dx"]
    assert cc["S21.100x002"] == ("CC", "189") and cce["S06.500"] == "187"


@pytest.mark.parametrize(("label", "case", "drg"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_worked_examples(chs20: Imported, label: str, case: dict[str, Any], drg: str) -> None:
    (out,) = group(chs20.ts, [case])
    assert out["drg"] == drg, (label, out)
    assert out["status"] == "ok"


def test_invalid_principal_codes(chs20: Imported) -> None:
    # zd_invalid: an agent code as principal diagnosis is invalid, even with a transplant
    gray_dx, ok, no_px = group(
        chs20.ts,
        [
            {"dx": ["B95.000"], "px": ["33.6x00"]},
            {"dx": ["A41.900"], "px": ["54.1100"]},
            # an invalid principal procedure (ultrasound) is not a procedure: SB1 does not hold
            {"dx": ["A41.900"], "px": ["88.7905"]},
        ],
    )
    assert (gray_dx["status"], gray_dx["reason"]) == ("invalid", "gray_principal_dx")
    assert ok["adrg"] == "SB1"
    assert no_px["adrg"] == "SR1"


# ---------------------------------------------------------------------------------------
# Reachability: cases generated from the 2.0 code lists reach every ADRG and DRG
# ---------------------------------------------------------------------------------------

_TOK = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|<|>)|([(),]))")
Node = tuple[Any, ...]


def parse_rule(text: str) -> Node:
    """Parse a ``when`` rule of the table format into nested tuples."""
    toks: list[str] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _TOK.match(text, pos)
        assert m and m.end() > pos, text
        toks.append(m.group().strip())
        pos = m.end()
    i = 0

    def peek() -> str | None:
        return toks[i] if i < len(toks) else None

    def take() -> str:
        nonlocal i
        i += 1
        return toks[i - 1]

    def binary(op: str, sub: Callable[[], Node]) -> Node:
        items = [sub()]
        while peek() == op:
            take()
            items.append(sub())
        return items[0] if len(items) == 1 else (op, items)

    def or_() -> Node:
        return binary("or", and_)

    def and_() -> Node:
        return binary("and", unary)

    def unary() -> Node:
        if peek() == "not":
            take()
            return ("not", unary())
        return primary()

    def primary() -> Node:
        t = take()
        if t == "(":
            n = or_()
            assert take() == ")"
            return n
        if t.isdigit() and peek() == "of":
            take()
            assert take() == "("
            items = [or_()]
            while peek() == ",":
                take()
                items.append(or_())
            assert take() == ")"
            return ("atleast", int(t), items)
        if t in ("true", "false"):
            return (t,)
        if t in ("mcc", "cc", "cc_or_mcc", "no_cc"):
            return ("cc", t)
        if peek() == "in":
            take()
            if peek() == "(":
                take()
                names = [take()]
                while peek() == ",":
                    take()
                    names.append(take())
                assert take() == ")"
            else:
                names = [take()]
            return ("in", t, names)
        op, value = take(), take()
        return ("cmp", t, op, value)

    node = or_()
    assert i == len(toks), text
    return node


def dnf(node: Node) -> list[list[Node]]:
    """Disjunctive normal form: a list of terms, each a list of literals."""
    kind = node[0]
    if kind == "or":
        return [t for c in node[1] for t in dnf(c)]
    if kind == "and":
        terms: list[list[Node]] = [[]]
        for c in node[1]:
            terms = [t + u for t in terms for u in dnf(c)]
        return terms
    if kind == "not":
        assert node[1][0] in ("in", "cmp"), node
        return [[node]]
    return [[node]]


def referenced(node: Node) -> Iterable[tuple[str, str]]:
    """(subject, list) pairs of a rule."""
    if node[0] == "in":
        for n in node[2]:
            yield node[1], n
    elif node[0] in ("and", "or"):
        for c in node[1]:
            yield from referenced(c)
    elif node[0] == "not":
        yield from referenced(node[1])
    elif node[0] == "atleast":
        for c in node[2]:
            yield from referenced(c)


def satisfy(comps: list[tuple[str, str, float]], default: float) -> float:
    """A value satisfying ``attr OP value`` comparisons of one attribute."""

    def ok(v: float) -> bool:
        return all(
            {"<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x, "==": v == x, "!=": v != x}[op]
            for _, op, x in comps
        )

    cands = [default] + [x for _, _, x in comps] + [x + 1 for _, _, x in comps]
    cands += [x - 1 for _, _, x in comps] + [0.0, 10.0, 100.0]
    for v in cands:
        if v >= 0 and ok(v):
            return v
    raise AssertionError(f"no value for {comps}")


class CaseBuilder:
    """Build cases satisfying one DNF term of an ADRG rule, avoiding the earlier ADRGs."""

    def __init__(self, s: Imported) -> None:
        self.s = s
        self.sets = {n: set(c) for n, c in s.lists.items()}
        self.rules = {a["code"]: parse_rule(a["when"]) for a in s.adrgs}
        self.order = [a["code"] for a in s.adrgs]
        in_lists = set().union(*self.sets.values())
        dictionary = read_csv(s.dest / "dictionary.csv")
        gray = {(r["system"], r["code"]) for r in read_csv(s.dest / "gray_codes.csv")}
        # a procedure no rule knows, and CC/MCC codes no rule knows
        self.neutral_px = next(
            r["code"]
            for r in dictionary
            if r["system"] == "px" and r["code"] not in in_lists and ("px", r["code"]) not in gray
        )
        self.free_cc = {
            level: [c for c, (lv, _) in sorted(s.cc.items()) if lv == level and c not in in_lists]
            for level in ("MCC", "CC")
        }
        self.pre_dx = ["MDCY_dx"] + [f"MDCZ_region{i}_dx" for i in range(1, 10)]

    def conflicts(self, code: str) -> tuple[list[set[str]], list[set[str]], list[set[str]]]:
        """Lists of the rules tried before ADRG ``code``: (principal dx, other dx, px)."""
        letter = code[0]
        before = [c for c in self.order[: self.order.index(code)] if c[0] == letter]
        if letter != "A":
            before = [c for c in self.order if c[0] == "A"] + before
        pdx: list[set[str]] = []
        sdx: list[set[str]] = []
        px: list[set[str]] = []
        for c in before:
            for subject, name in referenced(self.rules[c]):
                if name == "SS_INVALID":
                    continue
                if subject.endswith("_px"):
                    px.append(self.sets[name])
                if subject in ("principal_dx", "any_dx"):
                    pdx.append(self.sets[name])
                if subject in ("secondary_dx", "any_dx"):
                    sdx.append(self.sets[name])
        if letter not in "YZ":
            pre = [self.sets[n] for n in self.pre_dx]
            pdx += pre
            sdx += pre
        px.append(self.sets["SS_INVALID"])
        return pdx, sdx, px

    @staticmethod
    def pick(codes: Iterable[str], score: Callable[[str], int], rank: int) -> str | None:
        """The ``rank``-th best code (lowest score first, list order among equals)."""
        zeros: list[str] = []
        scored: list[tuple[int, int, str]] = []
        for i, c in enumerate(codes):
            s = score(c)
            if s == 0:
                zeros.append(c)
                if len(zeros) > rank:
                    return zeros[rank]
            scored.append((s, i, c))
        if not scored:
            return None
        scored.sort()
        return scored[min(rank, len(scored) - 1)][2]

    def counted(self, principal: str, code: str) -> int:
        """2 for an MCC that counts against ``principal``, 1 for a CC, else 0."""
        level, table = self.s.cc.get(code, ("", ""))
        if not level or table == self.s.cce.get(principal):
            return 0
        return 2 if level == "MCC" else 1

    def build(self, code: str, term: list[Node], rank: int) -> dict[str, Any] | None:
        s, letter = self.s, code[0]
        pdx_c, sdx_c, px_c = self.conflicts(code)
        need: dict[str, list[list[str]]] = {
            k: [] for k in ("principal_dx", "secondary_dx", "any_dx", "principal_px", "any_px")
        }
        attrs: dict[str, list[tuple[str, str, float]]] = {}
        px_counts: list[tuple[str, str, float]] = []
        for lit in term:
            if lit[0] == "in":
                need[lit[1]].append([c for n in lit[2] for c in s.lists[n]])
            elif lit[0] == "cmp" and lit[1] == "px_count":
                px_counts.append((lit[1], lit[2], float(lit[3])))
            elif lit[0] == "cmp":
                attrs.setdefault(lit[1], []).append((lit[1], lit[2], float(lit[3])))
            elif lit[0] == "not" and lit[1][0] == "in" and lit[1][1] == "principal_px":
                pass  # only 'not principal_px in SS_INVALID': our procedures are valid
            else:
                raise AssertionError(f"{code}: literal {lit} not handled")

        def dx_score(c: str) -> int:
            return sum(c in x for x in pdx_c)

        mdc_list = self.sets.get(f"MDC{letter}_dx") if letter not in "APYZ" else None
        # principal diagnosis
        pool: list[str] | None = None
        if need["principal_dx"]:
            pool = [
                c for c in need["principal_dx"][0] if all(c in set(x) for x in need["principal_dx"])
            ]
        elif need["any_dx"]:
            pool = need["any_dx"].pop(0)
        elif letter == "Y":
            pool = s.lists["MDCY_dx"]
        elif letter == "P":
            pool = s.lists["PU1_pdx"]
        elif letter in "AZ":
            pool = s.lists["MDCB_dx"] if letter == "A" else s.lists["MDCZ_region1_dx"]
        else:
            pool = s.lists[f"MDC{letter}_dx"]
        if mdc_list is not None:
            pool = [c for c in pool if c in mdc_list]
        if letter == "Z":
            pool = [c for c in pool if c in self.sets[f"MDCZ_region{1 + rank % 9}_dx"]] or pool
        principal = self.pick(pool, dx_score, rank)
        if principal is None:
            return None
        dx = [principal]

        def sdx_score(c: str) -> int:
            return 3 * sum(c in x for x in sdx_c) + self.counted(principal, c)

        for lists in [*need["secondary_dx"], *need["any_dx"]]:
            c = self.pick([c for c in lists if c != principal], sdx_score, rank)
            if c is None:
                return None
            dx.append(c)
        if letter == "Z":
            have = {i for i in range(1, 10) for d in dx if d in self.sets[f"MDCZ_region{i}_dx"]}
            if len(have) < 2:
                other = [
                    c for i in range(1, 10) if i not in have for c in s.lists[f"MDCZ_region{i}_dx"]
                ]
                dx.append(self.pick(other, sdx_score, rank) or other[0])

        def px_score(c: str) -> int:
            return sum(c in x for x in px_c)

        px: list[str] = []
        if need["principal_px"]:
            first = need["principal_px"][0]
            pool2 = [c for c in first if all(c in set(x) for x in need["principal_px"])]
            c = self.pick(pool2, px_score, rank)
            if c is None:
                return None
            px.append(c)
        for lists in need["any_px"]:
            if any(p in set(lists) for p in px):
                continue
            c = self.pick(lists, px_score, rank)
            if c is None:
                return None
            px.append(c)
        if px_counts:
            n = int(satisfy(px_counts, float(len(px))))
            px += [self.neutral_px] * max(0, n - len(px))
            if n < len(px):
                return None
        case: dict[str, Any] = {"dx": dx, "px": px}
        case["sex"] = 2 if letter in "NO" else 1
        if letter == "P" or "age_days" in attrs:
            case["age"] = satisfy(attrs.get("age", []), 0.0)
            case["age_days"] = satisfy(attrs.get("age_days", []), 10.0)
            case["birth_weight_g"] = satisfy(attrs.get("birth_weight", []), 3000.0)
        for attr, key in (("los", "los_days"), ("discharge", "discharge_type")):
            if attr in attrs:
                case[key] = satisfy(attrs[attr], 7.0)
        return case

    def with_secondary(self, case: dict[str, Any], level: str) -> dict[str, Any] | None:
        principal = case["dx"][0]
        table = self.s.cce.get(principal)
        for c in self.free_cc[level]:
            if self.s.cc[c][1] != table:
                return {**case, "dx": [*case["dx"], c]}
        return None


def test_every_adrg_and_drg_is_reached(chs20: Imported) -> None:
    start = time.perf_counter()
    b = CaseBuilder(chs20)
    candidates: list[tuple[str, dict[str, Any]]] = []
    for a in chs20.adrgs:
        for term in dnf(b.rules[a["code"]])[:6]:
            for rank in range(3):
                case = b.build(a["code"], term, rank)
                if case is not None:
                    candidates.append((a["code"], case))
    results = group(chs20.ts, [c for _, c in candidates])
    base: dict[str, dict[str, Any]] = {}
    for (code, case), out in zip(candidates, results, strict=True):
        if out["adrg"] == code and code not in base:
            base[code] = case
    variants: list[dict[str, Any]] = []
    for case in base.values():
        variants.append(case)
        for level in ("MCC", "CC"):
            v = b.with_secondary(case, level)
            if v is not None:
                variants.append(v)
    results2 = group(chs20.ts, variants)
    reached_adrg = {r["adrg"] for r in results2 if r["status"] == "ok"}
    reached_drg = {r["drg"] for r in results2 if r["status"] == "ok"}
    all_adrg = {a["code"] for a in chs20.adrgs}
    all_drg = {d["code"] for a in chs20.adrgs for d in a["drg"]}
    seconds = time.perf_counter() - start
    print(
        f"reachability: {len(candidates)} candidate cases, {len(variants)} variants, "
        f"{len(reached_adrg)} ADRG, {len(reached_drg)} DRG in {seconds:.1f} s"
    )
    assert sorted(all_adrg - reached_adrg) == [], "unreached ADRGs"
    assert sorted(all_drg - reached_drg) == [], "unreached DRGs"
    assert reached_adrg <= all_adrg and reached_drg <= all_drg
    assert seconds < 30


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def _broken_copy(tmp_path: Path, edit: Callable[[list[dict[str, Any]]], None], fname: str) -> Path:
    src = tmp_path / "chs-drg-2.0"
    shutil.copytree(ORIGINAL, src / "original")
    path = src / "original" / fname
    path.chmod(0o644)
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return src


def _entry(data: list[dict[str, Any]], code: str, key: str = "code") -> dict[str, Any]:
    return next(e for e in data if e[key] == code)


def test_unparseable_logic_names_the_adrg(tmp_path: Path) -> None:
    def edit(data: list[dict[str, Any]]) -> None:
        _entry(data, "IB1")["rule"]["logic"] = "主要诊断+（主要手术或操作 1  或 主要手术或操作 2"

    src = _broken_copy(tmp_path, edit, "adrg_rules.json")
    with pytest.raises(TableImportError, match=r"adrg_rules\.json line \d+: ADRG IB1: .*logic"):
        import_chs20(src, tmp_path / "out", "broken")
    assert not (tmp_path / "out").exists()  # nothing written


def test_unknown_section_in_logic_names_the_adrg(tmp_path: Path) -> None:
    def edit(data: list[dict[str, Any]]) -> None:
        _entry(data, "JA2")["rule"]["logic"] = "主要诊断+主要手术或操作 7"

    src = _broken_copy(tmp_path, edit, "adrg_rules.json")
    with pytest.raises(TableImportError, match="ADRG JA2"):
        import_chs20(src, tmp_path / "out", "broken")


def test_unreadable_weight_in_a_name_names_the_adrg(tmp_path: Path) -> None:
    def edit(data: list[dict[str, Any]]) -> None:
        _entry(data, "PS2")["name"] = "早产儿（出生体重约一千五百克，1500g上下）"

    src = _broken_copy(tmp_path, edit, "adrg_rules.json")
    with pytest.raises(TableImportError, match="ADRG PS2"):
        import_chs20(src, tmp_path / "out", "broken")


def test_unknown_split_condition_names_the_drg(tmp_path: Path) -> None:
    def edit(data: list[dict[str, Any]]) -> None:
        _entry(data, "BR11", "drgCode")["conditions"] = ["INTENSIVE_CARE"]

    src = _broken_copy(tmp_path, edit, "drg_rules.json")
    with pytest.raises(TableImportError, match=r"DRG BR11.*INTENSIVE_CARE"):
        import_chs20(src, tmp_path / "out", "broken")
