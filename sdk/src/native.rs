//! The native path (feature `std`): a `cdylib` exporting one C symbol,
//! `sequence_algo_vtable_v1`, which returns a pointer to a static `SequenceAlgoVtable`.
//! The same structs as the WASM IO block are passed by pointer; host services (`seq::*`,
//! `log`, `messaging::send`, `params`) go through the `SequenceHostApi` table the host passes
//! to `create`, which the SDK installs in a thread-local for the duration of each callback.
//! See `sdk/include/sequence_algo.h` and docs/abi.md ("Native path").
//!
//! There is no sandbox: the algorithm runs inside the edge process. A panic is caught at the
//! boundary (build with `panic = "unwind"`): its message is logged at ERROR through the host
//! table, the callback returns `CALLBACK_PANICKED` and the instance refuses every later
//! callback, so no unwind ever crosses the C ABI.

use core::ffi::c_void;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::abi::*;
use crate::traits::Algo;

pub const VTABLE_SYMBOL: &str = "sequence_algo_vtable_v1";
pub const CALLBACK_OK: i32 = 0;
/// The callback panicked (or an earlier one did); the host must fail the instance.
pub const CALLBACK_PANICKED: i32 = -1;

/// Host services for a native instance. `ctx` is passed back to every function; any function
/// may be NULL, in which case the SDK behaves as if the call failed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SequenceHostApi {
    pub ctx: *mut c_void,
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: *const u8, len: u32)>,
    pub send: Option<
        unsafe extern "C" fn(ctx: *mut c_void, label: *const u8, label_len: u32, payload: *const u8, len: u32) -> i32,
    >,
    pub now_ns: Option<unsafe extern "C" fn(ctx: *mut c_void) -> i64>,
    pub param:
        Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const u8, key_len: u32, buf: *mut u8, cap: u32) -> i32>,
    pub position: Option<unsafe extern "C" fn(ctx: *mut c_void, symbol_idx: u32) -> i64>,
    pub symbol: Option<unsafe extern "C" fn(ctx: *mut c_void, idx: u32, buf: *mut u8, cap: u32) -> i32>,
    pub venue_name: Option<unsafe extern "C" fn(ctx: *mut c_void, idx: u32, buf: *mut u8, cap: u32) -> i32>,
    /// Appended in the native loader's first release (see docs/abi.md, "Native path").
    pub subscribe: Option<unsafe extern "C" fn(ctx: *mut c_void, symbol: *const u8, len: u32) -> i32>,
    pub unsubscribe: Option<unsafe extern "C" fn(ctx: *mut c_void, symbol: *const u8, len: u32) -> i32>,
}

type Inst = *mut c_void;

/// The table behind `sequence_algo_vtable_v1`. Every pointer is non-NULL. The host calls an
/// optional callback if its bit is set in `capabilities` (see `abi::capability`), and, when
/// `EXTENDED_TABLE` is set, may also call undeclared ones until they decline (set
/// `ACTIONS_FLAG_DECLINED`). The fields after `on_shutdown` exist only when `EXTENDED_TABLE`
/// is set. Every `on_*` returns `CALLBACK_OK` or `CALLBACK_PANICKED`.
#[repr(C)]
pub struct SequenceAlgoVtable {
    pub abi_version: u32,
    pub capabilities: u32,
    /// Creates an instance; `host` must stay valid until `destroy`. NULL if construction panicked.
    pub create: unsafe extern "C" fn(host: *const SequenceHostApi) -> Inst,
    pub destroy: unsafe extern "C" fn(inst: Inst),
    pub on_book: unsafe extern "C" fn(
        inst: Inst,
        book: *const L2Book,
        state: *mut AlgoState,
        features: *const OnlineFeatures,
        actions: *mut Actions,
    ) -> i32,
    pub on_fill: unsafe extern "C" fn(inst: Inst, fill: *const Fill, state: *mut AlgoState) -> i32,
    pub on_reject: unsafe extern "C" fn(inst: Inst, reject: *const Reject) -> i32,
    pub on_nbbo:
        unsafe extern "C" fn(inst: Inst, nbbo: *const Nbbo, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_message:
        unsafe extern "C" fn(inst: Inst, message: *const Message, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_heartbeat: unsafe extern "C" fn(inst: Inst, now_ns: u64, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_start: unsafe extern "C" fn(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_stop: unsafe extern "C" fn(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_shutdown: unsafe extern "C" fn(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_pause: unsafe extern "C" fn(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_resume: unsafe extern "C" fn(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_subscribed:
        unsafe extern "C" fn(inst: Inst, symbol_idx: u32, state: *mut AlgoState, actions: *mut Actions) -> i32,
    pub on_unsubscribed:
        unsafe extern "C" fn(inst: Inst, symbol_idx: u32, state: *mut AlgoState, actions: *mut Actions) -> i32,
}

/// What `create` returns (opaque to the host).
pub struct Instance<A> {
    algo: A,
    host: *const SequenceHostApi,
    poisoned: bool,
}

thread_local! {
    // `const` initialisers: no lazy-init check on the hot path.
    static HOST: Cell<*const SequenceHostApi> = const { Cell::new(core::ptr::null()) };
    // Where and why the last panic on this thread happened (filled by the panic hook).
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

static HOOK: Once = Once::new();

/// Records each panic's location and message for the host log, then runs the previous hook
/// (which prints to the edge's stderr). Only panics of this library's code reach this hook.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = format!("{}", info);
            let _ = LAST_PANIC.try_with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    *p = text;
                }
            });
            previous(info);
        }));
    });
}

/// Logs a caught panic at ERROR through the host table (the host fails the instance with it).
fn report_panic(payload: Box<dyn std::any::Any + Send>, during: &str) {
    let recorded = LAST_PANIC.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let message = if !recorded.is_empty() {
        recorded
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    };
    let line = format!("panic in {}: {}", during, message);
    host_calls::log(crate::log::Level::Error as u32, line.as_bytes());
}

/// Boxes a new instance; called by the macro-generated `create`.
pub fn create<A: Algo>(host: *const SequenceHostApi, init: impl FnOnce() -> A) -> Inst {
    install_panic_hook();
    let previous = HOST.with(|h| h.replace(host));
    let built = catch_unwind(AssertUnwindSafe(init));
    let inst = match built {
        Ok(algo) => Box::into_raw(Box::new(Instance { algo, host, poisoned: false })) as Inst,
        Err(payload) => {
            report_panic(payload, "create");
            core::ptr::null_mut()
        }
    };
    HOST.with(|h| h.set(previous));
    inst
}

/// Runs `f` on the instance with its host table installed, catching panics.
#[inline(always)]
unsafe fn dispatch<A: Algo>(inst: Inst, during: &str, f: impl FnOnce(&mut A)) -> i32 {
    let inst = &mut *(inst as *mut Instance<A>);
    if inst.poisoned {
        return CALLBACK_PANICKED;
    }
    let previous = HOST.with(|h| h.replace(inst.host));
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut inst.algo)));
    let code = match result {
        Ok(()) => CALLBACK_OK,
        Err(payload) => {
            inst.poisoned = true;
            report_panic(payload, during);
            CALLBACK_PANICKED
        }
    };
    HOST.with(|h| h.set(previous));
    code
}

pub unsafe extern "C" fn destroy<A: Algo>(inst: Inst) {
    if !inst.is_null() {
        drop(Box::from_raw(inst as *mut Instance<A>));
    }
}

pub unsafe extern "C" fn on_book<A: Algo>(
    inst: Inst,
    book: *const L2Book,
    state: *mut AlgoState,
    features: *const OnlineFeatures,
    actions: *mut Actions,
) -> i32 {
    dispatch(inst, "on_book", |a: &mut A| a.on_book(&*book, &*state, &*features, &mut *actions))
}

pub unsafe extern "C" fn on_fill<A: Algo>(inst: Inst, fill: *const Fill, state: *mut AlgoState) -> i32 {
    dispatch(inst, "on_fill", |a: &mut A| a.on_fill(&*fill, &*state))
}

pub unsafe extern "C" fn on_reject<A: Algo>(inst: Inst, reject: *const Reject) -> i32 {
    dispatch(inst, "on_reject", |a: &mut A| a.on_reject(&*reject))
}

pub unsafe extern "C" fn on_nbbo<A: Algo>(
    inst: Inst,
    nbbo: *const Nbbo,
    state: *mut AlgoState,
    actions: *mut Actions,
) -> i32 {
    dispatch(inst, "on_nbbo", |a: &mut A| a.on_nbbo(&*nbbo, &*state, &mut *actions))
}

pub unsafe extern "C" fn on_message<A: Algo>(
    inst: Inst,
    message: *const Message,
    state: *mut AlgoState,
    actions: *mut Actions,
) -> i32 {
    let message = &*message;
    dispatch(inst, "on_message", |a: &mut A| a.on_message(message.from(), message.payload(), &*state, &mut *actions))
}

pub unsafe extern "C" fn on_heartbeat<A: Algo>(
    inst: Inst,
    now_ns: u64,
    state: *mut AlgoState,
    actions: *mut Actions,
) -> i32 {
    dispatch(inst, "on_heartbeat", |a: &mut A| a.on_heartbeat(now_ns, &*state, &mut *actions))
}

pub unsafe extern "C" fn on_start<A: Algo>(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32 {
    dispatch(inst, "on_start", |a: &mut A| a.on_start(&*state, &mut *actions))
}

pub unsafe extern "C" fn on_stop<A: Algo>(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32 {
    dispatch(inst, "on_stop", |a: &mut A| a.on_stop(&*state, &mut *actions))
}

pub unsafe extern "C" fn on_shutdown<A: Algo>(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32 {
    dispatch(inst, "on_shutdown", |a: &mut A| a.on_shutdown(&*state, &mut *actions))
}

pub unsafe extern "C" fn on_pause<A: Algo>(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32 {
    dispatch(inst, "on_pause", |a: &mut A| a.on_pause(&*state, &mut *actions))
}

pub unsafe extern "C" fn on_resume<A: Algo>(inst: Inst, state: *mut AlgoState, actions: *mut Actions) -> i32 {
    dispatch(inst, "on_resume", |a: &mut A| a.on_resume(&*state, &mut *actions))
}

pub unsafe extern "C" fn on_subscribed<A: Algo>(
    inst: Inst,
    symbol_idx: u32,
    state: *mut AlgoState,
    actions: *mut Actions,
) -> i32 {
    dispatch(inst, "on_subscribed", |a: &mut A| a.on_subscribed(symbol_idx as u16, &*state, &mut *actions))
}

pub unsafe extern "C" fn on_unsubscribed<A: Algo>(
    inst: Inst,
    symbol_idx: u32,
    state: *mut AlgoState,
    actions: *mut Actions,
) -> i32 {
    dispatch(inst, "on_unsubscribed", |a: &mut A| a.on_unsubscribed(symbol_idx as u16, &*state, &mut *actions))
}

/// `seq::sys` for native builds: calls through the installed host table.
pub(crate) mod host_calls {
    use super::{SequenceHostApi, HOST};
    use crate::messaging::SEND_ERR_BAD_LABEL;
    use crate::seq::SUB_ERR_NO_HOST;

    fn with_host<R>(f: impl FnOnce(&SequenceHostApi) -> Option<R>) -> Option<R> {
        let host = HOST.with(|h| h.get());
        if host.is_null() {
            None
        } else {
            f(unsafe { &*host })
        }
    }

    pub fn log(level: u32, msg: &[u8]) {
        with_host(|h| h.log.map(|f| unsafe { f(h.ctx, level, msg.as_ptr(), msg.len() as u32) }));
    }
    pub fn send(label: &[u8], payload: &[u8]) -> i32 {
        with_host(|h| {
            h.send.map(|f| unsafe {
                f(h.ctx, label.as_ptr(), label.len() as u32, payload.as_ptr(), payload.len() as u32)
            })
        })
        .unwrap_or(SEND_ERR_BAD_LABEL) // without a host no label can be routed
    }
    pub fn now_ns() -> i64 {
        with_host(|h| h.now_ns.map(|f| unsafe { f(h.ctx) })).unwrap_or(0)
    }
    pub fn param(key: &[u8], buf: &mut [u8]) -> i32 {
        with_host(|h| {
            h.param.map(|f| unsafe { f(h.ctx, key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), buf.len() as u32) })
        })
        .unwrap_or(-1)
    }
    pub fn position(symbol_idx: u32) -> i64 {
        with_host(|h| h.position.map(|f| unsafe { f(h.ctx, symbol_idx) })).unwrap_or(0)
    }
    pub fn symbol(idx: u32, buf: &mut [u8]) -> i32 {
        with_host(|h| h.symbol.map(|f| unsafe { f(h.ctx, idx, buf.as_mut_ptr(), buf.len() as u32) })).unwrap_or(-1)
    }
    pub fn venue_name(idx: u32, buf: &mut [u8]) -> i32 {
        with_host(|h| h.venue_name.map(|f| unsafe { f(h.ctx, idx, buf.as_mut_ptr(), buf.len() as u32) }))
            .unwrap_or(-1)
    }
    pub fn subscribe(symbol: &[u8]) -> i32 {
        with_host(|h| h.subscribe.map(|f| unsafe { f(h.ctx, symbol.as_ptr(), symbol.len() as u32) }))
            .unwrap_or(SUB_ERR_NO_HOST)
    }
    pub fn unsubscribe(symbol: &[u8]) -> i32 {
        with_host(|h| h.unsubscribe.map(|f| unsafe { f(h.ctx, symbol.as_ptr(), symbol.len() as u32) }))
            .unwrap_or(SUB_ERR_NO_HOST)
    }
}

/// Emits `extern "C" fn sequence_algo_vtable_v1() -> *const SequenceAlgoVtable` for an `Algo`
/// type, for a `cdylib` built with the `std` feature.
///
/// ```ignore
/// algo_sdk::export_native_algo!(MyStrategy);                         // MyStrategy::default()
/// algo_sdk::export_native_algo!(MyStrategy, capabilities = [OnNbbo, OnHeartbeat, OnStart]);
/// algo_sdk::export_native_algo!(MyStrategy { edge_bps: 3 }, capabilities = [OnMessage]);
/// ```
/// The list names the callbacks the host prepares from the start (`capability::DEFAULT`, every
/// one but OnNbbo, without a list). A callback the type implements but the list omits is still
/// received: the table is extended (`EXTENDED_TABLE`), so the host offers every callback and
/// stops only once the trait's default body declines. A trailing `abi_version = N` overrides
/// the reported version: it exists only to test that hosts refuse mismatches.
#[macro_export]
macro_rules! export_native_algo {
    (@emit $t:ident, ($init:expr), $caps:expr, $abi:expr) => {
        #[no_mangle]
        pub extern "C" fn sequence_algo_vtable_v1() -> *const $crate::native::SequenceAlgoVtable {
            unsafe extern "C" fn create(host: *const $crate::native::SequenceHostApi) -> *mut ::core::ffi::c_void {
                $crate::native::create::<$t>(host, || $init)
            }
            static VTABLE: $crate::native::SequenceAlgoVtable = $crate::native::SequenceAlgoVtable {
                abi_version: $abi,
                capabilities: $caps | $crate::abi::capability::EXTENDED_TABLE,
                create,
                destroy: $crate::native::destroy::<$t>,
                on_book: $crate::native::on_book::<$t>,
                on_fill: $crate::native::on_fill::<$t>,
                on_reject: $crate::native::on_reject::<$t>,
                on_nbbo: $crate::native::on_nbbo::<$t>,
                on_message: $crate::native::on_message::<$t>,
                on_heartbeat: $crate::native::on_heartbeat::<$t>,
                on_start: $crate::native::on_start::<$t>,
                on_stop: $crate::native::on_stop::<$t>,
                on_shutdown: $crate::native::on_shutdown::<$t>,
                on_pause: $crate::native::on_pause::<$t>,
                on_resume: $crate::native::on_resume::<$t>,
                on_subscribed: $crate::native::on_subscribed::<$t>,
                on_unsubscribed: $crate::native::on_unsubscribed::<$t>,
            };
            &VTABLE
        }
    };
    (@cap OnNbbo) => { $crate::abi::capability::OnNbbo };
    (@cap OnMessage) => { $crate::abi::capability::OnMessage };
    (@cap OnHeartbeat) => { $crate::abi::capability::OnHeartbeat };
    (@cap OnStart) => { $crate::abi::capability::OnStart };
    (@cap OnStop) => { $crate::abi::capability::OnStop };
    (@cap OnShutdown) => { $crate::abi::capability::OnShutdown };
    (@cap OnPause) => { $crate::abi::capability::OnPause };
    (@cap OnResume) => { $crate::abi::capability::OnResume };
    (@cap OnSubscribed) => { $crate::abi::capability::OnSubscribed };
    (@cap OnUnsubscribed) => { $crate::abi::capability::OnUnsubscribed };
    (@cap $other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown capability `", ::core::stringify!($other),
            "`: expected OnNbbo, OnMessage, OnHeartbeat, OnStart, OnStop, OnShutdown, OnPause, ",
            "OnResume, OnSubscribed or OnUnsubscribed"
        ))
    };
    (@opts $t:ident, ($init:expr), ) => {
        $crate::export_native_algo!(@emit $t, ($init), $crate::abi::capability::DEFAULT, $crate::abi::ABI_VERSION);
    };
    (@opts $t:ident, ($init:expr), abi_version = $v:expr) => {
        $crate::export_native_algo!(@emit $t, ($init), $crate::abi::capability::DEFAULT, $v);
    };
    (@opts $t:ident, ($init:expr), capabilities = [$($cap:ident),* $(,)?] $(,)?) => {
        $crate::export_native_algo!(@emit $t, ($init), 0 $(| $crate::export_native_algo!(@cap $cap))*,
                                    $crate::abi::ABI_VERSION);
    };
    (@opts $t:ident, ($init:expr), capabilities = [$($cap:ident),* $(,)?], abi_version = $v:expr) => {
        $crate::export_native_algo!(@emit $t, ($init), 0 $(| $crate::export_native_algo!(@cap $cap))*, $v);
    };
    ($t:ident { $($init:tt)* } $(, $($opt:tt)*)?) => {
        $crate::export_native_algo!(@opts $t, ($t { $($init)* }), $($($opt)*)?);
    };
    ($t:ident $(, $($opt:tt)*)?) => {
        $crate::export_native_algo!(@opts $t, (<$t as ::core::default::Default>::default()), $($($opt)*)?);
    };
}
