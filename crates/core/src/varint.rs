//! LEB128 varints and zigzag-mapped signed integers: the one implementation behind the compact
//! encodings (the store's interaction pages, the repository's row pages, the analytics
//! history digests).

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes end inside the varint.
    CutShort,
    /// More than 64 bits: longer than 10 bytes, or a tenth byte above 1.
    TooLong,
}

/// Appends `v` as a LEB128 varint (1 to 10 bytes).
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint from the front of `b` and advances it past the varint.
pub fn take(b: &mut &[u8]) -> Result<u64, VarintError> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = b.split_first().ok_or(VarintError::CutShort)?;
        *b = rest;
        if shift == 63 && byte > 1 {
            return Err(VarintError::TooLong);
        }
        v |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(VarintError::TooLong)
}

/// Maps a signed integer to an unsigned one so that small magnitudes stay small varints.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_bytes_are_errors() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put(&mut out, v);
            let mut b = &out[..];
            assert_eq!(take(&mut b), Ok(v));
            assert!(b.is_empty());
            assert_eq!(take(&mut &out[..out.len() - 1]), Err(VarintError::CutShort));
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        let mut too_long = [0xFFu8; 9].to_vec();
        too_long.push(0x02);
        assert_eq!(take(&mut &too_long[..]), Err(VarintError::TooLong));
        assert_eq!(take(&mut &[0x80u8; 11][..]), Err(VarintError::TooLong));
    }
}
