//! Writing orders into the `Actions` buffer.
//!
//! Every method returns `false` (and queues nothing) when 16 actions are already queued: the
//! host drains at most 16 per callback and fails an instance that claims more.
//! Methods without a suffix act on symbol 0; the `_on` variants take a symbol index.

use crate::abi::*;

impl Action {
    /// A PLACE action.
    pub const fn place(symbol_idx: u16, side: u8, order_type: u8, order_id: u64, qty_1e8: u64, px_1e8: u64) -> Action {
        Action {
            kind: ACTION_PLACE,
            side,
            order_type,
            _pad0: 0,
            symbol_idx,
            _pad1: 0,
            order_id,
            px_1e8,
            qty_1e8,
        }
    }

    /// A CANCEL of the resting order `order_id`.
    pub const fn cancel(order_id: u64) -> Action {
        Action { kind: ACTION_CANCEL, order_id, ..Action::ZERO }
    }

    /// A CANCEL_ALL of one symbol, or of every symbol with `ALL_SYMBOLS`.
    pub const fn cancel_all(symbol_idx: u16) -> Action {
        Action { kind: ACTION_CANCEL_ALL, symbol_idx, ..Action::ZERO }
    }

    /// An AMEND of the resting order `order_id` to a new price and quantity.
    pub const fn amend(order_id: u64, px_1e8: u64, qty_1e8: u64) -> Action {
        Action { kind: ACTION_AMEND, order_id, px_1e8, qty_1e8, ..Action::ZERO }
    }

    pub fn is_buy(&self) -> bool {
        self.side == SIDE_BUY
    }
}

impl Actions {
    /// Number of queued actions (never more than 16 through these methods).
    pub fn len(&self) -> usize {
        (self.count as usize).min(MAX_ACTIONS)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.len() >= MAX_ACTIONS
    }

    /// Room left in this callback.
    pub fn remaining(&self) -> usize {
        MAX_ACTIONS - self.len()
    }

    /// The queued actions, in execution order.
    pub fn as_slice(&self) -> &[Action] {
        &self.actions[..self.len()]
    }

    /// Marks this callback as not implemented (what the `Algo` trait's default bodies do): the
    /// host stops calling it. Anything queued is still executed.
    #[doc(hidden)]
    pub fn decline(&mut self) {
        self.flags |= ACTIONS_FLAG_DECLINED;
    }

    /// True if `decline` was called in this callback.
    pub fn declined(&self) -> bool {
        self.flags & ACTIONS_FLAG_DECLINED != 0
    }

    /// Drops everything queued so far in this callback.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// Queues one action; `false` if the buffer is full.
    pub fn push(&mut self, action: Action) -> bool {
        let n = self.len();
        if n >= MAX_ACTIONS {
            return false;
        }
        self.actions[n] = action;
        self.count = n as u32 + 1;
        true
    }

    // Limit orders: rest until filled or cancelled.
    pub fn buy(&mut self, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.buy_on(0, order_id, qty_1e8, px_1e8)
    }
    pub fn sell(&mut self, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.sell_on(0, order_id, qty_1e8, px_1e8)
    }
    pub fn buy_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_BUY, ORDER_LIMIT, order_id, qty_1e8, px_1e8))
    }
    pub fn sell_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_SELL, ORDER_LIMIT, order_id, qty_1e8, px_1e8))
    }

    // Market orders: take liquidity up to qty; the rest is rejected with NO_LIQUIDITY.
    pub fn buy_market(&mut self, order_id: u64, qty_1e8: u64) -> bool {
        self.buy_market_on(0, order_id, qty_1e8)
    }
    pub fn sell_market(&mut self, order_id: u64, qty_1e8: u64) -> bool {
        self.sell_market_on(0, order_id, qty_1e8)
    }
    pub fn buy_market_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_BUY, ORDER_MARKET, order_id, qty_1e8, 0))
    }
    pub fn sell_market_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_SELL, ORDER_MARKET, order_id, qty_1e8, 0))
    }

    // Immediate-or-cancel: fill what crosses the limit price now, cancel the rest.
    pub fn buy_ioc(&mut self, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.buy_ioc_on(0, order_id, qty_1e8, px_1e8)
    }
    pub fn sell_ioc(&mut self, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.sell_ioc_on(0, order_id, qty_1e8, px_1e8)
    }
    pub fn buy_ioc_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_BUY, ORDER_IOC, order_id, qty_1e8, px_1e8))
    }
    pub fn sell_ioc_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_SELL, ORDER_IOC, order_id, qty_1e8, px_1e8))
    }

    // Post-only: rejected with WOULD_CROSS instead of taking liquidity.
    pub fn buy_post_only(&mut self, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.buy_post_only_on(0, order_id, qty_1e8, px_1e8)
    }
    pub fn sell_post_only(&mut self, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.sell_post_only_on(0, order_id, qty_1e8, px_1e8)
    }
    pub fn buy_post_only_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_BUY, ORDER_POST_ONLY, order_id, qty_1e8, px_1e8))
    }
    pub fn sell_post_only_on(&mut self, symbol_idx: u16, order_id: u64, qty_1e8: u64, px_1e8: u64) -> bool {
        self.push(Action::place(symbol_idx, SIDE_SELL, ORDER_POST_ONLY, order_id, qty_1e8, px_1e8))
    }

    /// Cancels one resting order (identified by its id alone).
    pub fn cancel(&mut self, order_id: u64) -> bool {
        self.push(Action::cancel(order_id))
    }

    /// Cancels every resting order of this instance, on every symbol.
    pub fn cancel_all(&mut self) -> bool {
        self.push(Action::cancel_all(ALL_SYMBOLS))
    }

    /// Cancels every resting order on one symbol.
    pub fn cancel_all_on(&mut self, symbol_idx: u16) -> bool {
        self.push(Action::cancel_all(symbol_idx))
    }

    /// Changes the price and quantity of a resting order, keeping its id.
    pub fn amend(&mut self, order_id: u64, px_1e8: u64, qty_1e8: u64) -> bool {
        self.push(Action::amend(order_id, px_1e8, qty_1e8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buy_writes_a_limit_place_on_symbol_zero() {
        let mut actions = Actions::ZERO;
        assert!(actions.buy(7, 1_000_000, 6_500_000_000_000));
        assert_eq!(actions.as_slice(), &[Action::place(0, SIDE_BUY, ORDER_LIMIT, 7, 1_000_000, 6_500_000_000_000)]);
        assert_eq!(actions.count, 1);
    }

    #[test]
    fn the_seventeenth_action_is_refused_and_nothing_is_overwritten() {
        let mut actions = Actions::ZERO;
        for id in 0..16 {
            assert!(actions.sell_ioc_on(2, id, 1, 1));
        }
        assert!(!actions.cancel(99));
        assert!(!actions.cancel_all());
        assert_eq!(actions.len(), 16);
        assert_eq!(actions.as_slice()[15].order_id, 15);
        assert_eq!(actions.as_slice()[15].symbol_idx, 2);
    }

    #[test]
    fn cancel_all_targets_every_symbol_and_amend_keeps_the_id() {
        let mut actions = Actions::ZERO;
        actions.cancel_all();
        actions.amend(5, 200, 300);
        let a = actions.as_slice();
        assert_eq!((a[0].kind, a[0].symbol_idx), (ACTION_CANCEL_ALL, ALL_SYMBOLS));
        assert_eq!((a[1].kind, a[1].order_id, a[1].px_1e8, a[1].qty_1e8), (ACTION_AMEND, 5, 200, 300));
    }

    #[test]
    fn a_count_above_the_bound_is_clamped_when_read() {
        let mut actions = Actions::ZERO;
        actions.count = 17;
        assert_eq!(actions.len(), 16);
        assert!(!actions.buy(1, 1, 1));
    }
}
