//! `infrastream sim`: run a scenario, or random scenarios, on the in-memory simulator.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cd_memory::sim::{RandomOptions, Scenario, SimOutput, run_random, run_scenario};

use crate::manifests::read_tree;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file (omit with --random).
    #[arg(required_unless_present = "random")]
    scenario: Option<PathBuf>,
    /// Print only the final state, as JSON.
    #[arg(long)]
    json: bool,
    /// Run random scenarios with random faults and check invariants after every step.
    #[arg(long, conflicts_with = "scenario")]
    random: bool,
    /// First seed of a random run (default: $SIM_SEED, else from the clock).
    #[arg(long, requires = "random")]
    seed: Option<u64>,
    /// Number of random runs (default: $SIM_RUNS, else 100).
    #[arg(long, requires = "random")]
    runs: Option<u64>,
    /// Steps per random run.
    #[arg(long, requires = "random", default_value_t = 40)]
    steps: usize,
    /// Manifests for random runs (default: the built-in example tenant).
    #[arg(long, requires = "random")]
    manifests: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    if args.random {
        return random(args);
    }
    let Some(path) = &args.scenario else {
        return ExitCode::from(2);
    };
    match scenario(path) {
        Ok(out) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                print!("{}", summary(&out));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn scenario(path: &Path) -> Result<SimOutput, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let scenario = Scenario::parse(&shown, &text).map_err(|e| e.to_string())?;
    let base = path.parent().unwrap_or(Path::new("."));
    let dir = base.join(&scenario.manifests);
    let files = read_tree(&dir).map_err(|e| format!("{shown}: manifests: {e}"))?;
    run_scenario(&scenario, files).map_err(|e| format!("{shown}: {e}"))
}

fn summary(out: &SimOutput) -> String {
    let mut s = String::from("Deployments:\n");
    for d in &out.deployments {
        let target = d.application.clone().unwrap_or_else(|| {
            format!(
                "{} {}",
                d.application_set,
                d.bundle.clone().unwrap_or_default()
            )
        });
        let stages: Vec<String> = d
            .stages
            .iter()
            .map(|st| format!("{}={}", st.environments.join("+"), st.status))
            .collect();
        s.push_str(&format!(
            "  {:<4} {:<10} {:<22} {:<20} {:<17} {}\n",
            d.id,
            format!("{:?}", d.track).to_uppercase(),
            target,
            d.version,
            d.status,
            stages.join(" ")
        ));
    }
    s.push_str("Manifests:\n");
    for (path, version) in &out.manifests {
        s.push_str(&format!("  {path}: {version}\n"));
    }
    s.push_str("Registry:\n");
    for (image, tags) in &out.registry {
        let names: Vec<&str> = tags.keys().map(String::as_str).collect();
        s.push_str(&format!("  {image}: {}\n", names.join(", ")));
    }
    if !out.approvals.is_empty() {
        s.push_str("Approvals:\n");
        for a in &out.approvals {
            s.push_str(&format!(
                "  {} stage {}: {} {} {}\n",
                a.deployment, a.stage_index, a.actor, a.action, a.comment
            ));
        }
    }
    for (repo, branches) in &out.branches {
        s.push_str(&format!("Branches of {repo}: {}\n", branches.join(", ")));
    }
    s.push_str(&format!("Commits by the CD engine: {}\n", out.commits));
    for r in &out.rejected {
        s.push_str(&format!("Step {} rejected: {}\n", r.step, r.reason));
    }
    s
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn random(args: &Args) -> ExitCode {
    let files = match &args.manifests {
        Some(dir) => match read_tree(dir) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => cd_service::tenant::example_files(),
    };
    let seed = args
        .seed
        .or_else(|| env_u64("SIM_SEED"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    let runs = args.runs.or_else(|| env_u64("SIM_RUNS")).unwrap_or(100);
    let options = RandomOptions {
        seed,
        runs,
        steps: args.steps,
    };
    let tty = std::io::stderr().is_terminal();
    eprintln!("seed {seed}, {runs} run(s) of {} steps", args.steps);
    let result = run_random(&files, &options, |done| {
        if tty && (done % 10 == 0 || done == runs) {
            let width: usize = 30;
            let filled = usize::try_from(done.saturating_mul(30) / runs.max(1)).unwrap_or(width);
            eprint!(
                "\r[{}{}] {done}/{runs}",
                "#".repeat(filled),
                " ".repeat(width.saturating_sub(filled))
            );
            let _ = std::io::stderr().flush();
        }
    });
    if tty {
        eprintln!();
    }
    match result {
        Ok(report) => {
            println!(
                "{} run(s), {} steps, {} deployments, {} faults injected, {} manager crashes: every invariant held",
                report.runs, report.steps, report.deployments, report.faults, report.crashes
            );
            println!("trace digest: {}", report.digest);
            ExitCode::SUCCESS
        }
        Err(v) => {
            println!("{v}");
            println!(
                "reproduce: infrastream sim --random --seed {} --runs 1 --steps {}",
                v.seed, args.steps
            );
            ExitCode::from(1)
        }
    }
}
