//! Deliberately bad: reports ABI version 2. The host must refuse to load it with
//! "AbiMismatch { got: 2, expected: 1 }".

#![no_std]

use algo_sdk::*;

#[derive(Default)]
pub struct WrongAbi;

impl Algo for WrongAbi {
    fn on_book(&mut self, book: &L2Book, state: &AlgoState, _features: &OnlineFeatures, actions: &mut Actions) {
        // Never reached: a conforming host refuses the bundle before the first callback.
        if let Some(bid) = book.best_bid() {
            actions.buy(state.next_id(), 1_000_000, bid.px_1e8);
        }
    }
}

// The SDK's escape hatch for testing hosts: override the reported ABI version.
export_algo!(WrongAbi, abi_version = 2);
