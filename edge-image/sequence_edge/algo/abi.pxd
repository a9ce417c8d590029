# C declarations of the ABI v1 structs (see abi.py, the source of truth, and
# docs/abi.md). Shared by the book, the WASM host, risk and the OMS so all of
# them read and write the exact bytes the algorithm sees.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #pragma pack(push, 1)
    typedef struct { uint64_t px_1e8; uint64_t qty_1e8; } seq_level_t;
    typedef struct {
        uint16_t symbol_idx; uint8_t bid_count; uint8_t ask_count; uint32_t flags;
        uint64_t ts_ns; seq_level_t bids[20]; seq_level_t asks[20];
    } seq_l2book_t;
    typedef struct {
        double mid, spread, microprice, imbalance, imbalance_5, ema_mid, volatility_bps, mid_change_bps;
        uint64_t updates;
    } seq_features_t;
    typedef struct {
        uint64_t order_id, px_1e8, qty_1e8; int64_t fee_1e8; uint64_t ts_ns;
        uint16_t symbol_idx; uint8_t side; uint8_t flags; uint32_t _pad;
    } seq_fill_t;
    typedef struct {
        uint64_t order_id; uint32_t reason; uint16_t symbol_idx; uint8_t action_kind; uint8_t _pad;
    } seq_reject_t;
    typedef struct {
        uint64_t bid_px_1e8, bid_qty_1e8, ask_px_1e8, ask_qty_1e8, ts_ns;
        uint16_t symbol_idx; uint8_t bid_venue; uint8_t ask_venue; uint32_t _pad;
    } seq_nbbo_t;
    typedef struct { int64_t qty_1e8; uint64_t avg_px_1e8; } seq_position_t;
    typedef struct {
        uint64_t order_id, px_1e8, qty_1e8, filled_1e8;
        uint16_t symbol_idx; uint8_t side; uint8_t order_type; uint32_t _pad;
    } seq_open_order_t;
    typedef struct {
        uint64_t next_id; int64_t realized_pnl_1e8; int64_t unrealized_pnl_1e8; int64_t fees_1e8;
        uint32_t symbol_count; uint32_t open_order_count;
        seq_position_t positions[16]; seq_open_order_t open_orders[32];
    } seq_algo_state_t;
    typedef struct {
        uint8_t kind; uint8_t side; uint8_t order_type; uint8_t _pad0;
        uint16_t symbol_idx; uint16_t _pad1; uint64_t order_id, px_1e8, qty_1e8;
    } seq_action_t;
    typedef struct { uint32_t count; uint32_t flags; seq_action_t actions[16]; } seq_actions_t;
    typedef struct {
        uint8_t from_label[32]; uint32_t from_len; uint32_t payload_len; uint8_t payload[256];
    } seq_message_t;
    typedef struct {
        seq_l2book_t book; seq_features_t features; seq_fill_t fill; seq_reject_t reject;
        seq_nbbo_t nbbo; seq_algo_state_t state; seq_actions_t actions; seq_message_t message;
    } seq_io_block_t;
    #pragma pack(pop)
    _Static_assert(sizeof(seq_l2book_t) == 656, "L2Book");
    _Static_assert(sizeof(seq_features_t) == 72, "OnlineFeatures");
    _Static_assert(sizeof(seq_fill_t) == 48, "Fill");
    _Static_assert(sizeof(seq_reject_t) == 16, "Reject");
    _Static_assert(sizeof(seq_nbbo_t) == 48, "Nbbo");
    _Static_assert(sizeof(seq_algo_state_t) == 1576, "AlgoState");
    _Static_assert(sizeof(seq_action_t) == 32, "Action");
    _Static_assert(sizeof(seq_actions_t) == 520, "Actions");
    _Static_assert(sizeof(seq_message_t) == 296, "Message");
    _Static_assert(sizeof(seq_io_block_t) == 3232, "IoBlock");
    """
    ctypedef struct seq_level_t:
        uint64_t px_1e8
        uint64_t qty_1e8
    ctypedef struct seq_l2book_t:
        uint16_t symbol_idx
        uint8_t bid_count
        uint8_t ask_count
        uint32_t flags
        uint64_t ts_ns
        seq_level_t bids[20]
        seq_level_t asks[20]
    ctypedef struct seq_features_t:
        double mid
        double spread
        double microprice
        double imbalance
        double imbalance_5
        double ema_mid
        double volatility_bps
        double mid_change_bps
        uint64_t updates
    ctypedef struct seq_fill_t:
        uint64_t order_id
        uint64_t px_1e8
        uint64_t qty_1e8
        int64_t fee_1e8
        uint64_t ts_ns
        uint16_t symbol_idx
        uint8_t side
        uint8_t flags
        uint32_t _pad
    ctypedef struct seq_reject_t:
        uint64_t order_id
        uint32_t reason
        uint16_t symbol_idx
        uint8_t action_kind
        uint8_t _pad
    ctypedef struct seq_nbbo_t:
        uint64_t bid_px_1e8
        uint64_t bid_qty_1e8
        uint64_t ask_px_1e8
        uint64_t ask_qty_1e8
        uint64_t ts_ns
        uint16_t symbol_idx
        uint8_t bid_venue
        uint8_t ask_venue
        uint32_t _pad
    ctypedef struct seq_position_t:
        int64_t qty_1e8
        uint64_t avg_px_1e8
    ctypedef struct seq_open_order_t:
        uint64_t order_id
        uint64_t px_1e8
        uint64_t qty_1e8
        uint64_t filled_1e8
        uint16_t symbol_idx
        uint8_t side
        uint8_t order_type
        uint32_t _pad
    ctypedef struct seq_algo_state_t:
        uint64_t next_id
        int64_t realized_pnl_1e8
        int64_t unrealized_pnl_1e8
        int64_t fees_1e8
        uint32_t symbol_count
        uint32_t open_order_count
        seq_position_t positions[16]
        seq_open_order_t open_orders[32]
    ctypedef struct seq_action_t:
        uint8_t kind
        uint8_t side
        uint8_t order_type
        uint8_t _pad0
        uint16_t symbol_idx
        uint16_t _pad1
        uint64_t order_id
        uint64_t px_1e8
        uint64_t qty_1e8
    ctypedef struct seq_actions_t:
        uint32_t count
        uint32_t flags
        seq_action_t actions[16]
    ctypedef struct seq_message_t:
        uint8_t from_label[32]
        uint32_t from_len
        uint32_t payload_len
        uint8_t payload[256]
    ctypedef struct seq_io_block_t:
        seq_l2book_t book
        seq_features_t features
        seq_fill_t fill
        seq_reject_t reject
        seq_nbbo_t nbbo
        seq_algo_state_t state
        seq_actions_t actions
        seq_message_t message

cdef enum:
    SEQ_ABI_VERSION = 1
    SEQ_MAX_LEVELS = 20
    SEQ_MAX_ACTIONS = 16
    SEQ_MAX_SENDS = 16
    SEQ_MAX_PAYLOAD = 256
    SEQ_MAX_LABEL = 32
    SEQ_MAX_SYMBOLS = 16
    SEQ_MAX_OPEN_ORDERS = 32
    SEQ_SIDE_BUY = 1
    SEQ_SIDE_SELL = 2
    SEQ_ACTION_PLACE = 1
    SEQ_ACTION_CANCEL = 2
    SEQ_ACTION_CANCEL_ALL = 3
    SEQ_ACTION_AMEND = 4
    SEQ_ORDER_LIMIT = 0
    SEQ_ORDER_MARKET = 1
    SEQ_ORDER_IOC = 2
    SEQ_ORDER_POST_ONLY = 3
    SEQ_FILL_FINAL = 1
    SEQ_FILL_MAKER = 2
    SEQ_BOOK_STALE = 1
    SEQ_BOOK_RESYNCED = 2
