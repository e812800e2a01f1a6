//! A control request line as the server decodes it: arbitrary bytes never
//! panic the decoder, and a request that decodes encodes back to one that
//! decodes to the same request.

#![no_main]

use drover::control::protocol::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes) {
        let again = serde_json::to_vec(&envelope).expect("an envelope always encodes");
        let back: Envelope = serde_json::from_slice(&again).expect("its own encoding decodes");
        assert_eq!(back.v, envelope.v);
        assert_eq!(back.request, envelope.request);
    }
});
