//! `kernels list`: every kernelspec Jupyter would see.
//!
//! `--json` keeps the document shape of `jupyter kernelspec list --json`
//! (`{"kernelspecs": {NAME: {"resource_dir", "spec"}}}`, spec with Jupyter's defaults filled
//! in) so existing scripts keep working; our extra facts are in additional keys those scripts
//! ignore: `kernels` inside each entry, and the top-level `broken`, `shadowed`, `problems` and
//! `search_path` lists. Specs Jupyter cannot load are never hidden: they are in `broken`.

use clap::Args;

use kernelspec::{Discovery, FoundKernel, JupyterPaths, SpecWarning};
use serde_json::{Map, Value};

use super::health::EnvHealth;
use super::Ctx;
use crate::exit::Code;
use crate::output::{json_path, json_paths, table, Style};

/// Arguments of `kernels list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also list copies that are shadowed by a higher-priority directory.
    #[arg(long)]
    pub all: bool,
}

/// Runs `kernels list`.
pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<Code> {
    let paths = ctx.paths();
    let found = kernelspec::discover(paths);
    if ctx.out.json {
        let mut doc = to_json(paths, &found);
        if let (Some(server), Value::Object(map)) = (ctx.server(), &mut doc) {
            map.insert(
                "jupyter_server".into(),
                object([
                    ("pid", Value::from(server.pid)),
                    ("url", server.url.clone().map_or(Value::Null, Value::from)),
                    ("python", json_path(&server.python)),
                    ("prefix", json_path(&server.prefix)),
                ]),
            );
        }
        ctx.out.json_doc(&doc);
    } else {
        if let Some(server) = ctx.server() {
            ctx.out.status(&format!(
                "Kernels as the Jupyter server {}(pid {}) sees them: its Python is {}",
                server
                    .url
                    .as_deref()
                    .map(|u| format!("{u} "))
                    .unwrap_or_default(),
                server.pid,
                ctx.show_path(&server.python),
            ));
        }
        print_table(ctx, paths, &found, args.all);
    }
    Ok(Code::Ok)
}

/// The `--json` document.
///
/// Built from owned values directly: `json!` would serialise every embedded `Value` again
/// (a deep copy), which was half of `list --json`'s instructions.
pub fn to_json(paths: &JupyterPaths, found: &Discovery) -> Value {
    let mut specs = Map::new();
    let mut broken = Vec::new();
    for k in &found.kernels {
        match &k.spec {
            Ok(spec) => {
                let warnings: Vec<Value> = spec
                    .lint()
                    .iter()
                    .map(|w| Value::String(w.to_string()))
                    .collect();
                let health = EnvHealth::of(spec);
                let missing = health.missing.as_ref().map_or(Value::Null, |(what, p)| {
                    object([("what", Value::from(*what)), ("path", json_path(p))])
                });
                let extra = object([
                    ("scope", Value::from(k.scope.as_str())),
                    ("name_valid", Value::Bool(k.name_valid)),
                    ("symlink", Value::Bool(k.is_symlink)),
                    ("shadows", json_paths(&k.shadows)),
                    ("warnings", Value::Array(warnings)),
                    ("env", health.env.as_deref().map_or(Value::Null, json_path)),
                    ("missing", missing),
                ]);
                specs.insert(
                    k.name.clone(),
                    object([
                        ("resource_dir", json_path(&k.resource_dir)),
                        ("spec", spec.to_jupyter_json()),
                        ("kernels", extra),
                    ]),
                );
            }
            Err(err) => broken.push(object([
                ("name", Value::from(k.name.as_str())),
                ("resource_dir", json_path(&k.resource_dir)),
                ("scope", Value::from(k.scope.as_str())),
                ("error", Value::String(boot::error_chain(err))),
                ("shadows", json_paths(&k.shadows)),
            ])),
        }
    }
    let shadowed: Vec<Value> = found
        .shadowed
        .iter()
        .map(|k| {
            object([
                ("name", Value::from(k.name.as_str())),
                ("resource_dir", json_path(&k.resource_dir)),
                ("scope", Value::from(k.scope.as_str())),
                (
                    "shadowed_by",
                    k.shadowed_by.as_deref().map_or(Value::Null, json_path),
                ),
                ("loads", Value::Bool(k.spec.is_ok())),
            ])
        })
        .collect();
    let problems: Vec<Value> = found
        .problems
        .iter()
        .map(|p| {
            object([
                ("path", json_path(&p.path)),
                ("error", Value::String(boot::error_chain(p))),
            ])
        })
        .collect();
    let search_path: Vec<Value> = paths
        .kernel_dirs()
        .iter()
        .map(|d| {
            object([
                ("path", json_path(&d.path)),
                ("scope", Value::from(d.scope.as_str())),
            ])
        })
        .collect();
    object([
        ("kernelspecs", Value::Object(specs)),
        ("broken", Value::Array(broken)),
        ("shadowed", Value::Array(shadowed)),
        ("problems", Value::Array(problems)),
        ("search_path", Value::Array(search_path)),
    ])
}

/// A JSON object with these keys, in this order.
fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn print_table(ctx: &Ctx, paths: &JupyterPaths, found: &Discovery, all: bool) {
    let mut entries: Vec<(&FoundKernel, bool)> = found.kernels.iter().map(|k| (k, false)).collect();
    if all {
        entries.extend(found.shadowed.iter().map(|k| (k, true)));
    }
    if entries.is_empty() {
        ctx.out.status("No kernels available");
        problems_footer(ctx, found);
        return;
    }
    // Jupyter's row order: the data dir a spec is under (dirs outside every data dir, like
    // ~/.ipython, first), then the path.
    entries.sort_by(|(a, _), (b, _)| {
        let key = |k: &FoundKernel| {
            (
                paths.list_order_index(&k.resource_dir).map_or(0, |i| i + 1),
                k.resource_dir.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(k, is_shadowed)| {
            let (display, language) = match &k.spec {
                Ok(s) => (s.display_name.clone(), s.language.clone()),
                Err(_) => ("-".to_string(), "-".to_string()),
            };
            vec![
                k.name.clone(),
                display,
                language,
                k.scope.as_str().to_string(),
                status(ctx, k, *is_shadowed),
                ctx.show_path(&k.resource_dir),
            ]
        })
        .collect();
    for line in table(
        &[
            "NAME",
            "DISPLAY NAME",
            "LANGUAGE",
            "SCOPE",
            "STATUS",
            "PATH",
        ],
        &rows,
    ) {
        ctx.out.line(&line);
    }
    let hidden = found.shadowed.len();
    if !all && hidden > 0 {
        ctx.out.status(&format!(
            "{hidden} shadowed cop{} not shown (--all shows them)",
            if hidden == 1 { "y" } else { "ies" }
        ));
    }
    problems_footer(ctx, found);
}

fn status(ctx: &Ctx, k: &FoundKernel, is_shadowed: bool) -> String {
    // Words only: the PATH column and `kernels show NAME` say where.
    if is_shadowed {
        return ctx.out.paint(Style::Dim, "shadowed");
    }
    match &k.spec {
        Err(err) => {
            let why = err
                .problem()
                .map_or_else(|| boot::error_chain(err), ToString::to_string);
            ctx.out.paint(Style::Bad, &format!("broken: {why}"))
        }
        Ok(spec) => {
            let mut notes = Vec::new();
            let mut severe = false;
            if !k.name_valid {
                notes.push("invalid name".to_string());
                severe = true;
            }
            for w in spec.lint() {
                if let Some((label, is_severe)) = short_warning(&w) {
                    notes.push(label);
                    severe |= is_severe;
                }
            }
            if let Some((what, _)) = EnvHealth::of(spec).missing {
                notes.push(format!("{what} missing"));
                severe = true;
            }
            match k.shadows.len() {
                0 => {}
                1 => notes.push("shadows 1 copy".to_owned()),
                n => notes.push(format!("shadows {n} copies")),
            }
            if notes.is_empty() {
                ctx.out.paint(Style::Good, "ok")
            } else if severe {
                ctx.out.paint(Style::Bad, &notes.join("; "))
            } else {
                ctx.out.paint(Style::Warn, &notes.join("; "))
            }
        }
    }
}

/// A few words for the STATUS column (`show` prints the full sentence), and whether the kernel
/// cannot work because of it. `None` for facts not worth a column entry.
fn short_warning(w: &SpecWarning) -> Option<(String, bool)> {
    Some(match w {
        SpecWarning::EmptyArgv => ("empty argv".to_string(), true),
        SpecWarning::MissingConnectionFile => ("no {connection_file} in argv".to_string(), true),
        SpecWarning::NonStringArgv { .. } => ("non-string argv".to_string(), true),
        SpecWarning::NonStringEnv { .. } => ("non-string env value".to_string(), true),
        SpecWarning::EmptyDisplayName => ("no display name".to_string(), false),
        SpecWarning::EmptyLanguage => ("no language".to_string(), false),
        SpecWarning::NonFiniteNumbers => ("NaN/Infinity in file".to_string(), false),
        SpecWarning::CustomProvisioner { name } => (format!("needs provisioner {name}"), false),
        SpecWarning::IgnoredKeys { .. } => return None,
    })
}

fn problems_footer(ctx: &Ctx, found: &Discovery) {
    for p in &found.problems {
        ctx.out.warn(&boot::error_chain(p));
    }
}
