"""Shared fixtures: reference data from ../shared/reference, imported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from drgsim.tables import TableSet, import_opendrg

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"


def _reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference is not present")
    return REFERENCE


@pytest.fixture(scope="session")
def reference() -> Path:
    """The read-only reference data folder."""
    return _reference()


@pytest.fixture(scope="session")
def imported_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tables directory for sets imported during the session."""
    return tmp_path_factory.mktemp("tables")


def _import(name: str, root: Path) -> TableSet:
    ts, _ = import_opendrg(_reference() / name, name, dest_root=root, overwrite=True)
    return ts


@pytest.fixture(scope="session")
def yancheng(imported_root: Path) -> TableSet:
    """The 盐城 2023 rules, imported."""
    return _import("yancheng-2023", imported_root)


@pytest.fixture(scope="session")
def chs11(imported_root: Path) -> TableSet:
    """The national CHS-DRG 1.1 rules, imported."""
    return _import("chs-drg-1.1", imported_root)


@pytest.fixture(scope="session")
def chs20_tables(imported_root: Path) -> TableSet:
    """The national CHS-DRG 2.0 rules, imported from the chs20 layout."""
    from drgsim.tables import import_tables

    ts, _ = import_tables(
        "chs20",
        _reference() / "chs-drg-2.0",
        "chs-drg-2.0",
        dest_root=imported_root,
        overwrite=True,
    )
    return ts
