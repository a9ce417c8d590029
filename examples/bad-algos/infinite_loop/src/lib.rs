//! Deliberately bad: never returns from `on_book`. The host must interrupt it at the callback
//! deadline (wasmtime epochs), fail this instance and keep its siblings running.

#![no_std]

use algo_sdk::*;

#[derive(Default)]
pub struct InfiniteLoop {
    spins: u64,
}

impl Algo for InfiniteLoop {
    fn on_book(&mut self, _book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {
        info!("entering an infinite loop");
        loop {
            // A volatile write keeps the loop from being optimised into something else.
            unsafe { core::ptr::write_volatile(&mut self.spins, self.spins.wrapping_add(1)) };
        }
    }
}

export_algo!(InfiniteLoop);
