"""Counterfactuals for coding audit (issue 7, item 4)."""

from __future__ import annotations

import polars as pl

import drgsim
from drgsim import synth
from drgsim.counterfactual import counterfactual


def test_stroke_cases_both_directions():
    """Stroke with respiratory failure (an MCC) hangs on J96.000: without it the case drops
    from BR11 to BR15. Stroke without complication would rise to BR11 with one MCC."""
    df = pl.DataFrame({"sex": [1, 1], "age": [67, 67], "dx": ["I63.900|J96.000", "I63.900"]})
    out = counterfactual(df)
    a, b = out.row(0, named=True), out.row(1, named=True)
    assert (a["cf_flag"], a["cf_drop_code"], a["cf_drop_drg"]) == ("at_risk", "J96.000", "BR15")
    assert (b["cf_flag"], b["cf_add_drg"]) == ("documentation", "BR11")
    assert b["cf_add_rw"] > 0


def test_counterfactuals_agree_with_regrouping():
    """Every reported DRG is what grouping the edited case gives."""
    cases = synth.hospital("teaching", cases=3000, hospitals=1, seed=4).select(
        "sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_type", "dx", "px"
    )
    out = counterfactual(cases).with_row_index("i")
    drops = out.filter(pl.col("cf_drop_code").is_not_null())
    assert drops.height > 0

    def without(codes: list[str], code: str, keep_first: bool) -> list[str]:
        start = 1 if keep_first else 0
        i = codes.index(code, start)
        return codes[:i] + codes[i + 1 :]

    rows = []
    for r in drops.iter_rows(named=True):
        code = r["cf_drop_code"]
        dx, px = list(r["dx"]), list(r["px"] or [])
        if code in dx[1:]:
            dx = without(dx, code, True)
        else:
            px = without(px, code, False)
        rows.append({**{c: r[c] for c in cases.columns}, "dx": dx, "px": px})
    edited = pl.DataFrame(rows, schema=cases.schema)
    regrouped = drgsim.group(edited.select(cases.columns))
    assert regrouped["drg"].to_list() == drops["cf_drop_drg"].to_list()
    adds = out.filter(pl.col("cf_add_code").is_not_null())
    assert adds.height > 0
    edited = adds.with_columns(dx=pl.col("dx").list.concat(pl.concat_list("cf_add_code")))
    assert (
        drgsim.group(edited.select(cases.columns))["drg"].to_list() == adds["cf_add_drg"].to_list()
    )


def test_not_grouped_cases_have_no_counterfactual():
    df = pl.DataFrame(
        {"sex": [1], "age": [None], "dx": ["I63.900"]}, schema_overrides={"age": pl.Int64}
    )
    out = counterfactual(df)
    assert out["cf_flag"][0] is None and out["cf_sensitive_codes"][0] is None
