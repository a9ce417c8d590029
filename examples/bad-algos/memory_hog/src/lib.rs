//! Deliberately bad: grows linear memory by 1 MiB at a time in `on_book` until the host's
//! memory cap refuses (memory.grow returns -1), logs how far it got, then traps.

#![no_std]

use algo_sdk::*;

const PAGES_PER_STEP: usize = 16; // 16 x 64 KiB = 1 MiB

#[derive(Default)]
pub struct MemoryHog;

impl Algo for MemoryHog {
    fn on_book(&mut self, _book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {
        #[cfg(target_arch = "wasm32")]
        {
            use core::arch::wasm32::{memory_grow, memory_size, unreachable};
            while memory_grow(0, PAGES_PER_STEP) != usize::MAX {}
            error!("memory.grow refused at {} KiB; trapping", memory_size(0) * 64);
            unreachable()
        }
    }
}

export_algo!(MemoryHog);
