//! 1e8 fixed point: parsing decimal text exactly, converting floats, displaying values.

use core::fmt;

use crate::abi::FIXED_SCALE;

/// Parses non-negative decimal text ("65000.5", "0.01", "4") into 1e8 fixed point exactly.
/// `None` for anything else: signs, exponents, more than 8 fractional digits, overflow.
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let (int_part, frac_part) = match text.find('.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() || frac_part.len() > 8 {
        return None;
    }
    let mut value: u64 = 0;
    for b in int_part.bytes() {
        value = value.checked_mul(10)?.checked_add(digit(b)?)?;
    }
    value = value.checked_mul(FIXED_SCALE)?;
    let mut frac: u64 = 0;
    for b in frac_part.bytes() {
        frac = frac * 10 + digit(b)?;
    }
    for _ in frac_part.len()..8 {
        frac *= 10;
    }
    value.checked_add(frac)
}

fn digit(b: u8) -> Option<u64> {
    if b.is_ascii_digit() {
        Some((b - b'0') as u64)
    } else {
        None
    }
}

/// Natural units -> 1e8 fixed point, rounded to nearest; negative values give 0.
pub fn from_f64(x: f64) -> u64 {
    if x <= 0.0 {
        0
    } else {
        (x * FIXED_SCALE as f64 + 0.5) as u64
    }
}

/// 1e8 fixed point -> natural units.
pub fn to_f64(v: u64) -> f64 {
    v as f64 / FIXED_SCALE as f64
}

/// `value * bps / 10_000` without overflow, where `bps_1e8` is itself 1e8 fixed point
/// (4 bps = 400_000_000): the price offset of `bps` basis points from `value`.
pub fn bps_of(value: u64, bps_1e8: u64) -> u64 {
    (value as u128 * bps_1e8 as u128 / (FIXED_SCALE as u128 * 10_000)) as u64
}

/// Displays a fixed-point value in natural units without floating point:
/// `Fixed::from(6_500_050_000_000u64)` prints `65000.5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    negative: bool,
    magnitude: u64,
}

impl From<u64> for Fixed {
    fn from(v: u64) -> Fixed {
        Fixed { negative: false, magnitude: v }
    }
}

impl From<i64> for Fixed {
    fn from(v: i64) -> Fixed {
        Fixed { negative: v < 0, magnitude: v.unsigned_abs() }
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        write!(f, "{}", self.magnitude / FIXED_SCALE)?;
        let mut frac = self.magnitude % FIXED_SCALE;
        if frac == 0 {
            return Ok(());
        }
        let mut digits = 8;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, ".{:0width$}", frac, width = digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_text_exactly() {
        assert_eq!(parse("0.01"), Some(1_000_000));
        assert_eq!(parse("65000.5"), Some(6_500_050_000_000));
        assert_eq!(parse("4"), Some(400_000_000));
        assert_eq!(parse(".5"), Some(50_000_000));
        assert_eq!(parse(" 2. "), Some(200_000_000));
        assert_eq!(parse("0.00000001"), Some(1));
    }

    #[test]
    fn rejects_what_it_cannot_represent() {
        for bad in ["", ".", "-1", "1e3", "0.000000001", "abc", "1.2.3", "184467440738"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn displays_in_natural_units() {
        assert_eq!(format!("{}", Fixed::from(6_500_050_000_000u64)), "65000.5");
        assert_eq!(format!("{}", Fixed::from(-1_000_000i64)), "-0.01");
        assert_eq!(format!("{}", Fixed::from(300_000_000u64)), "3");
        assert_eq!(format!("{}", Fixed::from(1u64)), "0.00000001");
    }

    #[test]
    fn basis_points_of_a_price() {
        // 20 bps of 65000 = 130
        assert_eq!(bps_of(6_500_000_000_000, 20 * FIXED_SCALE), 13_000_000_000);
        assert_eq!(from_f64(0.01), 1_000_000);
    }
}
