//! Code normalisation and interning.
//!
//! Every diagnosis and procedure code a table set knows gets a dense `u32` id, one
//! dictionary per code system. Input codes are normalised (trim, full-width to half-width,
//! upper case) and looked up once; rules then work on ids.

use rustc_hash::FxHashMap;
use std::borrow::Cow;

/// Id of a code that is not known to the table set.
pub const NONE: u32 = u32::MAX;

/// Normalise a code for lookup: trim, full-width ASCII to half-width, upper case.
///
/// ```
/// use drgsim_core::codes::normalise;
/// assert_eq!(normalise(" k35.800x001 "), "K35.800X001");
/// assert_eq!(normalise("Ｋ３５．８００"), "K35.800");
/// ```
pub fn normalise(code: &str) -> Cow<'_, str> {
    let t = code.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}' || c == '\u{feff}');
    if t.bytes().all(|b| b.is_ascii() && !b.is_ascii_lowercase()) {
        return Cow::Borrowed(t);
    }
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3002 => '.',
            _ => c,
        };
        s.extend(c.to_uppercase());
    }
    Cow::Owned(s)
}

/// The dictionary of one code system.
#[derive(Debug, Default, Clone)]
pub struct CodeTable {
    ids: FxHashMap<Box<str>, u32>,
    /// The same ids keyed by the packed bytes of keys of at most 16 bytes (no string compare).
    short: FxHashMap<u128, u32>,
    canonical: Vec<Box<str>>,
    /// Prefix patterns: normalised prefix -> synthetic id.
    prefixes: FxHashMap<Box<str>, u32>,
    max_prefix_len: usize,
    /// Input-code maps: normalised input -> id of the grouper code.
    maps: FxHashMap<Box<str>, u32>,
    short_maps: FxHashMap<u128, u32>,
}

/// How an input code was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Known code of the table set.
    Known(u32),
    /// Unknown code mapped by the input-code maps.
    Mapped(u32),
    /// Unknown code matched by a prefix pattern only.
    Prefix(u32),
    /// Not known at all.
    Unknown,
}

impl Resolved {
    /// The id used for rules, or [`NONE`].
    #[inline]
    pub fn id(self) -> u32 {
        match self {
            Resolved::Known(i) | Resolved::Mapped(i) | Resolved::Prefix(i) => i,
            Resolved::Unknown => NONE,
        }
    }
}

impl CodeTable {
    /// Intern a code (canonical spelling kept for output).
    pub fn intern(&mut self, code: &str) -> u32 {
        let key = normalise(code);
        if let Some(&id) = self.ids.get(key.as_ref()) {
            return id;
        }
        let id = self.canonical.len() as u32;
        if let Some(p) = pack(key.as_bytes()) {
            self.short.insert(p, id);
        }
        self.ids.insert(key.into(), id);
        self.canonical.push(code.trim().into());
        id
    }

    /// Intern a prefix pattern; returns its synthetic id.
    pub fn intern_prefix(&mut self, prefix: &str) -> u32 {
        let key: Box<str> = normalise(prefix).into();
        if let Some(&id) = self.prefixes.get(&key) {
            return id;
        }
        let id = self.canonical.len() as u32;
        self.canonical.push(format!("{}*", prefix.trim()).into());
        self.max_prefix_len = self.max_prefix_len.max(key.len());
        self.prefixes.insert(key, id);
        id
    }

    /// Register an input-code map (applied only to codes the table set does not know).
    pub fn add_map(&mut self, input: &str, target: u32) {
        let key = normalise(input);
        if let Some(p) = pack(key.as_bytes()) {
            self.short_maps.insert(p, target);
        }
        self.maps.insert(key.into(), target);
    }

    /// Id of a code spelled exactly (after normalisation), if interned.
    pub fn get(&self, code: &str) -> Option<u32> {
        self.ids.get(normalise(code).as_ref()).copied()
    }

    /// Number of ids (codes and prefix patterns).
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// Canonical spelling of an id.
    pub fn name(&self, id: u32) -> &str {
        self.canonical.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    /// Interned codes (not prefix patterns) with their ids.
    pub fn codes(&self) -> impl Iterator<Item = (&str, u32)> {
        self.ids.iter().map(|(k, &v)| (&**k, v))
    }

    /// Prefix patterns with their synthetic ids.
    pub fn prefix_patterns(&self) -> impl Iterator<Item = (&str, u32)> {
        self.prefixes.iter().map(|(k, &v)| (&**k, v))
    }

    /// The longest prefix pattern that `key` (normalised) starts with.
    pub fn longest_prefix(&self, key: &str) -> Option<u32> {
        if self.prefixes.is_empty() {
            return None;
        }
        let mut n = key.len().min(self.max_prefix_len);
        while n > 0 {
            if key.is_char_boundary(n) {
                if let Some(&id) = self.prefixes.get(&key[..n]) {
                    return Some(id);
                }
            }
            n -= 1;
        }
        None
    }

    /// Resolve an input code: known code, else input-code map, else prefix pattern.
    #[inline]
    pub fn resolve(&self, code: &str) -> Resolved {
        // Fast path: a short ASCII code is upper-cased and packed into an integer key. It trims
        // what `normalise` trims of ASCII (the vertical tab too, which `trim_ascii` keeps).
        // A NUL byte would be taken for the padding of a shorter key: such a code takes the
        // slow path.
        let t = code.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
        if t.len() <= 16 && t.is_ascii() && !t.as_bytes().contains(&0) {
            let mut buf = [0u8; 16];
            for (d, s) in buf.iter_mut().zip(t.bytes()) {
                *d = s.to_ascii_uppercase();
            }
            let p = u128::from_le_bytes(buf);
            if let Some(&id) = self.short.get(&p) {
                return Resolved::Known(id);
            }
            if let Some(&id) = self.short_maps.get(&p) {
                return Resolved::Mapped(id);
            }
            return match std::str::from_utf8(&buf[..t.len()])
                .ok()
                .and_then(|k| self.longest_prefix(k))
            {
                Some(id) => Resolved::Prefix(id),
                None => Resolved::Unknown,
            };
        }
        let key = normalise(code);
        if let Some(&id) = self.ids.get(key.as_ref()) {
            return Resolved::Known(id);
        }
        if let Some(&id) = self.maps.get(key.as_ref()) {
            return Resolved::Mapped(id);
        }
        match self.longest_prefix(&key) {
            Some(id) => Resolved::Prefix(id),
            None => Resolved::Unknown,
        }
    }
}

/// Pack a key of at most 16 bytes into an integer (zero-padded); longer keys, and keys
/// holding a NUL byte (which the padding would hide), give `None`.
#[inline]
fn pack(key: &[u8]) -> Option<u128> {
    if key.len() > 16 || key.contains(&0) {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..key.len()].copy_from_slice(key);
    Some(u128::from_le_bytes(buf))
}

/// A fixed-size bit set over the ids of one code system.
#[derive(Debug, Clone, Default)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// An empty set able to hold ids below `n`.
    pub fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    /// Add an id.
    pub fn set(&mut self, id: u32) {
        let (w, b) = ((id / 64) as usize, id % 64);
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << b;
    }

    /// Whether the id is in the set ([`NONE`] never is).
    #[inline]
    pub fn has(&self, id: u32) -> bool {
        let w = (id / 64) as usize;
        match self.0.get(w) {
            Some(x) => x & (1 << (id % 64)) != 0,
            None => false,
        }
    }

    /// Union with another set.
    pub fn union_with(&mut self, other: &Bits) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= *b;
        }
    }

    /// Whether every id of this set is also in `other`.
    pub fn is_subset_of(&self, other: &Bits) -> bool {
        self.0
            .iter()
            .enumerate()
            .all(|(i, &a)| a & !other.0.get(i).copied().unwrap_or(0) == 0)
    }

    /// Whether the two sets share an id.
    pub fn intersects(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }

    /// Number of ids in the set.
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Ids in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &x)| {
            (0..64u32)
                .filter(move |b| x & (1 << b) != 0)
                .map(move |b| w as u32 * 64 + b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_order() {
        let mut t = CodeTable::default();
        let a = t.intern("K35.800x001");
        let p = t.intern_prefix("K80");
        t.add_map("K35.8001", a);
        assert_eq!(t.resolve("k35.800X001"), Resolved::Known(a));
        assert_eq!(t.resolve("K35.8001"), Resolved::Mapped(a));
        assert_eq!(t.resolve("K80.100x001"), Resolved::Prefix(p));
        assert_eq!(t.resolve("Z99"), Resolved::Unknown);
        assert_eq!(t.name(a), "K35.800x001");
        assert_eq!(
            t.resolve("\u{3000}Ｋ３５．８００ｘ００１"),
            Resolved::Known(a)
        );
    }

    #[test]
    fn fast_path_trims_like_normalise() {
        // Found by the code_normaliser fuzz target: a vertical tab around a short ASCII code
        // was kept by the fast path but trimmed by `normalise`.
        let mut t = CodeTable::default();
        let a = t.intern("K35.800x001");
        assert_eq!(t.resolve("K35.800x001\u{b}\n"), Resolved::Known(a));
        assert_eq!(t.resolve("\u{b}k35.800x001"), Resolved::Known(a));
        assert_eq!(normalise("\u{b}k35\u{b}"), "K35");
        // Also found by it: a trailing NUL byte looked like the zero padding of the packed
        // key, so `K35.800x001\0` resolved as `K35.800x001` on the fast path only.
        let b = t.intern("K35.8\0");
        assert_eq!(t.resolve("K35.800x001\0"), Resolved::Unknown);
        assert_eq!(t.resolve("K35.800x001\0"), t.resolve("K35。800x001\0"));
        assert_eq!(t.resolve("K35.8\0"), Resolved::Known(b));
        assert_eq!(t.resolve("K35.8"), Resolved::Unknown);
    }

    #[test]
    fn bits() {
        let mut b = Bits::new(10);
        b.set(3);
        b.set(200);
        assert!(b.has(3) && b.has(200) && !b.has(4) && !b.has(NONE));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![3, 200]);
    }
}
