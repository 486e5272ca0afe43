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
from typing import Any, NamedTuple

from drgsim import _core
from drgsim.exceptions import TableError, TableNotFoundError

__all__ = [
    "Finding",
    "TableSet",
    "check",
    "import_opendrg",
    "import_tables",
    "list_sets",
    "load",
    "seal",
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
    # Keyed by every file loading reads (the manifest and weights.csv too), so a changed
    # weights.csv is checked against the manifest again.
    key = (str(path.resolve()), _core.files_hash(str(path)))
    if key not in _cache:
        g = _core.Grouper.load_dir(str(path))
        _cache[key] = TableSet(name=str(g.info()["name"]), origin=str(path), grouper=g)
    return _cache[key]


class Finding(NamedTuple):
    """One finding of :func:`check`: where (file and 1-based line, 0 for the whole file), how
    serious (``error`` refuses the set or file, ``warning`` does not) and what."""

    file: str
    line: int
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


def check(
    name: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    policy: str | os.PathLike[str] | None = None,
) -> list[Finding]:
    """Check a table set (and optionally weights and a policy) before any case is grouped.

    The checks of loading (rules that do not parse, unknown lists, duplicate codes ...) and
    the analyses of the whole set: the content hash of each file against the set's manifest,
    DRG splits and ADRGs that can never be chosen, ADRGs whose splits leave cases without a
    DRG, CC/MCC codes listed twice with conflicting levels or exclusion tables. Weights: every
    DRG the tables can produce without a weight, and weights for DRGs the set does not have;
    the set's own ``weights.csv`` is checked when it has one. A policy file (payment,
    settlement or DIP): thresholds and shares that cannot work
    (:func:`drgsim.policy.file_problems`).

    Parameters
    ----------
    name : str or path
        A set name or folder (see :func:`load`).
    weights : path, optional
        A weights CSV in the project format (see :mod:`drgsim.weights`).
    policy : path, optional
        A policy TOML file.

    Returns
    -------
    list of Finding
        Errors first, then warnings; [] when everything is clean.

    Examples
    --------
    >>> [f for f in check("teaching") if f.severity == "error"]
    []
    """
    s, path = _resolve(name)
    found, drgs, qy = _core.lint_builtin(s) if path is None else _core.lint_dir(str(path))
    out = [Finding(*f) for f in found]
    if drgs:
        if weights is None:
            raw = _set_file(s, path, "weights.csv")
            label = "weights.csv"
        else:
            try:
                raw = Path(weights).read_bytes()
            except OSError as e:
                raise TableError(f"cannot read weights {weights}: {e}") from e
            label = os.fspath(weights)
        if raw is not None:
            out += _weight_findings(raw, label, drgs, set(qy))
    if policy is not None:
        from drgsim.policy import file_problems

        pf = os.fspath(policy)
        out += [Finding(pf, p.line, "error", str(p)) for p in file_problems(pf)]
    order = {"error": 0, "warning": 1}
    return sorted(out, key=lambda f: order.get(f.severity, 2))


def _set_file(name: str, path: Path | None, file: str) -> bytes | None:
    if path is None:
        data = _core.builtin_file(name, file)
        return bytes(data) if data is not None else None
    p = path / file
    return p.read_bytes() if p.is_file() else None


def _weight_findings(
    raw: bytes,
    label: str,
    drgs: list[tuple[str, str, int, bool]],
    ambiguous: set[str],
) -> list[Finding]:
    """Weights against the DRGs a set can produce: a reachable DRG without a weight (an
    error: its cases could not be paid), a row with neither ``rw`` nor ``base_points`` that is
    not flagged ``special`` (an error), a weight for a DRG the set does not have (a warning).
    The 歧义组 ``<MDC>QY`` of a set that forms them are not DRGs of the set but may be weighted.
    """
    import csv
    import io

    import polars as pl

    from drgsim import weights as weights_mod
    from drgsim.exceptions import InputError

    try:
        w = weights_mod._project_csv(raw, Path(label).name, Path(label).stem)
    except InputError as e:
        return [Finding(label, 0, "error", str(e))]
    lines: dict[str, int] = {}
    text = raw.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    col = next((i for i, h in enumerate(header) if h.strip().lower() == "drg"), 0)
    for row in reader:
        if len(row) > col:
            lines.setdefault(row[col].strip(), reader.line_num)
    weighted = set(
        w.filter(pl.col("rw").is_not_null() | pl.col("base_points").is_not_null())["drg"]
    )
    special = set(w.filter(pl.col("special"))["drg"])
    rows = set(w["drg"])
    by_code = {d[0]: d for d in drgs}
    out: list[Finding] = []
    for code, _adrg, line, reachable in drgs:
        if not reachable or code in weighted or code in special:
            continue
        if code in rows:
            out.append(
                Finding(
                    label,
                    lines.get(code, 0),
                    "error",
                    f"DRG {code} has a row but neither rw nor base_points (and is not "
                    "flagged special)",
                )
            )
        else:
            out.append(
                Finding(
                    label,
                    0,
                    "error",
                    f"no weight for DRG {code} (adrg.toml line {line}), which the tables "
                    "can produce",
                )
            )
    for code in sorted(rows - set(by_code) - ambiguous):
        out.append(
            Finding(
                label,
                lines.get(code, 0),
                "warning",
                f"weight for DRG {code}, which the table set does not have",
            )
        )
    return out


def seal(path: str | os.PathLike[str]) -> str:
    """Write the manifest (``MANIFEST.sha256``) of a table-set folder after editing it; its
    files are then checked against it on every load. Returns the manifest text."""
    p = Path(path)
    if not p.is_dir():
        raise TableNotFoundError(f"table set folder not found: {p}")
    return str(_core.seal_dir(str(p)))


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
