//! [`Symbol`]: an instrument's ticker.
//!
//! 1 to 32 characters from `A-Z 0-9 . - / _`, kept exactly as given (no case folding: a
//! lower-case ticker is an error rather than silently another instrument). Stored inline in a
//! fixed 32-byte buffer so the type is `Copy` and bars carry it without allocating.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// The longest symbol, in characters.
pub const MAX_SYMBOL_LEN: usize = 32;

/// A validated instrument symbol such as `SPY`, `BRK.B`, `BTC-PERP` or `EUR/USD`.
///
/// Ordering is the byte order of the text: the padding byte is zero, below every allowed
/// character, so `AB < ABC` as for strings.
#[derive(Clone, Copy, Eq)]
pub struct Symbol {
    bytes: [u8; MAX_SYMBOL_LEN],
    len: u8,
}

impl Symbol {
    /// Validates a symbol.
    ///
    /// # Errors
    /// [`ModelError::Parse`] naming the text when it is empty, longer than 32 characters, or
    /// contains a character outside `A-Z 0-9 . - / _`.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let err = |reason: String| ModelError::parse("symbol", text, reason);
        if text.is_empty() {
            return Err(err("empty".into()));
        }
        if text.len() > MAX_SYMBOL_LEN {
            return Err(err(format!("longer than {MAX_SYMBOL_LEN} characters")));
        }
        if let Some(bad) = text.chars().find(|c| !is_symbol_char(*c)) {
            return Err(err(format!(
                "character {bad:?} is not one of A-Z 0-9 . - / _"
            )));
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        #[allow(clippy::cast_possible_truncation)] // len <= 32, checked above
        Ok(Self {
            bytes,
            len: text.len() as u8,
        })
    }

    /// The symbol's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `parse`), so this never fails.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Symbol {
    /// The `i`-th eight bytes of the text as a big-endian integer: comparing these in turn
    /// compares the bytes in order, and the zero padding sorts below every allowed character,
    /// so this is string order.
    #[inline]
    fn word(&self, i: usize) -> u64 {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&self.bytes[i * 8..(i + 1) * 8]);
        u64::from_be_bytes(chunk)
    }
}

impl Symbol {
    /// Compares the bytes after the first eight (out of line, so the common case inlines).
    #[inline(never)]
    fn cmp_tail(&self, other: &Self) -> std::cmp::Ordering {
        (self.word(1), self.word(2), self.word(3)).cmp(&(
            other.word(1),
            other.word(2),
            other.word(3),
        ))
    }
}

impl PartialEq for Symbol {
    /// The padded bytes decide: the padding is always zero, so equal bytes are equal text.
    /// Symbols are compared on every bar of the engine's hot path.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Ord for Symbol {
    /// Word by word, so most symbols are told apart by their first eight bytes.
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.word(0), other.word(0));
        if a != b {
            return a.cmp(&b);
        }
        self.cmp_tail(other)
    }
}

impl PartialOrd for Symbol {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for Symbol {
    /// Hashes the eight-byte words that hold the text, then its length: equal symbols have
    /// equal padded bytes (the padding is always zero), so they hash alike.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let words = usize::from(self.len).div_ceil(8);
        for i in 0..words {
            state.write_u64(self.word(i));
        }
        state.write_u8(self.len);
    }
}

/// A hash map keyed by symbol, for per-symbol state looked up on every bar (a strategy's
/// rolling windows): a few multiplications per lookup instead of a walk down a tree of
/// comparisons. Its iteration order is arbitrary; where order shows (records, reports), keep a
/// `BTreeMap`.
pub type SymbolMap<V> = std::collections::HashMap<Symbol, V, SymbolHashing>;

/// Builds the [`SymbolHasher`] of a [`SymbolMap`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SymbolHashing;

impl std::hash::BuildHasher for SymbolHashing {
    type Hasher = SymbolHasher;

    fn build_hasher(&self) -> SymbolHasher {
        SymbolHasher(0)
    }
}

/// A multiply-and-rotate hash over eight bytes at a time (the scheme of rustc's `FxHasher`).
/// Not resistant to chosen collisions, which validated ticker symbols do not need.
#[derive(Debug, Clone, Copy, Default)]
pub struct SymbolHasher(u64);

impl SymbolHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    #[inline]
    const fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for SymbolHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiplication leaves its best-mixed bits at the top; the table indexes by the
        // bottom ones.
        self.0.rotate_left(26)
    }
}

const fn is_symbol_char(c: char) -> bool {
    matches!(c, 'A'..='Z' | '0'..='9' | '.' | '-' | '/' | '_')
}

impl FromStr for Symbol {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    #[test]
    fn a_symbol_map_keeps_every_symbol_apart() {
        use std::hash::BuildHasher;
        // Symbols that share their first eight (or sixteen) bytes and differ only after them.
        let texts: Vec<String> = (0..2_000)
            .map(|i| match i % 3 {
                0 => format!("S{i}"),
                1 => format!("LONGPREFIX.{i}"),
                _ => format!("SIXTEEN-BYTES-XX/{i}"),
            })
            .collect();
        let mut map = SymbolMap::default();
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(map.insert(Symbol::parse(text).unwrap(), i), None, "{text}");
        }
        assert_eq!(map.len(), texts.len());
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(map.get(&Symbol::parse(text).unwrap()), Some(&i), "{text}");
        }
        assert_eq!(map.get(&Symbol::parse("ABSENT").unwrap()), None);
        // Prefixes of one another hash apart: the length is part of the hash.
        let hash = |t: &str| SymbolHashing.hash_one(Symbol::parse(t).unwrap());
        assert_ne!(hash("AB"), hash("ABC"));
        assert_eq!(hash("ABC"), hash("ABC"));
    }

    #[rstest]
    #[case("SPY")]
    #[case("BRK.B")]
    #[case("BTC-PERP")]
    #[case("EUR/USD")]
    #[case("ES_H4")]
    #[case("6EH4")]
    #[case("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")]
    fn accepts_and_shows_as_given(#[case] text: &str) {
        assert_eq!(Symbol::parse(text).unwrap().to_string(), text);
    }

    #[rstest]
    #[case("", "empty")]
    #[case("spy", "'s'")]
    #[case("SP Y", "' '")]
    #[case("ÄPL", "'Ä'")]
    #[case("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "longer than 32")]
    fn rejects_with_the_reason(#[case] text: &str, #[case] reason: &str) {
        let err = Symbol::parse(text).unwrap_err().to_string();
        assert!(err.contains(reason), "{err}");
        assert!(err.contains(&format!("{text:?}")), "{err}");
    }

    #[test]
    fn orders_like_strings() {
        let mut symbols: Vec<Symbol> = ["SPY", "AAPL", "AB", "ABC", "A"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect();
        symbols.sort();
        let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
        assert_eq!(names, ["A", "AAPL", "AB", "ABC", "SPY"]);
    }

    proptest! {
        #[test]
        fn valid_symbols_round_trip(text in "[A-Z0-9./_-]{1,32}") {
            let symbol = Symbol::parse(&text).unwrap();
            prop_assert_eq!(symbol.as_str(), text.as_str());
            prop_assert_eq!(symbol.to_string().parse::<Symbol>().unwrap(), symbol);
        }

        #[test]
        fn order_matches_string_order(a in "[A-Z0-9./_-]{1,32}", b in "[A-Z0-9./_-]{1,32}") {
            let (sa, sb) = (Symbol::parse(&a).unwrap(), Symbol::parse(&b).unwrap());
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
            prop_assert_eq!(sa == sb, a == b);
        }

        #[test]
        fn order_past_a_shared_prefix_matches_string_order(
            prefix in "[A-Z]{0,24}",
            x in "[A-Z0-9./_-]{0,8}",
            y in "[A-Z0-9./_-]{0,8}",
        ) {
            let (a, b) = (format!("{prefix}{x}"), format!("{prefix}{y}"));
            prop_assume!(!a.is_empty() && !b.is_empty());
            let (sa, sb) = (Symbol::parse(&a).unwrap(), Symbol::parse(&b).unwrap());
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
            prop_assert_eq!(sa == sb, a == b);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = Symbol::parse(&text);
        }
    }
}
