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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from drgsim.grouping import group_frame
from drgsim.stream import BATCH_ROWS
from drgsim.tables import TableSet, load

__all__ = ["IMPACT_LEVELS", "Comparison", "Impact", "compare", "impact"]

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


#: Levels :func:`impact` reports by when the input has those columns.
IMPACT_LEVELS: tuple[str, ...] = ("hospital_id", "department")
_SUMS = ("cases", "grouped_old", "grouped_new", "rw_old", "rw_new", "paid_old", "paid_new")


@dataclass(frozen=True)
class Impact:
    """The money and case-mix effect of moving the same cases from one table set to another.

    Attributes
    ----------
    old, new : str
        Names of the two table sets.
    matrix : polars.DataFrame
        The migration matrix: one row per (``drg_old``, ``drg_new``) pair with the DRG names,
        ``cases``, total weights ``rw_old``/``rw_new`` and ``rw_change``, and (when costs and a
        payment policy are given) ``paid_old``/``paid_new``/``paid_change``; largest first.
    levels : dict of str to polars.DataFrame
        Per level (``hospital_id``, ``department`` when present, and ``all``): ``cases``,
        ``cmi_old``/``cmi_new``/``cmi_change`` (mean weight of the grouped cases) and the
        payment totals and shift.
    summary : dict
        Totals: cases, changed_drg, cmi_old, cmi_new, paid_old, paid_new (money totals are
        None without payment).
    """

    old: str
    new: str
    matrix: pl.DataFrame
    levels: dict[str, pl.DataFrame]
    summary: dict[str, Any]

    def markdown(self, top: int = 30) -> str:
        """A Markdown report: totals, the ``top`` largest moves, and the shift per level."""
        s = self.summary
        money = s["paid_old"] is not None
        lines = [
            f"# `{self.old}` → `{self.new}`: migration, CMI and payment",
            "",
            f"- cases: {s['cases']:,}; DRG changed: {s['changed_drg']:,} "
            f"({100 * s['changed_drg'] / max(s['cases'], 1):.1f}%)",
            f"- CMI: {s['cmi_old']:.4f} → {s['cmi_new']:.4f}",
        ]
        if money:
            lines.append(
                f"- payment: {s['paid_old']:,.2f} → {s['paid_new']:,.2f} "
                f"({s['paid_new'] - s['paid_old']:+,.2f})"
            )
        lines += [
            "",
            f"## The {top} largest moves (old DRG → new DRG)",
            "",
            "| old DRG | new DRG | cases | weight old | weight new | weight change |"
            + (" payment change |" if money else ""),
            "|---|---|---|---|---|---|" + ("---|" if money else ""),
        ]
        moves = self.matrix.filter(pl.col("drg_old") != pl.col("drg_new")).head(top)
        for r in moves.iter_rows(named=True):
            lines.append(
                f"| {r['drg_old']} {r['name_old'] or ''} | {r['drg_new']} {r['name_new'] or ''} "
                f"| {r['cases']:,} | {r['rw_old']:.2f} | {r['rw_new']:.2f} | "
                f"{r['rw_change']:+.2f} |" + (f" {r['paid_change']:+,.2f} |" if money else "")
            )
        for level, frame in self.levels.items():
            if level == "all":
                continue
            lines += [
                "",
                f"## By {level}",
                "",
                f"| {level} | cases | CMI old | CMI new | CMI change |"
                + (" paid old | paid new | change |" if money else ""),
                "|---|---|---|---|---|" + ("---|---|---|" if money else ""),
            ]
            for r in frame.iter_rows(named=True):
                row = (
                    f"| {r[level]} | {r['cases']:,} | {r['cmi_old']:.4f} | {r['cmi_new']:.4f} "
                    f"| {r['cmi_change']:+.4f} |"
                )
                if money:
                    row += (
                        f" {r['paid_old']:,.2f} | {r['paid_new']:,.2f} | {r['paid_change']:+,.2f} |"
                    )
                lines.append(row)
        return "\n".join(lines) + "\n"

    def write(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``report.md``, ``matrix.csv`` and ``by_<level>.csv`` into ``folder``."""
        from drgsim.io import atomic_output, write_frame

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "matrix.csv"]
        write_frame(self.matrix, written[0])
        for level, frame in self.levels.items():
            written.append(out / f"by_{level}.csv")
            write_frame(frame, written[-1])
        report = out / "report.md"
        with atomic_output(report) as tmp:
            tmp.write_text(self.markdown(), "utf-8")
        return [report, *written]


def _priced(
    batch: pl.DataFrame,
    ts: TableSet,
    weights: pl.DataFrame,
    policy: Any,
    columns: Mapping[str, str] | None,
) -> pl.DataFrame:
    """``drg``, ``rw`` and ``paid`` (null without a policy) of one batch."""
    from drgsim.payment import pay

    g = group_frame(batch, ts, columns=columns)
    if policy is not None:
        return pay(g, policy, weights).select("drg", "rw", "paid")
    return (
        g.select("drg")
        .join(weights.select("drg", "rw"), on="drg", how="left", maintain_order="left")
        .with_columns(paid=pl.lit(None, dtype=pl.Float64))
    )


def _weights_for(ts: TableSet, source: Any) -> pl.DataFrame:
    from drgsim.exceptions import InputError
    from drgsim.payment import load_weights

    if source is None:
        if ts.builtin_file("weights.csv") is None:
            raise InputError(
                f"no weights for table set {ts.name!r}: give its weights (a weights CSV in the "
                "project format or a city weights file)"
            )
        source = ts.name
    return load_weights(source)


def impact(
    inputs: pl.DataFrame | Sequence[str | os.PathLike[str]],
    old: Tables,
    new: Tables,
    *,
    weights_old: str | os.PathLike[str] | pl.DataFrame | None = None,
    weights_new: str | os.PathLike[str] | pl.DataFrame | None = None,
    policy: Any = None,
    by: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[list[Any], int | None], None] | None = None,
) -> Impact:
    """Group the same cases under ``old`` and ``new`` in one pass and measure the shift.

    The input is read once, in record batches (any volume, bounded memory); each batch is
    grouped under both sets, weighted and, with a payment ``policy`` and a cost column, paid
    under both; only the per-pair and per-level totals are kept.

    Parameters
    ----------
    inputs : polars.DataFrame, or paths
        Cases, or Parquet/CSV files and dataset folders (as for :func:`drgsim.stream.regroup`).
    old, new : str, path or TableSet
        The two table sets.
    weights_old, weights_new : optional
        Weights of each set (see :func:`drgsim.payment.load_weights`); default: the set's own
        built-in weights.
    policy : Policy, optional
        Payment policy applied under both sets (its ``weights`` are replaced by each set's).
    by : sequence of str, optional
        Levels to report (default: those of :data:`IMPACT_LEVELS` present in the input).
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices.
    batch_rows : int
        Cases per batch.
    progress, on_start : callable, optional
        As for :func:`drgsim.stream.regroup`: called with each batch's number of cases, and
        once with the input files and their total number of cases (None when unknown).

    Examples
    --------
    >>> from drgsim.synth import hospital
    >>> cases = hospital(cases=2000, seed=1).drop("status", "drg")
    >>> r = impact(cases, "teaching", "teaching")
    >>> r.summary["changed_drg"], r.summary["cmi_old"] == r.summary["cmi_new"]
    (0, True)
    """
    import tempfile

    from drgsim import stream

    ts_old, ts_new = load(old), load(new)
    w_old, w_new = _weights_for(ts_old, weights_old), _weights_for(ts_new, weights_new)
    parts: list[pl.DataFrame] = []
    levels: list[str] | None = list(by) if by is not None else None
    money = False

    def consume(batch: pl.DataFrame) -> None:
        nonlocal levels, money
        if levels is None:  # the first batch tells which levels and whether costs are there
            levels = [c for c in IMPACT_LEVELS if c in batch.columns]
            money = policy is not None and policy.cost_column in batch.columns
        a = _priced(batch, ts_old, w_old, policy if money else None, columns)
        b = _priced(batch, ts_new, w_new, policy if money else None, columns)
        keys = batch.select([pl.col(c).cast(pl.String) for c in levels])
        frame = pl.concat(
            [keys, a.rename(lambda c: f"{c}_old"), b.rename(lambda c: f"{c}_new")],
            how="horizontal",
        )
        parts.append(_partial(frame, levels))
        if progress is not None:
            progress(batch.height)

    if isinstance(inputs, pl.DataFrame):
        if on_start is not None:
            on_start([], inputs.height)
        for off in range(0, max(inputs.height, 1), batch_rows):
            consume(inputs.slice(off, batch_rows))
    else:
        units = stream.discover(inputs)
        if on_start is not None:
            on_start(units, stream.total_rows(units))
        with tempfile.TemporaryDirectory(prefix="drgsim-") as scratch:
            for u in units:
                for batch in stream.read_batches(u, batch_rows, Path(scratch)):
                    consume(batch)
    return _impact(ts_old, ts_new, pl.concat(parts, how="diagonal"), levels or [], money)


def _partial(frame: pl.DataFrame, levels: list[str]) -> pl.DataFrame:
    """Per (drg_old, drg_new, level keys) sums of one batch; small whatever the batch size."""
    grouped_old = pl.col("drg_old") != "0000"
    grouped_new = pl.col("drg_new") != "0000"
    return frame.group_by(["drg_old", "drg_new", *levels]).agg(
        cases=pl.len(),
        grouped_old=(grouped_old & pl.col("rw_old").is_not_null()).sum(),
        grouped_new=(grouped_new & pl.col("rw_new").is_not_null()).sum(),
        rw_old=pl.col("rw_old").sum(),
        rw_new=pl.col("rw_new").sum(),
        paid_old=pl.col("paid_old").sum(),
        paid_new=pl.col("paid_new").sum(),
    )


def _shift(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return (
        frame.group_by(keys)
        .agg(pl.col(c).sum() for c in _SUMS)
        .with_columns(
            cmi_old=pl.col("rw_old") / pl.col("grouped_old"),
            cmi_new=pl.col("rw_new") / pl.col("grouped_new"),
        )
        .with_columns(
            cmi_change=pl.col("cmi_new") - pl.col("cmi_old"),
            paid_change=pl.col("paid_new") - pl.col("paid_old"),
        )
        .sort(keys)
    )


def _impact(
    ts_old: TableSet, ts_new: TableSet, parts: pl.DataFrame, levels: list[str], money: bool
) -> Impact:
    names_old, names_new = _names(ts_old), _names(ts_new)
    matrix = (
        parts.group_by("drg_old", "drg_new")
        .agg(pl.col(c).sum() for c in ("cases", "rw_old", "rw_new", "paid_old", "paid_new"))
        .with_columns(
            name_old=pl.col("drg_old").replace_strict(names_old, default=None),
            name_new=pl.col("drg_new").replace_strict(names_new, default=None),
            rw_change=pl.col("rw_new") - pl.col("rw_old"),
            paid_change=pl.col("paid_new") - pl.col("paid_old"),
        )
        .sort(["cases", "drg_old", "drg_new"], descending=[True, False, False])
        .select(
            "drg_old",
            "name_old",
            "drg_new",
            "name_new",
            "cases",
            "rw_old",
            "rw_new",
            "rw_change",
            "paid_old",
            "paid_new",
            "paid_change",
        )
    )
    if not money:
        matrix = matrix.drop("paid_old", "paid_new", "paid_change")
    out: dict[str, pl.DataFrame] = {}
    for level in levels:
        out[level] = _shift(parts, [level])
    total = _shift(parts.with_columns(all=pl.lit("all")), ["all"])
    out["all"] = total
    if not money:
        out = {k: v.drop("paid_old", "paid_new", "paid_change") for k, v in out.items()}
    t = total.row(0, named=True)
    changed = matrix.filter(pl.col("drg_old") != pl.col("drg_new"))["cases"].sum()
    summary = {
        "cases": int(t["cases"]),
        "changed_drg": int(changed),
        "cmi_old": float(t["cmi_old"] or 0.0),
        "cmi_new": float(t["cmi_new"] or 0.0),
        "paid_old": float(t["paid_old"]) if money else None,
        "paid_new": float(t["paid_new"]) if money else None,
    }
    return Impact(ts_old.name, ts_new.name, matrix, out, summary)
