//! DIP matching: an arbitrary catalogue (any text in every column, scores including NaN and
//! negatives) and arbitrary cases. Invariants: no panic; a catalogue is compiled or refused
//! with a message; matching gives one result row per case with a known reason, and a group
//! that exists in the catalogue (or the blank group).
#![no_main]

use arbitrary::Arbitrary;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use drgsim_core::dip::{match_batch, Catalogue, BLANK};
use drgsim_core_fuzz::CodeCol;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

#[derive(Arbitrary, Debug)]
struct Row {
    group_id: Option<String>,
    kind: u8,
    dx_key: Option<String>,
    procedures: Option<String>,
    treatment: Option<u8>,
    score: Option<f64>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rows: Vec<Row>,
    dx_length: u8,
    count_diagnostic: bool,
    cases: u8,
    dx: CodeCol,
    px: CodeCol,
}

const KINDS: [&str; 7] = [
    "core",
    "comprehensive",
    "核心",
    "综合",
    "核心病种",
    "综合病种",
    "x",
];
const TREATMENTS: [&str; 5] = ["保守治疗", "诊断性操作", "治疗性操作", "相关手术", "手术"];
const REASONS: [&str; 6] = [
    "exact",
    "subset",
    "comprehensive",
    "comprehensive_category",
    "blank",
    "invalid",
];

fuzz_target!(|input: Input| {
    let rows = &input.rows[..input.rows.len().min(16)];
    let s = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let catalogue = RecordBatch::try_from_iter([
        ("group_id", s(&|r| r.group_id.clone())),
        (
            "kind",
            s(&|r| Some(KINDS[r.kind as usize % KINDS.len()].into())),
        ),
        ("dx_key", s(&|r| r.dx_key.clone())),
        ("procedures", s(&|r| r.procedures.clone())),
        (
            "treatment",
            s(&|r| {
                r.treatment
                    .map(|t| TREATMENTS[t as usize % TREATMENTS.len()].into())
            }),
        ),
        (
            "score",
            Arc::new(rows.iter().map(|r| r.score).collect::<Float64Array>()) as ArrayRef,
        ),
    ])
    .expect("catalogue columns");
    let dx_length = input.dx_length as usize % 8;
    let Ok(c) = Catalogue::from_batches(&[catalogue], dx_length, input.count_diagnostic) else {
        return;
    };
    let groups: Vec<String> = rows.iter().filter_map(|r| r.group_id.clone()).collect();

    let n = input.cases as usize % 12;
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    if let Some(a) = input.dx.array(n) {
        cols.push(("dx", a));
    }
    if let Some(a) = input.px.array(n) {
        cols.push(("px", a));
    }
    if cols.is_empty() {
        return;
    }
    let batch = RecordBatch::try_from_iter(cols).expect("case columns");
    let Ok(out) = match_batch(&c, &batch) else {
        return;
    };
    assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), n);
    for b in &out {
        let group = b.column_by_name("dip_group").unwrap().as_string_view();
        let reason = b.column_by_name("dip_reason").unwrap().as_string_view();
        for i in 0..b.num_rows() {
            let r = reason.value(i);
            assert!(REASONS.contains(&r), "reason {r}");
            if group.is_valid(i) {
                let g = group.value(i);
                assert!(
                    g == BLANK || groups.iter().any(|x| x.trim() == g),
                    "group {g}"
                );
            } else {
                assert_eq!(r, "invalid");
            }
        }
    }
});
