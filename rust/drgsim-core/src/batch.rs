//! Grouping Arrow record batches: columns in, result columns out, in parallel.
//!
//! Input columns (by name; all but `dx` may be absent, meaning missing values):
//! `sex`, `age`, `age_days`, `birth_weight_g`, `los_days`, `discharge_type` (any integer or
//! float type, or strings holding numbers), `dx`, `px` (list of strings, or one string with
//! codes separated by `|`, `,`, `;` or their full-width forms), and `_input_error` (string;
//! a non-null value marks the row invalid with that message).

use crate::codes::NONE;
use crate::error::BatchError;
use crate::grouper::{Case, Grouper, Outcome, Reason, Status, TraceStep};
use arrow_array::builder::{make_view, StringViewBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, GenericListArray, GenericStringArray, ListArray, OffsetSizeTrait, RecordBatch,
    StringArray, StringViewArray, StructArray,
};
use arrow_buffer::{Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, Schema};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows grouped per parallel task.
pub const CHUNK: usize = 8192;

pub(crate) enum Str<'a> {
    Utf8(&'a GenericStringArray<i32>),
    Large(&'a GenericStringArray<i64>),
    View(&'a StringViewArray),
}

impl<'a> Str<'a> {
    pub(crate) fn of(a: &'a dyn Array) -> Option<Str<'a>> {
        Some(match a.data_type() {
            DataType::Utf8 => Str::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Str::Large(a.as_string::<i64>()),
            DataType::Utf8View => Str::View(a.as_string_view()),
            _ => return None,
        })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Str::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Str::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Str::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

enum Num<'a> {
    Absent,
    F64(&'a arrow_array::Float64Array),
    F32(&'a arrow_array::Float32Array),
    I64(&'a arrow_array::Int64Array),
    I32(&'a arrow_array::Int32Array),
    I16(&'a arrow_array::Int16Array),
    I8(&'a arrow_array::Int8Array),
    U64(&'a arrow_array::UInt64Array),
    U32(&'a arrow_array::UInt32Array),
    U16(&'a arrow_array::UInt16Array),
    U8(&'a arrow_array::UInt8Array),
    Bool(&'a arrow_array::BooleanArray),
    Str(Str<'a>),
}

impl<'a> Num<'a> {
    fn of(name: &str, a: Option<&'a ArrayRef>) -> Result<Num<'a>, BatchError> {
        let Some(a) = a else { return Ok(Num::Absent) };
        Ok(match a.data_type() {
            DataType::Null => Num::Absent,
            DataType::Float64 => Num::F64(a.as_primitive::<Float64Type>()),
            DataType::Float32 => Num::F32(a.as_primitive::<Float32Type>()),
            DataType::Int64 => Num::I64(a.as_primitive::<Int64Type>()),
            DataType::Int32 => Num::I32(a.as_primitive::<Int32Type>()),
            DataType::Int16 => Num::I16(a.as_primitive::<Int16Type>()),
            DataType::Int8 => Num::I8(a.as_primitive::<Int8Type>()),
            DataType::UInt64 => Num::U64(a.as_primitive::<UInt64Type>()),
            DataType::UInt32 => Num::U32(a.as_primitive::<UInt32Type>()),
            DataType::UInt16 => Num::U16(a.as_primitive::<UInt16Type>()),
            DataType::UInt8 => Num::U8(a.as_primitive::<UInt8Type>()),
            DataType::Boolean => Num::Bool(a.as_boolean()),
            _ => match Str::of(a.as_ref()) {
                Some(s) => Num::Str(s),
                None => {
                    return Err(BatchError::Column {
                        column: name.into(),
                        message: format!("expected numbers or strings, found {}", a.data_type()),
                    })
                }
            },
        })
    }

    /// The value of row i; `Err` holds the text that is not a number.
    #[inline]
    fn get(&self, i: usize) -> Result<Option<f64>, &'a str> {
        macro_rules! prim {
            ($a:expr) => {
                Ok($a.is_valid(i).then(|| $a.value(i) as f64))
            };
        }
        match self {
            Num::Absent => Ok(None),
            Num::F64(a) => prim!(a),
            Num::F32(a) => prim!(a),
            Num::I64(a) => prim!(a),
            Num::I32(a) => prim!(a),
            Num::I16(a) => prim!(a),
            Num::I8(a) => prim!(a),
            Num::U64(a) => prim!(a),
            Num::U32(a) => prim!(a),
            Num::U16(a) => prim!(a),
            Num::U8(a) => prim!(a),
            Num::Bool(a) => Ok(a.is_valid(i).then(|| f64::from(u8::from(a.value(i))))),
            Num::Str(s) => match s.get(i).map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => t
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| s.get(i).unwrap_or("")),
            },
        }
    }
}

pub(crate) enum Codes<'a> {
    Absent,
    List32(&'a GenericListArray<i32>, Str<'a>),
    List64(&'a GenericListArray<i64>, Str<'a>),
    Joined(Str<'a>),
}

fn list_of<'a, O: OffsetSizeTrait>(
    name: &str,
    l: &'a GenericListArray<O>,
) -> Result<Str<'a>, BatchError> {
    Str::of(l.values().as_ref()).ok_or_else(|| BatchError::Column {
        column: name.into(),
        message: format!(
            "expected a list of strings, found a list of {}",
            l.value_type()
        ),
    })
}

impl<'a> Codes<'a> {
    pub(crate) fn of(name: &str, a: Option<&'a ArrayRef>) -> Result<Codes<'a>, BatchError> {
        let Some(a) = a else { return Ok(Codes::Absent) };
        Ok(match a.data_type() {
            DataType::Null => Codes::Absent,
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                Codes::List32(l, list_of(name, l)?)
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                Codes::List64(l, list_of(name, l)?)
            }
            _ => match Str::of(a.as_ref()) {
                Some(s) => Codes::Joined(s),
                None => {
                    return Err(BatchError::Column {
                        column: name.into(),
                        message: format!(
                            "expected a list of strings or a delimited string, found {}",
                            a.data_type()
                        ),
                    })
                }
            },
        })
    }

    /// Call `f` with each non-empty code of row i, in order.
    #[inline]
    pub(crate) fn each(&self, i: usize, mut f: impl FnMut(&'a str)) {
        let mut emit = |s: &'a str| {
            let t = s.trim_ascii();
            let t = if t.is_ascii() { t } else { t.trim() };
            if !t.is_empty() {
                f(t)
            }
        };
        match self {
            Codes::Absent => {}
            Codes::List32(l, v) => {
                if l.is_valid(i) {
                    let o = l.value_offsets();
                    for j in o[i] as usize..o[i + 1] as usize {
                        if let Some(s) = v.get(j) {
                            emit(s)
                        }
                    }
                }
            }
            Codes::List64(l, v) => {
                if l.is_valid(i) {
                    let o = l.value_offsets();
                    for j in o[i] as usize..o[i + 1] as usize {
                        if let Some(s) = v.get(j) {
                            emit(s)
                        }
                    }
                }
            }
            Codes::Joined(s) => {
                if let Some(t) = s.get(i) {
                    t.split(['|', ',', ';', '，', '；', '、']).for_each(emit)
                }
            }
        }
    }
}

/// The readable input columns of one batch.
pub struct Columns<'a> {
    sex: Num<'a>,
    age: Num<'a>,
    age_days: Num<'a>,
    birth_weight: Num<'a>,
    los: Num<'a>,
    discharge: Num<'a>,
    pub(crate) dx: Codes<'a>,
    pub(crate) px: Codes<'a>,
    input_error: Option<Str<'a>>,
    rows: usize,
}

impl<'a> Columns<'a> {
    /// Find and check the input columns of a batch.
    pub fn new(batch: &'a RecordBatch) -> Result<Columns<'a>, BatchError> {
        let col = |n: &str| batch.column_by_name(n);
        if col("dx").is_none() {
            return Err(BatchError::Column {
                column: "dx".into(),
                message: "missing: the diagnoses, principal first".into(),
            });
        }
        let input_error = match col("_input_error") {
            None => None,
            Some(a) if a.data_type() == &DataType::Null => None,
            Some(a) => Some(Str::of(a.as_ref()).ok_or_else(|| BatchError::Column {
                column: "_input_error".into(),
                message: "expected strings".into(),
            })?),
        };
        Ok(Columns {
            sex: Num::of("sex", col("sex"))?,
            age: Num::of("age", col("age"))?,
            age_days: Num::of("age_days", col("age_days"))?,
            birth_weight: Num::of("birth_weight_g", col("birth_weight_g"))?,
            los: Num::of("los_days", col("los_days"))?,
            discharge: Num::of("discharge_type", col("discharge_type"))?,
            dx: Codes::of("dx", col("dx"))?,
            px: Codes::of("px", col("px"))?,
            input_error,
            rows: batch.num_rows(),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// Output of one chunk of rows.
pub struct ChunkResult {
    pub outcomes: Vec<Outcome>,
    pub traces: Option<Vec<Vec<TraceStep>>>,
}

/// The codes of a range of rows, resolved in one pass before any row is grouped: the lookups
/// are independent, so the processor overlaps their cache misses.
pub(crate) struct Resolved<'a> {
    pub(crate) dx: Vec<u32>,
    pub(crate) dx_end: Vec<u32>,
    pub(crate) px: Vec<u32>,
    pub(crate) px_end: Vec<u32>,
    first: Vec<Option<&'a str>>,
    /// (row, code) of each unknown secondary diagnosis or procedure, in row order.
    unknown: Vec<(usize, &'a str)>,
}

pub(crate) fn resolve_range<'a>(
    g: &Grouper,
    c: &Columns<'a>,
    range: std::ops::Range<usize>,
) -> Resolved<'a> {
    let n = range.len();
    let mut r = Resolved {
        dx: Vec::with_capacity(n * 4),
        dx_end: Vec::with_capacity(n),
        px: Vec::with_capacity(n * 2),
        px_end: Vec::with_capacity(n),
        first: Vec::with_capacity(n),
        unknown: Vec::new(),
    };
    for i in range {
        let mut first = None;
        c.dx.each(i, |code| {
            let id = g.dx.resolve(code).id();
            if first.is_none() {
                first = Some(code);
            } else if id == NONE {
                r.unknown.push((i, code));
            }
            r.dx.push(id);
        });
        r.first.push(first);
        r.dx_end.push(r.dx.len() as u32);
        c.px.each(i, |code| {
            let id = g.px.resolve(code).id();
            if id == NONE {
                r.unknown.push((i, code));
            }
            r.px.push(id);
        });
        r.px_end.push(r.px.len() as u32);
    }
    r
}

/// Characters of an input value quoted in a message; longer values are cut (with `…`).
pub const MAX_QUOTED: usize = 40;
/// Unknown codes listed in one message; the rest are counted.
pub const MAX_ECHOED: usize = 20;

/// `text` as quoted in a message: at most [`MAX_QUOTED`] characters, so an overlong input
/// value does not make every output row as long as itself.
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED) {
        None => text.into(),
        Some((at, _)) => format!("{}… ({} characters)", &text[..at], text.chars().count()).into(),
    }
}

/// The input of one row, its codes already resolved.
struct Row<'r> {
    dx: &'r [u32],
    px: &'r [u32],
    first_raw: Option<&'r str>,
    unknown: &'r [(usize, &'r str)],
}

/// The numeric fields of row `i` as a case without codes, and the first input error.
pub(crate) fn row_case<'c>(c: &Columns, i: usize) -> (Case<'c>, Option<String>) {
    let mut err: Option<String> = c
        .input_error
        .as_ref()
        .and_then(|e| e.get(i))
        .map(str::to_string);
    let mut num = |name: &str, col: &Num| match col.get(i) {
        Ok(v) => v,
        Err(text) => {
            if err.is_none() {
                err = Some(format!("{name}: '{}' is not a number", clip(text)));
            }
            None
        }
    };
    let mut age = num("age", &c.age);
    let age_days = num("age_days", &c.age_days);
    let sex = num("sex", &c.sex);
    let birth_weight = num("birth_weight_g", &c.birth_weight);
    let los = num("los_days", &c.los);
    let discharge = num("discharge_type", &c.discharge);
    if age.is_none() {
        // A missing age is taken from the age in days when that is given.
        age = age_days.filter(|d| *d >= 0.0).map(|d| (d / 365.0).floor());
    }
    let case = Case {
        sex,
        age,
        age_days,
        birth_weight,
        los,
        discharge,
        dx: &[],
        px: &[],
    };
    (case, err)
}

fn group_row(
    g: &Grouper,
    c: &Columns,
    i: usize,
    row: Row,
    trace: Option<&mut Vec<TraceStep>>,
) -> Outcome {
    let (case, err) = row_case(c, i);
    let case = Case {
        dx: row.dx,
        px: row.px,
        ..case
    };
    let mut o = g.group(&case, err.as_deref(), trace);
    if o.reason == Some(Reason::UnknownPrincipalDx) {
        o.message = Some(format!(
            "principal diagnosis '{}' is not a code of this table set",
            clip(row.first_raw.unwrap_or(""))
        ));
    }
    if !row.unknown.is_empty() && matches!(o.status, Status::Ok | Status::Ambiguous) {
        let mut codes: Vec<String> = row
            .unknown
            .iter()
            .take(MAX_ECHOED)
            .map(|(_, c)| clip(c).into_owned())
            .collect();
        if row.unknown.len() > MAX_ECHOED {
            codes.push(format!("… {} more", row.unknown.len() - MAX_ECHOED));
        }
        let note = format!("unknown codes ignored: {}", codes.join(", "));
        o.message = Some(match o.message.take() {
            Some(m) => format!("{m}; {note}"),
            None => note,
        });
    }
    o
}

/// Group the rows `range` of the columns.
pub fn group_range(
    g: &Grouper,
    c: &Columns,
    range: std::ops::Range<usize>,
    trace: bool,
) -> ChunkResult {
    let r = resolve_range(g, c, range.clone());
    let mut outcomes = Vec::with_capacity(range.len());
    let mut traces = trace.then(|| Vec::with_capacity(range.len()));
    let (mut dx0, mut px0, mut u0) = (0usize, 0usize, 0usize);
    for (k, i) in range.enumerate() {
        let (dx1, px1) = (r.dx_end[k] as usize, r.px_end[k] as usize);
        let mut u1 = u0;
        while u1 < r.unknown.len() && r.unknown[u1].0 == i {
            u1 += 1;
        }
        let row = Row {
            dx: &r.dx[dx0..dx1],
            px: &r.px[px0..px1],
            first_raw: r.first[k],
            unknown: &r.unknown[u0..u1],
        };
        match traces.as_mut() {
            Some(t) => {
                let mut steps = Vec::new();
                outcomes.push(group_row(g, c, i, row, Some(&mut steps)));
                t.push(steps);
            }
            None => outcomes.push(group_row(g, c, i, row, None)),
        }
        (dx0, px0, u0) = (dx1, px1, u1);
    }
    ChunkResult { outcomes, traces }
}

/// The schema of the result columns.
pub fn result_schema(trace: bool) -> Arc<Schema> {
    let mut f: Vec<Field> = [
        "status", "reason", "message", "mdc", "adrg", "drg", "cc_level", "cc_code",
    ]
    .iter()
    .map(|n| Field::new(*n, DataType::Utf8View, true))
    .collect();
    if trace {
        f.push(Field::new(
            "trace",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(trace_fields()),
                true,
            ))),
            true,
        ));
    }
    Arc::new(Schema::new(f))
}

fn trace_fields() -> Fields {
    Fields::from(
        ["step", "rule", "outcome", "code", "detail"]
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8View, true))
            .collect::<Vec<_>>(),
    )
}

/// Build the result batch of one chunk.
pub fn to_batch(g: &Grouper, r: &ChunkResult) -> RecordBatch {
    let n = r.outcomes.len();
    // Views of the strings a chunk repeats, made once per chunk.
    let views = |v: &mut dyn Iterator<Item = &str>| v.map(ViewColumn::view).collect::<Vec<u128>>();
    let mdc = views(&mut g.mdcs.iter().map(|m| m.code.as_str()));
    let adrg = views(&mut g.adrgs.iter().map(|a| a.code.as_str()));
    let drg = views(&mut g.drgs.iter().map(|d| d.code.as_str()));
    let qy: Vec<String> = g.mdcs.iter().map(|m| format!("{}QY", m.code)).collect();
    let status = [
        Status::Ok,
        Status::Ambiguous,
        Status::Ungroupable,
        Status::Invalid,
    ]
    .map(|s| ViewColumn::view(s.as_str()));
    let level = ["none", "CC", "MCC"].map(ViewColumn::view);
    let none_drg = ViewColumn::view("0000");
    let mut b: Vec<ViewColumn> = (0..8).map(|_| ViewColumn::with_capacity(n)).collect();
    for o in &r.outcomes {
        b[0].push_view(status[o.status as usize]);
        b[1].push_opt(o.reason.map(|x| x.as_str()));
        b[2].push_opt(o.message.as_deref());
        b[3].push_code(
            (o.mdc != NONE).then(|| (mdc[o.mdc as usize], g.mdcs[o.mdc as usize].code.as_str())),
        );
        if o.qy {
            b[4].push(&qy[o.mdc as usize]);
            b[5].push(&qy[o.mdc as usize]);
        } else {
            b[4].push_code((o.adrg != NONE).then(|| {
                (
                    adrg[o.adrg as usize],
                    g.adrgs[o.adrg as usize].code.as_str(),
                )
            }));
            match o.drg {
                NONE => b[5].push_view(none_drg),
                d => b[5].push_code(Some((drg[d as usize], g.drgs[d as usize].code.as_str()))),
            }
        }
        if o.status == Status::Invalid {
            b[6].push_null();
        } else {
            b[6].push_view(level[o.cc_level.min(2) as usize]);
        }
        b[7].push_opt((o.cc_code != NONE).then(|| g.dx.name(o.cc_code)));
    }
    let mut cols: Vec<ArrayRef> = b
        .into_iter()
        .map(|x| Arc::new(x.finish()) as ArrayRef)
        .collect();
    if let Some(traces) = &r.traces {
        cols.push(Arc::new(trace_array(traces)));
    }
    RecordBatch::try_new(result_schema(r.traces.is_some()), cols)
        .expect("result columns match the schema")
}

/// A string-view column built from precomputed views: a value of at most 12 bytes lives in
/// its 16-byte view, so most values are one integer store.
pub(crate) struct ViewColumn {
    views: Vec<u128>,
    data: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl ViewColumn {
    pub(crate) fn with_capacity(n: usize) -> ViewColumn {
        ViewColumn {
            views: Vec::with_capacity(n),
            data: Vec::new(),
            nulls: NullBufferBuilder::new(n),
        }
    }

    /// The view of a short value (at most 12 bytes); longer values must go through `push`.
    pub(crate) fn view(s: &str) -> u128 {
        if s.len() <= 12 {
            make_view(s.as_bytes(), 0, 0)
        } else {
            u128::MAX
        }
    }

    #[inline]
    pub(crate) fn push_view(&mut self, v: u128) {
        debug_assert!(v != u128::MAX, "view of a long value");
        self.views.push(v);
        self.nulls.append_non_null();
    }

    #[inline]
    pub(crate) fn push(&mut self, s: &str) {
        if s.len() <= 12 {
            self.push_view(make_view(s.as_bytes(), 0, 0));
        } else {
            let offset = self.data.len() as u32;
            self.data.extend_from_slice(s.as_bytes());
            self.push_view(make_view(s.as_bytes(), 0, offset));
        }
    }

    /// Push a precomputed view, or the value itself when it was too long for one.
    #[inline]
    pub(crate) fn push_code(&mut self, c: Option<(u128, &str)>) {
        match c {
            Some((v, _)) if v != u128::MAX => self.push_view(v),
            Some((_, s)) => self.push(s),
            None => self.push_null(),
        }
    }

    #[inline]
    pub(crate) fn push_opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.push(s),
            None => self.push_null(),
        }
    }

    #[inline]
    pub(crate) fn push_null(&mut self) {
        self.views.push(0);
        self.nulls.append_null();
    }

    pub(crate) fn finish(mut self) -> StringViewArray {
        let buffers: Vec<Buffer> = if self.data.is_empty() {
            Vec::new()
        } else {
            vec![Buffer::from_vec(self.data)]
        };
        // SAFETY: every view was made by `make_view` from a `&str` (valid UTF-8); a long
        // value's view points at its bytes in buffer 0, which holds them at that offset.
        unsafe {
            StringViewArray::new_unchecked(
                ScalarBuffer::from(self.views),
                buffers.into(),
                self.nulls.finish(),
            )
        }
    }
}

fn trace_array(traces: &[Vec<TraceStep>]) -> ListArray {
    let total: usize = traces.iter().map(Vec::len).sum();
    let mut f: Vec<StringViewBuilder> = (0..5)
        .map(|_| StringViewBuilder::with_capacity(total))
        .collect();
    let mut offsets = Vec::with_capacity(traces.len() + 1);
    offsets.push(0i32);
    for t in traces {
        for s in t {
            f[0].append_value(s.step);
            f[1].append_value(&s.rule);
            f[2].append_value(s.outcome);
            f[3].append_option(s.code.as_deref());
            f[4].append_value(&s.detail);
        }
        offsets.push(*offsets.last().unwrap_or(&0) + t.len() as i32);
    }
    let arrays: Vec<ArrayRef> = f
        .iter_mut()
        .map(|x| Arc::new(x.finish()) as ArrayRef)
        .collect();
    let st = StructArray::new(trace_fields(), arrays, None);
    ListArray::new(
        Arc::new(Field::new("item", DataType::Struct(trace_fields()), true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(st),
        None,
    )
}

/// Run `f` over the rows `0..n` in chunks of [`CHUNK`] rows, in parallel; results in order.
pub(crate) fn par_chunks<F>(n: usize, f: F) -> Vec<RecordBatch>
where
    F: Fn(std::ops::Range<usize>) -> RecordBatch + Send + Sync,
{
    let ranges: Vec<_> = (0..n)
        .step_by(CHUNK)
        .map(|s| s..(s + CHUNK).min(n))
        .collect();
    ranges.into_par_iter().map(f).collect()
}

/// Group a whole batch in parallel chunks; returns one result batch per chunk, in order.
pub fn group_batch(
    g: &Grouper,
    batch: &RecordBatch,
    trace: bool,
) -> Result<Vec<RecordBatch>, BatchError> {
    let c = Columns::new(batch)?;
    Ok(par_chunks(c.len(), |r| {
        to_batch(g, &group_range(g, &c, r, trace))
    }))
}

/// Convenience: a string column from optional values (used by tests and benches).
pub fn string_array<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> StringArray {
    values.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(clip("abc"), "abc");
        let long = "診".repeat(1000);
        let c = clip(&long);
        assert!(c.starts_with(&"診".repeat(MAX_QUOTED)));
        assert!(c.ends_with("… (1000 characters)"));
    }
}
