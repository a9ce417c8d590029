//! Host functions (`seq.*` imports): clock, positions, symbols, venue names.
//!
//! On wasm32 these are the imports of module "seq". In a native (`std`) build they go through
//! the `SequenceHostApi` table the host passed to `create`, installed for the duration of each
//! callback. In a native `no_std` build there is no host: they return failure values.

/// The raw calls; every platform provides the same nine functions.
pub(crate) mod sys {
    #[cfg(target_arch = "wasm32")]
    mod imports {
        #[link(wasm_import_module = "seq")]
        extern "C" {
            pub fn log(level: u32, ptr: *const u8, len: u32);
            pub fn send(label_ptr: *const u8, label_len: u32, payload_ptr: *const u8, payload_len: u32) -> i32;
            pub fn now_ns() -> i64;
            pub fn param(key_ptr: *const u8, key_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
            pub fn position(symbol_idx: u32) -> i64;
            pub fn symbol(idx: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
            pub fn venue_name(venue_idx: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
            pub fn subscribe(symbol_ptr: *const u8, symbol_len: u32) -> i32;
            pub fn unsubscribe(symbol_ptr: *const u8, symbol_len: u32) -> i32;
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn log(level: u32, msg: &[u8]) {
        unsafe { imports::log(level, msg.as_ptr(), msg.len() as u32) }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn send(label: &[u8], payload: &[u8]) -> i32 {
        unsafe { imports::send(label.as_ptr(), label.len() as u32, payload.as_ptr(), payload.len() as u32) }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn now_ns() -> i64 {
        unsafe { imports::now_ns() }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn param(key: &[u8], buf: &mut [u8]) -> i32 {
        unsafe { imports::param(key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), buf.len() as u32) }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn position(symbol_idx: u32) -> i64 {
        unsafe { imports::position(symbol_idx) }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn symbol(idx: u32, buf: &mut [u8]) -> i32 {
        unsafe { imports::symbol(idx, buf.as_mut_ptr(), buf.len() as u32) }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn venue_name(idx: u32, buf: &mut [u8]) -> i32 {
        unsafe { imports::venue_name(idx, buf.as_mut_ptr(), buf.len() as u32) }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn subscribe(symbol: &[u8]) -> i32 {
        unsafe { imports::subscribe(symbol.as_ptr(), symbol.len() as u32) }
    }
    #[cfg(target_arch = "wasm32")]
    pub fn unsubscribe(symbol: &[u8]) -> i32 {
        unsafe { imports::unsubscribe(symbol.as_ptr(), symbol.len() as u32) }
    }

    #[cfg(all(not(target_arch = "wasm32"), feature = "std"))]
    pub use crate::native::host_calls::*;

    #[cfg(all(not(target_arch = "wasm32"), not(feature = "std")))]
    mod no_host {
        use crate::abi::MAX_PAYLOAD;
        use crate::messaging::{SEND_ERR_BAD_LABEL, SEND_ERR_PAYLOAD_TOO_LARGE};
        pub fn log(_level: u32, _msg: &[u8]) {}
        pub fn send(_label: &[u8], payload: &[u8]) -> i32 {
            if payload.len() > MAX_PAYLOAD {
                SEND_ERR_PAYLOAD_TOO_LARGE
            } else {
                SEND_ERR_BAD_LABEL // no host, so no label can be routed
            }
        }
        pub fn now_ns() -> i64 {
            0
        }
        pub fn param(_key: &[u8], _buf: &mut [u8]) -> i32 {
            -1
        }
        pub fn position(_symbol_idx: u32) -> i64 {
            0
        }
        pub fn symbol(_idx: u32, _buf: &mut [u8]) -> i32 {
            -1
        }
        pub fn venue_name(_idx: u32, _buf: &mut [u8]) -> i32 {
            -1
        }
        pub fn subscribe(_symbol: &[u8]) -> i32 {
            super::super::SUB_ERR_NO_HOST
        }
        pub fn unsubscribe(_symbol: &[u8]) -> i32 {
            super::super::SUB_ERR_NO_HOST
        }
    }
    #[cfg(all(not(target_arch = "wasm32"), not(feature = "std")))]
    pub use no_host::*;
}

/// Wall-clock time of the host, ns since the Unix epoch.
pub fn now_ns() -> u64 {
    sys::now_ns() as u64
}

/// Signed position of `symbol_idx`, 1e8 fixed point, as the host sees it right now
/// (0 for an unknown symbol).
pub fn position(symbol_idx: u16) -> i64 {
    sys::position(symbol_idx as u32)
}

/// Name of the deployment's symbol `idx` ("BTC-USD"), written into `buf`.
/// `None` if `idx` is out of range or the name does not fit `buf`.
pub fn symbol(idx: u16, buf: &mut [u8]) -> Option<&str> {
    let n = sys::symbol(idx as u32, buf);
    text(n, buf)
}

/// Name of the venue with index `idx`, as used by `Nbbo::bid_venue`/`ask_venue`.
pub fn venue_name(idx: u8, buf: &mut [u8]) -> Option<&str> {
    let n = sys::venue_name(idx as u32, buf);
    text(n, buf)
}

/// Index of a symbol by name in the deployment's `symbols` list.
pub fn symbol_index(name: &str) -> Option<u16> {
    let mut buf = [0u8; 64];
    (0..crate::abi::MAX_SYMBOLS as u16).find(|&i| symbol(i, &mut buf) == Some(name))
}

/// Position in a symbol looked up by name; `None` if the deployment does not trade it.
pub fn get_position(symbol_name: &str) -> Option<i64> {
    symbol_index(symbol_name).map(position)
}

/// `subscribe`/`unsubscribe` results (negative); a successful `subscribe` returns the index.
pub const SUB_ERR_UNKNOWN_SYMBOL: i32 = -1;
pub const SUB_ERR_LIMIT: i32 = -2;
pub const SUB_ERR_NOT_SUBSCRIBED: i32 = -3;
pub const SUB_ERR_OUT_OF_BOUNDS: i32 = -4;
/// No host table is installed (a native `no_std` build, or a call outside a callback).
pub const SUB_ERR_NO_HOST: i32 = -5;

/// Why `subscribe`/`unsubscribe` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// The edge does not carry this symbol (it is not in any of its feeds).
    UnknownSymbol,
    /// The deployment already has as many symbols as its subscription limit allows.
    Limit,
    /// `unsubscribe` of a symbol the instance is not subscribed to.
    NotSubscribed,
    /// No host to ask (outside a callback, or a native `no_std` build).
    NoHost,
    /// Any other negative code.
    Other(i32),
}

impl SubscribeError {
    fn from_code(code: i32) -> SubscribeError {
        match code {
            SUB_ERR_UNKNOWN_SYMBOL => SubscribeError::UnknownSymbol,
            SUB_ERR_LIMIT => SubscribeError::Limit,
            SUB_ERR_NOT_SUBSCRIBED => SubscribeError::NotSubscribed,
            SUB_ERR_NO_HOST => SubscribeError::NoHost,
            other => SubscribeError::Other(other),
        }
    }
}

/// Adds `symbol` ("ETH-USDT") to this instance's subscriptions and returns its symbol index
/// (the index is new, or the one it had before an `unsubscribe`). Books of it start after the
/// current callback returns, preceded by `on_subscribed(idx)`. Subscribing to a symbol the
/// instance already has returns its index and changes nothing.
pub fn subscribe(symbol: &str) -> Result<u16, SubscribeError> {
    let code = sys::subscribe(symbol.as_bytes());
    if code >= 0 {
        Ok(code as u16)
    } else {
        Err(SubscribeError::from_code(code))
    }
}

/// Stops books of `symbol` after the current callback (then `on_unsubscribed(idx)`). Its
/// index stays reserved: positions and resting orders in it are unaffected.
pub fn unsubscribe(symbol: &str) -> Result<(), SubscribeError> {
    let code = sys::unsubscribe(symbol.as_bytes());
    if code >= 0 {
        Ok(())
    } else {
        Err(SubscribeError::from_code(code))
    }
}

/// The `len` bytes a host call wrote into `buf`, as UTF-8, if it fit.
pub(crate) fn text(len: i32, buf: &[u8]) -> Option<&str> {
    if len < 0 || len as usize > buf.len() {
        return None;
    }
    core::str::from_utf8(&buf[..len as usize]).ok()
}
