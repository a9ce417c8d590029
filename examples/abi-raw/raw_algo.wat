;; An ABI v1 algorithm written by hand from docs/abi.md, without the SDK.
;;
;; On every book: if the instance has no open order and the book has a bid, place one limit
;; buy at the best bid for min(best bid quantity, 0.01). Logs once, on the first book.
;; Compiled to raw_algo.wasm by scripts/build_wasm.py (wasmtime.wat2wasm).
;;
;; Memory map: the message text at 256, the 3232-byte IO block at 1024 (8-byte aligned).
;; Absolute addresses below are 1024 + the IoBlock offset + the field offset from docs/abi.md:
;;   book.symbol_idx        1024 + 0            = 1024   (u16)
;;   book.bid_count         1024 + 2            = 1026   (u8)
;;   book.bids[0].px_1e8    1024 + 16 + 0       = 1040   (u64)
;;   book.bids[0].qty_1e8   1024 + 16 + 8       = 1048   (u64)
;;   state.next_id          1024 + 840 + 0      = 1864   (u64)
;;   state.open_order_count 1024 + 840 + 36     = 1900   (u32)
;;   actions.count          1024 + 2416 + 0     = 3440   (u32)
;;   actions.actions[0]     1024 + 2416 + 8     = 3448   (Action, 32 bytes)
(module
  (import "seq" "log" (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)

  (data (i32.const 256) "raw_algo: first book seen, bidding at the touch")
  (global $logged (mut i32) (i32.const 0))

  (func (export "algo_abi_version") (result i32)
    (i32.const 1))

  (func (export "algo_io") (result i32)
    (i32.const 1024))

  (func (export "algo_on_book") (param $symbol_idx i32)
    (local $id i64)
    (local $qty i64)
    ;; Log once (level 1 = INFO).
    (if (i32.eqz (global.get $logged))
      (then
        (call $log (i32.const 1) (i32.const 256) (i32.const 47))
        (global.set $logged (i32.const 1))))
    ;; Nothing to do without a bid, or while an order is still open.
    (if (i32.eqz (i32.load8_u (i32.const 1026)))
      (then (return)))
    (if (i32.ne (i32.load (i32.const 1900)) (i32.const 0))
      (then (return)))
    ;; qty = min(best bid quantity, 1_000_000); a zero-quantity level places nothing.
    (local.set $qty (i64.load (i32.const 1048)))
    (if (i64.gt_u (local.get $qty) (i64.const 1000000))
      (then (local.set $qty (i64.const 1000000))))
    (if (i64.eqz (local.get $qty))
      (then (return)))
    ;; Take an order id: read state.next_id and write it back incremented.
    (local.set $id (i64.load (i32.const 1864)))
    (i64.store (i32.const 1864) (i64.add (local.get $id) (i64.const 1)))
    ;; actions.actions[0] = PLACE BUY LIMIT on symbol_idx at the best bid.
    (i32.store8 (i32.const 3448) (i32.const 1))          ;; kind = ACTION_PLACE
    (i32.store8 (i32.const 3449) (i32.const 1))          ;; side = SIDE_BUY
    (i32.store8 (i32.const 3450) (i32.const 0))          ;; order_type = ORDER_LIMIT
    (i32.store8 (i32.const 3451) (i32.const 0))          ;; _pad0
    (i32.store16 (i32.const 3452) (local.get $symbol_idx)) ;; symbol_idx
    (i32.store16 (i32.const 3454) (i32.const 0))         ;; _pad1
    (i64.store (i32.const 3456) (local.get $id))         ;; order_id
    (i64.store (i32.const 3464) (i64.load (i32.const 1040))) ;; px_1e8 = best bid
    (i64.store (i32.const 3472) (local.get $qty))        ;; qty_1e8
    (i32.store (i32.const 3440) (i32.const 1)))          ;; actions.count = 1

  (func (export "algo_on_fill"))
  (func (export "algo_on_reject")))
