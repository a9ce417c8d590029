//! Read-side helpers on the input structs: the book, fills, the trading state, messages.

use crate::abi::*;

impl L2Book {
    /// Valid bid levels, best (highest) first.
    pub fn bids(&self) -> &[Level] {
        &self.bids[..(self.bid_count as usize).min(MAX_LEVELS)]
    }

    /// Valid ask levels, best (lowest) first.
    pub fn asks(&self) -> &[Level] {
        &self.asks[..(self.ask_count as usize).min(MAX_LEVELS)]
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids().first().copied()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks().first().copied()
    }

    /// (best bid + best ask) / 2, when both sides have a level.
    pub fn mid_1e8(&self) -> Option<u64> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        Some(bid.px_1e8 / 2 + ask.px_1e8 / 2 + (bid.px_1e8 % 2 + ask.px_1e8 % 2) / 2)
    }

    /// Best ask - best bid, when both sides have a level.
    pub fn spread_1e8(&self) -> Option<u64> {
        Some(self.best_ask()?.px_1e8.saturating_sub(self.best_bid()?.px_1e8))
    }

    /// Size-weighted mid `(bid*askq + ask*bidq)/(bidq+askq)` in fixed point (integer maths).
    pub fn microprice_1e8(&self) -> Option<u64> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        let total = bid.qty_1e8 as u128 + ask.qty_1e8 as u128;
        if total == 0 {
            return self.mid_1e8();
        }
        let weighted = bid.px_1e8 as u128 * ask.qty_1e8 as u128 + ask.px_1e8 as u128 * bid.qty_1e8 as u128;
        Some((weighted / total) as u64)
    }

    /// First book after a resync (snapshot) following a gap or a crossed book.
    pub fn is_resynced(&self) -> bool {
        self.flags & BOOK_FLAG_RESYNCED != 0
    }
}

impl Fill {
    pub fn is_buy(&self) -> bool {
        self.side == SIDE_BUY
    }

    /// This fill completed the order.
    pub fn is_final(&self) -> bool {
        self.flags & FILL_FLAG_FINAL != 0
    }

    /// The order was resting when it filled.
    pub fn is_maker(&self) -> bool {
        self.flags & FILL_FLAG_MAKER != 0
    }
}

impl OpenOrder {
    pub fn is_buy(&self) -> bool {
        self.side == SIDE_BUY
    }

    pub fn remaining_1e8(&self) -> u64 {
        self.qty_1e8.saturating_sub(self.filled_1e8)
    }
}

impl AlgoState {
    /// Hands out the next unused client order id and advances the counter in place; the host
    /// reads the counter back after the callback and never reuses an id below it.
    pub fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// The id `next_id()` would return, without taking it.
    pub fn peek_next_id(&self) -> u64 {
        self.next_id.get()
    }

    /// Signed position in `symbol_idx`, 1e8 fixed point (0 for an unknown symbol).
    pub fn position(&self, symbol_idx: u16) -> i64 {
        self.position_entry(symbol_idx).map_or(0, |p| p.qty_1e8)
    }

    /// Position and average entry price of `symbol_idx`.
    pub fn position_entry(&self, symbol_idx: u16) -> Option<&Position> {
        self.positions().get(symbol_idx as usize)
    }

    /// Positions indexed by symbol index.
    pub fn positions(&self) -> &[Position] {
        &self.positions[..(self.symbol_count as usize).min(MAX_SYMBOLS)]
    }

    /// Resting orders, oldest first (at most 32 are mirrored).
    pub fn open_orders(&self) -> &[OpenOrder] {
        &self.open_orders[..(self.open_order_count as usize).min(MAX_OPEN_ORDERS)]
    }

    /// The resting order with this id, if it is still open.
    pub fn open_order(&self, order_id: u64) -> Option<&OpenOrder> {
        self.open_orders().iter().find(|o| o.order_id == order_id)
    }

    pub fn is_open(&self, order_id: u64) -> bool {
        self.open_order(order_id).is_some()
    }

    /// Resting orders on one symbol.
    pub fn open_orders_on(&self, symbol_idx: u16) -> impl Iterator<Item = &OpenOrder> {
        self.open_orders().iter().filter(move |o| o.symbol_idx == symbol_idx)
    }
}

impl Message {
    /// Sender's label ("" if the host wrote invalid UTF-8, which it must not).
    pub fn from(&self) -> &str {
        let len = (self.from_len as usize).min(MAX_LABEL);
        core::str::from_utf8(&self.from_label[..len]).unwrap_or("")
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload[..(self.payload_len as usize).min(MAX_PAYLOAD)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(bid: (u64, u64), ask: (u64, u64)) -> L2Book {
        let mut b = L2Book::ZERO;
        b.bid_count = 1;
        b.ask_count = 1;
        b.bids[0] = Level { px_1e8: bid.0, qty_1e8: bid.1 };
        b.asks[0] = Level { px_1e8: ask.0, qty_1e8: ask.1 };
        b
    }

    #[test]
    fn microprice_leans_towards_the_thin_side() {
        // Bid size 3, ask size 1: the ask is likely to trade away, so microprice is near the ask.
        let b = book((100_00000000, 3), (101_00000000, 1));
        assert_eq!(b.mid_1e8(), Some(100_50000000));
        assert_eq!(b.microprice_1e8(), Some(100_75000000));
        assert_eq!(b.spread_1e8(), Some(1_00000000));
    }

    #[test]
    fn an_empty_side_has_no_mid() {
        let mut b = book((100, 1), (101, 1));
        b.ask_count = 0;
        assert_eq!(b.mid_1e8(), None);
        assert_eq!(b.microprice_1e8(), None);
        assert_eq!(b.bids().len(), 1);
    }

    #[test]
    fn next_id_increments_in_place_through_a_shared_reference() {
        let state = AlgoState::ZERO;
        state.next_id.set(41);
        let shared: &AlgoState = &state;
        assert_eq!((shared.next_id(), shared.next_id()), (41, 42));
        assert_eq!(state.peek_next_id(), 43);
    }

    #[test]
    fn open_orders_are_bounded_by_the_count() {
        let mut state = AlgoState::ZERO;
        state.open_orders[0] = OpenOrder { order_id: 3, symbol_idx: 1, ..OpenOrder::ZERO };
        state.open_orders[1] = OpenOrder { order_id: 4, ..OpenOrder::ZERO };
        state.open_order_count = 1;
        assert!(state.is_open(3));
        assert!(!state.is_open(4));
        assert_eq!(state.open_orders_on(1).count(), 1);
        assert_eq!(state.open_orders_on(0).count(), 0);
    }

    #[test]
    fn positions_past_symbol_count_read_as_flat() {
        let mut state = AlgoState::ZERO;
        state.positions[0].qty_1e8 = -5;
        state.positions[1].qty_1e8 = 9;
        state.symbol_count = 1;
        assert_eq!((state.position(0), state.position(1), state.position(400)), (-5, 0, 0));
    }
}
