//! `kernels policy`: the effective protection policy and where each entry comes from.
//!
//! Also the policy helper every mutating command uses: [`load`] (prints the policy's
//! warnings once); a refusal becomes exit 3 in [`super::failures::refusal_failure`].

use clap::Args;
use kernels::doctor::{self, Machine, Status};
use kernels::policy::{Policy, PolicyPaths, Source, SourceState, Target};
use serde_json::{json, Value};

use super::Ctx;
use crate::exit::Code;
use crate::output::{table, Style};

/// Arguments of `kernels policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {}

/// The effective policy of this machine and user; its warnings (an ignored system file,
/// skipped entries) are printed on stderr.
pub fn load(ctx: &Ctx) -> Policy {
    let policy = Policy::load(&PolicyPaths::from_host(ctx.host()));
    for w in &policy.warnings {
        ctx.out.warn(w);
    }
    policy
}

/// Runs `kernels policy`.
pub fn run(ctx: &Ctx, _args: &PolicyArgs) -> anyhow::Result<Code> {
    let policy = load(ctx);
    let machine = Machine::gather(ctx.paths(), ctx.host());
    let reports = doctor::check_protected(&machine, &policy);
    if ctx.out.json {
        let sources: Vec<Value> = policy
            .sources
            .iter()
            .map(|s| {
                let mut v = json!({"source": s.source.word(), "path": lossy(s.source.path())});
                if let (Value::Object(obj), Ok(Value::Object(state))) =
                    (&mut v, serde_json::to_value(&s.state))
                {
                    obj.extend(state);
                }
                v
            })
            .collect();
        let entries: Vec<Value> = reports
            .iter()
            .map(|r| {
                let (kind, value) = target_parts(&r.entry.target);
                json!({
                    "kind": kind,
                    "value": value,
                    "required": r.entry.required,
                    "source": r.entry.source.word(),
                    "source_path": lossy(r.entry.source.path()),
                    "reason": r.entry.reason,
                    "present": r.present,
                    "healthy": r.status != Status::Problem,
                    "matches": r.matches.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
                })
            })
            .collect();
        ctx.out.json_doc(&json!({
            "sources": sources,
            "entries": entries,
            "warnings": policy.warnings,
        }));
        return Ok(Code::Ok);
    }
    ctx.out.line(
        &ctx.out
            .paint(Style::Bold, "Sources (protection is their union):"),
    );
    for s in &policy.sources {
        let state = match &s.state {
            SourceState::Loaded { entries } => format!("{entries} entries"),
            SourceState::Absent => "no file".to_string(),
            SourceState::Ignored { reason } => {
                ctx.out.paint(Style::Bad, &format!("IGNORED: {reason}"))
            }
            SourceState::Unusable { reason } => ctx.out.paint(
                Style::Bad,
                &format!("UNUSABLE, changes are refused: {reason}"),
            ),
        };
        let what = match &s.source {
            Source::BuiltIn => "built-in".to_string(),
            Source::System(p) => format!("system  {}", ctx.show_path(p)),
            Source::User(p) => format!("user    {}", ctx.show_path(p)),
        };
        ctx.out.line(&format!("  {what}  ({state})"));
    }
    ctx.out.line("");
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let (kind, value) = target_parts(&r.entry.target);
            let present = if r.present {
                if r.status == Status::Problem {
                    "present, broken".to_string()
                } else {
                    "present".to_string()
                }
            } else if r.entry.required {
                "MISSING".to_string()
            } else {
                "-".to_string()
            };
            vec![
                kind.to_string(),
                value,
                if r.entry.required { "yes" } else { "no" }.to_string(),
                present,
                r.entry.source.word().to_string(),
            ]
        })
        .collect();
    for line in table(
        &["KIND", "PROTECTS", "REQUIRED", "PRESENT", "SOURCE"],
        &rows,
    ) {
        ctx.out.line(&line);
    }
    Ok(Code::Ok)
}

/// A path for a JSON document (lossy: a non-UTF-8 path must not abort the document).
fn lossy(path: Option<&std::path::Path>) -> Option<String> {
    path.map(|p| p.to_string_lossy().into_owned())
}

/// `(kind, value)` of a target, for tables and JSON.
pub fn target_parts(target: &Target) -> (&'static str, String) {
    match target {
        Target::Kernel(n) => ("kernel", n.clone()),
        Target::DisplayName(n) => ("display_name", n.clone()),
        Target::EnvName(n) => ("env_name", n.clone()),
        Target::EnvPath(p) => ("env_path", p.display().to_string()),
        Target::CondaBase => ("conda_base", "base (any conda root)".to_string()),
    }
}
