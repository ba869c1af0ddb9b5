//! `kernels rebind`: rewrite `metadata.kernelspec` in notebooks so they ask for another kernel.
//!
//! NEW's display name and language come from the installed kernel NEW (discovery), so the
//! notebooks match what Jupyter will show. When NEW is not installed here (rebinding a
//! repository for another machine), both `--display-name` and `--language` must be given;
//! otherwise it is an error (exit 1) naming the closest installed kernels. Given with an
//! installed NEW, they override its values.
//!
//! Every notebook is examined even if one fails; a file that cannot be read or parsed is
//! reported and makes the exit code 1. Nothing else in a notebook changes (see
//! `kernels::rebind`).

use std::path::PathBuf;

use clap::Args;
use kernels::rebind::{self, BindTo, RebindError, Verdict};
use serde_json::json;

use super::names::{parse_name, printable, unknown_kernel};
use super::Ctx;
use crate::exit::{Code, Failure};

/// Arguments of `kernels rebind`.
#[derive(Debug, Args)]
pub struct RebindArgs {
    /// Notebooks or directories (searched recursively for .ipynb files, hidden dirs skipped).
    #[arg(required = true, value_name = "NOTEBOOK_OR_DIR")]
    pub paths: Vec<PathBuf>,
    /// The kernel name notebooks ask for now (case-insensitive).
    #[arg(long, value_name = "OLD")]
    pub from: String,
    /// The kernel they should ask for instead.
    #[arg(long, value_name = "NEW")]
    pub to: String,
    /// Display name to write [default: NEW's, from its kernel.json].
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,
    /// Language to write [default: NEW's, from its kernel.json].
    #[arg(long, value_name = "LANG")]
    pub language: Option<String>,
    /// Print which notebooks would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `kernels rebind`.
pub fn run(ctx: &Ctx, args: &RebindArgs) -> anyhow::Result<Code> {
    if args.from.is_empty() || args.from.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "invalid kernel name {:?} for --from",
            printable(&args.from)
        ))
        .into());
    }
    let new = parse_name(&args.to)?;
    let target = bind_target(ctx, new.as_str(), args)?;

    let mut results = Vec::new();
    let mut errors: Vec<RebindError> = Vec::new();
    for item in rebind::find_notebooks(&args.paths) {
        match item {
            Ok(path) => match rebind::rebind_file(&path, &args.from, &target, args.dry_run) {
                Ok(verdict) => results.push((path, verdict)),
                Err(err) => errors.push(err),
            },
            Err(err) => errors.push(err),
        }
    }
    report(ctx, args, &target, &results, &errors);
    if errors.is_empty() {
        Ok(Code::Ok)
    } else {
        Ok(Code::Failed)
    }
}

fn bind_target(ctx: &Ctx, new: &str, args: &RebindArgs) -> anyhow::Result<BindTo> {
    let found = kernelspec::discover(ctx.paths());
    let installed = found.get(new).and_then(|k| k.spec.as_ref().ok());
    match (installed, &args.display_name, &args.language) {
        (Some(spec), display, language) => Ok(BindTo {
            name: new.to_string(),
            display_name: display.clone().unwrap_or_else(|| spec.display_name.clone()),
            language: language.clone().unwrap_or_else(|| spec.language.clone()),
        }),
        (None, Some(display), Some(language)) => {
            ctx.out.warn(&format!(
                "kernel `{new}` is not installed here; notebooks will ask for it anyway"
            ));
            Ok(BindTo {
                name: new.to_string(),
                display_name: display.clone(),
                language: language.clone(),
            })
        }
        (None, _, _) => {
            let mut failure = unknown_kernel(new, &found);
            failure.cause.push_str("; nothing was changed");
            let hint = failure.hint.take().unwrap_or_default();
            Err(failure
                .hint(format!(
                    "{hint} (to bind to a kernel that is not installed here, give both \
                     --display-name and --language)"
                ))
                .into())
        }
    }
}

fn report(
    ctx: &Ctx,
    args: &RebindArgs,
    target: &BindTo,
    results: &[(PathBuf, Verdict)],
    errors: &[RebindError],
) {
    let changed = results.iter().filter(|(_, v)| v.changes()).count();
    if ctx.out.json {
        let notebooks: Vec<_> = results
            .iter()
            .map(|(path, verdict)| {
                let mut v = serde_json::to_value(verdict).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("path".into(), json!(path));
                }
                v
            })
            .collect();
        let errs: Vec<_> = errors
            .iter()
            .map(|e| json!({"message": boot::error_chain(e)}))
            .collect();
        ctx.out.json_doc(&json!({
            "ok": errors.is_empty(),
            "dry_run": args.dry_run,
            "from": args.from,
            "to": target,
            "changed": changed,
            "notebooks": notebooks,
            "errors": errs,
        }));
    } else {
        let verb = if args.dry_run {
            "would rebind"
        } else {
            "rebound"
        };
        for (path, verdict) in results {
            match verdict {
                Verdict::Rebind { from_name, .. } => ctx.out.line(&format!(
                    "{verb}  {}  ({from_name} -> {})",
                    path.display(),
                    target.name
                )),
                Verdict::AlreadyBound => ctx.out.detail(&format!(
                    "already bound: {} ({})",
                    path.display(),
                    target.name
                )),
                Verdict::OtherKernel { name } => ctx
                    .out
                    .detail(&format!("untouched: {} (asks for {name})", path.display())),
                Verdict::NoKernelspec => ctx
                    .out
                    .detail(&format!("untouched: {} (no kernelspec)", path.display())),
            }
        }
    }
    for err in errors {
        ctx.out.error(&boot::error_chain(err), None);
    }
    let word = if args.dry_run {
        "Would rebind"
    } else {
        "Rebound"
    };
    ctx.out.status(&format!(
        "{word} {changed} of {} notebook{} from `{}` to `{}`.",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        args.from,
        target.name
    ));
}
