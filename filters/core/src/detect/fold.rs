//! Character classes and foldings used by the normaliser.
//!
//! Kept apart from the normaliser's offset bookkeeping so the tables can be read (and
//! extended) on their own. Everything here is a pure per-character function.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// Leetspeak digits and symbols to the letters they stand for. Only applied in the
/// folded view, so "version 1.0" is still "version 1.0" in the plain view.
pub const fn leet(b: u8) -> u8 {
    match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'7' => b't',
        b'@' => b'a',
        b'$' => b's',
        _ => b,
    }
}

/// Fold a lowercase non-ASCII character to the Latin letter it imitates, strip its
/// diacritics, or drop it (`None`) when it is a combining mark. Folded view only.
pub fn fold_char(c: char) -> Option<char> {
    if is_combining_mark(c) && !is_vowel_sign(c) {
        return None;
    }
    if let Some(l) = homoglyph(c) {
        return Some(l);
    }
    Some(strip_diacritic(c).unwrap_or(c))
}

/// Whether a combining mark is a letter of its word rather than an accent: the vowel
/// signs of Devanagari, Bengali and Thai ("निर्देश" folded to "नरदश" read as other words).
/// Their nukta is still dropped (often left out when typing: "नज़र" / "नजर").
fn is_vowel_sign(c: char) -> bool {
    matches!(c, '\u{0900}'..='\u{09FF}' | '\u{0E00}'..='\u{0E7F}')
        && !matches!(c, '\u{093C}' | '\u{09BC}')
}

/// Cyrillic, Greek and other look-alikes of Latin lowercase letters (input is lowercase).
fn homoglyph(c: char) -> Option<char> {
    let l = match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'һ' => 'h',
        'і' | 'ї' | 'ӏ' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' => 't',
        'у' => 'y',
        'ѵ' => 'v',
        'ԝ' => 'w',
        'х' => 'x',
        'ь' => 'b',
        'п' => 'n',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        'ω' => 'w',
        // Latin letters without a canonical decomposition, Armenian
        'ı' => 'i',
        'ł' => 'l',
        'ø' => 'o',
        'đ' => 'd',
        'ɡ' => 'g',
        'ո' => 'n',
        'ս' => 'u',
        'օ' => 'o',
        _ => return None,
    };
    Some(l)
}

/// `é` -> `e`: the base letter of a precomposed Latin character, if it is ASCII.
fn strip_diacritic(c: char) -> Option<char> {
    if !('\u{00C0}'..='\u{024F}').contains(&c) && !('\u{1E00}'..='\u{1EFF}').contains(&c) {
        return None;
    }
    let mut base = None;
    decompose_canonical(c, |d| {
        if base.is_none() {
            base = Some(d);
        }
    });
    base.filter(char::is_ascii)
}

/// Typographic punctuation that NFKC keeps but that patterns should see as ASCII.
pub fn punctuation(c: char) -> Option<char> {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' => Some('\''),
        '\u{201C}' | '\u{201D}' | '\u{201F}' | '\u{2033}' => Some('"'),
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Some('-'),
        _ => None,
    }
}

/// Format characters with no visible glyph: zero-width, bidi controls, soft hyphen, word
/// joiners, BOM, Hangul fillers, variation selectors. Removed from every view.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0100}'..='\u{E01EF}')
}

/// Invisible characters with an honest everyday use, removed but not reported on their
/// own: emoji variation selectors, and joiners that do not sit inside an ASCII word.
pub fn is_benign_invisible(c: char, after_ascii_alnum: bool) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}')
        || (matches!(c, '\u{200C}' | '\u{200D}') && !after_ascii_alnum)
}

/// Unicode tag characters (U+E0000..U+E007F): invisible ASCII look-alikes ("ASCII smuggling").
pub fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// The ASCII character a printable tag character encodes.
pub fn tag_ascii(c: char) -> Option<u8> {
    let v = u32::from(c).checked_sub(0xE0000)?;
    (0x20..0x7F).contains(&v).then_some(v as u8)
}

/// C0/C1 control characters other than tab, newline and carriage return.
pub fn is_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homoglyphs_fold_to_latin() {
        let s: String = "іgnоrе".chars().filter_map(fold_char).collect();
        assert_eq!(s, "ignore");
    }

    #[test]
    fn diacritics_and_marks_are_stripped() {
        assert_eq!(fold_char('é'), Some('e'));
        assert_eq!(fold_char('\u{0301}'), None);
        assert_eq!(fold_char('中'), Some('中'));
    }

    #[test]
    fn leet_maps_only_the_usual_suspects() {
        let s: Vec<u8> = b"1gn0r3 @ll $ 9".iter().map(|&b| leet(b)).collect();
        assert_eq!(s, b"ignore all s 9");
    }

    #[test]
    fn tags_decode_to_ascii() {
        assert_eq!(tag_ascii('\u{E0069}'), Some(b'i'));
        assert_eq!(tag_ascii('\u{E007F}'), None);
        assert!(is_tag('\u{E0001}'));
    }

    #[test]
    fn invisible_set() {
        for c in [
            '\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{00AD}', '\u{2064}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        assert!(!is_invisible('a'));
        assert!(is_benign_invisible('\u{200D}', false));
        assert!(!is_benign_invisible('\u{200D}', true));
    }
}
