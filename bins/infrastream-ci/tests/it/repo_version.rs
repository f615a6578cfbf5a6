//! `compute-version` on repositories the tests build: merges, side branches, pre-release and
//! hotfix tags, a tag on HEAD, collisions, shallow clones, no tags, a thousand tags; and a
//! property test against the brute-force answer of `git tag --merged`.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

use crate::{stderr, stdout};

pub(crate) struct Repo {
    _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    n: std::cell::Cell<u32>,
}

fn git_in(path: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Repo {
    pub(crate) fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        std::fs::create_dir_all(&path).unwrap();
        let repo = Repo {
            _dir: dir,
            path,
            n: std::cell::Cell::new(0),
        };
        repo.git(&["init", "--quiet", "-b", "main"]);
        repo.git(&["config", "user.name", "Dev"]);
        repo.git(&["config", "user.email", "dev@example.invalid"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["config", "tag.gpgsign", "false"]);
        repo
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        git_in(&self.path, args)
    }

    pub(crate) fn commit(&self, message: &str) -> String {
        let n = self.n.get() + 1;
        self.n.set(n);
        // A file per commit: merges of any two branches never conflict.
        let file = format!("f{n}");
        std::fs::write(self.path.join(&file), n.to_string()).unwrap();
        self.git(&["add", &file]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub(crate) fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
            .arg("compute-version")
            .args(["--repo", &self.path.to_string_lossy()])
            .args(args)
            .env_remove("GITHUB_OUTPUT")
            .env_remove("GITHUB_REF_NAME")
            .output()
            .unwrap()
    }

    fn target(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_string()
        };
        (get("current_version"), get("target_version"))
    }
}

#[test]
fn no_tags_at_all_starts_from_zero() {
    let r = Repo::new();
    r.commit("feat: first");
    assert_eq!(r.target(&[]), ("v0.0.0".into(), "v0.0.1".into()));
    assert_eq!(r.target(&["--labels", "release/major"]).1, "v1.0.0");
}

#[test]
fn the_base_is_the_highest_release_tag_merged_into_head() {
    let r = Repo::new();
    r.commit("feat: a");
    r.tag("v1.2.0");
    r.commit("fix: b");
    r.tag("v1.10.0");
    // A side branch with a higher tag that is never merged.
    r.git(&["checkout", "--quiet", "-b", "experiment"]);
    r.commit("feat: experiment");
    r.tag("v9.0.0");
    r.git(&["checkout", "--quiet", "main"]);
    // A feature branch with a tag, merged with a merge commit.
    r.git(&["checkout", "--quiet", "-b", "feature"]);
    r.commit("feat: feature");
    r.tag("v1.11.0");
    r.git(&["checkout", "--quiet", "main"]);
    r.commit("fix: on main meanwhile");
    r.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge feature",
        "feature",
    ]);
    // Pre-release and hotfix tags never count as a base.
    r.tag("v2.0.0-alpha.0");
    r.commit("fix: after");
    assert_eq!(
        r.target(&["--labels", "release/minor"]),
        ("v1.11.0".into(), "v1.12.0".into())
    );
}

#[test]
fn pre_release_numbers_count_existing_tags_and_a_tag_on_head_skips() {
    let r = Repo::new();
    r.commit("feat: a");
    r.tag("v2.0.0");
    r.commit("fix: b");
    r.tag("v2.0.0-hotfix.0");
    r.commit("fix: c");
    assert_eq!(r.target(&["--release-type", "HOTFIX"]).1, "v2.0.0-hotfix.1");
    assert_eq!(r.target(&["--release-type", "alpha"]).1, "v2.0.0-alpha.0");
    // A rerun on a tagged HEAD: skip, and report HEAD's tag.
    r.tag("v2.0.1");
    let out = stdout(&r.run(&[]));
    assert!(out.contains("target_version=v2.0.1\nskip=true\n"), "{out}");
}

#[test]
fn a_computed_tag_on_another_commit_is_an_error_that_still_prints_the_base() {
    let r = Repo::new();
    r.commit("feat: a");
    r.tag("v1.0.0");
    r.git(&["checkout", "--quiet", "-b", "side"]);
    r.commit("fix: elsewhere");
    r.tag("v1.0.1");
    r.git(&["checkout", "--quiet", "main"]);
    r.commit("fix: here");
    let out = r.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "current_version=v1.0.0\n");
    assert!(
        stderr(&out).contains("v1.0.1 already exists on another commit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn squash_merges_and_conventional_commits_choose_the_bump() {
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v0.4.2");
    r.commit("fix(api): handle empty carts (#12)");
    assert_eq!(r.target(&["--bump-from", "commits"]).1, "v0.4.3");
    r.commit("feat(api): carts expire (#13)");
    assert_eq!(r.target(&["--bump-from", "commits"]).1, "v0.5.0");
    r.commit("feat(api)!: drop v1 endpoints (#14)");
    assert_eq!(r.target(&["--bump-from", "commits"]).1, "v1.0.0");
}

#[test]
fn branches_choose_the_release_type_by_strategy() {
    let r = Repo::new();
    r.commit("feat: a");
    r.tag("v3.1.0");
    r.commit("fix: b");
    let t = |args: &[&str]| r.target(args).1;
    assert_eq!(t(&["--branch", "main"]), "v3.1.1");
    assert_eq!(t(&["--branch", "release/shop/2026.11"]), "v3.1.0-hotfix.0");
    assert_eq!(
        t(&["--branch", "develop", "--strategy", "GIT_FLOW"]),
        "v3.1.0-alpha.0"
    );
    assert_eq!(
        t(&["--branch", "release/shop/2026.11", "--strategy", "GIT_FLOW"]),
        "v3.1.0-beta.0"
    );
    assert_eq!(
        t(&["--branch", "hotfix/login", "--strategy", "git_flow"]),
        "v3.1.0-hotfix.0"
    );
    // The strategies' patterns, exactly: a release branch is release/<set>/<bundle>.
    let out = stdout(&r.run(&["--branch", "release/3.2", "--strategy", "TRUNK_BASED"]));
    assert!(out.contains("release_type=NONE"), "{out}");
    let out = stdout(&r.run(&["--branch", "feature/x"]));
    assert!(out.contains("skip=true\nrelease_type=NONE"), "{out}");
    // An explicit release type wins over the branch.
    assert_eq!(
        t(&["--branch", "feature/x", "--release-type", "LATEST"]),
        "v3.1.1"
    );
}

#[test]
fn a_shallow_clone_is_refused_with_the_fix_unless_allowed() {
    let r = Repo::new();
    r.commit("feat: a");
    r.tag("v1.0.0");
    r.commit("fix: b");
    r.commit("fix: c");
    let clone = r.path.with_file_name("shallow");
    let url = format!("file://{}", r.path.display());
    git_in(
        r.path.parent().unwrap(),
        &[
            "clone",
            "--quiet",
            "--depth",
            "1",
            &url,
            &clone.to_string_lossy(),
        ],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(["compute-version", "--repo", &clone.to_string_lossy()])
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_REF_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("fetch-depth: 0"), "{}", stderr(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args([
            "compute-version",
            "--repo",
            &clone.to_string_lossy(),
            "--allow-shallow",
        ])
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_REF_NAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn not_a_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(["compute-version", "--repo", &dir.path().to_string_lossy()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_thousand_tags() {
    let r = Repo::new();
    let mut updates = String::new();
    for n in 0..40 {
        let commit = r.commit(&format!("fix: {n}"));
        for m in 0..25 {
            updates.push_str(&format!("create refs/tags/v{n}.{m}.0 {commit}\n"));
        }
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(&r.path)
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(updates.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    r.commit("fix: last");
    assert_eq!(r.target(&[]), ("v39.24.0".into(), "v39.24.1".into()));
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Step {
    Commit,
    Tag(u8, u8, u8, bool),
    Branch,
    Switch,
    Merge,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Commit),
        3 => (0u8..4, 0u8..4, 0u8..4, any::<bool>()).prop_map(|(a, b, c, annotated)| Step::Tag(a, b, c, annotated)),
        1 => Just(Step::Branch),
        1 => Just(Step::Switch),
        1 => Just(Step::Merge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// On random histories, the base agrees with the brute force: every tag `git tag --merged`
    /// lists, filtered to `vX.Y.Z`, the highest.
    #[test]
    fn the_base_agrees_with_git_tag_merged(
        steps in prop::collection::vec(step(), 1..30),
        graph in 0u8..3,
    ) {
        let r = Repo::new();
        r.commit("init");
        let mut branches = vec!["main".to_string()];
        let mut current = 0usize;
        for s in &steps {
            match s {
                Step::Commit => { r.commit("fix: x"); }
                Step::Tag(a, b, c, annotated) => {
                    let name = format!("v{a}.{b}.{c}");
                    let exists = !r.git(&["tag", "-l", &name]).is_empty();
                    if !exists && *annotated {
                        r.git(&["tag", "-a", "-m", "release", &name]);
                    } else if !exists {
                        r.tag(&name);
                    }
                }
                Step::Branch => {
                    let name = format!("b{}", branches.len());
                    r.git(&["checkout", "--quiet", "-b", &name]);
                    branches.push(name);
                    current = branches.len() - 1;
                }
                Step::Switch => {
                    current = (current + 1) % branches.len();
                    r.git(&["checkout", "--quiet", &branches[current]]);
                }
                Step::Merge => {
                    let other = &branches[(current + 1) % branches.len()];
                    if *other != branches[current] {
                        r.git(&["merge", "--quiet", "--no-ff", "--no-edit", "-m", "merge", other]);
                    }
                }
            }
        }
        // Loose refs and no commit-graph (git answers); refs packed and a commit-graph (both
        // read in-process); or a graph and a pack that HEAD has outgrown (a loose branch ref,
        // a commit outside the graph: git answers the ancestry again).
        if graph > 0 {
            r.git(&["pack-refs", "--all"]);
            r.git(&["commit-graph", "write", "--reachable"]);
        }
        if graph == 2 {
            r.commit("fix: after the graph");
        }
        let merged = r.git(&["tag", "--merged", "HEAD"]);
        let oracle = merged
            .lines()
            .filter_map(|t| {
                let v = t.strip_prefix('v')?;
                let p: Vec<u64> = v.split('.').map(|x| x.parse().ok()).collect::<Option<_>>()?;
                (p.len() == 3).then(|| (p[0], p[1], p[2]))
            })
            .max()
            .map_or("v0.0.0".to_string(), |(a, b, c)| format!("v{a}.{b}.{c}"));
        let out = r.run(&["--release-type", "NONE"]);
        let text = stdout(&out);
        prop_assert!(text.starts_with(&format!("current_version={oracle}\n")), "{} vs oracle {}", text, oracle);
    }
}

fn ci_in(repo: &Repo, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(args)
        .args(["--repo", &repo.path.to_string_lossy()])
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap()
}

#[test]
fn commits_lint_annotates_each_bad_commit_and_fails() {
    let r = Repo::new();
    let base = r.commit("chore: init");
    r.commit("feat(cart): totals");
    let bad = r.commit("fixed stuff");
    r.commit("fix!: drop v1");
    let out = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{base}..HEAD")],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "::error title=Conventional commit {}::",
            &bad[..12]
        )),
        "{text}"
    );
    assert!(text.contains("2 of 3 commit(s)"), "{text}");
    let good = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{base}..HEAD~1")],
    );
    assert_eq!(good.status.code(), Some(1), "the bad one is still in range");
    let only_good = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{base}..HEAD~2")],
    );
    assert_eq!(only_good.status.code(), Some(0), "{}", stdout(&only_good));
}

#[test]
fn lint_names_the_fault_and_refuses_a_reversed_range() {
    let r = Repo::new();
    let base = r.commit("chore: init");
    let bad = r.commit("fix-up: typo");
    r.commit("v2: new api");
    let out = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{base}..HEAD")],
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "::error title=Conventional commit {}::the type 'fix-up' holds a '-'",
            &bad[..12]
        )),
        "{text}"
    );
    assert!(text.contains("the type 'v2' holds a digit ('2')"), "{text}");
    // Backwards, the range holds nothing: an error, not "0 of 0 follow".
    let reversed = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("HEAD..{base}")],
    );
    assert_eq!(reversed.status.code(), Some(2));
    assert!(
        stderr(&reversed).contains(&format!("the range HEAD..{base} is reversed")),
        "{}",
        stderr(&reversed)
    );
    // In a push's workflow, backwards is a force push that rewound the branch: its tip is
    // judged alone.
    let pushed = std::process::Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(["commits", "lint", "--range", &format!("HEAD..{base}")])
        .args(["--repo", &r.path.to_string_lossy()])
        .env("GITHUB_EVENT_NAME", "push")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap();
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    assert!(
        stdout(&pushed).contains("1 of 1 commit(s)"),
        "{}",
        stdout(&pushed)
    );
    r.tag("v1.0.0");
    let reversed = ci_in(&r, &["changelog", "--from", "v1.0.0", "--to", &base]);
    assert_eq!(reversed.status.code(), Some(2), "{}", stdout(&reversed));
}

#[test]
fn every_conventional_commit_is_listed_whatever_its_type() {
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v1.0.0");
    r.commit("ci(dockerized): raise the PID limit");
    r.commit("test: cover carts");
    r.commit("Revert \"feat: carts\"");
    r.commit("build: bump the toolchain");
    let out = ci_in(&r, &["changelog", "--from", "v1.0.0"]);
    let md = stdout(&out);
    for line in [
        "### Continuous integration",
        "- **dockerized:** raise the PID limit",
        "### Tests",
        "- cover carts",
        "### Reverts",
        "- feat: carts",
        "### Build",
    ] {
        assert!(md.contains(line), "no {line:?} in:\n{md}");
    }
    assert!(!md.contains("left out"), "{md}");
}

#[test]
fn pr_titles_get_their_labels_or_an_error() {
    let r = Repo::new();
    r.commit("chore: init");
    let ok = ci_in(
        &r,
        &["commits", "lint", "--pr-title", "feat(cart,api): totals"],
    );
    assert!(ok.status.success());
    assert_eq!(stdout(&ok), "labels=release/minor,scope/cart-api\n");
    let breaking = ci_in(
        &r,
        &["commits", "lint", "--pr-title", "refactor!: new store"],
    );
    assert_eq!(stdout(&breaking), "labels=release/major\n");
    let bad = ci_in(&r, &["commits", "lint", "--pr-title", "Update things"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stdout(&bad).starts_with("::error title=PR title::"),
        "{}",
        stdout(&bad)
    );
    let revert = ci_in(&r, &["commits", "lint", "--pr-title", "Revert \"feat: x\""]);
    assert!(revert.status.success());
    let bot = ci_in(
        &r,
        &[
            "commits",
            "lint",
            "--pr-title",
            "Bump serde from 1.0.1 to 1.0.2",
            "--pr-author",
            "dependabot[bot]",
        ],
    );
    assert!(bot.status.success());
    assert!(stdout(&bot).contains("::warning"));
}

#[test]
fn changelogs_group_by_type_with_breaking_changes_first_and_link_to_github() {
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v1.0.0");
    r.commit("fix(api): handle empty carts (#12)");
    r.commit("feat(cart): carts expire (#13)");
    r.commit("not conventional at all");
    r.commit("feat(api)!: drop v1 endpoints (#14)");
    r.commit("docs: explain carts");
    r.tag("v2.0.0");
    r.git(&[
        "remote",
        "add",
        "origin",
        "git@github.com:northwind/shop-api.git",
    ]);
    let out = ci_in(&r, &["changelog", "--from", "v1.0.0", "--to", "v2.0.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    let at = |s: &str| md.find(s).unwrap_or_else(|| panic!("no '{s}' in:\n{md}"));
    assert!(at("### Breaking changes") < at("### Features"));
    assert!(at("### Features") < at("### Fixes"));
    assert!(at("### Fixes") < at("### Documentation"));
    assert!(
        md.contains(
            "- **api:** drop v1 endpoints ([#14](https://github.com/northwind/shop-api/pull/14)"
        ),
        "{md}"
    );
    assert!(md.contains("- **cart:** carts expire ([#13]"), "{md}");
    assert!(!md.contains("not conventional at all"), "{md}");
    assert!(
        md.contains("4 of 5 commits listed; left out: 1 not conventional commits (`infrastream commits lint --range v1.0.0..v2.0.0` names them)."),
        "{md}"
    );
    let json = ci_in(
        &r,
        &[
            "changelog",
            "--from",
            "v1.0.0",
            "--to",
            "v2.0.0",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["type"], "fix");
    assert_eq!(entries[0]["pr"], 12);
    assert_eq!(entries[2]["breaking"], true);
    // The document CI hands to `notify --changelog`: the entries a deployment records.
    let document: cd_core::pipeline::ChangelogDocument =
        serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(document.entries[1].scope.as_deref(), Some("cart"));
    assert_eq!(document.entries[1].pr, Some(13));
    assert!(document.entries.iter().all(|e| e.application.is_empty()));
}

#[test]
fn an_octopus_merge_in_the_commit_graph_counts_every_parent() {
    let r = Repo::new();
    r.commit("chore: init");
    for (branch, tag) in [("a", "v1.0.0"), ("b", "v3.0.0"), ("c", "v2.0.0")] {
        r.git(&["checkout", "--quiet", "-b", branch, "main"]);
        r.commit(&format!("feat: {branch}"));
        r.tag(tag);
    }
    r.git(&["checkout", "--quiet", "-b", "unmerged", "main"]);
    r.commit("feat: never merged");
    r.tag("v9.0.0");
    r.git(&["checkout", "--quiet", "main"]);
    r.git(&[
        "merge",
        "--quiet",
        "--no-edit",
        "-m",
        "octopus",
        "a",
        "b",
        "c",
    ]);
    r.git(&["commit-graph", "write", "--reachable"]);
    assert_eq!(r.target(&["--release-type", "NONE"]).0, "v3.0.0");
}

/// A one-shot server answering GitHub's "pull requests associated with a commit" as the API
/// documents it; returns its URL and the request it saw.
fn fake_github(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8192];
        let n = stream.read(&mut buf).unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).into_owned();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
        request
    });
    (url, handle)
}

#[test]
fn the_bump_can_come_from_the_pull_request_on_github() {
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v1.4.0");
    let head = r.commit("Refactor the store (#77)");
    // Both spellings: `--bump-from github`, and its shorthand `--from-github`.
    for spelling in [&["--bump-from", "github"][..], &["--from-github"][..]] {
        let (url, seen) = fake_github(
            r#"[{"number":77,"title":"refactor!: new store","labels":[{"id":1,"name":"release/major"},{"id":2,"name":"scope/store"}],"user":{"login":"omar"}}]"#,
        );
        let out = Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
            .args(["compute-version", "--repo", &r.path.to_string_lossy()])
            .args(spelling)
            .env("GITHUB_API_URL", &url)
            .env("GITHUB_REPOSITORY", "northwind/shop-api")
            .env("GITHUB_TOKEN", "ghs_test")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("GITHUB_REF_NAME")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("target_version=v2.0.0\n"),
            "{}",
            stdout(&out)
        );
        let request = seen.join().unwrap();
        assert!(
            request.starts_with(&format!(
                "GET /repos/northwind/shop-api/commits/{head}/pulls "
            )),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("authorization: bearer ghs_test"),
            "{request}"
        );
    }
}

#[test]
fn odd_repositories_give_git_tag_merged_answers() {
    // A tag with a leading zero is not a release tag (semver), so it never becomes the base.
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v01.2.3");
    r.tag("v1.2.3");
    r.commit("fix: a");
    assert_eq!(r.target(&[]).0, "v1.2.3");

    // A graft rewrites history after the commit-graph was written: git's answer wins.
    let r = Repo::new();
    let first = r.commit("chore: init");
    r.tag("v1.0.0");
    r.commit("fix: a");
    r.git(&["checkout", "--quiet", "--orphan", "other"]);
    r.commit("feat: elsewhere");
    r.tag("v5.0.0");
    r.git(&["checkout", "--quiet", "main"]);
    r.git(&["pack-refs", "--all"]);
    r.git(&["commit-graph", "write", "--reachable"]);
    r.git(&["replace", "--graft", &first, "v5.0.0"]);
    let merged = r.git(&["tag", "--merged", "HEAD"]);
    assert!(merged.contains("v5.0.0"), "{merged}");
    assert_eq!(r.target(&["--release-type", "NONE"]).0, "v5.0.0");

    // HEAD on a symbolic branch ref (a master -> main alias).
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v2.0.0");
    r.commit("fix: a");
    r.git(&["pack-refs", "--all"]);
    r.git(&["symbolic-ref", "refs/heads/trunk", "refs/heads/main"]);
    r.git(&["checkout", "--quiet", "trunk"]);
    assert_eq!(r.target(&[]), ("v2.0.0".into(), "v2.0.1".into()));

    // A HEAD file written `ref:refs/...` (no space, which git accepts), and one git could not
    // read: the first answers as usual, the second gets git's own error.
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v3.1.0");
    r.commit("fix: a");
    std::fs::write(r.path.join(".git/HEAD"), "ref:refs/heads/main\n").unwrap();
    assert_eq!(r.target(&[]), ("v3.1.0".into(), "v3.1.1".into()));
    std::fs::write(r.path.join(".git/HEAD"), "garbage\n").unwrap();
    let out = r.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lint_judges_authors_not_git_merges_or_accepted_squash_subjects() {
    let r = Repo::new();
    let base = r.commit("chore: init");
    r.git(&["checkout", "--quiet", "-b", "topic"]);
    r.commit("feat: topic");
    r.git(&["checkout", "--quiet", "main"]);
    r.commit("fix: meanwhile");
    r.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "sync with topic",
        "topic",
    ]);
    r.commit("Revert \"feat: x\" (#15)");
    let out = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{base}..HEAD")],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("3 of 3 commit(s)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn explicit_tags_and_repository_options_do_not_mix() {
    let out = crate::ci(&[
        "compute-version",
        "--merged-tag",
        "v1.0.0",
        "--bump-from",
        "github",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("need a repository"),
        "{}",
        stderr(&out)
    );
}
