use cd_core::version::{
    Bump, CommitError, TitleVerdict, check_pr_title, parse_header, parse_message,
};

#[test]
fn parses_type_scope_bang_and_description() {
    let c = parse_header("feat(api,core)!: drop v1 endpoints").unwrap();
    assert_eq!(c.kind, "feat");
    assert_eq!(c.scope.as_deref(), Some("api,core"));
    assert!(c.breaking);
    assert_eq!(c.description, "drop v1 endpoints");
    assert_eq!(c.bump(), Bump::Major);
    let labels = c.labels();
    assert_eq!(labels.release, Some("release/major"));
    assert_eq!(labels.scope.as_deref(), Some("scope/api-core"));

    let c = parse_header("feat: search").unwrap();
    assert_eq!(
        (c.bump(), c.labels().release, c.labels().scope),
        (Bump::Minor, Some("release/minor"), None)
    );
    let c = parse_header("fix(ui): a \"!:\" in the text is not breaking").unwrap();
    assert!(!c.breaking);
    assert_eq!(c.labels().release, None);
}

#[test]
fn rejects_malformed_headers_with_the_reason() {
    for (header, reason) in [
        (
            "Feat: x",
            "the type 'Feat' holds an upper-case letter ('F')",
        ),
        ("fix-up: x", "the type 'fix-up' holds a '-'"),
        ("v2: x", "the type 'v2' holds a digit ('2')"),
        ("fix the bug: x", "the type 'fix the bug' holds a space"),
        (": x", "no type before the ':'"),
        ("feat:x", "': '"),
        ("feat(): x", "empty scope"),
        ("feat(api: x", "unclosed"),
        ("feat: ", "empty description"),
        ("update readme", "no ':' in it"),
    ] {
        let err = parse_header(header).unwrap_err();
        assert!(err.to_string().contains(reason), "{header}: {err}");
    }
    assert_eq!(parse_header(""), Err(CommitError::Empty));
    let err = parse_header("feature: x").unwrap_err();
    assert!(matches!(err, CommitError::UnknownType { .. }));
    assert!(err.to_string().contains("feat, fix, docs"));
}

#[test]
fn a_breaking_change_footer_makes_a_commit_breaking() {
    let c = parse_message("fix: rename flag\n\nBREAKING CHANGE: --old is gone\n").unwrap();
    assert!(c.breaking);
    let c = parse_message("fix: rename flag\n\nnot BREAKING CHANGE: here\n").unwrap();
    assert!(!c.breaking);
}

#[test]
fn pr_titles_allow_github_reverts_and_dependabot() {
    assert_eq!(
        check_pr_title("Revert \"feat: x\"", None),
        Ok(TitleVerdict::Revert)
    );
    assert_eq!(
        check_pr_title("Bump serde from 1.0.1 to 1.0.2", Some("dependabot[bot]")),
        Ok(TitleVerdict::Dependabot)
    );
    assert!(check_pr_title("Bump serde from 1.0.1 to 1.0.2", Some("jane")).is_err());
    assert!(check_pr_title("Revert \"\"", None).is_err());
    assert!(matches!(
        check_pr_title("docs: typo", None),
        Ok(TitleVerdict::Conventional(_))
    ));
}
