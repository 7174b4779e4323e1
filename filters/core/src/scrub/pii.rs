//! PII detectors: e-mail, phone, SSN, payment card, IBAN, IPv4/IPv6.
//!
//! Numbers are the hard part: order ids, timestamps and hashes are full of digits. The scan
//! therefore works in two steps. A byte loop cuts the text into *numeric regions* (runs of
//! digits, spaces, `+-.()`), which costs about a comparison per byte; only regions with
//! enough digits for some detector reach a regex, and every regex match must then stand
//! alone ([`isolated`]) and pass its checksum or range check. Identifiers such as
//! `ORD-20240611-000123`, `v1.2.3.4` or a digit run inside a SHA fail the isolation rule.

use super::kind::{Confidence, Finding, Kind};
use super::validate::{
    card_issuer, context_before, iban_length, iban_mod97, isolated, label_after, luhn, ssn_valid,
    word_before,
};
use regex::Regex;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// Words that make a bare 9-digit number an SSN.
const SSN_CONTEXT: &[&str] = &["ssn", "social security", "ss#", "soc sec"];
/// Words that make a bare digit run a phone number.
const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "mobile",
    "cell",
    "fax",
    "whatsapp",
    "call",
    "contact",
    "reach",
    "handy",
    "móvil",
    "movil",
    "cellulare",
    "portable",
    "sms",
    "mob:",
    "ph:",
    "ph.",
    "ring",
    "message",
    "answer",
    "desk",
    "dial",
    "text me",
];
/// Labels that name a phone number when they follow it (`... office`, `...-Fax`).
const PHONE_LABELS: &[&str] = &[
    "office", "fax", "mobile", "cell", "home", "work", "tel", "phone", "desk", "direct", "mob",
];
/// Words that make any Luhn-valid 12-19 digit number a card number, whatever its issuer
/// prefix (the issuer table only knows assigned ranges; generated and test cards, and
/// issuers missing from it, are still cards when the text says so).
const CARD_CONTEXT: &[&str] = &[
    "card",
    "cc",
    "visa",
    "mastercard",
    "amex",
    "maestro",
    "credit",
    "debit",
    "carte",
    "tarjeta",
    "karte",
    "carta",
];
/// Words that make a dotted quad a version number instead of an address.
const VERSION_CONTEXT: &[&str] = &["version", "build", "release"];
/// How far back context words are looked for.
const CONTEXT_BYTES: usize = 32;

/// A run of ASCII digits: `(start, end)` byte offsets.
type Group = (usize, usize);

struct Patterns {
    iban: Regex,
    nanp: Regex,
    e164: Regex,
    national: Regex,
    ipv4: Regex,
}

#[allow(clippy::expect_used)] // a constant, compiled by the unit tests: cannot fail at run time
static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("constant pattern");
    Patterns {
        iban: re(r"^[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)"),
        nanp: re(
            r"(?:\+?1[ .-]?|001[ .-])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[.-])[2-9][0-9]{2}[.-][0-9]{4}",
        ),
        // National formats with a trunk `0` (UK, DE, FR, NL, IT, ES ...): `(0116) 496 0221`,
        // `(069) 1587289`, `0161 4960964`, `02 49 00 89 99`, `043-7802706`.
        national: re(
            r"\(0[0-9]{1,4}\)[ -]?[0-9]{3,8}(?:[ -][0-9]{2,6})?|0[0-9]{1,4}(?:[ -][0-9]{2,8}){1,4}",
        ),
        e164: re(r"\+[1-9][0-9]{0,2}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){2,6}"),
        ipv4: re(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"),
    }
});

/// Which PII kinds a scan should report; detectors skip the work for the others.
#[derive(Debug, Clone, Copy)]
pub struct PiiKinds {
    /// Payment card numbers.
    pub card: bool,
    /// US social security numbers.
    pub ssn: bool,
    /// Phone numbers.
    pub phone: bool,
    /// IBANs.
    pub iban: bool,
    /// IPv4 addresses (IPv6 has its own scan, [`ipv6`]).
    pub ip: bool,
}

impl PiiKinds {
    fn numeric(&self) -> bool {
        self.card || self.ssn || self.phone || self.iban || self.ip
    }
}

/// The e-mail address whose `@` is at `at`, if there is one. Internationalised addresses
/// (letters of any script in the local part and the domain, `用户@例子.广告`,
/// `josé@exämple.de`) are found whole, not from their first ASCII letter.
pub fn email_at(text: &str, at: usize) -> Option<Finding> {
    const LOCAL_MAX: usize = 64;
    let is_local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let mut start = at;
    for c in text[..at].chars().rev().take(LOCAL_MAX) {
        if !is_local(c) {
            break;
        }
        start -= c.len_utf8();
    }
    let local = text[start..at].trim_start_matches('.');
    let start = at - local.len();
    if local.is_empty() || local.ends_with('.') || local.contains("..") {
        return None;
    }
    let end = at + 1 + email_domain_len(&text[at + 1..])?;
    Some(Finding::new(Kind::Email, start..end, Confidence::High))
}

/// Byte length of the domain at the start of `rest`: two or more labels of letters, digits
/// and inner `-` (any script), the last one a top-level domain (letters, or punycode
/// `xn--`), not continued by a letter, digit, `_` or `-`.
fn email_domain_len(rest: &str) -> Option<usize> {
    const LABEL_MAX: usize = 63;
    const LABELS_MAX: usize = 16;
    let mut labels: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while labels.len() < LABELS_MAX {
        let len: usize = rest[pos..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-')
            .take(LABEL_MAX + 1)
            .map(char::len_utf8)
            .sum();
        let label = &rest[pos..pos + len];
        if len == 0 || label.starts_with('-') || label.ends_with('-') {
            break;
        }
        if label.chars().count() > LABEL_MAX {
            return None;
        }
        labels.push((pos, pos + len));
        if !rest[pos + len..].starts_with('.') {
            break;
        }
        pos += len + 1;
    }
    let continues = |end: usize| {
        rest[end..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    (2..=labels.len()).rev().find_map(|k| {
        let (s, e) = labels[k - 1];
        let tld = &rest[s..e];
        let n = tld.chars().count();
        let ok = ((2..=24).contains(&n) && tld.chars().all(char::is_alphabetic))
            || (tld.len() > 4 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")));
        (ok && !continues(e)).then_some(e)
    })
}

/// Digit statistics of a numeric region, used to skip detectors that cannot match.
#[derive(Debug, Default, Clone, Copy)]
struct Region {
    start: usize,
    end: usize,
    digits: usize,
    dots: usize,
    dashes: usize,
    plus: bool,
    paren: bool,
}

fn is_numeric_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'+' | b'-' | b'.' | b'(' | b')' | b'/')
}

/// Offset of the first ASCII digit of `b`, eight bytes at a time ("has a byte between m
/// and n" of "Bit Twiddling Hacks", exact per byte: no carry crosses bytes): the numeric
/// scan runs over every byte and most of any text is not digits.
fn first_digit(b: &[u8]) -> Option<usize> {
    use super::words::{first_of, ONES};
    const LOW7: u64 = ONES * 0x7f;
    // Bytes above '/' (0x2f) and below ':' (0x3a).
    const ABOVE: u64 = ONES * (0x7f - 0x2f);
    const BELOW: u64 = ONES * (0x7f + 0x3a);
    let flags = |x: u64| {
        let low = x & LOW7;
        (BELOW - low) & !x & (low + ABOVE)
    };
    first_of(b, flags, |c| c.is_ascii_digit())
}

/// Scan for phone numbers, SSNs, cards, IBANs and IPv4 addresses.
pub fn numeric(text: &str, kinds: PiiKinds, out: &mut Vec<Finding>) {
    if !kinds.numeric() {
        return;
    }
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = first_digit(&b[i..]) {
        let first = i + off;
        let letters = first >= 2 && b[first - 2..first].iter().all(u8::is_ascii_uppercase);
        if kinds.iban && letters {
            iban_at(text, first - 2, out);
        }
        let region = region_around(b, i, first);
        if region.digits >= 4 {
            scan_region(text, &region, kinds, out);
        }
        i = region.end.max(first + 1);
        if i >= b.len() {
            break;
        }
    }
}

/// The numeric region containing the digit at `first`, not reaching back before `floor`.
fn region_around(b: &[u8], floor: usize, first: usize) -> Region {
    let mut start = first;
    while start > floor && is_numeric_byte(b[start - 1]) {
        start -= 1;
    }
    let mut r = Region {
        start,
        end: start,
        ..Region::default()
    };
    for &c in b[start..].iter().take_while(|c| is_numeric_byte(**c)) {
        match c {
            b'0'..=b'9' => r.digits += 1,
            b'.' => r.dots += 1,
            b'-' => r.dashes += 1,
            b'+' => r.plus = true,
            b'(' => r.paren = true,
            _ => {}
        }
        r.end += 1;
    }
    r
}

fn scan_region(text: &str, r: &Region, kinds: PiiKinds, out: &mut Vec<Finding>) {
    if kinds.card && r.digits >= 12 {
        cards(text, r, out);
    }
    if kinds.ssn && r.digits >= 9 {
        ssns(text, r, out);
    }
    if kinds.phone && r.digits >= CONTEXT_PHONE_DIGITS.start {
        phones(text, r, out);
    }
    if kinds.ip && r.dots >= 3 {
        ipv4s(text, r, out);
    }
}

/// Regex matches inside a region, as absolute spans that stand alone.
fn matches_in<'a>(re: &'a Regex, text: &'a str, r: &Region) -> impl Iterator<Item = Group> + 'a {
    let base = r.start;
    re.find_iter(&text[r.start..r.end])
        .map(move |m| (base + m.start(), base + m.end()))
        .filter(|&(s, e)| isolated(text.as_bytes(), s, e))
}

/// Card numbers: chains of digit groups joined by single spaces or dashes; every window
/// of 12..19 digits is tried, longest first, so a number glued to a card does not hide it.
fn cards(text: &str, r: &Region, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut group = next_group(b, r.start, r.end);
    let context = group.is_some_and(|g| word_before(b, g.0, CONTEXT_BYTES, CARD_CONTEXT));
    while let Some(first) = group {
        group = match longest_card_from(b, first, r.end, context) {
            Some(f) => {
                let end = f.span.end;
                out.push(f);
                next_group(b, end, r.end)
            }
            None => next_group(b, first.1, r.end),
        };
    }
}

/// The next run of digits in `b[from..end]`.
fn next_group(b: &[u8], from: usize, end: usize) -> Option<Group> {
    let s = from + b[from..end].iter().position(u8::is_ascii_digit)?;
    let e = s + b[s..end].iter().take_while(|c| c.is_ascii_digit()).count();
    Some((s, e))
}

/// The group joined to `g` by one space or dash, if any.
fn joined_group(b: &[u8], g: Group, end: usize) -> Option<Group> {
    let sep_ok = g.1 + 1 < end && matches!(b[g.1], b' ' | b'-') && b[g.1 + 1].is_ascii_digit();
    sep_ok.then(|| next_group(b, g.1 + 1, end)).flatten()
}

fn longest_card_from(b: &[u8], first: Group, end: usize, context: bool) -> Option<Finding> {
    // The chain's digits so far: groups are digit runs, so they are the groups joined.
    let mut digits = [0u8; 19];
    let mut n = 0;
    let mut best = None;
    let mut current = Some(first);
    while let Some(g) = current {
        let Some(slot) = digits.get_mut(n..n + (g.1 - g.0)) else {
            break; // more than 19 digits
        };
        slot.copy_from_slice(&b[g.0..g.1]);
        n += g.1 - g.0;
        if n >= 12 && card_valid(b, first.0, g.1, &digits[..n], context) {
            let conf = if g == first {
                Confidence::Medium
            } else {
                Confidence::High
            };
            best = Some(Finding::new(Kind::CreditCard, first.0..g.1, conf));
        }
        // Card numbers are written in groups of 4 (4-6-5, 4-6-4): a chain of one- and
        // two-digit numbers (`56 60 62 71 77 80`) is a list, not a card.
        current = if g.1 - g.0 >= 3 {
            joined_group(b, g, end)
        } else {
            None
        };
    }
    best
}

/// Whether the number at `s..e` with these digits is a card: it stands alone, its check
/// digit holds, and its issuer prefix is known or the words before it say it is a card.
/// Cheapest first: inside a long digit run almost no candidate stands alone, and the check
/// digit rules out nine candidates in ten before the issuer table is walked.
fn card_valid(b: &[u8], s: usize, e: usize, digits: &[u8], context: bool) -> bool {
    isolated(b, s, e)
        && std::str::from_utf8(digits).is_ok_and(luhn)
        && (context || card_issuer(digits))
}

/// The digit groups of a region, in order.
fn groups<'a>(b: &'a [u8], r: &Region) -> impl Iterator<Item = Group> + 'a {
    let (mut pos, end) = (r.start, r.end);
    std::iter::from_fn(move || {
        let g = next_group(b, pos, end)?;
        pos = g.1;
        Some(g)
    })
}

/// Whether group `g` follows `a` after exactly one `sep` byte.
fn follows(b: &[u8], a: Group, g: Group, sep: u8) -> bool {
    g.0 == a.1 + 1 && b[a.1] == sep
}

/// SSNs by digit groups (no regex: this runs on every long number): `ddd-dd-dddd` on its
/// or spaced (`ddd dd dddd`) on their own, bare `ddddddddd` only after words such as "SSN".
fn ssns(text: &str, r: &Region, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let valid = |s: usize, e: usize| {
        let mut d = [0u8; 9];
        let mut n = 0;
        for &c in b[s..e].iter().filter(|c| c.is_ascii_digit()).take(9) {
            d[n] = c;
            n += 1;
        }
        n == 9 && ssn_valid(&d) && isolated(b, s, e)
    };
    let mut context = None;
    let mut has_context =
        || *context.get_or_insert_with(|| context_before(b, r.start, CONTEXT_BYTES, SSN_CONTEXT));
    let len = |g: Group| g.1 - g.0;
    let (mut g1, mut g2): (Option<Group>, Option<Group>) = (None, None);
    for g3 in groups(b, r) {
        if len(g3) == 9 && valid(g3.0, g3.1) && has_context() {
            out.push(Finding::new(Kind::Ssn, g3.0..g3.1, Confidence::Low));
        }
        if let (Some(a), Some(m)) = (g1, g2) {
            let shape = len(a) == 3 && len(m) == 2 && len(g3) == 4;
            let dashed = shape && follows(b, a, m, b'-') && follows(b, m, g3, b'-');
            let spaced = shape && follows(b, a, m, b' ') && follows(b, m, g3, b' ');
            if dashed && valid(a.0, g3.1) {
                out.push(Finding::new(Kind::Ssn, a.0..g3.1, Confidence::High));
            } else if spaced && valid(a.0, g3.1) {
                out.push(Finding::new(Kind::Ssn, a.0..g3.1, Confidence::Low));
            }
        }
        (g1, g2) = (g2, Some(g3));
    }
}

/// Most digit groups one phone chain may hold (`+44 (0) 20 7946 0958` has five).
const CHAIN_GROUPS: usize = 8;

/// Whether the bytes between two digit groups can separate the parts of a phone number:
/// up to three of ` -./()` (`) `, ` - `, `/`), at most one of each parenthesis.
fn phone_separator(sep: &[u8]) -> bool {
    (1..=3).contains(&sep.len())
        && sep.iter().all(|c| b" -./()".contains(c))
        && sep.iter().filter(|c| **c == b'(').count() <= 1
        && sep.iter().filter(|c| **c == b')').count() <= 1
        && sep
            .iter()
            .filter(|c| matches!(c, b'-' | b'.' | b'/'))
            .count()
            <= 1
}

/// How a chain of digit groups reads as a phone number, if it does. National formats of
/// the most common countries, by group lengths: NANP `415-555-0132` (any area digits),
/// a trunk `0` (UK, DE, FR, NL, IT, ES, AU, JP ...: `0161 496 0958`, `030/1234567`,
/// `01.23.45.67.89`), international `+44 ...` and `0044 ...`, Russia `8 (495) 123-45-67`,
/// Brazil `(11) 91234-5678`, China `138 0013 8000`, India `98765 43210`, Spain
/// `612 345 678`.
fn phone_shape(b: &[u8], groups: &[Group], plus: bool, paren_first: bool) -> Option<Confidence> {
    let mut buf = [0usize; CHAIN_GROUPS];
    for (slot, g) in buf.iter_mut().zip(groups) {
        *slot = g.1 - g.0;
    }
    let lens = &buf[..groups.len().min(CHAIN_GROUPS)];
    let d: usize = lens.iter().sum();
    if d < 8 {
        return None;
    }
    let first = &b[groups[0].0..groups[0].1];
    let lead = first[0];
    let k = groups.len();
    if plus {
        return ((8..=15).contains(&d) && lead != b'0').then_some(Confidence::High);
    }
    if first.starts_with(b"00") {
        let cc = if first.len() > 2 {
            first.get(2)
        } else {
            groups.get(1).map(|g| &b[g.0])
        };
        let ok = k >= 2 && cc.is_some_and(|c| *c != b'0') && (8..=15).contains(&(d - 2));
        return ok.then_some(Confidence::High);
    }
    let shape = |want: &[usize]| lens == want;
    let medium = Some(Confidence::Medium);
    // NANP: area code and exchange both start 2-9 (`123-456-7890` is a placeholder).
    let nanp_at = |g: usize| {
        groups
            .get(g)
            .is_some_and(|x| (b'2'..=b'9').contains(&b[x.0]))
    };
    if (shape(&[3, 3, 4]) && nanp_at(0) && nanp_at(1))
        || (shape(&[1, 3, 3, 4]) && lead == b'1' && nanp_at(1) && nanp_at(2))
    {
        return medium;
    }
    // Written with dashes, dots or the area code in parentheses, `ddd-ddd-dddd` is a phone
    // number whatever its digits (generated and fictional numbers break NANP's digit rules;
    // spaced, it could be three numbers, so those keep them).
    if (shape(&[3, 3, 4]) || (shape(&[1, 3, 3, 4]) && lead == b'1'))
        && nanp_punctuated(b, groups)
        && !counting_placeholder(b, groups)
    {
        return medium;
    }
    if lead == b'0' && k >= 2 && (9..=12).contains(&d) && !shape(&[2, 2, 4]) && !shape(&[3, 2, 4]) {
        return medium;
    }
    if lead == b'8' && d == 11 && (shape(&[1, 3, 3, 2, 2]) || shape(&[1, 3, 3, 4])) {
        return medium;
    }
    if paren_first && (shape(&[2, 5, 4]) || shape(&[2, 4, 4])) {
        return medium;
    }
    if (lead == b'1' && shape(&[3, 4, 4]))
        || (b"6789".contains(&lead) && shape(&[5, 5]))
        || (b"679".contains(&lead) && (shape(&[3, 3, 3]) || shape(&[3, 2, 2, 2])))
    {
        return medium;
    }
    None
}

/// Whether the digits of a chain count up (`123-456-7890`): a placeholder, not a number.
fn counting_placeholder(b: &[u8], groups: &[Group]) -> bool {
    // Each digit is one more than the one before it, modulo 10.
    let mut digits = groups.iter().flat_map(|g| b[g.0..g.1].iter().copied());
    let Some(mut prev) = digits.next() else {
        return false;
    };
    digits.all(|d| {
        let next = if prev == b'9' { b'0' } else { prev + 1 };
        prev = d;
        d == next
    })
}

/// Whether the separators of a `(1) ddd ddd dddd` chain are those of a written NANP number:
/// the last two the same dash or dot (`415-555-0132`, `1.415.555.0132`), or the area code
/// in parentheses before a dash (`(415) 555-0132`, `1 (415)555-0132`). Page ranges and
/// years (`123-140 (1996`) mix them.
fn nanp_punctuated(b: &[u8], groups: &[Group]) -> bool {
    let k = groups.len();
    let sep = |i: usize| &b[groups[i].1..groups[i + 1].0];
    let (area_sep, line_sep) = (sep(k - 3), sep(k - 2));
    let same = matches!(line_sep, b"-" | b".") && area_sep == line_sep;
    let paren = matches!(area_sep, b")" | b") ")
        && line_sep == b"-"
        && groups[k - 3].0 > 0
        && b[groups[k - 3].0 - 1] == b'(';
    same || paren
}

/// [`isolated`], except that a hyphenated label may follow: `407-545-7273-Fax`,
/// `078 3780 0656-Office` (the number itself still stands alone on its left).
fn phone_isolated(b: &[u8], s: usize, e: usize) -> bool {
    let label = b.get(e) == Some(&b'-') && b.get(e + 1).is_some_and(u8::is_ascii_alphabetic);
    isolated(b, s, e) || (label && isolated(&b[..e], s, e))
}

/// A dotted quad of 1-3 digit groups is an IPv4 address or a version, never a phone,
/// whatever words precede it.
fn dotted_quad(b: &[u8], chain: &[Group]) -> bool {
    chain.len() == 4
        && chain.iter().all(|g| g.1 - g.0 <= 3)
        && chain.windows(2).all(|w| &b[w[0].1..w[1].0] == b".")
}

fn first_is_00(b: &[u8], g: Group) -> bool {
    b[g.0..g.1].starts_with(b"00")
}

/// Phone numbers as chains of digit groups: every chain is tried from each group, longest
/// first, against [`phone_shape`]; after words such as "phone" or "tel", any chain of
/// 7..15 digits counts.
fn phone_chains(text: &str, r: &Region, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let all: Vec<Group> = groups(b, r).collect();
    let mut context = None;
    let mut i = 0;
    while i < all.len() {
        let mut n = 1;
        while n < CHAIN_GROUPS
            && i + n < all.len()
            && phone_separator(&b[all[i + n - 1].1..all[i + n].0])
        {
            n += 1;
        }
        let start = all[i].0;
        // `+44 ...`, `(415) ...`, and `+(370) ...` (a country code in parentheses).
        let plus_paren = start > 1 && &b[start - 2..start] == b"+(";
        let plus = plus_paren || (start > 0 && b[start - 1] == b'+');
        let paren = !plus && start > 0 && b[start - 1] == b'(';
        let s = start - usize::from(plus || paren) - usize::from(plus_paren);
        let mut found = None;
        let digits = |m: usize| all[i..i + m].iter().map(|g| g.1 - g.0).sum::<usize>();
        for m in (1..=n).rev() {
            let chain = &all[i..i + m];
            let d = digits(m);
            let plausible =
                CONTEXT_PHONE_DIGITS.contains(&d) || (first_is_00(b, chain[0]) && d <= 17);
            if !plausible {
                continue;
            }
            let e = chain[m - 1].1;
            let e = e + extension_len(&b[e..]);
            // Cheapest first: inside a long digit run almost no chain stands alone.
            if !phone_isolated(b, s, e) || dotted_quad(b, chain) {
                continue;
            }
            let paren_first = paren && b.get(chain[0].1) == Some(&b')');
            // Named a phone by a word before it ("Phone:", "call me at") or a label after
            // it ("office", "-Fax"), any chain of phone separators counts unless it reads
            // as a date, an SSN or a round quantity.
            let conf = phone_shape(b, chain, plus, paren_first).or_else(|| {
                if !CONTEXT_PHONE_DIGITS.contains(&d) || !context_phone_shape(b, chain) {
                    return None;
                }
                let before = *context.get_or_insert_with(|| {
                    context_before(b, r.start, CONTEXT_BYTES, PHONE_CONTEXT)
                });
                (before || label_after(b, e, LABEL_BYTES, PHONE_LABELS)).then_some(Confidence::Low)
            });
            if let Some(conf) = conf {
                found = Some((m, Finding::new(Kind::Phone, s..e, conf)));
                break;
            }
        }
        match found {
            Some((m, f)) => {
                out.push(f);
                i += m;
            }
            None => i += 1,
        }
    }
}

/// Digits of a number that counts as a phone only when the text names it one: national
/// numbers without their area code run from six digits (`84 23 30`, `445 6271`).
const CONTEXT_PHONE_DIGITS: std::ops::Range<usize> = 6..16;
/// How far after a number a label such as "office" is looked for.
const LABEL_BYTES: usize = 4;

/// Whether a chain named a phone by its context still reads as one: not a date
/// (`12-05-2024`, `2024.05.12`, `12/05/24`), not an SSN shape (`078-05-1120`), not a round
/// quantity (`100 000`, `1 500 000`).
fn context_phone_shape(b: &[u8], chain: &[Group]) -> bool {
    let len = |g: &Group| g.1 - g.0;
    let shape = |want: &[usize]| {
        chain.len() == want.len() && chain.iter().map(len).eq(want.iter().copied())
    };
    let separated = chain.windows(2).any(|w| b[w[0].1..w[1].0] != *b" ");
    let date = separated && (shape(&[2, 2, 4]) || shape(&[4, 2, 2]) || shape(&[2, 2, 2]));
    let ssn = separated && shape(&[3, 2, 4]);
    let round = chain.len() > 1
        && chain[1..]
            .iter()
            .any(|g| len(g) == 3 && &b[g.0..g.1] == b"000");
    !date && !ssn && !round
}

fn digit_count(b: &[u8], s: usize, e: usize) -> usize {
    b[s..e].iter().filter(|c| c.is_ascii_digit()).count()
}

fn phones(text: &str, r: &Region, out: &mut Vec<Finding>) {
    let p = &*PATTERNS;
    let b = text.as_bytes();
    if r.plus && r.digits >= 8 {
        for (s, e) in matches_in(&p.e164, text, r) {
            if (8..=15).contains(&digit_count(b, s, e)) {
                out.push(Finding::new(Kind::Phone, s..e, Confidence::High));
            }
        }
    }
    let separators = r.dashes + r.dots;
    if r.digits >= 10 && (separators >= 2 || (r.paren && separators >= 1)) {
        for (s, e) in phone_matches(&p.nanp, text, r) {
            out.push(Finding::new(Kind::Phone, s..e, Confidence::Medium));
        }
    }
    if r.digits >= 9 {
        for (s, e) in phone_matches(&p.national, text, r) {
            let international = b[s..e].starts_with(b"00");
            if (9..=12).contains(&digit_count(b, s, e)) && !other_shape(b, s, e) && !international {
                out.push(Finding::new(Kind::Phone, s..e, Confidence::Medium));
            }
        }
    }
    phone_chains(text, r, out);
}

/// Regex matches of a phone pattern in a region, extended over an extension (`x1234`,
/// `ext. 12`) and then required to stand alone.
fn phone_matches<'a>(re: &'a Regex, text: &'a str, r: &Region) -> impl Iterator<Item = Group> + 'a {
    let b = text.as_bytes();
    let base = r.start;
    re.find_iter(&text[r.start..r.end]).filter_map(move |m| {
        let (s, e) = (base + m.start(), base + m.end());
        let e = e + extension_len(&b[e..]);
        isolated(b, s, e).then_some((s, e))
    })
}

/// Length of a phone extension at the start of `rest`: `x123`, `ext123`, ` ext. 123`.
fn extension_len(rest: &[u8]) -> usize {
    let lower = |i: usize| rest.get(i).map(u8::to_ascii_lowercase);
    let mut i = usize::from(rest.first() == Some(&b' '));
    if lower(i) == Some(b'x') {
        i += 1;
    } else if lower(i) == Some(b'e') && lower(i + 1) == Some(b'x') && lower(i + 2) == Some(b't') {
        i += 3;
        i += usize::from(rest.get(i) == Some(&b'.'));
        i += usize::from(rest.get(i) == Some(&b' '));
    } else {
        return 0;
    }
    let digits = rest[i.min(rest.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if (1..=6).contains(&digits) {
        i + digits
    } else {
        0
    }
}

/// `dd-dd-dddd` is a date and `ddd-dd-dddd` an SSN shape (valid or not), not a phone number.
fn other_shape(b: &[u8], s: usize, e: usize) -> bool {
    let lens: Vec<usize> = b[s..e]
        .split(|c| !c.is_ascii_digit())
        .map(<[u8]>::len)
        .filter(|n| *n > 0)
        .collect();
    lens == [2, 2, 4] || lens == [3, 2, 4]
}

fn ipv4s(text: &str, r: &Region, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    for (s, e) in matches_in(&PATTERNS.ipv4, text, r) {
        let Ok(ip) = text[s..e].parse::<Ipv4Addr>() else {
            continue;
        };
        if !identifies_a_host(ip) || context_before(b, s, 16, VERSION_CONTEXT) {
            continue;
        }
        out.push(Finding::new(Kind::IpAddress, s..e, Confidence::Medium));
    }
}

/// Whether an IPv4 address can point at someone's machine. The unspecified, loopback and
/// broadcast addresses name no one: masking `listening on 127.0.0.1:8080` changed honest
/// tool output and hid nothing. (The RFC 5737 documentation ranges stay addresses: they are
/// what examples of real addresses are written with.)
fn identifies_a_host(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_broadcast())
}

/// An IBAN starting at `start` (two upper-case letters then the check digits).
fn iban_at(text: &str, start: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let Some(m) = PATTERNS.iban.find(&text[start..]) else {
        return;
    };
    let Some(want) = iban_length(&b[start..start + 2]) else {
        return;
    };
    let mut compact = [0u8; 34];
    let mut n = 0;
    let mut end = start;
    for (i, &c) in b[start..start + m.end()].iter().enumerate() {
        if n == want {
            break;
        }
        if c != b' ' {
            compact[n] = c;
            n += 1;
            end = start + i + 1;
        }
    }
    if n == want && iban_mod97(&compact[..n]) && isolated(b, start, end) {
        out.push(Finding::new(Kind::Iban, start..end, Confidence::High));
    }
}

/// Scan for IPv6 addresses: every `:` with a hex digit or `:` beside it is expanded to the
/// surrounding `[0-9A-Fa-f:.]` token, which `std::net` then judges.
pub fn ipv6(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let is_v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut from = 0;
    while let Some(off) = memchr::memchr(b':', &b[from..]) {
        let c = from + off;
        let near = |i: Option<usize>| {
            i.and_then(|i| b.get(i))
                .is_some_and(|x| is_v6(*x) && *x != b'.')
        };
        if !near(c.checked_sub(1)) && !near(Some(c + 1)) {
            from = c + 1;
            continue;
        }
        let mut s = c;
        while s > 0 && is_v6(b[s - 1]) {
            s -= 1;
        }
        let mut e = c;
        while e < b.len() && is_v6(b[e]) {
            e += 1;
        }
        if let Some(f) = ipv6_token(text, s, e) {
            out.push(f);
        }
        from = e.max(c + 1);
    }
}

fn ipv6_token(text: &str, s: usize, e: usize) -> Option<Finding> {
    let b = text.as_bytes();
    let mut end = e;
    while end > s && b[end - 1] == b'.' {
        end -= 1;
    }
    let tries = [end, end.saturating_sub(1)];
    for &end in tries.iter().filter(|&&x| x > s) {
        let tok = &text[s..end];
        // `a::b` parses, but an address written by a person or a log has digits.
        let plausible = tok.len() >= 6 && tok.bytes().any(|c| c.is_ascii_digit());
        if !plausible || tok.bytes().filter(|c| *c == b':').count() < 2 {
            continue;
        }
        let Ok(ip) = tok.parse::<Ipv6Addr>() else {
            continue;
        };
        if ip.is_unspecified() || ip.is_loopback() || !isolated(b, s, end) {
            return None;
        }
        return Some(Finding::new(Kind::IpAddress, s..end, Confidence::Medium));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_digit;

    #[test]
    fn the_word_scan_finds_the_first_digit_a_byte_scan_finds() {
        let slow = |b: &[u8]| b.iter().position(u8::is_ascii_digit);
        for byte in 0..=255u8 {
            for at in 0..17 {
                let mut b = vec![b'a'; 20];
                b[at] = byte;
                assert_eq!(first_digit(&b), slow(&b), "byte {byte:#x} at {at}");
                b[at + 2] = b'7';
                assert_eq!(first_digit(&b), slow(&b), "byte {byte:#x} at {at}, 7 after");
            }
        }
        for t in [
            "",
            "x",
            "/:/:/:/:/:",
            "abcdefgh9",
            "\u{ff10}\u{660}0",
            "a:b/c0",
        ] {
            assert_eq!(first_digit(t.as_bytes()), slow(t.as_bytes()), "{t:?}");
        }
    }
}
