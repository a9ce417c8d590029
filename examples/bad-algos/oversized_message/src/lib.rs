//! Deliberately bad: on every book, sends a 300-byte message (the limit is 256) to "peer" and
//! logs the error code the host returns (-1, payload too large).

#![no_std]

use algo_sdk::*;

const OVERSIZED: usize = MAX_PAYLOAD + 44;

#[derive(Default)]
pub struct OversizedMessage;

impl Algo for OversizedMessage {
    fn on_book(&mut self, _book: &L2Book, _state: &AlgoState, _features: &OnlineFeatures, _actions: &mut Actions) {
        let payload = [0xAB_u8; OVERSIZED];
        match messaging::send("peer", &payload) {
            Ok(()) => error!("host accepted a {}-byte message", OVERSIZED),
            Err(e) => warn!("send of {} bytes refused with code {}: {}", OVERSIZED, e.code(), e),
        }
    }
}

export_algo!(OversizedMessage);
