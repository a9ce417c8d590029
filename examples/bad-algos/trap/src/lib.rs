//! Deliberately bad: behaves for a few books, then panics in `on_book`, which traps
//! (`unreachable`) after logging the panic message. The host must fail this instance only.
//! Built with `--features native`, the same panic is caught at the vtable boundary instead.

#![cfg_attr(not(feature = "native"), no_std)]

use algo_sdk::*;

/// Books handled normally before the panic.
const GOOD_BOOKS: u32 = 3;

#[derive(Default)]
pub struct Trap {
    books: u32,
}

impl Algo for Trap {
    fn on_book(&mut self, _book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {
        self.books += 1;
        if self.books > GOOD_BOOKS {
            panic!("trap: book {} is one too many", self.books);
        }
    }
}

#[cfg(not(feature = "native"))]
export_algo!(Trap);

#[cfg(feature = "native")]
export_native_algo!(Trap);
