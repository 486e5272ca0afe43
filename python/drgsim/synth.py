"""Synthetic hospitals: a region's inpatient year of cases, grouped, with costs and flaws.

:func:`hospital` builds a case frame that looks like the discharge data of several hospitals
of one region (统筹区) for one year, ready for :func:`drgsim.group`, :func:`drgsim.pay` and
audit exercises. Every case is made of the table set's own code lists and is grouped by the
engine, so its ``drg`` is what the engine gives for its coded data. The data are synthetic:
no real patient, hospital, doctor or price is behind them, and every number below is an
illustrative default, not a statistic.

Method
------
1. **Candidates.** For every ADRG of the set, many random cases are drawn from the lists its
   rule, its DRG splits and its MDC's rule name: principal diagnosis from the ADRG's or the
   MDC's diagnosis lists, principal procedure from the ADRG's procedure lists (then 0–2
   more), 0–6 secondary diagnoses from the CC/MCC table, the related lists and all
   diagnoses (pregnancy, perinatal and sex-specific codes only where they fit the MDC); a
   plausible sex, age, age in days and birth weight (newborns), length of stay and
   discharge type. A ``prefix`` row of a list stands for the set's known codes under it, or,
   when the set names none, for stand-in codes spelled like the edition (``H25`` →
   ``H25.900``, ``H25.000``, ``H25.800``). The candidates are grouped once; those with
   status ``ok`` form a pool per DRG (the "reachable" DRGs: all 351 of the teaching set and
   all 628 of CHS-DRG 1.1).
2. **Case mix.** Reachable DRGs are put in a seeded, weighted random order (common real-world
   groups such as vaginal delivery, caesarean section, pneumonia, stroke, cataract,
   chemotherapy, heart failure … first; heavy groups such as transplants late) and get
   Zipf-like frequencies ``1 / (rank + 3) ** zipf_exponent``. Each hospital tilts the mix:
   二级 hospitals see fewer heavy groups (× RW ** -0.5), 三级 more (× RW ** 0.3), with
   per-hospital noise (× exp(N(0, 0.4)) per DRG). Cases are drawn per hospital and DRG
   from the DRG's pool.
3. **Cost and stay.** ``log(cost) ~ Normal(log(RW × base_rate × level × hospital), σ_g)``, so
   ``RW × base_rate`` is the *median* cost of a case of the DRG in an average 三级 hospital
   (the mean is higher by ``exp(σ_g² / 2)``, 3–20 %). σ_g is drawn per DRG from ``sigma``
   (default U(0.25, 0.6), a within-group CV of 0.25–0.66; the normal is truncated at ±3σ).
   Level factor: 三级 1.0, 二级 0.85; each hospital has its own factor
   ``exp(N(0, 0.05))``. Length of stay is log-normal
   around ``(1.5 + 6 × RW ** 0.6) × exp(N(0, 0.2))`` days with σ U(0.3, 0.5) per DRG,
   correlated with cost through a shared normal (``cost_los_correlation``, 0.6), an integer
   from 1 to 180. Discharge type: death (5) 4 % with an MCC, 0.8 % with a CC, 0.2 % without,
   more at 65+ and 80+; transfer (2) 4 % with an MCC, else 1.5 %; else 1 (normal).
4. **Outliers.** ``outlier_share`` of the cases are cost outliers, half high (cost × U(3, 6))
   and half low (cost × U(0.1, 0.3)); their stays scale by the square root of the factor.
5. **Readmissions.** About ``readmission_share`` of the cases are a patient's second stay in
   the same hospital with the same MDC, admitted 0–30 days after the first discharge
   (``readmission_31d`` is true on the second stay; both stays share ``patient_id``, sex,
   age and insurance type). Newborns and patients who died are not readmitted.
6. **Check.** All cases are grouped again with their final stay length, discharge type and
   age; the rare case whose group moved (sets whose rules use LOS or discharge type) gets
   back the values of its candidate, which grouped into its DRG.
7. **Coding errors.** ``coding_error_share`` of the cases (chosen among the non-outliers,
   more often from some doctors than others) get a coding error: a dropped secondary
   diagnosis (the most severe CC/MCC if any; 40 %), the principal and first secondary
   diagnosis swapped (30 %), or an added MCC code (高套, 30 %). They are regrouped: ``drg``
   and the other result columns reflect the coded data, ``true_drg`` the truth, and the
   cost stays that of the true case.

Limitations
-----------
Codes are drawn from the lists independently, so a case's diagnoses and procedures fit its
group but not always each other clinically; ages and sexes follow the MDC, not each code.
Common DRGs reuse their pool's candidates, so identical code lists recur (as they do in real
data, but more). Costs, stays, rates and shares are illustrative, not estimates.

Weights
-------
RW comes from ``weights`` (a frame with ``drg`` and ``rw``), else from the set's
``weights.csv``. A DRG without a weight gets the median weight of the weighted DRGs of its
ADRG; when none has one, a rule (see :func:`resolve_weights`): 2.5 for a pre-MDC (MDC A)
ADRG, 1.6 for a surgical ADRG (second letter A–J), 1.0 for a non-OR procedure ADRG (K–Q),
0.7 for a medical one; × 1.5 for a DRG code ending in 1 (MCC), 1.15 in 3 (CC), 0.9 in 5
(none); × a fixed factor between 0.82 and 1.22 taken from the ADRG code's CRC-32, so that the
weights of the same kind differ and do not depend on the seed.

Examples
--------
>>> from drgsim import synth
>>> df = synth.hospital(cases=2_000, hospitals=2, seed=7)
>>> df.height, df["hospital_level"].n_unique()
(2000, 2)
>>> sorted(df["case_flag"].unique())
['coding_error', 'high_outlier', 'low_outlier', 'normal']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import tomllib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from drgsim.grouping import RESULT_COLUMNS, group
from drgsim.tables import TableSet, load

__all__ = ["COLUMNS", "DEPARTMENTS", "SynthConfig", "hospital", "resolve_weights"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Columns of :func:`hospital`, in order (the engine's result columns come last).
COLUMNS: tuple[str, ...] = (
    "case_id",
    "patient_id",
    "hospital_id",
    "hospital_level",
    "department",
    "doctor_id",
    "insurance_type",
    "sex",
    "age",
    "age_days",
    "birth_weight_g",
    "admission_date",
    "discharge_date",
    "los_days",
    "discharge_type",
    "dx",
    "px",
    "total_cost",
    "true_drg",
    "case_flag",
    "readmission_31d",
    *RESULT_COLUMNS,
)

#: Department of a case by MDC: (medical ADRGs and non-OR procedures, surgical ADRGs).
#: Medical cases of children under 14 go to 儿科 (except MDC O, P, T, U); MDC A goes to
#: 重症医学科 (ventilation, ECMO: ADRGs AH…) or 器官移植科.
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "A": ("器官移植科", "器官移植科"),
    "B": ("神经内科", "神经外科"),
    "C": ("眼科", "眼科"),
    "D": ("耳鼻咽喉科", "耳鼻咽喉科"),
    "E": ("呼吸内科", "胸外科"),
    "F": ("心血管内科", "心胸外科"),
    "G": ("消化内科", "普外科"),
    "H": ("消化内科", "肝胆外科"),
    "I": ("骨科", "骨科"),
    "J": ("皮肤科", "乳腺外科"),
    "K": ("内分泌科", "普外科"),
    "L": ("肾内科", "泌尿外科"),
    "M": ("泌尿外科", "泌尿外科"),
    "N": ("妇科", "妇科"),
    "O": ("产科", "产科"),
    "P": ("新生儿科", "新生儿科"),
    "Q": ("血液科", "普外科"),
    "R": ("肿瘤科", "普外科"),
    "S": ("感染科", "普外科"),
    "T": ("精神科", "精神科"),
    "U": ("精神科", "精神科"),
    "V": ("急诊科", "骨科"),
    "W": ("烧伤科", "烧伤科"),
    "X": ("全科医学科", "普外科"),
    "Y": ("感染科", "感染科"),
    "Z": ("创伤外科", "创伤外科"),
}
_OTHER_DEPARTMENTS = ("儿科", "重症医学科", "内科", "外科")

#: Words of DRG/ADRG names of groups that are common in real hospitals; they come first.
COMMON_GROUPS: tuple[str, ...] = (
    "阴道分娩",
    "剖宫产",
    "肺炎",
    "呼吸系统感染",
    "上呼吸道感染",
    "支气管炎",
    "慢性阻塞性肺",
    "慢性气道阻塞",
    "脑梗死",
    "脑卒中",
    "脑缺血",
    "晶状体",
    "白内障",
    "化学治疗",
    "化疗",
    "放射治疗",
    "心力衰竭",
    "心绞痛",
    "冠状动脉粥样硬化",
    "冠状动脉支架",
    "高血压",
    "糖尿病",
    "胃肠炎",
    "胆囊切除",
    "阑尾切除",
    "关节置换",
    "颈腰背",
    "椎间盘",
    "结肠镜",
    "胃镜",
)

_LEVELS = ("三级", "二级")
_SURGICAL = frozenset("ABCDEFGHIJ")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_DX = 8  # diagnosis slots per case: principal + up to 6 secondaries + one added by an error
_MAX_PX = 3


@dataclass(frozen=True)
class SynthConfig:
    """Every parameter of :func:`hospital`, with its default.

    Attributes
    ----------
    tables : str, path or TableSet, default "teaching"
        The table set whose code lists make the cases and whose grouper groups them.
    cases : int, default 200_000
        Number of cases (all hospitals together).
    hospitals : int, default 5
        Number of hospitals of the region (``H01`` …). The first
        ``round(hospitals × third_level_share)`` (at least one) are 三级 and larger, the
        others 二级 (at least one when there are two or more hospitals).
    seed : int, default 1
        Seed of every random draw: the same seed and parameters give the same frame.
    weights : polars.DataFrame, path or None
        Relative weights (columns ``drg`` and ``rw``); None: the set's ``weights.csv``. DRGs
        without a weight get one from the rule of :func:`resolve_weights`.
    base_rate : float or None, default None (12,000 CNY)
        Median cost in CNY of a case of RW 1 in an average 三级 hospital. Illustrative.
    sigma : float, (low, high) or None, default None (U(0.25, 0.6))
        Standard deviation of log cost within a DRG: one value for all DRGs, or a range
        from which each DRG draws its own (σ ≤ 0.6 keeps the within-group CV below 0.66).
    outlier_share : float, default 0.02
        Share of cost outliers, half high (cost × 3–6) and half low (cost × 0.1–0.3).
    coding_error_share : float, default 0.03
        Share of cases with a coding error (regrouped; ``true_drg`` keeps the truth).
    readmission_share : float, default 0.03
        Approximate share of cases that are a readmission within 31 days.
    year : int, default 2025
        Calendar year of the discharges (and admissions).
    zipf_exponent : float, default 1.0
        Skew of the DRG mix: frequency of the DRG of rank r is ∝ 1 / (r + 3) ** exponent.
    cost_los_correlation : float, default 0.6
        Correlation of log cost and log length of stay within a DRG.
    level_cost_factor : dict, default {"三级": 1.0, "二级": 0.85}
        Cost factor of each hospital level.
    third_level_share : float, default 0.4
        Share of 三级 hospitals (see ``hospitals``).
    candidates_per_adrg : int or None, default None
        Candidate cases drawn per ADRG to fill the DRG pools; None: from 300 to 2,500,
        growing with ``cases``.
    """

    tables: str | os.PathLike[str] | TableSet = "teaching"
    cases: int = 200_000
    hospitals: int = 5
    seed: int = 1
    weights: pl.DataFrame | str | os.PathLike[str] | None = None
    base_rate: float | None = None
    sigma: float | tuple[float, float] | None = None
    outlier_share: float = 0.02
    coding_error_share: float = 0.03
    readmission_share: float = 0.03
    year: int = 2025
    zipf_exponent: float = 1.0
    cost_los_correlation: float = 0.6
    level_cost_factor: dict[str, float] = field(default_factory=lambda: {"三级": 1.0, "二级": 0.85})
    third_level_share: float = 0.4
    candidates_per_adrg: int | None = None

    def __post_init__(self) -> None:
        if self.cases < 1:
            raise ValueError(f"cases must be at least 1, got {self.cases}")
        if self.hospitals < 1:
            raise ValueError(f"hospitals must be at least 1, got {self.hospitals}")
        for name in ("outlier_share", "coding_error_share", "readmission_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 0.5:
                raise ValueError(f"{name} must be between 0 and 0.5, got {v}")
        if not -1.0 <= self.cost_los_correlation <= 1.0:
            raise ValueError("cost_los_correlation must be between -1 and 1")
        if self.base_rate is not None and not self.base_rate > 0:
            raise ValueError(f"base_rate must be positive, got {self.base_rate}")
        lo, hi = self.sigma_range
        if not 0.0 <= lo <= hi:
            raise ValueError(f"sigma must be a non-negative value or range, got {self.sigma}")
        if set(self.level_cost_factor) != set(_LEVELS):
            raise ValueError(f"level_cost_factor needs exactly the keys {_LEVELS}")

    @property
    def rate(self) -> float:
        """The base rate in CNY (``base_rate`` or 12,000)."""
        return 12_000.0 if self.base_rate is None else float(self.base_rate)

    @property
    def sigma_range(self) -> tuple[float, float]:
        """The range σ_g is drawn from."""
        if self.sigma is None:
            return (0.25, 0.6)
        if isinstance(self.sigma, int | float):
            return (float(self.sigma), float(self.sigma))
        lo, hi = self.sigma
        return (float(lo), float(hi))


def hospital(
    tables: str | os.PathLike[str] | TableSet = "teaching",
    *,
    cases: int = 200_000,
    hospitals: int = 5,
    seed: int = 1,
    weights: pl.DataFrame | str | os.PathLike[str] | None = None,
    base_rate: float | None = None,
    sigma: float | tuple[float, float] | None = None,
    outlier_share: float = 0.02,
    coding_error_share: float = 0.03,
    year: int = 2025,
    config: SynthConfig | None = None,
) -> pl.DataFrame:
    """Synthetic inpatient cases of several hospitals of one region for one year.

    Parameters
    ----------
    tables, cases, hospitals, seed, weights, base_rate, sigma, outlier_share, \
coding_error_share, year
        See :class:`SynthConfig`.
    config : SynthConfig, optional
        All parameters at once (also those without a keyword here). A keyword given with a
        value other than its default overrides the config's value.

    Returns
    -------
    polars.DataFrame
        One row per case, columns :data:`COLUMNS`: ``case_id``, ``patient_id``,
        ``hospital_id``, ``hospital_level`` (三级 / 二级), ``department``, ``doctor_id``,
        ``insurance_type`` (职工 / 居民), ``sex`` (1 / 2), ``age``, ``age_days`` and
        ``birth_weight_g`` (infants), ``admission_date``, ``discharge_date``, ``los_days``,
        ``discharge_type`` (1 normal, 2 transfer, 5 death), ``dx`` and ``px``
        (``list[str]``, principal first), ``total_cost`` (CNY), ``true_drg``, ``case_flag``
        (normal / high_outlier / low_outlier / coding_error), ``readmission_31d``, then the
        result columns of :func:`drgsim.group` for the coded data. Sorted by hospital and
        discharge date.

    Examples
    --------
    >>> import polars as pl
    >>> from drgsim import synth
    >>> df = synth.hospital(cases=1_000, hospitals=3, seed=1)
    >>> df.height, df["hospital_id"].n_unique(), (df["status"] == "ok").mean() > 0.9
    (1000, 3, True)
    >>> df.equals(synth.hospital(cases=1_000, hospitals=3, seed=1))
    True
    """
    given: dict[str, Any] = {
        "tables": tables,
        "cases": cases,
        "hospitals": hospitals,
        "seed": seed,
        "weights": weights,
        "base_rate": base_rate,
        "sigma": sigma,
        "outlier_share": outlier_share,
        "coding_error_share": coding_error_share,
        "year": year,
    }
    if config is None:
        cfg = SynthConfig(**given)
    else:
        defaults = {f.name: f.default for f in dataclasses.fields(SynthConfig)}
        changed = {k: v for k, v in given.items() if not _is_default(v, defaults[k])}
        cfg = dataclasses.replace(config, **changed)
    return _Generator(cfg).run()


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, pl.DataFrame) or isinstance(default, pl.DataFrame):
        return False
    return type(value) is type(default) and bool(value == default)


def resolve_weights(
    tables: str | os.PathLike[str] | TableSet = "teaching",
    weights: pl.DataFrame | str | os.PathLike[str] | None = None,
) -> pl.DataFrame:
    """The relative weight of every DRG of a set, as :func:`hospital` uses it.

    Parameters
    ----------
    tables : str, path or TableSet, default "teaching"
        The table set.
    weights : polars.DataFrame, path or None
        A frame (or CSV file) with columns ``drg`` and ``rw``; None: the set's
        ``weights.csv`` if it has one.

    Returns
    -------
    polars.DataFrame
        ``drg``, ``adrg``, ``rw`` and ``rw_source``: ``given`` (from ``weights``), ``adrg``
        (median of the weighted DRGs of the same ADRG) or ``rule``: base by ADRG kind — 2.5
        pre-MDC (MDC A), 1.6 surgical (second letter A–J), 1.0 non-OR procedure (K–Q), 0.7
        medical — × 1.5 / 1.15 / 0.9 for a DRG code ending in 1 / 3 / 5, × a fixed factor
        in [0.82, 1.22] from the CRC-32 of the ADRG code.

    Examples
    --------
    >>> from drgsim import synth
    >>> w = synth.resolve_weights("teaching")
    >>> w.filter(pl.col("drg") == "AA29").row(0)
    ('AA29', 'AA2', 30.0, 'given')
    """
    ts = load(tables)
    drgs = pl.DataFrame(
        [(d, a) for d, a, _, _ in ts.drgs()],
        schema={"drg": pl.String, "adrg": pl.String},
        orient="row",
    )
    mdc_of = {a: m for a, m, _, _ in ts.adrgs()}
    given = _read_weights(ts, weights)
    w = drgs.join(given, on="drg", how="left")
    sib = (
        w.filter(pl.col("rw").is_not_null())
        .group_by("adrg")
        .agg(pl.col("rw").median().alias("rw_adrg"))
    )
    w = w.join(sib, on="adrg", how="left")
    rule = [_rule_weight(d, a, mdc_of.get(a, "")) for d, a in w.select("drg", "adrg").rows()]
    return w.select(
        "drg",
        "adrg",
        pl.coalesce("rw", "rw_adrg", pl.Series(rule, dtype=pl.Float64)).alias("rw"),
        pl.when(pl.col("rw").is_not_null())
        .then(pl.lit("given"))
        .when(pl.col("rw_adrg").is_not_null())
        .then(pl.lit("adrg"))
        .otherwise(pl.lit("rule"))
        .alias("rw_source"),
    )


def _read_weights(
    ts: TableSet, weights: pl.DataFrame | str | os.PathLike[str] | None
) -> pl.DataFrame:
    schema = {"drg": pl.String, "rw": pl.Float64}
    if weights is None:
        data = ts.builtin_file("weights.csv")
        if data is None:
            return pl.DataFrame(schema=schema)
        frame = pl.read_csv(data, infer_schema=False)
    elif isinstance(weights, pl.DataFrame):
        frame = weights
    else:
        frame = pl.read_csv(Path(weights), infer_schema=False)
    missing = {"drg", "rw"} - set(frame.columns)
    if missing:
        raise ValueError(f"weights need the columns drg and rw (missing {sorted(missing)})")
    return (
        frame.select(
            pl.col("drg").cast(pl.String).str.strip_chars(),
            pl.col("rw").cast(pl.Float64, strict=False),
        )
        .filter(pl.col("rw").is_not_null() & (pl.col("rw") > 0))
        .unique("drg", keep="first", maintain_order=True)
    )


def _rule_weight(drg: str, adrg: str, mdc: str) -> float:
    kind = adrg[1:2].upper()
    if mdc == "A":
        base = 2.5
    elif kind in _SURGICAL:
        base = 1.6
    elif "K" <= kind <= "Q":
        base = 1.0
    else:
        base = 0.7
    severity = {"1": 1.5, "3": 1.15, "5": 0.9}.get(drg[-1:], 1.0)
    h = zlib.crc32(adrg.encode()) / 0xFFFFFFFF
    return round(base * severity * math.exp(0.4 * (h - 0.5)), 4)


# --------------------------------------------------------------------------------------------
# The set's code lists, arranged for drawing


class _Pools:
    """Many integer arrays in one: draw from pool ids, vectorised."""

    def __init__(self) -> None:
        self._arrays: list[IntArray] = []
        self._keys: dict[tuple[str, ...], int] = {}

    def add(self, key: tuple[str, ...], make: Callable[[], IntArray]) -> int:
        """Register a pool (by key, made once); -1 when it is empty."""
        if key in self._keys:
            return self._keys[key]
        pid = -1
        codes = make()
        if codes.size:
            pid = len(self._arrays)
            self._arrays.append(np.unique(codes))
        self._keys[key] = pid
        return pid

    def freeze(self) -> None:
        sizes = np.array([a.size for a in self._arrays] or [0], dtype=np.int64)
        self.flat: IntArray = (
            np.concatenate(self._arrays) if self._arrays else np.zeros(0, dtype=np.int64)
        )
        self.size: IntArray = sizes
        self.start: IntArray = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def draw(self, pid: IntArray, rng: np.random.Generator) -> IntArray:
        """One code index per pool id (every id must be a non-empty pool)."""
        size = self.size[pid]
        pick = (rng.random(pid.size) * size).astype(np.int64)
        return self.flat[self.start[pid] + pick]


@dataclass
class _Catalog:
    """Code vocabularies and the pools each ADRG draws from."""

    dx: pl.Series
    px: pl.Series
    dx_level: npt.NDArray[np.int8]  # 0 none, 1 CC, 2 MCC
    dx_sex: npt.NDArray[np.int8]  # 1 male-only, 2 female-only code, else 0
    pools: _Pools
    adrg: list[str]
    adrg_mdc: list[str]
    pdx_adrg: IntArray  # pool ids per ADRG (-1: none)
    pdx_mdc: IntArray
    rel_dx: IntArray
    cc_sec: IntArray
    all_sec: IntArray
    ppx: IntArray
    med_px: IntArray
    mcc_dx: int
    or_px: int
    all_px: int
    sex_of_mdc: dict[str, int]
    newborn_mdc: frozenset[str]


_catalogs: dict[tuple[str, str], _Catalog] = {}

# Diagnosis chapters and codes that only fit some cases (used to keep secondary diagnoses
# plausible): pregnancy (O), perinatal (P), male-only and female-only codes.
_OBSTETRIC = re.compile(r"^O")
_PERINATAL = re.compile(r"^P")
_MALE = re.compile(r"^(C6[0-3]|D07\.[4-6]|D29|D40|N4\d|N5[0-3]|Q5[3-5]|R86)")
_FEMALE = re.compile(r"^(C5[1-8]|D06|D07\.[0-3]|D2[5-8]|D39|N[7-9]\d|Q5[0-2]|R87|Z3[2-9])")


def _catalog(ts: TableSet) -> _Catalog:
    key = (ts.origin, ts.content_hash)
    if key not in _catalogs:
        _catalogs[key] = _build_catalog(ts)
    return _catalogs[key]


def _read_csv(ts: TableSet, file: str) -> pl.DataFrame | None:
    data = ts.builtin_file(file)
    if not data:
        return None
    return pl.read_csv(data, infer_schema=False).with_columns(pl.all().str.strip_chars())


def _stand_in(stem: str, system: str) -> list[str]:
    """Codes spelled like the set's editions that a prefix pattern matches, when the set
    names none: the pattern's unspecified / first / other subdivisions."""
    width = 3 if system == "dx" else 4
    if "." in stem:
        head, tail = stem.split(".", 1)
        return [f"{head}.{tail.ljust(width, '0')}"]
    if system == "dx":
        stem = stem.ljust(3, "0")
        return [f"{stem}.900", f"{stem}.000", f"{stem}.800"]
    stem = stem.ljust(2, "0")
    return [f"{stem}.{'0' * width}", f"{stem}.{'9' * 2}{'0' * (width - 2)}"]


def _list_members(ts: TableSet) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Every code list's system and codes, with prefix patterns made into codes.

    A prefix row stands for the codes of the set (its lists, ``cc.csv``,
    ``cc_exclusions.csv``, ``dictionary.csv``, ``or_procedures.csv``) that start with it, or,
    when there are none, for stand-in codes (:func:`_stand_in`).
    """
    systems = {name: system for name, system, _ in ts.lists()}
    exact: dict[str, list[str]] = {n: [] for n in systems}
    prefix: dict[str, list[str]] = {n: [] for n in systems}
    rows = _read_csv(ts, "code_lists.csv")
    if rows is not None and {"list", "code"} <= set(rows.columns):
        match = pl.col("match") if "match" in rows.columns else pl.lit("exact")
        for name, code, m in rows.select("list", "code", match.fill_null("exact")).rows():
            if name in systems and code:
                (prefix if m.lower() == "prefix" else exact)[name].append(code)
    else:  # no readable file: prefix patterns end with '*' (asterisk codes carry a '+')
        for name in systems:
            for c in ts.list_codes(name):
                if c.endswith("*") and "+" not in c:
                    prefix[name].append(c[:-1])
                else:
                    exact[name].append(c)
    if "or_procedures" in systems:
        exact["or_procedures"] = ts.list_codes("or_procedures")
    known: dict[str, set[str]] = {"dx": set(), "px": set()}
    for n, codes in exact.items():
        known[systems[n]].update(codes)
    for file, col, system in (
        ("cc.csv", "code", "dx"),
        ("cc_exclusions.csv", "principal_dx", "dx"),
    ):
        frame = _read_csv(ts, file)
        if frame is not None and col in frame.columns:
            known[system].update(c for c in frame[col].to_list() if c)
    dictionary = _read_csv(ts, "dictionary.csv")
    if dictionary is not None and {"system", "code"} <= set(dictionary.columns):
        for system, code in dictionary.select("system", "code").rows():
            if system in known and code:
                known[system].add(code)
    stems = {s: {p for n, ps in prefix.items() if systems[n] == s for p in ps} for s in known}
    expand: dict[tuple[str, str], list[str]] = {}
    for system, known_codes in known.items():
        st = stems[system]
        if not st:
            continue
        for code in known_codes:
            for k in range(1, len(code) + 1):
                if code[:k] in st:
                    expand.setdefault((system, code[:k]), []).append(code)
    members: dict[str, list[str]] = {}
    for n, system in systems.items():
        found = set(exact[n])
        for p in prefix[n]:
            found.update(expand.get((system, p)) or _stand_in(p, system))
        members[n] = sorted(c for c in found if c)
    return systems, members


def _build_catalog(ts: TableSet) -> _Catalog:
    systems, codes = _list_members(ts)
    levels: dict[str, int] = {}
    cc = _read_csv(ts, "cc.csv")
    if cc is not None and {"code", "level"} <= set(cc.columns):
        for code, level in cc.select("code", "level").rows():
            if code:
                lv = 2 if str(level).upper() == "MCC" else 1
                levels[code] = max(lv, levels.get(code, 0))
    dx_vocab = sorted({c for n, s in systems.items() if s == "dx" for c in codes[n]} | set(levels))
    px_vocab = sorted({c for n, s in systems.items() if s == "px" for c in codes[n]})
    dx_pos = {c: i for i, c in enumerate(dx_vocab)}
    px_pos = {c: i for i, c in enumerate(px_vocab)}
    dx_level = np.zeros(len(dx_vocab), dtype=np.int8)
    for c, lv in levels.items():
        dx_level[dx_pos[c]] = lv
    upper = [c.upper() for c in dx_vocab]
    obstetric = np.array([bool(_OBSTETRIC.match(c)) for c in upper], dtype=bool)
    perinatal = np.array([bool(_PERINATAL.match(c)) for c in upper], dtype=bool)
    male = np.array([bool(_MALE.match(c)) for c in upper], dtype=bool)
    female = np.array([bool(_FEMALE.match(c)) for c in upper], dtype=bool)
    dx_sex = np.where(male, 1, np.where(female | obstetric, 2, 0)).astype(np.int8)

    def idx(names: Sequence[str]) -> IntArray:
        out: list[int] = []
        for n in names:
            pos = dx_pos if systems[n] == "dx" else px_pos
            out.extend(pos[c] for c in codes[n])
        return np.asarray(out, dtype=np.int64)

    def lists_in(rule: str) -> tuple[list[str], list[str]]:
        names = sorted({t for t in _NAME.findall(rule) if t in systems})
        return [n for n in names if systems[n] == "dx"], [n for n in names if systems[n] == "px"]

    mdc_rule: dict[str, str] = {}
    mdc_sex: dict[str, str] = {}
    mdc_file = ts.builtin_file("mdc.toml")
    if mdc_file:
        for m in tomllib.loads(mdc_file.decode("utf-8")).get("mdc", []):
            mdc_rule[str(m.get("code", ""))] = str(m.get("when", ""))
            if m.get("sex"):
                mdc_sex[str(m["code"])] = str(m["sex"])
    sex_of_mdc: dict[str, int] = {}
    newborn: set[str] = set()
    for code, _, _ in ts.mdcs():
        rule = mdc_rule.get(code, "")
        sex = mdc_sex.get(code, "")
        if sex == "male" or re.search(r"sex\s*==\s*(male|1)\b", rule) or (not rule and code == "M"):
            sex_of_mdc[code] = 1
        elif sex == "female" or re.search(r"sex\s*==\s*(female|2)\b", rule) or code in ("N", "O"):
            sex_of_mdc[code] = 2
        if code == "P" or re.search(r"\bage\s*<\s*1\b", rule):
            newborn.add(code)

    pools = _Pools()
    all_mdc_dx = sorted({n for r in mdc_rule.values() for n in lists_in(r)[0]})
    if not all_mdc_dx:
        all_mdc_dx = [n for n, s in systems.items() if s == "dx" and n.upper().startswith("MDC")]
    every = np.arange(len(dx_vocab), dtype=np.int64)
    all_dx = pools.add(("*dx",), lambda: every)
    generic = ~(obstetric | perinatal | male | female)
    fits_any = np.zeros(len(dx_vocab), dtype=bool)
    fits_any[idx(all_mdc_dx)] = True
    all_pdx = pools.add(("*pdx",), lambda: every[fits_any & ~(obstetric | perinatal)])
    if all_pdx < 0:
        all_pdx = all_dx
    mcc_dx = pools.add(("*mcc",), lambda: every[(dx_level == 2) & generic])
    if mcc_dx < 0:
        mcc_dx = pools.add(("*mcc-any",), lambda: every[dx_level == 2])
    or_idx = idx(["or_procedures"] if "or_procedures" in systems else [])
    all_px = pools.add(("*px",), lambda: np.arange(len(px_vocab), dtype=np.int64))
    or_px = pools.add(("*or",), lambda: or_idx)

    def list_pool(tag: str, names: list[str], without: IntArray | None = None) -> int:
        """The pool of the codes of some lists (less some codes)."""
        if without is None:
            return pools.add((tag, *names), lambda: idx(names))
        return pools.add((tag, *names), lambda: np.setdiff1d(idx(names), without))

    def secondary_pools(mdc: str) -> tuple[int, int]:
        """CC/MCC codes and all codes that fit as secondary diagnoses of an MDC's cases."""
        fits = generic.copy()
        fits |= obstetric & (mdc == "O")
        fits |= perinatal & (mdc in newborn)
        fits |= male & (sex_of_mdc.get(mdc) == 1)
        fits |= female & (sex_of_mdc.get(mdc) == 2)
        a = pools.add(("sec", mdc), lambda: every[fits])
        c = pools.add(("cc", mdc), lambda: every[fits & (dx_level > 0)])
        return (c if c >= 0 else a if a >= 0 else all_dx), (a if a >= 0 else all_dx)

    splits: dict[str, list[str]] = {}
    for _, adrg, _, rule in ts.drgs():
        splits.setdefault(adrg, []).append(rule)
    adrgs, adrg_mdc = [], []
    pdx_a, pdx_m, rel, cc_sec, all_sec, ppx = [], [], [], [], [], []
    mdc_px: dict[str, set[str]] = {}
    for _, mdc, _, rule in ts.adrgs():
        mdc_px.setdefault(mdc, set()).update(lists_in(rule)[1])
    for code, mdc, _, rule in ts.adrgs():
        a_dx, a_px = lists_in(" ".join([rule, *splits.get(code, [])]))
        m_dx, _ = lists_in(mdc_rule.get(mdc, ""))
        if not m_dx and not mdc_rule:
            m_dx = [n for n in systems if n.upper() in (f"MDC{mdc}_DX", f"MDC{mdc}")]
        adrgs.append(code)
        adrg_mdc.append(mdc)
        pdx_a.append(list_pool("dx", a_dx))
        pm = list_pool("dx", m_dx)
        pdx_m.append(pm if pm >= 0 else all_pdx)
        both = sorted(set(a_dx) | set(m_dx))
        r = list_pool("dx", both)
        cc_pool, sec_pool = secondary_pools(mdc)
        rel.append(r if r >= 0 else sec_pool)
        cc_sec.append(cc_pool)
        all_sec.append(sec_pool)
        ppx.append(list_pool("px", a_px))
    # procedures of medical cases: the non-OR procedures of the lists of the MDC's ADRGs
    med_px = []
    for mdc in adrg_mdc:
        names = sorted(mdc_px.get(mdc, set()) - {"or_procedures"})
        med_px.append(list_pool("nonor", names, without=or_idx))
    pools.freeze()
    return _Catalog(
        dx=pl.Series("dx", dx_vocab, dtype=pl.String),
        px=pl.Series("px", px_vocab, dtype=pl.String),
        dx_level=dx_level,
        dx_sex=dx_sex,
        pools=pools,
        adrg=adrgs,
        adrg_mdc=adrg_mdc,
        pdx_adrg=np.asarray(pdx_a, dtype=np.int64),
        pdx_mdc=np.asarray(pdx_m, dtype=np.int64),
        rel_dx=np.asarray(rel, dtype=np.int64),
        cc_sec=np.asarray(cc_sec, dtype=np.int64),
        all_sec=np.asarray(all_sec, dtype=np.int64),
        ppx=np.asarray(ppx, dtype=np.int64),
        med_px=np.asarray(med_px, dtype=np.int64),
        mcc_dx=mcc_dx,
        or_px=or_px,
        all_px=all_px,
        sex_of_mdc=sex_of_mdc,
        newborn_mdc=frozenset(newborn),
    )


# --------------------------------------------------------------------------------------------
# Helpers


def _compact(m: IntArray) -> IntArray:
    """Move the -1 gaps of each row to its end, keeping the order of the codes."""
    order = np.argsort(m < 0, axis=1, kind="stable")
    return np.take_along_axis(m, order, axis=1)


def _dedupe(m: IntArray) -> IntArray:
    """Blank (-1) a code repeated earlier in its row."""
    m = m.copy()
    for j in range(1, m.shape[1]):
        dup = (m[:, :j] == m[:, j : j + 1]).any(axis=1)
        m[dup, j] = -1
    return m


def _codes(vocab: pl.Series, m: IntArray) -> pl.Series:
    """A list[str] column from a matrix of vocabulary indices (-1: no code)."""
    cols = []
    for j in range(m.shape[1]):
        idx = pl.Series(m[:, j])
        cols.append(vocab.gather(idx.set(idx < 0, None)).alias(f"c{j}"))
    frame = pl.DataFrame(cols)
    joined = pl.concat_str(frame.columns, separator="\x1f", ignore_nulls=True)
    return frame.select(
        pl.when(joined == "")
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(joined.str.split("\x1f"))
        .alias(str(vocab.name))
    ).to_series()


def _weighted_order(w: FloatArray, rng: np.random.Generator) -> IntArray:
    """A random order in which heavier items tend to come first (Efraimidis–Spirakis)."""
    key = np.log(rng.random(w.size)) / np.maximum(w, 1e-12)
    return np.argsort(-key, kind="stable").astype(np.int64)


def _top_k(w: FloatArray, k: int, rng: np.random.Generator) -> IntArray:
    """k distinct indices, drawn with probability ∝ w (without replacement)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    key = np.log(rng.random(w.size)) / np.maximum(w, 1e-12)
    key[w <= 0] = -np.inf
    k = min(k, int((w > 0).sum()))
    part = np.argpartition(-key, k - 1)[:k] if k < w.size else np.arange(w.size)
    return np.sort(part).astype(np.int64)


def _zfill(values: IntArray, width: int, prefix: str) -> pl.Expr:
    return pl.lit(prefix) + pl.lit(pl.Series(values)).cast(pl.String).str.zfill(width)


# --------------------------------------------------------------------------------------------
# The generator


class _Generator:
    def __init__(self, cfg: SynthConfig) -> None:
        self.cfg = cfg
        self.ts = load(cfg.tables)
        self.cat = _catalog(self.ts)
        seq = np.random.SeedSequence(cfg.seed)
        names = (
            "candidates",
            "mix",
            "hospitals",
            "cases",
            "cost",
            "readmit",
            "dates",
            "staff",
            "errors",
            "ids",
        )
        self.rng = dict(
            zip(names, (np.random.default_rng(s) for s in seq.spawn(len(names))), strict=True)
        )

    # 1. candidates -----------------------------------------------------------------------
    def candidates(self) -> tuple[pl.DataFrame, IntArray]:
        """Random cases aimed at every ADRG (not yet grouped) and their diagnosis indices."""
        cat, rng, cfg = self.cat, self.rng["candidates"], self.cfg
        n_adrg = len(cat.adrg)
        k = cfg.candidates_per_adrg or int(
            np.clip(math.ceil(2 * cfg.cases / max(n_adrg, 1)), 300, 2500)
        )
        n = k * n_adrg
        a = np.repeat(np.arange(n_adrg, dtype=np.int64), k)
        pools = cat.pools

        # principal diagnosis: the ADRG's own lists (75 %) or its MDC's
        use_a = (cat.pdx_adrg[a] >= 0) & (rng.random(n) < 0.75)
        dx = np.full((n, _MAX_DX), -1, dtype=np.int64)
        dx[:, 0] = pools.draw(np.where(use_a, cat.pdx_adrg[a], cat.pdx_mdc[a]), rng)
        # secondaries: CC/MCC table 30 %, the related lists 25 %, any fitting diagnosis 45 %
        n_sec = rng.choice(7, size=n, p=[0.14, 0.2, 0.2, 0.17, 0.13, 0.1, 0.06])
        for j in range(1, 7):
            u = rng.random(n)
            pid = np.where(
                u < 0.3, cat.cc_sec[a], np.where(u < 0.55, cat.rel_dx[a], cat.all_sec[a])
            )
            dx[:, j] = np.where(j <= n_sec, pools.draw(pid, rng), -1)
        dx = _compact(_dedupe(dx))

        # procedures: from the ADRG's lists (an OR procedure 5 % of the time) for ADRGs that
        # name procedure lists, then 0-2 more; for the others none, or (20 %) a non-OR
        # procedure of the lists of the MDC
        px = np.full((n, _MAX_PX), -1, dtype=np.int64)
        if cat.all_px >= 0:
            has_list = cat.ppx[a] >= 0
            own = np.where(has_list, cat.ppx[a], cat.all_px)
            first = own
            if cat.or_px >= 0:
                first = np.where(has_list & (rng.random(n) < 0.05), cat.or_px, own)
            p0 = np.where(has_list, pools.draw(first, rng), -1)
            med = ~has_list & (cat.med_px[a] >= 0) & (rng.random(n) < 0.2)
            if med.any():
                p0[med] = pools.draw(cat.med_px[a][med], rng)
            px[:, 0] = p0
            n_extra = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
            for j in (1, 2):
                pid = np.where(rng.random(n) < 0.5, own, cat.all_px)
                px[:, j] = np.where(has_list & (j <= n_extra), pools.draw(pid, rng), -1)
            px = _compact(_dedupe(px))

        demo = self._demographics(np.asarray(cat.adrg_mdc)[a], cat.dx_sex[dx[:, 0]], rng)
        frame = pl.DataFrame({**demo, "dx": _codes(cat.dx, dx), "px": _codes(cat.px, px)})
        return frame, dx

    def _demographics(
        self, mdc: npt.NDArray[Any], code_sex: npt.NDArray[np.int8], rng: np.random.Generator
    ) -> dict[str, Any]:
        """Sex, age, age in days, birth weight, stay and discharge type of candidates."""
        cat = self.cat
        n = mdc.size
        sex = rng.integers(1, 3, size=n)
        sex = np.where(code_sex > 0, code_sex, sex)  # a sex-specific principal diagnosis
        for code, s in cat.sex_of_mdc.items():
            sex[mdc == code] = s
        newborn = np.isin(mdc, list(cat.newborn_mdc))
        obstetric = mdc == "O"
        psych = np.isin(mdc, ["T", "U"])
        child = rng.random(n) < 0.09
        adult = np.clip(np.rint(rng.normal(60, 16, n)), 18, 98)
        age = np.where(child, rng.integers(0, 18, size=n), adult)
        age = np.where(psych, np.clip(np.rint(rng.normal(42, 15, n)), 14, 90), age)
        age = np.where(obstetric, np.clip(np.rint(rng.normal(29, 5, n)), 16, 48), age)
        age = np.where(newborn, 0, age).astype(np.int64)
        infant = age == 0
        days = np.where(
            newborn & (rng.random(n) < 0.85),
            rng.integers(0, 29, size=n),
            rng.integers(29, 365, size=n),
        )
        small = rng.random(n) < 0.2
        weight = np.where(small, rng.uniform(500, 2600, n), rng.normal(3300, 450, n))
        weight = np.clip(np.rint(weight / 10) * 10, 400, 5500)
        los = np.clip(np.rint(np.exp(rng.normal(math.log(7), 0.6, n))), 1, 90).astype(np.int64)
        discharge = rng.choice(np.array([1, 2, 5]), size=n, p=[0.94, 0.03, 0.03])
        return {
            "sex": sex.astype(np.int64),
            "age": age,
            "age_days": pl.Series(days.astype(np.int64)).set(pl.Series(~infant), None),
            "birth_weight_g": pl.Series(weight.astype(np.float64)).set(
                pl.Series(~(infant & (days <= 28))), None
            ),
            "los_days": los,
            "discharge_type": discharge.astype(np.int64),
        }

    # 2.-7. ---------------------------------------------------------------------------------
    def run(self) -> pl.DataFrame:
        cfg, cat, ts = self.cfg, self.cat, self.ts
        cand, cand_dx = self.candidates()
        res = group(cand, ts)

        # the pool of each reachable DRG: candidates grouped there with status ok
        adrg_pos = {c: i for i, c in enumerate(cat.adrg)}
        drg_all = [d for d, _, _, _ in ts.drgs()]
        drg_pos = {c: i for i, c in enumerate(drg_all)}
        ok = (res["status"] == "ok").to_numpy()
        c_drg = res["drg"].replace_strict(drg_pos, default=-1, return_dtype=pl.Int64).to_numpy()
        c_adrg = res["adrg"].replace_strict(adrg_pos, default=-1, return_dtype=pl.Int64)
        ok &= (c_drg >= 0) & (c_adrg.to_numpy() >= 0)
        ok_idx = np.flatnonzero(ok)
        if ok_idx.size == 0:
            raise ValueError(f"no synthetic case groups into a DRG of table set {ts.name!r}")
        reach, pool_of = np.unique(c_drg[ok_idx], return_inverse=True)
        drg_names = np.asarray(drg_all, dtype=object)[reach]
        n_drg = reach.size
        pool_cand = ok_idx[np.argsort(pool_of, kind="stable")].astype(np.int64)
        pool_size = np.bincount(pool_of, minlength=n_drg).astype(np.int64)
        pool_start = np.concatenate([[0], np.cumsum(pool_size)[:-1]]).astype(np.int64)

        weights = resolve_weights(ts, cfg.weights)
        rw_map = dict(weights.select("drg", "rw").rows())
        rw = np.array([rw_map.get(d, 1.0) for d in drg_names], dtype=np.float64)
        names = self._drg_names()
        common = np.array(
            [any(w in names.get(d, "") for w in COMMON_GROUPS) for d in drg_names], dtype=bool
        )

        # the regional mix: a weighted random order, Zipf-like frequencies by rank
        rng = self.rng["mix"]
        prio = np.where(common, 25.0, 1.0) * rw**-0.5 * np.minimum(1.0, pool_size / 20.0)
        rank = np.empty(n_drg, dtype=np.int64)
        rank[_weighted_order(prio, rng)] = np.arange(n_drg)
        base_p = 1.0 / (rank + 3.0) ** cfg.zipf_exponent

        # hospitals: levels, sizes, cost factors, case-mix tilts
        rng = self.rng["hospitals"]
        n_h = cfg.hospitals
        n_third = max(1, round(n_h * cfg.third_level_share))
        n_third = min(n_third, n_h - 1) if n_h > 1 else 1
        level = np.where(np.arange(n_h) < n_third, 0, 1).astype(np.int64)
        size_w = np.where(level == 0, 2.5, 1.0) * np.exp(rng.normal(0, 0.3, n_h))
        n_cases = rng.multinomial(cfg.cases, size_w / size_w.sum())
        h_factor = np.exp(rng.normal(0, 0.05, n_h))
        tilt = np.exp(rng.normal(0, 0.4, (n_h, n_drg)))
        beta = np.where(level == 0, 0.3, -0.5)

        # cases: hospital, DRG, candidate
        rng = self.rng["cases"]
        hosp_parts, drg_parts = [], []
        for h in range(n_h):
            p = base_p * tilt[h] * rw ** beta[h]
            counts = rng.multinomial(n_cases[h], p / p.sum())
            hosp_parts.append(np.full(n_cases[h], h, dtype=np.int64))
            drg_parts.append(np.repeat(np.arange(n_drg, dtype=np.int64), counts))
        hosp = np.concatenate(hosp_parts)
        d = np.concatenate(drg_parts)
        ci = pool_cand[pool_start[d] + (rng.random(d.size) * pool_size[d]).astype(np.int64)]
        cc_level = (
            res["cc_level"].replace_strict({"MCC": 2, "CC": 1}, default=0, return_dtype=pl.Int8)
        ).to_numpy()[ci]
        adrg = c_adrg.to_numpy()[ci]
        return self._cases(
            cand, cand_dx, hosp, level, h_factor, d, drg_names, rw, ci, adrg, cc_level
        )

    def _drg_names(self) -> dict[str, str]:
        adrg_name = {c: n for c, _, n, _ in self.ts.adrgs()}
        return {d: f"{name} {adrg_name.get(a, '')}" for d, a, name, _ in self.ts.drgs()}

    def _cases(
        self,
        cand: pl.DataFrame,
        cand_dx: IntArray,
        hosp: IntArray,
        level: IntArray,
        h_factor: FloatArray,
        d: IntArray,
        drg_names: npt.NDArray[Any],
        rw: FloatArray,
        ci: IntArray,
        adrg: IntArray,
        cc_level: npt.NDArray[np.int8],
    ) -> pl.DataFrame:
        cfg, cat, ts = self.cfg, self.cat, self.ts
        n, n_drg = d.size, drg_names.size
        mdc_codes = sorted(set(cat.adrg_mdc))
        mdc_of_adrg = np.array([mdc_codes.index(m) for m in cat.adrg_mdc], dtype=np.int64)
        mdc = mdc_of_adrg[adrg]

        # 3. cost and stay, 4. outliers
        rng = self.rng["cost"]
        lo, hi = cfg.sigma_range
        sigma_g = rng.uniform(lo, hi, n_drg)
        alos_g = (1.5 + 6.0 * rw**0.6) * np.exp(rng.normal(0, 0.2, n_drg))
        tau_g = rng.uniform(0.3, 0.5, n_drg)
        z1 = np.clip(rng.standard_normal(n), -3.0, 3.0)
        z2 = np.clip(rng.standard_normal(n), -3.0, 3.0)
        rho = cfg.cost_los_correlation
        lvl_f = np.array([cfg.level_cost_factor[x] for x in _LEVELS])
        mu = np.log(rw[d] * cfg.rate * lvl_f[level[hosp]] * h_factor[hosp])
        cost = np.exp(mu + sigma_g[d] * z1)
        z_los = rho * z1 + math.sqrt(1 - rho**2) * z2
        log_los = np.log(alos_g[d] * np.where(level[hosp] == 0, 1.0, 1.1)) + tau_g[d] * z_los
        flag = np.zeros(n, dtype=np.int64)  # 0 normal, 1 high, 2 low, 3 coding error
        n_out = round(cfg.outlier_share * n / 2)
        perm = rng.permutation(n)
        hi_idx, lo_idx = perm[:n_out], perm[n_out : 2 * n_out]
        mult = np.ones(n)
        mult[hi_idx] = rng.uniform(3.0, 6.0, hi_idx.size)
        mult[lo_idx] = rng.uniform(0.1, 0.3, lo_idx.size)
        flag[hi_idx], flag[lo_idx] = 1, 2
        cost = np.round(cost * mult, 2)
        los = np.clip(np.rint(np.exp(log_los) * np.sqrt(mult)), 1, 180).astype(np.int64)

        # discharge type: deaths more likely with an MCC and in old age
        c_sex = cand["sex"].to_numpy()[ci]
        c_age = cand["age"].to_numpy()[ci]
        c_los = cand["los_days"].to_numpy()[ci]
        c_dis = cand["discharge_type"].to_numpy()[ci]
        age = c_age.copy()
        p_death = np.select([cc_level == 2, cc_level == 1], [0.04, 0.008], 0.002)
        p_death = p_death * np.select([age >= 80, age >= 65], [2.5, 1.5], 1.0)
        p_transfer = np.where(cc_level == 2, 0.04, 0.015)
        u = rng.random(n)
        dis = np.where(u < p_death, 5, np.where(u < p_death + p_transfer, 2, 1)).astype(np.int64)

        # 5. readmission pairs: same hospital, MDC and sex, close ages; the first stay survives
        first, second = self._pairs(hosp, mdc, c_sex, age, dis)
        age[second] = age[first]

        # 6. check: group the true data; a case whose group moved gets its candidate's values
        ci_s = pl.Series(ci)
        true_frame = pl.DataFrame(
            {
                "sex": c_sex,
                "age": age,
                "age_days": cand["age_days"].gather(ci_s),
                "birth_weight_g": cand["birth_weight_g"].gather(ci_s),
                "los_days": los,
                "discharge_type": dis,
                "dx": cand["dx"].gather(ci_s),
                "px": cand["px"].gather(ci_s),
            }
        )
        out = group(true_frame, ts).select(RESULT_COLUMNS)
        want = pl.Series("true_drg", drg_names.tolist(), dtype=pl.String).gather(pl.Series(d))
        moved = np.flatnonzero(((out["drg"] != want) | (out["status"] != "ok")).to_numpy())
        parts = [out]
        src = np.arange(n, dtype=np.int64)  # row of the concatenated results for each case
        if moved.size:
            los[moved], dis[moved], age[moved] = c_los[moved], c_dis[moved], c_age[moved]
            true_frame = true_frame.with_columns(
                pl.Series("los_days", los), pl.Series("discharge_type", dis), pl.Series("age", age)
            )
            again = group(true_frame[moved], ts).select(RESULT_COLUMNS)
            if (again["drg"] != want.gather(pl.Series(moved))).any():
                raise RuntimeError("a synthetic case does not group as its candidate did")
            parts.append(again)
            src[moved] = n + np.arange(moved.size)
            moved_mask = np.zeros(n, dtype=bool)
            moved_mask[moved] = True
            keep = ~(moved_mask[second] | (dis[first] == 5) | (age[second] != age[first]))
            first, second = first[keep], second[keep]

        # dates: a pair's two stays and the gap between them fit in the year
        rng = self.rng["dates"]
        jan1 = dt.date(cfg.year, 1, 1)
        n_days = (dt.date(cfg.year + 1, 1, 1) - jan1).days
        los = np.minimum(los, n_days - 1)
        gap = np.minimum(rng.geometric(1 / 9, first.size) - 1, 30)
        span = los[first] + gap + los[second]
        fits = span <= n_days - 1
        first, second, gap, span = first[fits], second[fits], gap[fits], span[fits]
        adm = (rng.random(n) * (n_days - los)).astype(np.int64)
        adm[first] = (rng.random(first.size) * (n_days - span)).astype(np.int64)
        adm[second] = adm[first] + los[first] + gap
        readmit = np.zeros(n, dtype=bool)
        readmit[second] = True

        # departments and doctors
        dept, doctor, doc_weight = self._staff(hosp, adrg, age)

        # 7. coding errors among the non-outliers, more often from some doctors
        rng = self.rng["errors"]
        n_dx = (cand_dx >= 0).sum(axis=1)[ci]
        has_mcc = cat.mcc_dx >= 0
        eligible = (flag == 0) & ((n_dx >= 2) | has_mcc)
        err = _top_k(np.where(eligible, doc_weight, 0.0), round(cfg.coding_error_share * n), rng)
        flag[err] = 3
        dx_src = ci.copy()  # row of the concatenated diagnosis lists for each case
        dx_parts = [cand["dx"]]
        if err.size:
            coded = self._miscode(cand_dx[ci[err]], n_dx[err], rng)
            coded_dx = _codes(cat.dx, coded)
            frame = true_frame[err].with_columns(coded_dx)
            regrouped = group(frame, ts).select(RESULT_COLUMNS)
            parts.append(regrouped)
            src[err] = sum(p.height for p in parts[:-1]) + np.arange(err.size)
            dx_parts.append(coded_dx)
            dx_src[err] = cand.height + np.arange(err.size)

        # ids, insurance, and the frame in hospital and discharge order
        rng = self.rng["ids"]
        patient = rng.permutation(n).astype(np.int64) + 1
        patient[second] = patient[first]
        p_emp = np.select([age < 18, age < 60], [0.03, 0.62], 0.45)
        employee = rng.random(n) < p_emp + np.where(level[hosp] == 0, 0.05, 0.0)
        employee[second] = employee[first]
        order = np.lexsort((patient, adm, adm + los, hosp))
        hosp_o = hosp[order]
        seq = np.arange(n) - np.searchsorted(hosp_o, hosp_o) + 1
        epoch = (jan1 - dt.date(1970, 1, 1)).days
        width_h = max(2, len(str(cfg.hospitals)))
        hosp_ids = [f"H{h + 1:0{width_h}d}" for h in range(cfg.hospitals)]
        dept_names = _department_names()

        def strings(values: Sequence[str], idx: npt.NDArray[Any]) -> pl.Series:
            return pl.Series(list(values), dtype=pl.String).gather(pl.Series(idx[order]))

        def ints(values: npt.NDArray[Any]) -> pl.Series:
            return pl.Series(values[order].astype(np.int64))

        frame = pl.DataFrame(
            {
                "_seq": pl.Series(seq),
                "_patient": ints(patient),
                "hospital_id": strings(hosp_ids, hosp),
                "hospital_level": strings(_LEVELS, level[hosp]),
                "department": strings(dept_names, dept),
                "_dept": ints(dept),
                "_doctor": ints(doctor + 1),
                "insurance_type": strings(("居民", "职工"), employee.astype(np.int64)),
                "sex": ints(c_sex),
                "age": ints(age),
                "age_days": true_frame["age_days"].gather(pl.Series(order)),
                "birth_weight_g": true_frame["birth_weight_g"].gather(pl.Series(order)),
                "admission_date": pl.Series((adm + epoch)[order].astype(np.int32)).cast(pl.Date),
                "discharge_date": pl.Series((adm + los + epoch)[order].astype(np.int32)).cast(
                    pl.Date
                ),
                "los_days": ints(los),
                "discharge_type": ints(dis),
                "dx": pl.concat(dx_parts).gather(pl.Series(dx_src[order])),
                "px": cand["px"].gather(pl.Series(ci[order])),
                "total_cost": pl.Series(cost[order]),
                "true_drg": want.gather(pl.Series(order)),
                "case_flag": strings(
                    ("normal", "high_outlier", "low_outlier", "coding_error"), flag
                ),
                "readmission_31d": pl.Series(readmit[order]),
            }
        )
        result = pl.concat(parts).gather(pl.Series(src[order]))
        n_width = max(6, len(str(n)))
        frame = pl.concat([frame, result], how="horizontal").with_columns(
            (
                pl.col("hospital_id")
                + pl.lit(f"-{cfg.year}-")
                + pl.col("_seq").cast(pl.String).str.zfill(n_width)
            ).alias("case_id"),
            ("P" + pl.col("_patient").cast(pl.String).str.zfill(max(8, len(str(n))))).alias(
                "patient_id"
            ),
            (
                pl.col("hospital_id")
                + "-D"
                + pl.col("_dept").cast(pl.String).str.zfill(2)
                + "-"
                + pl.col("_doctor").cast(pl.String).str.zfill(2)
            ).alias("doctor_id"),
        )
        return frame.select(COLUMNS)

    def _miscode(self, dx: IntArray, n_dx: IntArray, rng: np.random.Generator) -> IntArray:
        """Coding errors: drop a secondary diagnosis (the most severe CC/MCC, else the last;
        40 %), swap the principal and the first secondary (30 %), or add an MCC (30 %)."""
        cat = self.cat
        m = dx.copy()
        k = m.shape[0]
        rows = np.arange(k)
        has_mcc = cat.mcc_dx >= 0
        kind = np.asarray(rng.choice(3, size=k, p=[0.4, 0.3, 0.3]), dtype=np.int64)  # drop swap add
        # one diagnosis: only an added MCC fits; no MCC in the set: only the other two
        kind = np.where(n_dx < 2, 2, kind) if has_mcc else np.where(kind == 2, 0, kind)
        sev = np.where(m >= 0, cat.dx_level[np.maximum(m, 0)], -1).astype(np.int64)
        sev[:, 0] = -2
        worst = np.argmax(sev, axis=1)
        pos = np.where(sev[rows, worst] > 0, worst, np.maximum(n_dx - 1, 1))
        drop = rows[kind == 0]
        m[drop, pos[drop]] = -1
        swap = rows[kind == 1]
        m[swap, 0], m[swap, 1] = dx[swap, 1], dx[swap, 0]
        add = rows[kind == 2]
        if add.size:
            m[add, _MAX_DX - 1] = cat.pools.draw(np.full(add.size, cat.mcc_dx), rng)
        return _compact(_dedupe(m))

    def _pairs(
        self, hosp: IntArray, mdc: IntArray, sex: IntArray, age: IntArray, dis: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Readmission pairs (first stay, second stay)."""
        rng = self.rng["readmit"]
        n = hosp.size
        share = self.cfg.readmission_share
        pick = np.flatnonzero(age >= 1)
        if share <= 0 or pick.size < 2:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        cell = (hosp * (int(mdc.max()) + 1) + mdc) * 3 + sex  # hospital, MDC, sex
        order = np.lexsort((rng.random(pick.size), cell[pick] * 256 + np.minimum(age[pick], 255)))
        s = pick[order]
        key = cell[s]
        new = np.concatenate([[True], key[1:] != key[:-1]])
        start = np.maximum.accumulate(np.where(new, np.arange(s.size), 0))
        pos = np.arange(s.size) - start
        head = np.flatnonzero((pos[:-1] % 2 == 0) & (key[1:] == key[:-1]))
        q = min(1.0, share * n / max(head.size, 1))
        head = head[rng.random(head.size) < q]
        a, b = s[head], s[head + 1]
        flip = (rng.random(a.size) < 0.5) | (dis[a] == 5)
        flip &= dis[b] != 5
        a, b = np.where(flip, b, a), np.where(flip, a, b)
        alive = dis[a] != 5
        return a[alive].astype(np.int64), b[alive].astype(np.int64)

    def _staff(
        self, hosp: IntArray, adrg: IntArray, age: IntArray
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Department index, doctor number and the doctor's coding-error propensity."""
        cat, rng = self.cat, self.rng["staff"]
        names = _department_names()
        pos = {x: i for i, x in enumerate(names)}
        dept_of, child_ok = [], []
        for code, mdc in zip(cat.adrg, cat.adrg_mdc, strict=True):
            surgical = code[1:2].upper() in _SURGICAL
            med, sur = DEPARTMENTS.get(mdc, ("内科", "外科"))
            if mdc == "A" and code.upper().startswith("AH"):
                med = sur = "重症医学科"
            dept_of.append(pos[sur if surgical else med])
            child_ok.append(not surgical and mdc not in ("A", "O", "P", "T", "U"))
        dept = np.asarray(dept_of, dtype=np.int64)[adrg]
        child = np.asarray(child_ok, dtype=bool)[adrg] & (age < 14)
        dept = np.where(child, pos["儿科"], dept)
        n_h = int(hosp.max()) + 1 if hosp.size else 1
        cell = hosp * len(names) + dept
        count = np.bincount(cell, minlength=n_h * len(names))
        n_doc = np.clip(2 + np.rint(np.sqrt(count) / 5), 2, 15).astype(np.int64)[cell]
        doctor = np.minimum((rng.random(hosp.size) ** 1.5 * n_doc).astype(np.int64), n_doc - 1)
        propensity = np.exp(rng.normal(0, 0.8, (n_h * len(names), 15)))
        return dept, doctor, propensity[cell, doctor]


def _department_names() -> list[str]:
    return sorted({x for pair in DEPARTMENTS.values() for x in pair} | set(_OTHER_DEPARTMENTS))
