//! The NativeAlgo guide's `MyStrategy`, with "your logic here" filled in: it keeps one bid
//! working one tick under the best bid, and after a fill sells the position back at the best
//! ask. Built as a cdylib (`scripts/build_wasm.py --native`), loaded by an edge started with
//! `--allow-native`.

use algo_sdk::traits::Algo;
use algo_sdk::{Actions, AlgoState, Fill, L2Book, OnlineFeatures, Reject};

/// Order size: 0.01 in 1e8 fixed point.
const QTY_1E8: u64 = 1_000_000;

#[derive(Default)]
pub struct MyStrategy {
    next_id: u64,
    working_bid: u64,
}

impl Algo for MyStrategy {
    fn on_book(&mut self, book: &L2Book, state: &AlgoState, _features: &OnlineFeatures, actions: &mut Actions) {
        // `next_id` mirrors the host's counter: ids must stay unique for the deployment.
        self.next_id = state.next_id.get();
        let position = algo_sdk::seq::position(book.symbol_idx);
        if position > 0 && state.open_orders().is_empty() {
            if let Some(ask) = book.best_ask() {
                actions.sell_on(book.symbol_idx, state.next_id(), position as u64, ask.px_1e8);
            }
            return;
        }
        if self.working_bid == 0 || !state.is_open(self.working_bid) {
            if let Some(bid) = book.best_bid() {
                let id = state.next_id();
                if actions.buy_on(book.symbol_idx, id, QTY_1E8, bid.px_1e8) {
                    self.working_bid = id;
                }
            }
        }
    }
    fn on_fill(&mut self, fill: &Fill, _state: &AlgoState) {
        if fill.order_id == self.working_bid && fill.flags & algo_sdk::FILL_FLAG_FINAL != 0 {
            self.working_bid = 0;
        }
    }
    fn on_reject(&mut self, reject: &Reject) {
        if reject.order_id == self.working_bid {
            self.working_bid = 0;
        }
    }
}

// This single line emits `extern "C" fn sequence_algo_vtable_v1() -> *const SequenceAlgoVtable`
// -- the symbol the edge's native loader resolves via dlsym at load time.
algo_sdk::export_native_algo!(MyStrategy);
