//! `sigil release list|show|approve|deny` (HTTPS API), and the release side of `sigil sign`:
//! several files form one release decided by one approval (`sigil_client::release`).

use std::path::Path;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sigil_client::release::{ReleaseRun, sign_release};
use sigil_client::{Connection, JobResult, PreparedJob, Progress, SignOptions};

use crate::admin::{ApproveArgs, DenyArgs, ListFilter, ProfileArg, acting_body, one, query_path};
use crate::exit;

/// `sigil release`.
#[derive(Args, Debug)]
pub(crate) struct ReleaseArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: ReleaseAction,
}

#[derive(Subcommand, Debug)]
enum ReleaseAction {
    /// List releases (newest first).
    List(ListFilter),
    /// Show one release with its files.
    Show { id: String },
    /// Approve a release: every file of it is signed when the quorum is reached.
    Approve(ApproveArgs),
    /// Deny a release (every file of it); the comment is the reason the requester sees.
    Deny(DenyArgs),
}

pub(crate) async fn release(args: ReleaseArgs) -> Result<u8> {
    match args.action {
        ReleaseAction::List(ListFilter {
            state,
            policy,
            requester,
            limit,
            json,
        }) => {
            let query = query_path("", state, policy, requester, limit);
            let api = args.profile.login().await?;
            let answer = api.list_releases(&query).await;
            api.logout().await;
            let answer = answer?;
            if json {
                out!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(exit::OK);
            }
            out!(
                "{:<36} {:<9} {:<18} {:<12} {:>5} {:>9}  DESCRIPTION",
                "ID",
                "STATE",
                "POLICY",
                "REQUESTER",
                "FILES",
                "APPROVALS"
            );
            for r in answer.iter() {
                let approvals = format!("{}/{}", r.approvals.len(), r.approvals_required);
                let files = format!("{}/{}", r.files_received, r.files_declared);
                out!(
                    "{:<36} {:<9} {:<18} {:<12} {:>5} {:>9}  {}",
                    r.id,
                    r.state,
                    r.policy,
                    r.requester,
                    files,
                    approvals,
                    r.description.as_deref().unwrap_or("")
                );
            }
            Ok(exit::OK)
        }
        ReleaseAction::Show { id } => {
            one(&args.profile, async |api| api.get_release(&id).await).await
        }
        ReleaseAction::Approve(ApproveArgs {
            id,
            comment,
            as_identity,
        }) => {
            let body = acting_body(comment.unwrap_or_default(), as_identity);
            one(&args.profile, async |api| {
                api.approve_release(&id, &body).await
            })
            .await
        }
        ReleaseAction::Deny(DenyArgs {
            id,
            comment,
            as_identity,
        }) => {
            let body = acting_body(comment, as_identity);
            one(&args.profile, async |api| {
                api.deny_release(&id, &body).await
            })
            .await
        }
    }
}

/// `sigil sign` with several files: signs them as one release.
pub(crate) async fn sign(
    conn: &mut Connection,
    jobs: Vec<PreparedJob>,
    options: &SignOptions,
    manifest: Option<&Path>,
    progress: &dyn Progress,
) -> Result<ReleaseRun> {
    let run = sign_release(conn, jobs, options, manifest, progress).await?;
    if let Some(id) = &run.release_id {
        match &run.manifest {
            Some(path) => eprintln!("release {id}: manifest written to {}", path.display()),
            None => eprintln!("release {id}: not every file was signed, no manifest written"),
        }
    }
    Ok(run)
}

/// The per-file `--json` object of a file in a release: with `release_id`.
pub(crate) fn file_json(mut value: Value, run: Option<&ReleaseRun>) -> Value {
    if let (Some(map), Some(id)) = (
        value.as_object_mut(),
        run.and_then(|r| r.release_id.as_ref()),
    ) {
        map.insert("release_id".into(), json!(id.as_str()));
    }
    value
}

/// The final `--json` object of a release run (contracts: `release_id`, `manifest` when
/// written, `files`, `exit_code`).
pub(crate) fn final_json(run: &ReleaseRun, results: &[JobResult], exit_code: u8) -> Option<Value> {
    let id = run.release_id.as_ref()?;
    let mut v = json!({
        "release_id": id.as_str(),
        "files": results.len(),
        "exit_code": exit_code,
    });
    if let (Some(map), Some(path)) = (v.as_object_mut(), &run.manifest) {
        map.insert("manifest".into(), json!(path.display().to_string()));
    }
    Some(v)
}
