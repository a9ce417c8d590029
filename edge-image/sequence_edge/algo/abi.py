"""Algorithm ABI v1: the byte layouts shared by the host and every algorithm.

This module is the single machine-readable statement of the ABI. `docs/abi.md`
documents it for people, the Rust SDK (`sdk/src/abi.rs`) mirrors it with
compile-time size asserts, and the Cython host (`host.pxd`) declares the same
structs; tests check all three against the tables below.

Conventions
- Little-endian, natural alignment, no implicit padding (explicit `_pad` fields).
- Prices and quantities are unsigned 64-bit fixed point scaled by 1e8
  (`px_1e8`, `qty_1e8`): 65000.5 USD -> 6_500_050_000_000. Money amounts that
  can be negative (PnL, fees, positions) are signed 64-bit, also scaled by 1e8.
- `OnlineFeatures` are IEEE-754 f64 in natural units (prices in quote currency,
  not scaled), because they are statistics, not order fields.
- All structs live in one "IO block" inside the algorithm's linear memory,
  whose address the algorithm returns from `algo_io()`. The host writes inputs
  there before a callback and reads the actions back after it; no allocation
  happens on either side per callback.
"""

from __future__ import annotations

from dataclasses import dataclass

ABI_VERSION = 1

MAX_LEVELS = 20  # levels per side in L2Book
MAX_ACTIONS = 16  # actions per callback
MAX_SENDS = 16  # mesh sends per callback
MAX_PAYLOAD = 256  # bytes per mesh message
MAX_LABEL = 32  # bytes in a mesh label
MAX_SYMBOLS = 16  # symbols per deployment
MAX_OPEN_ORDERS = 32  # open orders mirrored into AlgoState
FIXED_SCALE = 100_000_000  # 1e8

# Side
SIDE_BUY = 1
SIDE_SELL = 2

# Action.kind
ACTION_PLACE = 1
ACTION_CANCEL = 2
ACTION_CANCEL_ALL = 3
ACTION_AMEND = 4

# Action.order_type (for ACTION_PLACE)
ORDER_LIMIT = 0  # rests until filled or cancelled
ORDER_MARKET = 1  # takes liquidity up to qty; remainder rejected (NO_LIQUIDITY)
ORDER_IOC = 2  # limit price, fills what it can immediately, cancels the rest
ORDER_POST_ONLY = 3  # rejected (WOULD_CROSS) if it would take liquidity

# Reject.reason
REJECT_REASONS: dict[int, str] = {
    1: "MAX_ORDER_QTY",
    2: "MAX_NOTIONAL",
    3: "MAX_POSITION",
    4: "MAX_OPEN_ORDERS",
    5: "RATE_LIMIT",
    6: "PRICE_BAND",
    7: "KILL_SWITCH",
    8: "MAX_LOSS",
    9: "UNKNOWN_ORDER",
    10: "DUPLICATE_ID",
    11: "INVALID_ACTION",
    12: "UNKNOWN_SYMBOL",
    13: "NO_LIQUIDITY",
    14: "WOULD_CROSS",
    15: "BOOK_STALE",
    16: "NOT_RUNNING",
    17: "VENUE_REJECT",
}
REJECT_CODES = {v: k for k, v in REJECT_REASONS.items()}

# Fill.flags
FILL_FLAG_FINAL = 1  # this fill completed the order
FILL_FLAG_MAKER = 2  # the order was resting (maker) when it filled

# L2Book.flags
BOOK_FLAG_STALE = 1  # never set on a book handed to on_book (see docs/abi.md)
BOOK_FLAG_RESYNCED = 2  # first book after a resync (snapshot) following a gap/cross

# Log levels for seq.log
LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR = 0, 1, 2, 3
LOG_LEVELS = {LOG_DEBUG: "DEBUG", LOG_INFO: "INFO", LOG_WARN: "WARN", LOG_ERROR: "ERROR"}

# Return codes of host imports (negative = error)
SEND_OK = 0
SEND_ERR_PAYLOAD_TOO_LARGE = -1
SEND_ERR_OUTBOX_FULL = -2
SEND_ERR_BAD_LABEL = -3
SEND_ERR_OUT_OF_BOUNDS = -4
SEND_ERRORS = {
    SEND_ERR_PAYLOAD_TOO_LARGE: "payload larger than 256 bytes",
    SEND_ERR_OUTBOX_FULL: "more than 16 sends in one callback",
    SEND_ERR_BAD_LABEL: "label empty, longer than 32 bytes or not UTF-8",
    SEND_ERR_OUT_OF_BOUNDS: "pointer/length outside linear memory",
}
ERR_NOT_FOUND = -1  # param/symbol lookups
ERR_OUT_OF_BOUNDS = -4

# Return codes of seq.subscribe / seq.unsubscribe (subscribe returns the symbol index on success)
SUB_ERR_UNKNOWN_SYMBOL = -1  # the edge does not carry the symbol
SUB_ERR_LIMIT = -2  # the deployment's subscription limit is reached
SUB_ERR_NOT_SUBSCRIBED = -3  # unsubscribe of a symbol the instance does not have
SUB_ERR_OUT_OF_BOUNDS = -4  # pointer/length outside linear memory (or not UTF-8)
SUB_ERRORS = {
    SUB_ERR_UNKNOWN_SYMBOL: "the edge does not carry this symbol",
    SUB_ERR_LIMIT: "the deployment's subscription limit is reached",
    SUB_ERR_NOT_SUBSCRIBED: "not subscribed to this symbol",
    SUB_ERR_OUT_OF_BOUNDS: "pointer/length outside linear memory, or not UTF-8",
}

# Actions.flags
ACTIONS_FLAG_DECLINED = 1  # the callback just called is not implemented: stop calling it

# Optional callbacks: export name -> capability bit (native SequenceAlgoVtable.capabilities)
CAPABILITIES: dict[str, int] = {
    "OnNbbo": 1 << 0,
    "OnMessage": 1 << 1,
    "OnHeartbeat": 1 << 2,
    "OnStart": 1 << 3,
    "OnStop": 1 << 4,
    "OnShutdown": 1 << 5,
    "OnPause": 1 << 6,
    "OnResume": 1 << 7,
    "OnSubscribed": 1 << 8,
    "OnUnsubscribed": 1 << 9,
}
# Native vtable flag: the table has the on_pause..on_unsubscribed fields and its optional
# callbacks decline (ACTIONS_FLAG_DECLINED) when not implemented.
CAP_EXTENDED_TABLE = 1 << 31

# Export names
REQUIRED_EXPORTS = ("memory", "algo_abi_version", "algo_io", "algo_on_book", "algo_on_fill", "algo_on_reject")
OPTIONAL_EXPORTS = (
    "algo_on_nbbo",
    "algo_on_message",
    "algo_on_heartbeat",
    "algo_on_start",
    "algo_on_stop",
    "algo_on_shutdown",
    "algo_on_pause",
    "algo_on_resume",
    "algo_on_subscribed",
    "algo_on_unsubscribed",
)
IMPORT_MODULE = "seq"
NATIVE_VTABLE_SYMBOL = "sequence_algo_vtable_v1"


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    ctype: str  # u8 u16 u32 u64 i64 f64, or "T[n]" for arrays of a struct/bytes
    size: int
    doc: str = ""


@dataclass(frozen=True)
class Struct:
    name: str
    size: int
    fields: tuple[Field, ...]
    doc: str = ""

    def offset(self, name: str) -> int:
        return next(f.offset for f in self.fields if f.name == name)


LEVEL = Struct(
    "Level",
    16,
    (
        Field("px_1e8", 0, "u64", 8, "price, 1e8 fixed point"),
        Field("qty_1e8", 8, "u64", 8, "aggregate quantity at the price, 1e8 fixed point"),
    ),
    "One price level.",
)

L2BOOK = Struct(
    "L2Book",
    656,
    (
        Field("symbol_idx", 0, "u16", 2, "index of the symbol in the deployment's `symbols` list"),
        Field("bid_count", 2, "u8", 1, "valid entries in `bids` (0..=20)"),
        Field("ask_count", 3, "u8", 1, "valid entries in `asks` (0..=20)"),
        Field("flags", 4, "u32", 4, "BOOK_FLAG_* bits"),
        Field("ts_ns", 8, "u64", 8, "feed timestamp of the update that produced this book, ns since epoch"),
        Field("bids", 16, "Level[20]", 320, "best (highest) bid first; entries past bid_count are zero"),
        Field("asks", 336, "Level[20]", 320, "best (lowest) ask first; entries past ask_count are zero"),
    ),
    "Top 20 levels per side of one symbol's book, written before every `algo_on_book`.",
)

FEATURES = Struct(
    "OnlineFeatures",
    72,
    (
        Field("mid", 0, "f64", 8, "(best bid + best ask) / 2"),
        Field("spread", 8, "f64", 8, "best ask - best bid"),
        Field("microprice", 16, "f64", 8, "size-weighted mid: (bid*askq + ask*bidq)/(bidq+askq)"),
        Field("imbalance", 24, "f64", 8, "(bidq - askq)/(bidq + askq) at the top level, in [-1, 1]"),
        Field("imbalance_5", 32, "f64", 8, "same over the top 5 levels"),
        Field("ema_mid", 40, "f64", 8, "exponential moving average of mid, alpha = 0.05 per update"),
        Field("volatility_bps", 48, "f64", 8, "EWMA (alpha 0.05) of |mid return| in basis points"),
        Field("mid_change_bps", 56, "f64", 8, "mid change since the previous update, basis points"),
        Field("updates", 64, "u64", 8, "book updates applied to this symbol on this edge"),
    ),
    "Statistics the host computes from the book; written next to the book.",
)

FILL = Struct(
    "Fill",
    48,
    (
        Field("order_id", 0, "u64", 8, "client order id the algo chose"),
        Field("px_1e8", 8, "u64", 8, "execution price"),
        Field("qty_1e8", 16, "u64", 8, "quantity of this fill"),
        Field("fee_1e8", 24, "i64", 8, "fee charged (negative = rebate), quote currency"),
        Field("ts_ns", 32, "u64", 8, "fill time, ns since epoch"),
        Field("symbol_idx", 40, "u16", 2, "symbol index"),
        Field("side", 42, "u8", 1, "SIDE_BUY=1 / SIDE_SELL=2"),
        Field("flags", 43, "u8", 1, "FILL_FLAG_* bits"),
        Field("_pad", 44, "u32", 4, "zero"),
    ),
    "One execution of one of the algo's orders.",
)

REJECT = Struct(
    "Reject",
    16,
    (
        Field("order_id", 0, "u64", 8, "client order id of the refused action (0 for cancel-all)"),
        Field("reason", 8, "u32", 4, "REJECT_* reason code"),
        Field("symbol_idx", 12, "u16", 2, "symbol index"),
        Field("action_kind", 14, "u8", 1, "ACTION_* kind of the refused action"),
        Field("_pad", 15, "u8", 1, "zero"),
    ),
    "An action the host's risk checks or the venue refused.",
)

NBBO = Struct(
    "Nbbo",
    48,
    (
        Field("bid_px_1e8", 0, "u64", 8, "best bid across venues"),
        Field("bid_qty_1e8", 8, "u64", 8, "quantity at the best bid on its venue"),
        Field("ask_px_1e8", 16, "u64", 8, "best ask across venues"),
        Field("ask_qty_1e8", 24, "u64", 8, "quantity at the best ask on its venue"),
        Field("ts_ns", 32, "u64", 8, "when the coordinator computed it"),
        Field("symbol_idx", 40, "u16", 2, "symbol index"),
        Field("bid_venue", 42, "u8", 1, "venue index of the best bid (see seq.venue_name)"),
        Field("ask_venue", 43, "u8", 1, "venue index of the best ask"),
        Field("_pad", 44, "u32", 4, "zero"),
    ),
    "Cross-venue best bid and offer, aggregated by the coordinator.",
)

POSITION = Struct(
    "Position",
    16,
    (
        Field("qty_1e8", 0, "i64", 8, "signed position (long > 0)"),
        Field("avg_px_1e8", 8, "u64", 8, "average entry price of the open position (0 when flat)"),
    ),
    "Position in one symbol.",
)

OPEN_ORDER = Struct(
    "OpenOrder",
    40,
    (
        Field("order_id", 0, "u64", 8, "client order id"),
        Field("px_1e8", 8, "u64", 8, "limit price"),
        Field("qty_1e8", 16, "u64", 8, "original quantity"),
        Field("filled_1e8", 24, "u64", 8, "quantity filled so far"),
        Field("symbol_idx", 32, "u16", 2, "symbol index"),
        Field("side", 34, "u8", 1, "SIDE_*"),
        Field("order_type", 35, "u8", 1, "ORDER_*"),
        Field("_pad", 36, "u32", 4, "zero"),
    ),
    "One resting order.",
)

ALGO_STATE = Struct(
    "AlgoState",
    1576,
    (
        Field("next_id", 0, "u64", 8, "next unused client order id; the algo increments it in place"),
        Field("realized_pnl_1e8", 8, "i64", 8, "realized PnL, quote currency, fees included"),
        Field("unrealized_pnl_1e8", 16, "i64", 8, "mark-to-mid PnL of open positions"),
        Field("fees_1e8", 24, "i64", 8, "fees paid so far"),
        Field("symbol_count", 32, "u32", 4, "valid entries in `positions`"),
        Field("open_order_count", 36, "u32", 4, "valid entries in `open_orders`"),
        Field("positions", 40, "Position[16]", 256, "indexed by symbol index"),
        Field("open_orders", 296, "OpenOrder[32]", 1280, "first 32 resting orders, oldest first"),
    ),
    "The instance's trading state as the host sees it, refreshed before every callback.",
)

ACTION = Struct(
    "Action",
    32,
    (
        Field("kind", 0, "u8", 1, "ACTION_PLACE=1, CANCEL=2, CANCEL_ALL=3, AMEND=4"),
        Field("side", 1, "u8", 1, "SIDE_* (PLACE)"),
        Field("order_type", 2, "u8", 1, "ORDER_* (PLACE)"),
        Field("_pad0", 3, "u8", 1, "zero"),
        Field("symbol_idx", 4, "u16", 2, "symbol index (PLACE; CANCEL_ALL: 0xFFFF = every symbol)"),
        Field("_pad1", 6, "u16", 2, "zero"),
        Field("order_id", 8, "u64", 8, "client order id (PLACE: new id; CANCEL/AMEND: target)"),
        Field("px_1e8", 16, "u64", 8, "limit price (PLACE limit/IOC/post-only, AMEND new price)"),
        Field("qty_1e8", 24, "u64", 8, "quantity (PLACE, AMEND new quantity)"),
    ),
    "One instruction from the algo to the host.",
)

ACTIONS = Struct(
    "Actions",
    520,
    (
        Field("count", 0, "u32", 4, "number of valid actions; the host sets it to 0 before each callback"),
        Field(
            "flags",
            4,
            "u32",
            4,
            "`ACTIONS_FLAG_*` bits set by the algo; the host sets it to 0 before each callback",
        ),
        Field("actions", 8, "Action[16]", 512, "actions in order of execution"),
    ),
    "The output buffer, drained by the host after every callback.",
)

MESSAGE = Struct(
    "Message",
    296,
    (
        Field("from_label", 0, "u8[32]", 32, "sender's label, UTF-8, not NUL-terminated"),
        Field("from_len", 32, "u32", 4, "bytes used in from_label"),
        Field("payload_len", 36, "u32", 4, "bytes used in payload (<= 256)"),
        Field("payload", 40, "u8[256]", 256, "message bytes"),
    ),
    "An inbound mesh message, written before `algo_on_message`.",
)

IO_BLOCK = Struct(
    "IoBlock",
    3232,
    (
        Field("book", 0, "L2Book", 656, "input of algo_on_book"),
        Field("features", 656, "OnlineFeatures", 72, "input of algo_on_book"),
        Field("fill", 728, "Fill", 48, "input of algo_on_fill"),
        Field("reject", 776, "Reject", 16, "input of algo_on_reject"),
        Field("nbbo", 792, "Nbbo", 48, "input of algo_on_nbbo"),
        Field("state", 840, "AlgoState", 1576, "input of every callback"),
        Field("actions", 2416, "Actions", 520, "output of every callback"),
        Field("message", 2936, "Message", 296, "input of algo_on_message"),
    ),
    "The block at the address returned by `algo_io()`; 8-byte aligned.",
)

STRUCTS = (
    LEVEL,
    L2BOOK,
    FEATURES,
    FILL,
    REJECT,
    NBBO,
    POSITION,
    OPEN_ORDER,
    ALGO_STATE,
    ACTION,
    ACTIONS,
    MESSAGE,
    IO_BLOCK,
)


def to_fixed(x: float) -> int:
    """Natural units -> 1e8 fixed point, rounded to nearest."""
    return round(x * FIXED_SCALE)


def from_fixed(v: int) -> float:
    return v / FIXED_SCALE


# Host imports (module "seq"): name -> (params, results, doc). wasm types.
IMPORTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "log": (("i32", "i32", "i32"), (), "log(level, ptr, len): append a UTF-8 line to the deployment's log"),
    "send": (
        ("i32", "i32", "i32", "i32"),
        ("i32",),
        "send(label_ptr, label_len, payload_ptr, payload_len) -> 0 or SEND_ERR_*",
    ),
    "now_ns": ((), ("i64",), "now_ns() -> wall clock, ns since epoch"),
    "param": (
        ("i32", "i32", "i32", "i32"),
        ("i32",),
        "param(key_ptr, key_len, buf_ptr, buf_cap) -> value length (may exceed buf_cap; "
        "copies min(len, cap) bytes) or -1 if absent",
    ),
    "position": (("i32",), ("i64",), "position(symbol_idx) -> signed position qty_1e8 (0 if unknown)"),
    "symbol": (
        ("i32", "i32", "i32"),
        ("i32",),
        "symbol(idx, buf_ptr, buf_cap) -> name length or -1 if idx is out of range",
    ),
    "venue_name": (
        ("i32", "i32", "i32"),
        ("i32",),
        "venue_name(venue_idx, buf_ptr, buf_cap) -> name length or -1 (venue indexes of Nbbo)",
    ),
    "subscribe": (
        ("i32", "i32"),
        ("i32",),
        "subscribe(symbol_ptr, symbol_len) -> symbol index or SUB_ERR_*",
    ),
    "unsubscribe": (("i32", "i32"), ("i32",), "unsubscribe(symbol_ptr, symbol_len) -> 0 or SUB_ERR_*"),
}

# Exports: name -> (params, results)
EXPORTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "algo_abi_version": ((), ("i32",)),
    "algo_io": ((), ("i32",)),
    "algo_on_book": (("i32",), ()),
    "algo_on_fill": ((), ()),
    "algo_on_reject": ((), ()),
    "algo_on_nbbo": ((), ()),
    "algo_on_message": ((), ()),
    "algo_on_heartbeat": (("i64",), ()),
    "algo_on_start": ((), ()),
    "algo_on_stop": ((), ()),
    "algo_on_shutdown": ((), ()),
    "algo_on_pause": ((), ()),
    "algo_on_resume": ((), ()),
    "algo_on_subscribed": (("i32",), ()),
    "algo_on_unsubscribed": (("i32",), ()),
}


def _check() -> None:
    for s in STRUCTS:
        end = 0
        for f in s.fields:
            assert f.offset == end, f"{s.name}.{f.name}: offset {f.offset} != {end}"
            end = f.offset + f.size
        assert end == s.size, f"{s.name}: fields end at {end}, size {s.size}"


_check()
