/*
 * Sequence algorithm ABI v1 for C and C++ (docs/abi.md is the reference).
 *
 * WASM algorithms: compile for wasm32, export the functions listed in docs/abi.md and an
 * 8-byte-aligned seq_io_block_t whose address algo_io() returns; import host functions from
 * module "seq".
 * Native algorithms (first-party only, no sandbox): build a shared library exporting
 *     const SequenceAlgoVtable *sequence_algo_vtable_v1(void);
 *
 * All structs use natural alignment with explicit padding fields, so their layout is the
 * same with or without packing; the assertions below fail the build on any drift.
 * Prices and quantities are uint64_t fixed point scaled by 1e8 (*_1e8).
 */
#ifndef SEQUENCE_ALGO_H
#define SEQUENCE_ALGO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEQ_ABI_VERSION 1u

#define SEQ_MAX_LEVELS 20
#define SEQ_MAX_ACTIONS 16
#define SEQ_MAX_SENDS 16
#define SEQ_MAX_PAYLOAD 256
#define SEQ_MAX_LABEL 32
#define SEQ_MAX_SYMBOLS 16
#define SEQ_MAX_OPEN_ORDERS 32
#define SEQ_FIXED_SCALE 100000000ull

#define SEQ_SIDE_BUY 1
#define SEQ_SIDE_SELL 2

#define SEQ_ACTION_PLACE 1
#define SEQ_ACTION_CANCEL 2
#define SEQ_ACTION_CANCEL_ALL 3
#define SEQ_ACTION_AMEND 4
#define SEQ_ALL_SYMBOLS 0xFFFFu /* Action.symbol_idx of a CANCEL_ALL for every symbol */

#define SEQ_ORDER_LIMIT 0
#define SEQ_ORDER_MARKET 1
#define SEQ_ORDER_IOC 2
#define SEQ_ORDER_POST_ONLY 3

#define SEQ_FILL_FLAG_FINAL 1u
#define SEQ_FILL_FLAG_MAKER 2u

#define SEQ_BOOK_FLAG_STALE 1u
#define SEQ_BOOK_FLAG_RESYNCED 2u

#define SEQ_LOG_DEBUG 0
#define SEQ_LOG_INFO 1
#define SEQ_LOG_WARN 2
#define SEQ_LOG_ERROR 3

/* Reject.reason */
#define SEQ_REJECT_MAX_ORDER_QTY 1
#define SEQ_REJECT_MAX_NOTIONAL 2
#define SEQ_REJECT_MAX_POSITION 3
#define SEQ_REJECT_MAX_OPEN_ORDERS 4
#define SEQ_REJECT_RATE_LIMIT 5
#define SEQ_REJECT_PRICE_BAND 6
#define SEQ_REJECT_KILL_SWITCH 7
#define SEQ_REJECT_MAX_LOSS 8
#define SEQ_REJECT_UNKNOWN_ORDER 9
#define SEQ_REJECT_DUPLICATE_ID 10
#define SEQ_REJECT_INVALID_ACTION 11
#define SEQ_REJECT_UNKNOWN_SYMBOL 12
#define SEQ_REJECT_NO_LIQUIDITY 13
#define SEQ_REJECT_WOULD_CROSS 14
#define SEQ_REJECT_BOOK_STALE 15
#define SEQ_REJECT_NOT_RUNNING 16
#define SEQ_REJECT_VENUE_REJECT 17

/* Return codes of host functions (negative = error) */
#define SEQ_SEND_OK 0
#define SEQ_SEND_ERR_PAYLOAD_TOO_LARGE (-1)
#define SEQ_SEND_ERR_OUTBOX_FULL (-2)
#define SEQ_SEND_ERR_BAD_LABEL (-3)
#define SEQ_SEND_ERR_OUT_OF_BOUNDS (-4)
#define SEQ_ERR_NOT_FOUND (-1)
#define SEQ_ERR_OUT_OF_BOUNDS (-4)
/* seq.subscribe / seq.unsubscribe (subscribe returns the symbol index on success) */
#define SEQ_SUB_ERR_UNKNOWN_SYMBOL (-1)
#define SEQ_SUB_ERR_LIMIT (-2)
#define SEQ_SUB_ERR_NOT_SUBSCRIBED (-3)
#define SEQ_SUB_ERR_OUT_OF_BOUNDS (-4)

/* seq_actions_t.flags: set by a callback that is not implemented (the host stops calling it) */
#define SEQ_ACTIONS_FLAG_DECLINED 1u

/* Optional callbacks: SequenceAlgoVtable.capabilities bits */
#define SEQ_CAP_ON_NBBO (1u << 0)
#define SEQ_CAP_ON_MESSAGE (1u << 1)
#define SEQ_CAP_ON_HEARTBEAT (1u << 2)
#define SEQ_CAP_ON_START (1u << 3)
#define SEQ_CAP_ON_STOP (1u << 4)
#define SEQ_CAP_ON_SHUTDOWN (1u << 5)
#define SEQ_CAP_ON_PAUSE (1u << 6)
#define SEQ_CAP_ON_RESUME (1u << 7)
#define SEQ_CAP_ON_SUBSCRIBED (1u << 8)
#define SEQ_CAP_ON_UNSUBSCRIBED (1u << 9)
/* Not a callback: the vtable has the fields after on_shutdown, and its optional callbacks set
 * SEQ_ACTIONS_FLAG_DECLINED when not implemented, so the host may offer undeclared ones. */
#define SEQ_CAP_EXTENDED_TABLE (1u << 31)

/* Native callback results */
#define SEQ_CALLBACK_OK 0
#define SEQ_CALLBACK_PANICKED (-1)

typedef struct seq_level_t {
    uint64_t px_1e8;
    uint64_t qty_1e8;
} seq_level_t;

typedef struct seq_l2book_t {
    uint16_t symbol_idx;
    uint8_t bid_count;
    uint8_t ask_count;
    uint32_t flags;
    uint64_t ts_ns;
    seq_level_t bids[SEQ_MAX_LEVELS]; /* best (highest) first */
    seq_level_t asks[SEQ_MAX_LEVELS]; /* best (lowest) first */
} seq_l2book_t;

typedef struct seq_features_t {
    double mid;
    double spread;
    double microprice;
    double imbalance;
    double imbalance_5;
    double ema_mid;
    double volatility_bps;
    double mid_change_bps;
    uint64_t updates;
} seq_features_t;

typedef struct seq_fill_t {
    uint64_t order_id;
    uint64_t px_1e8;
    uint64_t qty_1e8;
    int64_t fee_1e8;
    uint64_t ts_ns;
    uint16_t symbol_idx;
    uint8_t side;
    uint8_t flags;
    uint32_t _pad;
} seq_fill_t;

typedef struct seq_reject_t {
    uint64_t order_id;
    uint32_t reason;
    uint16_t symbol_idx;
    uint8_t action_kind;
    uint8_t _pad;
} seq_reject_t;

typedef struct seq_nbbo_t {
    uint64_t bid_px_1e8;
    uint64_t bid_qty_1e8;
    uint64_t ask_px_1e8;
    uint64_t ask_qty_1e8;
    uint64_t ts_ns;
    uint16_t symbol_idx;
    uint8_t bid_venue;
    uint8_t ask_venue;
    uint32_t _pad;
} seq_nbbo_t;

typedef struct seq_position_t {
    int64_t qty_1e8;
    uint64_t avg_px_1e8;
} seq_position_t;

typedef struct seq_open_order_t {
    uint64_t order_id;
    uint64_t px_1e8;
    uint64_t qty_1e8;
    uint64_t filled_1e8;
    uint16_t symbol_idx;
    uint8_t side;
    uint8_t order_type;
    uint32_t _pad;
} seq_open_order_t;

typedef struct seq_algo_state_t {
    uint64_t next_id; /* take ids from here and increment it in place */
    int64_t realized_pnl_1e8;
    int64_t unrealized_pnl_1e8;
    int64_t fees_1e8;
    uint32_t symbol_count;
    uint32_t open_order_count;
    seq_position_t positions[SEQ_MAX_SYMBOLS];
    seq_open_order_t open_orders[SEQ_MAX_OPEN_ORDERS];
} seq_algo_state_t;

typedef struct seq_action_t {
    uint8_t kind;
    uint8_t side;
    uint8_t order_type;
    uint8_t _pad0;
    uint16_t symbol_idx;
    uint16_t _pad1;
    uint64_t order_id;
    uint64_t px_1e8;
    uint64_t qty_1e8;
} seq_action_t;

typedef struct seq_actions_t {
    uint32_t count; /* never more than SEQ_MAX_ACTIONS */
    uint32_t flags; /* SEQ_ACTIONS_FLAG_* bits; the host zeroes it before each callback */
    seq_action_t actions[SEQ_MAX_ACTIONS];
} seq_actions_t;

typedef struct seq_message_t {
    uint8_t from_label[SEQ_MAX_LABEL];
    uint32_t from_len;
    uint32_t payload_len;
    uint8_t payload[SEQ_MAX_PAYLOAD];
} seq_message_t;

typedef struct seq_io_block_t {
    seq_l2book_t book;
    seq_features_t features;
    seq_fill_t fill;
    seq_reject_t reject;
    seq_nbbo_t nbbo;
    seq_algo_state_t state;
    seq_actions_t actions;
    seq_message_t message;
} seq_io_block_t;

#if defined(__cplusplus)
#define SEQ_STATIC_ASSERT static_assert
#else
#define SEQ_STATIC_ASSERT _Static_assert
#endif
SEQ_STATIC_ASSERT(sizeof(seq_level_t) == 16, "Level");
SEQ_STATIC_ASSERT(sizeof(seq_l2book_t) == 656, "L2Book");
SEQ_STATIC_ASSERT(sizeof(seq_features_t) == 72, "OnlineFeatures");
SEQ_STATIC_ASSERT(sizeof(seq_fill_t) == 48, "Fill");
SEQ_STATIC_ASSERT(sizeof(seq_reject_t) == 16, "Reject");
SEQ_STATIC_ASSERT(sizeof(seq_nbbo_t) == 48, "Nbbo");
SEQ_STATIC_ASSERT(sizeof(seq_position_t) == 16, "Position");
SEQ_STATIC_ASSERT(sizeof(seq_open_order_t) == 40, "OpenOrder");
SEQ_STATIC_ASSERT(sizeof(seq_algo_state_t) == 1576, "AlgoState");
SEQ_STATIC_ASSERT(sizeof(seq_action_t) == 32, "Action");
SEQ_STATIC_ASSERT(sizeof(seq_actions_t) == 520, "Actions");
SEQ_STATIC_ASSERT(sizeof(seq_message_t) == 296, "Message");
SEQ_STATIC_ASSERT(sizeof(seq_io_block_t) == 3232, "IoBlock");
SEQ_STATIC_ASSERT(offsetof(seq_io_block_t, actions) == 2416, "IoBlock.actions");

/* ---- Native path -------------------------------------------------------------------- */

/* Host services for a native instance; `ctx` is passed back to every call. Any function may
 * be NULL (the SDK then behaves as if the call failed). Semantics and return codes are those
 * of the WASM imports of the same names (docs/abi.md, "Host imports"). */
typedef struct SequenceHostApi {
    void *ctx;
    void (*log)(void *ctx, uint32_t level, const uint8_t *msg, uint32_t len);
    int32_t (*send)(void *ctx, const uint8_t *label, uint32_t label_len, const uint8_t *payload,
                    uint32_t payload_len);
    int64_t (*now_ns)(void *ctx);
    int32_t (*param)(void *ctx, const uint8_t *key, uint32_t key_len, uint8_t *buf, uint32_t cap);
    int64_t (*position)(void *ctx, uint32_t symbol_idx);
    int32_t (*symbol)(void *ctx, uint32_t idx, uint8_t *buf, uint32_t cap);
    int32_t (*venue_name)(void *ctx, uint32_t venue_idx, uint8_t *buf, uint32_t cap);
    int32_t (*subscribe)(void *ctx, const uint8_t *symbol, uint32_t len);   /* index or SEQ_SUB_ERR_* */
    int32_t (*unsubscribe)(void *ctx, const uint8_t *symbol, uint32_t len); /* 0 or SEQ_SUB_ERR_* */
} SequenceHostApi;

/* Returned by sequence_algo_vtable_v1(); static for the life of the library. Every pointer is
 * non-NULL. The host calls an optional callback if its SEQ_CAP_* bit is set; with
 * SEQ_CAP_EXTENDED_TABLE it may also call undeclared ones until they decline, and only then do
 * the fields after on_shutdown exist (a table without that bit ends at on_shutdown). Every on_* returns
 * SEQ_CALLBACK_OK, or SEQ_CALLBACK_PANICKED after which the instance refuses all callbacks
 * and the host must treat it as failed. Struct pointers must be 8-byte aligned. */
typedef struct SequenceAlgoVtable {
    uint32_t abi_version;  /* must equal SEQ_ABI_VERSION */
    uint32_t capabilities; /* SEQ_CAP_* bits */
    void *(*create)(const SequenceHostApi *host); /* host must outlive the instance; NULL on failure */
    void (*destroy)(void *instance);
    int32_t (*on_book)(void *instance, const seq_l2book_t *book, seq_algo_state_t *state,
                       const seq_features_t *features, seq_actions_t *actions);
    int32_t (*on_fill)(void *instance, const seq_fill_t *fill, seq_algo_state_t *state);
    int32_t (*on_reject)(void *instance, const seq_reject_t *reject);
    int32_t (*on_nbbo)(void *instance, const seq_nbbo_t *nbbo, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_message)(void *instance, const seq_message_t *message, seq_algo_state_t *state,
                          seq_actions_t *actions);
    int32_t (*on_heartbeat)(void *instance, uint64_t now_ns, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_start)(void *instance, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_stop)(void *instance, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_shutdown)(void *instance, seq_algo_state_t *state, seq_actions_t *actions);
    /* Present only with SEQ_CAP_EXTENDED_TABLE: */
    int32_t (*on_pause)(void *instance, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_resume)(void *instance, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_subscribed)(void *instance, uint32_t symbol_idx, seq_algo_state_t *state, seq_actions_t *actions);
    int32_t (*on_unsubscribed)(void *instance, uint32_t symbol_idx, seq_algo_state_t *state,
                               seq_actions_t *actions);
} SequenceAlgoVtable;

#define SEQ_NATIVE_VTABLE_SYMBOL "sequence_algo_vtable_v1"
typedef const SequenceAlgoVtable *(*sequence_algo_vtable_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SEQUENCE_ALGO_H */
