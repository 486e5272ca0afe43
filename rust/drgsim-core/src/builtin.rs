//! Table sets compiled into the engine, so grouping works with no external files.
//!
//! Every folder of `grouper_tables/` that holds a `tableset.toml` is embedded at build time.

use crate::tables::TableFiles;

/// The files of one built-in set: (file name, bytes).
pub type SetFiles = &'static [(&'static str, &'static [u8])];

include!(concat!(env!("OUT_DIR"), "/builtin_sets.rs"));

/// Names of the built-in sets.
pub fn names() -> Vec<&'static str> {
    SETS.iter().map(|(n, _)| *n).collect()
}

fn set(name: &str) -> Option<SetFiles> {
    SETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The files of a built-in set (the files of the format, its weights and its manifest).
pub fn files(name: &str) -> Option<TableFiles> {
    let files = set(name)?
        .iter()
        .filter(|(f, _)| crate::tables::is_set_file(f))
        .map(|(f, b)| (f.to_string(), b.to_vec()))
        .collect();
    Some(TableFiles {
        files,
        origin: format!("builtin:{name}"),
    })
}

/// Any file shipped with a built-in set (e.g. `weights.csv`, `README.md`).
pub fn file(name: &str, file: &str) -> Option<&'static [u8]> {
    set(name)?.iter().find(|(f, _)| *f == file).map(|(_, b)| *b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_sets_compile() {
        assert!(super::names().contains(&"teaching"));
        for name in super::names() {
            let g = crate::tables::compile(&super::files(name).unwrap())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(g.mdcs.len(), 26, "{name}");
            assert!(g.adrgs.len() >= 60, "{name}");
        }
    }
}
