//! Deliberately bad: queues one order, then writes `count = 17` straight into the IO block,
//! bypassing the SDK's bound of 16. The host must treat this as an ABI violation and fail the
//! instance without executing any of its actions.

#![no_std]

use algo_sdk::*;

#[derive(Default)]
pub struct TooManyActions;

impl Algo for TooManyActions {
    fn on_book(&mut self, book: &L2Book, state: &AlgoState, _features: &OnlineFeatures, actions: &mut Actions) {
        if let Some(bid) = book.best_bid() {
            actions.buy(state.next_id(), 1_000_000, bid.px_1e8);
        }
        // `count` is the first u32 of Actions (offset 0).
        let count = actions as *mut Actions as *mut u32;
        unsafe { count.write_volatile(MAX_ACTIONS as u32 + 1) };
    }
}

export_algo!(TooManyActions);
