//! The rule language of the table format (`when = "..."`).
//!
//! Parsing yields an [`Expr`] whose list references are still names; the compiler
//! resolves them to list ids ([`crate::compile`]).

use std::fmt;

/// Which codes of a case a list predicate looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    PrincipalDx,
    SecondaryDx,
    AnyDx,
    PrincipalPx,
    SecondaryPx,
    AnyPx,
}

impl Subject {
    /// `true` for the diagnosis subjects.
    pub fn is_dx(self) -> bool {
        matches!(
            self,
            Subject::PrincipalDx | Subject::SecondaryDx | Subject::AnyDx
        )
    }

    /// The keyword of the subject in the rule language.
    pub fn keyword(self) -> &'static str {
        match self {
            Subject::PrincipalDx => "principal_dx",
            Subject::SecondaryDx => "secondary_dx",
            Subject::AnyDx => "any_dx",
            Subject::PrincipalPx => "principal_px",
            Subject::SecondaryPx => "secondary_px",
            Subject::AnyPx => "any_px",
        }
    }
}

/// A numeric attribute of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Age,
    AgeDays,
    BirthWeight,
    Los,
    Discharge,
    Sex,
    DxCount,
    PxCount,
}

impl Attr {
    fn parse(s: &str) -> Option<Attr> {
        Some(match s {
            "age" => Attr::Age,
            "age_days" => Attr::AgeDays,
            "birth_weight" => Attr::BirthWeight,
            "los" => Attr::Los,
            "discharge" => Attr::Discharge,
            "sex" => Attr::Sex,
            "dx_count" => Attr::DxCount,
            "px_count" => Attr::PxCount,
            _ => return None,
        })
    }

    /// The keyword of the attribute in the rule language.
    pub fn keyword(self) -> &'static str {
        match self {
            Attr::Age => "age",
            Attr::AgeDays => "age_days",
            Attr::BirthWeight => "birth_weight",
            Attr::Los => "los",
            Attr::Discharge => "discharge",
            Attr::Sex => "sex",
            Attr::DxCount => "dx_count",
            Attr::PxCount => "px_count",
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// Compare `a OP b`.
    #[inline]
    pub fn eval(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// Complication level required by a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcTest {
    /// A non-excluded MCC is present.
    Mcc,
    /// A non-excluded CC but no MCC.
    Cc,
    /// CC or MCC.
    CcOrMcc,
    /// Neither.
    NoCc,
}

impl CcTest {
    /// Whether the test holds at a CC level (0 none, 1 CC, 2 MCC).
    #[inline]
    pub fn holds(self, level: u8) -> bool {
        match self {
            CcTest::Mcc => level == 2,
            CcTest::Cc => level == 1,
            CcTest::CcOrMcc => level >= 1,
            CcTest::NoCc => level == 0,
        }
    }
}

/// A parsed rule, generic over how lists are referenced (names, then ids).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<L> {
    True,
    False,
    Not(Box<Expr<L>>),
    And(Vec<Expr<L>>),
    Or(Vec<Expr<L>>),
    AtLeast(usize, Vec<Expr<L>>),
    In(Subject, Vec<L>),
    Compare(Attr, Cmp, f64),
    Cc(CcTest),
}

impl<L> Expr<L> {
    /// Map the list references.
    pub fn try_map<M, E>(
        self,
        f: &mut impl FnMut(Subject, L) -> Result<M, E>,
    ) -> Result<Expr<M>, E> {
        Ok(match self {
            Expr::True => Expr::True,
            Expr::False => Expr::False,
            Expr::Not(e) => Expr::Not(Box::new(e.try_map(f)?)),
            Expr::And(v) => Expr::And(map_all(v, f)?),
            Expr::Or(v) => Expr::Or(map_all(v, f)?),
            Expr::AtLeast(n, v) => Expr::AtLeast(n, map_all(v, f)?),
            Expr::In(s, lists) => Expr::In(
                s,
                lists
                    .into_iter()
                    .map(|l| f(s, l))
                    .collect::<Result<Vec<_>, E>>()?,
            ),
            Expr::Compare(a, c, x) => Expr::Compare(a, c, x),
            Expr::Cc(t) => Expr::Cc(t),
        })
    }

    /// Every list predicate in the expression.
    pub fn visit_lists<'a>(&'a self, f: &mut impl FnMut(Subject, &'a L)) {
        match self {
            Expr::Not(e) => e.visit_lists(f),
            Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => {
                v.iter().for_each(|e| e.visit_lists(f))
            }
            Expr::In(s, lists) => lists.iter().for_each(|l| f(*s, l)),
            _ => {}
        }
    }

    /// Whether the expression uses the CC level.
    pub fn uses_cc(&self) -> bool {
        match self {
            Expr::Cc(_) => true,
            Expr::Not(e) => e.uses_cc(),
            Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => v.iter().any(|e| e.uses_cc()),
            _ => false,
        }
    }
}

fn map_all<L, M, E>(
    v: Vec<Expr<L>>,
    f: &mut impl FnMut(Subject, L) -> Result<M, E>,
) -> Result<Vec<Expr<M>>, E> {
    v.into_iter().map(|e| e.try_map(f)).collect()
}

impl<L: fmt::Display> fmt::Display for Expr<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join<L: fmt::Display>(
            f: &mut fmt::Formatter<'_>,
            v: &[Expr<L>],
            sep: &str,
        ) -> fmt::Result {
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                match e {
                    Expr::And(_) | Expr::Or(_) => write!(f, "({e})")?,
                    _ => write!(f, "{e}")?,
                }
            }
            Ok(())
        }
        match self {
            Expr::True => f.write_str("true"),
            Expr::False => f.write_str("false"),
            Expr::Not(e) => match **e {
                Expr::And(_) | Expr::Or(_) => write!(f, "not ({e})"),
                _ => write!(f, "not {e}"),
            },
            Expr::And(v) => join(f, v, " and "),
            Expr::Or(v) => join(f, v, " or "),
            Expr::AtLeast(n, v) => {
                write!(f, "{n} of (")?;
                join(f, v, ", ")?;
                f.write_str(")")
            }
            Expr::In(s, lists) => {
                write!(f, "{} in ", s.keyword())?;
                if lists.len() == 1 {
                    write!(f, "{}", lists[0])
                } else {
                    f.write_str("(")?;
                    for (i, l) in lists.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{l}")?;
                    }
                    f.write_str(")")
                }
            }
            Expr::Compare(a, c, x) => write!(f, "{} {} {}", a.keyword(), c.symbol(), x),
            Expr::Cc(t) => f.write_str(match t {
                CcTest::Mcc => "mcc",
                CcTest::Cc => "cc",
                CcTest::CcOrMcc => "cc_or_mcc",
                CcTest::NoCc => "no_cc",
            }),
        }
    }
}

/// A parse error: byte offset in the rule text and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.offset + 1, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Op(Cmp),
    LParen,
    RParen,
    Comma,
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = b.get(i + 1) == Some(&b'=');
                i += if two { 2 } else { 1 };
                match (c, two) {
                    (b'=', true) => Tok::Op(Cmp::Eq),
                    (b'!', true) => Tok::Op(Cmp::Ne),
                    (b'<', true) => Tok::Op(Cmp::Le),
                    (b'<', false) => Tok::Op(Cmp::Lt),
                    (b'>', true) => Tok::Op(Cmp::Ge),
                    (b'>', false) => Tok::Op(Cmp::Gt),
                    _ => {
                        return Err(ParseError {
                            offset: start,
                            message: format!("unexpected '{}'", c as char),
                        })
                    }
                }
            }
            b'0'..=b'9' | b'-' | b'.' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let text = &src[start..i];
                Tok::Num(text.parse().map_err(|_| ParseError {
                    offset: start,
                    message: format!("'{text}' is not a number"),
                })?)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(ParseError {
                    offset: start,
                    message: format!("unexpected character '{ch}'"),
                });
            }
        };
        out.push((start, tok));
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    src: &'a str,
}

/// Parse a rule. List names stay strings.
///
/// ```
/// use drgsim_core::expr::parse;
/// let e = parse("principal_dx in BR2_dx and (mcc or age >= 65)").unwrap();
/// assert_eq!(e.to_string(), "principal_dx in BR2_dx and (mcc or age >= 65)");
/// ```
pub fn parse(src: &str) -> Result<Expr<String>, ParseError> {
    let mut p = Parser {
        toks: tokenize(src)?,
        pos: 0,
        src,
    };
    if p.toks.is_empty() {
        return Err(ParseError {
            offset: 0,
            message: "empty rule".into(),
        });
    }
    let e = p.or()?;
    if let Some((off, t)) = p.toks.get(p.pos) {
        return Err(ParseError {
            offset: *off,
            message: format!("unexpected {} after a complete rule", describe(t)),
        });
    }
    Ok(e)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Op(c) => format!("'{}'", c.symbol()),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(o, _)| *o)
            .unwrap_or(self.src.len())
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.offset(),
            message: message.into(),
        })
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }

    fn expect(&mut self, t: Tok) -> Result<(), ParseError> {
        match self.peek() {
            Some(x) if *x == t => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => {
                let d = describe(x);
                self.err(format!("expected {}, found {d}", describe(&t)))
            }
            None => self.err(format!("expected {}, found the end", describe(&t))),
        }
    }

    fn or(&mut self) -> Result<Expr<String>, ParseError> {
        let mut v = vec![self.and()?];
        while self.is_kw("or") {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr<String>, ParseError> {
        let mut v = vec![self.unary()?];
        while self.is_kw("and") {
            self.pos += 1;
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::And(v)
        })
    }

    fn unary(&mut self) -> Result<Expr<String>, ParseError> {
        if self.is_kw("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr<String>, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return self.err("expected a condition, found the end");
        };
        match tok {
            Tok::LParen => {
                self.pos += 1;
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Tok::Num(n) => {
                if n < 0.0 || n.fract() != 0.0 {
                    return self.err("'N of (...)' needs a whole number");
                }
                self.pos += 1;
                if !self.is_kw("of") {
                    return self.err("a number must be followed by 'of (...)'");
                }
                self.pos += 1;
                self.expect(Tok::LParen)?;
                let mut v = vec![self.or()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    v.push(self.or()?);
                }
                self.expect(Tok::RParen)?;
                Ok(Expr::AtLeast(n as usize, v))
            }
            Tok::Ident(word) => {
                self.pos += 1;
                match word.as_str() {
                    "true" => return Ok(Expr::True),
                    "false" => return Ok(Expr::False),
                    "mcc" => return Ok(Expr::Cc(CcTest::Mcc)),
                    "cc" => return Ok(Expr::Cc(CcTest::Cc)),
                    "cc_or_mcc" => return Ok(Expr::Cc(CcTest::CcOrMcc)),
                    "no_cc" => return Ok(Expr::Cc(CcTest::NoCc)),
                    _ => {}
                }
                let subject = match word.as_str() {
                    "principal_dx" => Some(Subject::PrincipalDx),
                    "secondary_dx" => Some(Subject::SecondaryDx),
                    "any_dx" => Some(Subject::AnyDx),
                    "principal_px" => Some(Subject::PrincipalPx),
                    "secondary_px" => Some(Subject::SecondaryPx),
                    "any_px" => Some(Subject::AnyPx),
                    _ => None,
                };
                if let Some(s) = subject {
                    if !self.is_kw("in") {
                        return self.err(format!("expected 'in' after '{word}'"));
                    }
                    self.pos += 1;
                    return Ok(Expr::In(s, self.lists()?));
                }
                if let Some(a) = Attr::parse(&word) {
                    let cmp = match self.peek() {
                        Some(Tok::Op(c)) => *c,
                        _ => return self.err(format!("expected a comparison after '{word}'")),
                    };
                    self.pos += 1;
                    let value = match self.peek().cloned() {
                        Some(Tok::Num(n)) => n,
                        Some(Tok::Ident(s)) if a == Attr::Sex && s == "male" => 1.0,
                        Some(Tok::Ident(s)) if a == Attr::Sex && s == "female" => 2.0,
                        _ => {
                            return self
                                .err(format!("expected a number after '{word} {}'", cmp.symbol()))
                        }
                    };
                    self.pos += 1;
                    return Ok(Expr::Compare(a, cmp, value));
                }
                self.pos -= 1;
                self.err(format!("unknown word '{word}'"))
            }
            other => self.err(format!("expected a condition, found {}", describe(&other))),
        }
    }

    fn lists(&mut self) -> Result<Vec<String>, ParseError> {
        match self.peek().cloned() {
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                Ok(vec![name])
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let mut v = Vec::new();
                loop {
                    match self.peek().cloned() {
                        Some(Tok::Ident(name)) => {
                            self.pos += 1;
                            v.push(name);
                        }
                        _ => return self.err("expected a list name"),
                    }
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RParen) => {
                            self.pos += 1;
                            return Ok(v);
                        }
                        _ => return self.err("expected ',' or ')' in a list of lists"),
                    }
                }
            }
            _ => self.err("expected a list name or '(' after 'in'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for src in [
            "true",
            "principal_dx in A and principal_px in (B, C)",
            "not any_px in or_procedures",
            "2 of (any_dx in R1, any_dx in R2, any_dx in R3)",
            "birth_weight >= 1500 and birth_weight < 2000 and age_days <= 28",
            "(mcc or cc) and sex == 1",
            "principal_dx in X and (any_px in A or any_px in B and any_px in C)",
        ] {
            let e = parse(src).unwrap();
            assert_eq!(parse(&e.to_string()).unwrap(), e, "{src}");
        }
    }

    #[test]
    fn precedence() {
        let e = parse("a_dx_rule_dummy_is_not_valid").unwrap_err();
        assert!(e.message.contains("unknown word"));
        let e = parse("mcc or cc and no_cc").unwrap();
        assert!(matches!(e, Expr::Or(ref v) if v.len() == 2));
        assert_eq!(
            parse("sex == male").unwrap(),
            Expr::Compare(Attr::Sex, Cmp::Eq, 1.0)
        );
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse("principal_dx in").unwrap_err();
        assert_eq!(e.offset, 15);
        let e = parse("principal_dx in A )").unwrap_err();
        assert!(e.message.contains("after a complete rule"));
        assert!(parse("age >= ").is_err());
        assert!(parse("principal_dx A").is_err());
        assert!(parse("").is_err());
        assert!(parse("age ＞ 1").is_err());
        assert!(parse("1.5 of (mcc)").is_err());
    }
}
