//! A two-sided market maker on symbol 0, written with the Sequence SDK (`algo_sdk`).
//!
//! Quotes one bid and one ask of `qty` around the microprice, `spread_bps` apart, skewed away
//! from inventory, and never behind the touch: the bid is at least the best bid and the ask at
//! most the best ask (without crossing), so a paper OMS fills them as the market trades.
//! Requotes (cancel + replace) when the mid moves more than `tick` (at most every `requote_ms`),
//! after a fill or a reject (then it pauses 250 ms), or when a quote has gone; stops quoting
//! the side that would breach `max_position`.
//!
//! Params (natural units, from `[deploy.<name>.params]` in Sequence.toml): spread_bps = 4,
//! qty = 0.01, max_position = 0.05, tick = 0.01, requote_ms = 50.
//!
//! Build: `sequence build` (WebAssembly) or `sequence build --native` (a .so for edges run
//! with --allow-native). This file is also the source of examples/market-maker.
#![cfg_attr(not(feature = "native"), no_std)]

use algo_sdk::*;

const SYMBOL: u16 = 0;
/// Pause after a reject before quoting again: a rejected order would otherwise be re-sent
/// on every book while a rate limit or the kill switch is active. Time-based, because
/// books arrive at whatever rate the venue sends them.
const REJECT_PAUSE_NS: u64 = 250_000_000;
const MS: u64 = 1_000_000;

#[derive(Clone, Copy)]
struct Config {
    spread_bps_1e8: u64,
    qty_1e8: u64,
    max_position_1e8: u64,
    tick_1e8: u64,
    requote_ns: u64,
}

impl Config {
    fn load() -> Config {
        let tick = params::get_fixed_or("tick", 1_000_000);
        Config {
            spread_bps_1e8: params::get_fixed_or("spread_bps", 4 * FIXED_SCALE),
            qty_1e8: params::get_fixed_or("qty", 1_000_000),
            max_position_1e8: params::get_fixed_or("max_position", 5_000_000),
            tick_1e8: if tick == 0 { 1 } else { tick },
            requote_ns: params::get_u64("requote_ms").unwrap_or(50) * MS,
        }
    }
}

/// One resting quote; `id == 0` means none.
#[derive(Clone, Copy, Default)]
struct Quote {
    id: u64,
    px_1e8: u64,
}

#[derive(Default)]
pub struct MarketMaker {
    config: Option<Config>,
    bid: Quote,
    ask: Quote,
    quoted_mid_1e8: u64,
    /// A fill or reject happened since the last requote.
    dirty: bool,
    paused_until_ns: u64,
    last_quote_ns: u64,
}

impl MarketMaker {
    fn config(&mut self) -> Config {
        *self.config.get_or_insert_with(Config::load)
    }

    /// Bid and ask prices to quote, `None` for a side blocked by the position limit.
    fn targets(cfg: Config, book: &L2Book, position: i64) -> (Option<u64>, Option<u64>) {
        let (best_bid, best_ask, micro) = match (book.best_bid(), book.best_ask(), book.microprice_1e8()) {
            (Some(b), Some(a), Some(m)) => (b.px_1e8, a.px_1e8, m),
            _ => return (None, None),
        };
        let half = fixed::bps_of(micro, cfg.spread_bps_1e8) / 2;
        // Lean away from inventory: long -> both quotes lower, short -> higher.
        let max_pos = cfg.max_position_1e8.max(1) as i128;
        let skew = (half as i128 * position as i128 / max_pos) as i64;
        let tick = cfg.tick_1e8;
        let raw_bid = (micro as i64 - half as i64 - skew).max(0) as u64 / tick * tick;
        let raw_ask = ((micro as i64 + half as i64 - skew).max(0) as u64 + tick - 1) / tick * tick;
        // At or inside the touch, never crossing it.
        let bid = raw_bid.max(best_bid).min(best_ask.saturating_sub(tick));
        let ask = raw_ask.min(best_ask).max(best_bid + tick).max(bid + tick); // never self-cross
        let qty = cfg.qty_1e8 as i64;
        let max_pos = cfg.max_position_1e8 as i64;
        let can_buy = position + qty <= max_pos;
        let can_sell = position - qty >= -max_pos;
        (if can_buy && bid > 0 { Some(bid) } else { None }, if can_sell { Some(ask) } else { None })
    }

    /// Brings one side to `want`: keep, cancel, or cancel and replace.
    fn update_side(
        quote: Quote,
        side: u8,
        want: Option<u64>,
        qty: u64,
        state: &AlgoState,
        actions: &mut Actions,
    ) -> Quote {
        let live = quote.id != 0 && state.is_open(quote.id);
        if live && want == Some(quote.px_1e8) {
            return quote;
        }
        if live {
            actions.cancel(quote.id);
        }
        match want {
            None => Quote::default(),
            Some(px) => {
                let id = state.next_id();
                let placed = if side == SIDE_BUY { actions.buy(id, qty, px) } else { actions.sell(id, qty, px) };
                if placed {
                    Quote { id, px_1e8: px }
                } else {
                    Quote::default()
                }
            }
        }
    }
}

impl Algo for MarketMaker {
    fn on_book(&mut self, book: &L2Book, state: &AlgoState, _features: &OnlineFeatures, actions: &mut Actions) {
        if book.symbol_idx != SYMBOL {
            return;
        }
        let now = seq::now_ns() as u64;
        if now < self.paused_until_ns {
            return;
        }
        let cfg = self.config();
        let mid = match book.mid_1e8() {
            Some(mid) => mid,
            None => return,
        };
        let (want_bid, want_ask) = Self::targets(cfg, book, state.position(SYMBOL));
        let bid_live = self.bid.id != 0 && state.is_open(self.bid.id);
        let ask_live = self.ask.id != 0 && state.is_open(self.ask.id);
        let sides_as_wanted = bid_live == want_bid.is_some() && ask_live == want_ask.is_some();
        let moved = mid.abs_diff(self.quoted_mid_1e8) > cfg.tick_1e8;
        if sides_as_wanted && !moved && !self.dirty {
            return;
        }
        // A quote the market filled or a side that must go is handled at once; a mere mid move
        // requotes at most every `requote_ms`, which keeps the maker under its order-rate limit.
        if sides_as_wanted && !self.dirty && now < self.last_quote_ns + cfg.requote_ns {
            return;
        }
        self.bid = Self::update_side(self.bid, SIDE_BUY, want_bid, cfg.qty_1e8, state, actions);
        self.ask = Self::update_side(self.ask, SIDE_SELL, want_ask, cfg.qty_1e8, state, actions);
        self.quoted_mid_1e8 = mid;
        self.last_quote_ns = now;
        self.dirty = false;
    }

    fn on_fill(&mut self, fill: &Fill, state: &AlgoState) {
        info!(
            "filled {} {} @ {} (order {}), position {}",
            if fill.is_buy() { "buy" } else { "sell" },
            Fixed::from(fill.qty_1e8),
            Fixed::from(fill.px_1e8),
            fill.order_id,
            Fixed::from(state.position(fill.symbol_idx)),
        );
        if fill.is_final() {
            if fill.order_id == self.bid.id {
                self.bid = Quote::default();
            }
            if fill.order_id == self.ask.id {
                self.ask = Quote::default();
            }
        }
        self.dirty = true;
    }

    fn on_reject(&mut self, reject: &Reject) {
        warn!("order {} rejected: {}", reject.order_id, algo_sdk::reject::name(reject.reason));
        if reject.order_id == self.bid.id {
            self.bid = Quote::default();
        }
        if reject.order_id == self.ask.id {
            self.ask = Quote::default();
        }
        self.dirty = true;
        self.paused_until_ns = seq::now_ns() as u64 + REJECT_PAUSE_NS;
    }

    fn on_start(&mut self, _state: &AlgoState, _actions: &mut Actions) {
        self.config = None; // pick up params changed while stopped
        let cfg = self.config();
        info!(
            "market maker started: spread {} bps, qty {}, max position {}, tick {}",
            Fixed::from(cfg.spread_bps_1e8),
            Fixed::from(cfg.qty_1e8),
            Fixed::from(cfg.max_position_1e8),
            Fixed::from(cfg.tick_1e8),
        );
    }

    fn on_stop(&mut self, _state: &AlgoState, _actions: &mut Actions) {
        info!("market maker stopped; quotes stay resting until cancelled or shutdown");
    }

    fn on_shutdown(&mut self, state: &AlgoState, actions: &mut Actions) {
        actions.cancel_all();
        info!("market maker shutting down: cancelling {} open orders", state.open_orders().len());
        self.bid = Quote::default();
        self.ask = Quote::default();
    }
}

#[cfg(not(feature = "native"))]
export_algo!(MarketMaker);

#[cfg(feature = "native")]
export_native_algo!(MarketMaker, capabilities = [OnStart, OnStop, OnShutdown]);
