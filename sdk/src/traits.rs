//! The `Algo` trait: one trait for single-venue algos, mesh instances and native strategies.

use crate::abi::{Actions, AlgoState, Fill, L2Book, Nbbo, OnlineFeatures, Reject};

/// A trading algorithm. Only `on_book` is required.
///
/// Callbacks run to completion on the edge's hot path: no blocking, no unbounded loops
/// (the WASM host interrupts a callback after its deadline, 1 ms by default, and fails the
/// instance). Orders go into `actions` (at most 16 per callback); ids come from
/// `state.next_id()`.
///
/// Optional callbacks are only wired up when declared: `export_algo!` exports every optional
/// callback except `on_nbbo` unless a `capabilities = [...]` list says otherwise.
pub trait Algo {
    /// The local book of one symbol changed (`book.symbol_idx`).
    fn on_book(&mut self, book: &L2Book, state: &AlgoState, features: &OnlineFeatures, actions: &mut Actions);

    /// One of this instance's orders executed (`state` already includes the fill).
    fn on_fill(&mut self, _fill: &Fill, _state: &AlgoState) {}

    /// An action was refused by risk checks or by the venue.
    fn on_reject(&mut self, _reject: &Reject) {}

    /// The cross-venue best bid/offer changed (capability `OnNbbo`).
    fn on_nbbo(&mut self, _nbbo: &Nbbo, _state: &AlgoState, _actions: &mut Actions) {}

    /// A sibling instance sent a message to this instance's label (capability `OnMessage`).
    fn on_message(&mut self, _from: &str, _payload: &[u8], _state: &AlgoState, _actions: &mut Actions) {}

    /// Once per second (capability `OnHeartbeat`).
    fn on_heartbeat(&mut self, _now_ns: u64, _state: &AlgoState, _actions: &mut Actions) {}

    /// The deployment was started (also after a stop).
    fn on_start(&mut self, _state: &AlgoState, _actions: &mut Actions) {}

    /// The deployment was stopped; the instance and its resting orders are kept.
    fn on_stop(&mut self, _state: &AlgoState, _actions: &mut Actions) {}

    /// The instance is being removed; afterwards the host cancels whatever is still resting.
    fn on_shutdown(&mut self, _state: &AlgoState, _actions: &mut Actions) {}
}
