//! Counterfactuals for coding audit: what each case would group to with one code fewer or
//! with one complication more.
//!
//! For every grouped case:
//! - **removals**: the case is regrouped without each single secondary diagnosis and each
//!   single procedure in turn. A removal that moves the case to a DRG of lower weight marks it
//!   `at_risk` (it hangs on that code: an auditor who denies it lowers the payment, the
//!   高编高套 risk); the lowest such DRG is reported.
//! - **additions**: the case is regrouped with one MCC, then one CC, added as a secondary
//!   diagnosis (a code of `cc.csv` that no `any_dx`/`secondary_dx` rule reads, from another
//!   exclusion table than the principal's, so it changes the complication level and nothing
//!   else). A higher-weight
//!   result marks `documentation`: a complication that is present but not coded would move the
//!   case up. The effect of secondary diagnoses on ADRG rules is not explored here.

use crate::batch::{par_chunks, resolve_range, row_case, Columns, ViewColumn};
use crate::codes::NONE;
use crate::error::BatchError;
use crate::expr::Subject;
use crate::grouper::{Case, Grouper, Status};
use arrow_array::builder::{Float64Builder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Codes added by the addition pass: per level (MCC, CC) up to two codes of different
/// exclusion tables, each in no rule list.
#[derive(Debug, Clone, Default)]
pub struct Additions {
    mcc: Vec<u32>,
    cc: Vec<u32>,
}

impl Additions {
    /// Pick the codes from a grouper's CC/MCC table.
    pub fn new(g: &Grouper) -> Additions {
        // Lists a secondary diagnosis can matter to: those read by any_dx / secondary_dx.
        let mut read: Vec<u32> = Vec::new();
        let mut note = |s: Subject, l: &u32| {
            if matches!(s, Subject::AnyDx | Subject::SecondaryDx) {
                read.push(*l);
            }
        };
        g.mdcs.iter().for_each(|m| m.when.visit_lists(&mut note));
        g.adrgs.iter().for_each(|a| a.when.visit_lists(&mut note));
        g.drgs
            .iter()
            .filter_map(|d| d.when.as_ref())
            .for_each(|w| w.visit_lists(&mut note));
        let mut in_lists = vec![false; g.dx.len()];
        for &l in &read {
            for id in g.lists[l as usize].bits.iter() {
                if let Some(x) = in_lists.get_mut(id as usize) {
                    *x = true;
                }
            }
        }
        let mut a = Additions::default();
        let mut ids: Vec<u32> = (0..g.cc_level.len() as u32).collect();
        ids.sort_by(|x, y| g.dx.name(*x).cmp(g.dx.name(*y)));
        for id in ids {
            let level = g.cc_level[id as usize];
            if level == 0 || in_lists[id as usize] || g.gray_dx.has(id) {
                continue;
            }
            let v = if level == 2 { &mut a.mcc } else { &mut a.cc };
            let table = g.cc_table[id as usize];
            if v.len() < 2 && v.iter().all(|&o| g.cc_table[o as usize] != table) {
                v.push(id);
            }
        }
        a
    }

    fn pick(&self, g: &Grouper, level: u8, principal: u32) -> Option<u32> {
        let v = if level == 2 { &self.mcc } else { &self.cc };
        let t = g.cce.get(principal as usize).copied().unwrap_or(u32::MAX);
        v.iter()
            .copied()
            .find(|&c| t == u32::MAX || g.cc_table[c as usize] != t)
    }
}

/// The schema of the counterfactual columns.
pub fn result_schema() -> Arc<Schema> {
    let s = |n: &str| Field::new(n, DataType::Utf8View, true);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        s("cf_flag"),
        Field::new("cf_sensitive_codes", DataType::UInt32, true),
        s("cf_drop_code"),
        s("cf_drop_drg"),
        f("cf_drop_rw"),
        s("cf_add_code"),
        s("cf_add_drg"),
        f("cf_add_rw"),
    ]))
}

struct Found {
    /// Position of the removed code in the case's list, or the added code's id.
    code: u32,
    is_dx: bool,
    added: bool,
    drg: String,
    rw: f64,
}

/// The `k`-th non-empty code of row `i` as the input wrote it.
fn raw_code<'a>(codes: &crate::batch::Codes<'a>, i: usize, k: usize) -> Option<&'a str> {
    let (mut n, mut out) = (0usize, None);
    codes.each(i, |c| {
        if n == k {
            out = Some(c);
        }
        n += 1;
    });
    out
}

fn run_range(
    g: &Grouper,
    add: &Additions,
    rw: &[f64],
    c: &Columns,
    range: std::ops::Range<usize>,
) -> RecordBatch {
    let n = range.len();
    let r = resolve_range(g, c, range.clone());
    let mut flag = ViewColumn::with_capacity(n);
    let mut sensitive = UInt32Builder::with_capacity(n);
    let (mut drop_code, mut drop_drg, mut add_code, mut add_drg) = (
        ViewColumn::with_capacity(n),
        ViewColumn::with_capacity(n),
        ViewColumn::with_capacity(n),
        ViewColumn::with_capacity(n),
    );
    let (mut drop_rw, mut add_rw) = (
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
    );
    let (mut dx_buf, mut px_buf): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    let (mut dx0, mut px0) = (0usize, 0usize);
    let weight = |o: &crate::grouper::Outcome| -> f64 {
        if o.status == Status::Ok && o.drg != NONE {
            rw.get(o.drg as usize).copied().unwrap_or(f64::NAN)
        } else {
            f64::NAN
        }
    };
    for (k, i) in range.enumerate() {
        let (dx1, px1) = (r.dx_end[k] as usize, r.px_end[k] as usize);
        let (dx, px) = (&r.dx[dx0..dx1], &r.px[px0..px1]);
        (dx0, px0) = (dx1, px1);
        let (base_case, err) = row_case(c, i);
        let case = Case {
            dx,
            px,
            ..base_case
        };
        let base = g.group(&case, err.as_deref(), None);
        if base.status != Status::Ok {
            flag.push_null();
            sensitive.append_null();
            for col in [&mut drop_code, &mut drop_drg, &mut add_code, &mut add_drg] {
                col.push_null();
            }
            drop_rw.append_null();
            add_rw.append_null();
            continue;
        }
        let base_rw = weight(&base);
        let (mut changes, mut drop): (u32, Option<Found>) = (0, None);
        let mut consider = |o: crate::grouper::Outcome, code: u32, is_dx: bool| {
            if o.drg == base.drg && o.status == base.status {
                return;
            }
            changes += 1;
            let w = weight(&o);
            if w < base_rw && drop.as_ref().is_none_or(|d| w < d.rw) {
                drop = Some(Found {
                    code,
                    is_dx,
                    added: false,
                    drg: g.drg_code(&o),
                    rw: w,
                });
            }
        };
        for (is_dx, codes, first) in [(true, dx, 1), (false, px, 0)] {
            for j in first..codes.len() {
                if codes[j] == NONE {
                    continue;
                }
                let buf = if is_dx { &mut dx_buf } else { &mut px_buf };
                buf.clear();
                buf.extend_from_slice(&codes[..j]);
                buf.extend_from_slice(&codes[j + 1..]);
                let edited = if is_dx {
                    Case { dx: buf, ..case }
                } else {
                    Case { px: buf, ..case }
                };
                consider(g.group(&edited, None, None), j as u32, is_dx);
            }
        }
        let mut up: Option<Found> = None;
        for level in [2u8, 1u8] {
            if base.cc_level >= level {
                continue;
            }
            let Some(code) = add.pick(g, level, dx[0]) else {
                continue;
            };
            dx_buf.clear();
            dx_buf.extend_from_slice(dx);
            dx_buf.push(code);
            let o = g.group(
                &Case {
                    dx: &dx_buf,
                    ..case
                },
                None,
                None,
            );
            let w = weight(&o);
            if o.drg != base.drg && w > base_rw && up.as_ref().is_none_or(|u| w > u.rw) {
                up = Some(Found {
                    code,
                    is_dx: true,
                    added: true,
                    drg: g.drg_code(&o),
                    rw: w,
                });
            }
        }
        flag.push_opt(match (drop.is_some(), up.is_some()) {
            (true, true) => Some("at_risk+documentation"),
            (true, false) => Some("at_risk"),
            (false, true) => Some("documentation"),
            (false, false) => None,
        });
        sensitive.append_value(changes);
        let name = |f: &Found| -> Option<&str> {
            match (f.added, f.is_dx) {
                (true, _) => Some(g.dx.name(f.code)),
                (false, true) => raw_code(&c.dx, i, f.code as usize),
                (false, false) => raw_code(&c.px, i, f.code as usize),
            }
        };
        drop_code.push_opt(drop.as_ref().and_then(name));
        drop_drg.push_opt(drop.as_ref().map(|d| d.drg.as_str()));
        drop_rw.append_option(drop.as_ref().map(|d| d.rw));
        add_code.push_opt(up.as_ref().and_then(name));
        add_drg.push_opt(up.as_ref().map(|d| d.drg.as_str()));
        add_rw.append_option(up.as_ref().map(|d| d.rw));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(flag.finish()),
        Arc::new(sensitive.finish()),
        Arc::new(drop_code.finish()),
        Arc::new(drop_drg.finish()),
        Arc::new(drop_rw.finish()),
        Arc::new(add_code.finish()),
        Arc::new(add_drg.finish()),
        Arc::new(add_rw.finish()),
    ];
    RecordBatch::try_new(result_schema(), cols).expect("counterfactual columns match the schema")
}

/// Weights by DRG index of a grouper, from a DRG code -> RW map (NaN where missing).
pub fn weights_by_index(g: &Grouper, rw: &FxHashMap<String, f64>) -> Vec<f64> {
    g.drgs
        .iter()
        .map(|d| rw.get(&d.code).copied().unwrap_or(f64::NAN))
        .collect()
}

/// Run the counterfactual pass over a batch (same input columns as grouping), in parallel.
pub fn counterfactual_batch(
    g: &Grouper,
    add: &Additions,
    rw: &[f64],
    batch: &RecordBatch,
) -> Result<Vec<RecordBatch>, BatchError> {
    let c = Columns::new(batch)?;
    Ok(par_chunks(c.len(), |r| run_range(g, add, rw, &c, r)))
}
