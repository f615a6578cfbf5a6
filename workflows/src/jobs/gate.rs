//! `merge-authorized`: the one required status check. It always runs and fails when any job
//! it needs failed or was cancelled (skipped jobs are fine: a rerun of a released commit skips
//! its release jobs).

use crate::branching::MERGE_AUTHORIZED;
use crate::context::Ctx;
use crate::model::{Job, Permissions, Step};

const SCRIPT: &str = "\
echo \"$RESULTS\"
if jq -e 'any(.[]; . == \"failure\" or . == \"cancelled\")' <<< \"$RESULTS\" >/dev/null; then
  echo \"::error::a required job failed or was cancelled: merge is not authorized\"
  exit 1
fi
echo \"every required job passed\"
";

/// The gate, needing every job of the workflow.
#[must_use]
pub fn merge_authorized(ctx: &Ctx<'_>, needs: Vec<String>) -> (String, Job) {
    let mut job = Job::new(MERGE_AUTHORIZED, ctx.runner(), 5);
    job.needs = needs;
    job.condition = Some("always()".into());
    job.permissions = Permissions::none();
    job.steps = vec![
        Step::run("Fail unless every job passed or was skipped", SCRIPT)
            .env("RESULTS", "${{ toJSON(needs.*.result) }}"),
    ];
    ("merge-authorized".into(), job)
}
