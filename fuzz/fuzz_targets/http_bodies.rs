//! Any bytes as the body of each CD Manager endpoint (the first byte picks which), read by the
//! API's own reader: refused with a field or read, never a panic. A read build notification
//! converts into the core's input; a list query's cursor is read or refused.
#![no_main]

use cd_core::pipeline::{ApprovalAction, BuildNotified};
use cd_service::api::{
    ApiError, ApprovalBody, BuildNotification, HoldBody, ListQuery, PushEnvelope, ReleaseBody,
    RollbackBody, StatusBody, parse_body,
};
use libfuzzer_sys::fuzz_target;

fn refused_well<T>(result: Result<T, ApiError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            assert_eq!(e.status(), 400, "{}", e.message());
            assert!(!e.message().is_empty());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 9 {
        0 => {
            if let Some(n) = refused_well(parse_body::<BuildNotification>(body)) {
                let n: BuildNotified = n.into();
                // What the reader accepted, the core's own serialization writes back readably.
                let again = serde_json::to_vec(&n).unwrap();
                let read: BuildNotified = cd_service::api::parse_notification(&again).unwrap();
                assert_eq!(read, n);
            }
        }
        1 => {
            if let Some(envelope) = refused_well(parse_body::<PushEnvelope>(body)) {
                use base64::Engine as _;
                if let Ok(data) =
                    base64::engine::general_purpose::STANDARD.decode(envelope.message.data.trim())
                {
                    let _ = cd_service::api::parse_notification(&data);
                }
            }
        }
        2 => {
            if let Some(b) = refused_well(parse_body::<StatusBody>(body)) {
                assert!(b.stage_index <= usize::from(u16::MAX));
            }
        }
        3 => {
            if let Some(b) = refused_well(parse_body::<ApprovalBody>(body)) {
                let action: ApprovalAction = b.action.into();
                assert!(matches!(
                    action,
                    ApprovalAction::Approve | ApprovalAction::Reject
                ));
            }
        }
        4 => {
            let _ = refused_well(parse_body::<ReleaseBody>(body));
        }
        5 => {
            let _ = refused_well(parse_body::<RollbackBody>(body));
        }
        6 => {
            let _ = refused_well(parse_body::<HoldBody>(body));
        }
        7 => {
            let _ = serde_urlencoded::from_bytes::<ListQuery>(body);
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body)
                && let Some(cursor) = cd_ports::ListCursor::parse(text)
            {
                assert_eq!(cd_ports::ListCursor::parse(&cursor.encode()), Some(cursor));
            }
        }
    }
});
