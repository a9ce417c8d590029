//! Deployment parameters (`[deploy.<name>.params]` in Sequence.toml), read through `seq.param`.
//!
//! The host hands every value over as UTF-8 text: numbers in decimal notation ("0.01", "4"),
//! strings as written, booleans as "true"/"false".

use crate::fixed::{self, Fixed};
use crate::seq::{self, sys};

/// The raw value of `key` written into `buf`; `None` if absent or longer than `buf`.
pub fn get_str<'a>(key: &str, buf: &'a mut [u8]) -> Option<&'a str> {
    let n = sys::param(key.as_bytes(), buf);
    seq::text(n, buf)
}

/// `key` parsed as a float (natural units).
pub fn get_f64(key: &str) -> Option<f64> {
    let mut buf = [0u8; 64];
    get_str(key, &mut buf)?.trim().parse().ok()
}

/// `key` parsed as an unsigned integer.
pub fn get_u64(key: &str) -> Option<u64> {
    let mut buf = [0u8; 32];
    get_str(key, &mut buf)?.trim().parse().ok()
}

/// `key` parsed as a boolean ("true"/"false").
pub fn get_bool(key: &str) -> Option<bool> {
    let mut buf = [0u8; 8];
    get_str(key, &mut buf)?.trim().parse().ok()
}

/// `key`, a non-negative decimal in natural units, as exact 1e8 fixed point
/// ("0.01" -> 1_000_000). Uses no floating point.
pub fn get_fixed(key: &str) -> Option<u64> {
    let mut buf = [0u8; 32];
    fixed::parse(get_str(key, &mut buf)?)
}

/// `get_fixed(key)`, or `default` when the key is absent. A value that is present but not a
/// non-negative decimal is logged as a warning (so a typo in Sequence.toml is visible in
/// `sequence logs`) and the default is used.
pub fn get_fixed_or(key: &str, default: u64) -> u64 {
    let mut buf = [0u8; 32];
    let n = sys::param(key.as_bytes(), &mut buf);
    if n < 0 {
        return default;
    }
    let text = seq::text(n, &buf).unwrap_or("<too long or not UTF-8>");
    match fixed::parse(text) {
        Some(value) => value,
        None => {
            crate::warn!("param {}='{}' is not a non-negative decimal; using {}", key, text, Fixed::from(default));
            default
        }
    }
}
