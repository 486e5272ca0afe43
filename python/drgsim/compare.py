"""Group the same cases under two table sets and describe the migration between them.

This answers the first question a hospital asks when its city changes grouper version: which
cases change ADRG or DRG, where do they go, which become ungroupable and why, and how the
spread of groups changes.

Examples
--------
>>> import polars as pl
>>> from drgsim.compare import compare
>>> cases = pl.DataFrame({"sex": [1, 2], "age": [60, 30], "dx": ["I63.900", "O80.000"],
...                       "px": ["", "73.6x01"]})
>>> c = compare(cases, "teaching", "teaching")
>>> c.summary["changed_drg"]
0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from drgsim.grouping import group_frame
from drgsim.tables import TableSet, load

__all__ = ["Comparison", "compare"]

Tables = str | os.PathLike[str] | TableSet


@dataclass(frozen=True)
class Comparison:
    """The result of grouping one frame under two table sets.

    Attributes
    ----------
    old, new : str
        Names of the two table sets.
    cases : polars.DataFrame
        The input columns plus ``{mdc,adrg,drg,status,reason,message}_old`` and ``..._new``
        and the flags ``adrg_changed``, ``drg_changed`` and ``drg_renumbered``; one row per
        input row.
    flows : polars.DataFrame
        ``drg_old``, ``drg_new``, ``cases`` for every pair with a change, largest first.
    ungroupable : polars.DataFrame
        Cases grouped under the old set but not the new: the new ``status``/``reason`` and
        counts.
    summary : dict
        Counts: cases, changed_adrg, changed_drg, renumbered_drg (a new code for a group of
        the same name), groups_old, groups_new, ungroupable_old,
        ungroupable_new, newly_ungroupable, adrgs_old, adrgs_new.
    """

    old: str
    new: str
    cases: pl.DataFrame
    flows: pl.DataFrame
    ungroupable: pl.DataFrame
    summary: dict[str, int]

    def markdown(self, top: int = 30) -> str:
        """A Markdown report of the migration (the largest ``top`` flows)."""
        s = self.summary
        n = max(s["cases"], 1)

        def pct(k: str) -> str:
            return f"{s[k]} ({100 * s[k] / n:.1f}%)"

        lines = [
            f"# Migration from `{self.old}` to `{self.new}`",
            "",
            "| | count |",
            "|---|---|",
            f"| cases | {s['cases']} |",
            f"| ADRG changes | {pct('changed_adrg')} |",
            f"| DRG changes | {pct('changed_drg')} |",
            f"| of which the same group under a new code (same name) | {pct('renumbered_drg')} |",
            f"| distinct DRGs the cases spread over | {s['groups_old']} → {s['groups_new']} |",
            f"| distinct ADRGs | {s['adrgs_old']} → {s['adrgs_new']} |",
            f"| 0000 (not grouped) | {s['ungroupable_old']} → {s['ungroupable_new']} |",
            f"| grouped before, 0000 after | {s['newly_ungroupable']} |",
            "",
            f"## The {top} largest flows (old DRG → new DRG)",
            "",
            "| old DRG | old name | new DRG | new name | cases |",
            "|---|---|---|---|---|",
        ]
        for r in self.flows.head(top).iter_rows(named=True):
            lines.append(
                f"| {r['drg_old']} | {r['name_old'] or ''} | {r['drg_new']} | "
                f"{r['name_new'] or ''} | {r['cases']} |"
            )
        lines += [
            "",
            "## Cases grouped under the old set that are 0000 under the new, by reason",
            "",
            "| reason | message (first case) | cases |",
            "|---|---|---|",
        ]
        for r in self.ungroupable.iter_rows(named=True):
            lines.append(f"| {r['reason']} | {r['message']} | {r['cases']} |")
        if self.ungroupable.height == 0:
            lines.append("| none | | 0 |")
        return "\n".join(lines) + "\n"


def _names(ts: TableSet) -> dict[str, str]:
    return {code: name for code, _, name, _ in ts.drgs()}


def compare(
    frame: pl.DataFrame,
    old: Tables,
    new: Tables,
    *,
    columns: Mapping[str, str] | None = None,
) -> Comparison:
    """Group ``frame`` under ``old`` and ``new`` and compare the results.

    Parameters
    ----------
    frame : polars.DataFrame
        Cases with the canonical columns or their aliases (see :func:`drgsim.group`).
    old, new : str, path or TableSet
        The two table sets.
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices.
    """
    ts_old, ts_new = load(old), load(new)
    keep = ("mdc", "adrg", "drg", "status", "reason", "message")
    a = group_frame(frame, ts_old, columns=columns).select(keep)
    b = group_frame(frame, ts_new, columns=columns).select(keep)
    cases = pl.concat(
        [
            frame.drop([c for c in frame.columns if c in keep]),
            a.rename({c: f"{c}_old" for c in keep}),
            b.rename({c: f"{c}_new" for c in keep}),
        ],
        how="horizontal",
    ).with_columns(
        adrg_changed=pl.col("adrg_old").fill_null("") != pl.col("adrg_new").fill_null(""),
        drg_changed=pl.col("drg_old") != pl.col("drg_new"),
    )
    names_old, names_new = _names(ts_old), _names(ts_new)

    def plain(col: str, names: dict[str, str]) -> pl.Expr:
        return (
            pl.col(col)
            .replace_strict(names, default=None)
            .str.replace_many(["／", "（", "）", "，", " "], ["/", "(", ")", ",", ""])
        )

    cases = cases.with_columns(
        drg_renumbered=pl.col("drg_changed")
        & (plain("drg_old", names_old) == plain("drg_new", names_new)).fill_null(False)
    )
    flows = (
        cases.filter("drg_changed")
        .group_by("drg_old", "drg_new")
        .len("cases")
        .sort(["cases", "drg_old", "drg_new"], descending=[True, False, False])
        .with_columns(
            name_old=pl.col("drg_old").replace_strict(names_old, default=None),
            name_new=pl.col("drg_new").replace_strict(names_new, default=None),
        )
        .select("drg_old", "name_old", "drg_new", "name_new", "cases")
    )
    lost = cases.filter((pl.col("drg_old") != "0000") & (pl.col("drg_new") == "0000"))
    ungroupable = (
        lost.group_by("reason_new")
        .agg(pl.len().alias("cases"), pl.col("message_new").first().alias("message"))
        .rename({"reason_new": "reason"})
        .sort(["cases", "reason"], descending=[True, False])
    )

    def grouped(col: str) -> pl.Expr:
        return pl.col(col).filter(pl.col(col) != "0000").n_unique()

    counts: dict[str, Any] = cases.select(
        cases=pl.len(),
        changed_adrg=pl.col("adrg_changed").sum(),
        changed_drg=pl.col("drg_changed").sum(),
        renumbered_drg=pl.col("drg_renumbered").sum(),
        groups_old=grouped("drg_old"),
        groups_new=grouped("drg_new"),
        adrgs_old=pl.col("adrg_old").drop_nulls().n_unique(),
        adrgs_new=pl.col("adrg_new").drop_nulls().n_unique(),
        ungroupable_old=(pl.col("drg_old") == "0000").sum(),
        ungroupable_new=(pl.col("drg_new") == "0000").sum(),
    ).row(0, named=True)
    counts["newly_ungroupable"] = lost.height
    summary = {k: int(v) for k, v in counts.items()}
    return Comparison(
        old=ts_old.name,
        new=ts_new.name,
        cases=cases,
        flows=flows,
        ungroupable=ungroupable,
        summary=summary,
    )
