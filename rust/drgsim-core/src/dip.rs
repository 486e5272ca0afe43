//! DIP (按病种分值) matching: cases to a catalogue of groups (principal diagnosis key ×
//! procedure combination), with the reason for each match.
//!
//! The catalogue layout and the matching order are described in
//! `python/drgsim/dip/CATALOGUE.md`: exact core group, core group whose combination is a
//! subset of the case's procedures, comprehensive group by category and treatment type, the
//! category's other comprehensive groups, else the blank group `KBBZ`.

use crate::batch::{par_chunks, Codes, Str, ViewColumn};
use crate::codes::normalise;
use crate::error::BatchError;
use arrow_array::builder::Float64Builder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Treatment types, ordered: a higher value is the "higher" treatment.
pub const TREATMENTS: [&str; 4] = ["保守治疗", "诊断性操作", "治疗性操作", "相关手术"];
/// The blank group.
pub const BLANK: &str = "KBBZ";

/// The treatment type of a procedure code from its ICD-9-CM-3 chapter: 00–86 surgery (3),
/// 87–91 diagnostic (1), 92–99 therapeutic (2); anything else counts as therapeutic.
pub fn treatment_of(code: &str) -> u8 {
    let b = code.as_bytes();
    match (b.first(), b.get(1)) {
        (Some(a), Some(c)) if a.is_ascii_digit() && c.is_ascii_digit() => {
            match (a - b'0') * 10 + (c - b'0') {
                0..=86 => 3,
                87..=91 => 1,
                _ => 2,
            }
        }
        _ => 2,
    }
}

/// A procedure code as it forms combinations: normalised, cut to 7 characters.
fn px_key(code: &str) -> String {
    let n = normalise(code);
    n.chars().take(7).collect()
}

fn dx_key(code: &str, len: usize) -> String {
    let n = normalise(code);
    if len == 0 {
        n.into_owned()
    } else {
        n.chars().take(len).collect()
    }
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    core: bool,
    score: Option<f64>,
}

/// A core group's procedure combination (sorted procedure ids) and the group.
type Combination = (Box<[u32]>, u32);

/// A compiled catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    dx_length: usize,
    count_diagnostic: bool,
    groups: Vec<Group>,
    dx_keys: FxHashMap<String, u32>,
    categories: FxHashMap<String, u32>,
    px: FxHashMap<String, u32>,
    /// dx key id -> core combinations (sorted procedure ids, group), most procedures first.
    core: FxHashMap<u32, Vec<Combination>>,
    /// (category id, treatment) -> comprehensive group.
    comprehensive: FxHashMap<(u32, u8), u32>,
    /// category id -> comprehensive groups (treatment, group), for the category fall-back.
    by_category: FxHashMap<u32, Vec<(u8, u32)>>,
}

fn strings<'a>(b: &'a RecordBatch, name: &str, required: bool) -> Result<Option<Str<'a>>, String> {
    match b.column_by_name(name) {
        None if required => Err(format!("catalogue column '{name}' is missing")),
        None => Ok(None),
        Some(a) if a.data_type() == &DataType::Null => Ok(None),
        Some(a) => Str::of(a.as_ref()).map(Some).ok_or_else(|| {
            format!(
                "catalogue column '{name}' must hold text, not {}",
                a.data_type()
            )
        }),
    }
}

impl Catalogue {
    /// Compile a catalogue from its rows (columns `group_id`, `kind`, `dx_key`,
    /// `procedures`, `treatment`, `score`). Errors name the row (1-based) and the column.
    pub fn from_batches(
        batches: &[RecordBatch],
        dx_length: usize,
        count_diagnostic: bool,
    ) -> Result<Catalogue, String> {
        let mut c = Catalogue {
            dx_length,
            count_diagnostic,
            ..Catalogue::default()
        };
        let mut seen: FxHashMap<String, usize> = FxHashMap::default();
        let mut row0 = 0usize;
        let mut problems = Vec::new();
        for b in batches {
            let id = strings(b, "group_id", true)?.expect("required");
            let kind = strings(b, "kind", true)?.expect("required");
            let dx = strings(b, "dx_key", true)?.expect("required");
            let procs = strings(b, "procedures", false)?;
            let treat = strings(b, "treatment", false)?;
            let score = b
                .column_by_name("score")
                .ok_or("catalogue column 'score' is missing")?;
            let score: ArrayRef = match score.data_type() {
                DataType::Float64 => score.clone(),
                DataType::Null => score.clone(),
                other => {
                    return Err(format!(
                        "catalogue column 'score' must be Float64, not {other}"
                    ))
                }
            };
            for i in 0..b.num_rows() {
                let row = row0 + i + 1;
                let Some(gid) = id.get(i).map(str::trim).filter(|s| !s.is_empty()) else {
                    problems.push(format!("row {row}: empty group_id"));
                    continue;
                };
                if let Some(prev) = seen.insert(gid.to_string(), row) {
                    problems.push(format!("row {row}: group_id '{gid}' repeats row {prev}"));
                    continue;
                }
                let core = match kind.get(i).map(str::trim) {
                    Some("core") | Some("核心") | Some("核心病种") => true,
                    Some("comprehensive") | Some("综合") | Some("综合病种") => false,
                    other => {
                        problems.push(format!(
                            "row {row}: kind must be 'core' or 'comprehensive', not {other:?}"
                        ));
                        continue;
                    }
                };
                let dxk = dx.get(i).map(str::trim).unwrap_or("");
                if dxk.is_empty() {
                    problems.push(format!("row {row}: empty dx_key"));
                    continue;
                }
                let mut px_ids: Vec<u32> = Vec::new();
                let mut top = 0u8;
                for p in procs
                    .as_ref()
                    .and_then(|p| p.get(i))
                    .unwrap_or("")
                    .split(['+', '|', ',', '/'])
                {
                    let p = p.trim();
                    if p.is_empty() {
                        continue;
                    }
                    top = top.max(treatment_of(p));
                    let k = px_key(p);
                    let n = c.px.len() as u32;
                    px_ids.push(*c.px.entry(k).or_insert(n));
                }
                px_ids.sort_unstable();
                px_ids.dedup();
                let treatment = match treat.as_ref().and_then(|t| t.get(i)).map(str::trim) {
                    None | Some("") => top,
                    Some(t) => match TREATMENTS.iter().position(|x| *x == t) {
                        Some(p) => p as u8,
                        None => {
                            problems.push(format!(
                                "row {row}: treatment must be one of {}, not '{t}'",
                                TREATMENTS.join("/")
                            ));
                            continue;
                        }
                    },
                };
                let s = score
                    .as_primitive_opt::<arrow_array::types::Float64Type>()
                    .and_then(|a| a.is_valid(i).then(|| a.value(i)));
                if s.is_some_and(|s| s.is_nan() || s < 0.0) {
                    problems.push(format!("row {row}: score must be a number ≥ 0"));
                    continue;
                }
                let g = c.groups.len() as u32;
                c.groups.push(Group {
                    id: gid.to_string(),
                    core,
                    score: s,
                });
                if core {
                    let key = dx_key(dxk, 0);
                    let n = c.dx_keys.len() as u32;
                    let k = *c.dx_keys.entry(key).or_insert(n);
                    c.core
                        .entry(k)
                        .or_default()
                        .push((px_ids.into_boxed_slice(), g));
                } else {
                    let cat: String = dx_key(dxk, 3);
                    let n = c.categories.len() as u32;
                    let k = *c.categories.entry(cat).or_insert(n);
                    if c.comprehensive.insert((k, treatment), g).is_some() {
                        problems.push(format!(
                            "row {row}: a second comprehensive group for category '{dxk}' and {}",
                            TREATMENTS[treatment as usize]
                        ));
                        continue;
                    }
                    c.by_category.entry(k).or_default().push((treatment, g));
                }
            }
            row0 += b.num_rows();
        }
        if !problems.is_empty() {
            let n = problems.len();
            problems.truncate(20);
            return Err(format!(
                "{n} problem(s) in the catalogue:\n  {}",
                problems.join("\n  ")
            ));
        }
        let groups = c.groups.clone();
        let score = |g: u32| groups[g as usize].score.unwrap_or(f64::NEG_INFINITY);
        for v in c.core.values_mut() {
            v.sort_by(|a, b| {
                b.0.len()
                    .cmp(&a.0.len())
                    .then(score(b.1).total_cmp(&score(a.1)))
                    .then(groups[a.1 as usize].id.cmp(&groups[b.1 as usize].id))
            });
        }
        for v in c.by_category.values_mut() {
            v.sort_by(|a, b| b.0.cmp(&a.0).then(score(b.1).total_cmp(&score(a.1))));
        }
        Ok(c)
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether the catalogue has no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// The result of matching one case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Group index, or `u32::MAX` for the blank group / no group.
    pub group: u32,
    pub reason: &'static str,
    pub treatment: u8,
}

#[derive(Default)]
struct Scratch {
    px: Vec<u32>,
    key: String,
}

fn match_row(
    c: &Catalogue,
    dx: &Codes,
    px: &Codes,
    i: usize,
    s: &mut Scratch,
) -> (Match, Option<String>) {
    let mut principal: Option<&str> = None;
    dx.each(i, |code| {
        if principal.is_none() {
            principal = Some(code);
        }
    });
    let Some(p) = principal else {
        return (
            Match {
                group: u32::MAX,
                reason: "invalid",
                treatment: 0,
            },
            None,
        );
    };
    s.px.clear();
    let mut top = 0u8;
    let mut unknown = false;
    px.each(i, |code| {
        let t = treatment_of(code.trim_start());
        top = top.max(t);
        if t == 1 && !c.count_diagnostic {
            return;
        }
        s.key.clear();
        for ch in normalise(code).chars().take(7) {
            s.key.push(ch);
        }
        match c.px.get(s.key.as_str()) {
            Some(&id) => s.px.push(id),
            None => unknown = true,
        }
    });
    s.px.sort_unstable();
    s.px.dedup();
    let key = dx_key(p, c.dx_length);
    if let Some(combos) = c.dx_keys.get(&key).and_then(|k| c.core.get(k)) {
        if !unknown {
            if let Some((_, g)) = combos.iter().find(|(ps, _)| **ps == *s.px) {
                return (
                    Match {
                        group: *g,
                        reason: "exact",
                        treatment: top,
                    },
                    Some(key),
                );
            }
        }
        if let Some((_, g)) = combos
            .iter()
            .find(|(ps, _)| ps.iter().all(|x| s.px.binary_search(x).is_ok()))
        {
            return (
                Match {
                    group: *g,
                    reason: "subset",
                    treatment: top,
                },
                Some(key),
            );
        }
    }
    let cat = dx_key(p, 3);
    if let Some(&k) = c.categories.get(&cat) {
        if let Some(&g) = c.comprehensive.get(&(k, top)) {
            return (
                Match {
                    group: g,
                    reason: "comprehensive",
                    treatment: top,
                },
                Some(key),
            );
        }
        if let Some(v) = c.by_category.get(&k) {
            let pick = v.iter().find(|(t, _)| *t < top).or_else(|| v.first());
            if let Some(&(_, g)) = pick {
                return (
                    Match {
                        group: g,
                        reason: "comprehensive_category",
                        treatment: top,
                    },
                    Some(key),
                );
            }
        }
    }
    (
        Match {
            group: u32::MAX,
            reason: "blank",
            treatment: top,
        },
        Some(key),
    )
}

/// The schema of the matching result.
pub fn result_schema() -> Arc<Schema> {
    let s = |n: &str| Field::new(n, DataType::Utf8View, true);
    Arc::new(Schema::new(vec![
        s("dip_group"),
        s("dip_kind"),
        Field::new("dip_score", DataType::Float64, true),
        s("dip_reason"),
        s("dip_treatment"),
        s("dip_dx_key"),
    ]))
}

fn match_range(c: &Catalogue, dx: &Codes, px: &Codes, r: std::ops::Range<usize>) -> RecordBatch {
    let n = r.len();
    let mut b: Vec<ViewColumn> = (0..5).map(|_| ViewColumn::with_capacity(n)).collect();
    let mut score = Float64Builder::with_capacity(n);
    let mut s = Scratch::default();
    for i in r {
        let (m, key) = match_row(c, dx, px, i, &mut s);
        match c.groups.get(m.group as usize) {
            Some(g) => {
                b[0].push(&g.id);
                b[1].push(if g.core { "core" } else { "comprehensive" });
                score.append_option(g.score);
            }
            None if m.reason == "invalid" => {
                b[0].push_null();
                b[1].push_null();
                score.append_null();
            }
            None => {
                b[0].push(BLANK);
                b[1].push("blank");
                score.append_null();
            }
        }
        b[2].push(m.reason);
        if m.reason == "invalid" {
            b[3].push_null();
        } else {
            b[3].push(TREATMENTS[m.treatment as usize]);
        }
        b[4].push_opt(key.as_deref());
    }
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(6);
    let mut it = b.into_iter().map(|x| Arc::new(x.finish()) as ArrayRef);
    cols.push(it.next().expect("group"));
    cols.push(it.next().expect("kind"));
    cols.push(Arc::new(score.finish()));
    cols.extend(it);
    RecordBatch::try_new(result_schema(), cols).expect("result columns match the schema")
}

/// Match a batch of cases (columns `dx`, `px` as in DRG grouping) in parallel chunks.
pub fn match_batch(c: &Catalogue, batch: &RecordBatch) -> Result<Vec<RecordBatch>, BatchError> {
    let dx = Codes::of("dx", batch.column_by_name("dx"))?;
    if matches!(dx, Codes::Absent) {
        return Err(BatchError::Column {
            column: "dx".into(),
            message: "missing: the diagnoses, principal first".into(),
        });
    }
    let px = Codes::of("px", batch.column_by_name("px"))?;
    Ok(par_chunks(batch.num_rows(), |r| {
        match_range(c, &dx, &px, r)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, StringArray};

    fn catalogue() -> Catalogue {
        let rows: Vec<(&str, &str, &str, &str, &str, f64)> = vec![
            ("K80.0|51.2300", "core", "K80.0", "51.2300", "", 900.0),
            (
                "K80.0|51.2300+54.5100",
                "core",
                "K80.0",
                "51.2300+54.5100",
                "",
                1200.0,
            ),
            ("K80.0|", "core", "K80.0", "", "", 400.0),
            (
                "K80|相关手术",
                "comprehensive",
                "K80",
                "",
                "相关手术",
                1000.0,
            ),
            (
                "K80|保守治疗",
                "comprehensive",
                "K80",
                "",
                "保守治疗",
                350.0,
            ),
        ];
        let col = |k: usize| -> ArrayRef {
            let v: StringArray = rows
                .iter()
                .map(|r| Some([r.0, r.1, r.2, r.3, r.4][k]))
                .collect();
            Arc::new(v)
        };
        let b = RecordBatch::try_from_iter(vec![
            ("group_id", col(0)),
            ("kind", col(1)),
            ("dx_key", col(2)),
            ("procedures", col(3)),
            ("treatment", col(4)),
            (
                "score",
                Arc::new(rows.iter().map(|r| Some(r.5)).collect::<Float64Array>()) as ArrayRef,
            ),
        ])
        .expect("batch");
        Catalogue::from_batches(&[b], 5, false).expect("compiles")
    }

    fn run(c: &Catalogue, dx: &str, px: &str) -> (String, String) {
        let b = RecordBatch::try_from_iter(vec![
            ("dx", Arc::new(StringArray::from(vec![dx])) as ArrayRef),
            ("px", Arc::new(StringArray::from(vec![px])) as ArrayRef),
        ])
        .expect("batch");
        let out = &match_batch(c, &b).expect("matches")[0];
        let g = out.column(0).as_string_view().value(0).to_string();
        let r = out.column(3).as_string_view().value(0).to_string();
        (g, r)
    }

    #[test]
    fn match_order() {
        let c = catalogue();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            run(&c, "K80.000x004", "51.2300"),
            s("K80.0|51.2300", "exact")
        );
        assert_eq!(
            run(&c, "k80.001", "54.5100x001|51.2300"),
            s("K80.0|51.2300+54.5100", "exact")
        );
        // a diagnostic procedure does not count in the combination
        assert_eq!(
            run(&c, "K80.0", "51.2300|88.7601"),
            s("K80.0|51.2300", "exact")
        );
        // an extra therapeutic procedure: the largest subset
        assert_eq!(
            run(&c, "K80.0", "51.2300|54.5100|99.2501"),
            s("K80.0|51.2300+54.5100", "subset")
        );
        assert_eq!(run(&c, "K80.0", ""), s("K80.0|", "exact"));
        // another 4th character: comprehensive by category and treatment
        assert_eq!(
            run(&c, "K80.2", "51.2300"),
            s("K80|相关手术", "comprehensive")
        );
        assert_eq!(
            run(&c, "K80.2", "93.0100"),
            s("K80|保守治疗", "comprehensive_category")
        );
        assert_eq!(run(&c, "Z99.9", "51.2300"), s("KBBZ", "blank"));
    }

    #[test]
    fn bad_catalogue_rows_are_named() {
        let b = RecordBatch::try_from_iter(vec![
            (
                "group_id",
                Arc::new(StringArray::from(vec!["A", "A", "B"])) as ArrayRef,
            ),
            (
                "kind",
                Arc::new(StringArray::from(vec!["core", "core", "other"])) as ArrayRef,
            ),
            (
                "dx_key",
                Arc::new(StringArray::from(vec!["K80.0", "K80.0", "K80"])) as ArrayRef,
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![1.0, 2.0, -1.0])) as ArrayRef,
            ),
        ])
        .expect("batch");
        let e = Catalogue::from_batches(&[b], 5, false).unwrap_err();
        assert!(e.contains("row 2: group_id 'A' repeats row 1"), "{e}");
        assert!(e.contains("row 3: kind must be"), "{e}");
    }
}
