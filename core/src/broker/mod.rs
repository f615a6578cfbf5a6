//! The Token Broker's decision: which GitHub token, if any, a CI job may have.
//!
//! A job proves who it is with its GitHub Actions OIDC token (verified elsewhere; here it is
//! the [`Subject`] its claims describe) and asks for repositories and permissions
//! ([`TokenRequest`]). [`decide`] allows the request when one [`TokenPolicy`]'s subject
//! matches the job and that same policy's grant covers everything asked for; grants of several
//! policies never combine. The token is then requested with exactly what was asked.
//!
//! [`TokenPolicy`]: crate::manifest::TokenPolicy

mod decide;
mod pattern;
mod permission;
mod request;

pub use decide::{Grant, Refusal, Subject, decide, subject_matches};
pub use pattern::{is_pattern, matches};
pub use permission::{Level, PERMISSIONS, Permissions, check_permission};
pub use request::{MAX_REPOSITORIES, RequestError, TokenRequest, is_repository_name};
