//! The text as its reader will see it: the view every detector scans.
//!
//! Two encodings hide values from byte-oriented detectors while the reader sees them plainly:
//!
//! - JSON string escapes. A tool that returns `json.dumps(record)` as its text puts
//!   `\n`, `\t`, `\"` and `\uXXXX` inside the string; the client decodes them. Read raw, the
//!   `n` of `\n` is a letter glued to the phone number that follows, so the number does
//!   not stand alone, and an e-mail's local part swallows it (masking it then leaves a
//!   `\` before the placeholder: an invalid escape that breaks the tool's JSON).
//! - Unicode look-alikes: digits of every script (full-width, Arabic-Indic, Devanagari ...),
//!   non-breaking and other spaces, Unicode dashes and full-width ASCII, and invisible
//!   format characters (zero-width space, soft hyphen) inside a number.
//!
//! [`View::new`] decodes escapes and maps those characters to ASCII, keeping for every view
//! byte the span of the original text it came from, so a finding in the view masks exactly
//! the original characters, whole escapes included: a mask never splits an escape, and
//! every replacement is plain ASCII, so escaped JSON stays valid. The view is built in one
//! linear pass, and only when the text holds something to decode; otherwise it borrows.

use super::kind::Finding;
use std::borrow::Cow;

/// First code point of each run of ten decimal digits (Unicode general category Nd).
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0,
    0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
    0x1FBF0,
];

/// What one original character (or escape) becomes in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapped {
    /// Unchanged.
    Same,
    /// Replaced by this character.
    To(char),
    /// Dropped (invisible format characters).
    Gone,
}

/// The ASCII stand-in for a non-ASCII character, if it has one.
fn map_char(c: char) -> Mapped {
    let u = u32::from(c);
    if u < 0x80 {
        return Mapped::Same;
    }
    if let Some(z) = DIGIT_ZEROS.iter().find(|&&z| (z..z + 10).contains(&u)) {
        return char::from_digit(u - z, 10).map_or(Mapped::Same, Mapped::To);
    }
    match u {
        // Full-width ASCII: `＋４４`, `ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ`.
        0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0).map_or(Mapped::Same, Mapped::To),
        0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63 => Mapped::To('-'),
        0x00AD | 0x180E | 0x200B..=0x200D | 0x2060..=0x2064 | 0xFEFF => Mapped::Gone,
        0x3002 | 0xFF61 => Mapped::To('.'),
        _ if c.is_whitespace() => Mapped::To(' '),
        _ => Mapped::Same,
    }
}

/// The text as read, with a map back to the original.
#[derive(Debug)]
pub struct View<'a> {
    text: Cow<'a, str>,
    /// For every byte of `text`: the original span it came from (`None` = identity).
    map: Option<Vec<(u32, u32)>>,
}

/// One unit of the original text: its length and what it reads as.
fn unit(s: &str) -> (usize, Mapped) {
    let b = s.as_bytes();
    if b.first() == Some(&b'\\') {
        if let Some(r) = escape(b) {
            return r;
        }
    }
    let c = s.chars().next().unwrap_or('\0');
    (c.len_utf8().max(1), map_char(c))
}

/// A JSON escape at the start of `b`: its length and the character it stands for.
fn escape(b: &[u8]) -> Option<(usize, Mapped)> {
    let simple = match b.get(1)? {
        b'n' => '\n',
        b't' => '\t',
        b'r' => '\r',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'u' => return unicode_escape(b),
        _ => return None,
    };
    Some((2, Mapped::To(simple)))
}

fn hex4(b: &[u8]) -> Option<u32> {
    let h = std::str::from_utf8(b.get(..4)?).ok()?;
    if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`.
fn unicode_escape(b: &[u8]) -> Option<(usize, Mapped)> {
    let hi = hex4(b.get(2..)?)?;
    let (len, cp) = if (0xD800..0xDC00).contains(&hi) {
        let lo = (b.get(6..8)? == b"\\u").then(|| hex4(&b[8..]))??;
        if !(0xDC00..0xE000).contains(&lo) {
            return None;
        }
        (12, 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    } else {
        (6, hi)
    };
    let c = char::from_u32(cp)?;
    let mapped = match map_char(c) {
        Mapped::Same => Mapped::To(c),
        other => other,
    };
    Some((len, mapped))
}

/// Offset of the first `\\` or non-ASCII byte of `b`: where the view can start to differ.
/// Eight bytes at a time (the bit tricks of "Bit Twiddling Hacks": a byte's high bit set,
/// or a zero byte in `word ^ 0x5c5c..`), since most of any text is plain ASCII and this
/// runs over all of it; the lowest flagged byte is exact (a borrow only flags bytes above
/// a true hit).
fn first_special(b: &[u8]) -> Option<usize> {
    use super::words::{first_of, HIGH, ONES};
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    let flags = |w: u64| {
        let x = w ^ BACKSLASHES;
        (x.wrapping_sub(ONES) & !x) | (w & HIGH)
    };
    first_of(b, flags, |c| c == b'\\' || c >= 0x80)
}

impl<'a> View<'a> {
    /// The view of `text`; borrows it when nothing needs decoding or mapping.
    pub fn new(text: &'a str) -> Self {
        let b = text.as_bytes();
        let first = first_special(b);
        let Some(mut i) = first else {
            return Self::borrowed(text);
        };
        // Find the first unit that changes; everything before it is identity.
        loop {
            if i >= b.len() {
                return Self::borrowed(text);
            }
            let (len, m) = unit(&text[i..]);
            if m != Mapped::Same {
                break;
            }
            i += len;
            match first_special(&b[i..]) {
                Some(off) => i += off,
                None => return Self::borrowed(text),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut map: Vec<(u32, u32)> = Vec::with_capacity(text.len());
        out.push_str(&text[..i]);
        map.extend((0..i).map(|k| (k as u32, k as u32 + 1)));
        while i < b.len() {
            // Plain ASCII reads as itself: copied a run at a time (most of any text).
            let run = first_special(&b[i..]).unwrap_or(b.len() - i);
            if run > 0 {
                out.push_str(&text[i..i + run]);
                map.extend((i..i + run).map(|k| (k as u32, k as u32 + 1)));
                i += run;
                continue;
            }
            let (len, m) = unit(&text[i..]);
            let span = (i as u32, (i + len) as u32);
            match m {
                Mapped::Same => out.push_str(&text[i..i + len]),
                Mapped::To(c) => out.push(c),
                Mapped::Gone => {}
            }
            map.resize(out.len(), span);
            i += len;
        }
        Self {
            text: Cow::Owned(out),
            map: Some(map),
        }
    }

    fn borrowed(text: &'a str) -> Self {
        Self {
            text: Cow::Borrowed(text),
            map: None,
        }
    }

    /// The decoded, mapped text the detectors scan.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the view differs from the original.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Rewrite the spans of `findings` (view offsets) into original offsets, each covering
    /// every original unit its view bytes came from.
    pub fn map_back(&self, findings: &mut [Finding]) {
        let Some(map) = &self.map else {
            return;
        };
        for f in findings {
            let (s, e) = (f.span.start, f.span.end);
            if s >= e || e > map.len() {
                continue;
            }
            f.span = map[s].0 as usize..map[e - 1].1 as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::kind::{Confidence, Kind};

    fn view(s: &str) -> String {
        View::new(s).text().to_string()
    }

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        let slow = |b: &[u8]| b.iter().position(|c| *c == b'\\' || *c >= 0x80);
        let texts = [
            "",
            "abc",
            "abcdefgh",
            "abcdefgh\\",
            "x\\y",
            "\\",
            "a]bcdefghijk\u{e9}",
            "0123456\u{e9}",
            "[\\]^_`{|}~\u{7f}",
            "\u{ff}\u{100}",
            "12345678901234567\\z",
        ];
        for t in texts {
            for start in 0..t.len() {
                let b = &t.as_bytes()[start..];
                assert_eq!(first_special(b), slow(b), "{t:?} from {start}");
            }
        }
        for byte in 0..=255u8 {
            for at in 0..17 {
                let mut b = vec![b'a'; 20];
                b[at] = byte;
                assert_eq!(first_special(&b), slow(&b), "byte {byte:#x} at {at}");
            }
        }
    }

    #[test]
    fn plain_ascii_and_plain_unicode_are_borrowed() {
        assert!(!View::new("call 415 555 0132").is_mapped());
        assert!(!View::new("café déjà vu C:\\Users\\Dev").is_mapped());
    }

    #[test]
    fn json_escapes_are_decoded() {
        assert_eq!(view(r#"a\nb\tc\"d\\n\u0040\/"#), "a\nb\tc\"d\\n@/");
        assert_eq!(view(r"\ud83d\ude00 x"), "\u{1F600} x");
        // Lone surrogates and bad escapes stay as written.
        assert_eq!(view(r"\ud83d x \q"), r"\ud83d x \q");
    }

    #[test]
    fn digits_of_every_script_and_spaces_map_to_ascii() {
        assert_eq!(view("＋４４ ２０ ７９４６ ０９５８"), "+44 20 7946 0958");
        assert_eq!(view("٠١٢٣٤٥٦٧٨٩ ۰۹ ०९"), "0123456789 09 09");
        assert_eq!(view("415\u{a0}555\u{202f}0132"), "415 555 0132");
        assert_eq!(view("4111\u{200b}1111"), "41111111");
        assert_eq!(view("415\u{2011}555\u{2013}0132"), "415-555-0132");
    }

    #[test]
    fn every_digit_table_entry_is_a_run_of_ten_numerals() {
        for &z in DIGIT_ZEROS {
            for d in 0..10 {
                let c = char::from_u32(z + d).unwrap();
                assert!(c.is_numeric(), "{z:#x}+{d}");
            }
        }
    }

    #[test]
    fn spans_map_back_over_whole_escapes() {
        let text = r"x\n\u0034\u0031 y";
        let v = View::new(text);
        assert_eq!(v.text(), "x\n41 y");
        let mut f = [Finding::new(Kind::Phone, 2..4, Confidence::Low)];
        v.map_back(&mut f);
        assert_eq!(&text[f[0].span.clone()], r"\u0034\u0031");
    }
}
