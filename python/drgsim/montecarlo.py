"""Monte Carlo of a year's settlement: uncertain volumes and costs, numba-compiled.

:func:`montecarlo` takes paid cases (a baseline or a scenario: :func:`drgsim.pay` output,
e.g. :attr:`drgsim.simulation.SimulationResult.simulated`) and draws, many times, the year
that could have happened instead:

- **Volumes**, per cell (hospital × DRG) with ``n`` observed cases: ``fixed`` (``n``),
  ``poisson`` (N ~ Poisson(n), independent cells) or ``multinomial`` (each hospital's total
  fixed, spread over its DRGs in the observed proportions).
- **Cases** of a cell: with ``resample=True`` N cases drawn with replacement from the cell
  (bootstrap); otherwise every observed case counts N ÷ n times.
- **Costs**: each drawn case's cost × exp(σ Z − σ² ⁄ 2), Z standard normal, σ = ``cost_sigma``
  (one number, or per DRG); the factor has mean 1, so costs keep their expected value.

Each drawn case is classed and paid again under the policy's class rules (a case whose cost
crosses the high or low threshold changes class; excluded and special cases keep their
class), summed per hospital into the DRG value V and the actual cost C, and settled with the
band formulas of :mod:`drgsim.settlement` (:func:`drgsim.settlement.band_amount` is applied to the
draws): surplus S = max(V − C, 0) and overspend O = max(C − V, 0); ``surplus_kept`` by the
surplus bands; ``overspend_shared`` by the overspend bands, scaled down when the region's
total exceeds the 调剂金; ``overspend_borne`` = O − shared; ``net`` = kept − borne (the
settlement's effect on the hospital's result relative to its cost); the floating point value
rescales point-valued cases when the policy enables it. The region's budget is fixed in
advance: by default that of :func:`drgsim.settlement.settle` on the given cases. Limits on the
settled amount and the deposit are not drawn (they do not depend on the bands).

With ``volume="fixed"``, ``resample=False`` and ``cost_sigma=0`` every draw is the observed
year and the result equals :func:`drgsim.settlement.settle` (up to the order of summation).

The kernel runs draws in parallel (``numba.prange``); each draw seeds its own generator
(``seed``, draw number), so results do not depend on the number of threads.

Examples
--------
>>> import drgsim
>>> from drgsim.montecarlo import montecarlo
>>> from drgsim.policy import example
>>> paid = drgsim.pay(drgsim.synth.hospital(cases=2_000, hospitals=2, seed=1), example("rate"))
>>> mc = montecarlo(paid, example("rate"), draws=200, cost_sigma=0.1, seed=1)
>>> sorted(mc.risk["hospital_id"].to_list())
['H01', 'H02', 'total']
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit, prange

from drgsim.exceptions import ColumnError
from drgsim.payment import high_threshold
from drgsim.policy import Policy
from drgsim.settlement import Settlement, SettlementPolicy, band_amount, example_settlement, settle

__all__ = ["MEASURES", "VOLUMES", "MonteCarloResult", "case_arrays", "montecarlo", "repaid"]

VOLUMES = ("fixed", "poisson", "multinomial")
#: Measures drawn per hospital and for the region.
MEASURES: tuple[str, ...] = (
    "cases",
    "drg_value",
    "actual_cost",
    "surplus",
    "surplus_kept",
    "overspend",
    "overspend_shared",
    "overspend_borne",
    "net",
)
_RULES = {"items": 0, "standard": 1, "cost_ratio": 2, "standard_plus_excess": 3}
_EXCLUDED, _SPECIAL, _CLASSED = 0, 1, 2

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# ------------------------------------------------------------------------------ kernels


@njit(cache=True)
def _rule(rule: int, c: float, s: float, t: float, items_ratio: float, excess: float) -> float:
    if rule == 0:
        return c * items_ratio
    if rule == 1:
        return s
    if rule == 2:
        return min(c, s)
    return s + max(c - t * s, 0.0) * excess


@njit(cache=True)
def _paid(kind: int, c: float, s: float, t: float, low: float, hi_rule: int, lo_rule: int,
          sp_rule: int, items_ratio: float, excess: float) -> float:  # fmt: skip
    """A case's payment under the class rules of :func:`drgsim.pay` (NaN = null)."""
    if kind == 0:
        return c * items_ratio
    if kind == 1:
        return _rule(sp_rule, c, s, t, items_ratio, excess)
    if c > t * s:
        return _rule(hi_rule, c, s, t, items_ratio, excess)
    if c < low * s:
        return _rule(lo_rule, c, s, t, items_ratio, excess)
    return s


@njit(cache=True)
def _repaid(kind: IntArray, cost: FloatArray, std: FloatArray, thr: FloatArray,
            params: FloatArray, rules: IntArray) -> FloatArray:  # fmt: skip
    out = np.empty(cost.size)
    for i in range(cost.size):
        out[i] = _paid(kind[i], cost[i], std[i], thr[i], params[0], rules[0], rules[1],
                       rules[2], params[1], params[2])  # fmt: skip
    return out


@njit(parallel=True, cache=True)
def _draws(
    cell_start: IntArray,
    cell_hosp: IntArray,
    hosp_cells: IntArray,
    n_hosp: int,
    kind: IntArray,
    cost: FloatArray,
    std: FloatArray,
    thr: FloatArray,
    sigma: FloatArray,
    floating: npt.NDArray[np.bool_],
    params: FloatArray,
    rules: IntArray,
    volume: int,
    resample: bool,
    draws: int,
    seed: int,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per draw and hospital: cases, nominal value, point-valued value, cost."""
    n_cells = cell_hosp.size
    cases = np.zeros((draws, n_hosp))
    value = np.zeros((draws, n_hosp))
    pointv = np.zeros((draws, n_hosp))
    costs = np.zeros((draws, n_hosp))
    low, items_ratio, excess = params[0], params[1], params[2]
    for d in prange(draws):
        np.random.seed((seed * 1_000_003 + d * 7_919 + 12_345) % 4_294_967_296)
        counts = np.empty(n_cells, dtype=np.int64)
        for j in range(n_cells):
            n = cell_start[j + 1] - cell_start[j]
            if volume == 1:
                counts[j] = np.random.poisson(float(n))
            else:
                counts[j] = n
        if volume == 2:  # multinomial within each hospital: sequential binomials
            for h in range(n_hosp):
                lo, hi = hosp_cells[h], hosp_cells[h + 1]
                left = cell_start[hi] - cell_start[lo]
                rest = float(left)
                for j in range(lo, hi):
                    n = cell_start[j + 1] - cell_start[j]
                    if j == hi - 1 or rest <= 0:
                        counts[j] = left
                    else:
                        p = min(1.0, n / rest)
                        counts[j] = np.random.binomial(left, p)
                    left -= counts[j]
                    rest -= n
        acc_n = np.zeros(n_hosp)
        acc_v = np.zeros(n_hosp)
        acc_p = np.zeros(n_hosp)
        acc_c = np.zeros(n_hosp)
        for j in range(n_cells):
            a, b = cell_start[j], cell_start[j + 1]
            n = b - a
            m = counts[j]
            if n == 0 or m == 0:
                continue
            if resample:
                k_n, w = m, 1.0
            else:
                k_n, w = n, m / n
            sv = 0.0
            sp = 0.0
            sc = 0.0
            for k in range(k_n):
                i = a + np.random.randint(0, n) if resample else a + k
                c = cost[i]
                sg = sigma[i]
                if sg > 0.0 and not math.isnan(c):
                    c = c * math.exp(sg * np.random.standard_normal() - 0.5 * sg * sg)
                p = _paid(kind[i], c, std[i], thr[i], low, rules[0], rules[1], rules[2],
                          items_ratio, excess)  # fmt: skip
                if not math.isnan(p):
                    sv += p
                    if floating[i]:
                        sp += p
                if not math.isnan(c):
                    sc += c
            h = cell_hosp[j]
            acc_n[h] += w * k_n
            acc_v[h] += w * sv
            acc_p[h] += w * sp
            acc_c[h] += w * sc
        cases[d] = acc_n
        value[d] = acc_v
        pointv[d] = acc_p
        costs[d] = acc_c
    return cases, value, pointv, costs


# ------------------------------------------------------------------------- case arrays


def case_arrays(
    paid: pl.DataFrame,
    policy: Policy,
    settlement: SettlementPolicy | None = None,
    *,
    by: str = "hospital_id",
    cost_sigma: float | Mapping[str, float] = 0.0,
) -> dict[str, Any]:
    """The per-case arrays of the kernel, sorted by cell (hospital × DRG).

    Returns
    -------
    dict
        ``hospitals`` (ids, in order), ``cell_start``, ``cell_hosp``, ``hosp_cells``,
        ``kind`` (0 excluded, 1 special, 2 classed by cost), ``cost``, ``std``, ``thr``,
        ``sigma``, ``floating``, ``paid`` (as paid), ``params`` (low threshold, items ratio,
        excess ratio) and ``rules`` (high, low, special payment rule codes).
    """
    sp = settlement if settlement is not None else example_settlement()
    need = (by, "drg", "case_class", "standard", "rw", "paid", policy.cost_column)
    for col in need:
        if col not in paid.columns:
            raise ColumnError(col, f"montecarlo: missing column {col!r} (give drgsim.pay output)")
    if isinstance(cost_sigma, Mapping):
        sig = pl.col("drg").replace_strict(
            {str(k): float(v) for k, v in cost_sigma.items()}, default=0.0, return_dtype=pl.Float64
        )
    else:
        sig = pl.lit(float(cost_sigma))
    k = pl.col("case_class")
    df = paid.select(
        pl.col(by).cast(pl.String).alias("_h"),
        pl.col("drg").cast(pl.String).fill_null("").alias("_g"),
        pl.when(k == "excluded").then(_EXCLUDED).when(k == "special").then(_SPECIAL)
        .otherwise(_CLASSED).cast(pl.Int64).alias("kind"),
        pl.col(policy.cost_column).cast(pl.Float64, strict=False).fill_null(float("nan"))
        .alias("cost"),
        pl.col("standard").cast(pl.Float64).fill_null(float("nan")).alias("std"),
        high_threshold(paid, policy).alias("thr"),
        sig.alias("sigma"),
        sp.floating.selects(paid).alias("floating"),
        pl.col("paid").cast(pl.Float64).fill_null(float("nan")).alias("paid"),
    ).sort("_h", "_g", maintain_order=True)  # fmt: skip
    hospitals = df["_h"].unique(maintain_order=True).to_list()
    cells = df.select(
        (pl.col("_h").rle_id().cast(pl.Int64)).alias("h"),
        pl.struct("_h", "_g").rle_id().cast(pl.Int64).alias("c"),
    )
    c = cells["c"].to_numpy()
    n_cells = int(c[-1]) + 1 if c.size else 0
    cell_start = np.searchsorted(c, np.arange(n_cells + 1)).astype(np.int64)
    cell_hosp = cells["h"].to_numpy()[cell_start[:-1]].astype(np.int64)
    hosp_cells = np.searchsorted(cell_hosp, np.arange(len(hospitals) + 1)).astype(np.int64)
    cl = policy.classes
    return {
        "hospitals": hospitals,
        "cell_start": cell_start,
        "cell_hosp": cell_hosp,
        "hosp_cells": hosp_cells,
        "kind": df["kind"].to_numpy().astype(np.int64),
        "cost": df["cost"].to_numpy().astype(np.float64),
        "std": df["std"].to_numpy().astype(np.float64),
        "thr": df["thr"].to_numpy().astype(np.float64),
        "sigma": df["sigma"].to_numpy().astype(np.float64),
        "floating": df["floating"].to_numpy().astype(np.bool_),
        "paid": df["paid"].to_numpy().astype(np.float64),
        "params": np.array([cl.low_threshold, cl.items_ratio, cl.excess_ratio], dtype=np.float64),
        "rules": np.array(
            [_RULES[cl.high_payment], _RULES[cl.low_payment], _RULES[cl.special_payment]],
            dtype=np.int64,
        ),
    }


def repaid(arrays: Mapping[str, Any]) -> FloatArray:
    """The payment of every case of :func:`case_arrays` recomputed by the kernel's rules
    (equals ``paid`` for the observed costs; a check of the kernel against :func:`drgsim.pay`).
    """
    return _repaid(arrays["kind"], arrays["cost"], arrays["std"], arrays["thr"],
                   arrays["params"], arrays["rules"])  # fmt: skip


# ------------------------------------------------------------------------------ result


@dataclass
class MonteCarloResult:
    """The distribution of the settlement over the draws.

    Attributes
    ----------
    hospitals : polars.DataFrame
        Long format, one row per hospital (and ``total`` for the region) and measure of
        :data:`MEASURES`: ``deterministic`` (:func:`drgsim.settlement.settle` on the observed
        cases), ``mean``, ``sd``, ``p5``, ``p50``, ``p95``.
    risk : polars.DataFrame
        Per hospital and ``total``: ``prob_overspend`` (share of draws with C > V),
        ``mean_net``, ``p5_net``, ``p95_net`` and ``prob_borne`` (share of draws where the
        hospital bears some overspend).
    draws : dict of numpy arrays
        Per measure, an array (draws × hospitals + 1), the last column the region.
    deterministic : Settlement
        The settlement of the observed cases.
    budget : float or None
        The region budget used.
    settings : dict
        draws, volume, resample, cost_sigma, seed.
    seconds : float
        Wall time of the draws (kernel and settlement arithmetic).
    """

    hospitals: pl.DataFrame
    risk: pl.DataFrame
    draws: dict[str, FloatArray]
    deterministic: Settlement
    budget: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def measure(self, name: str) -> pl.DataFrame:
        """One measure's distribution per hospital (wide: ``hospital``, mean, p5, p95 …)."""
        return self.hospitals.filter(pl.col("measure") == name).drop("measure")

    def summary(self) -> str:
        """A short text report: per hospital the mean and 90% interval of the net result."""
        s = self.settings
        by = self.deterministic.by
        lines = [
            f"Monte Carlo: {s['draws']:,} draws, volume {s['volume']}, "
            f"{'bootstrap' if s['resample'] else 'observed cases'}, cost σ {s['cost_sigma']}, "
            f"{self.seconds:.2f} s",
        ]
        for r in self.risk.iter_rows(named=True):
            lines.append(
                f"  {r[by]}: P(overspend) {r['prob_overspend']:.3f}, net {r['mean_net']:,.0f} "
                f"[{r['p5_net']:,.0f}, {r['p95_net']:,.0f}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>" + self.risk._repr_html_()


def _settle_draws(
    cases: FloatArray,
    value: FloatArray,
    pointv: FloatArray,
    costs: FloatArray,
    sp: SettlementPolicy,
    budget: float | None,
) -> dict[str, FloatArray]:
    """The band stage of :func:`drgsim.settlement.settle` for every draw (draws × hospitals)."""
    d, h = value.shape
    if sp.floating.enabled and budget is not None:
        points = pointv.sum(axis=1, keepdims=True)
        items = value.sum(axis=1, keepdims=True) - points
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(points > 0, (budget - items) / points, 1.0)
        v = value + (factor - 1.0) * pointv
    else:
        v = value
    frame = pl.DataFrame({"v": v.ravel(), "c": costs.ravel()}).with_columns(
        surplus=pl.max_horizontal(pl.col("v") - pl.col("c"), pl.lit(0.0)),
        overspend=pl.max_horizontal(pl.col("c") - pl.col("v"), pl.lit(0.0)),
    )
    frame = frame.with_columns(
        surplus_kept=band_amount(pl.col("surplus"), pl.col("v"), sp.surplus.bands),
        overspend_shared=band_amount(pl.col("overspend"), pl.col("v"), sp.overspend.bands),
    )
    out = {c: frame[c].to_numpy().reshape(d, h) for c in frame.columns}
    if sp.overspend.pool_share is not None and budget is not None:
        pool = sp.overspend.pool_share * budget
        shared = out["overspend_shared"].sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            pf = np.where(shared > 0, np.minimum(1.0, pool / shared), 1.0)
        out["overspend_shared"] = out["overspend_shared"] * pf
    res = {
        "cases": cases,
        "drg_value": out["v"],
        "actual_cost": out["c"],
        "surplus": out["surplus"],
        "surplus_kept": out["surplus_kept"],
        "overspend": out["overspend"],
        "overspend_shared": out["overspend_shared"],
        "overspend_borne": out["overspend"] - out["overspend_shared"],
    }
    res["net"] = res["surplus_kept"] - res["overspend_borne"]
    return {k: np.concatenate([a, a.sum(axis=1, keepdims=True)], axis=1) for k, a in res.items()}


def montecarlo(
    paid: pl.DataFrame,
    policy: Policy,
    settlement: SettlementPolicy | None = None,
    *,
    draws: int = 1_000,
    volume: str = "poisson",
    resample: bool = False,
    cost_sigma: float | Mapping[str, float] = 0.1,
    seed: int = 0,
    by: str = "hospital_id",
    budget: float | None = None,
) -> MonteCarloResult:
    """Draw the settlement of a year of paid cases many times.

    Parameters
    ----------
    paid : polars.DataFrame
        :func:`drgsim.pay` output (baseline or scenario), with the hospital column.
    policy : Policy
        The payment policy ``paid`` was paid under (its class rules re-pay drawn costs).
    settlement : SettlementPolicy, optional
        Default :func:`drgsim.settlement.example_settlement`.
    draws : int
        Number of draws.
    volume : {"poisson", "multinomial", "fixed"}
        Volume model per hospital × DRG cell (see the module docstring).
    resample : bool
        Bootstrap the cases of a cell (else every observed case counts N ÷ n times).
    cost_sigma : float or mapping
        σ of the log-normal cost noise, one number or by DRG (missing DRGs: 0).
    seed : int
    by : str
        The hospital column.
    budget : float, optional
        Region budget; default that of :func:`drgsim.settlement.settle` on ``paid``.

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    ColumnError
        ``paid`` lacks a column of the payment (``standard``, ``case_class`` …).
    ValueError
        An unknown volume model, or fewer than one draw.
    """
    if volume not in VOLUMES:
        raise ValueError(f"volume must be one of {', '.join(VOLUMES)}, not {volume!r}")
    if draws < 1:
        raise ValueError("draws must be at least 1")
    sp = settlement if settlement is not None else example_settlement()
    a = case_arrays(paid, policy, sp, by=by, cost_sigma=cost_sigma)
    det = settle(paid, sp, by=by, budget=budget)
    b = budget if budget is not None else det.region.get("budget")
    t0 = time.perf_counter()
    cases, value, pointv, costs = _draws(
        a["cell_start"], a["cell_hosp"], a["hosp_cells"], len(a["hospitals"]), a["kind"],
        a["cost"], a["std"], a["thr"], a["sigma"], a["floating"], a["params"], a["rules"],
        VOLUMES.index(volume), bool(resample), int(draws), int(seed),
    )  # fmt: skip
    res = _settle_draws(cases, value, pointv, costs, sp, b)
    secs = time.perf_counter() - t0
    ids = [*a["hospitals"], "total"]
    dh = det.with_total().with_columns(
        net=pl.col("surplus_kept") - pl.col("overspend_borne"),
        cases=pl.col("cases").cast(pl.Float64),
    )
    det_map = {(r[by], m): r[m] for r in dh.iter_rows(named=True) for m in MEASURES}
    rows = []
    for m in MEASURES:
        x = res[m]
        q = np.percentile(x, [5, 50, 95], axis=0)
        for j, hid in enumerate(ids):
            rows.append({
                by: hid, "measure": m, "deterministic": det_map.get((hid, m)),
                "mean": float(x[:, j].mean()), "sd": float(x[:, j].std()),
                "p5": float(q[0, j]), "p50": float(q[1, j]), "p95": float(q[2, j]),
            })  # fmt: skip
    over = res["actual_cost"] > res["drg_value"]
    qn = np.percentile(res["net"], [5, 95], axis=0)
    risk = pl.DataFrame({
        by: ids,
        "prob_overspend": over.mean(axis=0),
        "prob_borne": (res["overspend_borne"] > 0).mean(axis=0),
        "mean_net": res["net"].mean(axis=0),
        "p5_net": qn[0],
        "p95_net": qn[1],
    })  # fmt: skip
    return MonteCarloResult(
        hospitals=pl.DataFrame(rows),
        risk=risk,
        draws=res,
        deterministic=det,
        budget=b,
        settings={
            "draws": draws,
            "volume": volume,
            "resample": resample,
            "cost_sigma": cost_sigma,
            "seed": seed,
        },
        seconds=secs,
    )
