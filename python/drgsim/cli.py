"""The ``drgsim`` command line."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import polars as pl

from drgsim import tables as tables_mod
from drgsim.exceptions import DrgsimError, InputError
from drgsim.grouping import explain, group_frame, provenance_metadata
from drgsim.io import read_cases, write_frame
from drgsim.stream import BATCH_ROWS

#: Inputs above this many rows are grouped in slices with a progress bar.
PROGRESS_ROWS = 200_000


tables_option = click.option(
    "-t",
    "--tables",
    "tables",
    default=tables_mod.DEFAULT,
    show_default=True,
    help="Table set: a name (imported or built-in) or a folder.",
)


map_option = click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="CANONICAL=COLUMN",
    help="Use COLUMN for a canonical column, e.g. --map dx=诊断编码.",
)


unpaid_policy_option = click.option(
    "-p",
    "--policy",
    "policy_path",
    default="rate",
    show_default=True,
    help="Payment policy used when INPUT is not paid yet ('rate', 'points' or TOML).",
)


catalogue_option = click.option(
    "-c",
    "--catalogue",
    "catalogue_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="DIP catalogue (.csv with catalogue.toml beside it, or .parquet).",
)


def _payment_policy(name: str) -> Any:
    """'rate' / 'points' (the shipped examples) or a policy TOML file."""
    from drgsim.policy import example, load_policy

    return example(name) if name in ("rate", "points") else load_policy(name)


def _settlement_policy(name: str) -> Any:
    """'example' (the shipped one) or a settlement policy TOML file."""
    from drgsim.settlement import example_settlement, load_settlement_policy

    return example_settlement() if name == "example" else load_settlement_policy(name)


def _grouped(df: pl.DataFrame, tables: str) -> pl.DataFrame:
    """``df`` grouped under ``tables`` unless it already carries the grouping result."""
    if "drg" in df.columns and "status" in df.columns:
        return df
    return group_frame(df, tables_mod.load(tables))


def _paid(df: pl.DataFrame, tables: str, policy_path: str) -> pl.DataFrame:
    """``df`` grouped and paid unless it already carries the payment."""
    from drgsim.payment import pay

    if "paid" in df.columns:
        return df
    return pay(_grouped(df, tables), _payment_policy(policy_path))


def _fail(e: Exception) -> None:
    click.echo(f"error: {e}", err=True)
    problems = getattr(e, "problems", None)
    if problems and str(len(problems)) not in str(e):
        for f, line, msg in problems:
            click.echo(f"  {f}:{line}: {msg}", err=True)
    sys.exit(2)


def _refuse_overwrite(
    inputs: Iterable[str | os.PathLike[str] | None], outputs: Iterable[str | os.PathLike[str]]
) -> None:
    """Refuse to run when an output file would be one of the input files.

    Every command that reads files and writes files calls this before it reads anything, so a
    mistyped ``-o`` never destroys a hospital's export. Files are compared as files, not as
    names: a relative or absolute path, a symlink or a hard link to an input all count. Inputs
    that are not existing paths (``-p rate``, a built-in weights name) are ignored.

    Raises
    ------
    InputError
        An output is an input; the message names both.
    """
    existing = [Path(p) for p in inputs if p is not None and Path(p).exists()]
    for out in outputs:
        o = Path(out)
        if not o.exists():  # a new file cannot be an existing input
            continue
        for i in existing:
            if os.path.samefile(o, i):
                raise InputError(
                    f"output {o} is the input {i}: drgsim never overwrites an input; "
                    "choose another output path"
                )


@click.group()
@click.version_option(package_name="drgsim")
def main() -> None:
    """drgsim: CHS-DRG grouping and payment simulation."""


def summarise(out: pl.DataFrame, seconds: float | None = None) -> str:
    """A short text summary of a grouped frame: grouped share, QY, 0000 by reason.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"status": ["ok", "invalid"], "reason": [None, "missing_age"],
    ...                    "drg": ["GE25", "0000"]})
    >>> print(summarise(df))
    cases: 2
    grouped: 1 (50.00%)
    歧义组 QY: 0
    0000: 1
      missing_age: 1
    DRGs used: 1
    """
    n = out.height
    ok = out.filter(pl.col("status") == "ok").height
    qy = out.filter(pl.col("status") == "qy").height
    bad = out.filter(pl.col("drg") == "0000")
    lines = [f"cases: {n}", f"grouped: {ok} ({100 * ok / max(n, 1):.2f}%)", f"歧义组 QY: {qy}"]
    lines.append(f"0000: {bad.height}")
    if bad.height:
        for reason, count in (
            bad.group_by("reason").len().sort(["len", "reason"], descending=[True, False]).rows()
        ):
            lines.append(f"  {reason}: {count}")
    lines.append(
        f"DRGs used: {out.filter(pl.col('status') == 'ok').select(pl.col('drg').n_unique()).item()}"
    )
    if seconds is not None and seconds > 0:
        lines.append(f"time: {seconds:.2f} s ({n / seconds:,.0f} cases/s)")
    return "\n".join(lines)


def _parse_maps(maps: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for m in maps:
        if "=" not in m:
            raise click.BadParameter(f"{m!r}: expected CANONICAL=COLUMN", param_hint="--map")
        k, v = m.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@main.command("group")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@tables_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file (.parquet or .csv).",
)
@click.option("--trace", is_flag=True, help="Add the trace column (Parquet output only).")
@map_option
@click.option(
    "--provenance/--no-provenance",
    default=True,
    show_default=True,
    help="Add tables_name, tables_hash and drgsim_version columns.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def group_cmd(
    input: Path,
    tables: str,
    output: Path,
    trace: bool,
    maps: tuple[str, ...],
    provenance: bool,
    quiet: bool,
) -> None:
    """Group the cases in INPUT (CSV or Parquet) and write OUTPUT."""
    try:
        _refuse_overwrite([input], [output])
        ts = tables_mod.load(tables)
        from drgsim.readers import read_any

        read = read_any(input)
        df = read.frame
        if not quiet:
            click.echo(read.summary(), err=True)
        if trace and output.suffix.lower() == ".csv":
            raise InputError("--trace needs a Parquet output (a trace is a nested column)")
        columns = _parse_maps(maps)
        start = time.perf_counter()
        if df.height <= PROGRESS_ROWS or quiet:
            out = group_frame(df, ts, trace=trace, columns=columns, provenance=provenance)
        else:
            parts: list[pl.DataFrame] = []
            with _progress_bar("grouping") as bar:
                rate = _Rate(bar)
                rate.start_units([], df.height)
                for off in range(0, df.height, PROGRESS_ROWS):
                    part = df.slice(off, PROGRESS_ROWS)
                    parts.append(
                        group_frame(part, ts, trace=trace, columns=columns, provenance=provenance)
                    )
                    rate(part.height)
            out = pl.concat(parts)
        seconds = time.perf_counter() - start
        write_frame(out, output, metadata=provenance_metadata(ts))
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    if not quiet:
        click.echo(f"tables: {ts.name} ({ts.content_hash[:12]})", err=True)
        click.echo(summarise(out, seconds), err=True)
        click.echo(f"wrote {output} ({out.height} rows)", err=True)


@main.group("tables")
def tables_cmd() -> None:
    """List, show, check and import table sets."""


@tables_cmd.command("list")
def tables_list() -> None:
    """List the known table sets."""
    click.echo(f"user tables directory: {tables_mod.user_tables_dir()}")
    for name, kind, where in tables_mod.list_sets():
        try:
            info = tables_mod.load(where if kind == "user" else name).info
            click.echo(
                f"{name:<20} {kind:<9} v{info['version']:<10} MDC {info['mdc']:>2}  "
                f"ADRG {info['adrg']:>4}  DRG {info['drg']:>4}  {info['content_hash'][:12]}"
            )
        except DrgsimError as e:
            click.echo(f"{name:<20} {kind:<9} (does not load: {str(e).splitlines()[0]})")


@tables_cmd.command("show")
@click.argument("name")
@click.option("--adrg", "show_adrg", is_flag=True, help="Also list every ADRG and its rule.")
def tables_show(name: str, show_adrg: bool) -> None:
    """Show a table set's metadata and counts."""
    try:
        ts = tables_mod.load(name)
    except DrgsimError as e:
        _fail(e)
        return
    i: dict[str, Any] = ts.info
    for key in (
        "name",
        "version",
        "title",
        "dx_edition",
        "px_edition",
        "source",
        "licence",
        "origin",
        "content_hash",
    ):
        click.echo(f"{key:<16} {i[key]}")
    click.echo(
        f"{'counts':<16} MDC {i['mdc']}, ADRG {i['adrg']}, DRG {i['drg']}, "
        f"MCC {i['mcc']}, CC {i['cc']}, exclusion tables {i['exclusion_tables']}, "
        f"OR procedures {i['or_procedures']}, code lists {i['lists']}"
    )
    click.echo(
        f"{'codes':<16} dx {i['dx_codes']}, px {i['px_codes']}; 歧义组 QY "
        f"{'on' if i['ambiguous_group'] else 'off'}"
    )
    if show_adrg:
        for code, mdc, nm, rule in ts.adrgs():
            click.echo(f"  {code} [MDC{mdc}] {nm}: {rule}")


@tables_cmd.command("check")
@click.argument("name")
@click.option(
    "-w",
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also check a weights CSV against the DRGs the set can produce "
    "(default: the set's own weights.csv, when it has one).",
)
@click.option(
    "-p",
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also check a policy TOML file (payment, settlement or DIP).",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def tables_check(name: str, weights: Path | None, policy_path: Path | None, strict: bool) -> None:
    """Check a table set (a name or a folder) before grouping and list every finding.

    Errors (the set does not load, or a check refuses it) and warnings (structural doubts:
    an ADRG that can never be chosen, an ADRG whose splits leave cases without a DRG, an
    unsealed set) are listed as FILE:LINE: SEVERITY: MESSAGE. Exit status 1 when there is an
    error (or, with --strict, a warning), 2 when the set cannot be read at all.
    """
    try:
        findings = tables_mod.check(name, weights=weights, policy=policy_path)
    except DrgsimError as e:
        _fail(e)
        return
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    for f in findings:
        click.echo(str(f))
    if not findings:
        click.echo(f"{name}: no problems")
        return
    click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    if errors or (strict and warnings):
        sys.exit(1)


@tables_cmd.command("seal")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def tables_seal(directory: Path) -> None:
    """Write DIRECTORY's MANIFEST.sha256 after editing its files.

    Loading compares every file of a sealed set with the manifest, so a changed or truncated
    file is refused ("content hash mismatch") until the set is sealed again.
    """
    try:
        text = tables_mod.seal(directory)
    except DrgsimError as e:
        _fail(e)
        return
    click.echo(f"sealed {directory}: {len(text.splitlines())} file(s) in MANIFEST.sha256")


@tables_cmd.command("import")
@click.argument("source_format", type=click.Choice(sorted(tables_mod.IMPORTERS)))
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the new table set.")
@click.option("--force", is_flag=True, help="Replace an existing set of that name.")
@click.option(
    "--icd",
    "icd_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="ICD dictionaries and input-code maps (default: DIRECTORY/../icd).",
)
@click.option(
    "--dest",
    "dest_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Tables directory to write into (default: the user's).",
)
def tables_import(
    source_format: str,
    directory: Path,
    name: str,
    force: bool,
    icd_dir: Path | None,
    dest_root: Path | None,
) -> None:
    """Import DIRECTORY (in SOURCE_FORMAT layout) as table set NAME."""
    try:
        ts, report = tables_mod.import_tables(
            source_format, directory, name, dest_root=dest_root, overwrite=force, icd_dir=icd_dir
        )
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    i = ts.info
    click.echo(f"imported {name} from {directory} into {ts.origin}")
    click.echo(
        f"MDC {i['mdc']}, ADRG {i['adrg']}, DRG {i['drg']}, MCC {i['mcc']}, CC {i['cc']}; "
        f"hash {i['content_hash'][:12]}"
    )
    for w in getattr(report, "warnings", []):
        click.echo(f"  note: {w}")


@main.command("pay")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-p",
    "--policy",
    "policy_path",
    required=True,
    help="Policy TOML file, or 'rate' / 'points' for the shipped examples.",
)
@click.option(
    "-w",
    "--weights",
    default=None,
    help="Weights (a built-in set name or a weights CSV); default: the policy's.",
)
@tables_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-q", "--quiet", is_flag=True)
def pay_cmd(
    input: Path, policy_path: str, weights: str | None, tables: str, output: Path, quiet: bool
) -> None:
    """Pay the cases in INPUT under a policy (grouping them first if they have no 'drg')."""
    from drgsim.payment import pay, summary

    try:
        _refuse_overwrite([input, policy_path, weights], [output])
        pol = _payment_policy(policy_path)
        df = _grouped(read_cases(input), tables)
        start = time.perf_counter()
        out = pay(df, pol, weights)
        seconds = time.perf_counter() - start
        write_frame(out, output, metadata={"drgsim.policy": pol.name})
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    if not quiet:
        with pl.Config(
            tbl_rows=20, tbl_width_chars=120, thousands_separator=True, float_precision=0
        ):
            click.echo(summary(out), err=True)
        click.echo(
            f"policy {pol.name} ({pol.method}); {out.height} cases in {seconds:.2f} s; "
            f"wrote {output}",
            err=True,
        )


@main.command("synth")
@tables_option
@click.option("--cases", type=click.IntRange(1), default=200_000, show_default=True)
@click.option("--hospitals", type=click.IntRange(1), default=5, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "-w",
    "--weights",
    default=None,
    help="Weights for the costs (a built-in set name, a weights CSV or a city file).",
)
@click.option("--base-rate", type=float, default=None, help="CNY per RW (illustrative default).")
@click.option("--year", type=int, default=2025, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def synth_cmd(
    tables: str,
    cases: int,
    hospitals: int,
    seed: int,
    weights: str | None,
    base_rate: float | None,
    year: int,
    output: Path,
) -> None:
    """Make a synthetic region of hospitals: grouped cases with costs (seeded)."""
    from drgsim import synth
    from drgsim.payment import load_weights

    try:
        _refuse_overwrite([weights], [output])
        start = time.perf_counter()
        w = load_weights(weights) if weights is not None else None
        df = synth.hospital(
            tables_mod.load(tables),
            cases=cases,
            hospitals=hospitals,
            seed=seed,
            weights=w,
            base_rate=base_rate,
            year=year,
        )
        seconds = time.perf_counter() - start
        write_frame(df, output, metadata={"drgsim.synth_seed": str(seed)})
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(
        f"{df.height} cases of {hospitals} hospitals in {seconds:.1f} s; wrote {output}", err=True
    )


@main.group("dip")
def dip_cmd() -> None:
    """DIP (按病种分值): build or import a catalogue, match cases to it, pay them."""


def _money(text: str | None) -> float | dict[str, float] | None:
    """'1e8' or '职工=6e7,居民=4e7' → a number or a mapping by insurance type."""
    if text is None:
        return None
    try:
        if "=" not in text:
            return float(text)
        return {k.strip(): float(v) for k, v in (p.split("=", 1) for p in text.split(","))}
    except ValueError as e:
        raise click.BadParameter(f"{text!r}: expected a number or TYPE=NUMBER,...") from e


def _year_weights(text: str | None) -> dict[int, float] | None:
    if not text:
        return None
    try:
        return {int(k): float(v) for k, v in (p.split(":", 1) for p in text.split(","))}
    except ValueError as e:
        raise click.BadParameter(
            f"{text!r}: expected YEAR:WEIGHT,... e.g. 2022:1,2023:2,2024:7"
        ) from e


@dip_cmd.command("build")
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Catalogue file (.csv with catalogue.toml beside it, or .parquet).",
)
@click.option(
    "--threshold",
    type=click.IntRange(1),
    default=15,
    show_default=True,
    help="Cases a combination needs to become a core group (核心病种).",
)
@click.option(
    "--dx-length",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Characters of the principal diagnosis in a key (0 = the full code).",
)
@click.option("--scale", type=float, default=100, show_default=True)
@click.option("--year", "year_col", default=None, help="Year column (or a date column).")
@click.option("--year-weights", default=None, help="e.g. 2022:1,2023:2,2024:7")
@click.option("--cost", default="total_cost", show_default=True)
@click.option("--count-diagnostic", is_flag=True, help="Let 诊断性操作 count in combinations.")
@click.option("--name", default="", help="Catalogue name.")
def dip_build(
    inputs: tuple[Path, ...],
    output: Path,
    threshold: int,
    dx_length: int,
    scale: float,
    year_col: str | None,
    year_weights: str | None,
    cost: str,
    count_diagnostic: bool,
    name: str,
) -> None:
    """Build a DIP catalogue from historical cases in INPUTS (CSV or Parquet)."""
    from drgsim.dip import catalogue as cat

    try:
        _refuse_overwrite(inputs, [output, cat.meta_path(output)])
        df = pl.concat([read_cases(p) for p in inputs], how="diagonal_relaxed")
        c = cat.build(
            df,
            cost=cost,
            year=year_col,
            year_weights=_year_weights(year_weights),
            dx_length=dx_length,
            threshold=threshold,
            scale=scale,
            count_diagnostic=count_diagnostic,
            name=name,
        )
        cat.write(c, output)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    core = c.groups.filter(pl.col("kind") == "core").height
    click.echo(
        f"{c.groups.height} groups ({core} core, {c.groups.height - core} comprehensive) "
        f"from {df.height} cases; wrote {output}",
        err=True,
    )


@dip_cmd.command("import")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def dip_import(input: Path, output: Path) -> None:
    """Import a region's published catalogue (Chinese or project headers) into the layout."""
    from drgsim.dip import catalogue as cat

    try:
        _refuse_overwrite([input], [output, cat.meta_path(output)])
        c = cat.import_catalogue(input)
        cat.write(c, output)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(f"{c.groups.height} groups; wrote {output}", err=True)


@dip_cmd.command("group")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@catalogue_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def dip_group(input: Path, catalogue_path: Path, output: Path) -> None:
    """Match the cases in INPUT to a DIP catalogue; every case gets a group and a reason."""
    from drgsim.dip import catalogue as cat
    from drgsim.dip import match

    try:
        _refuse_overwrite([input, catalogue_path, cat.meta_path(catalogue_path)], [output])
        df = read_cases(input)
        start = time.perf_counter()
        out = match(df, cat.read(catalogue_path))
        seconds = time.perf_counter() - start
        write_frame(out, output)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    with pl.Config(tbl_rows=10):
        click.echo(out.group_by("dip_reason").len().sort("len", descending=True), err=True)
    click.echo(f"{out.height} cases in {seconds:.2f} s; wrote {output}", err=True)


@dip_cmd.command("pay")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@catalogue_option
@click.option(
    "-p",
    "--policy",
    "policy_path",
    default="dip",
    show_default=True,
    help="DIP policy TOML, or 'dip' for the shipped example.",
)
@click.option(
    "--fund", default=None, help="Fund available (结算点值): a number or 职工=...,居民=..."
)
@click.option("--spending", default=None, help="Expected spending (预算点值), same form.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def dip_pay(
    input: Path,
    catalogue_path: Path,
    policy_path: str,
    fund: str | None,
    spending: str | None,
    output: Path,
) -> None:
    """Pay DIP cases in INPUT (matching them first when they have no dip_group)."""
    from drgsim.dip import catalogue as cat
    from drgsim.dip import match
    from drgsim.dip import payment as dpay
    from drgsim.dip import policy as dpol

    try:
        _refuse_overwrite(
            [input, catalogue_path, cat.meta_path(catalogue_path), policy_path], [output]
        )
        pol = dpol.example() if policy_path == "dip" else dpol.load_policy(policy_path)
        c = cat.read(catalogue_path)
        df = read_cases(input)
        if "dip_group" not in df.columns:
            df = match(df, c)
        f, sp = _money(fund), _money(spending)
        out = dpay.pay(df, pol, fund=f, spending=sp, catalogue=c)
        values = dpay.point_values(out, pol, fund=f, spending=sp)
        hospitals = dpay.by_hospital(out, pol)
        write_frame(out, output)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    with pl.Config(tbl_rows=30, tbl_width_chars=140, thousands_separator=True):
        click.echo(values, err=True)
        click.echo(hospitals, err=True)
    click.echo(
        f"point value: {dpay.point_value_mode(pol, fund=f, spending=sp)}; "
        f"{out.height} cases; wrote {output}",
        err=True,
    )


@main.command("settle")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-s",
    "--settlement",
    "settlement_path",
    default="example",
    show_default=True,
    help="Settlement policy TOML, or 'example' for the shipped one.",
)
@unpaid_policy_option
@tables_option
@click.option("--by", default="hospital_id", show_default=True)
@click.option("--budget", type=float, default=None, help="Region total budget (总额预算).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Per-hospital settlement (.parquet or .csv); the monthly path is written "
    "beside it with the suffix _monthly.",
)
def settle_cmd(
    input: Path,
    settlement_path: str,
    policy_path: str,
    tables: str,
    by: str,
    budget: float | None,
    output: Path,
) -> None:
    """Year-end settlement (结余留用 / 超支分担) of the cases in INPUT, by hospital."""
    from drgsim.settlement import settle

    monthly = output.with_name(f"{output.stem}_monthly{output.suffix}")
    try:
        _refuse_overwrite([input, settlement_path, policy_path], [output, monthly])
        sp = _settlement_policy(settlement_path)
        df = _paid(read_cases(input), tables, policy_path)
        result = settle(df, sp, by=by, budget=budget)
        write_frame(result.with_total(), output)
        write_frame(result.monthly, monthly)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(result.summary(), err=True)
    click.echo(f"wrote {output}", err=True)


@main.command("simulate")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--scenario",
    "-s",
    "scenario_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "-p",
    "--policy",
    "policy_path",
    default="rate",
    show_default=True,
    help="Payment policy TOML, or 'rate' / 'points'.",
)
@click.option(
    "--settlement",
    "settlement_path",
    default="example",
    show_default=True,
    help="Settlement policy TOML, or 'example'.",
)
@tables_option
@click.option(
    "--draws",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Monte Carlo draws of volumes and costs for the scenario (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Comparison by department (.parquet or .csv); tables by hospital, doctor "
    "and DRG are written beside it with those suffixes.",
)
def simulate_cmd(
    input: Path,
    scenario_path: Path,
    policy_path: str,
    settlement_path: str,
    tables: str,
    draws: int,
    seed: int,
    output: Path,
) -> None:
    """Apply a scenario to the cases in INPUT and compare it with the baseline."""
    from drgsim.montecarlo import montecarlo
    from drgsim.simulation import simulate

    suffixes = ("", "_hospital", "_doctor", "_drg")
    try:
        _refuse_overwrite(
            [input, scenario_path, policy_path, settlement_path],
            [output.with_name(f"{output.stem}{s}{output.suffix}") for s in suffixes],
        )
        pol = _payment_policy(policy_path)
        sp = _settlement_policy(settlement_path)
        r = simulate(
            read_cases(input), scenario_path, pol, tables=tables_mod.load(tables), settlement=sp
        )
        frames = (r.by_department, r.by_hospital, r.by_doctor, r.by_drg)
        for suffix, frame in zip(suffixes, frames, strict=True):
            if frame is not None:
                write_frame(frame, output.with_name(f"{output.stem}{suffix}{output.suffix}"))
        mc = None
        if draws and r.settlement_baseline is not None:
            mc = montecarlo(
                r.simulated,
                r.policy_scenario,
                r.settlement_policy_scenario,
                draws=draws,
                seed=seed,
                budget=r.settlement_baseline.region["budget"],
            )
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(r.summary(), err=True)
    if mc is not None:
        click.echo(mc.summary(), err=True)
    click.echo(f"wrote {output}", err=True)


@main.command("audit")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@tables_option
@click.option("-w", "--weights", default=None, help="Weights (default: the table set's).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def audit_cmd(input: Path, tables: str, weights: str | None, output: Path) -> None:
    """Coding-audit counterfactuals: cases that hang on one code, cases one complication
    would move up."""
    from drgsim.counterfactual import counterfactual

    try:
        _refuse_overwrite([input, weights], [output])
        df = read_cases(input)
        start = time.perf_counter()
        out = counterfactual(df, tables_mod.load(tables), weights=weights)
        seconds = time.perf_counter() - start
        write_frame(out, output)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(out.group_by("cf_flag").len().sort("len", descending=True), err=True)
    click.echo(f"{out.height} cases in {seconds:.2f} s; wrote {output}", err=True)


@main.command("explain")
@tables_option
@click.option("--sex", type=str, default="1", show_default=True)
@click.option("--age", type=float, required=True)
@click.option("--age-days", type=float, default=None)
@click.option("--birth-weight", type=float, default=None)
@click.option("--los", type=float, default=None)
@click.option("--discharge", type=float, default=None)
@click.option("--dx", required=True, help="Diagnoses, principal first, '|'-separated.")
@click.option("--px", default="", help="Procedures, principal first, '|'-separated.")
@click.option("--lang", type=click.Choice(["both", "zh", "en"]), default="both")
def explain_cmd(
    tables: str,
    sex: str,
    age: float,
    age_days: float | None,
    birth_weight: float | None,
    los: float | None,
    discharge: float | None,
    dx: str,
    px: str,
    lang: str,
) -> None:
    """Print the path one case takes through the grouper."""
    case = {
        "sex": sex,
        "age": age,
        "age_days": age_days,
        "birth_weight_g": birth_weight,
        "los_days": los,
        "discharge_type": discharge,
        "dx": dx,
        "px": px,
    }
    try:
        explain(case, tables, lang=lang)
    except DrgsimError as e:
        _fail(e)


@main.command("report")
@click.argument("input", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for report.xlsx and report.html.",
)
@unpaid_policy_option
@tables_option
@click.option("--title", default="DRG 付费分析报告", show_default=True)
def report_cmd(input: Path, out_dir: Path, policy_path: str, tables: str, title: str) -> None:
    """Excel workbook and offline HTML report of the cases in INPUT (grouped and paid first
    when they are not yet)."""
    from drgsim.report import report

    try:
        _refuse_overwrite([input, policy_path], [out_dir / "report.xlsx", out_dir / "report.html"])
        df = _paid(read_cases(input), tables, policy_path)
        files = report(df, out_dir, title=title)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    for kind, path in files.items():
        click.echo(f"{kind}: {path}")


@main.command("demo")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("drgsim-demo"),
    show_default=True,
    help="Folder for the report.",
)
@click.option("--cases", type=click.IntRange(1000), default=50_000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@tables_option
def demo(out_dir: Path, cases: int, seed: int, tables: str) -> None:
    """The main job on built-in defaults: a synthetic hospital grouped, paid, settled and
    simulated under one scenario, with the Excel and HTML report (no files needed)."""
    from drgsim import demo as demo_mod

    try:
        result = demo_mod.run(out_dir, cases=cases, seed=seed, tables=tables)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(result["summary"])


def _progress_bar(label: str) -> Any:
    """A rich progress bar on stderr showing cases, cases per second and time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} cases/s"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


class _Rate:
    """Feeds a progress bar: cases done, cases per second, total when known."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.task = bar.add_task("cases", total=None, rate="-")
        self.done = 0
        self.start = time.perf_counter()

    def start_units(self, _units: Any, total: int | None) -> None:
        self.bar.update(self.task, total=total)
        self.start = time.perf_counter()

    def __call__(self, n: int) -> None:
        self.done += n
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        self.bar.update(self.task, completed=self.done, rate=f"{rate:,.0f}")


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[dict[str, Any]]:
    """The ``progress`` and ``on_start`` hooks of a streaming job, feeding a progress bar
    (none when ``quiet``)."""
    if quiet:
        yield {}
        return
    with _progress_bar(label) as bar:
        rate = _Rate(bar)
        yield {"progress": rate, "on_start": rate.start_units}


@main.command("regroup")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@tables_option
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder: one Parquet file per input file, at the same relative path.",
)
@map_option
@click.option(
    "--batch-rows",
    type=click.IntRange(1),
    default=BATCH_ROWS,
    show_default=True,
    help="Cases per record batch (memory grows with it, not with the input).",
)
@click.option("--threads", type=click.IntRange(1), default=None, help="Grouping threads.")
@click.option(
    "--compression",
    type=click.Choice(["zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed"]),
    default="zstd",
    show_default=True,
)
@click.option(
    "--keep",
    "keep",
    multiple=True,
    metavar="COLUMN",
    help="Input column to carry into the output (repeatable; default: every input column).",
)
@click.option("--force", is_flag=True, help="Regroup files whose output is already complete.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def regroup_cmd(
    inputs: tuple[Path, ...],
    tables: str,
    output: Path,
    maps: tuple[str, ...],
    batch_rows: int,
    threads: int | None,
    compression: str,
    keep: tuple[str, ...],
    force: bool,
    quiet: bool,
) -> None:
    """Regroup INPUT... (Parquet or CSV files, or partitioned dataset folders) into
    partitioned Parquet under OUTPUT, streaming in record batches with bounded memory.

    Each output records the tables' name, content hash and the drgsim version (file metadata
    and columns). Outputs are written under a temporary name and renamed when complete; run
    the same command again after an interruption and finished files are skipped.
    """
    from drgsim.stream import regroup

    try:
        ts = tables_mod.load(tables)
        kwargs: dict[str, Any] = {
            "columns": _parse_maps(maps),
            "batch_rows": batch_rows,
            "threads": threads,
            "compression": compression,
            "keep": list(keep) or None,
            "force": force,
        }
        with _progress("regrouping", quiet) as hooks:
            run = regroup(list(inputs), ts, output, **hooks, **kwargs)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    if not quiet:
        click.echo(run.summary(), err=True)


@main.command("compare")
@click.argument("old")
@click.argument("new")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--old-weights", default=None, help="Weights of OLD (default: its built-in ones).")
@click.option("--new-weights", default=None, help="Weights of NEW (default: its built-in ones).")
@click.option(
    "-p",
    "--policy",
    "policy_path",
    default="rate",
    show_default=True,
    help="Payment policy applied under both sets: 'rate', 'points' or a TOML file; 'none' "
    "to compare weights only.",
)
@click.option(
    "--by",
    "levels",
    multiple=True,
    help="Level to report by (repeatable; default: hospital_id and department if present).",
)
@map_option
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for report.md, matrix.csv and by_<level>.csv.",
)
@click.option("--batch-rows", type=click.IntRange(1), default=BATCH_ROWS, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def compare_cmd(
    old: str,
    new: str,
    inputs: tuple[Path, ...],
    old_weights: str | None,
    new_weights: str | None,
    policy_path: str,
    levels: tuple[str, ...],
    maps: tuple[str, ...],
    out_dir: Path | None,
    batch_rows: int,
    quiet: bool,
) -> None:
    """Regroup the cases of INPUT... under table sets OLD and NEW in one pass and report the
    migration matrix (which DRG went where, cases and weight change) and the CMI and
    payment shift by hospital and department."""
    from drgsim.compare import impact

    try:
        policy = None if policy_path == "none" else _payment_policy(policy_path)
        if out_dir is not None:
            from drgsim.stream import check_output

            check_output(inputs, out_dir)
        kwargs: dict[str, Any] = {
            "weights_old": old_weights,
            "weights_new": new_weights,
            "policy": policy,
            "by": list(levels) or None,
            "columns": _parse_maps(maps),
            "batch_rows": batch_rows,
        }
        with _progress("comparing", quiet) as hooks:
            result = impact(list(inputs), old, new, **hooks, **kwargs)
        if out_dir is not None:
            written = result.write(out_dir)
    except (DrgsimError, OSError) as e:
        _fail(e)
        return
    click.echo(result.markdown(top=15 if out_dir is None else 30), nl=False)
    if out_dir is not None and not quiet:
        click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
