//! Mesh messages to sibling instances, addressed by label (`Sequence.toml` `label = "..."`).
//!
//! Sends are queued by the host (at most 16 per callback) and routed by the coordinator after
//! the callback returns. Delivery is best effort: a message to a label nobody has is dropped.

use core::fmt;

use crate::seq::sys;

pub const SEND_OK: i32 = 0;
pub const SEND_ERR_PAYLOAD_TOO_LARGE: i32 = -1;
pub const SEND_ERR_OUTBOX_FULL: i32 = -2;
pub const SEND_ERR_BAD_LABEL: i32 = -3;
pub const SEND_ERR_OUT_OF_BOUNDS: i32 = -4;

/// Why the host refused a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Payload larger than 256 bytes.
    PayloadTooLarge,
    /// Already 16 sends in this callback.
    OutboxFull,
    /// Label empty, longer than 32 bytes or not UTF-8.
    BadLabel,
    /// Pointer/length outside linear memory.
    OutOfBounds,
    /// A code this SDK does not know (a newer host).
    Other(i32),
}

impl SendError {
    pub fn from_code(code: i32) -> SendError {
        match code {
            SEND_ERR_PAYLOAD_TOO_LARGE => SendError::PayloadTooLarge,
            SEND_ERR_OUTBOX_FULL => SendError::OutboxFull,
            SEND_ERR_BAD_LABEL => SendError::BadLabel,
            SEND_ERR_OUT_OF_BOUNDS => SendError::OutOfBounds,
            other => SendError::Other(other),
        }
    }

    /// The host's return code.
    pub fn code(self) -> i32 {
        match self {
            SendError::PayloadTooLarge => SEND_ERR_PAYLOAD_TOO_LARGE,
            SendError::OutboxFull => SEND_ERR_OUTBOX_FULL,
            SendError::BadLabel => SEND_ERR_BAD_LABEL,
            SendError::OutOfBounds => SEND_ERR_OUT_OF_BOUNDS,
            SendError::Other(code) => code,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::PayloadTooLarge => f.write_str("payload larger than 256 bytes"),
            SendError::OutboxFull => f.write_str("more than 16 sends in one callback"),
            SendError::BadLabel => f.write_str("label empty, longer than 32 bytes or not UTF-8"),
            SendError::OutOfBounds => f.write_str("pointer/length outside linear memory"),
            SendError::Other(code) => write!(f, "send failed with code {}", code),
        }
    }
}

/// Queues `payload` for the instance labelled `label`. The limits are enforced by the host,
/// not here, so the error you get is the host's verdict.
pub fn send(label: &str, payload: &[u8]) -> Result<(), SendError> {
    match sys::send(label.as_bytes(), payload) {
        SEND_OK => Ok(()),
        code => Err(SendError::from_code(code)),
    }
}
