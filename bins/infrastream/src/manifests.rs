//! `infrastream manifests validate|set-version`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cd_core::manifest::{Catalog, Selector, Source, Track, set_version};
use clap::Subcommand;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load every *.yaml / *.yml under DIR, print a summary and every problem.
    Validate {
        /// The manifest directory.
        dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set spec.version of the DeploymentConfig in FILE, changing nothing else.
    SetVersion {
        /// The manifest file.
        file: PathBuf,
        /// The new version (an image tag).
        version: String,
        /// Which DeploymentConfig, when the file holds several: its metadata.name.
        #[arg(long, requires = "environment")]
        application: Option<String>,
        /// Which DeploymentConfig, when the file holds several: its metadata.environment.
        #[arg(long, requires = "application")]
        environment: Option<String>,
    },
}

pub(crate) fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Validate { dir, json } => validate(&dir, json),
        Command::SetVersion {
            file,
            version,
            application,
            environment,
        } => {
            let selector = match (&application, &environment) {
                (Some(application), Some(environment)) => Selector::Named {
                    application,
                    environment,
                },
                _ => Selector::Only,
            };
            edit(&file, selector, &version)
        }
    }
}

/// Every manifest file under `dir`, as (path relative to `dir`, text), in path order: the
/// service's reader ([`cd_service::tenant::read_tree`]), with its error as text.
pub(crate) fn read_tree(dir: &Path) -> Result<Vec<(String, String)>, String> {
    cd_service::tenant::read_tree(dir).map_err(|e| e.to_string())
}

fn validate(dir: &Path, as_json: bool) -> ExitCode {
    let files = match read_tree(dir) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let file_count = files.len();
    let mut loaded = Catalog::load(files);
    // The build types' own rules (options, stages), which CI generation relies on.
    loaded.problems.extend(cd_workflows::check(&loaded.catalog));
    let c = &loaded.catalog;
    let valid = loaded.problems.is_empty();
    let environments_of = |app: &str| -> Vec<String> {
        c.deployment_configs
            .keys()
            .filter(|(a, _)| a == app)
            .map(|(_, e)| e.clone())
            .collect()
    };
    if as_json {
        let doc = json!({
            "valid": valid,
            "files": file_count,
            "releaseTracks": c.release_tracks.values().map(|t| json!({
                "name": t.name,
                "preReleaseStages": t.pre_release_stages,
                "releaseStages": t.release_stages,
                "hotfixStages": t.hotfix_stages,
            })).collect::<Vec<_>>(),
            "applicationSets": c.application_sets.values().map(|s| json!({
                "name": s.name,
                "releaseTrack": s.release_track,
                "applications": c.applications_in_set(&s.name).iter().map(|a| &a.name).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "applications": c.applications.values().map(|a| json!({
                "name": a.name,
                "kind": a.kind(),
                "applicationSet": a.application_set,
                "image": c.image_of(&a.name).map(|i| i.name),
                "environments": environments_of(&a.name),
            })).collect::<Vec<_>>(),
            "ignoredKinds": c.ignored,
            "otherApiVersions": c.other_api_versions.iter().map(|(file, api)| json!({
                "file": file, "apiVersion": api,
            })).collect::<Vec<_>>(),
            "problems": loaded.problems,
        });
        println!("{doc:#}");
    } else {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line("Release tracks:".into());
        for t in c.release_tracks.values() {
            line(format!("  {}", t.name));
            for (track, label) in [
                (Track::PreRelease, "pre-release"),
                (Track::Release, "release"),
                (Track::Hotfix, "hotfix"),
            ] {
                for (i, stage) in t.stages(track).iter().enumerate() {
                    let gate = stage.approval.as_ref().map_or(String::new(), |p| {
                        format!(
                            "  (approval: {} of {})",
                            p.min_approvals,
                            p.groups.join(", ")
                        )
                    });
                    line(format!(
                        "    {label:<12} [{i}] {}{gate}",
                        stage.environments.join(", ")
                    ));
                }
            }
        }
        line("Application sets:".into());
        for s in c.application_sets.values() {
            let apps: Vec<&str> = c
                .applications_in_set(&s.name)
                .iter()
                .map(|a| a.name.as_str())
                .collect();
            line(format!(
                "  {} (track {}): {}",
                s.name,
                s.release_track,
                apps.join(", ")
            ));
        }
        line("Applications:".into());
        for a in c.applications.values() {
            let image = c.image_of(&a.name).map_or("?", |i| i.name);
            let kind = match a.source {
                Source::Build { .. } => "",
                Source::External { .. } => ", external",
            };
            line(format!(
                "  {} (set {}, image {image}{kind}): {}",
                a.name,
                a.application_set,
                environments_of(&a.name).join(", ")
            ));
        }
        if !c.token_policies.is_empty() {
            line("Token policies:".into());
            for p in c.token_policies.values() {
                let permissions: Vec<String> = p
                    .grant
                    .permissions
                    .iter()
                    .map(|(name, level)| format!("{name}:{level}"))
                    .collect();
                line(format!(
                    "  {}: {} on {} at {} -> {} ({})",
                    p.name,
                    p.subject.repository,
                    p.subject.events.join("|"),
                    p.subject.refs.join(" "),
                    p.grant.repositories.join(", "),
                    permissions.join(", ")
                ));
            }
        }
        if !c.ignored.is_empty() {
            let kinds: Vec<String> = c.ignored.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            line(format!(
                "Ignored kinds (not read by this engine): {}",
                kinds.join(", ")
            ));
        }
        if !c.other_api_versions.is_empty() {
            line(format!(
                "Not read (apiVersion is not {}):",
                cd_core::manifest::API_VERSION
            ));
            for (file, api) in &c.other_api_versions {
                line(format!("  {file}: apiVersion {api}"));
            }
        }
        if valid {
            line(format!("{file_count} file(s): valid"));
        } else {
            line(format!(
                "{file_count} file(s): {} problem(s)",
                loaded.problems.len()
            ));
            for p in &loaded.problems {
                line(format!("  {p}"));
            }
        }
        infrastream_ci::out::write_bytes(out.as_bytes());
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn edit(file: &Path, selector: Selector<'_>, version: &str) -> ExitCode {
    let text = match fs::read(file).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            eprintln!("error: {}: not UTF-8 text", file.display());
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    let edited = match set_version(&text, selector, version) {
        Ok(edited) => edited,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    // What changed, said as the DeploymentConfig's own names.
    let versions = |text: &str| {
        Catalog::load([(file.display().to_string(), text)])
            .catalog
            .deployment_configs
            .into_values()
            .map(|dc| {
                (
                    dc.application,
                    dc.environment,
                    dc.version.unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = versions(&text);
    let after = versions(&edited);
    let changed: Vec<String> = after
        .iter()
        .filter(|a| !before.contains(a))
        .map(|(app, env, to)| {
            let from = before
                .iter()
                .find(|(b_app, b_env, _)| b_app == app && b_env == env)
                .map_or("none", |(_, _, v)| v.as_str());
            format!("{app} in {env}: {from} -> {to}")
        })
        .collect();
    if edited == text {
        println!("{}: already at {version}; nothing changed", file.display());
        return ExitCode::SUCCESS;
    }
    // Write beside the file and rename, so a crash never leaves half a manifest.
    let tmp = file.with_extension("infrastream-tmp");
    let result = fs::write(&tmp, edited.as_bytes())
        .and_then(|()| copy_permissions(file, &tmp))
        .and_then(|()| fs::rename(&tmp, file));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        eprintln!("error: {}: {e}", file.display());
        return ExitCode::from(1);
    }
    println!("{}: {}", file.display(), changed.join(", "));
    ExitCode::SUCCESS
}

fn copy_permissions(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::set_permissions(to, fs::metadata(from)?.permissions())
}
