//! Analyses of a table set beyond the checks of loading (`drgsim tables check`).
//!
//! Loading ([`crate::tables::build`]) checks each file and rule on its own; the analyses here
//! look at the set as a whole: DRG splits and ADRGs that can never be chosen, ADRGs whose
//! splits leave cases without a DRG, CC/MCC codes listed twice with conflicting levels or
//! exclusion tables, and whether the set is sealed by a manifest. Each finding has a file, a
//! line and a severity. Errors refuse the set ([`crate::tables::compile`] runs these analyses);
//! warnings are structural doubts that published tables do have (for instance an ADRG whose
//! splits test only the length of stay), so they are reported but do not stop loading.
//!
//! Whether a rule can hold is decided on an abstract case space built from the rules being
//! compared: the CC level (none, CC, MCC), each attribute the rules compare at the values on
//! both sides of every threshold (and missing), and each `subject in list` predicate as a
//! free boolean, tied only by what the lists' codes imply (a list inside another, two
//! disjoint lists for the principal code, an empty list). The space holds every real case's
//! image, so "never holds" and "always taken by an earlier split" are sound; when the space
//! would be too large, only the plain cases are decided (a split after one with no
//! condition).

use crate::codes::normalise;
use crate::error::{Problem, TableError};
use crate::expr::{Attr, Expr, Subject};
use crate::grouper::Grouper;
use crate::tables::{self, TableFiles, MANIFEST};
use std::collections::{BTreeMap, BTreeSet};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The set is wrong; loading refuses it.
    Error,
    /// A structural doubt; the set loads.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding: where, how serious, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub problem: Problem,
}

/// A DRG of the set, where it is written, and whether any case can be grouped into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrgInfo {
    pub code: String,
    pub adrg: String,
    /// Line of its `[[adrg.drg]]` in `adrg.toml`.
    pub line: usize,
    pub reachable: bool,
}

/// Everything `tables check` reports about a set.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Errors first, then warnings, each in file and line order.
    pub findings: Vec<Finding>,
    /// Every DRG of the set (empty when the set does not load).
    pub drgs: Vec<DrgInfo>,
    /// The 歧义组 `<MDC>QY` the set forms (empty when it forms none or does not load): not
    /// DRGs of the set, but they may be weighted.
    pub qy: Vec<String>,
}

/// Check a set: the problems of loading (all errors) or, when it loads, the analyses.
/// A folder that cannot be read at all stays an `Err`.
pub fn check(files: &TableFiles) -> Result<Report, TableError> {
    match tables::build(files) {
        Ok(g) => {
            let (mut findings, drgs) = run(files, &g);
            sort(&mut findings);
            let qy = if g.options.ambiguous_group {
                (0..g.mdcs.len()).map(|m| g.qy_code(m)).collect()
            } else {
                Vec::new()
            };
            Ok(Report { findings, drgs, qy })
        }
        Err(TableError::Invalid { problems, .. }) => Ok(Report {
            findings: problems
                .into_iter()
                .map(|problem| Finding {
                    severity: Severity::Error,
                    problem,
                })
                .collect(),
            drgs: Vec::new(),
            qy: Vec::new(),
        }),
        Err(e) => Err(e),
    }
}

/// The findings of the analyses on a compiled set (used by loading for its errors).
pub fn analyse(files: &TableFiles, g: &Grouper) -> Vec<Finding> {
    let mut f = run(files, g).0;
    sort(&mut f);
    f
}

fn sort(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        (a.severity, &a.problem.file, a.problem.line).cmp(&(
            b.severity,
            &b.problem.file,
            b.problem.line,
        ))
    });
}

struct Out {
    findings: Vec<Finding>,
}

impl Out {
    fn add(&mut self, severity: Severity, file: &str, line: usize, message: String) {
        self.findings.push(Finding {
            severity,
            problem: Problem {
                file: file.to_string(),
                line,
                message,
            },
        });
    }
}

fn run(files: &TableFiles, g: &Grouper) -> (Vec<Finding>, Vec<DrgInfo>) {
    let mut out = Out {
        findings: Vec::new(),
    };
    if !files.files.contains_key(MANIFEST) {
        out.add(
            Severity::Warning,
            MANIFEST,
            0,
            "the set is not sealed: no manifest, so a changed or truncated file cannot be \
             detected (seal it with 'drgsim tables seal')"
                .into(),
        );
    }
    duplicate_codes(files, &mut out);
    let adrg_ok = adrgs(g, &mut out);
    let mut drgs = Vec::with_capacity(g.drgs.len());
    for (ai, a) in g.adrgs.iter().enumerate() {
        let reached = splits(g, ai, adrg_ok[ai], &mut out);
        for (d, r) in g.drgs[a.drgs.clone()].iter().zip(reached) {
            drgs.push(DrgInfo {
                code: d.code.clone(),
                adrg: a.code.clone(),
                line: d.line,
                reachable: adrg_ok[ai] && r,
            });
        }
    }
    (out.findings, drgs)
}

/// The same CC/MCC code (or principal diagnosis of `cc_exclusions.csv`) listed twice: an error
/// when the rows disagree (the engine would silently keep one), a warning when they repeat.
fn duplicate_codes(files: &TableFiles, out: &mut Out) {
    let specs: [(&str, &[&str], &str); 2] = [
        (
            "cc.csv",
            &["code", "level", "exclusion_table"],
            "level and exclusion table",
        ),
        (
            "cc_exclusions.csv",
            &["principal_dx", "exclusion_table"],
            "exclusion table",
        ),
    ];
    for (file, cols, what) in specs {
        let mut first: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
        for (line, mut v) in tables::csv_rows(files, file, cols) {
            let key = normalise(&v[0]).into_owned();
            if key.is_empty() {
                continue;
            }
            if let Some(l) = v.get_mut(1) {
                if file == "cc.csv" {
                    *l = l.to_ascii_uppercase();
                }
            }
            match first.get(&key) {
                None => {
                    first.insert(key, (line, v));
                }
                Some((l0, v0)) if v0[1..] == v[1..] => out.add(
                    Severity::Warning,
                    file,
                    line,
                    format!("{} is listed again (same {what} as line {l0})", v[0]),
                ),
                Some((l0, v0)) => out.add(
                    Severity::Error,
                    file,
                    line,
                    format!(
                        "{} is listed twice with conflicting {what}: {} here, {} at line {l0}",
                        v[0],
                        v[1..].join("/"),
                        v0[1..].join("/")
                    ),
                ),
            }
        }
    }
}

/// Whether a rule holds for every case, decided on its form alone.
fn always(e: &Expr<u32>) -> bool {
    match e {
        Expr::True => true,
        Expr::And(v) => v.iter().all(always),
        Expr::Or(v) => v.iter().any(always),
        Expr::Not(x) => never(x),
        Expr::AtLeast(n, v) => *n == 0 || v.iter().filter(|x| always(x)).count() >= *n,
        _ => false,
    }
}

/// Whether a rule holds for no case, decided on its form alone.
fn never(e: &Expr<u32>) -> bool {
    match e {
        Expr::False => true,
        Expr::And(v) => v.iter().any(never),
        Expr::Or(v) => v.iter().all(never),
        Expr::Not(x) => always(x),
        Expr::AtLeast(n, v) => v.iter().filter(|x| !never(x)).count() < *n,
        _ => false,
    }
}

/// Most points of an abstract space that are tried.
const MAX_POINTS: usize = 1 << 13;
/// Most boolean atoms of an abstract space.
const MAX_ATOMS: usize = 12;

/// The abstract case space of some rules (see the module documentation).
struct Space<'g> {
    g: &'g Grouper,
    atoms: Vec<(Subject, u32)>,
    attrs: Vec<(Attr, Vec<Option<f64>>)>,
    cc: bool,
    implies: Vec<(usize, usize)>,
    exclusive: Vec<(usize, usize)>,
    impossible: Vec<usize>,
    size: usize,
}

/// A point of a space: the atoms that hold (bit mask), the CC level, each attribute's value.
struct Point {
    mask: u32,
    cc: u8,
    vals: Vec<Option<f64>>,
}

fn subject_implies(a: Subject, b: Subject) -> bool {
    use Subject::*;
    a == b
        || matches!(
            (a, b),
            (PrincipalDx | SecondaryDx, AnyDx) | (PrincipalPx | SecondaryPx, AnyPx)
        )
}

impl<'g> Space<'g> {
    fn new(g: &'g Grouper, rules: &[&Expr<u32>]) -> Option<Space<'g>> {
        let mut atoms: Vec<(Subject, u32)> = Vec::new();
        let mut thresholds: Vec<(Attr, Vec<f64>)> = Vec::new();
        let mut cc = false;
        fn walk(
            e: &Expr<u32>,
            atoms: &mut Vec<(Subject, u32)>,
            th: &mut Vec<(Attr, Vec<f64>)>,
            cc: &mut bool,
        ) {
            match e {
                Expr::Not(x) => walk(x, atoms, th, cc),
                Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => {
                    v.iter().for_each(|x| walk(x, atoms, th, cc))
                }
                Expr::In(s, ids) => {
                    for &id in ids {
                        if !atoms.contains(&(*s, id)) {
                            atoms.push((*s, id));
                        }
                    }
                }
                Expr::Compare(a, _, x) => match th.iter_mut().find(|(b, _)| b == a) {
                    Some((_, v)) => v.push(*x),
                    None => th.push((*a, vec![*x])),
                },
                Expr::Cc(_) => *cc = true,
                Expr::True | Expr::False => {}
            }
        }
        for r in rules {
            walk(r, &mut atoms, &mut thresholds, &mut cc);
        }
        if atoms.len() > MAX_ATOMS {
            return None;
        }
        let attrs: Vec<(Attr, Vec<Option<f64>>)> = thresholds
            .into_iter()
            .map(|(a, t)| (a, values(a, &t, g.options.require_age)))
            .collect();
        let mut size: usize = 1 << atoms.len();
        if cc {
            size *= 3;
        }
        for (_, v) in &attrs {
            size = size.checked_mul(v.len())?;
            if size > MAX_POINTS {
                return None;
            }
        }
        if size > MAX_POINTS {
            return None;
        }
        let bits = |id: u32| g.lists.get(id as usize).map(|l| &l.bits);
        let mut implies = Vec::new();
        let mut exclusive = Vec::new();
        let mut impossible = Vec::new();
        for (i, &(si, li)) in atoms.iter().enumerate() {
            let Some(bi) = bits(li) else { continue };
            if bi.count() == 0 {
                impossible.push(i);
                continue;
            }
            for (j, &(sj, lj)) in atoms.iter().enumerate() {
                let Some(bj) = bits(lj) else { continue };
                if i == j {
                    continue;
                }
                if subject_implies(si, sj) && bi.is_subset_of(bj) {
                    implies.push((i, j));
                }
                if i < j
                    && si == sj
                    && matches!(si, Subject::PrincipalDx | Subject::PrincipalPx)
                    && !bi.intersects(bj)
                {
                    exclusive.push((i, j));
                }
            }
        }
        Some(Space {
            g,
            atoms,
            attrs,
            cc,
            implies,
            exclusive,
            impossible,
            size,
        })
    }

    /// Every possible point, in order.
    fn points(&self) -> impl Iterator<Item = Point> + '_ {
        (0..self.size).filter_map(move |mut i| {
            let n = self.atoms.len();
            let mask = (i % (1 << n)) as u32;
            i >>= n;
            let cc = if self.cc {
                let c = (i % 3) as u8;
                i /= 3;
                c
            } else {
                0
            };
            let mut vals = Vec::with_capacity(self.attrs.len());
            for (_, v) in &self.attrs {
                vals.push(v[i % v.len()]);
                i /= v.len();
            }
            let p = Point { mask, cc, vals };
            self.possible(&p).then_some(p)
        })
    }

    fn possible(&self, p: &Point) -> bool {
        let on = |i: usize| p.mask & (1 << i) != 0;
        self.impossible.iter().all(|&i| !on(i))
            && self.implies.iter().all(|&(i, j)| !on(i) || on(j))
            && self.exclusive.iter().all(|&(i, j)| !(on(i) && on(j)))
    }

    fn eval(&self, e: &Expr<u32>, p: &Point) -> bool {
        match e {
            Expr::True => true,
            Expr::False => false,
            Expr::Not(x) => !self.eval(x, p),
            Expr::And(v) => v.iter().all(|x| self.eval(x, p)),
            Expr::Or(v) => v.iter().any(|x| self.eval(x, p)),
            Expr::AtLeast(n, v) => v.iter().filter(|x| self.eval(x, p)).count() >= *n,
            Expr::In(s, ids) => ids.iter().any(|id| {
                self.atoms
                    .iter()
                    .position(|a| *a == (*s, *id))
                    .is_some_and(|i| p.mask & (1 << i) != 0)
            }),
            Expr::Compare(a, op, x) => self
                .attrs
                .iter()
                .position(|(b, _)| b == a)
                .and_then(|i| p.vals[i])
                .is_some_and(|v| op.eval(v, *x)),
            Expr::Cc(t) => t.holds(p.cc),
        }
    }

    /// Words for a point: its CC level, attribute values and list predicates.
    fn describe(&self, p: &Point) -> String {
        let mut parts = Vec::new();
        if self.cc {
            parts.push(["no CC/MCC", "a CC", "an MCC"][p.cc as usize].to_string());
        }
        for ((a, _), v) in self.attrs.iter().zip(&p.vals) {
            parts.push(match v {
                Some(x) => format!("{} {x}", a.keyword()),
                None => format!("{} missing", a.keyword()),
            });
        }
        for (i, (s, id)) in self.atoms.iter().enumerate() {
            let name = self
                .g
                .lists
                .get(*id as usize)
                .map_or("?", |l| l.name.as_str());
            let not = if p.mask & (1 << i) != 0 { "" } else { "not " };
            parts.push(format!("{not}{} in {name}", s.keyword()));
        }
        if parts.is_empty() {
            "any values".into()
        } else {
            parts.join(", ")
        }
    }

    fn missing(p: &Point) -> usize {
        p.vals.iter().filter(|v| v.is_none()).count()
    }
}

/// The values of an attribute tried for some thresholds: every integer next to a threshold
/// (the attributes are whole numbers in practice), 0, one above the largest, and missing
/// when a case may lack the value.
fn values(a: Attr, thresholds: &[f64], require_age: bool) -> Vec<Option<f64>> {
    if a == Attr::Sex {
        return vec![Some(1.0), Some(2.0), Some(0.0), Some(9.0), None];
    }
    let min = match a {
        Attr::DxCount | Attr::BirthWeight => 1.0,
        _ => 0.0,
    };
    let mut v = vec![min];
    let mut top = min;
    for &t in thresholds.iter().filter(|t| t.is_finite()) {
        let (f, c) = (t.floor(), t.ceil());
        v.extend([f - 1.0, f, f + 1.0, c, c + 1.0]);
        top = top.max(c + 1.0);
    }
    v.push(top);
    v.retain(|x| *x >= min);
    v.sort_by(f64::total_cmp);
    v.dedup();
    let mut out: Vec<Option<f64>> = v.into_iter().map(Some).collect();
    let can_miss = match a {
        Attr::DxCount | Attr::PxCount => false,
        Attr::Age => !require_age,
        _ => true,
    };
    if can_miss {
        out.push(None);
    }
    out
}

/// ADRGs that can never be chosen: a condition that never holds, or one whose cases are all
/// taken by an earlier ADRG of the same MDC. Returns which ADRGs can be chosen.
fn adrgs(g: &Grouper, out: &mut Out) -> Vec<bool> {
    let mut ok = vec![true; g.adrgs.len()];
    for m in &g.mdcs {
        for (pos, &k) in m.adrgs.iter().enumerate() {
            let a = &g.adrgs[k];
            let unsat = match Space::new(g, &[&a.when]) {
                Some(s) => !s.points().any(|p| s.eval(&a.when, &p)),
                None => never(&a.when),
            };
            if unsat {
                ok[k] = false;
                out.add(
                    Severity::Warning,
                    "adrg.toml",
                    a.line,
                    format!(
                        "ADRG {} can never be chosen: its condition '{}' never holds",
                        a.code, a.when_text
                    ),
                );
                continue;
            }
            for &j in &m.adrgs[..pos] {
                let b = &g.adrgs[j];
                let shadowed = if always(&b.when) {
                    Some(format!(
                        "ADRG {} (line {}), tried before it in MDC {}, has a condition that \
                         always holds ('{}')",
                        b.code, b.line, m.code, b.when_text
                    ))
                } else {
                    Space::new(g, &[&b.when, &a.when])
                        .filter(|s| {
                            !s.points()
                                .any(|p| s.eval(&a.when, &p) && !s.eval(&b.when, &p))
                        })
                        .map(|_| {
                            format!(
                                "every case its condition holds for is taken by ADRG {} \
                                 (line {}), tried before it in MDC {}",
                                b.code, b.line, m.code
                            )
                        })
                };
                if let Some(why) = shadowed {
                    ok[k] = false;
                    out.add(
                        Severity::Warning,
                        "adrg.toml",
                        a.line,
                        format!("ADRG {} can never be chosen: {why}", a.code),
                    );
                    break;
                }
            }
        }
    }
    ok
}

/// The DRG splits of one ADRG: splits that can never be chosen (errors) and cases that no
/// split takes (a warning). Returns which splits can be chosen.
fn splits(g: &Grouper, ai: usize, adrg_ok: bool, out: &mut Out) -> Vec<bool> {
    let a = &g.adrgs[ai];
    let drgs = &g.drgs[a.drgs.clone()];
    let n = drgs.len();
    let conds: Vec<&Expr<u32>> = drgs
        .iter()
        .map(|d| d.when.as_ref().unwrap_or(&Expr::True))
        .collect();
    let dline = |k: usize| drgs[k].line;
    let mut reached = vec![false; n];
    let mut holds_somewhere = vec![false; n];
    let mut takers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut fall: Option<(usize, String)> = None;

    let mut rules = vec![&a.when];
    rules.extend(conds.iter().copied());
    let (space, with_adrg) = match Space::new(g, &rules) {
        Some(s) => (Some(s), true),
        None => (Space::new(g, &conds), false),
    };
    match &space {
        Some(s) => {
            let mut any = false;
            for p in s.points() {
                if with_adrg && !s.eval(&a.when, &p) {
                    continue;
                }
                any = true;
                let holds: Vec<bool> = conds.iter().map(|c| s.eval(c, &p)).collect();
                match holds.iter().position(|h| *h) {
                    Some(first) => {
                        reached[first] = true;
                        for k in first + 1..n {
                            if holds[k] {
                                takers[k].insert(first);
                            }
                        }
                    }
                    None => {
                        let miss = Space::missing(&p);
                        if fall.as_ref().is_none_or(|(m, _)| miss < *m) {
                            fall = Some((miss, s.describe(&p)));
                        }
                    }
                }
                for k in 0..n {
                    holds_somewhere[k] |= holds[k];
                }
            }
            if !any {
                // The ADRG itself never holds; reported with the ADRGs.
                return vec![false; n];
            }
        }
        None => {
            // Too many predicates to enumerate: decide the plain cases only.
            let mut open = true;
            for k in 0..n {
                holds_somewhere[k] = !never(conds[k]);
                if open && holds_somewhere[k] {
                    reached[k] = true;
                } else if !open {
                    takers[k].insert(conds[..k].iter().position(|c| always(c)).unwrap_or(0));
                }
                if always(conds[k]) {
                    open = false;
                }
            }
            if open {
                fall = Some((0, String::new()));
            }
        }
    }
    if adrg_ok {
        for k in 0..n {
            if reached[k] {
                continue;
            }
            let d = &drgs[k];
            let cond = if d.when_text.is_empty() {
                "(none)".to_string()
            } else {
                format!("'{}'", d.when_text)
            };
            let unconditional = (0..k).find(|&j| always(conds[j]));
            let why = if let Some(j) = unconditional {
                format!(
                    "it follows the split {} (line {}), which has no condition",
                    drgs[j].code,
                    dline(j)
                )
            } else if !holds_somewhere[k] {
                format!(
                    "its condition {cond} never holds for a case of ADRG {}",
                    a.code
                )
            } else {
                let names: Vec<String> = takers[k]
                    .iter()
                    .map(|&j| format!("{} (line {})", drgs[j].code, dline(j)))
                    .collect();
                format!(
                    "every case its condition {cond} holds for is taken by the earlier split(s) {}",
                    names.join(", ")
                )
            };
            out.add(
                Severity::Error,
                "adrg.toml",
                dline(k),
                format!("DRG {} can never be chosen: {why}", d.code),
            );
        }
        if let Some((_, desc)) = fall {
            let msg = if desc.is_empty() {
                format!(
                    "ADRG {} has no fall-through split: its last split {} has a condition, so \
                     a case none of its splits holds for gets no DRG (0000)",
                    a.code,
                    drgs.last().map_or("", |d| d.code.as_str())
                )
            } else {
                let scope = if with_adrg {
                    ""
                } else {
                    " (ignoring the ADRG's own condition)"
                };
                format!(
                    "ADRG {} has no fall-through split: a case with {desc}{scope} matches none \
                     of its splits and gets no DRG (0000)",
                    a.code
                )
            };
            out.add(Severity::Warning, "adrg.toml", a.line, msg);
        }
    }
    reached
}
