//! No input makes the engine panic: random rule texts, damaged table files, garbage batches.

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use drgsim_core::{batch, builtin, compile, expr, TableFiles};
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "principal_dx",
    "any_px",
    "in",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    "2",
    "of",
    "age",
    ">=",
    "<",
    "==",
    "mcc",
    "cc_or_mcc",
    "MDCG_dx",
    "or_procedures",
    "1.5",
    "-3",
    "男",
    "\u{3000}",
    "sex",
    "male",
    "true",
    "x",
    "))",
    "((",
    "birth_weight",
    "",
    "9999999999999999999999",
];

#[test]
fn random_rules_never_panic() {
    let mut r = Rng(0x9E3779B97F4A7C15);
    for _ in 0..20_000 {
        let n = r.below(12);
        let text: Vec<&str> = (0..n).map(|_| PIECES[r.below(PIECES.len())]).collect();
        let _ = expr::parse(&text.join(" "));
        let _ = expr::parse(&text.concat());
    }
}

#[test]
fn damaged_table_files_give_errors_not_panics() {
    let good = builtin::files("teaching").expect("teaching set");
    let mut r = Rng(42);
    for round in 0..300 {
        let mut files = good.clone();
        let names: Vec<String> = files.files.keys().cloned().collect();
        let name = &names[r.below(names.len())];
        let bytes = files.files.get_mut(name).expect("file");
        for _ in 0..1 + r.below(8) {
            if bytes.is_empty() {
                break;
            }
            let at = r.below(bytes.len());
            match r.below(4) {
                0 => bytes[at] = (r.next() & 0xff) as u8,
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, b"\"[]=,\n\xff"[r.below(7)]),
                _ => bytes.truncate(at),
            }
        }
        if round % 50 == 0 {
            files.files.remove(name);
        }
        let _ = compile(&TableFiles {
            files: files.files,
            origin: "damaged".into(),
        });
    }
}

#[test]
fn garbage_batches_keep_every_row() {
    let g = compile(&builtin::files("teaching").expect("teaching set")).expect("compiles");
    let mut r = Rng(7);
    let junk = [
        "",
        "K35.800x001",
        "47.0100",
        "|||",
        "，",
        "I63.900|J96.000",
        "\u{fffd}\u{fffd}",
        "Ｋ３５．８００ｘ００１",
        "NaN",
        "-1",
        "1e309",
        "abc",
        "\u{3000}",
        "A00.000+B01*",
    ];
    for _ in 0..50 {
        let n = 1 + r.below(3000);
        let pick = |r: &mut Rng| Some(junk[r.below(junk.len())]);
        let dx: StringArray = (0..n).map(|_| pick(&mut r)).collect();
        let px: StringArray = (0..n).map(|_| pick(&mut r)).collect();
        let age: StringArray = (0..n).map(|_| pick(&mut r)).collect();
        let sex: Float64Array = (0..n).map(|_| Some(r.below(12) as f64 - 2.0)).collect();
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("dx", Arc::new(dx)),
            ("px", Arc::new(px)),
            ("age", Arc::new(age)),
            ("sex", Arc::new(sex)),
        ];
        let b = RecordBatch::try_from_iter(cols).expect("batch");
        let out = batch::group_batch(&g, &b, r.below(2) == 0).expect("groups");
        assert_eq!(out.iter().map(|o| o.num_rows()).sum::<usize>(), n);
    }
}
