//! Any bytes as a Pub/Sub message: streamed (the data is the notification) and pushed (the
//! body is an envelope whose data is base64 of it), read by the one notification reader. Read
//! or refused, never a panic; both paths agree on the same data.
#![no_main]

use base64::Engine as _;
use cd_service::api::{PushEnvelope, parse_body, parse_notification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let streamed = parse_notification(data);
    // The same data pushed: wrapped in an envelope, as Pub/Sub does.
    let envelope = serde_json::json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": "1",
        },
        "subscription": "projects/p/subscriptions/s",
    });
    let pushed: PushEnvelope = parse_body(envelope.to_string().as_bytes()).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(pushed.message.data.trim())
        .unwrap();
    assert_eq!(decoded, data);
    assert_eq!(parse_notification(&decoded), streamed);
    // And the envelope itself from outside.
    if let Ok(envelope) = parse_body::<PushEnvelope>(data)
        && let Ok(inner) =
            base64::engine::general_purpose::STANDARD.decode(envelope.message.data.trim())
    {
        let _ = parse_notification(&inner);
    }
});
