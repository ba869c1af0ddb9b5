//! `kernels envs`: environments and the kernels that use them.
//!
//! Environments come from disk only, no conda process (see `envs::list_envs`: the conda roots
//! found, their `envs_dirs`, `~/.conda/environments.txt`, the venv home), plus every
//! environment a kernelspec points at that those sources miss (a venv made with `--prefix`,
//! `/usr` for a system R). A kernel uses an environment when its `metadata.kernels.env`, or
//! the environment its argv runs in, is that prefix (compared after resolving symlinks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use envs::{EnvKind, Environment};
use kernels::{env_of_spec, is_system_prefix, ManagedMeta, SpecEnv};
use serde_json::json;

use super::Ctx;
use crate::exit::Code;
use crate::output::table;

/// Arguments of `kernels envs`.
#[derive(Debug, Args)]
pub struct EnvsArgs {}

/// One row.
struct Row {
    env: Environment,
    kernels: Vec<String>,
    /// A kernel `kernels` made records that it created this environment.
    created_by_kernels: bool,
    /// A `kernels` run was killed while creating it (its guard still says "installing"):
    /// not an environment to use, whatever is in it.
    half_made: bool,
}

impl Row {
    /// A row for `env`, with no kernels yet.
    fn new(env: Environment) -> Row {
        Row {
            env,
            kernels: Vec::new(),
            created_by_kernels: false,
            half_made: false,
        }
    }
}

/// Runs `kernels envs`.
pub fn run(ctx: &Ctx, _args: &EnvsArgs) -> anyhow::Result<Code> {
    let rows = collect_rows(ctx);
    if ctx.out.json {
        print_json(ctx, &rows);
        return Ok(Code::Ok);
    }
    if rows.is_empty() {
        ctx.out.status("No environments found.");
        return Ok(Code::Ok);
    }
    print_table(ctx, &rows);
    Ok(Code::Ok)
}

/// The environments listed on disk, then each kernel attached to the environment it uses
/// (adding the environments only a kernel points at), and whether each is half made.
fn collect_rows(ctx: &Ctx) -> Vec<Row> {
    let host = ctx.host();
    let tools = envs::locate(host, envs::BackendChoice::Auto);
    let listed = envs::list_envs(&tools, host, &[]);
    let discovery = kernelspec::discover(ctx.paths());

    let mut rows: Vec<Row> = listed.into_iter().map(Row::new).collect();
    let mut index: BTreeMap<PathBuf, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (canonical(&r.env.prefix), i))
        .collect();

    for (k, spec) in discovery.loaded() {
        let prefix = match env_of_spec(spec) {
            Some(SpecEnv::Prefix(p)) => p,
            Some(SpecEnv::Name(name)) => match rows
                .iter()
                .find(|r| r.env.name.as_deref() == Some(name.as_str()))
            {
                Some(r) => r.env.prefix.to_path_buf(),
                None => continue,
            },
            None => continue,
        };
        let key = canonical(&prefix);
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                let Some(env) = Environment::inspect(&prefix).or_else(|| system_prefix(&prefix))
                else {
                    continue;
                };
                rows.push(Row::new(env));
                index.insert(key, rows.len() - 1);
                rows.len() - 1
            }
        };
        rows[i].kernels.push(k.name.clone());
        if ManagedMeta::from_spec(spec).is_some_and(|m| m.env_created) {
            rows[i].created_by_kernels = true;
        }
    }

    for r in &mut rows {
        r.half_made = kernels::guard::is_half_made(&r.env.prefix);
    }
    rows
}

/// The `--json` document: `{"environments": [...]}`, one object per row.
fn print_json(ctx: &Ctx, rows: &[Row]) {
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.env.name,
                "prefix": r.env.prefix,
                "kind": r.env.kind,
                "python": r.env.python,
                "python_version": r.env.python_version,
                "ipykernel": r.env.has_ipykernel && !r.half_made,
                "frozen": r.env.frozen.is_some(),
                "created_by_kernels": r.created_by_kernels,
                "half_made": r.half_made,
                "kernels": r.kernels,
            })
        })
        .collect();
    ctx.out.json_doc(&json!({ "environments": list }));
}

/// The human table: name, kind (with frozen / half-made), Python, ipykernel, kernels, path.
fn print_table(ctx: &Ctx, rows: &[Row]) {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.env.name.clone().unwrap_or_else(|| "-".to_owned()),
                kind_word(r.env.kind).to_owned()
                    + if r.env.frozen.is_some() {
                        ", frozen"
                    } else {
                        ""
                    }
                    + if r.half_made { ", half-made" } else { "" },
                r.env
                    .python_version
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                if r.env.has_ipykernel && !r.half_made {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
                if r.kernels.is_empty() {
                    "-".to_owned()
                } else {
                    r.kernels.join(",")
                },
                ctx.show_path(&r.env.prefix),
            ]
        })
        .collect();
    for line in table(
        &["NAME", "KIND", "PYTHON", "IPYKERNEL", "KERNELS", "PATH"],
        &body,
    ) {
        ctx.out.line(&line);
    }
}

fn kind_word(kind: EnvKind) -> &'static str {
    match kind {
        EnvKind::CondaBase => "conda base",
        EnvKind::Conda => "conda",
        EnvKind::Venv => "venv",
        EnvKind::Unknown => "other",
    }
}

/// `/usr` and friends are no environments to `envs`, but a system R kernel runs there.
fn system_prefix(prefix: &Path) -> Option<Environment> {
    (is_system_prefix(prefix) && prefix.is_dir()).then(|| Environment {
        name: None,
        prefix: envs::Prefix::from_recorded(prefix),
        kind: EnvKind::Unknown,
        python: Some(prefix.join("bin/python3")).filter(|p| p.exists()),
        python_version: None,
        has_ipykernel: false,
        frozen: None,
    })
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
