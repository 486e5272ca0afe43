"""Tests of the opendrg importer (``drgsim.tables.importers.opendrg``).

The reference folders live outside the repository, at ``../shared/reference`` relative to the
repository root; the tests that need them are skipped when it is absent.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT.parent / "shared" / "reference"

if importlib.util.find_spec("drgsim") is None:  # running from a source checkout
    sys.path.insert(0, str(ROOT / "python"))

from drgsim.exceptions import TableImportError  # noqa: E402
from drgsim.tables.importers.opendrg import ImportReport, import_opendrg  # noqa: E402

# folder -> (MDC, ADRG, DRG, number of MDCZ body regions)
EXPECTED = {
    "chs-drg-1.1": (26, 376, 628, 9),
    "chs-drg-1.0": (26, 376, 618, 8),
    "beijing-2022": (26, 376, 696, 9),
    "yancheng-2023": (26, 376, 628, 9),
}

needs_ref = pytest.mark.skipif(not REF.is_dir(), reason=f"reference data not found at {REF}")


# ---------------------------------------------------------------------------------------
# A small checker of the target rule language (FORMAT.md), independent of the importer
# ---------------------------------------------------------------------------------------

_SUBJECTS = {
    "principal_dx": "dx",
    "secondary_dx": "dx",
    "any_dx": "dx",
    "principal_px": "px",
    "secondary_px": "px",
    "any_px": "px",
}
_ATTRS = {"age", "age_days", "birth_weight", "los", "discharge", "sex", "dx_count", "px_count"}
_CC = {"mcc", "cc", "cc_or_mcc", "no_cc"}
_TOK = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|<|>)|([(),]))")


def check_rule(text: str) -> list[tuple[str, str]]:
    """Parse a ``when`` rule; return the (system, list) pairs it refers to.

    Raises AssertionError when the rule does not follow the grammar of FORMAT.md.
    """
    toks: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOK.match(text, pos)
        assert m and m.end() > pos, f"bad character at {pos} in {text!r}"
        toks.append(m.group().strip())
        pos = m.end()
    refs: list[tuple[str, str]] = []
    i = 0

    def peek() -> str | None:
        return toks[i] if i < len(toks) else None

    def take(expected: str | None = None) -> str:
        nonlocal i
        t = peek()
        assert t is not None, f"unexpected end of {text!r}"
        assert expected is None or t == expected, f"expected {expected!r}, got {t!r} in {text!r}"
        i += 1
        return t

    def or_() -> None:
        and_()
        while peek() == "or":
            take()
            and_()

    def and_() -> None:
        unary()
        while peek() == "and":
            take()
            unary()

    def unary() -> None:
        if peek() == "not":
            take()
            unary()
        else:
            primary()

    def primary() -> None:
        t = take()
        if t == "(":
            or_()
            take(")")
        elif t.isdigit():
            take("of")
            take("(")
            or_()
            while peek() == ",":
                take()
                or_()
            take(")")
        elif t in ("true", "false") or t in _CC:
            pass
        elif t in _SUBJECTS:
            take("in")
            names = []
            if peek() == "(":
                take()
                names.append(take())
                while peek() == ",":
                    take()
                    names.append(take())
                take(")")
            else:
                names.append(take())
            for n in names:
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n), n
                refs.append((_SUBJECTS[t], n))
        elif t in _ATTRS:
            assert take() in ("==", "!=", "<", "<=", ">", ">=")
            v = take()
            assert re.fullmatch(r"\d+(\.\d+)?", v) or (t == "sex" and v in ("male", "female")), v
        else:
            raise AssertionError(f"unknown word {t!r} in {text!r}")

    or_()
    assert i == len(toks), f"trailing tokens in {text!r}"
    return refs


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load_set(dest: Path) -> dict:
    return {
        "tableset": tomllib.loads((dest / "tableset.toml").read_text(encoding="utf-8")),
        "mdc": tomllib.loads((dest / "mdc.toml").read_text(encoding="utf-8"))["mdc"],
        "adrg": tomllib.loads((dest / "adrg.toml").read_text(encoding="utf-8"))["adrg"],
        "lists": read_csv(dest / "code_lists.csv"),
    }


def adrg_by_code(ts: dict) -> dict[str, dict]:
    return {a["code"]: a for a in ts["adrg"]}


# ---------------------------------------------------------------------------------------
# The four reference folders
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ImportReport]]:
    """Import each reference folder once per module."""
    if not REF.is_dir():
        pytest.skip(f"reference data not found at {REF}")
    out = {}
    for folder in EXPECTED:
        dest = tmp_path_factory.mktemp("sets") / folder
        out[folder] = (dest, import_opendrg(REF / folder, dest, folder))
    return out


@needs_ref
@pytest.mark.parametrize("folder", list(EXPECTED))
def test_counts_match_the_source(imported, folder: str) -> None:
    dest, report = imported[folder]
    n_mdc, n_adrg, n_drg, n_regions = EXPECTED[folder]
    assert (report.mdc, report.adrg, report.drg) == (n_mdc, n_adrg, n_drg)
    ts = load_set(dest)
    assert len(ts["mdc"]) == n_mdc
    assert len(ts["adrg"]) == n_adrg
    drgs = [d["code"] for a in ts["adrg"] for d in a["drg"]]
    assert len(drgs) == n_drg == len(set(drgs))
    # every DRG of DRG.csv is used exactly once, with its name
    source = {r["drg"]: r["name"] for r in read_csv(REF / folder / "DRG.csv")}
    assert sorted(drgs) == sorted(source)
    for a in ts["adrg"]:
        assert re.fullmatch(r"[A-Z]{2}\d", a["code"]), a["code"]
        assert a["mdc"] == a["code"][0]
        assert a["name"]
        for d in a["drg"]:
            assert d["code"].startswith(a["code"])
            assert d["name"] == source[d["code"]]
    assert len(report.regions) == n_regions
    # CC/MCC rows
    cc = read_csv(dest / "cc.csv")
    assert (
        sum(r["level"] == "MCC" for r in cc)
        == report.mcc
        == len(read_csv(REF / folder / "MCC.csv"))
    )
    assert (
        sum(r["level"] == "CC" for r in cc) == report.cc == len(read_csv(REF / folder / "CC.csv"))
    )


@needs_ref
@pytest.mark.parametrize("folder", list(EXPECTED))
def test_rules_parse_and_lists_exist(imported, folder: str) -> None:
    dest, report = imported[folder]
    ts = load_set(dest)
    systems: dict[str, str] = {}
    for r in ts["lists"]:
        assert r["match"] == ""
        assert systems.setdefault(r["list"], r["system"]) == r["system"]
    assert len(systems) == report.lists
    systems["or_procedures"] = "px"
    rules = [m["when"] for m in ts["mdc"]]
    rules += [a["when"] for a in ts["adrg"]]
    rules += [d["when"] for a in ts["adrg"] for d in a["drg"] if "when" in d]
    for rule in rules:
        for system, name in check_rule(rule):
            assert systems.get(name) == system, f"{name} ({system}) in {rule!r}"
    # every written list is used
    used = {n for rule in rules for _, n in check_rule(rule)}
    assert used == set(systems)


@needs_ref
@pytest.mark.parametrize("folder", list(EXPECTED))
def test_tableset_and_mdcs(imported, folder: str) -> None:
    dest, _ = imported[folder]
    ts = load_set(dest)
    meta = ts["tableset"]
    assert meta["format"] == 1
    assert meta["tableset"]["name"] == folder
    assert meta["tableset"]["version"] == folder.rsplit("-", 1)[1]
    assert meta["tableset"]["source"] == (
        f"imported from {folder} (opendrg layout) by drgsim tables import"
    )
    g = meta["grouping"]
    assert g["mdc_order"][:6] == ["A", "P", "Y", "Z", "M", "N"]
    assert g["mdc_order"][6:] == sorted(set("ABCDEFGHIJKLMNOPQRSTUVWXYZ") - set("APYZMN"))
    assert g["check_gray_principal"] is False
    assert g["next_mdc_when_no_adrg"] is True
    assert g["ambiguous_group"] is False
    assert g["require_age"] is True
    assert g["newborn_max_age_days"] == 28
    assert g["require_newborn_weight"] is False
    mdc = {m["code"]: m for m in ts["mdc"]}
    assert mdc["A"]["when"] == "principal_px in or_procedures"
    assert mdc["B"]["when"] == "principal_dx in MDCB_dx"
    assert mdc["M"]["when"] == "principal_dx in MDCM_dx and sex == male"
    assert mdc["M"]["sex"] == "male"
    assert mdc["N"]["when"] == "principal_dx in MDCN_dx and sex == female"
    assert mdc["N"]["sex"] == "female"
    assert mdc["P"]["when"] == "principal_dx in MDCP_dx and age < 1"
    assert "sex" not in mdc["B"]
    # ICD files
    assert (dest / "gray_codes.csv").is_file()
    gray = read_csv(dest / "gray_codes.csv")
    assert {r["system"] for r in gray} == {"dx", "px"}
    assert len({(r["system"], r["code"]) for r in gray}) == len(gray)
    maps = read_csv(dest / "code_maps.csv")
    assert maps and all(r["input_code"] != r["grouper_code"] for r in maps)
    dictionary = read_csv(dest / "dictionary.csv")
    assert sum(r["system"] == "dx" for r in dictionary) == len(
        read_csv(REF / "icd" / "ICD10医保版v2.0.csv")
    )
    assert (dest / "IMPORT_NOTES.md").is_file()


@needs_ref
@pytest.mark.parametrize("folder", list(EXPECTED))
def test_mdcz_regions(imported, folder: str) -> None:
    dest, report = imported[folder]
    n = EXPECTED[folder][3]
    source = [
        r for r in read_csv(REF / folder / "mdc_principal_dx_lists.csv") if r["mdc"] == "MDCZ"
    ]
    headers = [r["code"] for r in source if not re.match(r"^[A-Z]\d{2}", r["code"])]
    assert [h for _, h, _ in report.regions] == headers
    assert len(headers) == n
    mdc = {m["code"]: m for m in load_set(dest)["mdc"]}
    regions = ", ".join(f"any_dx in MDCZ_region{i}_dx" for i in range(1, n + 1))
    assert mdc["Z"]["when"] == f"principal_dx in MDCZ_dx and 2 of ({regions})"
    lists: dict[str, list[str]] = {}
    for r in read_csv(dest / "code_lists.csv"):
        lists.setdefault(r["list"], []).append(r["code"])
    # each code sits in the region of the header above it
    region = 0
    for r in source:
        if r["code"] in headers:
            region += 1
        else:
            assert r["code"] in lists[f"MDCZ_region{region}_dx"]
            assert r["code"] in lists["MDCZ_dx"]
    mdcz_text = (dest / "mdc.toml").read_text(encoding="utf-8")
    for h in headers:
        assert h in mdcz_text  # kept as a comment


@needs_ref
def test_labelled_lists_of_ja1(imported) -> None:
    dest, _ = imported["chs-drg-1.1"]
    ts = load_set(dest)
    ja1 = adrg_by_code(ts)["JA1"]
    assert ja1["when"] == (
        "principal_dx in JA1_zd and ((any_px in JA1_ss_1 and any_px in JA1_ss_2) or "
        "(any_px in JA1_ss_1 and any_px in JA1_ss_3 and any_px in JA1_ss_4)) and "
        "principal_px in (JA1_ss_1, JA1_ss_2, JA1_ss_3, JA1_ss_4)"
    )
    for code in ("JA2", "NA1"):
        assert adrg_by_code(ts)[code]["when"] == (
            f"principal_dx in {code}_zd and (any_px in {code}_ss_1 or "
            f"(any_px in {code}_ss_2 and any_px in {code}_ss_3)) and "
            f"principal_px in ({code}_ss_1, {code}_ss_2, {code}_ss_3)"
        )
    lists: dict[str, list[str]] = {}
    for r in ts["lists"]:
        lists.setdefault(r["list"], []).append(r["code"])
    assert "JA1_ss1" not in lists and "JA1_ss" not in lists
    src = [r for r in read_csv(REF / "chs-drg-1.1" / "adrg_code_lists.csv") if r["adrg"] == "JA1"]
    codes = {r["seq"]: r["code"] for r in src if r["list_name"] == "adrg_ss"}
    labels = {r["seq"]: r["code"] for r in src if r["list_name"] == "adrg_ss1"}
    expected: dict[str, list[str]] = {}
    for seq, code in codes.items():
        expected.setdefault(f"JA1_ss_{labels[seq]}", []).append(code)
    for name, want in expected.items():
        assert sorted(set(want)) == sorted(lists[name])


@needs_ref
def test_special_forms(imported) -> None:
    v11 = adrg_by_code(load_set(imported["chs-drg-1.1"][0]))
    assert v11["PV1"]["when"] == "true"  # empty condition in the source
    assert v11["PS1"]["when"] == (
        "any_dx in PS1_zd and birth_weight > 0 and birth_weight < 1500 and age_days <= 28"
    )
    assert v11["PS2"]["when"] == (
        "any_dx in PS2_zd and birth_weight >= 1500 and birth_weight < 2000 and age_days <= 28"
    )
    assert v11["PB1"]["when"] == "principal_px in PB1_ss and age_days <= 28"
    assert v11["ZZ1"]["when"] == "not any_px in or_procedures"
    assert [d.get("when") for d in v11["BR2"]["drg"]] == ["mcc", "cc_or_mcc", None]

    yc = adrg_by_code(load_set(imported["yancheng-2023"][0]))
    assert yc["ZZ1"]["when"] == "not principal_px in or_procedures"
    assert yc["IB1"]["when"] == "principal_dx in IB1_zd and any_px in IB1_ss and any_px in IB1_ss1"
    yc_report = imported["yancheng-2023"][1]
    assert any("IB1_1, IB1_2" in w and "dropped" in w for w in yc_report.warnings)

    v10 = adrg_by_code(load_set(imported["chs-drg-1.0"][0]))
    assert (
        v10["AH1"]["when"] == "(any_px in AH1_1_ss and any_px in AH1_1_ss1) or any_px in AH1_2_ss"
    )
    assert [d["code"] for d in v10["AH1"]["drg"]] == ["AH19"]

    bj_dest, bj_report = imported["beijing-2022"]
    bj = adrg_by_code(load_set(bj_dest))
    assert bj["WR1"]["when"] == "principal_dx in WR1_1_zd or secondary_dx in WR1_2_zd1"
    it2 = [(d["code"], d.get("when")) for d in bj["IT2"]["drg"]]
    assert it2 == [
        ("IT2B", "age <= 6 and cc_or_mcc"),
        ("IT2C", "age <= 6"),
        ("IT21", "mcc"),
        ("IT25", None),
    ]
    assert [(d["code"], d.get("when")) for d in bj["CD1"]["drg"]] == [
        ("CD1D", "age <= 6"),
        ("CD19", None),
    ]
    assert [d.get("when") for d in bj["RC1"]["drg"]] == [
        "los >= 13",
        "los >= 6 and los < 13",
        "los >= 2 and los < 6",
        "los == 1",
    ]
    reorder = [w for w in bj_report.warnings if "reordered" in w]
    assert any("IT21|IT25|IT2B|IT2C -> IT2B|IT2C|IT21|IT25" in w for w in reorder)
    assert any("CD19|CD1D -> CD1D|CD19" in w for w in reorder)


@needs_ref
def test_output_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    import_opendrg(REF / "beijing-2022", a, "bj")
    import_opendrg(REF / "beijing-2022", b, "bj")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


@needs_ref
def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    dest = tmp_path / "set"
    dest.mkdir()
    (dest / "stale.txt").write_text("x")
    with pytest.raises(TableImportError, match="not empty"):
        import_opendrg(REF / "chs-drg-1.1", dest, "x", icd_dir=None)
    (dest / "gray_codes.csv").write_text("stale")
    # overwrite without an ICD folder: the stale gray_codes.csv of the importer goes away
    src = tmp_path / "rules"
    shutil.copytree(REF / "chs-drg-1.1", src)
    report = import_opendrg(src, dest, "x", overwrite=True)
    assert report.adrg == 376
    assert not (dest / "gray_codes.csv").exists()
    assert (dest / "stale.txt").exists()  # not ours: left alone
    assert any("no ICD folder" in w for w in report.warnings)


def _break(tmp_path: Path, changes: dict[str, dict[str, str]]) -> tuple[Path, dict[str, int]]:
    """Copy chs-drg-1.1 and replace conditions: ``{file: {row key: new expression}}``.

    Returns the copy and the line number of each changed row.
    """
    src = tmp_path / "chs-drg-1.1"
    shutil.copytree(REF / "chs-drg-1.1", src)
    lines: dict[str, int] = {}
    for file, new in changes.items():
        path = src / file
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        for i, r in enumerate(rows, start=1):
            if r[0] in new:
                r[1] = new[r[0]]
                lines[r[0]] = i
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    return src, lines


@needs_ref
def test_untranslatable_adrg_condition(tmp_path: Path) -> None:
    expr = "True and record.zdList[0] in adrg_zd and record.foo(1)"
    src, lines = _break(tmp_path, {"adrg_conditions.csv": {"BR2": expr}})
    with pytest.raises(TableImportError) as e:
        import_opendrg(src, tmp_path / "out", "broken")
    msg = str(e.value)
    assert "adrg_conditions.csv" in msg
    assert f"line {lines['BR2']}" in msg
    assert "BR2" in msg
    assert "record.foo(1)" in msg
    assert not (tmp_path / "out").exists()  # nothing written


# row key -> (broken expression, text the error must contain)
BROKEN_ADRG = {
    "BB1": ("True and record.zdList[0] in adrg_zd and", "syntax error"),
    "BB2": ("record.zdList[2] in adrg_zd", "[0]"),
    "BC1": ("record.ssList[0] in adrg_zd", "holds diagnoses"),
    "BD1": ("record.zdList[0] in adrg_xx", "adrg_xx"),
    "BE1": ("record.zdList[0] in mdc_zd", "unknown name mdc_zd"),
    "BE2": ("record.age ** 2 > 3", "unexpected character"),
    "BJ1": ("record.ssList[0] in adrg_ss and record.age > 'x'", "a number"),
}
BROKEN_SPLIT = {
    "BR21": ("return has_cc(record.zdList[0], record.zdList[1:])", "has_cc() alone"),
    "BR23": ("len(record.zdList) > 1", "must be 'return"),
    "BR25": ("return record.foo > 1", "unknown case field record.foo"),
}
BROKEN_MDC = {
    "MDCB": ("True and record.zdList[0] in mdc_zd", "must read 'not ("),
    "MDCC": ("not (record.gender == 3)", "record.gender is only compared"),
}


@needs_ref
@pytest.mark.parametrize(
    ("file", "broken"),
    [
        ("adrg_conditions.csv", BROKEN_ADRG),
        ("drg_split_conditions.csv", BROKEN_SPLIT),
        ("mdc_conditions.csv", BROKEN_MDC),
    ],
)
def test_untranslatable_forms(
    tmp_path: Path, file: str, broken: dict[str, tuple[str, str]]
) -> None:
    src, lines = _break(tmp_path, {file: {k: v[0] for k, v in broken.items()}})
    with pytest.raises(TableImportError) as e:
        import_opendrg(src, tmp_path / "out", "broken")
    reported = str(e.value).splitlines()
    assert len([r for r in reported if file in r]) == len(broken)  # all at once
    for key, (_, needle) in broken.items():
        line = next(r for r in reported if f"{file} line {lines[key]}:" in r)
        assert key in line
        assert needle in line


# ---------------------------------------------------------------------------------------
# Translation of single forms on a tiny synthetic folder (no reference data needed)
# ---------------------------------------------------------------------------------------


def _tiny(tmp_path: Path, adrg_expr: str, split_expr: str = "return True") -> Path:
    src = tmp_path / "tiny"
    src.mkdir()
    files = {
        "mdc_conditions.csv": "mdc,entry_condition_python\n"
        "MDCA,not (True and record.ssList and (record.ssList[0] in SS_VALID))\n"
        "MDCB,not (True and record.zdList[0] in mdc_zd)\n",
        "mdc_principal_dx_lists.csv": "mdc,list_name,code\nMDCB,mdc_zd,G00.000\n",
        "adrg_conditions.csv": "adrg,entry_condition_python,drg_candidates_in_order\n"
        f'BB1,"{adrg_expr}",BB11|BB15\n',
        "adrg_code_lists.csv": "adrg,list_name,seq,code\n"
        "BB1,adrg_zd,0,G00.000\nBB1,adrg_zd1,0,G01.000\n"
        "BB1,adrg_ss,0,01.0100\nBB1,adrg_ss,1,01.0200\nBB1,adrg_ss,2,01.0300\n"
        "BB1,adrg_ss1,0,a\nBB1,adrg_ss1,1,b\nBB1,adrg_ss1,2,a\n",
        "DRG.csv": "drg,name\n"
        "BB11,某手术，伴严重并发症或合并症\nBB15,某手术，不伴严重并发症或合并症\n",
        "drg_split_conditions.csv": "drg,condition_python\n"
        f'BB11,"{split_expr}"\nBB15,return True\n',
        "MCC.csv": "icd10_code,exclusion_table\nJ18.900,7\n",
        "CC.csv": "icd10_code,exclusion_table\nE11.900,3\n",
        "CCE.csv": "principal_dx_code,exclusion_table\nG00.000,1\n",
        "SS_VALID.csv": "icd9cm3_code,name\n01.0100,手术一\n01.0100,手术一\n",
    }
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    return src


@pytest.mark.parametrize(
    ("expr", "when"),
    [
        ("True and record.zdList[0] in adrg_zd", "principal_dx in BB1_zd"),
        ("True and intersect(record.zdList, adrg_zd)", "any_dx in BB1_zd"),
        ("intersect(record.zdList[1:], adrg_zd1)", "secondary_dx in BB1_zd1"),
        ("True and record.ssList and (record.ssList[0] in adrg_ss)", "principal_px in BB1_ss"),
        ("record.ssList and intersect(record.ssList, adrg_ss)", "any_px in BB1_ss"),
        ("(record.ssList[0] in SS_VALID)", "principal_px in or_procedures"),
        ("True and (not intersect(record.ssList, SS_VALID))", "not any_px in or_procedures"),
        (
            "True and (not record.ssList or record.ssList[0] not in SS_VALID)",
            "not principal_px in or_procedures",
        ),
        ("not record.ssList", "px_count == 0"),
        ("record.ssList", "px_count > 0"),
        (
            "record.zdList[0] in adrg_zd and record.weight and (record.weight < 1500)",
            "principal_dx in BB1_zd and birth_weight > 0 and birth_weight < 1500",
        ),
        ("record.weight and (record.weight >= 2500)", "birth_weight >= 2500"),
        ("(record.ageDay != None) and (record.ageDay <= 28)", "age_days <= 28"),
        ("record.ageDay is not None", "age_days >= 0"),
        ("record.age <= 6", "age <= 6"),
        ("int(record.age) == 0", "age < 1"),
        ("int(record.age) <= 6", "age < 7"),
        ("record.age == 0", "age < 1"),
        ("record.inHospitalTime > 3", "los > 3"),
        ("record.leavingType == 5", "discharge == 5"),
        ("record.gender == 2", "sex == female"),
        ("3 <= record.inHospitalTime < 7", "los >= 3 and los < 7"),
        (
            "record.zdList[0] in adrg_zd and ('a' in ss_matched or 'b' in ss_matched)",
            "principal_dx in BB1_zd and (any_px in BB1_ss_a or any_px in BB1_ss_b)"
            " and principal_px in (BB1_ss_a, BB1_ss_b)",
        ),
        ("", "true"),
    ],
)
def test_adrg_forms(tmp_path: Path, expr: str, when: str) -> None:
    src = _tiny(tmp_path, expr)
    report = import_opendrg(src, tmp_path / "out", "tiny-1")
    ts = load_set(tmp_path / "out")
    assert ts["adrg"][0]["when"] == when
    check_rule(when)
    assert report.adrg == 1 and report.drg == 2
    if "ss_matched" in expr:
        lists = {(r["list"], r["code"]) for r in ts["lists"]}
        assert ("BB1_ss_a", "01.0100") in lists and ("BB1_ss_a", "01.0300") in lists
        assert ("BB1_ss_b", "01.0200") in lists
        assert not any(n == "BB1_ss1" for n, _ in lists)


@pytest.mark.parametrize(
    ("expr", "when"),
    [
        ("return len(record.zdList) > 1 and has_mcc(record.zdList[0], record.zdList[1:])", "mcc"),
        (
            "return len(record.zdList) > 1 and (has_mcc(record.zdList[0], record.zdList[1:]) "
            "or has_cc(record.zdList[0], record.zdList[1:]))",
            "cc_or_mcc",
        ),
        ("return 6 <= record.inHospitalTime < 13", "los >= 6 and los < 13"),
        (
            "return record.age <= 6 and len(record.zdList) > 1 and (has_mcc(record.zdList[0], "
            "record.zdList[1:]) or has_cc(record.zdList[0], record.zdList[1:]))",
            "age <= 6 and cc_or_mcc",
        ),
        (
            "return record.leavingType == 5 or record.inHospitalTime < 3",
            "discharge == 5 or los < 3",
        ),
    ],
)
def test_split_forms(tmp_path: Path, expr: str, when: str) -> None:
    src = _tiny(tmp_path, "record.zdList[0] in adrg_zd", expr)
    import_opendrg(src, tmp_path / "out", "tiny-1")
    drgs = load_set(tmp_path / "out")["adrg"][0]["drg"]
    assert [d["code"] for d in drgs] == ["BB11", "BB15"]
    assert drgs[0]["when"] == when
    assert "when" not in drgs[1]


def test_tiny_set_files(tmp_path: Path) -> None:
    src = _tiny(tmp_path, "record.zdList[0] in adrg_zd")
    report = import_opendrg(src, tmp_path / "out", "tiny-2.5")
    out = tmp_path / "out"
    meta = tomllib.loads((out / "tableset.toml").read_text(encoding="utf-8"))
    assert meta["tableset"]["version"] == "2.5"
    assert meta["grouping"]["mdc_order"] == ["A", "B"]
    assert any("MDC P is not in mdc_conditions.csv" in w for w in report.warnings)
    assert (out / "code_lists.csv").read_text(encoding="utf-8").splitlines()[:2] == [
        "list,system,code,match",
        "MDCB_dx,dx,G00.000,",
    ]
    assert (out / "cc.csv").read_text(encoding="utf-8") == (
        "code,level,exclusion_table\nJ18.900,MCC,7\nE11.900,CC,3\n"
    )
    assert (out / "cc_exclusions.csv").read_text(encoding="utf-8") == (
        "principal_dx,exclusion_table\nG00.000,1\n"
    )
    assert (out / "or_procedures.csv").read_text(encoding="utf-8") == "code,name\n01.0100,手术一\n"
    adrg = tomllib.loads((out / "adrg.toml").read_text(encoding="utf-8"))["adrg"][0]
    assert adrg["name"] == "某手术"
    assert not (out / "gray_codes.csv").exists()
    assert "BB1_zd1" not in (out / "code_lists.csv").read_text(encoding="utf-8")
    assert any("adrg_zd1 of BB1" in w and "not written" in w for w in report.warnings)
    assert "Warnings" in (out / "IMPORT_NOTES.md").read_text(encoding="utf-8")


def test_unused_and_missing_drgs(tmp_path: Path) -> None:
    src = _tiny(tmp_path, "record.zdList[0] in adrg_zd")
    with (src / "DRG.csv").open("a", encoding="utf-8") as f:
        f.write("BB13,某手术，伴一般并发症或合并症\n")
    report = import_opendrg(src, tmp_path / "out", "tiny")
    assert any("BB13" in w and "named by no ADRG" in w for w in report.warnings)
    text = (src / "adrg_conditions.csv").read_text(encoding="utf-8")
    (src / "adrg_conditions.csv").write_text(text.replace("BB11|BB15", "BB11|BB17"), "utf-8")
    with pytest.raises(TableImportError, match=r"adrg_conditions.csv line 2: ADRG BB1: DRG 'BB17'"):
        import_opendrg(src, tmp_path / "out2", "tiny")
