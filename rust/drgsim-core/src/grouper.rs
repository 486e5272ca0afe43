//! The compiled grouper and the grouping of one case.

use crate::codes::{Bits, CodeTable, Resolved, NONE};
use crate::expr::{Attr, Expr, Subject};
use std::ops::Range;

/// Metadata of a table set.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub name: String,
    pub version: String,
    pub title: String,
    pub dx_edition: String,
    pub px_edition: String,
    pub source: String,
    pub licence: String,
    pub description: String,
    /// SHA-256 over the set's files.
    pub content_hash: String,
    /// Where the set was loaded from.
    pub origin: String,
}

/// Grouping options of a table set (`[grouping]` in `tableset.toml`).
#[derive(Debug, Clone)]
pub struct Options {
    pub next_mdc_when_no_adrg: bool,
    pub ambiguous_group: bool,
    pub require_age: bool,
    pub newborn_max_age_days: f64,
    pub require_newborn_weight: bool,
    pub check_gray_principal: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            next_mdc_when_no_adrg: true,
            ambiguous_group: false,
            require_age: true,
            newborn_max_age_days: 28.0,
            require_newborn_weight: false,
            check_gray_principal: true,
        }
    }
}

/// Sex an MDC is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// A compiled code list.
#[derive(Debug, Clone)]
pub struct CList {
    pub name: String,
    pub is_dx: bool,
    pub bits: Bits,
}

/// A compiled MDC.
#[derive(Debug, Clone)]
pub struct Mdc {
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub when: Expr<u32>,
    pub when_text: String,
    pub sex: Option<Sex>,
    /// ADRG indices in the order they are tried.
    pub adrgs: Vec<usize>,
}

/// A compiled ADRG.
#[derive(Debug, Clone)]
pub struct Adrg {
    pub code: String,
    pub name: String,
    pub mdc: usize,
    pub when: Expr<u32>,
    pub when_text: String,
    pub drgs: Range<usize>,
    /// Second letter A-J: a surgical ADRG.
    pub surgical: bool,
    /// Line of its `[[adrg]]` in `adrg.toml`.
    pub line: usize,
}

/// A compiled DRG split.
#[derive(Debug, Clone)]
pub struct Drg {
    pub code: String,
    pub name: String,
    pub when: Option<Expr<u32>>,
    pub when_text: String,
    /// Line of its `[[adrg.drg]]` in `adrg.toml`.
    pub line: usize,
}

/// An immutable, thread-safe grouper compiled from one table set.
#[derive(Debug, Clone)]
pub struct Grouper {
    pub meta: Meta,
    pub options: Options,
    pub dx: CodeTable,
    pub px: CodeTable,
    pub lists: Vec<CList>,
    pub mdcs: Vec<Mdc>,
    /// MDC indices in the order they are tried.
    pub mdc_order: Vec<usize>,
    pub adrgs: Vec<Adrg>,
    pub drgs: Vec<Drg>,
    pub cc_level: Vec<u8>,
    pub cc_table: Vec<u32>,
    pub cce: Vec<u32>,
    pub gray_dx: Bits,
    pub gray_px: Bits,
    pub n_exclusion_tables: usize,
    /// Per principal-diagnosis id: bit k set when the k-th MDC of `mdc_order` can hold for it
    /// (its rule needs a principal diagnosis list holding the code, or needs none). Empty when
    /// there are more than 64 MDCs.
    pub mdc_candidates: Vec<u64>,
}

/// A list the principal diagnosis must be in for a rule to hold, if the rule has one.
pub fn needed_principal_dx(e: &Expr<u32>) -> Option<Vec<u32>> {
    match e {
        Expr::In(Subject::PrincipalDx, lists) => Some(lists.clone()),
        Expr::And(v) => v.iter().find_map(needed_principal_dx),
        Expr::Or(v) => {
            let mut all = Vec::new();
            for x in v {
                all.extend(needed_principal_dx(x)?);
            }
            Some(all)
        }
        _ => None,
    }
}

impl Grouper {
    /// Precompute [`Grouper::mdc_candidates`].
    pub fn index_mdcs(&mut self) {
        if self.mdc_order.len() > 64 {
            self.mdc_candidates.clear();
            return;
        }
        let n = self.dx.len();
        let mut cand = vec![0u64; n];
        for (k, &m) in self.mdc_order.iter().enumerate() {
            let bit = 1u64 << k;
            match needed_principal_dx(&self.mdcs[m].when) {
                None => cand.iter_mut().for_each(|c| *c |= bit),
                Some(lists) => {
                    for l in lists {
                        for id in self.lists[l as usize].bits.iter() {
                            if let Some(c) = cand.get_mut(id as usize) {
                                *c |= bit;
                            }
                        }
                    }
                }
            }
        }
        self.mdc_candidates = cand;
    }
}

/// Outcome class of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Grouped into a DRG.
    Ok,
    /// 歧义组: an OR procedure unrelated to the principal diagnosis.
    Ambiguous,
    /// 0000: valid input that no rule groups.
    Ungroupable,
    /// 0000: input that cannot be grouped (missing or invalid values).
    Invalid,
}

impl Status {
    /// Name used in output frames.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Ambiguous => "qy",
            Status::Ungroupable => "ungroupable",
            Status::Invalid => "invalid",
        }
    }
}

/// Why a case is not grouped (or what to note about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadValue,
    EmptyPrincipalDx,
    UnknownPrincipalDx,
    GrayPrincipalDx,
    InvalidSex,
    MissingAge,
    NewbornMissingWeight,
    NoMdc,
    SexConflict,
    NoAdrg,
    NoDrg,
}

impl Reason {
    /// Stable reason code used in output frames.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadValue => "bad_value",
            Reason::EmptyPrincipalDx => "empty_principal_dx",
            Reason::UnknownPrincipalDx => "unknown_principal_dx",
            Reason::GrayPrincipalDx => "gray_principal_dx",
            Reason::InvalidSex => "invalid_sex",
            Reason::MissingAge => "missing_age",
            Reason::NewbornMissingWeight => "newborn_missing_weight",
            Reason::NoMdc => "no_mdc",
            Reason::SexConflict => "sex_conflict",
            Reason::NoAdrg => "no_adrg",
            Reason::NoDrg => "no_drg",
        }
    }
}

/// The input of one case, codes already resolved to ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct Case<'a> {
    /// 1 male, 2 female, 0 or 9 unknown; other values are invalid.
    pub sex: Option<f64>,
    pub age: Option<f64>,
    pub age_days: Option<f64>,
    pub birth_weight: Option<f64>,
    pub los: Option<f64>,
    pub discharge: Option<f64>,
    /// Diagnosis ids, principal first ([`NONE`] for an unknown code).
    pub dx: &'a [u32],
    /// Procedure ids, principal first.
    pub px: &'a [u32],
}

/// Result of grouping one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    /// MDC index or [`NONE`].
    pub mdc: u32,
    /// ADRG index or [`NONE`] (for QY: [`NONE`], see `qy`).
    pub adrg: u32,
    /// DRG index or [`NONE`].
    pub drg: u32,
    /// Set for 歧义组 results: the MDC letter's QY group.
    pub qy: bool,
    /// 0 none, 1 CC, 2 MCC.
    pub cc_level: u8,
    /// Dx id of the secondary diagnosis that set the CC level, or [`NONE`].
    pub cc_code: u32,
}

impl Outcome {
    fn fail(status: Status, reason: Reason, message: String) -> Outcome {
        Outcome {
            status,
            reason: Some(reason),
            message: Some(message),
            mdc: NONE,
            adrg: NONE,
            drg: NONE,
            qy: false,
            cc_level: 0,
            cc_code: NONE,
        }
    }
}

/// One step of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStep {
    /// `input`, `cc`, `mdc`, `adrg`, `qy`, `drg`.
    pub step: &'static str,
    /// The rule (MDC, ADRG or DRG code, or the input field / code concerned).
    pub rule: String,
    /// `pass`, `fail`, `skip`, `counted`, `excluded`, `invalid`.
    pub outcome: &'static str,
    /// The code that decided the step, if any.
    pub code: Option<String>,
    /// The rule text or an explanation.
    pub detail: String,
}

struct Ctx<'a> {
    case: &'a Case<'a>,
    cc_level: u8,
}

impl Grouper {
    #[inline]
    fn list(&self, id: u32) -> &Bits {
        &self.lists[id as usize].bits
    }

    #[inline]
    fn test_in(&self, s: Subject, list: u32, c: &Case) -> bool {
        let b = self.list(list);
        match s {
            Subject::PrincipalDx => c.dx.first().is_some_and(|&i| b.has(i)),
            Subject::SecondaryDx => c.dx.iter().skip(1).any(|&i| b.has(i)),
            Subject::AnyDx => c.dx.iter().any(|&i| b.has(i)),
            Subject::PrincipalPx => c.px.first().is_some_and(|&i| b.has(i)),
            Subject::SecondaryPx => c.px.iter().skip(1).any(|&i| b.has(i)),
            Subject::AnyPx => c.px.iter().any(|&i| b.has(i)),
        }
    }

    fn eval(&self, e: &Expr<u32>, cx: &Ctx) -> bool {
        match e {
            Expr::True => true,
            Expr::False => false,
            Expr::Not(x) => !self.eval(x, cx),
            Expr::And(v) => v.iter().all(|x| self.eval(x, cx)),
            Expr::Or(v) => v.iter().any(|x| self.eval(x, cx)),
            Expr::AtLeast(n, v) => {
                let mut k = 0;
                for x in v {
                    if self.eval(x, cx) {
                        k += 1;
                        if k >= *n {
                            return true;
                        }
                    }
                }
                *n == 0
            }
            Expr::In(s, lists) => lists.iter().any(|&l| self.test_in(*s, l, cx.case)),
            Expr::Compare(a, op, x) => {
                let c = cx.case;
                let v = match a {
                    Attr::Age => c.age,
                    Attr::AgeDays => c.age_days,
                    Attr::BirthWeight => c.birth_weight.filter(|w| *w > 0.0),
                    Attr::Los => c.los,
                    Attr::Discharge => c.discharge,
                    Attr::Sex => c.sex,
                    Attr::DxCount => Some(c.dx.len() as f64),
                    Attr::PxCount => Some(c.px.len() as f64),
                };
                v.is_some_and(|v| op.eval(v, *x))
            }
            Expr::Cc(t) => t.holds(cx.cc_level),
        }
    }

    /// The first code that satisfies a list predicate of a rule that held (for traces).
    fn deciding_code(&self, e: &Expr<u32>, cx: &Ctx) -> Option<String> {
        match e {
            Expr::In(s, lists) => {
                let c = cx.case;
                let (codes, table, skip_first, only_first) = match s {
                    Subject::PrincipalDx => (c.dx, &self.dx, false, true),
                    Subject::SecondaryDx => (c.dx, &self.dx, true, false),
                    Subject::AnyDx => (c.dx, &self.dx, false, false),
                    Subject::PrincipalPx => (c.px, &self.px, false, true),
                    Subject::SecondaryPx => (c.px, &self.px, true, false),
                    Subject::AnyPx => (c.px, &self.px, false, false),
                };
                let n = if only_first { 1 } else { codes.len() };
                codes
                    .iter()
                    .take(n)
                    .skip(usize::from(skip_first))
                    .find(|&&i| lists.iter().any(|&l| self.list(l).has(i)))
                    .map(|&i| table.name(i).to_string())
            }
            Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => v
                .iter()
                .filter(|x| self.eval(x, cx))
                .find_map(|x| self.deciding_code(x, cx)),
            _ => None,
        }
    }

    /// CC level of a case: (level, dx id that set it), with exclusions applied.
    pub fn cc_of(&self, case: &Case, mut trace: Option<&mut Vec<TraceStep>>) -> (u8, u32) {
        let Some(&p) = case.dx.first() else {
            return (0, NONE);
        };
        let ptable = if p == NONE {
            u32::MAX
        } else {
            self.cce[p as usize]
        };
        let (mut level, mut code) = (0u8, NONE);
        for &d in case.dx.iter().skip(1) {
            if d == NONE {
                continue;
            }
            let l = self.cc_level[d as usize];
            if l == 0 {
                continue;
            }
            let t = self.cc_table[d as usize];
            let excluded = ptable != u32::MAX && t == ptable;
            if let Some(tr) = trace.as_deref_mut() {
                tr.push(TraceStep {
                    step: "cc",
                    rule: if l == 2 { "MCC" } else { "CC" }.into(),
                    outcome: if excluded { "excluded" } else { "counted" },
                    code: Some(self.dx.name(d).to_string()),
                    detail: if excluded {
                        format!("exclusion table {t} equals the principal diagnosis's table")
                    } else {
                        String::new()
                    },
                });
            }
            if !excluded && l > level {
                level = l;
                code = d;
            }
        }
        (level, code)
    }

    /// Group one case. With `trace`, every step is recorded.
    pub fn group(
        &self,
        case: &Case,
        input_error: Option<&str>,
        mut trace: Option<&mut Vec<TraceStep>>,
    ) -> Outcome {
        macro_rules! tr {
            ($step:expr, $rule:expr, $outcome:expr, $code:expr, $detail:expr) => {
                if let Some(t) = trace.as_deref_mut() {
                    t.push(TraceStep {
                        step: $step,
                        rule: $rule.into(),
                        outcome: $outcome,
                        code: $code,
                        detail: $detail.into(),
                    });
                }
            };
        }
        let invalid = |reason: Reason, msg: String, trace: &mut Option<&mut Vec<TraceStep>>| {
            if let Some(t) = trace.as_deref_mut() {
                t.push(TraceStep {
                    step: "input",
                    rule: reason.as_str().into(),
                    outcome: "invalid",
                    code: None,
                    detail: msg.clone(),
                });
            }
            Outcome::fail(Status::Invalid, reason, msg)
        };
        if let Some(e) = input_error {
            return invalid(Reason::BadValue, e.to_string(), &mut trace);
        }
        let Some(&principal) = case.dx.first() else {
            return invalid(
                Reason::EmptyPrincipalDx,
                "no principal diagnosis".into(),
                &mut trace,
            );
        };
        if principal == NONE {
            return invalid(
                Reason::UnknownPrincipalDx,
                "principal diagnosis is not a code of this table set".into(),
                &mut trace,
            );
        }
        if self.options.check_gray_principal && self.gray_dx.has(principal) {
            let name = self.dx.name(principal).to_string();
            return invalid(
                Reason::GrayPrincipalDx,
                format!("principal diagnosis {name} is a gray code (not allowed as principal)"),
                &mut trace,
            );
        }
        if let Some(s) = case.sex {
            if !(s == 0.0 || s == 1.0 || s == 2.0 || s == 9.0) {
                return invalid(
                    Reason::InvalidSex,
                    format!("sex code {s} is not 1 (male), 2 (female), 0 or 9 (unknown)"),
                    &mut trace,
                );
            }
        }
        for (name, v) in [
            ("age", case.age),
            ("age_days", case.age_days),
            ("birth_weight_g", case.birth_weight),
            ("los_days", case.los),
            ("discharge_type", case.discharge),
        ] {
            if let Some(x) = v {
                if !x.is_finite() || x < 0.0 {
                    return invalid(
                        Reason::BadValue,
                        format!("{name} = {x} is not a valid value"),
                        &mut trace,
                    );
                }
            }
        }
        if case.age.is_some_and(|a| a > 150.0) {
            return invalid(
                Reason::BadValue,
                format!("age = {} is out of range", case.age.unwrap_or(0.0)),
                &mut trace,
            );
        }
        if self.options.require_age && case.age.is_none() {
            return invalid(Reason::MissingAge, "age is missing".into(), &mut trace);
        }
        let newborn = case.age.is_some_and(|a| a < 1.0)
            && case
                .age_days
                .is_some_and(|d| d <= self.options.newborn_max_age_days);
        if self.options.require_newborn_weight
            && newborn
            && !case.birth_weight.is_some_and(|w| w > 0.0)
        {
            return invalid(
                Reason::NewbornMissingWeight,
                "a newborn needs a birth weight".into(),
                &mut trace,
            );
        }

        let (cc_level, cc_code) = self.cc_of(case, trace.as_deref_mut());
        let cx = Ctx { case, cc_level };
        let mut first_mdc = NONE;
        let candidates = self
            .mdc_candidates
            .get(principal as usize)
            .copied()
            .unwrap_or(u64::MAX);
        for (k, &m) in self.mdc_order.iter().enumerate() {
            let mdc = &self.mdcs[m];
            let possible = trace.is_some() || candidates & (1u64 << (k & 63)) != 0;
            if !possible || !self.eval(&mdc.when, &cx) {
                tr!(
                    "mdc",
                    format!("MDC{}", mdc.code),
                    "fail",
                    None,
                    mdc.when_text.clone()
                );
                continue;
            }
            let code = if trace.is_some() {
                self.deciding_code(&mdc.when, &cx)
            } else {
                None
            };
            tr!(
                "mdc",
                format!("MDC{}", mdc.code),
                "pass",
                code,
                mdc.when_text.clone()
            );
            if first_mdc == NONE {
                first_mdc = m as u32;
            }
            let mut surgical_left = mdc.adrgs.iter().any(|&a| self.adrgs[a].surgical);
            for &a in &mdc.adrgs {
                let adrg = &self.adrgs[a];
                if self.options.ambiguous_group && surgical_left && !adrg.surgical {
                    surgical_left = false;
                    if let Some(qy) = self.qy(case, m, &mut trace) {
                        return Outcome {
                            cc_level,
                            cc_code,
                            ..qy
                        };
                    }
                }
                if !self.eval(&adrg.when, &cx) {
                    tr!(
                        "adrg",
                        adrg.code.clone(),
                        "fail",
                        None,
                        adrg.when_text.clone()
                    );
                    continue;
                }
                let code = if trace.is_some() {
                    self.deciding_code(&adrg.when, &cx)
                } else {
                    None
                };
                tr!(
                    "adrg",
                    adrg.code.clone(),
                    "pass",
                    code,
                    adrg.when_text.clone()
                );
                for d in adrg.drgs.clone() {
                    let drg = &self.drgs[d];
                    let ok = drg.when.as_ref().is_none_or(|w| self.eval(w, &cx));
                    let detail = if drg.when_text.is_empty() {
                        "true".to_string()
                    } else {
                        drg.when_text.clone()
                    };
                    if ok {
                        let code =
                            if drg.when.as_ref().is_some_and(|w| w.uses_cc()) && cc_code != NONE {
                                Some(self.dx.name(cc_code).to_string())
                            } else {
                                None
                            };
                        tr!("drg", drg.code.clone(), "pass", code, detail);
                        return Outcome {
                            status: Status::Ok,
                            reason: None,
                            message: None,
                            mdc: m as u32,
                            adrg: a as u32,
                            drg: d as u32,
                            qy: false,
                            cc_level,
                            cc_code,
                        };
                    }
                    tr!("drg", drg.code.clone(), "fail", None, detail);
                }
                let mut o = Outcome::fail(
                    Status::Ungroupable,
                    Reason::NoDrg,
                    format!("no DRG split of {} holds", adrg.code),
                );
                o.mdc = m as u32;
                o.adrg = a as u32;
                o.cc_level = cc_level;
                o.cc_code = cc_code;
                return o;
            }
            if self.options.ambiguous_group && surgical_left {
                if let Some(qy) = self.qy(case, m, &mut trace) {
                    return Outcome {
                        cc_level,
                        cc_code,
                        ..qy
                    };
                }
            }
            if !self.options.next_mdc_when_no_adrg {
                break;
            }
        }
        let mut o = if first_mdc != NONE {
            let mut o = Outcome::fail(
                Status::Ungroupable,
                Reason::NoAdrg,
                format!(
                    "MDC {} holds but no ADRG matches",
                    self.mdcs[first_mdc as usize].code
                ),
            );
            o.mdc = first_mdc;
            o
        } else if let Some(m) = self.sex_conflict(case, cc_level) {
            Outcome::fail(
                Status::Ungroupable,
                Reason::SexConflict,
                format!(
                    "principal diagnosis belongs to MDC {} but the sex does not match",
                    self.mdcs[m].code
                ),
            )
        } else {
            Outcome::fail(
                Status::Ungroupable,
                Reason::NoMdc,
                format!(
                    "principal diagnosis {} enters no MDC",
                    self.dx.name(principal)
                ),
            )
        };
        o.cc_level = cc_level;
        o.cc_code = cc_code;
        tr!(
            "result",
            "0000",
            "fail",
            None,
            o.message.clone().unwrap_or_default()
        );
        o
    }

    fn qy(
        &self,
        case: &Case,
        m: usize,
        trace: &mut Option<&mut Vec<TraceStep>>,
    ) -> Option<Outcome> {
        let p = *case.px.first()?;
        let or = &self.lists[0].bits;
        let hit = or.has(p);
        if let Some(t) = trace.as_deref_mut() {
            t.push(TraceStep {
                step: "qy",
                rule: self.qy_code(m),
                outcome: if hit { "pass" } else { "fail" },
                code: Some(self.px.name(p).to_string()),
                detail: "surgical ADRGs failed; principal procedure is an OR procedure".into(),
            });
        }
        hit.then(|| Outcome {
            status: Status::Ambiguous,
            reason: None,
            message: Some("OR procedure unrelated to the principal diagnosis (歧义组)".into()),
            mdc: m as u32,
            adrg: NONE,
            drg: NONE,
            qy: true,
            cc_level: 0,
            cc_code: NONE,
        })
    }

    fn sex_conflict(&self, case: &Case, cc_level: u8) -> Option<usize> {
        for &m in &self.mdc_order {
            let mdc = &self.mdcs[m];
            let Some(s) = mdc.sex else { continue };
            let want = if s == Sex::Male { 1.0 } else { 2.0 };
            if case.sex == Some(want) {
                continue;
            }
            let flipped = Case {
                sex: Some(want),
                ..*case
            };
            if self.eval(
                &mdc.when,
                &Ctx {
                    case: &flipped,
                    cc_level,
                },
            ) {
                return Some(m);
            }
        }
        None
    }

    /// Resolve a diagnosis code.
    pub fn resolve_dx(&self, code: &str) -> Resolved {
        self.dx.resolve(code)
    }

    /// Resolve a procedure code.
    pub fn resolve_px(&self, code: &str) -> Resolved {
        self.px.resolve(code)
    }

    /// Code of the 歧义组 of an MDC (by index): `<MDC>QY`.
    pub fn qy_code(&self, mdc: usize) -> String {
        format!("{}QY", self.mdcs[mdc].code)
    }

    /// Name of the DRG of an outcome ("0000" when none; `<MDC>QY` for 歧义组).
    pub fn drg_code(&self, o: &Outcome) -> String {
        if o.qy {
            self.qy_code(o.mdc as usize)
        } else if o.drg != NONE {
            self.drgs[o.drg as usize].code.clone()
        } else {
            "0000".into()
        }
    }

    /// Counts for `tables show`: (mdc, adrg, drg, cc, mcc).
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let cc = self.cc_level.iter().filter(|&&l| l == 1).count();
        let mcc = self.cc_level.iter().filter(|&&l| l == 2).count();
        (self.mdcs.len(), self.adrgs.len(), self.drgs.len(), cc, mcc)
    }
}
