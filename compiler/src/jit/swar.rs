//! Word-at-a-time byte tests ("SIMD within a register") for the raw JSON scanners: eight
//! bytes are tested with a few integer operations instead of one branch each.
//!
//! Each test is the classic "has a byte below n" trick, `(x - n·1) & !x & 0x80·1`: it is
//! exact about whether some byte matches, and its lowest flagged byte is always a true match
//! (a borrow only falsely flags bytes above a true match), so it also finds the first one.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The word of the eight bytes at `b[i..i + 8]`, if there are eight.
#[inline]
pub(crate) fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk = b.get(i..i + 8)?;
    Some(u64::from_le_bytes(chunk.try_into().expect("eight bytes")))
}

/// The high bit of every byte of `w` below `n` (`n` at most 0x80).
#[inline]
pub(crate) fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * n as u64) & !w & HIGH
}

/// The high bit of every byte of `w` equal to `x`.
#[inline]
pub(crate) fn equal(w: u64, x: u8) -> u64 {
    below(w ^ (ONES * x as u64), 1)
}

/// The high bit of every byte of `w` at 0x80 or above.
#[inline]
pub(crate) fn non_ascii(w: u64) -> u64 {
    w & HIGH
}

/// The index of the first byte of `h` that is `x` or `y`.
#[inline]
pub(crate) fn find2(h: &[u8], x: u8, y: u8) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = word(h, i) {
        let m = equal(w, x) | equal(w, y);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    h[i..].iter().position(|&c| c == x || c == y).map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find2_finds_the_first_of_either_byte_anywhere() {
        for len in 0..24 {
            for at in 0..len {
                for (x, other) in [(b'"', b'\\'), (b'\\', b'"'), (0xE2, b'\\')] {
                    let mut h = vec![b'a'; len];
                    h[at] = x;
                    // A later occurrence of the other byte must not win.
                    if at + 1 < len {
                        h[len - 1] = other;
                    }
                    assert_eq!(find2(&h, x, other), Some(at), "{:?}", h);
                    assert_eq!(find2(&h, other, x), Some(at), "{:?}", h);
                }
            }
            assert_eq!(find2(&vec![b'a'; len], b'"', b'\\'), None);
        }
    }

    #[test]
    fn find2_agrees_with_a_byte_loop_on_every_byte_at_every_position() {
        for c in 0..=255u8 {
            for at in 0..16 {
                let mut h = [b'a'; 16];
                h[at] = c;
                let naive = h.iter().position(|&b| b == b'"' || b == b'\\');
                assert_eq!(find2(&h, b'"', b'\\'), naive, "byte {:#x} at {}", c, at);
            }
        }
    }
}
