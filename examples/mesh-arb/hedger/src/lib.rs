//! Mesh hedger: on every `Fill` the instance labelled "maker" sends, places an IOC
//! order on the opposite side for the same quantity, priced `hedge_bps` through the local touch
//! (best ask + 20 bps to buy, best bid - 20 bps to sell), so that it fills at once.
//! Duplicate deliveries of a fill are ignored. Exports `algo_on_nbbo` and uses the cross-venue
//! NBBO as the reference price while it has no local book.
//!
//! Params (natural units): hedge_bps = 20.

#![no_std]

use algo_sdk::*;

const MAKER: &str = "maker";
/// Fills remembered for de-duplication.
const RECENT: usize = 64;

/// Identity of one fill: an order can fill several times, so the id alone is not enough.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FillKey {
    order_id: u64,
    ts_ns: u64,
    qty_1e8: u64,
}

impl FillKey {
    const NONE: FillKey = FillKey { order_id: 0, ts_ns: 0, qty_1e8: 0 };
}

/// Best bid and ask of one symbol.
#[derive(Clone, Copy)]
pub struct Touch {
    bid_1e8: u64,
    ask_1e8: u64,
}

impl Touch {
    const NONE: Touch = Touch { bid_1e8: 0, ask_1e8: 0 };
}

pub struct Hedger {
    hedge_bps_1e8: u64,
    loaded: bool,
    local: [Touch; MAX_SYMBOLS],
    nbbo: [Touch; MAX_SYMBOLS],
    recent: [FillKey; RECENT],
    next_slot: usize,
    hedges: u64,
}

impl Hedger {
    fn load_params(&mut self) {
        if !self.loaded {
            self.hedge_bps_1e8 = params::get_fixed_or("hedge_bps", 20 * FIXED_SCALE);
            self.loaded = true;
        }
    }

    fn seen(&self, key: FillKey) -> bool {
        self.recent.iter().any(|k| *k == key)
    }

    fn remember(&mut self, key: FillKey) {
        self.recent[self.next_slot] = key;
        self.next_slot = (self.next_slot + 1) % RECENT;
    }

    /// Local touch, else the NBBO, else the maker's fill price.
    fn reference(&self, symbol_idx: u16, buy: bool, fill_px: u64) -> u64 {
        let pick = |t: &Touch| if buy { t.ask_1e8 } else { t.bid_1e8 };
        let i = symbol_idx as usize;
        [self.local.get(i).map(pick), self.nbbo.get(i).map(pick)]
            .iter()
            .flatten()
            .copied()
            .find(|&px| px > 0)
            .unwrap_or(fill_px)
    }
}

impl Algo for Hedger {
    fn on_message(&mut self, from: &str, payload: &[u8], state: &AlgoState, actions: &mut Actions) {
        if from != MAKER {
            debug!("ignoring a message from '{}'", from);
            return;
        }
        let fill: &Fill = match bytemuck::try_from_bytes(payload) {
            Ok(fill) => fill,
            Err(_) => {
                warn!("message from {} is {} bytes, not a 48-byte Fill; ignored", MAKER, payload.len());
                return;
            }
        };
        let key = FillKey { order_id: fill.order_id, ts_ns: fill.ts_ns, qty_1e8: fill.qty_1e8 };
        if self.seen(key) {
            info!("duplicate of maker fill (order {}) ignored", fill.order_id);
            return;
        }
        self.load_params();
        // Offset the maker's fill on our local book: it bought, we sell, and vice versa.
        let buy = !fill.is_buy();
        let reference = self.reference(fill.symbol_idx, buy, fill.px_1e8);
        let through = fixed::bps_of(reference, self.hedge_bps_1e8);
        let px = if buy { reference + through } else { reference.saturating_sub(through) };
        let id = state.next_id();
        let placed = if buy {
            actions.buy_ioc_on(fill.symbol_idx, id, fill.qty_1e8, px)
        } else {
            actions.sell_ioc_on(fill.symbol_idx, id, fill.qty_1e8, px)
        };
        if !placed {
            warn!("no room for the hedge of maker order {} in this callback", fill.order_id);
            return;
        }
        self.remember(key);
        self.hedges += 1;
        info!(
            "hedge #{}: {} {} @ {} IOC (order {}) for maker order {}",
            self.hedges,
            if buy { "buy" } else { "sell" },
            Fixed::from(fill.qty_1e8),
            Fixed::from(px),
            id,
            fill.order_id
        );
    }

    fn on_book(&mut self, book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {
        // No orders here: this instance only acts when nudged by the maker.
        if let Some(touch) = self.local.get_mut(book.symbol_idx as usize) {
            touch.bid_1e8 = book.best_bid().map_or(0, |l| l.px_1e8);
            touch.ask_1e8 = book.best_ask().map_or(0, |l| l.px_1e8);
        }
    }

    fn on_nbbo(&mut self, nbbo: &Nbbo, _state: &AlgoState, _actions: &mut Actions) {
        let first = self.nbbo.iter().all(|t| t.bid_1e8 == 0 && t.ask_1e8 == 0);
        if let Some(touch) = self.nbbo.get_mut(nbbo.symbol_idx as usize) {
            touch.bid_1e8 = nbbo.bid_px_1e8;
            touch.ask_1e8 = nbbo.ask_px_1e8;
        }
        if first {
            let (mut bid_venue, mut ask_venue) = ([0u8; 32], [0u8; 32]);
            info!(
                "first NBBO: bid {} on {}, ask {} on {}",
                Fixed::from(nbbo.bid_px_1e8),
                seq::venue_name(nbbo.bid_venue, &mut bid_venue).unwrap_or("?"),
                Fixed::from(nbbo.ask_px_1e8),
                seq::venue_name(nbbo.ask_venue, &mut ask_venue).unwrap_or("?"),
            );
        }
    }

    fn on_fill(&mut self, fill: &Fill, state: &AlgoState) {
        info!(
            "hedge order {} filled {} @ {}, position {}",
            fill.order_id,
            Fixed::from(fill.qty_1e8),
            Fixed::from(fill.px_1e8),
            Fixed::from(state.position(fill.symbol_idx))
        );
    }

    fn on_reject(&mut self, reject: &Reject) {
        warn!("hedge order {} rejected: {}", reject.order_id, algo_sdk::reject::name(reject.reason));
    }

    fn on_start(&mut self, _state: &AlgoState, _actions: &mut Actions) {
        self.loaded = false;
        self.load_params();
        info!("hedger started: hedging maker fills {} bps through the touch", Fixed::from(self.hedge_bps_1e8));
    }

    fn on_shutdown(&mut self, _state: &AlgoState, actions: &mut Actions) {
        actions.cancel_all();
        info!("hedger shutting down after {} hedges", self.hedges);
    }
}

export_algo!(
    Hedger {
        hedge_bps_1e8: 0,
        loaded: false,
        local: [Touch::NONE; MAX_SYMBOLS],
        nbbo: [Touch::NONE; MAX_SYMBOLS],
        recent: [FillKey::NONE; RECENT],
        next_slot: 0,
        hedges: 0,
    },
    capabilities = [OnNbbo, OnMessage, OnHeartbeat, OnStart, OnStop, OnShutdown]
);
