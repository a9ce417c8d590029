//! Mesh ping (bench/mesh_algo_hop.py): one algorithm, deployed twice. The instance given a `to`
//! param sends an 8-byte sequence number to that label from `on_book`, at most every
//! `interval_us`; every instance counts what `on_message` brings. The host timestamps each
//! `seq.send`, so the receiving edge measures send-in-algo -> on_message-in-algo.
//!
//! Params: to = "" (no sending), interval_us = 1000.

#![no_std]

use algo_sdk::*;

pub struct Ping {
    loaded: bool,
    to: [u8; 32],
    to_len: usize,
    interval_ns: u64,
    next_ns: u64,
    sent: u64,
    received: u64,
}

impl Ping {
    fn load_params(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        self.interval_ns = params::get_u64("interval_us").unwrap_or(1000) * 1000;
        let mut buf = [0u8; 32];
        if let Some(to) = params::get_str("to", &mut buf) {
            self.to_len = to.len();
            self.to[..to.len()].copy_from_slice(to.as_bytes());
        }
    }

    fn to(&self) -> &str {
        core::str::from_utf8(&self.to[..self.to_len]).unwrap_or("")
    }
}

impl Algo for Ping {
    fn on_book(&mut self, _book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {
        self.load_params();
        if self.to_len == 0 {
            return;
        }
        let now = seq::now_ns();
        if now < self.next_ns {
            return;
        }
        self.next_ns = now + self.interval_ns;
        self.sent += 1;
        if let Err(e) = messaging::send(self.to(), &self.sent.to_le_bytes()) {
            warn!("ping {} not sent: {} (code {})", self.sent, e, e.code());
        }
    }

    fn on_message(&mut self, from: &str, payload: &[u8], _state: &AlgoState, _actions: &mut Actions) {
        self.received += 1;
        if self.received % 1000 == 0 {
            info!("{} pings received (last from {}, {} bytes)", self.received, from, payload.len());
        }
    }

    fn on_start(&mut self, _state: &AlgoState, _actions: &mut Actions) {
        self.load_params();
        if self.to_len > 0 {
            info!("pinging {} every {} us", self.to(), self.interval_ns / 1000);
        } else {
            info!("waiting for pings");
        }
    }
}

export_algo!(
    Ping { loaded: false, to: [0; 32], to_len: 0, interval_ns: 1_000_000, next_ns: 0, sent: 0, received: 0 },
    capabilities = [OnMessage, OnStart]
);
