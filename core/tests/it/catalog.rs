use cd_core::manifest::{Catalog, Problem, Source, Track};

use crate::example_files;

fn replace(files: &mut [(String, String)], path: &str, from: &str, to: &str) {
    let (_, text) = files.iter_mut().find(|(p, _)| p == path).expect(path);
    assert!(text.contains(from), "{path} does not contain {from:?}");
    *text = text.replacen(from, to, 1);
}

fn problems_with(files: Vec<(String, String)>) -> Vec<Problem> {
    let loaded = Catalog::load(files);
    assert!(!loaded.problems.is_empty(), "expected problems");
    loaded.problems
}

fn find<'a>(problems: &'a [Problem], kind: &str, name: &str, field: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| {
            p.kind.as_deref() == Some(kind)
                && p.name.as_deref() == Some(name)
                && p.field.as_deref() == Some(field)
        })
        .unwrap_or_else(|| panic!("no problem for {kind}/{name} {field} in {problems:#?}"))
}

#[test]
fn the_example_tenant_is_valid_and_resolves() {
    let loaded = Catalog::load(example_files());
    assert_eq!(loaded.problems, vec![], "example manifests must be valid");
    let c = loaded.catalog;
    assert_eq!(c.applications.len(), 3);
    assert_eq!(c.deployment_configs.len(), 9);
    assert_eq!(c.ignored.get("Organization"), Some(&1));

    let track = c.track_of("shop-api").unwrap();
    assert_eq!(track.name, "main");
    let release = track.stages(Track::Release);
    assert_eq!(release.len(), 2);
    let gate = release[1].approval.as_ref().unwrap();
    assert_eq!(gate.min_approvals, 2);
    // The group is named by its email in the track; its members resolve to user names.
    let who = c.stakeholders(gate);
    assert_eq!(who.into_iter().collect::<Vec<_>>(), ["jane", "li", "omar"]);
    assert_eq!(c.identity("omar@northwind.example"), "omar");
    // Who may act at all: users by name or primary email.
    assert!(c.knows("sam") && c.knows("jane@northwind.example"));
    assert!(!c.knows("mallory") && !c.knows("release-managers"));

    let apps = c.applications_for_build("shop-web", "shop-web");
    assert_eq!(apps.len(), 1);
    assert!(c.applications_for_build("shop-web", "shop-api").is_empty());
    let image = c.image_of("shop-worker").unwrap();
    assert_eq!(
        (image.name, image.registries),
        ("shop-worker", &["containers".to_string()][..])
    );
    let dc = c.deployment_config("shop-api", "staging").unwrap();
    assert_eq!(dc.origin.file, "apps/shop-api/deploy/staging.yaml");
    assert_eq!(dc.version.as_deref(), Some("v0.0.0"));
}

#[test]
fn a_missing_parent_names_file_object_and_field() {
    let mut files = example_files();
    replace(
        &mut files,
        "apps/shop-web/application.yaml",
        "application-set: shop",
        "application-set: shops",
    );
    let problems = problems_with(files);
    let p = find(
        &problems,
        "Application",
        "shop-web",
        "metadata.application-set",
    );
    assert_eq!(p.file, "apps/shop-web/application.yaml");
    assert_eq!(p.line, Some(2));
    assert!(
        p.to_string().contains("no ApplicationSet named 'shops'"),
        "{p}"
    );
}

#[test]
fn a_duplicate_name_points_at_the_first_declaration() {
    let mut files = example_files();
    files.push((
        "zz/dup.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: Environment\nmetadata:\n  name: staging\n".into(),
    ));
    let problems = problems_with(files);
    let p = find(&problems, "Environment", "staging", "metadata.name");
    assert_eq!(p.file, "zz/dup.yaml");
    assert!(p.message.contains("environments/staging.yaml:2"), "{p}");
}

#[test]
fn a_stage_environment_without_a_deployment_config_is_reported() {
    let mut files = example_files();
    files.retain(|(p, _)| p != "apps/shop-worker/deploy/staging.yaml");
    let problems = problems_with(files);
    let p = find(
        &problems,
        "ReleaseTrack",
        "main",
        "spec.releaseStages[0].environments[0]",
    );
    assert!(
        p.message
            .contains("'shop-worker' has no DeploymentConfig for environment 'staging'")
    );
    // Reported once, though hotfixStages name staging too.
    let count = problems
        .iter()
        .filter(|p| p.message.contains("shop-worker"))
        .count();
    assert_eq!(count, 1, "{problems:#?}");
}

#[test]
fn bad_enum_values_and_numbers_are_rejected_with_the_allowed_set() {
    let mut files = example_files();
    replace(
        &mut files,
        "apps/shop-api/application.yaml",
        "strategy: TRUNK_BASED",
        "strategy: TRUNK",
    );
    replace(
        &mut files,
        "tracks/main.yaml",
        "minApprovals: 2",
        "minApprovals: two",
    );
    let problems = problems_with(files);
    let p = find(&problems, "GithubRepository", "shop-api", "spec.strategy");
    assert!(
        p.message
            .contains("'TRUNK' is not one of GITHUB_FLOW, GIT_FLOW, TRUNK_BASED")
    );
    let p = find(
        &problems,
        "ReleaseTrack",
        "main",
        "spec.releaseStages[1].approvalPolicy.anyOf.minApprovals",
    );
    assert!(p.message.contains("'two'"), "{p}");
}

#[test]
fn an_unreachable_quorum_and_unknown_group_members_are_reported() {
    let mut files = example_files();
    replace(
        &mut files,
        "tracks/main.yaml",
        "minApprovals: 2",
        "minApprovals: 4",
    );
    replace(
        &mut files,
        "organization/people.yaml",
        "      - li\n",
        "      - lee\n",
    );
    let problems = problems_with(files);
    let p = find(
        &problems,
        "ReleaseTrack",
        "main",
        "spec.releaseStages[1].approvalPolicy.anyOf.minApprovals",
    );
    assert!(p.message.contains("could never open"), "{p}");
    let p = find(
        &problems,
        "OrganizationUserGroup",
        "release-managers",
        "spec.members.users[2]",
    );
    assert!(p.message.contains("'lee'"));
}

#[test]
fn references_to_builds_repositories_registries_and_groups_are_checked() {
    let mut files = example_files();
    replace(
        &mut files,
        "apps/shop-api/application.yaml",
        "buildDefinition: shop-api",
        "buildDefinition: api",
    );
    replace(
        &mut files,
        "apps/shop-web/application.yaml",
        "github-repository: shop-web",
        "github-repository: web",
    );
    replace(
        &mut files,
        "apps/shop-web/application.yaml",
        "      - containers",
        "      - dockerhub",
    );
    replace(
        &mut files,
        "tracks/main.yaml",
        "groupEmail: release-managers\n",
        "groupEmail: ops\n",
    );
    let problems = problems_with(files);
    find(&problems, "Application", "shop-api", "spec.buildDefinition");
    find(
        &problems,
        "BuildDefinition",
        "shop-web",
        "metadata.github-repository",
    );
    find(
        &problems,
        "BuildDefinition",
        "shop-web",
        "spec.containerize.registries[0]",
    );
    let p = find(
        &problems,
        "ReleaseTrack",
        "main",
        "spec.hotfixStages[1].approvalPolicy.anyOf.policies[0].stakeholder.groupEmail",
    );
    assert!(p.message.contains("'ops'"));
}

#[test]
fn a_deployment_config_must_name_an_application_and_environment() {
    let mut files = example_files();
    replace(
        &mut files,
        "apps/shop-api/deploy/staging.yaml",
        "environment: staging",
        "environment: stage",
    );
    let problems = problems_with(files);
    let p = find(
        &problems,
        "DeploymentConfig",
        "shop-api",
        "metadata.environment",
    );
    assert!(p.message.contains("no Environment named 'stage'"));
}

#[test]
fn syntax_errors_and_wrong_shapes_are_problems_not_panics() {
    let mut files = example_files();
    files.push(("broken.yaml".into(), "kind: [unclosed\n".into()));
    files.push((
        "shape.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: ReleaseTrack\nmetadata:\n  name: t2\nspec:\n  releaseStages: oops\n"
            .into(),
    ));
    files.push((
        "noname.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: Environment\nmetadata: {}\n".into(),
    ));
    let problems = problems_with(files);
    let p = problems.iter().find(|p| p.file == "broken.yaml").unwrap();
    assert!(p.message.starts_with("invalid YAML"), "{p}");
    let p = find(&problems, "ReleaseTrack", "t2", "spec.releaseStages");
    assert!(p.message.contains("expected a list, found a scalar"));
    let p = problems.iter().find(|p| p.file == "noname.yaml").unwrap();
    assert_eq!(p.field.as_deref(), Some("metadata.name"));
}

#[test]
fn unknown_kinds_fields_and_foreign_yaml_are_ignored() {
    let mut files = example_files();
    files.push((
        ".github/workflows/ci.yaml".into(),
        "name: CI\non: push\njobs: {}\n".into(),
    ));
    files.push((
        "extra.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: Project\nmetadata:\n  name: p\n---\n---\n".into(),
    ));
    replace(
        &mut files,
        "apps/shop-api/application.yaml",
        "  target: CLOUD_RUN\n",
        "  target: CLOUD_RUN\n  somethingNew: {deep: [1, 2]}\n",
    );
    let loaded = Catalog::load(files);
    assert_eq!(loaded.problems, vec![]);
    assert_eq!(loaded.catalog.ignored.get("Project"), Some(&1));
    assert!(loaded.catalog.foreign_documents >= 1);
    assert_eq!(loaded.catalog.other_api_versions, vec![]);
}

#[test]
fn a_misspelt_kind_is_a_problem_naming_the_kind_it_meant() {
    let mut files = example_files();
    files.push((
        "apps/typo.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: Aplication\nmetadata:\n  name: x\n".into(),
    ));
    files.push((
        "apps/case.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: deploymentconfig\nmetadata:\n  name: y\n".into(),
    ));
    let problems = problems_with(files);
    let typo = problems
        .iter()
        .find(|p| p.file == "apps/typo.yaml")
        .unwrap();
    assert_eq!(
        typo.to_string(),
        "apps/typo.yaml:2: Aplication/x: kind: unknown kind 'Aplication'; the closest known kind is 'Application'"
    );
    let case = problems
        .iter()
        .find(|p| p.file == "apps/case.yaml")
        .unwrap();
    assert!(case.message.ends_with("'DeploymentConfig'"), "{case}");
}

#[test]
fn documents_of_another_api_version_are_listed_not_dropped() {
    let mut files = example_files();
    files.push((
        "apps/next.yaml".into(),
        "apiVersion: lowops.manifests.v2\nkind: Application\nmetadata:\n  name: z\n".into(),
    ));
    let loaded = Catalog::load(files);
    assert_eq!(loaded.problems, vec![]);
    assert_eq!(
        loaded.catalog.other_api_versions,
        vec![(
            "apps/next.yaml".to_string(),
            "lowops.manifests.v2".to_string()
        )]
    );
    assert!(!loaded.catalog.applications.contains_key("z"));
}

#[test]
fn a_deployment_config_version_must_be_an_image_tag() {
    for (bad, says) in [
        ("\"v1.2 .0\"", "'v1.2 .0' is not a valid image tag"),
        ("\"v1.2.0!\"", "'v1.2.0!' is not a valid image tag"),
        ("\"\"", "is empty"),
        ("\"-v1\"", "'-v1' is not a valid image tag"),
    ] {
        let mut files = example_files();
        replace(
            &mut files,
            "apps/shop-api/deploy/development.yaml",
            "version: v0.0.0",
            &format!("version: {bad}"),
        );
        let problems = problems_with(files);
        let p = find(&problems, "DeploymentConfig", "shop-api", "spec.version");
        assert!(p.message.starts_with(says), "{bad}: {p}");
        assert_eq!(p.file, "apps/shop-api/deploy/development.yaml");
    }
}

#[test]
fn external_applications_have_an_image_and_no_build() {
    let mut files = example_files();
    files.push((
        "apps/search.yaml".into(),
        "apiVersion: lowops.manifests.v1\nkind: ExternalApplication\nmetadata:\n  name: search\n  application-set: shop\nspec:\n  image: opensearch\n  registries: [containers]\n"
            .into(),
    ));
    for env in ["development", "staging", "production"] {
        files.push((
            format!("apps/search-{env}.yaml"),
            format!("apiVersion: lowops.manifests.v1\nkind: DeploymentConfig\nmetadata:\n  name: search\n  environment: {env}\nspec:\n  version: 2.11.0\n"),
        ));
    }
    let catalog = Catalog::load_valid(files).unwrap();
    let app = &catalog.applications["search"];
    assert!(matches!(app.source, Source::External { .. }));
    assert_eq!(catalog.image_of("search").unwrap().name, "opensearch");
    assert!(
        catalog
            .applications_for_build("search", "opensearch")
            .is_empty()
    );
}

#[test]
fn loading_never_panics_on_arbitrary_text() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&"(?s).{0,400}", |text| {
            let _ = Catalog::load([("f.yaml", text.as_str())]);
            Ok(())
        })
        .unwrap();
    // YAML-shaped noise reaches deeper than random characters.
    let piece = prop_oneof![
        Just("apiVersion: lowops.manifests.v1\n"),
        Just("kind: ReleaseTrack\n"),
        Just("kind: DeploymentConfig\n"),
        Just("metadata:\n  name: x\n"),
        Just("spec:\n"),
        Just("  releaseStages:\n"),
        Just("    - environments: [a]\n"),
        Just("      approvalPolicy: {anyOf: {minApprovals: 0}}\n"),
        Just("  version: &a [*a]\n"),
        Just("---\n"),
        Just("<<: *a\n"),
        Just("  - \"q\n"),
    ];
    runner
        .run(&proptest::collection::vec(piece, 0..16), |pieces| {
            let text: String = pieces.concat();
            let _ = Catalog::load([("f.yaml", text.as_str())]);
            Ok(())
        })
        .unwrap();
}

#[test]
fn token_policies_are_held_to_their_grammar_and_the_tenants_repositories() {
    let loaded = Catalog::load(example_files());
    let policy = &loaded.catalog.token_policies["shop-api-reads-shop-libs"];
    assert_eq!(policy.grant.repositories, ["shop-libs"]);
    assert_eq!(
        policy.grant.permissions["contents"],
        cd_core::broker::Level::Read
    );

    let mut files = example_files();
    let path = "organization/tokens.yaml";
    replace(&mut files, path, "northwind/shop-api", "shop-api");
    replace(&mut files, path, "\"700000101\"", "\"70a\"");
    replace(&mut files, path, "\"refs/heads/main\"", "\"heads/main\"");
    replace(
        &mut files,
        path,
        "\"pull_request\"]",
        "\"pull_request_target\"]",
    );
    replace(
        &mut files,
        path,
        "[shop-libs]",
        "[shop-libs, go-modules, northwind/x]",
    );
    replace(
        &mut files,
        path,
        "{contents: read}",
        "{contents: admin, members: read}",
    );
    let problems = problems_with(files);
    let name = "shop-api-reads-shop-libs";
    for (field, says) in [
        ("spec.subject.repository", "not owner/name"),
        ("spec.subject.repositoryId", "not a repository id"),
        ("spec.subject.refs[0]", "not a ref pattern"),
        ("spec.subject.events[1]", "never matches"),
        (
            "spec.grant.repositories[1]",
            "no GithubRepository named 'go-modules'",
        ),
        ("spec.grant.repositories[2]", "not a bare repository name"),
        (
            "spec.grant.permissions.contents",
            "not a level of 'contents'",
        ),
        (
            "spec.grant.permissions.members",
            "not a repository permission",
        ),
    ] {
        let p = find(&problems, "TokenPolicy", name, field);
        assert!(p.message.contains(says), "{field}: {}", p.message);
        assert_eq!(p.file, path);
    }

    let mut files = example_files();
    replace(
        &mut files,
        path,
        "    refs: [\"refs/heads/main\", \"refs/heads/release/*\", \"refs/pull/*/merge\"]\n",
        "",
    );
    replace(
        &mut files,
        path,
        "permissions: {contents: read}",
        "permissions: {}",
    );
    let problems = problems_with(files);
    assert!(
        find(&problems, "TokenPolicy", name, "spec.subject.refs")
            .message
            .contains("at least one")
    );
    assert!(
        find(&problems, "TokenPolicy", name, "spec.grant.permissions")
            .message
            .contains("at least one")
    );
}
