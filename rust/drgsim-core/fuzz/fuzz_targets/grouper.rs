//! Arbitrary cases through the built-in teaching set, as the Python binding hands them over:
//! an Arrow batch whose columns may have any accepted type (or a refused one), nulls, and any
//! text. Invariants: no panic; a refused column is an error, never a panic; otherwise exactly
//! one result row per case, with a known status; a row's result does not depend on the other
//! rows of the batch (grouping the row alone gives the same result).
#![no_main]

use arbitrary::Arbitrary;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use drgsim_core::batch::{group_range, to_batch, Columns};
use drgsim_core_fuzz::{teaching, CodeCol, NumCol};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    rows: u8,
    sex: NumCol,
    age: NumCol,
    age_days: NumCol,
    birth_weight_g: NumCol,
    los_days: NumCol,
    discharge_type: NumCol,
    dx: CodeCol,
    px: CodeCol,
    input_error: Option<Vec<Option<String>>>,
    trace: bool,
}

const STATUSES: [&str; 4] = ["ok", "qy", "ungroupable", "invalid"];

fn cell(b: &RecordBatch, col: &str, i: usize) -> Option<String> {
    let a = b.column_by_name(col).expect("result column");
    let a = a.as_string_view();
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn row(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    [
        "status", "reason", "message", "mdc", "adrg", "drg", "cc_level", "cc_code",
    ]
    .iter()
    .map(|c| cell(b, c, i))
    .collect()
}

fn group(batch: &RecordBatch, trace: bool) -> Option<RecordBatch> {
    let g = teaching();
    let c = Columns::new(batch).ok()?;
    Some(to_batch(g, &group_range(g, &c, 0..c.len(), trace)))
}

fuzz_target!(|input: Input| {
    let n = input.rows as usize % 12;
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    for (name, col) in [
        ("sex", &input.sex),
        ("age", &input.age),
        ("age_days", &input.age_days),
        ("birth_weight_g", &input.birth_weight_g),
        ("los_days", &input.los_days),
        ("discharge_type", &input.discharge_type),
    ] {
        if let Some(a) = col.array(n) {
            cols.push((name, a));
        }
    }
    for (name, col) in [("dx", &input.dx), ("px", &input.px)] {
        if let Some(a) = col.array(n) {
            cols.push((name, a));
        }
    }
    if let Some(v) = &input.input_error {
        let v: Vec<Option<&str>> = (0..n)
            .map(|i| v.get(i).and_then(|s| s.as_deref()))
            .collect();
        cols.push(("_input_error", std::sync::Arc::new(StringArray::from(v))));
    }
    let batch = if cols.is_empty() {
        return;
    } else {
        RecordBatch::try_from_iter(cols).expect("columns of equal length")
    };

    let refused = matches!(input.dx, CodeCol::Absent) || input.dx.is_wrong() || input.px.is_wrong();
    let Some(out) = group(&batch, input.trace) else {
        assert!(refused, "a batch with readable columns was refused");
        return;
    };
    assert!(!refused, "a refused column was read");
    assert_eq!(out.num_rows(), n, "one result per case");
    assert_eq!(out.column_by_name("trace").is_some(), input.trace);
    for i in 0..n {
        let r = row(&out, i);
        let status = r[0].as_deref().expect("status is never null");
        assert!(STATUSES.contains(&status), "unknown status {status}");
        let drg = r[5].as_deref();
        match status {
            "ok" | "qy" => assert!(drg.is_some_and(|d| d != "0000"), "{r:?}"),
            _ => assert!(r[1].is_some(), "a case not grouped has a reason: {r:?}"),
        }
    }
    // The first and the last row grouped on their own give the same result.
    for i in [0, n.saturating_sub(1)] {
        if n > 1 {
            let alone = group(&batch.slice(i, 1), false).expect("a slice reads like the batch");
            assert_eq!(
                row(&alone, 0),
                row(&out, i),
                "row {i} depends on the other rows"
            );
        }
    }
});
