//! A version's order key: a string whose byte order is semver's precedence, so a store can
//! index versions and answer "the builds between two versions" with a range scan.

use std::fmt::Write as _;

/// The order key of a semver version (with or without a leading `v`), or `None` when `version`
/// is not one. For any two versions `a` and `b`, `order_key(a).cmp(&order_key(b))` is semver's
/// precedence of `a` and `b`; build metadata does not count, as semver says.
///
/// ```
/// use cd_core::version::order_key;
///
/// let key = |v| order_key(v).unwrap();
/// assert!(key("v1.10.0") > key("v1.9.0"));
/// assert!(key("v1.2.0") > key("v1.2.0-rc.1"));
/// assert!(key("v1.2.0-rc.10") > key("v1.2.0-rc.9"));
/// assert!(key("v1.2.0-rc.1") > key("v1.2.0-rc"));
/// assert_eq!(key("v1.2.0+build.7"), key("1.2.0"));
/// assert_eq!(order_key("latest"), None);
/// ```
#[must_use]
pub fn order_key(version: &str) -> Option<String> {
    let v = semver::Version::parse(version.strip_prefix('v').unwrap_or(version)).ok()?;
    let mut key = format!("{:020}.{:020}.{:020}", v.major, v.minor, v.patch);
    if v.pre.is_empty() {
        // A release sorts after every pre-release of its numbers ('~' is above '-').
        key.push('~');
        return Some(key);
    }
    key.push('-');
    for identifier in v.pre.as_str().split('.') {
        key.push('.');
        if identifier.bytes().all(|b| b.is_ascii_digit()) {
            // Numeric identifiers (no leading zeros by semver) compare by length, then digits,
            // and below every alphanumeric one.
            let _ = write!(key, "0{:010}{identifier}", identifier.len());
        } else {
            // '!' ends an identifier below any character an identifier may hold, so "alpha"
            // sorts before "alpha-1" and "alphaB".
            let _ = write!(key, "1{identifier}!");
        }
    }
    // '!' also ends the list below the '.' that would start another identifier: a shorter list
    // sorts first when the rest is equal.
    key.push('!');
    Some(key)
}
