//! Scanning text eight bytes at a time for the first byte of a class.
//!
//! The scrubber's whole-text passes look for rare bytes (an escape, a non-ASCII byte, a
//! digit) in text that is mostly something else; testing a `u64` of eight bytes at once
//! with the bit tricks of "Bit Twiddling Hacks" reads the common case at a fraction of the
//! instructions of a byte loop.

/// Every byte's low bit.
pub const ONES: u64 = 0x0101_0101_0101_0101;
/// Every byte's high bit.
pub const HIGH: u64 = 0x8080_8080_8080_8080;

/// Offset of the first byte of `b` in a class: `flags` maps eight bytes (little endian) to
/// a word whose high bit is set in, at least, the first byte of the class and in no byte
/// before it; `is` tells the class of one byte (for the tail shorter than a word).
pub fn first_of(b: &[u8], flags: impl Fn(u64) -> u64, is: impl Fn(u8) -> bool) -> Option<usize> {
    let mut chunks = b.chunks_exact(8);
    for (k, chunk) in chunks.by_ref().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let flagged = flags(u64::from_le_bytes(word)) & HIGH;
        if flagged != 0 {
            return Some(k * 8 + (flagged.trailing_zeros() / 8) as usize);
        }
    }
    let rest = chunks.remainder();
    let at = b.len() - rest.len();
    rest.iter().position(|c| is(*c)).map(|p| at + p)
}
