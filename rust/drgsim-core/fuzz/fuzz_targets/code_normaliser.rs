//! Code normalisation and lookup (`codes::normalise`, `CodeTable::resolve`) on any text and on
//! the teaching set's own codes in every spelling the readers meet: lower case, full-width
//! forms, padding with ideographic spaces or a BOM, the ideographic full stop.
//!
//! Invariants: no panic; normalising is idempotent and leaves no blank at either end; the fast
//! path of `resolve` (short ASCII keys) agrees with looking up the normalised code; a known
//! code resolves to its own id whatever its spelling.
#![no_main]

use arbitrary::Arbitrary;
use drgsim_core::codes::{normalise, Resolved};
use drgsim_core_fuzz::{known_codes, teaching, Spelling};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    raw: String,
    known: Option<(bool, u16, Spelling)>,
    suffix: Option<String>,
}

fuzz_target!(|input: Input| {
    let g = teaching();
    let n = normalise(&input.raw);
    assert_eq!(normalise(&n), n, "normalise is idempotent");
    let blank = |c: char| c.is_whitespace() || c == '\u{3000}' || c == '\u{feff}';
    assert!(!n.starts_with(blank) && !n.ends_with(blank), "{n:?}");
    for t in [&g.dx, &g.px] {
        assert_eq!(
            t.resolve(&input.raw),
            t.resolve(&n),
            "resolve({:?}) differs from resolve of its normalised form {n:?}",
            input.raw
        );
    }

    if let Some((is_dx, i, spelling)) = input.known {
        let (dx, px) = known_codes();
        let (list, table) = if is_dx { (dx, &g.dx) } else { (px, &g.px) };
        let code = &list[i as usize % list.len()];
        let id = table.get(code).expect("a listed code is known");
        let spelled = spelling.apply(code);
        assert_eq!(table.resolve(&spelled), Resolved::Known(id), "{spelled:?}");
        if let Some(s) = &input.suffix {
            // Whatever follows a known code, the lookup does not panic and is consistent.
            let longer = format!("{spelled}{s}");
            assert_eq!(table.resolve(&longer), table.resolve(&normalise(&longer)));
        }
    }
});
