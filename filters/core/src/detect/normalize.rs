//! Normalisation: the text the rules see, plus the way back to the original bytes.
//!
//! Attackers hide instructions from pattern matchers with look-alike characters,
//! invisible characters, tag-character smuggling and case tricks, so rules never match the
//! raw text. [`normalize`] builds a view that is NFKC-normalised (per character cluster),
//! lowercase, free of invisible and control characters and ANSI escapes, with tag characters
//! decoded to ASCII and whitespace runs collapsed to one space. The folded variant also
//! maps homoglyphs, diacritics and leetspeak to plain Latin letters; it is a separate view
//! so honest numbers stay intact in the plain one.
//!
//! Every finding must point at original bytes, so the view keeps an [`OffsetMap`]: a list
//! of segments, either *linear* (one output byte per input byte, the common ASCII case) or
//! *mapped* (an output string standing for a whole input range). The map has at most one
//! segment per input character; the output is at most [`MAX_EXPANSION`] times the input.
//! Time is linear: each input character is visited once and NFKC only runs on clusters of
//! at most [`MAX_CLUSTER_MARKS`] combining marks.

use super::fold::{
    fold_char, is_benign_invisible, is_control, is_invisible, is_tag, leet, punctuation, tag_ascii,
};
use std::ops::Range;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Combining marks kept per base character; the rest ("zalgo" floods) are dropped, which
/// bounds the NFKC reordering work per cluster.
pub const MAX_CLUSTER_MARKS: usize = 16;
/// Longest ANSI escape sequence recognised (and skipped) as one unit.
pub const MAX_ESCAPE_LEN: usize = 64;
/// Upper bound of output bytes per input byte (NFKC of a single character can expand to
/// 18 characters; lowercasing to 3).
pub const MAX_EXPANSION: usize = 18 * 3;
/// Longest tag-character run that is treated as an emoji flag sequence (🏴 + region + cancel).
const MAX_FLAG_TAGS: usize = 8;

/// One stretch of the view and where it came from.
#[derive(Debug, Clone, Copy)]
struct Seg {
    norm: u32,
    orig: u32,
    orig_len: u32,
    linear: bool,
}

/// Maps byte ranges of a normalised view back to byte ranges of the original text.
#[derive(Debug, Clone, Default)]
pub struct OffsetMap {
    segs: Vec<Seg>,
}

impl OffsetMap {
    fn seg(&self, p: usize) -> Option<&Seg> {
        let i = self.segs.partition_point(|s| s.norm as usize <= p);
        self.segs.get(i.checked_sub(1)?)
    }

    /// The original byte range a view range stands for; a range touching a mapped
    /// segment widens to that segment's whole original range.
    pub fn to_original(&self, r: Range<usize>) -> Range<usize> {
        let Some(first) = self.seg(r.start) else {
            return 0..0;
        };
        let start = if first.linear {
            first.orig as usize + (r.start - first.norm as usize)
        } else {
            first.orig as usize
        };
        let last_byte = r.end.max(r.start + 1) - 1;
        let end = match self.seg(last_byte) {
            Some(s) if s.linear => s.orig as usize + (last_byte + 1 - s.norm as usize),
            Some(s) => (s.orig + s.orig_len) as usize,
            None => start,
        };
        start..end.max(start)
    }
}

/// A normalised view of a text.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The normalised text the rules run on.
    pub text: String,
    /// The way back to original offsets.
    pub map: OffsetMap,
}

/// Things the normaliser noticed while removing them, with original byte ranges.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// Runs of Unicode tag characters (decoded into the view, reported as smuggling).
    pub tags: Vec<Range<usize>>,
    /// Runs of invisible or bidi-control characters that are not benign.
    pub invisible: Vec<Range<usize>>,
}

/// The result of [`normalize`].
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// The view to match.
    pub view: View,
    /// What was removed on the way.
    pub marks: Marks,
}

/// Normalise `text`; `fold` selects the folded view (homoglyphs, diacritics, leetspeak).
pub fn normalize(text: &str, fold: bool) -> Normalized {
    let mut b = Builder::new(text.len(), fold);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let end = plain_run(bytes, i, b.space);
        if end > i {
            b.bulk(i, &bytes[i..end]);
            i = end;
            continue;
        }
        let c = bytes[i];
        let next_is_wide = bytes.get(i + 1).is_some_and(|&n| n >= 0x80);
        i = if c < 0x80 && !(next_is_wide && c.is_ascii_alphanumeric()) {
            b.ascii(bytes, i)
        } else {
            b.wide(text, i)
        };
    }
    b.finish()
}

/// End of the run of bytes from `i` that map one-for-one: printable ASCII and single
/// spaces (not after a space), stopping before a letter that starts a non-ASCII cluster.
fn plain_run(bytes: &[u8], i: usize, mut after_space: bool) -> usize {
    let mut j = i;
    while let Some(&c) = bytes.get(j) {
        match c {
            0x21..=0x7E => after_space = false,
            b' ' if !after_space => after_space = true,
            _ => break,
        }
        j += 1;
    }
    if j > i && bytes.get(j).is_some_and(|&n| n >= 0x80) && bytes[j - 1].is_ascii_alphanumeric() {
        j -= 1;
    }
    j
}

/// ASCII lowercase, and the same with leetspeak folded.
static LOWER: [u8; 128] = ascii_table(false);
static LOWER_LEET: [u8; 128] = ascii_table(true);

const fn ascii_table(fold: bool) -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let l = (i as u8).to_ascii_lowercase();
        t[i] = if fold { leet(l) } else { l };
        i += 1;
    }
    t
}

struct Builder {
    out: Vec<u8>,
    segs: Vec<Seg>,
    /// The last segment is linear and the next input byte continues it.
    open: bool,
    /// The last output byte is a space (or nothing was output yet).
    space: bool,
    /// The last character kept was an ASCII letter or digit.
    alnum: bool,
    fold: bool,
    marks: Marks,
    tmp: String,
}

impl Builder {
    fn new(len: usize, fold: bool) -> Self {
        Self {
            out: Vec::with_capacity(len),
            segs: Vec::new(),
            open: false,
            space: true,
            alnum: false,
            fold,
            marks: Marks::default(),
            tmp: String::new(),
        }
    }

    fn finish(self) -> Normalized {
        let text = String::from_utf8(self.out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Normalized {
            view: View {
                text,
                map: OffsetMap { segs: self.segs },
            },
            marks: self.marks,
        }
    }

    /// Drop input: the next output starts a new segment.
    fn skip(&mut self) {
        self.open = false;
    }

    fn new_seg(&mut self, orig: Range<usize>, linear: bool) {
        self.segs.push(Seg {
            norm: self.out.len() as u32,
            orig: orig.start as u32,
            orig_len: orig.len() as u32,
            linear,
        });
    }

    /// Output bytes standing one-for-one for the input bytes starting at `at`.
    fn linear(&mut self, at: usize, s: &[u8]) {
        if !self.open {
            self.new_seg(at..at + s.len(), true);
            self.open = true;
        }
        self.out.extend_from_slice(s);
        self.space = false;
    }

    /// Output a string standing for the whole input range.
    fn mapped(&mut self, orig: Range<usize>, s: &str) {
        self.new_seg(orig, false);
        self.out.extend_from_slice(s.as_bytes());
        self.open = false;
        self.space = s.ends_with(' ');
    }

    fn space(&mut self, orig: Range<usize>) {
        if self.space {
            self.skip();
        } else if orig.len() == 1 {
            self.linear(orig.start, b" ");
        } else {
            self.mapped(orig, " ");
        }
        self.space = true;
        self.alnum = false;
    }

    /// A run found by [`plain_run`]: one linear segment, mapped through a table.
    fn bulk(&mut self, at: usize, run: &[u8]) {
        let table = if self.fold { &LOWER_LEET } else { &LOWER };
        if !self.open {
            self.new_seg(at..at + run.len(), true);
            self.open = true;
        }
        self.out
            .extend(run.iter().map(|&c| table[usize::from(c & 0x7F)]));
        let last = run[run.len() - 1];
        self.space = last == b' ';
        self.alnum = last.is_ascii_alphanumeric();
    }

    fn ascii(&mut self, bytes: &[u8], i: usize) -> usize {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C => self.space(i..i + 1),
            0x1B => {
                self.skip();
                return i + escape_len(bytes, i);
            }
            0..=0x1F | 0x7F => self.skip(),
            _ => {
                let l = if self.fold {
                    LOWER_LEET[usize::from(c)]
                } else {
                    LOWER[usize::from(c)]
                };
                self.linear(i, &[l]);
                self.alnum = c.is_ascii_alphanumeric();
            }
        }
        i + 1
    }

    /// Non-ASCII character at `i`, or an ASCII letter followed by one (a cluster base).
    fn wide(&mut self, text: &str, i: usize) -> usize {
        let Some(c) = text[i..].chars().next() else {
            return text.len();
        };
        let end = i + c.len_utf8();
        if is_tag(c) {
            return self.tag_run(text, i);
        }
        if is_invisible(c) {
            let leading_bom = i == 0 && c == '\u{FEFF}';
            if !(is_benign_invisible(c, self.alnum) || leading_bom) {
                push_range(&mut self.marks.invisible, i..end);
            }
            self.skip();
            return end;
        }
        if c.is_whitespace() {
            self.space(i..end);
            return end;
        }
        if is_control(c) {
            self.skip();
            return end;
        }
        self.cluster(text, i)
    }

    /// A base character and its combining marks, normalised together.
    fn cluster(&mut self, text: &str, i: usize) -> usize {
        let mut chars = text[i..].char_indices();
        let (_, base) = chars.next().unwrap_or((0, ' '));
        let mut keep = i + base.len_utf8();
        let mut end = keep;
        let mut marks = 0;
        for (off, m) in chars {
            if canonical_combining_class(m) == 0 {
                break;
            }
            end = i + off + m.len_utf8();
            if marks < MAX_CLUSTER_MARKS {
                keep = end;
                marks += 1;
            }
        }
        let mut tmp = std::mem::take(&mut self.tmp);
        tmp.clear();
        let src = &text[i..keep];
        if marks == 0 && is_nfkc_quick(std::iter::once(base)) == IsNormalized::Yes {
            self.lower_into(base, &mut tmp);
        } else {
            for n in src.nfkc() {
                self.lower_into(n, &mut tmp);
            }
        }
        self.emit_cluster(i..end, marks == 0, &tmp);
        self.tmp = tmp;
        end
    }

    fn lower_into(&self, c: char, out: &mut String) {
        for l in c.to_lowercase() {
            let l = punctuation(l).unwrap_or(l);
            let l = match (self.fold, l.is_ascii()) {
                (false, _) => Some(l),
                (true, true) => Some(char::from(leet(l as u8))),
                (true, false) => fold_char(l),
            };
            out.extend(l);
        }
    }

    fn emit_cluster(&mut self, orig: Range<usize>, single: bool, s: &str) {
        if s.is_empty() {
            self.skip();
        } else if s.chars().all(char::is_whitespace) {
            self.space(orig);
        } else if single && s.len() == orig.len() && s.chars().nth(1).is_none() {
            self.linear(orig.start, s.as_bytes());
        } else {
            self.mapped(orig, s);
        }
        self.alnum = s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    }

    /// A run of tag characters: decoded into the view between spaces, and reported,
    /// unless it is the tail of an emoji flag (🏴 + subdivision tags + cancel tag).
    fn tag_run(&mut self, text: &str, i: usize) -> usize {
        let len: usize = text[i..]
            .chars()
            .take_while(|&c| is_tag(c))
            .map(char::len_utf8)
            .sum();
        let run = &text[i..i + len];
        if is_flag_tail(&text[..i], run) {
            self.skip();
            return i + len;
        }
        push_range(&mut self.marks.tags, i..i + len);
        self.space(i..i);
        for (off, c) in run.char_indices() {
            let at = i + off..i + off + c.len_utf8();
            match tag_ascii(c) {
                Some(b' ') => self.space(at),
                Some(a) => {
                    let l = a.to_ascii_lowercase();
                    let l = if self.fold { leet(l) } else { l };
                    let mut buf = [0u8; 4];
                    self.mapped(at, char::from(l).encode_utf8(&mut buf));
                }
                None => self.skip(),
            }
        }
        self.space(i + len..i + len);
        i + len
    }
}

fn is_flag_tail(before: &str, run: &str) -> bool {
    before.ends_with('\u{1F3F4}')
        && run.ends_with('\u{E007F}')
        && run.chars().count() <= MAX_FLAG_TAGS
}

/// Append a range, merging it with the previous one when they touch.
pub(crate) fn push_range(v: &mut Vec<Range<usize>>, r: Range<usize>) {
    match v.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ => v.push(r),
    }
}

/// Length of the ANSI escape sequence starting with ESC at `i` (CSI, OSC or two-byte),
/// capped at [`MAX_ESCAPE_LEN`].
pub(crate) fn escape_len(bytes: &[u8], i: usize) -> usize {
    let mut end = i + raw_escape_len(bytes, i);
    // Never stop inside a multi-byte character (the cap or a malformed sequence could).
    while end < bytes.len() && bytes[end] & 0xC0 == 0x80 {
        end += 1;
    }
    end - i
}

fn raw_escape_len(bytes: &[u8], i: usize) -> usize {
    let rest = &bytes[i..bytes.len().min(i + MAX_ESCAPE_LEN)];
    match rest.get(1) {
        Some(b'[') => rest[2..]
            .iter()
            .position(|b| (0x40..=0x7E).contains(b))
            .map_or(rest.len(), |p| p + 3),
        Some(b']') => rest[2..]
            .iter()
            .position(|&b| b == 0x07 || b == 0x1B)
            .map_or(rest.len(), |p| {
                let stop = p + 2;
                if rest[stop] == 0x1B && rest.get(stop + 1) == Some(&b'\\') {
                    stop + 2
                } else {
                    stop + 1
                }
            }),
        Some(b) if b.is_ascii() => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        normalize(s, false).view.text
    }

    fn folded(s: &str) -> String {
        normalize(s, true).view.text
    }

    fn span_of(original: &str, needle: &str, fold: bool) -> String {
        let n = normalize(original, fold);
        let at = n.view.text.find(needle).expect("needle in view");
        let r = n.view.map.to_original(at..at + needle.len());
        original[r].to_string()
    }

    #[test]
    fn ascii_is_lowercased_and_whitespace_collapsed() {
        assert_eq!(
            plain("  Ignore\t\tALL\n\nPrevious  "),
            "ignore all previous "
        );
    }

    #[test]
    fn zero_width_and_bidi_are_removed_and_reported() {
        let n = normalize("ig\u{200B}nore pre\u{202E}vious", false);
        assert_eq!(n.view.text, "ignore previous");
        assert_eq!(n.marks.invisible, vec![2..5, 13..16]);
    }

    #[test]
    fn benign_invisibles_are_removed_silently() {
        let n = normalize("\u{FEFF}ok 👍\u{FE0F} 👨\u{200D}👩", false);
        assert!(n.marks.invisible.is_empty());
        assert_eq!(n.view.text, "ok 👍 👨👩");
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        assert_eq!(plain("ＩＧＮＯＲＥ 𝐩𝐫𝐞𝐯𝐢𝐨𝐮𝐬 ﬁle"), "ignore previous file");
        assert_eq!(plain("cafe\u{0301}"), "café");
        assert_eq!(folded("cafe\u{0301}"), "cafe");
    }

    #[test]
    fn folded_view_maps_homoglyphs_and_leet() {
        assert_eq!(folded("Іgnоrе"), "ignore");
        assert_eq!(folded("1gn0r3 pr3v10u5"), "ignore previous");
        assert_eq!(plain("1gn0r3"), "1gn0r3");
    }

    #[test]
    fn tag_characters_are_decoded_and_reported() {
        let hidden: String = "Ignore"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let text = format!("hello{hidden}world");
        let n = normalize(&text, false);
        assert_eq!(n.view.text, "hello ignore world");
        assert_eq!(n.marks.tags, vec![5..5 + 24]);
        assert_eq!(span_of(&text, "ignore", false), hidden);
    }

    #[test]
    fn emoji_flags_keep_their_tags() {
        let england = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        let n = normalize(england, false);
        assert!(n.marks.tags.is_empty());
        assert_eq!(n.view.text, "\u{1F3F4}");
    }

    #[test]
    fn ansi_escapes_are_skipped_whole() {
        assert_eq!(
            plain("ig\x1b[31mnore\x1b]8;;http://x\x07 now"),
            "ignore now"
        );
    }

    #[test]
    fn spans_map_back_to_original_bytes() {
        let text = "Hi!  Please  IG\u{200B}NORE   previous";
        assert_eq!(
            span_of(text, "ignore previous", false),
            "IG\u{200B}NORE   previous"
        );
        let text = "x Іgnоrе y";
        assert_eq!(span_of(text, "ignore", true), "Іgnоrе");
        let text = "ＩＧＮＯＲＥ";
        assert_eq!(span_of(text, "gno", false), "ＧＮＯ");
    }

    #[test]
    fn zalgo_floods_are_bounded() {
        let mut s = String::from("a");
        s.extend(std::iter::repeat_n('\u{0301}', 10_000));
        s.push('b');
        let n = normalize(&s, true);
        assert_eq!(n.view.text, "ab");
        assert_eq!(n.view.map.to_original(1..2), s.len() - 1..s.len());
    }

    #[test]
    fn escape_lengths() {
        assert_eq!(escape_len(b"\x1b[1;31mX", 0), 7);
        assert_eq!(escape_len(b"\x1b]0;t\x1b\\X", 0), 7);
        assert_eq!(escape_len(b"\x1b]0;t\x07X", 0), 6);
        assert_eq!(escape_len(b"\x1b", 0), 1);
        assert_eq!(escape_len(b"\x1bcX", 0), 2);
        // Found by the `detect` fuzz target: ESC before a multi-byte character.
        assert_eq!(escape_len("\x1bӧn".as_bytes(), 0), 1);
        let capped = format!("\x1b[{}", "ӧ".repeat(40));
        assert!(capped.is_char_boundary(escape_len(capped.as_bytes(), 0)));
    }

    #[test]
    fn escape_before_a_wide_character_does_not_panic() {
        let text = "p\u{1}\u{1b}ӧn";
        let _ = normalize(text, false);
        let _ = normalize(text, true);
    }
}
