//! Embeds the built-in table sets (`grouper_tables/<name>/` with a `tableset.toml`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grouper_tables");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut sets: Vec<(String, Vec<String>)> = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(&root) {
        for d in dirs.flatten() {
            let p = d.path();
            if !p.join("tableset.toml").is_file() {
                continue;
            }
            println!("cargo:rerun-if-changed={}", p.display());
            let mut files: Vec<String> = std::fs::read_dir(&p)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|f| f.path().is_file())
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            for f in &files {
                println!("cargo:rerun-if-changed={}", p.join(f).display());
            }
            sets.push((d.file_name().to_string_lossy().into_owned(), files));
        }
    }
    sets.sort();
    let mut out = String::from(
        "/// Built-in sets: (name, [(file, bytes)]).\npub static SETS: &[(&str, SetFiles)] = &[\n",
    );
    for (name, files) in &sets {
        let _ = writeln!(out, "    ({name:?}, &[");
        for f in files {
            let path = root.join(name).join(f).canonicalize().expect("table file");
            let _ = writeln!(
                out,
                "        ({f:?}, include_bytes!({:?})),",
                path.display().to_string()
            );
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_sets.rs");
    std::fs::write(dest, out).expect("write builtin_sets.rs");
}
