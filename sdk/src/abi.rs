//! ABI v1 byte layouts, mirrored from `edge-image/sequence_edge/abi.py` (the source of truth)
//! and documented in `docs/abi.md`.
//!
//! Every struct is `#[repr(C)]` with natural alignment and explicit `_pad` fields, so the Rust
//! layout is exactly the documented one; the `const` asserts below stop the build on any drift,
//! and `visit_layout` lets the test suite compare every field offset with abi.py.
//! Prices and quantities are `u64` fixed point scaled by 1e8 (`*_1e8`); money that can be negative
//! is `i64` scaled by 1e8.

use core::cell::Cell;

pub const ABI_VERSION: u32 = 1;

pub const MAX_LEVELS: usize = 20;
pub const MAX_ACTIONS: usize = 16;
pub const MAX_SENDS: usize = 16;
pub const MAX_PAYLOAD: usize = 256;
pub const MAX_LABEL: usize = 32;
pub const MAX_SYMBOLS: usize = 16;
pub const MAX_OPEN_ORDERS: usize = 32;
/// 1.0 in fixed point.
pub const FIXED_SCALE: u64 = 100_000_000;

pub const SIDE_BUY: u8 = 1;
pub const SIDE_SELL: u8 = 2;

pub const ACTION_PLACE: u8 = 1;
pub const ACTION_CANCEL: u8 = 2;
pub const ACTION_CANCEL_ALL: u8 = 3;
pub const ACTION_AMEND: u8 = 4;

pub const ORDER_LIMIT: u8 = 0;
pub const ORDER_MARKET: u8 = 1;
pub const ORDER_IOC: u8 = 2;
pub const ORDER_POST_ONLY: u8 = 3;

/// `Action::symbol_idx` of a CANCEL_ALL that applies to every symbol.
pub const ALL_SYMBOLS: u16 = 0xFFFF;

pub const FILL_FLAG_FINAL: u8 = 1;
pub const FILL_FLAG_MAKER: u8 = 2;

pub const BOOK_FLAG_STALE: u32 = 1;
pub const BOOK_FLAG_RESYNCED: u32 = 2;

/// `Reject::reason` codes.
pub mod reject {
    pub const MAX_ORDER_QTY: u32 = 1;
    pub const MAX_NOTIONAL: u32 = 2;
    pub const MAX_POSITION: u32 = 3;
    pub const MAX_OPEN_ORDERS: u32 = 4;
    pub const RATE_LIMIT: u32 = 5;
    pub const PRICE_BAND: u32 = 6;
    pub const KILL_SWITCH: u32 = 7;
    pub const MAX_LOSS: u32 = 8;
    pub const UNKNOWN_ORDER: u32 = 9;
    pub const DUPLICATE_ID: u32 = 10;
    pub const INVALID_ACTION: u32 = 11;
    pub const UNKNOWN_SYMBOL: u32 = 12;
    pub const NO_LIQUIDITY: u32 = 13;
    pub const WOULD_CROSS: u32 = 14;
    pub const BOOK_STALE: u32 = 15;
    pub const NOT_RUNNING: u32 = 16;
    pub const VENUE_REJECT: u32 = 17;

    /// The reason's name as documented ("MAX_POSITION", ...), or "UNKNOWN".
    pub fn name(reason: u32) -> &'static str {
        const NAMES: [&str; 17] = [
            "MAX_ORDER_QTY", "MAX_NOTIONAL", "MAX_POSITION", "MAX_OPEN_ORDERS", "RATE_LIMIT",
            "PRICE_BAND", "KILL_SWITCH", "MAX_LOSS", "UNKNOWN_ORDER", "DUPLICATE_ID",
            "INVALID_ACTION", "UNKNOWN_SYMBOL", "NO_LIQUIDITY", "WOULD_CROSS", "BOOK_STALE",
            "NOT_RUNNING", "VENUE_REJECT",
        ];
        match reason {
            1..=17 => NAMES[reason as usize - 1],
            _ => "UNKNOWN",
        }
    }
}

/// Optional callbacks, as named in `export_algo!(.., capabilities = [..])` and as bits of
/// `SequenceAlgoVtable::capabilities` on the native path.
#[allow(non_upper_case_globals)]
pub mod capability {
    pub const OnNbbo: u32 = 1 << 0;
    pub const OnMessage: u32 = 1 << 1;
    pub const OnHeartbeat: u32 = 1 << 2;
    pub const OnStart: u32 = 1 << 3;
    pub const OnStop: u32 = 1 << 4;
    pub const OnShutdown: u32 = 1 << 5;
    pub const OnPause: u32 = 1 << 6;
    pub const OnResume: u32 = 1 << 7;
    pub const OnSubscribed: u32 = 1 << 8;
    pub const OnUnsubscribed: u32 = 1 << 9;
    /// Every optional callback.
    pub const ALL: u32 = (1 << 10) - 1;
    /// What the macros declare when no capability list is given: every callback except NBBO
    /// (NBBO costs the host work per update, so an algo asks for it, or implements
    /// `on_nbbo`, which the host discovers on the first delivery).
    pub const DEFAULT: u32 = ALL & !OnNbbo;
    /// Native vtable flag (not a callback): the table has the `on_pause`..`on_unsubscribed`
    /// fields and its optional callbacks set `ACTIONS_FLAG_DECLINED` when the algorithm does
    /// not implement them, so the host may call undeclared ones and drop those that decline.
    pub const EXTENDED_TABLE: u32 = 1 << 31;
}

/// `Actions.flags` bit set by the SDK when the callback just called is the `Algo` trait's
/// default (the algorithm does not implement it): the host stops calling that callback.
pub const ACTIONS_FLAG_DECLINED: u32 = 1;

/// One price level.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    pub px_1e8: u64,
    pub qty_1e8: u64,
}

/// Top 20 levels per side of one symbol's book (656 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Book {
    pub symbol_idx: u16,
    pub bid_count: u8,
    pub ask_count: u8,
    pub flags: u32,
    pub ts_ns: u64,
    /// Best (highest) bid first.
    pub bids: [Level; MAX_LEVELS],
    /// Best (lowest) ask first.
    pub asks: [Level; MAX_LEVELS],
}

/// Statistics the host computes from the book (natural units, not fixed point).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OnlineFeatures {
    pub mid: f64,
    pub spread: f64,
    pub microprice: f64,
    pub imbalance: f64,
    pub imbalance_5: f64,
    pub ema_mid: f64,
    pub volatility_bps: f64,
    pub mid_change_bps: f64,
    pub updates: u64,
}

/// One execution of one of the algo's orders (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    pub order_id: u64,
    pub px_1e8: u64,
    pub qty_1e8: u64,
    pub fee_1e8: i64,
    pub ts_ns: u64,
    pub symbol_idx: u16,
    pub side: u8,
    pub flags: u8,
    pub _pad: u32,
}

/// An action the host's risk checks or the venue refused.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reject {
    pub order_id: u64,
    pub reason: u32,
    pub symbol_idx: u16,
    pub action_kind: u8,
    pub _pad: u8,
}

/// Cross-venue best bid and offer, aggregated by the coordinator.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nbbo {
    pub bid_px_1e8: u64,
    pub bid_qty_1e8: u64,
    pub ask_px_1e8: u64,
    pub ask_qty_1e8: u64,
    pub ts_ns: u64,
    pub symbol_idx: u16,
    pub bid_venue: u8,
    pub ask_venue: u8,
    pub _pad: u32,
}

/// Position in one symbol.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub qty_1e8: i64,
    pub avg_px_1e8: u64,
}

/// One resting order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOrder {
    pub order_id: u64,
    pub px_1e8: u64,
    pub qty_1e8: u64,
    pub filled_1e8: u64,
    pub symbol_idx: u16,
    pub side: u8,
    pub order_type: u8,
    pub _pad: u32,
}

/// The instance's trading state as the host sees it, refreshed before every callback.
///
/// `next_id` is a `Cell` so that `state.next_id()` can hand out ids through a shared
/// reference: the value is incremented in place and the host reads it back after the callback.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct AlgoState {
    pub next_id: Cell<u64>,
    pub realized_pnl_1e8: i64,
    pub unrealized_pnl_1e8: i64,
    pub fees_1e8: i64,
    pub symbol_count: u32,
    pub open_order_count: u32,
    pub positions: [Position; MAX_SYMBOLS],
    pub open_orders: [OpenOrder; MAX_OPEN_ORDERS],
}

/// One instruction from the algo to the host.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub kind: u8,
    pub side: u8,
    pub order_type: u8,
    pub _pad0: u8,
    pub symbol_idx: u16,
    pub _pad1: u16,
    pub order_id: u64,
    pub px_1e8: u64,
    pub qty_1e8: u64,
}

/// The output buffer of every callback: at most 16 actions (see `actions.rs` for the methods).
///
/// `count` is private so that the SDK's bound cannot be bypassed by accident; a host treats a
/// count above 16 as an ABI violation and fails the instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actions {
    pub(crate) count: u32,
    /// `ACTIONS_FLAG_*` bits; the host zeroes them before each callback.
    pub(crate) flags: u32,
    pub(crate) actions: [Action; MAX_ACTIONS],
}

/// An inbound mesh message.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub from_label: [u8; MAX_LABEL],
    pub from_len: u32,
    pub payload_len: u32,
    pub payload: [u8; MAX_PAYLOAD],
}

/// The block at the address `algo_io()` returns: every input and the output of every callback.
#[repr(C, align(8))]
#[derive(Clone, Debug)]
pub struct IoBlock {
    pub book: L2Book,
    pub features: OnlineFeatures,
    pub fill: Fill,
    pub reject: Reject,
    pub nbbo: Nbbo,
    pub state: AlgoState,
    pub actions: Actions,
    pub message: Message,
}

const _: () = assert!(core::mem::size_of::<Level>() == 16);
const _: () = assert!(core::mem::size_of::<L2Book>() == 656);
const _: () = assert!(core::mem::size_of::<OnlineFeatures>() == 72);
const _: () = assert!(core::mem::size_of::<Fill>() == 48);
const _: () = assert!(core::mem::size_of::<Reject>() == 16);
const _: () = assert!(core::mem::size_of::<Nbbo>() == 48);
const _: () = assert!(core::mem::size_of::<Position>() == 16);
const _: () = assert!(core::mem::size_of::<OpenOrder>() == 40);
const _: () = assert!(core::mem::size_of::<AlgoState>() == 1576);
const _: () = assert!(core::mem::size_of::<Action>() == 32);
const _: () = assert!(core::mem::size_of::<Actions>() == 520);
const _: () = assert!(core::mem::size_of::<Message>() == 296);
const _: () = assert!(core::mem::size_of::<IoBlock>() == 3232);
const _: () = assert!(core::mem::align_of::<IoBlock>() == 8);

// All-zero values, usable in `static` initialisers (`mem::zeroed` is not `const` on Rust 1.63).
impl Level {
    pub const ZERO: Level = Level { px_1e8: 0, qty_1e8: 0 };
}
impl L2Book {
    pub const ZERO: L2Book = L2Book {
        symbol_idx: 0,
        bid_count: 0,
        ask_count: 0,
        flags: 0,
        ts_ns: 0,
        bids: [Level::ZERO; MAX_LEVELS],
        asks: [Level::ZERO; MAX_LEVELS],
    };
}
impl OnlineFeatures {
    pub const ZERO: OnlineFeatures = OnlineFeatures {
        mid: 0.0,
        spread: 0.0,
        microprice: 0.0,
        imbalance: 0.0,
        imbalance_5: 0.0,
        ema_mid: 0.0,
        volatility_bps: 0.0,
        mid_change_bps: 0.0,
        updates: 0,
    };
}
impl Fill {
    pub const ZERO: Fill =
        Fill { order_id: 0, px_1e8: 0, qty_1e8: 0, fee_1e8: 0, ts_ns: 0, symbol_idx: 0, side: 0, flags: 0, _pad: 0 };
}
impl Reject {
    pub const ZERO: Reject = Reject { order_id: 0, reason: 0, symbol_idx: 0, action_kind: 0, _pad: 0 };
}
impl Nbbo {
    pub const ZERO: Nbbo = Nbbo {
        bid_px_1e8: 0,
        bid_qty_1e8: 0,
        ask_px_1e8: 0,
        ask_qty_1e8: 0,
        ts_ns: 0,
        symbol_idx: 0,
        bid_venue: 0,
        ask_venue: 0,
        _pad: 0,
    };
}
impl Position {
    pub const ZERO: Position = Position { qty_1e8: 0, avg_px_1e8: 0 };
}
impl OpenOrder {
    pub const ZERO: OpenOrder = OpenOrder {
        order_id: 0,
        px_1e8: 0,
        qty_1e8: 0,
        filled_1e8: 0,
        symbol_idx: 0,
        side: 0,
        order_type: 0,
        _pad: 0,
    };
}
impl AlgoState {
    pub const ZERO: AlgoState = AlgoState {
        next_id: Cell::new(0),
        realized_pnl_1e8: 0,
        unrealized_pnl_1e8: 0,
        fees_1e8: 0,
        symbol_count: 0,
        open_order_count: 0,
        positions: [Position::ZERO; MAX_SYMBOLS],
        open_orders: [OpenOrder::ZERO; MAX_OPEN_ORDERS],
    };
}
impl Action {
    pub const ZERO: Action =
        Action { kind: 0, side: 0, order_type: 0, _pad0: 0, symbol_idx: 0, _pad1: 0, order_id: 0, px_1e8: 0, qty_1e8: 0 };
}
impl Actions {
    pub const ZERO: Actions = Actions { count: 0, flags: 0, actions: [Action::ZERO; MAX_ACTIONS] };
}
impl Message {
    pub const ZERO: Message =
        Message { from_label: [0; MAX_LABEL], from_len: 0, payload_len: 0, payload: [0; MAX_PAYLOAD] };
}
impl IoBlock {
    pub const ZERO: IoBlock = IoBlock {
        book: L2Book::ZERO,
        features: OnlineFeatures::ZERO,
        fill: Fill::ZERO,
        reject: Reject::ZERO,
        nbbo: Nbbo::ZERO,
        state: AlgoState::ZERO,
        actions: Actions::ZERO,
        message: Message::ZERO,
    };
}

impl Default for L2Book {
    fn default() -> Self {
        Self::ZERO
    }
}
impl Default for AlgoState {
    fn default() -> Self {
        Self::ZERO
    }
}
impl Default for Actions {
    fn default() -> Self {
        Self::ZERO
    }
}
impl Default for Message {
    fn default() -> Self {
        Self::ZERO
    }
}

/// Calls `visit(struct, field, offset, size)` for every field of every ABI struct, with the
/// offsets the compiler actually chose, after one `visit(struct, "", 0, size_of::<struct>())`.
/// Used by `examples/abi_layout.rs`, which the test suite compares with abi.py.
pub fn visit_layout(visit: &mut dyn FnMut(&'static str, &'static str, usize, usize)) {
    macro_rules! fields {
        ($t:ident: $($f:ident),+) => {{
            let value = $t::ZERO;
            let base = &value as *const $t as usize;
            visit(stringify!($t), "", 0, core::mem::size_of::<$t>());
            $(
                let field = &value.$f;
                visit(stringify!($t), stringify!($f), field as *const _ as usize - base, core::mem::size_of_val(field));
            )+
        }};
    }
    fields!(Level: px_1e8, qty_1e8);
    fields!(L2Book: symbol_idx, bid_count, ask_count, flags, ts_ns, bids, asks);
    fields!(OnlineFeatures: mid, spread, microprice, imbalance, imbalance_5, ema_mid, volatility_bps,
            mid_change_bps, updates);
    fields!(Fill: order_id, px_1e8, qty_1e8, fee_1e8, ts_ns, symbol_idx, side, flags, _pad);
    fields!(Reject: order_id, reason, symbol_idx, action_kind, _pad);
    fields!(Nbbo: bid_px_1e8, bid_qty_1e8, ask_px_1e8, ask_qty_1e8, ts_ns, symbol_idx, bid_venue, ask_venue, _pad);
    fields!(Position: qty_1e8, avg_px_1e8);
    fields!(OpenOrder: order_id, px_1e8, qty_1e8, filled_1e8, symbol_idx, side, order_type, _pad);
    fields!(AlgoState: next_id, realized_pnl_1e8, unrealized_pnl_1e8, fees_1e8, symbol_count, open_order_count,
            positions, open_orders);
    fields!(Action: kind, side, order_type, _pad0, symbol_idx, _pad1, order_id, px_1e8, qty_1e8);
    fields!(Actions: count, flags, actions);
    fields!(Message: from_label, from_len, payload_len, payload);
    fields!(IoBlock: book, features, fill, reject, nbbo, state, actions, message);
}
