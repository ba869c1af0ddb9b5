//! `kernels show NAME`: one kernelspec in detail.

use clap::Args;
use serde_json::{json, Value};

use super::health::EnvHealth;
use super::names::{parse_name, unknown_kernel};
use super::Ctx;
use crate::exit::Code;
use crate::output::{json_path, Style};

/// Arguments of `kernels show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Kernel name (case-insensitive).
    pub name: String,
}

/// Runs `kernels show`.
pub fn run(ctx: &Ctx, args: &ShowArgs) -> anyhow::Result<Code> {
    let name = parse_name(&args.name)?;
    let found = kernelspec::discover(ctx.paths());
    let Some(k) = found.get(name.as_str()) else {
        return Err(unknown_kernel(&args.name, &found).into());
    };
    let shadowed: Vec<&kernelspec::FoundKernel> =
        found.shadowed.iter().filter(|s| s.name == k.name).collect();
    let health = k.spec.as_ref().ok().map(EnvHealth::of);
    let mut warnings: Vec<String> = match &k.spec {
        Ok(spec) => spec.lint().iter().map(ToString::to_string).collect(),
        Err(_) => Vec::new(),
    };
    if let Some((what, path)) = health.as_ref().and_then(|h| h.missing.as_ref()) {
        warnings.insert(0, format!("its {what} {} is missing", ctx.show_path(path)));
    }
    if ctx.out.json {
        let shadowed_json: Vec<Value> = shadowed
            .iter()
            .map(|s| json!({"resource_dir": json_path(&s.resource_dir), "scope": s.scope.as_str(), "loads": s.spec.is_ok()}))
            .collect();
        ctx.out.json_doc(&json!({
            "name": k.name,
            "resource_dir": json_path(&k.resource_dir),
            "scope": k.scope.as_str(),
            "symlink": k.is_symlink,
            "spec": k.spec.as_ref().ok().map(kernelspec::KernelSpec::to_jupyter_json),
            "file": k.spec.as_ref().ok().map(kernelspec::KernelSpec::to_file_json),
            "error": k.spec.as_ref().err().map(|e| boot::error_chain(e)),
            "warnings": warnings,
            "env": health.as_ref().and_then(|h| h.env.as_deref()).map(json_path),
            "shadows": shadowed_json,
        }));
        return Ok(Code::Ok);
    }
    let out = &ctx.out;
    // A continuation line (empty label) is indented under the value, without a bare ":".
    let field = |label: &str, value: &str| {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}:")
        };
        out.line(&format!("{label:<15}{value}"));
    };
    field("name", &k.name);
    field("resource dir", &ctx.show_path(&k.resource_dir));
    field("scope", k.scope.as_str());
    match &k.spec {
        Ok(spec) => {
            field("display name", &spec.display_name);
            field("language", &spec.language);
            field("interrupt", spec.interrupt_mode.as_str());
            field("argv", &shell_words(&spec.argv));
            if let Some(env) = health.as_ref().and_then(|h| h.env.as_deref()) {
                field("environment", &ctx.show_path(env));
            }
            for (i, (key, value)) in spec.env.iter().enumerate() {
                field(if i == 0 { "env" } else { "" }, &format!("{key}={value}"));
            }
            if let Some(v) = &spec.kernel_protocol_version {
                field("protocol", v);
            }
            for (i, line) in metadata_lines(&spec.metadata).iter().enumerate() {
                field(if i == 0 { "metadata" } else { "" }, line);
            }
            let status = if warnings.is_empty() {
                out.paint(Style::Good, "ok")
            } else {
                out.paint(Style::Bad, &warnings.join("; "))
            };
            field("status", &status);
        }
        Err(err) => field(
            "status",
            &out.paint(Style::Bad, &format!("broken: {}", boot::error_chain(err))),
        ),
    }
    for s in &shadowed {
        field("shadows", &ctx.show_path(&s.resource_dir));
    }
    Ok(Code::Ok)
}

/// The metadata as `key.sub: value` lines (one per leaf), so nested objects read as a list
/// rather than one long JSON blob; arrays and scalars stay compact JSON.
fn metadata_lines(metadata: &serde_json::Map<String, Value>) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::String(s) => out.push(format!("{prefix}: {s}")),
            other => out.push(format!("{prefix}: {other}")),
        }
    }
    let mut out = Vec::new();
    for (k, v) in metadata {
        walk(k, v, &mut out);
    }
    out
}

/// argv as a shell would need it typed (for reading, never for running).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./{}=:@%+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_reads_as_one_line_per_leaf() {
        let meta = serde_json::json!({"debugger": true, "kernels": {"backend": "uv", "env": "/e"}, "x": [1, 2]});
        let lines = super::metadata_lines(meta.as_object().unwrap());
        assert_eq!(
            lines,
            [
                "debugger: true",
                "kernels.backend: uv",
                "kernels.env: /e",
                "x: [1,2]"
            ]
        );
    }

    #[test]
    fn shell_words_quotes_only_what_needs_it() {
        let argv = vec![
            "/env/bin/python".to_string(),
            "-m".to_string(),
            "ipykernel_launcher".to_string(),
            "-f".to_string(),
            "{connection_file}".to_string(),
            "it's here".to_string(),
        ];
        assert_eq!(
            super::shell_words(&argv),
            r"/env/bin/python -m ipykernel_launcher -f {connection_file} 'it'\''s here'"
        );
    }
}
