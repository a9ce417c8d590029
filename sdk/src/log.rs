//! Logging through `seq.log` into the deployment's log (`sequence logs`).
//!
//! The macros format into a fixed 256-byte stack buffer (no allocation); longer lines are cut
//! at a character boundary and end with "...".
//!
//! ```ignore
//! info!("quoting {} @ {}", Fixed::from(qty), Fixed::from(px));
//! algo_sdk::log::warn("position limit reached");
//! ```

use core::fmt::{self, Write};

use crate::seq::sys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Longest line the macros produce, in bytes.
pub const LINE_CAP: usize = 256;

pub fn write(level: Level, msg: &str) {
    sys::log(level as u32, msg.as_bytes());
}
pub fn debug(msg: &str) {
    write(Level::Debug, msg)
}
pub fn info(msg: &str) {
    write(Level::Info, msg)
}
pub fn warn(msg: &str) {
    write(Level::Warn, msg)
}
pub fn error(msg: &str) {
    write(Level::Error, msg)
}

/// Formats `args` into a stack buffer and logs it (what the macros call).
pub fn write_fmt(level: Level, args: fmt::Arguments<'_>) {
    let mut line = Line { buf: [0; LINE_CAP], len: 0, truncated: false };
    let _ = line.write_fmt(args);
    write(level, line.as_str());
}

/// A fixed-capacity UTF-8 line that truncates instead of failing.
struct Line {
    buf: [u8; LINE_CAP],
    len: usize,
    truncated: bool,
}

impl Line {
    const ELLIPSIS: &'static str = "...";

    fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever copied in, so this cannot fail.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let room = LINE_CAP - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Keep as much as fits before the ellipsis, cut at a character boundary.
        let mut keep = room.saturating_sub(Self::ELLIPSIS.len());
        while keep > 0 && !s.is_char_boundary(keep) {
            keep -= 1;
        }
        self.buf[self.len..self.len + keep].copy_from_slice(&s.as_bytes()[..keep]);
        self.len += keep;
        let room = LINE_CAP - self.len;
        let dots = &Self::ELLIPSIS.as_bytes()[..room.min(Self::ELLIPSIS.len())];
        self.buf[self.len..self.len + dots.len()].copy_from_slice(dots);
        self.len += dots.len();
        self.truncated = true;
        Ok(())
    }
}

// `algo_sdk::log::info!(..)` works as well as `info!(..)` after `use algo_sdk::*;`.
pub use crate::{debug, error, info, warn};

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write_fmt($crate::log::Level::Debug, ::core::format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write_fmt($crate::log::Level::Info, ::core::format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write_fmt($crate::log::Level::Warn, ::core::format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write_fmt($crate::log::Level::Error, ::core::format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(parts: &[&str]) -> Line {
        let mut line = Line { buf: [0; LINE_CAP], len: 0, truncated: false };
        for p in parts {
            line.write_str(p).unwrap();
        }
        line
    }

    #[test]
    fn macros_are_reachable_through_the_module_path() {
        crate::log::info!("{} {}", 1, "two"); // no host in tests: the line is dropped
        crate::log::info("plain");
    }

    #[test]
    fn short_lines_are_kept_whole() {
        assert_eq!(fill(&["px ", "100.5"]).as_str(), "px 100.5");
    }

    #[test]
    fn long_lines_are_cut_at_a_char_boundary_with_an_ellipsis() {
        let long = "é".repeat(200); // 400 bytes of 2-byte characters
        let line = fill(&["ab", &long, "never written"]);
        let s = line.as_str();
        assert!(s.len() <= LINE_CAP);
        assert!(s.starts_with("abé"));
        assert!(s.ends_with("..."));
        assert!(!s.contains("never"));
    }
}
