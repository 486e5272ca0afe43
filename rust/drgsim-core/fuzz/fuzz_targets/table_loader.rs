//! The table loader on arbitrary bytes: the first byte of the input chooses what the rest is,
//! one file of a table set (the TOML rule files, the CSV lists) put into a small valid set
//! (or that file removed from it), or one rule of the expression language on its own. The
//! small set keeps each run fast; the seeds hold excerpts of the teaching set's files.
//!
//! Invariants: no panic (a bad file is a `TableError` listing its problems, each naming a file
//! of the set); a set that compiles groups cases (with and without a trace) without panicking;
//! a rule that parses prints as a rule that parses back to the same rule.
#![no_main]

use drgsim_core::tables::{compile, TableFiles, FILES};
use drgsim_core::{expr, Case, TableError};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

/// A small valid set using every file of the format, so that most of the loader is reached
/// on every input without the cost of compiling the teaching set.
const SMALL: &[(&str, &str)] = &[
    (
        "tableset.toml",
        "format = 1\n[tableset]\nname = \"small\"\nversion = \"1\"\n\n[grouping]\n\
         mdc_order = [\"A\", \"G\"]\nambiguous_group = true\nrequire_newborn_weight = true\n",
    ),
    (
        "mdc.toml",
        "[[mdc]]\ncode = \"A\"\nwhen = \"principal_px in AA1_px\"\n\n\
         [[mdc]]\ncode = \"G\"\nwhen = \"principal_dx in MDCG_dx\"\nsex = \"male\"\n",
    ),
    (
        "adrg.toml",
        "[[adrg]]\ncode = \"AA1\"\nmdc = \"A\"\nwhen = \"principal_px in AA1_px\"\n\
         [[adrg.drg]]\ncode = \"AA19\"\n\n\
         [[adrg]]\ncode = \"GB1\"\nmdc = \"G\"\n\
         when = \"principal_px in or_procedures and not (age < 1 or 2 of (mcc, cc, los > 30))\"\n\
         [[adrg.drg]]\ncode = \"GB11\"\nwhen = \"mcc\"\n[[adrg.drg]]\ncode = \"GB15\"\n\n\
         [[adrg]]\ncode = \"GR1\"\nmdc = \"G\"\nwhen = \"any_dx in MDCG_dx\"\n\
         [[adrg.drg]]\ncode = \"GR13\"\nwhen = \"cc_or_mcc and sex == male\"\n\
         [[adrg.drg]]\ncode = \"GR15\"\n",
    ),
    (
        "code_lists.csv",
        "list,system,code,match\nAA1_px,px,37.5100,\nMDCG_dx,dx,K35,prefix\n\
         MDCG_dx,dx,K35.800x001,exact\nMDCG_dx,dx,K80.101,\n",
    ),
    (
        "cc.csv",
        "code,level,exclusion_table\nI50.900,MCC,1\nK80.101,CC,2\n",
    ),
    (
        "cc_exclusions.csv",
        "principal_dx,exclusion_table\nK35.800x001,2\n",
    ),
    (
        "or_procedures.csv",
        "code,name\n47.0100,阑尾切除术\n37.5100,\n",
    ),
    ("gray_codes.csv", "system,code\ndx,Z37.000\n"),
    (
        "code_maps.csv",
        "system,input_code,grouper_code\ndx,K35.900,K35.800x001\n",
    ),
    (
        "dictionary.csv",
        "system,code,name\ndx,K35.800x001,阑尾炎\npx,47.0100,\n",
    ),
];

fn small() -> TableFiles {
    TableFiles {
        files: SMALL
            .iter()
            .map(|(f, t)| (f.to_string(), t.as_bytes().to_vec()))
            .collect::<BTreeMap<_, _>>(),
        origin: "fuzz:small".into(),
    }
}

fn check_grouping(g: &drgsim_core::Grouper) {
    let ids = |t: &drgsim_core::codes::CodeTable, codes: &[&str]| -> Vec<u32> {
        codes.iter().map(|c| t.resolve(c).id()).collect()
    };
    let dx_sets: [&[&str]; 3] = [
        &["K35.800x001", "I50.900"],
        &["K80.101", "K35.800x001", "Z37.000"],
        &["Z37.000"],
    ];
    let px_sets: [&[&str]; 3] = [&["47.0100"], &["37.5100", "47.0100"], &[]];
    for (k, (dx, px)) in dx_sets.iter().zip(px_sets).enumerate() {
        let (dx, px) = (ids(&g.dx, dx), ids(&g.px, px));
        let case = Case {
            sex: Some(1.0 + k as f64),
            age: Some([40.0, 0.0, f64::NAN][k]),
            age_days: Some(3.0),
            birth_weight: None,
            los: Some(40.0),
            discharge: Some(1.0),
            dx: &dx,
            px: &px,
        };
        let mut trace = Vec::new();
        let a = g.group(&case, None, Some(&mut trace));
        let b = g.group(&case, None, None);
        assert_eq!(a, b, "a trace does not change the outcome");
        let _ = g.drg_code(&a);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let which = (sel & 0x0f) as usize;
    if which >= FILES.len() {
        // A rule of the expression language.
        if let Ok(src) = std::str::from_utf8(rest) {
            if let Ok(e) = expr::parse(src) {
                let printed = e.to_string();
                let again = expr::parse(&printed)
                    .unwrap_or_else(|err| panic!("{printed:?} does not parse: {err}"));
                assert_eq!(again, e, "{printed:?}");
            }
        }
        return;
    }
    let file = FILES[which];
    let mut files = small();
    if sel & 0x10 != 0 {
        files.files.remove(file);
    } else {
        files.files.insert(file.to_string(), rest.to_vec());
    }
    let _ = files.content_hash();
    match compile(&files) {
        Ok(g) => check_grouping(&g),
        Err(TableError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(!p.file.is_empty() && !p.message.is_empty(), "{p:?}");
                let _ = p.to_string();
            }
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
});
