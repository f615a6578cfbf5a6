//! A job's request: `{"repositories": [...], "permissions": {...}}`, read strictly.

use std::collections::BTreeSet;

use serde_json::Value;

use super::permission::{Permissions, check_permission};

/// At most this many repositories in one request (GitHub's own limit for one token).
pub const MAX_REPOSITORIES: usize = 500;

/// What a job asks for: repositories of the broker's organization (lowercase, as GitHub
/// compares them) and permissions, both non-empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// Bare repository names, lowercased.
    pub repositories: BTreeSet<String>,
    /// Permissions by name.
    pub permissions: Permissions,
}

/// Why a request body was refused: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RequestError {
    /// The field at fault (`repositories[2]`, `permissions.contents`, or `body`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn fail(field: impl Into<String>, problem: impl Into<String>) -> RequestError {
    RequestError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Whether `name` is a bare GitHub repository name: 1 to 100 of `A-Z a-z 0-9 . _ -`, and not
/// `.` or `..`.
#[must_use]
pub fn is_repository_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl TokenRequest {
    /// Reads a request body. Unknown fields are refused, so a misspelt one is not silently
    /// ignored.
    ///
    /// # Errors
    /// [`RequestError`] naming the first field at fault.
    pub fn parse(body: &[u8]) -> Result<TokenRequest, RequestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| fail("body", format!("is not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(fail("body", "is not a JSON object"));
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "repositories" | "permissions"))
        {
            return Err(fail(
                unknown.clone(),
                "is not a field of a token request (repositories, permissions)",
            ));
        }
        let repositories = match fields.get("repositories") {
            None => return Err(fail("repositories", "is missing")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(fail("repositories", "is not a list of names")),
        };
        if repositories.is_empty() {
            return Err(fail(
                "repositories",
                "is empty: name every repository the token is for",
            ));
        }
        if repositories.len() > MAX_REPOSITORIES {
            return Err(fail(
                "repositories",
                format!("names more than {MAX_REPOSITORIES} repositories"),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, item) in repositories.iter().enumerate() {
            match item.as_str() {
                Some(name) if is_repository_name(name) => {
                    names.insert(name.to_ascii_lowercase());
                }
                Some(_) => {
                    return Err(fail(
                        format!("repositories[{i}]"),
                        "is not a bare repository name (letters, digits, '.', '_', '-'; no owner)",
                    ));
                }
                None => return Err(fail(format!("repositories[{i}]"), "is not a string")),
            }
        }
        let permissions = match fields.get("permissions") {
            None => return Err(fail("permissions", "is missing")),
            Some(Value::Object(p)) => p,
            Some(_) => return Err(fail("permissions", "is not an object of name: level")),
        };
        if permissions.is_empty() {
            return Err(fail(
                "permissions",
                "is empty: name every permission the token needs",
            ));
        }
        let mut levels = Permissions::new();
        for (name, level) in permissions {
            let field = format!("permissions.{name}");
            let Some(level) = level.as_str() else {
                return Err(fail(field, "is not a string (read, write or admin)"));
            };
            let level = check_permission(name, level).map_err(|e| fail(field, e))?;
            levels.insert(name.clone(), level);
        }
        Ok(TokenRequest {
            repositories: names,
            permissions: levels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Level;

    fn field(body: &str) -> String {
        TokenRequest::parse(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn reads_names_case_insensitively_and_levels() {
        let r = TokenRequest::parse(
            br#"{"repositories":["Go-Modules","go-modules","base.images"],"permissions":{"contents":"read","pull_requests":"write"}}"#,
        )
        .unwrap();
        assert_eq!(
            r.repositories.iter().collect::<Vec<_>>(),
            ["base.images", "go-modules"]
        );
        assert_eq!(r.permissions["contents"], Level::Read);
        assert_eq!(r.permissions["pull_requests"], Level::Write);
    }

    #[test]
    fn names_the_field_at_fault() {
        for (body, at) in [
            ("", "body"),
            ("[]", "body"),
            ("{\"repositories\":[\"a\"]}", "permissions"),
            ("{\"permissions\":{\"contents\":\"read\"}}", "repositories"),
            (
                "{\"repositories\":[],\"permissions\":{\"contents\":\"read\"}}",
                "repositories",
            ),
            (
                "{\"repositories\":\"a\",\"permissions\":{\"contents\":\"read\"}}",
                "repositories",
            ),
            (
                "{\"repositories\":[\"a\",1],\"permissions\":{\"contents\":\"read\"}}",
                "repositories[1]",
            ),
            (
                "{\"repositories\":[\"northwind/a\"],\"permissions\":{\"contents\":\"read\"}}",
                "repositories[0]",
            ),
            (
                "{\"repositories\":[\"..\"],\"permissions\":{\"contents\":\"read\"}}",
                "repositories[0]",
            ),
            (
                "{\"repositories\":[\"a\"],\"permissions\":{}}",
                "permissions",
            ),
            (
                "{\"repositories\":[\"a\"],\"permissions\":{\"contents\":\"all\"}}",
                "permissions.contents",
            ),
            (
                "{\"repositories\":[\"a\"],\"permissions\":{\"members\":\"read\"}}",
                "permissions.members",
            ),
            (
                "{\"repositories\":[\"a\"],\"permissions\":{\"contents\":true}}",
                "permissions.contents",
            ),
            (
                "{\"repositories\":[\"a\"],\"permissions\":{\"contents\":\"read\"},\"all\":true}",
                "all",
            ),
        ] {
            assert_eq!(field(body), at, "{body}");
        }
        let many: Vec<String> = (0..=MAX_REPOSITORIES).map(|i| format!("r{i}")).collect();
        let body = serde_json::json!({"repositories": many, "permissions": {"contents": "read"}});
        assert_eq!(field(&body.to_string()), "repositories");
    }
}
