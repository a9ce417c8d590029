//! Mesh maker: joins the touch on its venue with one bid and one ask, and tells the
//! instance labelled "hedger" about every fill by sending the raw 48-byte `Fill`.
//!
//! A quote the touch left behind is cancelled at once and replaced at most every `requote_ms`
//! per side (a venue's order rate limit is for the whole second, not for every book update);
//! after a reject the maker pauses for 250 ms.
//!
//! Params (natural units): qty = 0.01, max_position = 0.05, requote_ms = 50.

#![no_std]

use algo_sdk::*;

const SYMBOL: u16 = 0;
const HEDGER: &str = "hedger";
const REJECT_PAUSE_NS: u64 = 250_000_000;
const MS: u64 = 1_000_000;

/// One resting quote; `id == 0` means none.
#[derive(Clone, Copy)]
pub struct Quote {
    id: u64,
    px_1e8: u64,
    placed_ns: u64,
}

impl Quote {
    const NONE: Quote = Quote { id: 0, px_1e8: 0, placed_ns: 0 };
}

pub struct Maker {
    qty_1e8: u64,
    max_position_1e8: u64,
    requote_ns: u64,
    loaded: bool,
    bid: Quote,
    ask: Quote,
    paused_until_ns: u64,
}

impl Maker {
    fn load_params(&mut self) {
        if !self.loaded {
            self.qty_1e8 = params::get_fixed_or("qty", 1_000_000);
            self.max_position_1e8 = params::get_fixed_or("max_position", 5_000_000);
            self.requote_ns = params::get_u64("requote_ms").unwrap_or(50) * MS;
            self.loaded = true;
        }
    }

    /// Keeps `quote` if it rests at `want`; otherwise cancels it at once (cancels are free) and
    /// places a new one at `want`, unless this side placed one less than `requote_ns` ago.
    fn follow(&self, quote: Quote, side: u8, want: Option<u64>, now: u64, state: &AlgoState, actions: &mut Actions) -> Quote {
        let live = quote.id != 0 && state.is_open(quote.id);
        if live && want == Some(quote.px_1e8) {
            return quote;
        }
        if live {
            actions.cancel(quote.id);
        }
        let px = match want {
            Some(px) => px,
            None => return Quote::NONE,
        };
        if now < quote.placed_ns + self.requote_ns {
            return Quote { id: 0, px_1e8: 0, placed_ns: quote.placed_ns }; // paced: this side waits
        }
        let id = state.next_id();
        let placed = if side == SIDE_BUY { actions.buy(id, self.qty_1e8, px) } else { actions.sell(id, self.qty_1e8, px) };
        if placed {
            Quote { id, px_1e8: px, placed_ns: now }
        } else {
            Quote::NONE
        }
    }
}

impl Algo for Maker {
    fn on_fill(&mut self, fill: &Fill, _state: &AlgoState) {
        // Tell the hedger we just got filled so it can offset the exposure.
        let payload = bytemuck::bytes_of(fill);
        match messaging::send(HEDGER, payload) {
            Ok(()) => info!(
                "filled {} {} @ {} (order {}); sent to {}",
                if fill.is_buy() { "buy" } else { "sell" },
                Fixed::from(fill.qty_1e8),
                Fixed::from(fill.px_1e8),
                fill.order_id,
                HEDGER
            ),
            Err(e) => warn!("fill of order {} not sent to {}: {} (code {})", fill.order_id, HEDGER, e, e.code()),
        }
        if fill.is_final() {
            if fill.order_id == self.bid.id {
                self.bid = Quote::NONE;
            }
            if fill.order_id == self.ask.id {
                self.ask = Quote::NONE;
            }
        }
    }

    fn on_book(&mut self, book: &L2Book, state: &AlgoState, _features: &OnlineFeatures, actions: &mut Actions) {
        if book.symbol_idx != SYMBOL {
            return;
        }
        let now = seq::now_ns();
        if now < self.paused_until_ns {
            return;
        }
        self.load_params();
        let (best_bid, best_ask) = match (book.best_bid(), book.best_ask()) {
            (Some(b), Some(a)) => (b.px_1e8, a.px_1e8),
            _ => return,
        };
        // Quote locally on whichever venue this instance is deployed to, within the position limit.
        let position = state.position(SYMBOL);
        let (qty, max) = (self.qty_1e8 as i64, self.max_position_1e8 as i64);
        let want_bid = if position + qty <= max { Some(best_bid) } else { None };
        let want_ask = if position - qty >= -max { Some(best_ask) } else { None };
        self.bid = self.follow(self.bid, SIDE_BUY, want_bid, now, state, actions);
        self.ask = self.follow(self.ask, SIDE_SELL, want_ask, now, state, actions);
    }

    fn on_reject(&mut self, reject: &Reject) {
        warn!("order {} rejected: {}", reject.order_id, algo_sdk::reject::name(reject.reason));
        if reject.order_id == self.bid.id {
            self.bid = Quote::NONE;
        }
        if reject.order_id == self.ask.id {
            self.ask = Quote::NONE;
        }
        self.paused_until_ns = seq::now_ns() + REJECT_PAUSE_NS;
    }

    fn on_start(&mut self, _state: &AlgoState, _actions: &mut Actions) {
        self.loaded = false;
        self.load_params();
        info!(
            "maker started: qty {}, max position {}, requote every {} ms at most",
            Fixed::from(self.qty_1e8),
            Fixed::from(self.max_position_1e8),
            self.requote_ns / MS
        );
    }

    fn on_shutdown(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.cancel_all();
        info!("maker shutting down: cancel all");
    }
}

export_algo!(Maker {
    qty_1e8: 0,
    max_position_1e8: 0,
    requote_ns: 50 * MS,
    loaded: false,
    bid: Quote::NONE,
    ask: Quote::NONE,
    paused_until_ns: 0
});
