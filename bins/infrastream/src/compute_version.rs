//! `infrastream compute-version` over explicit inputs.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::process::ExitCode;

use cd_core::version::{Bump, ReleaseType, VersionInputs, compute_version};
use clap::ValueEnum;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// PR labels, comma-separated; an empty string means no labels.
    #[arg(long, default_value = "")]
    labels: String,
    /// The branch's release type.
    #[arg(long, value_enum, default_value_t = ReleaseTypeArg::Latest, ignore_case = true)]
    release_type: ReleaseTypeArg,
    /// A tag that exists in the repository (not merged into HEAD). Repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// A tag reachable from HEAD. Repeat for several.
    #[arg(long = "merged-tag", value_name = "TAG")]
    merged_tags: Vec<String>,
    /// A tag pointing at HEAD itself. Repeat for several.
    #[arg(long = "head-tag", value_name = "TAG")]
    head_tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum ReleaseTypeArg {
    Latest,
    Alpha,
    Beta,
    Hotfix,
    None,
}

impl From<ReleaseTypeArg> for ReleaseType {
    fn from(value: ReleaseTypeArg) -> Self {
        match value {
            ReleaseTypeArg::Latest => ReleaseType::Latest,
            ReleaseTypeArg::Alpha => ReleaseType::Alpha,
            ReleaseTypeArg::Beta => ReleaseType::Beta,
            ReleaseTypeArg::Hotfix => ReleaseType::Hotfix,
            ReleaseTypeArg::None => ReleaseType::None,
        }
    }
}

/// Builds the inputs: a tag at HEAD is also merged, and a merged tag also exists.
fn inputs(args: &Args) -> VersionInputs {
    let labels: Vec<&str> = args
        .labels
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut merged = args.merged_tags.clone();
    merged.extend(args.head_tags.iter().cloned());
    let mut all = args.tags.clone();
    all.extend(merged.iter().cloned());
    all.sort();
    all.dedup();
    VersionInputs {
        bump: Some(Bump::from_labels(&labels)),
        release_type: Some(args.release_type.into()),
        merged_tags: merged,
        head_tags: args.head_tags.clone(),
        all_tags: all,
    }
}

/// Prints `key=value` lines on stdout and appends them to `$GITHUB_OUTPUT` when it is set.
fn emit(lines: &[(&str, String)]) {
    let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    print!("{text}");
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let written = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot append to GITHUB_OUTPUT: {e}");
        }
    }
}

pub(crate) fn run(args: &Args) -> ExitCode {
    match compute_version(&inputs(args)) {
        Ok(v) => {
            emit(&[
                ("current_version", v.current_version),
                ("target_version", v.target_version),
                ("skip", v.skip.to_string()),
                ("release_type", v.release_type.to_string()),
            ]);
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The base is printed even on failure: workflows show it next to the error.
            emit(&[("current_version", e.current_version().to_string())]);
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
