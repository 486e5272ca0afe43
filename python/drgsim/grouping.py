"""Group case frames into DRGs, and explain the path of one case."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl

from drgsim._core import __version__
from drgsim.columns import canonical_frame, resolve_columns
from drgsim.exceptions import InputError
from drgsim.tables import DEFAULT, TableSet, load

__all__ = [
    "RESULT_COLUMNS",
    "Explanation",
    "explain",
    "group",
    "group_frame",
    "provenance_columns",
    "provenance_metadata",
]

#: Columns added by :func:`group` (``trace`` only with ``trace=True``).
RESULT_COLUMNS: tuple[str, ...] = (
    "status",
    "reason",
    "message",
    "mdc",
    "adrg",
    "drg",
    "cc_level",
    "cc_code",
)

F = TypeVar("F")
Tables = str | os.PathLike[str] | TableSet


def _to_polars(frame: Any) -> tuple[pl.DataFrame, str]:
    if isinstance(frame, pl.DataFrame):
        return frame, "polars"
    if isinstance(frame, pl.LazyFrame):
        return frame.collect(), "lazy"
    if hasattr(frame, "__arrow_c_stream__"):
        kind = type(frame).__module__.split(".")[0]
        try:
            return pl.DataFrame(frame), kind
        except Exception as e:  # an exporter that polars cannot read
            raise InputError(f"cannot read the input through __arrow_c_stream__: {e}") from e
    raise InputError(
        f"expected a polars DataFrame or LazyFrame, or an object exporting __arrow_c_stream__ "
        f"(pyarrow, pandas, DuckDB ...), got {type(frame).__name__}"
    )


def _from_polars(df: pl.DataFrame, kind: str) -> Any:
    if kind == "lazy":
        return df.lazy()
    if kind == "pyarrow":
        return df.to_arrow()
    if kind == "pandas":
        return df.to_pandas()
    return df


def group_frame(
    df: pl.DataFrame,
    tables: Tables = DEFAULT,
    *,
    trace: bool = False,
    columns: Mapping[str, str] | None = None,
    provenance: bool = False,
    threads: int | None = None,
) -> pl.DataFrame:
    """Group a Polars DataFrame; see :func:`group`."""
    ts = load(tables)
    mapping = resolve_columns(df.schema, columns)
    canon = canonical_frame(df, mapping)
    result = pl.DataFrame(ts.grouper.group_arrow(canon, trace=trace, threads=threads))
    if result.height != df.height:  # the engine guarantees this; keep the promise checked
        raise InputError(f"engine returned {result.height} rows for {df.height} input rows")
    keep = [c for c in df.columns if c not in result.columns]
    out = pl.concat([df.select(keep), result], how="horizontal")
    if provenance:
        out = out.with_columns(
            pl.lit(value, dtype=pl.String).alias(name)
            for name, value in provenance_columns(ts).items()
        )
    return out


def provenance_columns(ts: TableSet) -> dict[str, str]:
    """The provenance of a result: ``tables_name``, ``tables_hash`` and ``drgsim_version``.

    The same names, prefixed with ``drgsim.``, are written into Parquet file metadata.

    Examples
    --------
    >>> from drgsim.tables import load
    >>> sorted(provenance_columns(load("teaching")))
    ['drgsim_version', 'tables_hash', 'tables_name']
    """
    return {"tables_name": ts.name, "tables_hash": ts.content_hash, "drgsim_version": __version__}


def provenance_metadata(ts: TableSet) -> dict[str, str]:
    """:func:`provenance_columns` as Parquet key-value metadata (keys ``drgsim.*``)."""
    return {f"drgsim.{k}": v for k, v in provenance_columns(ts).items()}


def group(
    frame: F,
    tables: Tables = DEFAULT,
    *,
    trace: bool = False,
    columns: Mapping[str, str] | None = None,
    provenance: bool = False,
    threads: int | None = None,
) -> F:
    """Group cases into MDC, ADRG and DRG.

    Parameters
    ----------
    frame : polars.DataFrame, polars.LazyFrame or any object exporting ``__arrow_c_stream__``
        One row per case with the canonical columns (see :mod:`drgsim.columns`) or
        recognised aliases (``gender``/``性别``/``gend``/``XB`` for ``sex`` …).
    tables : str, path or TableSet, default "teaching"
        The table set: a name (user-imported or built-in) or a folder.
    trace : bool, default False
        Add a ``trace`` column: per case the list of steps (step, rule, outcome, code, detail).
    columns : mapping, optional
        Explicit ``{canonical: actual}`` column choices.
    provenance : bool, default False
        Add ``tables_name``, ``tables_hash`` and ``drgsim_version`` columns.
    threads : int, optional
        Number of threads (default: all cores, or ``RAYON_NUM_THREADS``).

    Returns
    -------
    Same kind as ``frame``
        The input columns plus ``status`` (ok / qy / ungroupable / invalid), ``reason``,
        ``message``, ``mdc``, ``adrg``, ``drg`` ("0000" when not grouped), ``cc_level``
        (MCC / CC / none) and ``cc_code``; exactly one row per input row, in input order.
        Input columns with those names are replaced.

    Raises
    ------
    ColumnError
        A required column is missing or has a type that cannot hold its values.
    TableNotFoundError, TableError
        The table set cannot be found or is malformed.

    Examples
    --------
    >>> import polars as pl
    >>> import drgsim
    >>> cases = pl.DataFrame({
    ...     "sex": [1, 2],
    ...     "age": [45, 30],
    ...     "dx": ["K35.800x001", "O80.000"],
    ...     "px": ["47.0901", ""],
    ... })
    >>> out = drgsim.group(cases)
    >>> out.height, out.columns[-6:]
    (2, ['message', 'mdc', 'adrg', 'drg', 'cc_level', 'cc_code'])
    """
    df, kind = _to_polars(frame)
    out = group_frame(
        df, tables, trace=trace, columns=columns, provenance=provenance, threads=threads
    )
    return _from_polars(out, kind)  # type: ignore[no-any-return]


_STEP_NAMES = {
    "input": ("输入检查", "input check"),
    "cc": ("并发症/合并症", "complication"),
    "mdc": ("主要诊断大类", "MDC"),
    "adrg": ("核心疾病诊断相关组", "ADRG"),
    "qy": ("歧义组", "ambiguous group"),
    "drg": ("细分组", "DRG split"),
    "result": ("结果", "result"),
}
_OUTCOMES = {
    "pass": ("符合", "holds"),
    "fail": ("不符合", "does not hold"),
    "counted": ("计入", "counted"),
    "excluded": ("被排除", "excluded"),
    "invalid": ("无效", "invalid"),
}


@dataclass(frozen=True)
class Explanation:
    """The path one case took through the grouper.

    Attributes
    ----------
    result : dict
        The result columns of the case (status, reason, message, mdc, adrg, drg, cc_level,
        cc_code).
    steps : list of dict
        Each step with keys step, rule, outcome, code, detail.
    tables : str
        Name of the table set used.
    """

    result: dict[str, Any]
    steps: list[dict[str, Any]]
    tables: str

    @property
    def drg(self) -> str:
        """The DRG the case was grouped into ("0000" when none)."""
        return str(self.result["drg"])

    def text(self, lang: str = "both", failed: bool = True) -> str:
        """Render the path.

        Parameters
        ----------
        lang : {"both", "zh", "en"}
            Language of the step names.
        failed : bool
            Include the rules that were tried and did not hold.
        """
        r = self.result
        lines = [
            f"drgsim explain — {self.tables}",
            f"结果 result: {r['drg']}  (status {r['status']}, MDC {r['mdc'] or '-'}, "
            f"ADRG {r['adrg'] or '-'}, CC/MCC {r['cc_level'] or '-'}"
            + (f" by {r['cc_code']}" if r.get("cc_code") else "")
            + ")",
        ]
        if r.get("message"):
            lines.append(f"说明 note: {r['message']}")
        for i, s in enumerate(self.steps, 1):
            if not failed and s["outcome"] == "fail" and s["step"] != "result":
                continue
            zh, en = _STEP_NAMES.get(s["step"], (s["step"], s["step"]))
            ozh, oen = _OUTCOMES.get(s["outcome"], (s["outcome"], s["outcome"]))
            name = {"both": f"{zh} {en}", "zh": zh, "en": en}[lang]
            outcome = {"both": f"{ozh} {oen}", "zh": ozh, "en": oen}[lang]
            code = f" [{s['code']}]" if s.get("code") else ""
            detail = f"  — {s['detail']}" if s.get("detail") else ""
            lines.append(f"{i:3d}. {name}: {s['rule']} {outcome}{code}{detail}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Explanation {self.drg} ({len(self.steps)} steps, tables {self.tables})>"

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.text())}</pre>"


def explain(
    case: Mapping[str, Any] | pl.DataFrame,
    tables: Tables = DEFAULT,
    *,
    lang: str = "both",
    failed: bool = True,
    print_: bool = True,
) -> Explanation:
    """Explain the path one case takes: every MDC, ADRG and split tried, and why.

    Parameters
    ----------
    case : mapping or one-row DataFrame
        The case, with canonical names or aliases; ``dx``/``px`` as a list or a
        ``|``-separated string.
    tables : str, path or TableSet, default "teaching"
    lang : {"both", "zh", "en"}
        Language of the printed text.
    failed : bool, default True
        Also print the rules that were tried and did not hold.
    print_ : bool, default True
        Print the text (the returned object renders the same text with ``str()``).

    Examples
    --------
    >>> import drgsim
    >>> e = drgsim.explain({"sex": 1, "age": 45, "dx": "K35.800x001", "px": "47.0901"},
    ...                    print_=False)
    >>> e.result["status"]
    'ok'
    """
    if isinstance(case, pl.DataFrame):
        df = case
    else:
        row: dict[str, list[Any]] = {}
        for k, v in case.items():
            if isinstance(v, Sequence) and not isinstance(v, str):
                row[k] = [list(v)]
            else:
                row[k] = [v]
        df = pl.DataFrame(row, strict=False)
    if df.height != 1:
        raise InputError(f"explain takes one case, got {df.height} rows")
    ts = load(tables)
    out = group_frame(df, ts, trace=True)
    rec = out.row(0, named=True)
    steps = [dict(s) for s in rec.pop("trace") or []]
    result = {k: rec.get(k) for k in RESULT_COLUMNS}
    e = Explanation(result=result, steps=steps, tables=ts.name)
    if print_:
        print(e.text(lang=lang, failed=failed))
    return e
