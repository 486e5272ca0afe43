"""Counterfactuals for coding audit, computed in the Rust core.

For every case that groups, :func:`counterfactual` regroups it without each single secondary
diagnosis and each single procedure, and with one MCC and one CC added:

=======================  ==================================================================
column                   meaning
=======================  ==================================================================
``cf_flag``              ``at_risk`` (removing one code lowers the weight: the case hangs on
                         it, the 高编高套 risk an audit looks for), ``documentation`` (one
                         more complication would raise it: documentation may be missing),
                         both, or null
``cf_sensitive_codes``   how many single codes change the DRG when removed
``cf_drop_code``         the code whose removal lowers the weight most, ``cf_drop_drg`` the
                         DRG then and ``cf_drop_rw`` its weight
``cf_add_code``          the complication added (a code of the CC/MCC table that no
                         any_dx/secondary_dx rule reads, from another exclusion table than
                         the principal's),
                         ``cf_add_drg`` and ``cf_add_rw`` the DRG and weight it reaches
=======================  ==================================================================

Cases that do not group (status other than ok) get nulls. Weights come from
:mod:`drgsim.weights` (the built-in set's by default); a DRG without a weight never counts as
lower or higher.

Examples
--------
>>> import polars as pl
>>> from drgsim.counterfactual import counterfactual
>>> cases = pl.DataFrame({"sex": [1], "age": [67], "dx": ["I63.900|J96.000"]})
>>> counterfactual(cases)["cf_flag"].to_list()
['at_risk']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from drgsim.columns import canonical_frame, resolve_columns
from drgsim.exceptions import InputError
from drgsim.tables import DEFAULT, TableSet, load

__all__ = ["CF_COLUMNS", "counterfactual"]

CF_COLUMNS: tuple[str, ...] = (
    "cf_flag",
    "cf_sensitive_codes",
    "cf_drop_code",
    "cf_drop_drg",
    "cf_drop_rw",
    "cf_add_code",
    "cf_add_drg",
    "cf_add_rw",
)


def counterfactual(
    cases: pl.DataFrame,
    tables: str | os.PathLike[str] | TableSet = DEFAULT,
    *,
    weights: pl.DataFrame | str | os.PathLike[str] | None = None,
    columns: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> pl.DataFrame:
    """Add the counterfactual columns to ``cases`` (see the module documentation).

    Parameters
    ----------
    cases : polars.DataFrame
        Cases with the canonical columns or their aliases (as for :func:`drgsim.group`).
    tables : str, path or TableSet
        The table set to group with.
    weights : frame, name or path, optional
        Weights (see :func:`drgsim.payment.load_weights`); default: the weights shipped with
        the table set (the built-in ``teaching`` set ships them).
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices.
    threads : int, optional
        Number of threads.
    """
    from drgsim.payment import load_weights

    ts = load(tables)
    if weights is None:
        if ts.origin.startswith("builtin:"):
            w = load_weights(ts.origin.removeprefix("builtin:"))
        else:
            raw = ts.builtin_file("weights.csv")
            if raw is None:
                raise InputError(f"table set {ts.name!r} ships no weights.csv; pass weights=")
            w = load_weights(pl.read_csv(raw, infer_schema=False))
    else:
        w = load_weights(weights if isinstance(weights, pl.DataFrame) else Path(weights))
    w = w.filter(pl.col("rw").is_not_null())
    mapping = resolve_columns(cases.schema, columns)
    canon = canonical_frame(cases, mapping)
    out = pl.DataFrame(
        ts.grouper.counterfactual_arrow(
            canon, w["drg"].to_list(), w["rw"].cast(pl.Float64).to_list(), threads=threads
        )
    )
    keep = [c for c in cases.columns if c not in CF_COLUMNS]
    return pl.concat([cases.select(keep), out], how="horizontal")
