//! The `Algo` trait: one trait for single-venue algos, mesh instances and native strategies.

use crate::abi::{Actions, AlgoState, Fill, L2Book, Nbbo, OnlineFeatures, Reject};

/// A trading algorithm. Only `on_book` is required.
///
/// Callbacks run to completion on the edge's hot path: no blocking, no unbounded loops
/// (the WASM host interrupts a callback after its deadline, 1 ms by default, and fails the
/// instance). Orders go into `actions` (at most 16 per callback); ids come from
/// `state.next_id()`.
///
/// Implementing an optional callback is enough to receive it. The default bodies below call
/// `actions.decline()`, which tells the host the algorithm does not implement that callback,
/// so the host stops calling it after the first time (a `capabilities = [...]` list only says
/// which callbacks the host prepares from the start, e.g. NBBO snapshots).
pub trait Algo {
    /// The local book of one symbol changed (`book.symbol_idx`).
    fn on_book(&mut self, book: &L2Book, state: &AlgoState, features: &OnlineFeatures, actions: &mut Actions);

    /// One of this instance's orders executed (`state` already includes the fill).
    fn on_fill(&mut self, _fill: &Fill, _state: &AlgoState) {}

    /// An action was refused by risk checks or by the venue.
    fn on_reject(&mut self, _reject: &Reject) {}

    /// The cross-venue best bid/offer changed (capability `OnNbbo`).
    fn on_nbbo(&mut self, _nbbo: &Nbbo, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// A sibling instance sent a message to this instance's label (capability `OnMessage`).
    fn on_message(&mut self, _from: &str, _payload: &[u8], _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// Once per second while running (capability `OnHeartbeat`).
    fn on_heartbeat(&mut self, _now_ns: u64, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// The deployment was started (also after a stop).
    fn on_start(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// The deployment was stopped: books stop, its symbols' market data is released; the
    /// instance and its resting orders are kept.
    fn on_stop(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// The instance is being removed; afterwards the host cancels whatever is still resting.
    fn on_shutdown(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// The deployment was paused: no books, NBBO, messages or heartbeats until `on_resume`,
    /// but the instance and its market-data subscriptions stay warm (capability `OnPause`).
    fn on_pause(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// The deployment was resumed after a pause (capability `OnResume`).
    fn on_resume(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// A `seq::subscribe` took effect: books of `symbol_idx` follow (capability `OnSubscribed`).
    fn on_subscribed(&mut self, _symbol_idx: u16, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }

    /// A `seq::unsubscribe` took effect: no more books of `symbol_idx`; its index stays
    /// reserved (positions and resting orders are kept) (capability `OnUnsubscribed`).
    fn on_unsubscribed(&mut self, _symbol_idx: u16, _state: &AlgoState, actions: &mut Actions) {
        actions.decline()
    }
}
