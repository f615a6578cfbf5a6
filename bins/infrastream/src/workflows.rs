//! `infrastream workflows generate|pins update|publish`: the I/O around `cd-workflows`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cd_core::manifest::Catalog;
use cd_workflows::pins::Pins;
use cd_workflows::{Files, GenerateError};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Generate every repository's workflows, Dockerfiles, CODEOWNERS and rulesets.
    Generate(GenerateArgs),
    /// Open (or update) one pull request per repository whose generated files differ, and
    /// apply its rulesets, as a GitHub App.
    Publish(crate::workflows_github::PublishArgs),
    /// The pin table of actions and base images.
    #[command(subcommand)]
    Pins(PinsCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum PinsCommand {
    /// Re-pin every action to the commit of its latest release, read from GitHub.
    Update(crate::workflows_github::PinsUpdateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The manifest directory.
    pub(crate) manifests: PathBuf,
    /// Where to write: DIR/<GithubRepository>/.github/...
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Generate in memory and compare with DIR: exit 1 and list each missing, changed or
    /// extra file when they differ. Writes nothing.
    #[arg(long)]
    pub(crate) check: bool,
    /// A pin table to use instead of the built-in one.
    #[arg(long)]
    pub(crate) pins: Option<PathBuf>,
}

pub(crate) fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Generate(args) => generate(&args),
        Command::Publish(args) => crate::workflows_github::publish(&args),
        Command::Pins(PinsCommand::Update(args)) => crate::workflows_github::pins_update(&args),
    }
}

/// The pin table of `path`, or the built-in one.
pub(crate) fn load_pins(path: Option<&Path>) -> Result<Pins, String> {
    match path {
        Some(p) => {
            let text = fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Pins::parse(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
        None => Pins::default_table().map_err(|e| format!("built-in pin table: {e}")),
    }
}

/// Reads and checks the manifests, then generates; every problem is printed.
pub(crate) fn generated(manifests: &Path, pins: &Pins) -> Result<(Catalog, Files), ExitCode> {
    let files = crate::manifests::read_tree(manifests).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let loaded = Catalog::load(files);
    if !loaded.problems.is_empty() {
        for p in &loaded.problems {
            eprintln!("{p}");
        }
        eprintln!(
            "error: {} problem(s) in the manifests; nothing generated",
            loaded.problems.len()
        );
        return Err(ExitCode::from(1));
    }
    match cd_workflows::generate(&loaded.catalog, pins) {
        Ok(files) => Ok((loaded.catalog, files)),
        Err(GenerateError::Manifests(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "error: {} problem(s) in the manifests; nothing generated",
                problems.len()
            );
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// The generator's files under `dir/<repository>/.github/` for each repository of the
/// manifests, relative to `dir`, `/`-separated: those under its own directories, and workflows
/// and CODEOWNERS that carry its mark. Anything else under `dir` is left alone.
fn existing(dir: &Path, catalog: &Catalog) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for repo in catalog.github_repositories.keys() {
        let root = dir.join(repo).join(".github");
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", d.display())),
            };
            for entry in entries {
                let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if kind.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&root) else {
                    continue;
                };
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let in_repo = format!(".github/{}", rel.join("/"));
                // Only the first line matters; an unreadable file is not the generator's.
                let text = fs::read(&path)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if cd_workflows::is_generated(&in_repo, &text) {
                    out.insert(format!("{repo}/{in_repo}"));
                }
            }
        }
    }
    Ok(out)
}

fn generate(args: &GenerateArgs) -> ExitCode {
    let pins = match load_pins(args.pins.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (catalog, files) = match generated(&args.manifests, &pins) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let on_disk = match existing(&args.out, &catalog) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        let mut differences = 0;
        for (path, text) in &files {
            match fs::read(args.out.join(path)) {
                Ok(bytes) if bytes == text.as_bytes() => {}
                Ok(_) => {
                    differences += 1;
                    println!("changed: {path}");
                }
                Err(_) => {
                    differences += 1;
                    println!("missing: {path}");
                }
            }
        }
        for path in on_disk.iter().filter(|p| !files.contains_key(*p)) {
            differences += 1;
            println!("extra: {path}");
        }
        if differences == 0 {
            println!(
                "{} file(s) up to date in {}",
                files.len(),
                args.out.display()
            );
            return ExitCode::SUCCESS;
        }
        println!(
            "{differences} file(s) differ: run `infrastream workflows generate {} --out {}`",
            args.manifests.display(),
            args.out.display()
        );
        return ExitCode::from(1);
    }
    for (path, text) in &files {
        let target = args.out.join(path);
        let unchanged = fs::read(&target).is_ok_and(|b| b == text.as_bytes());
        if unchanged {
            continue;
        }
        let written = target
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| write_atomically(&target, text.as_bytes()));
        if let Err(e) = written {
            eprintln!("error: {}: {e}", target.display());
            return ExitCode::from(1);
        }
    }
    // Generated files the manifests no longer ask for are removed.
    for path in on_disk.iter().filter(|p| !files.contains_key(*p)) {
        let target = args.out.join(path);
        if let Err(e) = fs::remove_file(&target) {
            eprintln!("error: {}: {e}", target.display());
            return ExitCode::from(1);
        }
        println!("removed: {path}");
    }
    let repositories: BTreeSet<&str> = files.keys().filter_map(|p| p.split('/').next()).collect();
    println!(
        "{} file(s) for {} repositories in {}",
        files.len(),
        repositories.len(),
        args.out.display()
    );
    ExitCode::SUCCESS
}

/// Writes beside the file and renames, so a crash never leaves half a file.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = target.with_extension("infrastream-tmp");
    fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, target))
}
