"""DIP (按病种分值付费): catalogues, matching cases to them, and payment.

- :mod:`drgsim.dip.catalogue`: build a catalogue from historical cases, read, write, import.
- :func:`match`: match cases to a catalogue in the Rust core (exact combination, then the
  fall-backs of ``CATALOGUE.md``), with the reason for each match.
- :mod:`drgsim.dip.policy` and :mod:`drgsim.dip.payment`: deviation cases, coefficients,
  auxiliary catalogues and point values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from drgsim import _core
from drgsim.columns import canonical_frame, resolve_columns

__all__ = ["MATCH_COLUMNS", "compile_catalogue", "match"]

#: Columns added by :func:`match`.
MATCH_COLUMNS: tuple[str, ...] = (
    "dip_group",
    "dip_kind",
    "dip_score",
    "dip_reason",
    "dip_treatment",
    "dip_dx_key",
)

_compiled: dict[int, tuple[Any, Any]] = {}


def compile_catalogue(catalogue: Any) -> Any:
    """The engine's compiled form of a catalogue (cached per catalogue object)."""
    key = id(catalogue)
    hit = _compiled.get(key)
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    groups: pl.DataFrame = catalogue.groups
    meta: Mapping[str, Any] = catalogue.meta
    cols = ["group_id", "kind", "dx_key", "procedures", "treatment", "score"]
    rows = groups.select(
        [
            (pl.col(c).cast(pl.Float64) if c == "score" else pl.col(c).cast(pl.String))
            if c in groups.columns
            else pl.lit(None, dtype=pl.String).alias(c)
            for c in cols
        ]
    )
    compiled = _core.DipCatalogue(
        rows,
        dx_length=int(meta.get("dx_length", 5)),
        count_diagnostic=bool(meta.get("count_diagnostic", False)),
    )
    _compiled[key] = (catalogue, compiled)
    return compiled


def match(
    cases: pl.DataFrame,
    catalogue: Any,
    *,
    columns: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> pl.DataFrame:
    """Match cases to a DIP catalogue.

    Parameters
    ----------
    cases : polars.DataFrame
        Cases with ``dx`` and ``px`` (or their aliases; see :mod:`drgsim.columns`).
    catalogue : Catalogue or path
        A :class:`drgsim.dip.catalogue.Catalogue`, or a catalogue file to read.
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices.
    threads : int, optional
        Number of threads (default: all cores).

    Returns
    -------
    polars.DataFrame
        ``cases`` plus ``dip_group`` (``KBBZ`` for the blank group), ``dip_kind`` (core /
        comprehensive / blank), ``dip_score``, ``dip_reason`` (exact / subset / comprehensive /
        comprehensive_category / blank / invalid), ``dip_treatment`` and ``dip_dx_key``; one
        row per case, in order.
    """
    if isinstance(catalogue, (str, os.PathLike)):
        from drgsim.dip.catalogue import read

        catalogue = read(catalogue)
    compiled = compile_catalogue(catalogue)
    mapping = resolve_columns(cases.schema, columns, required=("dx",))
    canon = canonical_frame(cases, {k: v for k, v in mapping.items() if k in ("dx", "px")})
    result = pl.DataFrame(compiled.match_arrow(canon, threads=threads))
    keep = [c for c in cases.columns if c not in MATCH_COLUMNS]
    return pl.concat([cases.select(keep), result], how="horizontal")
