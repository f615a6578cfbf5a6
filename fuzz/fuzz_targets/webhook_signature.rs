//! Any bytes as the engine's signature header and the body it claims to sign: the header is
//! read or refused before the body matters, verification never panics, a body's own signature
//! always verifies, and a well-formed signature of other bytes does not.
#![no_main]

use cd_service::auth::{parse_signature, sign, verify};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or_default();
    let header = String::from_utf8_lossy(header);
    let parsed = parse_signature(&header);
    let verified = verify(SECRET, &header, body);
    assert!(
        !verified || parsed.is_some(),
        "verified an unreadable header"
    );
    let own = sign(SECRET, body);
    assert!(parse_signature(&own).is_some());
    assert!(verify(SECRET, &own, body));
    if verified {
        assert_eq!(parse_signature(&header), parse_signature(&own));
    }
    let mut other = body.to_vec();
    other.push(0);
    assert!(!verify(SECRET, &own, &other));
});
