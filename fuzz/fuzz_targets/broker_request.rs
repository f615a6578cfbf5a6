//! Any bytes as what reaches the Token Broker: a bearer token (parsed before anything is
//! fetched), its claims, and a request body. Each is refused with a reason or read, never a
//! panic; a body that is read names valid repositories and permissions, and the decision on
//! it is made without a panic.
#![no_main]

use cd_core::broker::{Subject, TokenRequest, decide, is_repository_name};
use cd_core::manifest::{Origin, TokenGrant, TokenPolicy, TokenSubject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cd_oidc::Unverified::parse(text);
        if let Ok(serde_json::Value::Object(claims)) = serde_json::from_str(text) {
            let _ = cd_oidc::Standard::check(&claims, "https://i", "https://b", 1_800_000_000);
            let _ = cd_oidc::ActionsClaims::read(&claims);
        }
    }
    if let Ok(request) = TokenRequest::parse(data) {
        assert!(!request.repositories.is_empty() && !request.permissions.is_empty());
        assert!(request.repositories.iter().all(|r| is_repository_name(r)));
        let policy = TokenPolicy {
            name: "p".into(),
            organization: "northwind".into(),
            subject: TokenSubject {
                repository: "northwind/shop-api".into(),
                repository_id: "1".into(),
                refs: vec!["refs/heads/*".into()],
                events: vec!["push".into()],
                workflow_refs: vec![],
            },
            grant: TokenGrant {
                repositories: vec!["shop-libs".into()],
                permissions: request.permissions.clone(),
            },
            origin: Origin {
                file: "f".into(),
                line: 1,
            },
        };
        let subject = Subject {
            repository: "northwind/shop-api".into(),
            repository_id: "1".into(),
            git_ref: "refs/heads/main".into(),
            event_name: "push".into(),
            job_workflow_ref: None,
        };
        let allowed = decide([&policy], &subject, &request).is_ok();
        assert_eq!(
            allowed,
            request.repositories.iter().all(|r| r == "shop-libs")
        );
    }
});
