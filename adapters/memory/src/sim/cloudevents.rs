//! The CloudEvents 1.0 rules every published event keeps, checked by the random simulation on
//! each event as it is published (the JSON format, as `events.jsonl` and the structured mode
//! carry it).

use serde_json::Value;

/// The context attributes CloudEvents 1.0 defines that our events carry.
const ATTRIBUTES: [&str; 7] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
];

/// Checks one event in the CloudEvents JSON format against the specification: the required
/// attributes present and non-empty, `specversion` 1.0, `source` a URI-reference, `time` RFC
/// 3339, `datacontenttype` an RFC 2046 media type, attribute names lower-case letters and
/// digits of at most 20 characters, `data` JSON.
///
/// # Errors
/// What is wrong, naming the attribute.
pub(crate) fn check(event: &Value) -> Result<(), String> {
    let Some(object) = event.as_object() else {
        return Err("an event is not a JSON object".into());
    };
    let text = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
    for required in ["id", "source", "specversion", "type"] {
        if text(required).is_empty() {
            return Err(format!("required attribute {required} is missing or empty"));
        }
    }
    for name in object.keys().filter(|k| *k != "data") {
        let valid = !name.is_empty()
            && name.len() <= 20
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid || !ATTRIBUTES.contains(&name.as_str()) {
            return Err(format!("attribute {name} is not one the event declares"));
        }
        if !object.get(name).is_some_and(Value::is_string) {
            return Err(format!("attribute {name} is not a string"));
        }
    }
    if text("specversion") != "1.0" {
        return Err(format!("specversion is {}, not 1.0", text("specversion")));
    }
    let source = text("source");
    if source
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '\\'))
    {
        return Err(format!("source {source:?} is not a URI-reference"));
    }
    if let Some(subject) = object.get("subject")
        && subject.as_str().is_none_or(str::is_empty)
    {
        return Err("subject is empty".into());
    }
    if let Some(time) = object.get("time").and_then(Value::as_str) {
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("time {time:?} is not RFC 3339: {e}"))?;
    }
    if let Some(media) = object.get("datacontenttype").and_then(Value::as_str) {
        let token = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
        };
        let valid = media
            .split(';')
            .next()
            .and_then(|t| t.trim().split_once('/'))
            .is_some_and(|(t, sub)| token(t) && token(sub));
        if !valid {
            return Err(format!("datacontenttype {media:?} is not a media type"));
        }
        if media.starts_with("application/json") && !object.contains_key("data") {
            return Err("datacontenttype is JSON but there is no data".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    fn event() -> serde_json::Value {
        json!({
            "specversion": "1.0", "id": "d1-1", "source": "/infrastream/cd-manager",
            "type": "dev.infrastream.deployment.created", "subject": "d1",
            "time": "2026-11-27T02:19:52.123Z", "datacontenttype": "application/json",
            "data": {"deployment": "d1"},
        })
    }

    #[test]
    fn a_well_formed_event_passes() {
        assert_eq!(check(&event()), Ok(()));
    }

    #[test]
    fn each_rule_can_fail() {
        let broken = |name: &str, value: serde_json::Value| {
            let mut e = event();
            e[name] = value;
            check(&e).unwrap_err()
        };
        assert!(broken("time", json!(1_795_745_992_123_i64)).contains("time"));
        assert!(broken("time", json!("2026-11-27 02:19")).contains("RFC 3339"));
        assert!(broken("specversion", json!("0.3")).contains("1.0"));
        assert!(broken("id", json!("")).contains("id"));
        assert!(broken("source", json!("a b")).contains("URI-reference"));
        assert!(broken("datacontenttype", json!("json")).contains("media type"));
        assert!(broken("subject", json!("")).contains("subject"));
        assert!(broken("Extra", json!("x")).contains("Extra"));
    }
}
