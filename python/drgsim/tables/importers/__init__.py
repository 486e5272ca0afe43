"""Importers that translate other rule layouts into the project's table format.

- :mod:`drgsim.tables.importers.opendrg`: the CSV layout of the CHS-DRG 1.x folders
  (national 1.0 and 1.1, 北京 2022, 盐城 2023) with Python-like rule expressions.
- :mod:`drgsim.tables.importers.chs20`: the national CHS-DRG 2.0 (2024) folder, JSON originals
  with named code sections and logic texts.

Use them through ``drgsim tables import FORMAT DIR --name NAME`` or
:func:`drgsim.tables.import_tables`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def run_importer(
    importer: Callable[..., Any], description: str, argv: Sequence[str] | None = None
) -> int:
    """Command-line entry shared by the importers: ``python -m ... SRC DEST NAME``.

    Returns the exit status (1 when the source cannot be translated).
    """
    import argparse

    from drgsim.exceptions import TableImportError

    p = argparse.ArgumentParser(description=description)
    p.add_argument("src", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("name")
    p.add_argument("--icd-dir", type=Path)
    p.add_argument("--version")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    try:
        report = importer(
            a.src, a.dest, a.name, icd_dir=a.icd_dir, version=a.version, overwrite=a.overwrite
        )
    except TableImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
