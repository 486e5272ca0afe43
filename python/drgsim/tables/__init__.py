"""Table sets: find, load, check, list, show and import them.

A table set is named by the ``tables=`` argument of :func:`drgsim.group` and by ``-t`` on the
command line. A name is looked up in this order:

1. a path to a table-set folder (anything containing a path separator, or an existing folder);
2. the user tables directory (``$DRGSIM_TABLES``, else the user's data directory,
   e.g. ``~/.local/share/drgsim/tables``), where ``drgsim tables import`` writes;
3. the built-in sets shipped with drgsim (``teaching``).

Examples
--------
>>> from drgsim import tables
>>> ts = tables.load("teaching")
>>> ts.name, ts.info["mdc"]
('teaching', 26)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from drgsim import _core
from drgsim.exceptions import TableError, TableNotFoundError

__all__ = [
    "TableSet",
    "check",
    "import_opendrg",
    "import_tables",
    "list_sets",
    "load",
    "user_tables_dir",
]

DEFAULT = "teaching"


def user_tables_dir() -> Path:
    """The folder where imported table sets live.

    ``$DRGSIM_TABLES`` when set; otherwise the platform's user data directory
    (``$XDG_DATA_HOME/drgsim/tables`` or ``~/.local/share/drgsim/tables`` on Linux,
    ``~/Library/Application Support/drgsim/tables`` on macOS,
    ``%LOCALAPPDATA%\\drgsim\\tables`` on Windows).
    """
    env = os.environ.get("DRGSIM_TABLES")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "drgsim" / "tables"


@dataclass(frozen=True)
class TableSet:
    """A loaded, checked and compiled table set.

    Attributes
    ----------
    name : str
        The set's name from its ``tableset.toml``.
    origin : str
        The folder it was loaded from, or ``builtin:NAME``.
    """

    name: str
    origin: str
    grouper: Any = field(repr=False, compare=False)

    @cached_property
    def info(self) -> dict[str, Any]:
        """Metadata and counts (MDC, ADRG, DRG, CC, MCC, lists, content hash ...)."""
        return dict(self.grouper.info())

    @property
    def content_hash(self) -> str:
        """SHA-256 over the set's files."""
        return str(self.info["content_hash"])

    @property
    def version(self) -> str:
        """The set's version string."""
        return str(self.info["version"])

    def adrgs(self) -> list[tuple[str, str, str, str]]:
        """ADRGs as (code, mdc, name, rule), in the order they are tried."""
        return list(self.grouper.adrgs())

    def drgs(self) -> list[tuple[str, str, str, str]]:
        """DRGs as (code, adrg, name, rule), in split order."""
        return list(self.grouper.drgs())

    def mdcs(self) -> list[tuple[str, str, str]]:
        """MDCs as (code, name, English name), in the order they are tried."""
        return list(self.grouper.mdcs())

    def list_codes(self, name: str) -> list[str]:
        """Codes of one named code list (``or_procedures`` for the OR procedures)."""
        codes = self.grouper.list_codes(name)
        if codes is None:
            raise KeyError(f"table set {self.name!r} has no code list {name!r}")
        return list(codes)

    def lists(self) -> list[tuple[str, str, int]]:
        """Code lists as (name, system, number of codes)."""
        return list(self.grouper.lists())

    def builtin_file(self, file: str) -> bytes | None:
        """A file shipped with a built-in set (``weights.csv``, ``README.md``); else None."""
        if not self.origin.startswith("builtin:"):
            p = Path(self.origin) / file
            return p.read_bytes() if p.is_file() else None
        data = _core.builtin_file(self.origin.removeprefix("builtin:"), file)
        return bytes(data) if data is not None else None


_cache: dict[tuple[str, str], TableSet] = {}


def _resolve(name: str | os.PathLike[str]) -> tuple[str, Path | None]:
    s = os.fspath(name)
    p = Path(s).expanduser()
    if os.sep in s or "/" in s or (p.is_dir() and (p / "tableset.toml").exists()):
        if not p.is_dir():
            raise TableNotFoundError(f"table set folder not found: {s}")
        return s, p
    user = user_tables_dir() / s
    if user.is_dir():
        return s, user
    if s in _core.builtin_names():
        return s, None
    known = [n for n, _, _ in list_sets()]
    raise TableNotFoundError(
        f"no table set named {s!r} (known: {', '.join(known) or 'none'}); import one with "
        f"'drgsim tables import opendrg DIR --name {s}' or pass a folder path"
    )


def load(name: str | os.PathLike[str] | TableSet = DEFAULT) -> TableSet:
    """Load a table set by name or folder path; compiled sets are cached.

    Parameters
    ----------
    name : str, path or TableSet
        A set name (user tables directory, then built-in), or a folder path.

    Raises
    ------
    TableNotFoundError
        No such set.
    TableError
        The set has problems; ``.problems`` lists each as (file, line, message).
    """
    if isinstance(name, TableSet):
        return name
    s, path = _resolve(name)
    if path is None:
        key = ("builtin", s)
        if key not in _cache:
            g = _core.Grouper.builtin(s)
            _cache[key] = TableSet(name=str(g.info()["name"]), origin=f"builtin:{s}", grouper=g)
        return _cache[key]
    key = (str(path.resolve()), _core.content_hash(str(path)))
    if key not in _cache:
        g = _core.Grouper.load_dir(str(path))
        _cache[key] = TableSet(name=str(g.info()["name"]), origin=str(path), grouper=g)
    return _cache[key]


def check(name: str | os.PathLike[str]) -> list[tuple[str, int, str]]:
    """Check a table set and return every problem as (file, line, message); [] when clean."""
    s, path = _resolve(name)
    if path is None:
        try:
            _core.Grouper.builtin(s)
        except TableError as e:
            return list(e.problems)
        return []
    return list(_core.check_dir(str(path)))


def list_sets() -> list[tuple[str, str, str]]:
    """Known table sets as (name, kind, location): user-imported ones, then built-in ones."""
    out: list[tuple[str, str, str]] = []
    d = user_tables_dir()
    if d.is_dir():
        for p in sorted(d.iterdir()):
            if (p / "tableset.toml").is_file():
                out.append((p.name, "user", str(p)))
    for n in _core.builtin_names():
        out.append((n, "built-in", f"builtin:{n}"))
    return out


#: Source layouts ``drgsim tables import`` understands: name -> importer module.
IMPORTERS: dict[str, str] = {
    "opendrg": "drgsim.tables.importers.opendrg",
    "chs20": "drgsim.tables.importers.chs20",
}


def import_tables(
    source_format: str,
    src: str | os.PathLike[str],
    name: str,
    *,
    dest_root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    icd_dir: str | os.PathLike[str] | None = None,
) -> tuple[TableSet, Any]:
    """Import a rule folder of another layout into the user tables directory.

    Parameters
    ----------
    source_format : {"opendrg", "chs20"}
        ``opendrg``: the CSV layout of the CHS-DRG 1.x folders (1.0, 1.1, 北京, 盐城);
        ``chs20``: the national CHS-DRG 2.0 folder (JSON originals and flattened CSVs).
    src : path
        The source folder.
    name : str
        Name of the new set (its folder name under the user tables directory).
    dest_root : path, optional
        Where to create the set instead of :func:`user_tables_dir`.
    overwrite : bool
        Replace an existing set of that name.
    icd_dir : path, optional
        Folder with the ICD dictionaries and input-code maps (default: ``src/../icd``).

    Returns
    -------
    (TableSet, ImportReport)
        The loaded, checked set and the importer's report.
    """
    import importlib

    if source_format not in IMPORTERS:
        raise TableNotFoundError(
            f"unknown source format {source_format!r}; known: {', '.join(IMPORTERS)}"
        )
    module = importlib.import_module(IMPORTERS[source_format])
    root = Path(dest_root) if dest_root is not None else user_tables_dir()
    dest = root / name
    report = getattr(module, f"import_{source_format}")(
        Path(src),
        dest,
        name,
        icd_dir=Path(icd_dir) if icd_dir is not None else None,
        overwrite=overwrite,
    )
    return load(str(dest)), report


def import_opendrg(
    src: str | os.PathLike[str],
    name: str,
    *,
    dest_root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    icd_dir: str | os.PathLike[str] | None = None,
) -> tuple[TableSet, Any]:
    """Import a folder in the opendrg layout; see :func:`import_tables`."""
    return import_tables(
        "opendrg", src, name, dest_root=dest_root, overwrite=overwrite, icd_dir=icd_dir
    )
