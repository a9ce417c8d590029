//! The WASM side of the ABI: the IO block and the bodies of the exports `export_algo!` emits.
//!
//! The host writes a callback's inputs into the IO block, calls the export, and reads
//! `actions` (and `state.next_id`) back. Everything is in one static, so no callback allocates.

use crate::abi::IoBlock;
use crate::traits::Algo;

/// All-zero, so it lives in .bss and adds no bytes to the .wasm.
static mut IO: IoBlock = IoBlock::ZERO;

/// The IO block. Writing through this pointer is how an algorithm (or a deliberately broken
/// test algorithm) bypasses the SDK's safe API.
pub fn io_block() -> *mut IoBlock {
    unsafe { core::ptr::addr_of_mut!(IO) }
}

/// What `algo_io()` returns: the block's address in linear memory (8-byte aligned).
pub fn io_address() -> u32 {
    io_block() as usize as u32
}

// Safety of the functions below: the host calls one export at a time and never during
// another, so the `&mut` into the IO block is unique for the duration of the callback.

/// `symbol_idx` equals `book.symbol_idx`; the SDK reads the book's copy.
pub unsafe fn on_book<A: Algo>(algo: &mut A, _symbol_idx: u32) {
    let io = &mut *io_block();
    algo.on_book(&io.book, &io.state, &io.features, &mut io.actions);
}

pub unsafe fn on_fill<A: Algo>(algo: &mut A) {
    let io = &*io_block();
    algo.on_fill(&io.fill, &io.state);
}

pub unsafe fn on_reject<A: Algo>(algo: &mut A) {
    let io = &*io_block();
    algo.on_reject(&io.reject);
}

pub unsafe fn on_nbbo<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_nbbo(&io.nbbo, &io.state, &mut io.actions);
}

pub unsafe fn on_message<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_message(io.message.from(), io.message.payload(), &io.state, &mut io.actions);
}

pub unsafe fn on_heartbeat<A: Algo>(algo: &mut A, now_ns: u64) {
    let io = &mut *io_block();
    algo.on_heartbeat(now_ns, &io.state, &mut io.actions);
}

pub unsafe fn on_start<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_start(&io.state, &mut io.actions);
}

pub unsafe fn on_stop<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_stop(&io.state, &mut io.actions);
}

pub unsafe fn on_shutdown<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_shutdown(&io.state, &mut io.actions);
}

pub unsafe fn on_pause<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_pause(&io.state, &mut io.actions);
}

pub unsafe fn on_resume<A: Algo>(algo: &mut A) {
    let io = &mut *io_block();
    algo.on_resume(&io.state, &mut io.actions);
}

pub unsafe fn on_subscribed<A: Algo>(algo: &mut A, symbol_idx: u32) {
    let io = &mut *io_block();
    algo.on_subscribed(symbol_idx as u16, &io.state, &mut io.actions);
}

pub unsafe fn on_unsubscribed<A: Algo>(algo: &mut A, symbol_idx: u32) {
    let io = &mut *io_block();
    algo.on_unsubscribed(symbol_idx as u16, &io.state, &mut io.actions);
}

/// Emits the WASM exports of ABI v1 for an `Algo` type.
///
/// ```ignore
/// export_algo!(Maker { quoted: false });          // struct literal as the initial value
/// export_algo!(Maker);                            // Maker::default()
/// export_algo!(Hedger { .. }, capabilities = [OnNbbo, OnMessage, OnShutdown]);
/// ```
///
/// Every optional callback is exported, so a callback the type implements is always received;
/// the ones it does not implement run the trait's default body, which declines (see
/// `Actions::decline`) and the host stops calling them. A `capabilities` list is checked
/// (names: `OnNbbo`, `OnMessage`, `OnHeartbeat`, `OnStart`, `OnStop`, `OnShutdown`, `OnPause`,
/// `OnResume`, `OnSubscribed`, `OnUnsubscribed`) and documents intent; on the native path it
/// also tells the host what to prepare up front.
/// The instance is created on the first callback. A trailing `abi_version = N` overrides the
/// reported version: it exists only to test that hosts refuse mismatches.
#[macro_export]
macro_rules! export_algo {
    (@emit $t:ident, ($init:expr), [$($cap:ident),*], $abi:expr) => {
        $( $crate::export_algo!(@check $cap); )*
        #[doc(hidden)]
        mod __sequence_algo_exports {
            #[allow(unused_imports)]
            use super::*;

            static mut INSTANCE: ::core::option::Option<$t> = ::core::option::Option::None;

            fn instance() -> &'static mut $t {
                // One callback at a time on one thread: this is the only live reference.
                unsafe { (*::core::ptr::addr_of_mut!(INSTANCE)).get_or_insert_with(|| $init) }
            }

            #[no_mangle]
            pub extern "C" fn algo_abi_version() -> u32 {
                $abi
            }
            #[no_mangle]
            pub extern "C" fn algo_io() -> u32 {
                $crate::runtime::io_address()
            }
            #[no_mangle]
            pub extern "C" fn algo_on_book(symbol_idx: u32) {
                unsafe { $crate::runtime::on_book(instance(), symbol_idx) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_fill() {
                unsafe { $crate::runtime::on_fill(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_reject() {
                unsafe { $crate::runtime::on_reject(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_nbbo() {
                unsafe { $crate::runtime::on_nbbo(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_message() {
                unsafe { $crate::runtime::on_message(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_heartbeat(now_ns: u64) {
                unsafe { $crate::runtime::on_heartbeat(instance(), now_ns) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_start() {
                unsafe { $crate::runtime::on_start(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_stop() {
                unsafe { $crate::runtime::on_stop(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_shutdown() {
                unsafe { $crate::runtime::on_shutdown(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_pause() {
                unsafe { $crate::runtime::on_pause(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_resume() {
                unsafe { $crate::runtime::on_resume(instance()) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_subscribed(symbol_idx: u32) {
                unsafe { $crate::runtime::on_subscribed(instance(), symbol_idx) }
            }
            #[no_mangle]
            pub extern "C" fn algo_on_unsubscribed(symbol_idx: u32) {
                unsafe { $crate::runtime::on_unsubscribed(instance(), symbol_idx) }
            }
        }
    };
    (@check OnNbbo) => {};
    (@check OnMessage) => {};
    (@check OnHeartbeat) => {};
    (@check OnStart) => {};
    (@check OnStop) => {};
    (@check OnShutdown) => {};
    (@check OnPause) => {};
    (@check OnResume) => {};
    (@check OnSubscribed) => {};
    (@check OnUnsubscribed) => {};
    (@check $other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown capability `", ::core::stringify!($other),
            "`: expected OnNbbo, OnMessage, OnHeartbeat, OnStart, OnStop, OnShutdown, OnPause, ",
            "OnResume, OnSubscribed or OnUnsubscribed"
        ));
    };
    (@opts $t:ident, ($init:expr), ) => {
        $crate::export_algo!(@emit $t, ($init), [], $crate::abi::ABI_VERSION);
    };
    (@opts $t:ident, ($init:expr), capabilities = [$($cap:ident),* $(,)?] $(,)?) => {
        $crate::export_algo!(@emit $t, ($init), [$($cap),*], $crate::abi::ABI_VERSION);
    };
    (@opts $t:ident, ($init:expr), abi_version = $v:expr) => {
        $crate::export_algo!(@emit $t, ($init), [], $v);
    };
    (@opts $t:ident, ($init:expr), capabilities = [$($cap:ident),* $(,)?], abi_version = $v:expr) => {
        $crate::export_algo!(@emit $t, ($init), [$($cap),*], $v);
    };
    ($t:ident { $($init:tt)* } $(, $($opt:tt)*)?) => {
        $crate::export_algo!(@opts $t, ($t { $($init)* }), $($($opt)*)?);
    };
    ($t:ident $(, $($opt:tt)*)?) => {
        $crate::export_algo!(@opts $t, (<$t as ::core::default::Default>::default()), $($($opt)*)?);
    };
}
