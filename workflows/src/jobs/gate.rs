//! The gate at the end of every workflow: it always runs and fails when any job it needs failed
//! or was cancelled (skipped jobs are fine: a rerun of a released commit skips its release
//! jobs). In pull-request workflows it is `Merge Authorized`, the one status check the
//! rulesets require; push workflows name theirs otherwise, because a branch pushed to can also
//! be a pull request's head, and a second `Merge Authorized` on the same commit, from a run
//! that checked neither the head branch nor the title, could stand in for the real one.

use crate::branching::MERGE_AUTHORIZED;
use crate::context::{Ctx, Event};
use crate::model::{Job, Permissions, Step};

const SCRIPT: &str = "\
echo \"$RESULTS\"
if jq -e 'any(.[]; . == \"failure\" or . == \"cancelled\")' <<< \"$RESULTS\" >/dev/null; then
  echo \"::error::a required job failed or was cancelled: merge is not authorized\"
  exit 1
fi
echo \"every required job passed\"
";

/// The name of a push workflow's gate.
pub const PUSH_GATE: &str = "All jobs passed";

/// The gate, needing every job of the workflow.
#[must_use]
pub fn gate(ctx: &Ctx<'_>, needs: Vec<String>) -> (String, Job) {
    let (id, name) = match ctx.event {
        Event::PullRequest => ("merge-authorized", MERGE_AUTHORIZED),
        Event::Push => ("all-passed", PUSH_GATE),
    };
    let mut job = Job::new(name, ctx.runner(), 5);
    job.needs = needs;
    job.condition = Some("always()".into());
    job.permissions = Permissions::none();
    job.steps = vec![
        Step::run("Fail unless every job passed or was skipped", SCRIPT)
            .env("RESULTS", "${{ toJSON(needs.*.result) }}"),
    ];
    (id.into(), job)
}
