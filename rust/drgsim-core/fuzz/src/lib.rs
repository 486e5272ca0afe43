//! Helpers shared by the fuzz targets: the built-in teaching grouper, and Arrow columns built
//! from `arbitrary` values (every column type the batch reader accepts, and some it refuses).

use arbitrary::Arbitrary;
use arrow_array::builder::{
    GenericListBuilder, LargeStringBuilder, StringBuilder, StringViewBuilder,
};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int8Array, NullArray, StringArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use drgsim_core::{builtin, tables, Grouper};
use std::sync::{Arc, OnceLock};

/// The built-in teaching set, compiled once per process.
pub fn teaching() -> &'static Grouper {
    static G: OnceLock<Grouper> = OnceLock::new();
    G.get_or_init(|| tables::compile(&builtin::files("teaching").expect("teaching set")).unwrap())
}

/// Known codes of the teaching set (dx, px), sorted, for inputs that should reach the rules.
pub fn known_codes() -> &'static (Vec<String>, Vec<String>) {
    static C: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    C.get_or_init(|| {
        let g = teaching();
        let names = |t: &drgsim_core::codes::CodeTable| {
            let mut v: Vec<String> = t.codes().map(|(_, id)| t.name(id).to_string()).collect();
            v.sort();
            v
        };
        (names(&g.dx), names(&g.px))
    })
}

/// How a known code is spelled in the input.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Spelling {
    AsIs,
    Lower,
    Upper,
    /// ASCII to full-width forms (ＡＢＣ０１２．).
    FullWidth,
    /// Surrounded by blanks: ASCII, ideographic space, BOM, tab.
    Padded(u8),
    /// The ideographic full stop 。 for the dot.
    IdeographicDot,
}

impl Spelling {
    pub fn apply(self, code: &str) -> String {
        match self {
            Spelling::AsIs => code.to_string(),
            Spelling::Lower => code.to_lowercase(),
            Spelling::Upper => code.to_uppercase(),
            Spelling::FullWidth => code
                .chars()
                .map(|c| match c as u32 {
                    0x21..=0x7E => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                    _ => c,
                })
                .collect(),
            Spelling::Padded(k) => {
                let pads = [" ", "\u{3000}", "\u{feff}", "\t", "  \n"];
                let p = pads[k as usize % pads.len()];
                format!("{p}{code}{p}")
            }
            Spelling::IdeographicDot => code.replace('.', "。"),
        }
    }
}

/// One code of the input: any text, or a known code of the teaching set in some spelling.
#[derive(Arbitrary, Debug, Clone)]
pub enum Code {
    Raw(String),
    KnownDx(u16, Spelling),
    KnownPx(u16, Spelling),
}

impl Code {
    pub fn text(&self) -> String {
        let (dx, px) = known_codes();
        match self {
            Code::Raw(s) => s.clone(),
            Code::KnownDx(i, s) => s.apply(&dx[*i as usize % dx.len()]),
            Code::KnownPx(i, s) => s.apply(&px[*i as usize % px.len()]),
        }
    }
}

fn fit<T: Clone>(v: &[Option<T>], n: usize) -> Vec<Option<T>> {
    (0..n).map(|i| v.get(i).cloned().flatten()).collect()
}

/// A numeric input column (sex, age, ...) of any type the reader accepts, or absent.
#[derive(Arbitrary, Debug)]
pub enum NumCol {
    Absent,
    Null,
    F64(Vec<Option<f64>>),
    F32(Vec<Option<f32>>),
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    I16(Vec<Option<i16>>),
    I8(Vec<Option<i8>>),
    U64(Vec<Option<u64>>),
    U32(Vec<Option<u32>>),
    U16(Vec<Option<u16>>),
    U8(Vec<Option<u8>>),
    Bool(Vec<Option<bool>>),
    Utf8(Vec<Option<String>>),
    LargeUtf8(Vec<Option<String>>),
    View(Vec<Option<String>>),
}

impl NumCol {
    /// The column with `n` rows, or `None` when absent.
    pub fn array(&self, n: usize) -> Option<ArrayRef> {
        Some(match self {
            NumCol::Absent => return None,
            NumCol::Null => Arc::new(NullArray::new(n)),
            NumCol::F64(v) => Arc::new(Float64Array::from(fit(v, n))),
            NumCol::F32(v) => Arc::new(Float32Array::from(fit(v, n))),
            NumCol::I64(v) => Arc::new(Int64Array::from(fit(v, n))),
            NumCol::I32(v) => Arc::new(Int32Array::from(fit(v, n))),
            NumCol::I16(v) => Arc::new(Int16Array::from(fit(v, n))),
            NumCol::I8(v) => Arc::new(Int8Array::from(fit(v, n))),
            NumCol::U64(v) => Arc::new(UInt64Array::from(fit(v, n))),
            NumCol::U32(v) => Arc::new(UInt32Array::from(fit(v, n))),
            NumCol::U16(v) => Arc::new(UInt16Array::from(fit(v, n))),
            NumCol::U8(v) => Arc::new(UInt8Array::from(fit(v, n))),
            NumCol::Bool(v) => Arc::new(BooleanArray::from(fit(v, n))),
            NumCol::Utf8(v) => Arc::new(StringArray::from(fit(v, n))),
            NumCol::LargeUtf8(v) => {
                let mut b = LargeStringBuilder::new();
                fit(v, n).iter().for_each(|s| b.append_option(s.as_deref()));
                Arc::new(b.finish())
            }
            NumCol::View(v) => {
                let mut b = StringViewBuilder::new();
                fit(v, n).iter().for_each(|s| b.append_option(s.as_deref()));
                Arc::new(b.finish())
            }
        })
    }
}

/// A code column (dx, px): lists of strings, delimited strings, or a type the reader refuses.
#[derive(Arbitrary, Debug)]
pub enum CodeCol {
    Absent,
    Null,
    List(Vec<Option<Vec<Option<Code>>>>),
    LargeList(Vec<Option<Vec<Option<Code>>>>),
    /// Codes joined with one of the accepted separators (chosen by the byte).
    Joined(Vec<Option<(Vec<Code>, u8)>>),
    JoinedView(Vec<Option<(Vec<Code>, u8)>>),
    /// Not a code column at all (the reader must refuse it with an error).
    Wrong(Vec<Option<i64>>),
}

const SEPARATORS: [&str; 7] = ["|", ",", ";", "，", "；", "、", " | "];

fn join(codes: &[Code], sep: u8) -> String {
    let s = SEPARATORS[sep as usize % SEPARATORS.len()];
    codes.iter().map(Code::text).collect::<Vec<_>>().join(s)
}

impl CodeCol {
    /// Whether the reader must refuse this column.
    pub fn is_wrong(&self) -> bool {
        matches!(self, CodeCol::Wrong(_))
    }

    pub fn array(&self, n: usize) -> Option<ArrayRef> {
        fn list<O: arrow_array::OffsetSizeTrait>(
            v: &[Option<Vec<Option<Code>>>],
            n: usize,
        ) -> ArrayRef {
            let mut b = GenericListBuilder::<O, _>::new(StringBuilder::new());
            for row in fit(v, n) {
                match row {
                    Some(codes) => {
                        for c in codes {
                            b.values().append_option(c.map(|c| c.text()));
                        }
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        Some(match self {
            CodeCol::Absent => return None,
            CodeCol::Null => Arc::new(NullArray::new(n)),
            CodeCol::List(v) => list::<i32>(v, n),
            CodeCol::LargeList(v) => list::<i64>(v, n),
            CodeCol::Joined(v) => Arc::new(StringArray::from(
                fit(v, n)
                    .iter()
                    .map(|r| r.as_ref().map(|(c, s)| join(c, *s)))
                    .collect::<Vec<_>>(),
            )),
            CodeCol::JoinedView(v) => {
                let mut b = StringViewBuilder::new();
                for r in fit(v, n) {
                    b.append_option(r.as_ref().map(|(c, s)| join(c, *s)));
                }
                Arc::new(b.finish())
            }
            CodeCol::Wrong(v) => Arc::new(Int64Array::from(fit(v, n))),
        })
    }
}
