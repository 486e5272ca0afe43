"""drgsim: group Chinese inpatient cases into CHS-DRG groups and simulate payment.

The grouping engine is compiled Rust (``drgsim._core``); this package is the Python API on
Polars, and the ``drgsim`` command line.

Examples
--------
>>> import polars as pl
>>> import drgsim
>>> out = drgsim.group(pl.DataFrame({"sex": [1], "age": [60], "dx": ["I63.900"]}))
>>> out["status"].to_list()
['ok']
"""

from __future__ import annotations

from drgsim import synth, tables
from drgsim._core import __version__
from drgsim.exceptions import (
    ColumnError,
    DrgsimError,
    InputError,
    TableError,
    TableImportError,
    TableNotFoundError,
)
from drgsim.grouping import RESULT_COLUMNS, Explanation, explain, group
from drgsim.payment import pay
from drgsim.policy import Policy, PolicyError, load_policy
from drgsim.settlement import settle
from drgsim.simulation import simulate
from drgsim.tables import TableSet

__all__ = [
    "RESULT_COLUMNS",
    "ColumnError",
    "DrgsimError",
    "Explanation",
    "InputError",
    "Policy",
    "PolicyError",
    "TableError",
    "TableImportError",
    "TableNotFoundError",
    "TableSet",
    "__version__",
    "explain",
    "group",
    "load_policy",
    "pay",
    "settle",
    "simulate",
    "synth",
    "tables",
]
