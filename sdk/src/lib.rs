//! Sequence algorithm SDK: write an `Algo`, export it with `export_algo!`, build for
//! `wasm32-unknown-unknown` (or as a native cdylib with `export_native_algo!`).
//!
//! ```ignore
//! #![no_std]
//! use algo_sdk::*;
//!
//! struct Quoter { size_1e8: u64 }
//!
//! impl Algo for Quoter {
//!     fn on_book(&mut self, book: &L2Book, state: &AlgoState, _f: &OnlineFeatures, actions: &mut Actions) {
//!         if let (Some(bid), true) = (book.best_bid(), state.open_orders().is_empty()) {
//!             actions.buy(state.next_id(), self.size_1e8, bid.px_1e8);
//!         }
//!     }
//! }
//!
//! export_algo!(Quoter { size_1e8: 1_000_000 });
//! ```
//!
//! The byte-level contract is docs/abi.md (ABI v1). This crate is `no_std` unless the `std`
//! feature is on, has no dependencies and builds with Rust 1.63.

#![cfg_attr(not(any(feature = "std", test)), no_std)]

pub mod abi;
mod actions;
pub mod bytemuck;
pub mod fixed;
pub mod log;
pub mod messaging;
#[cfg(feature = "std")]
pub mod native;
pub mod params;
pub mod runtime;
pub mod seq;
mod state;
pub mod traits;

/// The C-ABI side under the names native algorithms use: ABI version, vtable, host API.
pub mod ffi {
    pub use crate::abi::ABI_VERSION;
    #[cfg(feature = "std")]
    pub use crate::native::{SequenceAlgoVtable, SequenceHostApi, VTABLE_SYMBOL};
}

pub use abi::*;
pub use fixed::Fixed;
pub use messaging::SendError;
pub use traits::Algo;

/// A panic in an algorithm: log the message, then trap, which fails this instance only.
#[cfg(all(target_arch = "wasm32", not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log::write_fmt(log::Level::Error, format_args!("{}", info));
    core::arch::wasm32::unreachable()
}
