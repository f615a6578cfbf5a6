use cd_core::manifest::{Catalog, EditError, Selector, set_version};
use proptest::prelude::*;

use crate::example_files;

const REAL_SHAPE: &str = "\
apiVersion: lowops.manifests.v1
kind: DeploymentConfig
metadata:
  name: api # the application
  environment: production
spec:
  description: \"API: bookings\"
  # Injected at deploy time.
  container:
    env:
      - name: LOG_LEVEL
        value: info

  ports:
    8080: http
  scaling: &scale
    min: 1
  version: \"0.1.0\" # placeholder until the first build
  # trailing comment in spec
other: *scale
---
# a second document
apiVersion: lowops.manifests.v1
kind: Environment
metadata: {name: production}
";

fn changed_lines(before: &str, after: &str) -> Vec<(usize, String, String)> {
    before
        .lines()
        .zip(after.lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i + 1, a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn replaces_only_the_value_keeping_quotes_and_comments() {
    let out = set_version(REAL_SHAPE, Selector::Only, "v1.4.2").unwrap();
    assert_eq!(
        changed_lines(REAL_SHAPE, &out),
        vec![(
            18,
            "  version: \"0.1.0\" # placeholder until the first build".into(),
            "  version: \"v1.4.2\" # placeholder until the first build".into()
        )]
    );
    assert_eq!(out.len(), REAL_SHAPE.len() + 1);
}

#[test]
fn keeps_single_quotes_and_writes_plain_when_plain() {
    let sq = "kind: DeploymentConfig\nspec:\n  version: 'v1'\n";
    assert_eq!(
        set_version(sq, Selector::Only, "v2").unwrap(),
        "kind: DeploymentConfig\nspec:\n  version: 'v2'\n"
    );
    let plain = "kind: DeploymentConfig\nspec:\n  version: v1   # c\n";
    assert_eq!(
        set_version(plain, Selector::Only, "shop-2026.11-rc.0").unwrap(),
        "kind: DeploymentConfig\nspec:\n  version: shop-2026.11-rc.0   # c\n"
    );
}

#[test]
fn quotes_a_plain_value_that_would_not_read_back_as_a_string() {
    let plain = "kind: DeploymentConfig\nspec:\n  version: v1\n";
    for v in ["1.0", "10", "true", "null", "1e3", "0x1F"] {
        let out = set_version(plain, Selector::Only, v).unwrap();
        assert!(out.contains(&format!("version: \"{v}\"\n")), "{v}: {out}");
    }
    let out = set_version(plain, Selector::Only, "1.0.0").unwrap();
    assert!(out.contains("version: 1.0.0\n"), "{out}");
}

#[test]
fn adds_a_missing_version_as_the_last_key_of_spec() {
    let text = "kind: DeploymentConfig\nspec:\n    scaling:\n        min: 1\n    notes: |\n        # not a comment\n        line two\n\n    # about other\nother: 1\n";
    let out = set_version(text, Selector::Only, "v3.0.0").unwrap();
    assert_eq!(
        out,
        "kind: DeploymentConfig\nspec:\n    scaling:\n        min: 1\n    notes: |\n        # not a comment\n        line two\n    version: v3.0.0\n\n    # about other\nother: 1\n"
    );
    // Also at the very end of a file without a final newline, with CRLF line endings.
    let crlf = "kind: DeploymentConfig\r\nspec:\r\n  a: 1";
    assert_eq!(
        set_version(crlf, Selector::Only, "v1").unwrap(),
        "kind: DeploymentConfig\r\nspec:\r\n  a: 1\r\n  version: v1"
    );
}

#[test]
fn fills_an_empty_version() {
    let text = "kind: DeploymentConfig\nspec:\n  version:\n  a: 1\n";
    assert_eq!(
        set_version(text, Selector::Only, "v1").unwrap(),
        "kind: DeploymentConfig\nspec:\n  version: v1\n  a: 1\n"
    );
}

#[test]
fn selects_by_application_and_environment() {
    let text = "kind: DeploymentConfig\nmetadata: {name: a, environment: dev}\nspec:\n  version: v1\n---\nkind: DeploymentConfig\nmetadata: {name: a, environment: prod}\nspec:\n  version: v1\n";
    assert_eq!(
        set_version(text, Selector::Only, "v2"),
        Err(EditError::Ambiguous { count: 2 })
    );
    let out = set_version(
        text,
        Selector::Named {
            application: "a",
            environment: "prod",
        },
        "v2",
    )
    .unwrap();
    assert_eq!(
        changed_lines(text, &out),
        vec![(9, "  version: v1".into(), "  version: v2".into())]
    );
    assert!(matches!(
        set_version(
            text,
            Selector::Named {
                application: "b",
                environment: "prod"
            },
            "v2"
        ),
        Err(EditError::NotFound { .. })
    ));
}

#[test]
fn refuses_what_it_cannot_edit_exactly() {
    type Expect = fn(&EditError) -> bool;
    let cases: [(&str, Expect); 8] = [
        ("kind: Environment\nspec: {}\n", |e| {
            matches!(e, EditError::NoDeploymentConfig)
        }),
        ("kind: DeploymentConfig\nmetadata: {}\n", |e| {
            matches!(e, EditError::MissingSpec { .. })
        }),
        ("kind: DeploymentConfig\nspec: 3\n", |e| {
            matches!(e, EditError::MissingSpec { .. })
        }),
        ("kind: DeploymentConfig\nspec:\n  version: [1]\n", |e| {
            matches!(
                e,
                EditError::NotScalar {
                    found: "a list",
                    ..
                }
            )
        }),
        (
            "kind: DeploymentConfig\nspec:\n  version: |\n    v1\n",
            |e| matches!(e, EditError::Unsupported { .. }),
        ),
        ("kind: DeploymentConfig\nspec: {a: 1}\n", |e| {
            matches!(e, EditError::Unsupported { .. })
        }),
        ("kind: DeploymentConfig\nspec: [\n", |e| {
            matches!(e, EditError::Syntax { .. })
        }),
        // Adding after a block scalar of blank lines would change how it parses.
        (
            "kind: DeploymentConfig\nspec:\n  a: |\n     \n     \n---\nkind: X\n",
            |e| matches!(e, EditError::Unsupported { .. }),
        ),
    ];
    for (text, is_expected) in cases {
        let err = set_version(text, Selector::Only, "v1").unwrap_err();
        assert!(is_expected(&err), "{text:?} gave {err:?}");
    }
    let err = set_version(REAL_SHAPE, Selector::Only, "v1 && rm -rf /").unwrap_err();
    assert!(matches!(err, EditError::InvalidVersion { .. }));
    assert!(err.to_string().contains("not a valid version"));
}

#[test]
fn an_alias_version_is_not_edited_through_its_anchor() {
    let text = "kind: DeploymentConfig\nbase: &v v1\nspec:\n  version: *v\n";
    assert!(matches!(
        set_version(text, Selector::Only, "v2"),
        Err(EditError::NotScalar {
            found: "an alias",
            ..
        })
    ));
    // A version merged in from an anchor is overridden by a key of spec's own, not edited.
    let merged = "kind: DeploymentConfig\nbase: &b {version: v1}\nspec:\n  <<: *b\n  a: 1\n";
    let out = set_version(merged, Selector::Only, "v2").unwrap();
    assert_eq!(out, format!("{merged}  version: v2\n"));
}

#[test]
fn every_example_deployment_config_changes_by_exactly_one_line() {
    for (path, text) in example_files()
        .into_iter()
        .filter(|(p, _)| p.contains("/deploy/"))
    {
        let out = set_version(&text, Selector::Only, "v9.9.9").unwrap();
        let changed = changed_lines(&text, &out);
        assert_eq!(changed.len(), 1, "{path}");
        assert!(changed[0].2.contains("v9.9.9"), "{path}");
        assert_eq!(text.lines().count(), out.lines().count(), "{path}");
    }
}

fn version_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..50, 0u32..50, 0u32..50).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (0u32..9, 0u32..9).prop_map(|(a, n)| format!("shop-2026.{a}-rc.{n}")),
        (0u32..9, 0u32..9).prop_map(|(a, n)| format!("v1.{a}.0-hotfix.{n}")),
        Just("1.0".to_string()),
        Just("7".to_string()),
    ]
}

/// One key/value line (or a small block) of spec, in a random style.
fn spec_entry() -> impl Strategy<Value = String> {
    let key = "[a-z]{1,8}".prop_filter("not version", |k| k != "version");
    prop_oneof![
        (key.clone(), "[a-z0-9 ]{0,10}").prop_map(|(k, v)| format!("{k}: {v}\n")),
        (key.clone(), "[a-z0-9 #:]{0,10}").prop_map(|(k, v)| format!("{k}: \"{v}\"\n")),
        (key.clone(), "[a-z]{1,6}").prop_map(|(k, v)| format!("{k}:\n  - {v}\n  - x\n")),
        (key.clone(), "[a-z]{1,6}").prop_map(|(k, v)| format!("{k}:\n  inner: {v} # note\n")),
        // A block scalar of blank lines only is refused (see `refuses_what_it_cannot_edit_exactly`).
        (key.clone(), "[a-z][a-z #]{0,9}").prop_map(|(k, v)| format!("{k}: |\n  {v}\n  {v}\n")),
        "[a-z ]{0,20}".prop_map(|c| format!("# {c}\n")),
        Just("\n".to_string()),
    ]
}

fn old_version() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("version: v0.0.1".to_string())),
        Just(Some("version: \"0.1.0\"".to_string())),
        Just(Some("version: 'v2.0.0' # pinned".to_string())),
        Just(Some("version:".to_string())),
    ]
}

/// A DeploymentConfig file with random spec content, indentation and surrounding documents.
fn document() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![2usize, 4]),
        proptest::collection::vec(spec_entry(), 1..8),
        old_version(),
        0usize..8,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(indent, entries, old, at, before, after)| {
            let pad = " ".repeat(indent);
            let mut body: Vec<String> = entries
                .into_iter()
                .map(|e| e.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("{pad}{l}\n") }).collect())
                .collect();
            // Every spec needs a key on its first line for the indentation to be known.
            body.insert(0, format!("{pad}description: generated\n"));
            if let Some(v) = old {
                let at = 1 + at % body.len();
                body.insert(at, format!("{pad}{v}\n"));
            }
            let mut text = String::new();
            if before {
                text.push_str("# leading document\nkind: Environment\nmetadata:\n  name: dev\n---\n");
            }
            text.push_str("apiVersion: lowops.manifests.v1\nkind: DeploymentConfig\nmetadata:\n  name: app\n  environment: dev\nspec:\n");
            text.push_str(&body.concat());
            if after {
                text.push_str("---\nkind: Other\nspec:\n  version: untouched\n");
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_edit_changes_one_line_or_adds_one_and_reads_back(text in document(), version in version_strategy()) {
        let had_version = text.lines().any(|l| l.trim_start().starts_with("version:") && !l.contains("untouched"));
        let out = set_version(&text, Selector::Only, &version);
        let out = match out {
            Ok(out) => out,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        let before: Vec<&str> = text.lines().collect();
        let after: Vec<&str> = out.lines().collect();
        if had_version {
            prop_assert_eq!(before.len(), after.len());
            let diffs = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            prop_assert!(diffs <= 1, "{} lines changed", diffs);
        } else {
            prop_assert_eq!(before.len() + 1, after.len());
            let added = (0..after.len()).find(|i| {
                let mut without = after.clone();
                without.remove(*i);
                without == before
            });
            prop_assert!(added.is_some(), "not a single added line:\n{}", out);
        }
        let catalog = Catalog::load([("f.yaml", out.as_str())]).catalog;
        let dc = catalog.deployment_config("app", "dev").expect("still a DeploymentConfig");
        prop_assert_eq!(dc.version.as_deref(), Some(version.as_str()));
        // Idempotent: setting the same version again changes nothing.
        prop_assert_eq!(set_version(&out, Selector::Only, &version).unwrap(), out.clone());
    }

    #[test]
    fn never_panics_on_arbitrary_text(text in "(?s).{0,300}", version in "[ -~]{0,12}") {
        let _ = set_version(&text, Selector::Only, &version);
    }
}
