//! The one HTTP client the CI tools use (GitHub's API, the Token Broker): blocking `ureq`,
//! no async runtime to start in a CI step.

use std::time::Duration;

/// 30 s for a whole call; every status answered, since callers read the error bodies.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}
