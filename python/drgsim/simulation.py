"""What-if simulation: baseline and scenario, grouped, paid and settled, and their differences.

:func:`simulate` runs the baseline (group if needed → :func:`drgsim.pay` →
:func:`drgsim.settlement.settle`) and the scenario (apply the changes of a
:class:`drgsim.scenario.Scenario`, regrouping only the rows a coding, stay or version change
touched → pay under the scenario's policy → settle under the scenario's settlement policy),
and compares them by hospital, department, doctor and DRG.

Comparison tables
-----------------
One row per key (a key present on one side only has zeros on the other), and per measure
three columns ``<measure>_base``, ``<measure>_scenario`` and ``<measure>_delta``
(scenario − baseline):

==================  ======================================================================
measure             meaning
==================  ======================================================================
``cases``           number of cases
``revenue``         Σ paid (the DRG value of the cases)
``cost``            Σ actual cost
``profit``          盈亏: Σ (paid − cost)
``rw``              Σ RW of the cases with a weight; ``cmi`` = rw ÷ ``rw_cases`` (CMI)
``n_<class>``       cases per class (normal, high, low, special, excluded)
==================  ======================================================================

The hospital table and :attr:`SimulationResult.totals` also carry the settlement figures of
:attr:`drgsim.settlement.Settlement.hospitals` (``drg_value``, ``actual_cost``,
``surplus_kept``, ``overspend_borne``, ``fund_paid_total`` …; ``profit`` of the settlement is
``settlement_profit``). The region's total budget is set in advance: a budget the settlement
policy derives from the value (``[budget] of_value``) is taken from the baseline and kept for
the scenario, unless the scenario changes the budget.

Examples
--------
>>> import drgsim
>>> from drgsim.policy import example
>>> from drgsim.scenario import Cost, Scenario, Where
>>> from drgsim.simulation import simulate
>>> cases = drgsim.synth.hospital(cases=2_000, hospitals=2, seed=1)
>>> s = Scenario("cheaper", changes=(Cost(Where(), relative=-0.05),))
>>> r = simulate(cases, s, example("rate"))
>>> r.totals["cases_delta"][0], r.totals["cost_delta"][0] < 0
(0, True)
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from drgsim.grouping import RESULT_COLUMNS, group_frame
from drgsim.payment import CLASSES, pay
from drgsim.policy import Policy
from drgsim.scenario import (
    Scenario,
    ScenarioError,
    SettlementChange,
    Tables,
    apply,
    apply_policy,
    apply_settlement,
    load_scenario,
    with_key,
)
from drgsim.settlement import Settlement, SettlementPolicy, example_settlement, settle

__all__ = [
    "MEASURES",
    "SimulationResult",
    "compare_tables",
    "measures",
    "recompute",
    "reconcile",
    "simulate",
]

#: Measures of the comparison tables (each as ``_base``, ``_scenario`` and ``_delta``).
MEASURES: tuple[str, ...] = (
    "cases",
    "revenue",
    "cost",
    "profit",
    "rw",
    "rw_cases",
    "cmi",
    *(f"n_{c}" for c in CLASSES),
)
#: The comparison tables: name → case column.
BY: dict[str, str] = {
    "hospital": "hospital_id",
    "department": "department",
    "doctor": "doctor_id",
    "drg": "drg",
}
_SETTLE_SKIP = ("cases", "quality_score")


def measures(
    paid: pl.DataFrame, keys: Sequence[str], cost_column: str = "total_cost"
) -> pl.DataFrame:
    """The measures of :data:`MEASURES` per key (all cases when ``keys`` is empty).

    Parameters
    ----------
    paid : polars.DataFrame
        Output of :func:`drgsim.pay`.
    keys : sequence of str
        Grouping columns.
    cost_column : str
    """
    cost = (
        pl.col(cost_column).cast(pl.Float64, strict=False)
        if cost_column in paid.columns
        else pl.lit(0.0)
    )
    aggs = [
        pl.len().cast(pl.Int64).alias("cases"),
        pl.col("paid").fill_null(0.0).sum().alias("revenue"),
        cost.fill_null(0.0).sum().alias("cost"),
        pl.col("profit").fill_null(0.0).sum().alias("profit"),
        pl.col("rw").fill_null(0.0).sum().alias("rw"),
        pl.col("rw").is_not_null().sum().cast(pl.Int64).alias("rw_cases"),
        *((pl.col("case_class") == c).sum().cast(pl.Int64).alias(f"n_{c}") for c in CLASSES),
    ]
    out = paid.select(aggs) if not keys else paid.group_by(list(keys)).agg(aggs)
    return out.with_columns(
        cmi=pl.when(pl.col("rw_cases") > 0).then(pl.col("rw") / pl.col("rw_cases"))
    ).select(*keys, *MEASURES)


def _settle_frame(s: Settlement | None) -> pl.DataFrame | None:
    if s is None:
        return None
    h = s.hospitals.drop([c for c in _SETTLE_SKIP if c in s.hospitals.columns])
    return h.rename({"profit": "settlement_profit"}).with_columns(pl.col(s.by).cast(pl.String))


def compare_tables(base: pl.DataFrame, scen: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Join two per-key tables of the same numeric columns into ``_base``, ``_scenario`` and
    ``_delta`` columns (a key missing on one side counts zero there; ``cmi`` stays null)."""
    keys = list(keys)
    cols = [c for c in base.columns if c not in keys]
    if keys:
        b = base.with_columns(pl.col(k).cast(pl.String) for k in keys)
        s = scen.with_columns(pl.col(k).cast(pl.String) for k in keys)
        j = b.join(s, on=keys, how="full", coalesce=True, suffix="_scenario", nulls_equal=True)
    else:
        j = pl.concat([base, scen.rename({c: f"{c}_scenario" for c in cols})], how="horizontal")
    j = j.rename({c: f"{c}_base" for c in cols})
    exprs = []
    for c in cols:
        b_, s_ = pl.col(f"{c}_base"), pl.col(f"{c}_scenario")
        if c != "cmi":
            b_, s_ = b_.fill_null(0), s_.fill_null(0)
        exprs += [b_.alias(f"{c}_base"), s_.alias(f"{c}_scenario"), (s_ - b_).alias(f"{c}_delta")]
    out = j.select(*keys, *exprs)
    return out.sort(keys, nulls_last=True) if keys else out


@dataclass
class SimulationResult:
    """The result of :func:`simulate`.

    Attributes
    ----------
    scenario : Scenario
    baseline, simulated : polars.DataFrame
        Paid cases of the baseline and of the scenario (with ``scenario_key``; the scenario
        also with ``touched``).
    by_hospital, by_department, by_doctor, by_drg : polars.DataFrame or None
        Comparison tables (see the module docstring); None when the cases lack the column.
    totals : polars.DataFrame
        One row: the same measures for all cases (and the region's settlement totals).
    settlement_baseline, settlement_scenario : Settlement or None
        The two settlements (None when no settlement policy applies).
    policy_baseline, policy_scenario : Policy
    settlement_policy_baseline, settlement_policy_scenario : SettlementPolicy or None
    tables_baseline, tables_scenario : table set
    regrouped : int
        Rows passed to the grouper for the scenario.
    seconds : dict
        Wall time of the steps.
    """

    scenario: Scenario
    baseline: pl.DataFrame
    simulated: pl.DataFrame
    by_hospital: pl.DataFrame | None
    by_department: pl.DataFrame | None
    by_doctor: pl.DataFrame | None
    by_drg: pl.DataFrame | None
    totals: pl.DataFrame
    settlement_baseline: Settlement | None
    settlement_scenario: Settlement | None
    policy_baseline: Policy
    policy_scenario: Policy
    settlement_policy_baseline: SettlementPolicy | None
    settlement_policy_scenario: SettlementPolicy | None
    tables_baseline: Any
    tables_scenario: Any
    regrouped: int
    seconds: dict[str, float] = field(default_factory=dict)

    def table(self, by: str) -> pl.DataFrame:
        """A comparison table: ``hospital``, ``department``, ``doctor``, ``drg`` or ``total``."""
        if by == "total":
            return self.totals
        t = {"hospital": self.by_hospital, "department": self.by_department,
             "doctor": self.by_doctor, "drg": self.by_drg}.get(by)  # fmt: skip
        if t is None:
            raise ScenarioError(f"no comparison table by {by!r}")
        return t

    def check_totals(self, rtol: float = 1e-9) -> None:
        """Check that Σ by hospital = Σ by department = Σ by doctor = the totals, for every
        summed measure of the three sides.

        Raises
        ------
        AssertionError
            With the table and the column that do not add up.
        """
        total = self.totals.row(0, named=True)
        for name, t in (("hospital", self.by_hospital), ("department", self.by_department),
                        ("doctor", self.by_doctor)):  # fmt: skip
            if t is None:
                continue
            for m in MEASURES:
                if m == "cmi":
                    continue
                for side in ("base", "scenario", "delta"):
                    c = f"{m}_{side}"
                    got, want = float(t[c].sum()), float(total[c])
                    if abs(got - want) > rtol * max(1.0, abs(want)):
                        raise AssertionError(f"Σ {c} by {name} = {got} ≠ total {want}")

    def summary(self, top: int = 5) -> str:
        """A short text report: totals, settlement, and the departments that move most."""
        t = self.totals.row(0, named=True)
        lines = [
            f"scenario {self.scenario.name}: {len(self.scenario.changes)} change(s), "
            f"{self.regrouped:,} rows regrouped, "
            f"{int(self.simulated['touched'].sum()):,} cases touched",
        ]
        for m, label in (("cases", "cases"), ("revenue", "revenue"), ("cost", "cost"),
                         ("profit", "盈亏 profit")):  # fmt: skip
            lines.append(
                f"  {label:<12} {t[f'{m}_base']:>18,.0f} → {t[f'{m}_scenario']:>18,.0f}"
                f"  Δ {t[f'{m}_delta']:>+16,.0f}"
            )
        if t["cmi_base"] is not None and t["cmi_scenario"] is not None:
            lines.append(
                f"  {'CMI':<12} {t['cmi_base']:>18.4f} → {t['cmi_scenario']:>18.4f}"
                f"  Δ {t['cmi_delta']:>+16.4f}"
            )
        for m in ("surplus_kept", "overspend_borne", "fund_paid_total"):
            if f"{m}_base" in t:
                lines.append(
                    f"  {m:<12} {t[f'{m}_base']:>18,.0f} → {t[f'{m}_scenario']:>18,.0f}"
                    f"  Δ {t[f'{m}_delta']:>+16,.0f}"
                )
        if self.by_department is not None and self.by_department.height:
            d = self.by_department.sort(pl.col("profit_delta").abs(), descending=True).head(top)
            lines.append(f"  departments with the largest Δ profit (top {top}):")
            for r in d.iter_rows(named=True):
                lines.append(
                    f"    {r['department']}: cases Δ {r['cases_delta']:+,}, revenue Δ "
                    f"{r['revenue_delta']:+,.0f}, profit Δ {r['profit_delta']:+,.0f}"
                )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        parts = [f"<pre>{html.escape(self.summary())}</pre>"]
        if self.by_hospital is not None:
            cols = [
                c for c in self.by_hospital.columns if c == "hospital_id" or c.endswith("_delta")
            ]
            parts.append("<b>by hospital (Δ scenario − baseline)</b>")
            parts.append(self.by_hospital.select(cols)._repr_html_())
        return "".join(parts)


def _group_all(df: pl.DataFrame, tables: Tables) -> pl.DataFrame:
    cols = df.columns
    return group_frame(df, tables).select(cols + [c for c in RESULT_COLUMNS if c not in cols])


def _budget_fixed(scenario: Scenario) -> bool:
    return not any(
        k.startswith("budget") for c in scenario.changes if isinstance(c, SettlementChange)
        for k in (*c.set, *c.scale)
    )  # fmt: skip


def simulate(
    cases: pl.DataFrame,
    scenario: Scenario | str | os.PathLike[str],
    policy: Policy,
    *,
    tables: Tables = "teaching",
    settlement: SettlementPolicy | None = None,
    by: Sequence[str] = ("hospital", "department", "doctor", "drg"),
    regroup: str = "touched",
) -> SimulationResult:
    """Run a scenario against its baseline and compare them.

    Parameters
    ----------
    cases : polars.DataFrame
        Cases, grouped (e.g. :func:`drgsim.synth.hospital`) or not (they are grouped under
        ``tables``), with the cost and other columns the policy needs.
    scenario : Scenario or path
        A :class:`~drgsim.scenario.Scenario` or a scenario TOML file.
    policy : Policy
        The baseline payment policy; the scenario's ``policy`` changes apply on top of it.
    tables : str, path or TableSet, default "teaching"
        The baseline table set.
    settlement : SettlementPolicy, optional
        The baseline settlement policy (default :func:`drgsim.settlement.example_settlement`).
    by : sequence of str
        Comparison tables to build, of ``hospital``, ``department``, ``doctor``, ``drg``.
    regroup : {"touched", "all"}
        ``touched`` regroups only the rows a change touched; ``all`` regroups every row,
        baseline included, from scratch (what :func:`recompute` does for checking).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ScenarioError
        The scenario is malformed or names a field the policies do not have.
    """
    t0 = time.perf_counter()
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    secs: dict[str, float] = {}
    base_cases = with_key(cases)
    if regroup == "all" or any(c not in base_cases.columns for c in RESULT_COLUMNS):
        base_cases = _group_all(base_cases, tables)
    sp = settlement if settlement is not None else example_settlement()
    pol_s = apply_policy(policy, sc)
    sp_s = apply_settlement(sp, sc)
    base_paid = pay(base_cases, policy)
    secs["baseline"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    applied = apply(base_cases, sc, tables=tables, regroup=regroup,
                    los_column=policy.los_column, cost_column=policy.cost_column)  # fmt: skip
    secs["apply"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    scen_paid = pay(applied.cases, pol_s)
    secs["pay"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    hcol = policy.hospital.hospital_column
    s_base = s_scen = None
    if hcol in base_paid.columns:
        s_base = settle(base_paid, sp, by=hcol)
        budget = s_base.region.get("budget")
        fixed = budget is not None and sp_s.budget.total is None and _budget_fixed(sc)
        s_scen = settle(scen_paid, sp_s, by=hcol, budget=budget if fixed else None)
    secs["settle"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    cost = policy.cost_column
    tables_out: dict[str, pl.DataFrame | None] = {k: None for k in BY}
    for name in by:
        if name not in BY:
            raise ScenarioError(f"by: unknown table {name!r}; known: {', '.join(BY)}")
        col = hcol if name == "hospital" else BY[name]
        if col not in base_paid.columns:
            continue
        t = compare_tables(
            measures(base_paid, [col], cost), measures(scen_paid, [col], cost), [col]
        )
        if name == "hospital":
            sb, ss = _settle_frame(s_base), _settle_frame(s_scen)
            if sb is not None and ss is not None:
                t = t.join(compare_tables(sb, ss, [col]), on=col, how="left")
        tables_out[name] = t
    totals = compare_tables(measures(base_paid, [], cost), measures(scen_paid, [], cost), [])
    if s_base is not None and s_scen is not None:
        tb = _settle_frame(_total(s_base))
        ts = _settle_frame(_total(s_scen))
        assert tb is not None and ts is not None
        totals = pl.concat([totals, compare_tables(tb.drop(hcol), ts.drop(hcol), [])],
                           how="horizontal")  # fmt: skip
    secs["compare"] = time.perf_counter() - t1
    secs["total"] = time.perf_counter() - t0
    return SimulationResult(
        scenario=sc,
        baseline=base_paid,
        simulated=scen_paid,
        by_hospital=tables_out["hospital"],
        by_department=tables_out["department"],
        by_doctor=tables_out["doctor"],
        by_drg=tables_out["drg"],
        totals=totals,
        settlement_baseline=s_base,
        settlement_scenario=s_scen,
        policy_baseline=policy,
        policy_scenario=pol_s,
        settlement_policy_baseline=sp,
        settlement_policy_scenario=sp_s,
        tables_baseline=tables,
        tables_scenario=applied.tables,
        regrouped=applied.regrouped,
        seconds=secs,
    )


def _total(s: Settlement) -> Settlement:
    t = s.total().with_columns(pl.col(s.by).cast(pl.String))
    return Settlement(hospitals=t, monthly=s.monthly, region=s.region, policy=s.policy, by=s.by)


def recompute(
    cases: pl.DataFrame,
    scenario: Scenario | str | os.PathLike[str],
    policy: Policy,
    *,
    tables: Tables = "teaching",
    settlement: SettlementPolicy | None = None,
) -> SimulationResult:
    """:func:`simulate` from scratch: every row of the baseline and of the scenario regrouped
    (after every change that alters grouper inputs, and at the end; result columns already
    in ``cases`` are ignored), then paid and settled.

    The reference :func:`reconcile` checks a :func:`simulate` result against.
    """
    return simulate(
        cases,
        scenario,
        policy,
        tables=tables,
        settlement=settlement,
        regroup="all",
    )


def reconcile(
    result: SimulationResult,
    full: SimulationResult,
    *,
    tables: Sequence[str] = ("hospital", "department", "doctor", "drg", "total"),
    rtol: float = 1e-9,
) -> pl.DataFrame:
    """Compare two results column by column (typically a :func:`simulate` result with its
    :func:`recompute`).

    Returns
    -------
    polars.DataFrame
        One row per table and numeric column: ``table``, ``column``, ``max_abs_diff`` and
        ``ok`` (within ``rtol`` of the larger magnitude, or 1e-6 absolute); every ``ok`` is
        true when the two reconcile. Tables whose keys differ are reported with a null
        difference and ``ok`` false.
    """
    rows: list[dict[str, Any]] = []
    for name in tables:
        a, b = _opt(result, name), _opt(full, name)
        if a is None or b is None:
            continue
        keys = [c for c in a.columns if a.schema[c] == pl.String]
        if keys:
            a, b = a.sort(keys, nulls_last=True), b.sort(keys, nulls_last=True)
            if a.height != b.height or not a.select(keys).equals(b.select(keys)):
                rows.append({"table": name, "column": ",".join(keys), "max_abs_diff": None,
                             "ok": False})  # fmt: skip
                continue
        for c in a.columns:
            if c in keys or not a.schema[c].is_numeric():
                continue
            x = a[c].cast(pl.Float64).fill_null(0.0).to_numpy()
            y = b[c].cast(pl.Float64).fill_null(0.0).to_numpy()
            diff = float(abs(x - y).max()) if x.size else 0.0
            scale = float(max(abs(x).max(), abs(y).max())) if x.size else 0.0
            rows.append({"table": name, "column": c, "max_abs_diff": diff,
                         "ok": diff <= max(1e-6, rtol * scale)})  # fmt: skip
    return pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "column": pl.String,
            "max_abs_diff": pl.Float64,
            "ok": pl.Boolean,
        },
    )


def _opt(r: SimulationResult, name: str) -> pl.DataFrame | None:
    try:
        return r.table(name)
    except ScenarioError:
        return None
