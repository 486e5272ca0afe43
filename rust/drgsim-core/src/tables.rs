//! Loading a table set (the project's format, see `grouper_tables/FORMAT.md`), checking
//! it as a whole, and compiling it into a [`Grouper`].

use crate::codes::{normalise, Bits, CodeTable};
use crate::error::{Problem, TableError};
use crate::expr::{self, Expr, Subject};
use crate::grouper::{Adrg, CList, Drg, Grouper, Mdc, Meta, Options, Sex};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// The files of the format, in the order they are hashed and described.
pub const FILES: &[&str] = &[
    "tableset.toml",
    "mdc.toml",
    "adrg.toml",
    "code_lists.csv",
    "cc.csv",
    "cc_exclusions.csv",
    "or_procedures.csv",
    "gray_codes.csv",
    "code_maps.csv",
    "dictionary.csv",
];
const REQUIRED: &[&str] = &["tableset.toml", "mdc.toml", "adrg.toml", "code_lists.csv"];

/// The manifest of a sealed set: the SHA-256 of each of its files, `sha256sum` style.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// Files a manifest covers besides [`FILES`] (they are not used by grouping, so they are not
/// part of the content hash).
pub const SEALED_EXTRA: &[&str] = &["weights.csv"];

/// Whether a file name is read with a set (the format's files, the manifest, the weights).
pub fn is_set_file(name: &str) -> bool {
    FILES.contains(&name) || SEALED_EXTRA.contains(&name) || name == MANIFEST
}

/// The reserved list name of the operating-room procedure list.
pub const OR_LIST: &str = "or_procedures";

/// The raw files of a table set: file name -> bytes.
#[derive(Debug, Clone, Default)]
pub struct TableFiles {
    pub files: BTreeMap<String, Vec<u8>>,
    /// Where the files came from (a folder, or `builtin:NAME`).
    pub origin: String,
}

impl TableFiles {
    /// Read the files of the format from a folder (unknown files are ignored).
    pub fn from_dir(dir: &Path) -> Result<TableFiles, TableError> {
        if !dir.is_dir() {
            return Err(TableError::NotFound(dir.display().to_string()));
        }
        let mut files = BTreeMap::new();
        for name in FILES.iter().chain(SEALED_EXTRA).chain([&MANIFEST]) {
            let p = dir.join(name);
            if p.is_file() {
                let bytes = std::fs::read(&p).map_err(|e| TableError::Io {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                files.insert((*name).to_string(), bytes);
            }
        }
        Ok(TableFiles {
            files,
            origin: dir.display().to_string(),
        })
    }

    /// SHA-256 over the files of the format ([`FILES`]), name and content, in name order.
    pub fn content_hash(&self) -> String {
        self.hash_of(|n| FILES.contains(&n))
    }

    /// SHA-256 over every file read with the set (also [`SEALED_EXTRA`] and the manifest), as
    /// [`Self::content_hash`]: it changes whenever a file that loading checks changes.
    pub fn files_hash(&self) -> String {
        self.hash_of(|_| true)
    }

    fn hash_of(&self, keep: impl Fn(&str) -> bool) -> String {
        let mut h = Sha256::new();
        for (name, bytes) in self.files.iter().filter(|(n, _)| keep(n)) {
            h.update(name.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        hex(&h.finalize())
    }

    /// The manifest text sealing these files: one `<sha256>  <file>` line per file of
    /// [`FILES`] and [`SEALED_EXTRA`] present, in that order.
    pub fn manifest(&self) -> String {
        let mut out = String::new();
        for name in FILES.iter().chain(SEALED_EXTRA) {
            if let Some(bytes) = self.files.get(*name) {
                out.push_str(&format!("{}  {name}\n", sha256_hex(bytes)));
            }
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of some bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Write the manifest of the set in `dir` (re-sealing it after an edit); returns its text.
pub fn seal_dir(dir: &Path) -> Result<String, TableError> {
    let text = TableFiles::from_dir(dir)?.manifest();
    let p = dir.join(MANIFEST);
    std::fs::write(&p, &text).map_err(|e| TableError::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(text)
}

/// Problems of the manifest: a file whose bytes do not match it (changed or truncated after
/// sealing), a file it lists that is missing, a file of the set it does not list.
fn verify_manifest(files: &TableFiles, ck: &mut Checker) {
    let Some(bytes) = files.files.get(MANIFEST) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        ck.add(MANIFEST, 0, "not valid UTF-8 (the manifest is damaged)");
        return;
    };
    let mut listed = std::collections::BTreeSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let parsed = l.split_once(char::is_whitespace).and_then(|(h, n)| {
            let n = n.trim_start().trim_start_matches('*');
            (h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) && !n.is_empty())
                .then_some((h.to_ascii_lowercase(), n))
        });
        let Some((want, name)) = parsed else {
            ck.add(
                MANIFEST,
                line,
                format!("malformed line '{l}' (expected '<sha256>  <file>')"),
            );
            continue;
        };
        listed.insert(name.to_string());
        match files.files.get(name) {
            None if is_set_file(name) => ck.add(
                MANIFEST,
                line,
                format!("{name} is listed but missing from the set"),
            ),
            None => ck.add(
                MANIFEST,
                line,
                format!("{name} is not a file of the format"),
            ),
            Some(b) => {
                let got = sha256_hex(b);
                if got != want {
                    ck.add(
                        name,
                        0,
                        format!(
                            "content hash mismatch: SHA-256 {} but {MANIFEST} line {line} says {} \
                             ({} bytes; the file was changed or truncated after sealing; \
                             re-seal with 'drgsim tables seal' if the change is intended)",
                            &got[..12],
                            &want[..12],
                            b.len()
                        ),
                    );
                }
            }
        }
    }
    for name in FILES.iter().chain(SEALED_EXTRA) {
        if files.files.contains_key(*name) && !listed.contains(*name) {
            ck.add(
                name,
                0,
                format!(
                    "not covered by {MANIFEST} (added after sealing?); re-seal with \
                     'drgsim tables seal'"
                ),
            );
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TablesetToml {
    format: u32,
    tableset: MetaToml,
    #[serde(default)]
    grouping: GroupingToml,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaToml {
    name: String,
    version: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    dx_edition: String,
    #[serde(default)]
    px_edition: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    licence: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GroupingToml {
    mdc_order: Option<Spanned<Vec<String>>>,
    next_mdc_when_no_adrg: bool,
    ambiguous_group: bool,
    require_age: bool,
    newborn_max_age_days: f64,
    require_newborn_weight: bool,
    check_gray_principal: bool,
}

impl Default for GroupingToml {
    fn default() -> Self {
        let o = Options::default();
        GroupingToml {
            mdc_order: None,
            next_mdc_when_no_adrg: o.next_mdc_when_no_adrg,
            ambiguous_group: o.ambiguous_group,
            require_age: o.require_age,
            newborn_max_age_days: o.newborn_max_age_days,
            require_newborn_weight: o.require_newborn_weight,
            check_gray_principal: o.check_gray_principal,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MdcFile {
    #[serde(default)]
    mdc: Vec<Spanned<MdcToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MdcToml {
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    name_en: String,
    when: Spanned<String>,
    sex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdrgFile {
    #[serde(default)]
    adrg: Vec<Spanned<AdrgToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdrgToml {
    code: String,
    mdc: String,
    #[serde(default)]
    name: String,
    when: Spanned<String>,
    #[serde(default)]
    drg: Vec<Spanned<DrgToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrgToml {
    code: String,
    #[serde(default)]
    name: String,
    when: Option<Spanned<String>>,
}

/// Collects problems; every check adds to it instead of stopping.
struct Checker<'a> {
    files: &'a TableFiles,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn add(&mut self, file: &str, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_string(),
            line,
            message: message.into(),
        });
    }

    fn text(&mut self, file: &str) -> Option<&str> {
        let bytes = self.files.files.get(file)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.strip_prefix('\u{feff}').unwrap_or(s)),
            Err(e) => {
                let line = bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                self.problems.push(Problem {
                    file: file.to_string(),
                    line,
                    message: "not valid UTF-8".into(),
                });
                None
            }
        }
    }

    fn toml<T: serde::de::DeserializeOwned>(&mut self, file: &str) -> Option<(T, String)> {
        let text = self.text(file)?.to_string();
        match toml::from_str::<T>(&text) {
            Ok(v) => Some((v, text)),
            Err(e) => {
                let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(0);
                let msg = e.message().to_string();
                self.add(file, line, msg);
                None
            }
        }
    }

    /// Rows of a CSV file with the named columns (extra columns are ignored).
    fn csv(
        &mut self,
        file: &str,
        columns: &[&str],
        optional: &[&str],
    ) -> Vec<(usize, Vec<String>)> {
        let Some(text) = self.text(file).map(str::to_string) else {
            return Vec::new();
        };
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers = match rdr.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                self.add(file, 1, format!("cannot read the header: {e}"));
                return Vec::new();
            }
        };
        let mut idx = Vec::new();
        for c in columns.iter().chain(optional) {
            match headers.iter().position(|h| h.trim() == *c) {
                Some(i) => idx.push(Some(i)),
                None if optional.contains(c) => idx.push(None),
                None => {
                    self.add(
                        file,
                        1,
                        format!(
                            "missing column '{c}' (header: {})",
                            headers.iter().collect::<Vec<_>>().join(",")
                        ),
                    );
                    return Vec::new();
                }
            }
        }
        let mut rows = Vec::new();
        for rec in rdr.records() {
            match rec {
                Ok(r) => {
                    let line = r.position().map(|p| p.line() as usize).unwrap_or(0);
                    let vals = idx
                        .iter()
                        .map(|i| i.and_then(|i| r.get(i)).unwrap_or("").trim().to_string())
                        .collect();
                    rows.push((line, vals));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                    self.add(file, line, format!("malformed row: {e}"));
                }
            }
        }
        rows
    }
}

/// Rows of a CSV file of a set that loaded, read as loading reads them ([`Checker::csv`]).
pub(crate) fn csv_rows(
    files: &TableFiles,
    file: &str,
    columns: &[&str],
) -> Vec<(usize, Vec<String>)> {
    Checker {
        files,
        problems: Vec::new(),
    }
    .csv(file, columns, &[])
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn parse_system(s: &str) -> Option<bool> {
    match s {
        "dx" => Some(true),
        "px" => Some(false),
        _ => None,
    }
}

struct RawList {
    is_dx: bool,
    exact: Vec<String>,
    prefix: Vec<String>,
}

/// Load, check and compile a table set: the checks of loading, then the analyses of
/// [`crate::lint`] whose findings are errors (warnings do not refuse a set).
pub fn compile(files: &TableFiles) -> Result<Grouper, TableError> {
    let g = build(files)?;
    let errors: Vec<Problem> = crate::lint::analyse(files, &g)
        .into_iter()
        .filter(|f| f.severity == crate::lint::Severity::Error)
        .map(|f| f.problem)
        .collect();
    if !errors.is_empty() {
        return Err(TableError::Invalid {
            origin: files.origin.clone(),
            problems: errors,
        });
    }
    Ok(g)
}

/// The checks of loading and the compilation, without the analyses of [`crate::lint`].
pub(crate) fn build(files: &TableFiles) -> Result<Grouper, TableError> {
    let mut ck = Checker {
        files,
        problems: Vec::new(),
    };
    verify_manifest(files, &mut ck);
    let sealed_problems = ck.problems.len();
    for f in REQUIRED {
        if !files.files.contains_key(*f) {
            ck.add(f, 0, "required file is missing");
        }
    }
    if ck.problems.len() > sealed_problems {
        return Err(TableError::Invalid {
            origin: files.origin.clone(),
            problems: ck.problems,
        });
    }

    let ts = ck.toml::<TablesetToml>("tableset.toml");
    let mdcs = ck.toml::<MdcFile>("mdc.toml");
    let adrgs = ck.toml::<AdrgFile>("adrg.toml");
    if let Some((t, _)) = &ts {
        if t.format != 1 {
            ck.add(
                "tableset.toml",
                1,
                format!(
                    "format {} is not supported (this drgsim reads format 1)",
                    t.format
                ),
            );
        }
    }

    let mut dx = CodeTable::default();
    let mut px = CodeTable::default();

    // Code lists.
    let mut raw_lists: BTreeMap<String, RawList> = BTreeMap::new();
    for (line, v) in ck.csv("code_lists.csv", &["list", "system", "code"], &["match"]) {
        let (list, system, code, m) = (&v[0], &v[1], &v[2], &v[3]);
        let Some(is_dx) = parse_system(system) else {
            ck.add(
                "code_lists.csv",
                line,
                format!("system must be 'dx' or 'px', not '{system}'"),
            );
            continue;
        };
        if list.is_empty() || code.is_empty() {
            ck.add("code_lists.csv", line, "empty list name or code");
            continue;
        }
        if list == OR_LIST {
            ck.add(
                "code_lists.csv",
                line,
                format!("'{OR_LIST}' is reserved for or_procedures.csv"),
            );
            continue;
        }
        let entry = raw_lists.entry(list.clone()).or_insert_with(|| RawList {
            is_dx,
            exact: Vec::new(),
            prefix: Vec::new(),
        });
        if entry.is_dx != is_dx {
            ck.add(
                "code_lists.csv",
                line,
                format!("list '{list}' mixes dx and px codes"),
            );
            continue;
        }
        let table = if is_dx { &mut dx } else { &mut px };
        match m.as_str() {
            "" | "exact" => {
                table.intern(code);
                entry.exact.push(code.clone());
            }
            "prefix" => {
                table.intern_prefix(code);
                entry.prefix.push(code.clone());
            }
            other => ck.add(
                "code_lists.csv",
                line,
                format!("match must be 'exact' or 'prefix', not '{other}'"),
            ),
        }
    }
    if raw_lists.is_empty()
        && files.files.contains_key("code_lists.csv")
        && ck.problems.len() == sealed_problems
    {
        ck.add("code_lists.csv", 1, "no code lists");
    }

    // CC/MCC and exclusion tables.
    let mut table_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut table_id = |s: &str| {
        let n = table_ids.len() as u32;
        *table_ids.entry(s.to_string()).or_insert(n)
    };
    let mut cc_rows = Vec::new();
    for (line, v) in ck.csv("cc.csv", &["code", "level", "exclusion_table"], &[]) {
        let level = match v[1].to_ascii_uppercase().as_str() {
            "MCC" => 2u8,
            "CC" => 1u8,
            _ => {
                ck.add(
                    "cc.csv",
                    line,
                    format!("level must be 'MCC' or 'CC', not '{}'", v[1]),
                );
                continue;
            }
        };
        if v[0].is_empty() {
            ck.add("cc.csv", line, "empty code");
            continue;
        }
        let id = dx.intern(&v[0]);
        let t = if v[2].is_empty() {
            u32::MAX
        } else {
            table_id(&v[2])
        };
        cc_rows.push((id, level, t));
    }
    let mut cce_rows = Vec::new();
    for (line, v) in ck.csv(
        "cc_exclusions.csv",
        &["principal_dx", "exclusion_table"],
        &[],
    ) {
        if v[0].is_empty() || v[1].is_empty() {
            ck.add("cc_exclusions.csv", line, "empty code or table");
            continue;
        }
        cce_rows.push((dx.intern(&v[0]), table_id(&v[1])));
    }

    let mut or_codes = Vec::new();
    for (line, v) in ck.csv("or_procedures.csv", &["code"], &[]) {
        if v[0].is_empty() {
            ck.add("or_procedures.csv", line, "empty code");
            continue;
        }
        or_codes.push(px.intern(&v[0]));
    }
    let mut gray = (Vec::new(), Vec::new());
    for (line, v) in ck.csv("gray_codes.csv", &["system", "code"], &[]) {
        match parse_system(&v[0]) {
            Some(true) => gray.0.push(dx.intern(&v[1])),
            Some(false) => gray.1.push(px.intern(&v[1])),
            None => ck.add(
                "gray_codes.csv",
                line,
                format!("system must be 'dx' or 'px', not '{}'", v[0]),
            ),
        }
    }
    for (line, v) in ck.csv("dictionary.csv", &["system", "code"], &[]) {
        match parse_system(&v[0]) {
            Some(true) => {
                dx.intern(&v[1]);
            }
            Some(false) => {
                px.intern(&v[1]);
            }
            None => ck.add(
                "dictionary.csv",
                line,
                format!("system must be 'dx' or 'px', not '{}'", v[0]),
            ),
        }
    }
    let mut maps = Vec::new();
    for (line, v) in ck.csv(
        "code_maps.csv",
        &["system", "input_code", "grouper_code"],
        &[],
    ) {
        match parse_system(&v[0]) {
            Some(is_dx) => maps.push((is_dx, v[1].clone(), v[2].clone(), line)),
            None => ck.add(
                "code_maps.csv",
                line,
                format!("system must be 'dx' or 'px', not '{}'", v[0]),
            ),
        }
    }
    for (is_dx, input, target, _line) in &maps {
        let t = if *is_dx { &mut dx } else { &mut px };
        // A map whose input is a known code is never applied; the target joins the dictionary.
        let target = t.intern(target);
        t.add_map(input, target);
    }

    // Bit sets.
    let (ndx, npx) = (dx.len(), px.len());
    let mut lists: Vec<CList> = Vec::new();
    let mut list_ids: FxHashMap<String, u32> = FxHashMap::default();
    {
        let mut or_bits = Bits::new(npx);
        or_codes.iter().for_each(|&i| or_bits.set(i));
        list_ids.insert(OR_LIST.into(), 0);
        lists.push(CList {
            name: OR_LIST.into(),
            is_dx: false,
            bits: or_bits,
        });
    }
    // Prefix patterns contain every code (and longer pattern) starting with them.
    let prefix_members = |table: &CodeTable, n: usize| -> FxHashMap<String, Bits> {
        let mut out = FxHashMap::default();
        let pats: Vec<(String, u32)> = table
            .prefix_patterns()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (p, pid) in &pats {
            let mut b = Bits::new(n);
            b.set(*pid);
            for (k, id) in table.codes() {
                if k.starts_with(p.as_str()) {
                    b.set(id);
                }
            }
            for (q, qid) in &pats {
                if q.starts_with(p.as_str()) {
                    b.set(*qid);
                }
            }
            out.insert(p.clone(), b);
        }
        out
    };
    let dx_pm = prefix_members(&dx, ndx);
    let px_pm = prefix_members(&px, npx);
    for (name, raw) in &raw_lists {
        let (table, n, pm) = if raw.is_dx {
            (&dx, ndx, &dx_pm)
        } else {
            (&px, npx, &px_pm)
        };
        let mut bits = Bits::new(n);
        for c in &raw.exact {
            if let Some(id) = table.get(c) {
                bits.set(id);
            }
        }
        for p in &raw.prefix {
            if let Some(b) = pm.get(normalise(p).as_ref()) {
                bits.union_with(b);
            }
        }
        list_ids.insert(name.clone(), lists.len() as u32);
        lists.push(CList {
            name: name.clone(),
            is_dx: raw.is_dx,
            bits,
        });
    }

    // Rules.
    let mut unions: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
    let mut compile_rule = |ck: &mut Checker,
                            file: &str,
                            text: &str,
                            line: usize,
                            what: &str,
                            lists: &mut Vec<CList>|
     -> Option<Expr<u32>> {
        let parsed = match expr::parse(text) {
            Ok(e) => e,
            Err(e) => {
                ck.add(
                    file,
                    line,
                    format!("{what}: rule '{text}' does not parse {e}"),
                );
                return None;
            }
        };
        let mut bad = false;
        let r = parsed.try_map(&mut |s: Subject, name: String| -> Result<u32, ()> {
            match list_ids.get(&name) {
                None => {
                    ck.add(file, line, format!("{what}: unknown list '{name}'"));
                    bad = true;
                    Ok(u32::MAX)
                }
                Some(&id) => {
                    if lists[id as usize].is_dx != s.is_dx() {
                        let sys = if lists[id as usize].is_dx { "dx" } else { "px" };
                        ck.add(
                            file,
                            line,
                            format!(
                                "{what}: '{}' needs a {} list, but '{name}' is a {sys} list",
                                s.keyword(),
                                if s.is_dx() { "dx" } else { "px" }
                            ),
                        );
                        bad = true;
                    }
                    Ok(id)
                }
            }
        });
        let e = r.ok()?;
        if bad {
            return None;
        }
        // Merge unions of lists into one set so a predicate is one bit test.
        let merged = e
            .try_map(&mut |_s, id| -> Result<u32, ()> { Ok(id) })
            .ok()?;
        Some(merge_unions(merged, lists, &mut unions))
    };

    let mut mdc_list: Vec<Mdc> = Vec::new();
    let mut mdc_index: FxHashMap<String, usize> = FxHashMap::default();
    if let Some((mf, text)) = &mdcs {
        if mf.mdc.is_empty() {
            ck.add("mdc.toml", 1, "no [[mdc]] entries");
        }
        for m in &mf.mdc {
            let line = line_of(text, m.span().start);
            let m = m.get_ref();
            if mdc_index.contains_key(&m.code) {
                ck.add(
                    "mdc.toml",
                    line,
                    format!("MDC '{}' is defined twice", m.code),
                );
                continue;
            }
            if m.code.is_empty() || m.code.chars().count() > 2 {
                ck.add(
                    "mdc.toml",
                    line,
                    format!("MDC code '{}' must be one letter", m.code),
                );
            }
            let wline = line_of(text, m.when.span().start);
            let when = compile_rule(
                &mut ck,
                "mdc.toml",
                m.when.get_ref(),
                wline,
                &format!("MDC {}", m.code),
                &mut lists,
            );
            let sex = match m.sex.as_deref() {
                None => None,
                Some("male") => Some(Sex::Male),
                Some("female") => Some(Sex::Female),
                Some(o) => {
                    ck.add(
                        "mdc.toml",
                        line,
                        format!("MDC {}: sex must be 'male' or 'female', not '{o}'", m.code),
                    );
                    None
                }
            };
            mdc_index.insert(m.code.clone(), mdc_list.len());
            mdc_list.push(Mdc {
                code: m.code.clone(),
                name: m.name.clone(),
                name_en: m.name_en.clone(),
                when: when.unwrap_or(Expr::False),
                when_text: m.when.get_ref().clone(),
                sex,
                adrgs: Vec::new(),
            });
        }
    }

    let mut adrg_list: Vec<Adrg> = Vec::new();
    let mut drg_list: Vec<Drg> = Vec::new();
    let mut adrg_seen: FxHashMap<String, usize> = FxHashMap::default();
    let mut drg_seen: FxHashMap<String, usize> = FxHashMap::default();
    if let Some((af, text)) = &adrgs {
        if af.adrg.is_empty() {
            ck.add("adrg.toml", 1, "no [[adrg]] entries");
        }
        for a in &af.adrg {
            let line = line_of(text, a.span().start);
            let a = a.get_ref();
            if let Some(prev) = adrg_seen.get(&a.code) {
                ck.add(
                    "adrg.toml",
                    line,
                    format!("ADRG '{}' is defined twice (first at line {prev})", a.code),
                );
                continue;
            }
            adrg_seen.insert(a.code.clone(), line);
            let Some(&mdc) = mdc_index.get(&a.mdc) else {
                ck.add(
                    "adrg.toml",
                    line,
                    format!("ADRG {}: MDC '{}' is not in mdc.toml", a.code, a.mdc),
                );
                continue;
            };
            if a.drg.is_empty() {
                ck.add(
                    "adrg.toml",
                    line,
                    format!("ADRG {} has no [[adrg.drg]]", a.code),
                );
            }
            let wline = line_of(text, a.when.span().start);
            let when = compile_rule(
                &mut ck,
                "adrg.toml",
                a.when.get_ref(),
                wline,
                &format!("ADRG {}", a.code),
                &mut lists,
            );
            let first = drg_list.len();
            for d in &a.drg {
                let dline = line_of(text, d.span().start);
                let d = d.get_ref();
                if let Some(prev) = drg_seen.get(&d.code) {
                    ck.add(
                        "adrg.toml",
                        dline,
                        format!("DRG '{}' is defined twice (first at line {prev})", d.code),
                    );
                    continue;
                }
                drg_seen.insert(d.code.clone(), dline);
                if !d.code.starts_with(&a.code) {
                    ck.add(
                        "adrg.toml",
                        dline,
                        format!("DRG '{}' does not start with its ADRG '{}'", d.code, a.code),
                    );
                }
                let when = match &d.when {
                    None => None,
                    Some(w) => {
                        let wl = line_of(text, w.span().start);
                        compile_rule(
                            &mut ck,
                            "adrg.toml",
                            w.get_ref(),
                            wl,
                            &format!("DRG {}", d.code),
                            &mut lists,
                        )
                    }
                };
                drg_list.push(Drg {
                    code: d.code.clone(),
                    name: d.name.clone(),
                    when_text: d
                        .when
                        .as_ref()
                        .map(|w| w.get_ref().clone())
                        .unwrap_or_default(),
                    when,
                    line: dline,
                });
            }
            let surgical = a
                .code
                .chars()
                .nth(1)
                .is_some_and(|c| ('A'..='J').contains(&c));
            mdc_list[mdc].adrgs.push(adrg_list.len());
            adrg_list.push(Adrg {
                code: a.code.clone(),
                name: a.name.clone(),
                mdc,
                when: when.unwrap_or(Expr::False),
                when_text: a.when.get_ref().clone(),
                drgs: first..drg_list.len(),
                surgical,
                line,
            });
        }
    }

    // Options and MDC order.
    let mut meta = Meta::default();
    let mut options = Options::default();
    let mut order: Vec<usize> = (0..mdc_list.len()).collect();
    if let Some((t, text)) = &ts {
        meta = Meta {
            name: t.tableset.name.clone(),
            version: t.tableset.version.clone(),
            title: t.tableset.title.clone(),
            dx_edition: t.tableset.dx_edition.clone(),
            px_edition: t.tableset.px_edition.clone(),
            source: t.tableset.source.clone(),
            licence: t.tableset.licence.clone(),
            description: t.tableset.description.clone(),
            content_hash: files.content_hash(),
            origin: files.origin.clone(),
        };
        if meta.name.trim().is_empty() {
            ck.add("tableset.toml", 1, "[tableset] name is empty");
        }
        let g = &t.grouping;
        options = Options {
            next_mdc_when_no_adrg: g.next_mdc_when_no_adrg,
            ambiguous_group: g.ambiguous_group,
            require_age: g.require_age,
            newborn_max_age_days: g.newborn_max_age_days,
            require_newborn_weight: g.require_newborn_weight,
            check_gray_principal: g.check_gray_principal,
        };
        if let Some(o) = &g.mdc_order {
            let line = line_of(text, o.span().start);
            let mut seen = vec![false; mdc_list.len()];
            order.clear();
            for c in o.get_ref() {
                match mdc_index.get(c) {
                    Some(&i) if !seen[i] => {
                        seen[i] = true;
                        order.push(i);
                    }
                    Some(_) => ck.add(
                        "tableset.toml",
                        line,
                        format!("mdc_order names '{c}' twice"),
                    ),
                    None => ck.add(
                        "tableset.toml",
                        line,
                        format!("mdc_order names '{c}', which is not in mdc.toml"),
                    ),
                }
            }
            for (i, s) in seen.iter().enumerate() {
                if !s && !mdc_list.is_empty() {
                    ck.add(
                        "tableset.toml",
                        line,
                        format!("mdc_order leaves out MDC '{}'", mdc_list[i].code),
                    );
                }
            }
        }
    }
    if !ck.problems.is_empty() {
        return Err(TableError::Invalid {
            origin: files.origin.clone(),
            problems: ck.problems,
        });
    }

    // Per-code data.
    let mut cc_level = vec![0u8; ndx];
    let mut cc_table = vec![u32::MAX; ndx];
    for (id, level, t) in cc_rows {
        let i = id as usize;
        if level > cc_level[i] {
            cc_level[i] = level;
            cc_table[i] = t;
        }
    }
    let mut cce = vec![u32::MAX; ndx];
    for (id, t) in cce_rows {
        cce[id as usize] = t;
    }
    // An unknown code matched only by a prefix pattern has no CC data: that is correct,
    // CC lists hold exact codes only.
    let mut gray_dx = Bits::new(ndx);
    gray.0.iter().for_each(|&i| gray_dx.set(i));
    let mut gray_px = Bits::new(npx);
    gray.1.iter().for_each(|&i| gray_px.set(i));
    let mut g = Grouper {
        mdc_candidates: Vec::new(),
        meta,
        options,
        dx,
        px,
        lists,
        mdcs: mdc_list,
        mdc_order: order,
        adrgs: adrg_list,
        drgs: drg_list,
        cc_level,
        cc_table,
        cce,
        gray_dx,
        gray_px,
        n_exclusion_tables: table_ids.len(),
    };
    g.index_mdcs();
    Ok(g)
}

fn merge_unions(
    e: Expr<u32>,
    lists: &mut Vec<CList>,
    unions: &mut FxHashMap<Vec<u32>, u32>,
) -> Expr<u32> {
    match e {
        Expr::In(s, ids) if ids.len() > 1 => {
            let mut key = ids.clone();
            key.sort_unstable();
            key.dedup();
            let id = *unions.entry(key.clone()).or_insert_with(|| {
                let mut bits = lists[key[0] as usize].bits.clone();
                for &k in &key[1..] {
                    let b = lists[k as usize].bits.clone();
                    bits.union_with(&b);
                }
                let name = key
                    .iter()
                    .map(|&k| lists[k as usize].name.clone())
                    .collect::<Vec<_>>()
                    .join("|");
                let is_dx = lists[key[0] as usize].is_dx;
                lists.push(CList { name, is_dx, bits });
                (lists.len() - 1) as u32
            });
            Expr::In(s, vec![id])
        }
        Expr::Not(x) => Expr::Not(Box::new(merge_unions(*x, lists, unions))),
        Expr::And(v) => Expr::And(
            v.into_iter()
                .map(|x| merge_unions(x, lists, unions))
                .collect(),
        ),
        Expr::Or(v) => Expr::Or(
            v.into_iter()
                .map(|x| merge_unions(x, lists, unions))
                .collect(),
        ),
        Expr::AtLeast(n, v) => Expr::AtLeast(
            n,
            v.into_iter()
                .map(|x| merge_unions(x, lists, unions))
                .collect(),
        ),
        other => other,
    }
}
