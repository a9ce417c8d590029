//! An algorithm whose `on_book` does nothing: bench/native_dispatch.py measures the bare cost
//! of dispatching a book to it, built as a .wasm and (`--features native`) as a native .so.

#![cfg_attr(not(feature = "native"), no_std)]

use algo_sdk::*;

#[derive(Default)]
pub struct Empty;

impl Algo for Empty {
    fn on_book(&mut self, _book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {}
}

#[cfg(not(feature = "native"))]
export_algo!(Empty);

#[cfg(feature = "native")]
export_native_algo!(Empty);
