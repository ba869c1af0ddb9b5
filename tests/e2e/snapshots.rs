//! Snapshot tests of what people read: each command's main success and failure output on a
//! fixed sandbox layout, compared with `tests/e2e/snapshots/*.snap` (insta). A change in
//! wording or layout shows up as a diff to review instead of slipping through.
//!
//! Paths of the sandbox and the test interpreter, times, pids and versions are replaced by
//! placeholders, so the snapshots hold on any machine. To accept new or changed output after
//! reviewing it:
//!
//! ```sh
//! INSTA_UPDATE=always cargo test --release --test tests -- e2e::snapshots
//! git diff tests/e2e/snapshots/
//! ```

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use super::add_conda::CondaBox;
use super::envs::fake_conda_root;
use super::policy::isolated;
use crate::common::{kernels_bin, test_python, Run, Sandbox};
use crate::require_python;

const GOOD: &str = r#"{"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python (good)", "language": "python",
 "env": {"A": "1", "B": "two"},
 "metadata": {"debugger": true, "kernels": {"managed": false, "source": "hand"}}}"#;

/// A kernel whose interpreter is gone.
const GONE: &str = r#"{"argv": ["/nonexistent/env/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python (gone)", "language": "python"}"#;

/// The layout most snapshots run on (system Jupyter dirs inside the sandbox): a good
/// kernel, one with its interpreter gone, a broken kernel.json, and a copy of `good` earlier
/// in the search path that shadows the user's.
fn layout() -> Sandbox {
    let mut sb = isolated();
    let user = sb.user_kernels();
    sb.write_spec(&user, "good", GOOD);
    sb.write_spec(&user, "gone", GONE);
    sb.write_spec(&user, "broken", "{not json");
    let first = sb.root().join("jupyter-path");
    sb.write_spec(&first.join("kernels"), "good", GOOD);
    sb.set("JUPYTER_PATH", &first);
    // No `python3` to find: what `good` resolves to must not depend on the machine's PATH.
    let bin = sb.root().join("empty-bin");
    std::fs::create_dir_all(&bin).unwrap();
    sb.set("PATH", &bin);
    sb
}

/// `$ kernels ARGS`, the exit code, then both streams: the text a snapshot holds.
fn transcript(args: &[&str], run: &Run) -> String {
    format!(
        "$ kernels {}\n[exit {}]\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    )
}

/// Placeholders for what differs between machines and runs.
fn filters(sb: &Sandbox) -> Vec<(String, String)> {
    let mut f = vec![(
        escape(&sb.root().display().to_string()),
        "[SANDBOX]".to_owned(),
    )];
    if let Some(python) = test_python() {
        if let Some(bin) = python.parent() {
            f.push((escape(&bin.display().to_string()), "[PYBIN]".to_owned()));
            if let Some(prefix) = bin.parent() {
                f.push((escape(&prefix.display().to_string()), "[PYENV]".to_owned()));
                if let Some(name) = prefix.file_name() {
                    f.push((
                        format!(
                            "\"VIRTUAL_ENV_PROMPT\": \"{}\"",
                            escape(&name.to_string_lossy())
                        ),
                        "\"VIRTUAL_ENV_PROMPT\": \"[PYENV-NAME]\"".to_owned(),
                    ));
                }
            }
        }
    }
    for (pattern, placeholder) in [
        // "850 ms" or "7.9 s": one placeholder, so a run either side of a second reads the same.
        (r"\b\d+(\.\d+)? m?s\b", "[TIME]"),
        (r"(\w)-\d{6,}-\d+(-\d+)?\.log", "$1-[TIME]-[PID].log"),
        (r"\(pid \d+\)", "(pid [PID])"),
        (r"\b3\.\d+\.\d+\b", "[PYVER]"),
        (r"python3\.\d+", "python3.[N]"),
        (r"\(\d+(\.\d)? [kMGT]?B\)", "([SIZE])"),
    ] {
        f.push((pattern.to_owned(), placeholder.to_owned()));
    }
    f
}

fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Runs `kernels ARGS` in `sb` and compares the transcript with snapshot `name`.
fn snap(sb: &Sandbox, name: &str, args: &[&str]) -> Run {
    let run = sb.kernels(args);
    let mut settings = insta::Settings::clone_current();
    for (pattern, placeholder) in filters(sb) {
        settings.add_filter(&pattern, placeholder);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, transcript(args, &run)));
    run
}

#[test]
fn list_and_show() {
    let sb = layout();
    let run = snap(&sb, "list", &["list"]);
    assert_eq!(run.code, 0);
    // STATUS holds words; the only paths are in the PATH column.
    let gone = run.stdout.lines().find(|l| l.starts_with("gone")).unwrap();
    assert_eq!(gone.matches("/nonexistent").count(), 0, "{gone}");
    snap(&sb, "list_all", &["list", "--all"]);
    // `list --help` promises only the columns there are.
    let help = sb.kernels(&["list", "--help"]);
    let header = run.stdout.lines().next().unwrap_or_default().to_lowercase();
    for column in [
        "name",
        "display name",
        "language",
        "scope",
        "status",
        "path",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(!help.stdout.contains("environment"), "{}", help.stdout);
    let show = snap(&sb, "show", &["show", "good"]);
    assert!(
        !show.stdout.lines().any(|l| l.starts_with(':')),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("kernels.source: hand"),
        "{}",
        show.stdout
    );
    snap(&sb, "show_broken", &["show", "broken"]);
    let unknown = snap(&sb, "show_unknown", &["show", "godo"]);
    assert_eq!(unknown.code, 1);
}

#[test]
fn add_dry_run_and_existing() {
    let python = require_python!();
    let mut sb = isolated();
    sb.set("KERNELS_PYTHON", &python).set("KERNELS_NO_UV", "1");
    let run = snap(
        &sb,
        "add_dry_run_venv",
        &["add", "newenv", "--backend", "venv", "--dry-run"],
    );
    assert_eq!(run.code, 0);
    let prefix = python.parent().and_then(Path::parent).unwrap();
    let prefix = prefix.display().to_string();
    let run = snap(
        &sb,
        "add_dry_run_existing",
        &["add", "mine", "--existing", &prefix, "--dry-run"],
    );
    assert!(!run.stdout.contains("existing, existing"), "{}", run.stdout);
}

#[test]
fn add_failures() {
    let cb = CondaBox::standin(None);
    let run = snap(
        &cb.sb,
        "add_missing_package",
        &["add", "c4", "-p", "nonexistent-pkg"],
    );
    assert_eq!(run.code, 1);
    // Short, names the package, points to a log that holds the tool's whole output.
    assert!(run.stderr.lines().count() <= 8, "{}", run.stderr);
    assert!(!run.stderr.contains('{'), "no raw JSON: {}", run.stderr);
    let log = run
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("full output: ~/"))
        .unwrap_or_else(|| panic!("no log path: {}", run.stderr));
    let text = std::fs::read_to_string(cb.sb.home().join(log)).unwrap();
    assert!(text.contains("nonexistent-pkg"), "{text}");
    let sb = isolated();
    snap(&sb, "add_bad_name", &["add", "bad/name"]);
    snap(
        &sb,
        "add_conflicting_flags",
        &["add", "x", "--existing", "/e", "--prefix", "/p"],
    );
}

/// Success paths of `add` and `install` with the conda stand-in: the tool picked and why,
/// the steps, the closing line with versions and time; `-v` adds each command line.
#[test]
fn add_and_install_succeed() {
    let cb = CondaBox::standin(None);
    let run = snap(&cb.sb, "add_conda", &["add", "c1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Added kernel `c1` \"Python (c1)\": conda env "),
        "{last}"
    );
    assert!(last.contains("packages) in "), "{last}");
    assert!(
        run.stderr.contains(", named by KERNELS_CONDA)"),
        "{}",
        run.stderr
    );
    let run = snap(&cb.sb, "add_conda_verbose", &["add", "c2", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("\n  $ "), "{}", run.stderr);
    let run = snap(&cb.sb, "add_unchanged", &["add", "c1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The dry run shows what the real run does: an install, no kernel.json rewrite.
    let run = snap(
        &cb.sb,
        "install_dry_run",
        &["install", "c1", "tabulate", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains(". write "), "{}", run.stdout);
    let run = snap(&cb.sb, "install", &["install", "c1", "tabulate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A repair keeps the recorded backend and prefix; `--existing` takes a conda env name, and
/// an unknown name says which names come close.
#[test]
fn repair_and_existing_by_name() {
    let python = require_python!();
    let mut cb = CondaBox::standin(None);
    cb.sb
        .set("KERNELS_PYTHON", &python)
        .set("KERNELS_NO_UV", "1");
    cb.sb.kernels(&["add", "c5"]).ok();
    // The kernel says a venv made its environment at `gone/c5`, which was deleted since.
    let file = cb.sb.user_kernels().join("c5/kernel.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let gone = cb.sb.root().join("gone/c5");
    spec["metadata"]["kernels"]["backend"] = "venv".into();
    spec["metadata"]["kernels"]["env"] = gone.display().to_string().into();
    std::fs::write(&file, spec.to_string()).unwrap();
    let run = snap(&cb.sb, "add_repair_dry_run", &["add", "c5", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let env_line = format!("  environment {} (new, venv)", gone.display());
    assert!(run.stdout.contains(&env_line), "{}", run.stdout);

    let run = snap(
        &cb.sb,
        "add_existing_by_name",
        &["add", "e1", "--existing", "c5", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&cb.env("c5").display().to_string()),
        "{}",
        run.stdout
    );
    let run = snap(
        &cb.sb,
        "add_existing_unknown_name",
        &["add", "e2", "--existing", "c6"],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("did you mean `c5`"), "{}", run.stderr);
}

#[test]
fn install_failures() {
    let sb = layout();
    let run = snap(&sb, "install_unknown", &["install", "nosuch", "pandas"]);
    assert_eq!(run.code, 1);
    snap(&sb, "install_unknown_env", &["install", "good", "pandas"]);
}

#[test]
fn remove_dry_run_remove_and_unknown() {
    let sb = layout();
    snap(&sb, "remove_dry_run", &["remove", "gone", "--dry-run"]);
    let run = snap(&sb, "remove", &["remove", "gone"]);
    assert_eq!(run.code, 0);
    snap(&sb, "remove_unknown", &["remove", "gone"]);
}

/// `remove --with-env` names each environment it would delete, with its size, and without a
/// terminal deletes none unless `--yes` (exit 2). The environment is laid out as `kernels add`
/// leaves one (marker, record of its identity, a kernel claiming it); `e2e::list_show_remove`
/// drives the same through a real `add`.
#[test]
fn remove_with_env_names_what_it_deletes() {
    use std::os::unix::fs::MetadataExt;
    let sb = layout();
    let env = sb.root().join("envs/made");
    std::fs::create_dir_all(env.join("bin")).unwrap();
    std::fs::write(env.join("bin/python"), "").unwrap();
    std::fs::write(env.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    std::fs::write(
        env.join(".kernels-env.json"),
        r#"{"created_by": "kernels", "backend": "uv"}"#,
    )
    .unwrap();
    let canonical = std::fs::canonicalize(&env).unwrap();
    let meta = std::fs::metadata(&canonical).unwrap();
    let state = sb.home().join(".local/state/kernels");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("created-envs.json"),
        serde_json::json!({"version": 1, "envs": {canonical.to_str().unwrap():
            {"dev": meta.dev(), "ino": meta.ino(), "backend": "uv"}}})
        .to_string(),
    )
    .unwrap();
    let spec = serde_json::json!({
        "argv": [env.join("bin/python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Made", "language": "python",
        "metadata": {"kernels": {"managed": true, "env": env, "env_created": true,
            "backend": "uv", "activation": {"method": "computed", "vars": []},
            "source": "add"}}});
    sb.write_spec(&sb.user_kernels(), "made", &spec.to_string());
    let run = snap(
        &sb,
        "remove_with_env_dry_run",
        &["remove", "made", "--with-env", "--dry-run"],
    );
    assert_eq!(run.code, 0);
    let run = snap(
        &sb,
        "remove_with_env_no_terminal",
        &["remove", "made", "--with-env"],
    );
    assert_eq!(run.code, 2);
    assert!(env.join("bin/python").exists());
    assert!(sb.user_kernels().join("made/kernel.json").exists());
}

#[test]
fn envs_doctor_prune_policy() {
    let mut sb = layout();
    let root = sb.root().join("conda");
    fake_conda_root(&sb, &root, 2);
    sb.set("KERNELS_CONDA", root.join("bin/conda"));
    snap(&sb, "envs", &["envs"]);
    let run = snap(&sb, "doctor", &["doctor"]);
    assert_eq!(run.code, 4);
    snap(&sb, "doctor_unknown", &["doctor", "nosuch"]);
    snap(&sb, "prune_dry_run", &["prune", "--dry-run"]);
    snap(&sb, "policy", &["policy"]);
}

#[test]
fn apply_dry_run_and_bad_file() {
    let python = require_python!();
    let mut sb = isolated();
    sb.set("KERNELS_PYTHON", &python).set("KERNELS_NO_UV", "1");
    let file = sb.root().join("kernels.toml");
    std::fs::write(
        &file,
        "version = 1\n\n[[kernel]]\nname = \"data\"\nbackend = \"venv\"\npip = [\"tabulate\"]\n",
    )
    .unwrap();
    let run = snap(
        &sb,
        "apply_dry_run",
        &["apply", "kernels.toml", "--dry-run"],
    );
    assert_eq!(run.code, 0);
    let run = snap(&sb, "apply_check", &["apply", "kernels.toml", "--check"]);
    assert_eq!(run.code, 4);
    std::fs::write(
        &file,
        "version = 1\n\n[[kernel]]\nname = \"data\"\nbakend = \"venv\"\n",
    )
    .unwrap();
    let run = snap(&sb, "apply_bad_file", &["apply", "kernels.toml"]);
    assert_eq!(run.code, 2);
}

#[test]
fn help_examples() {
    let sb = Sandbox::new();
    for cmd in ["add", "install", "remove", "apply", "doctor"] {
        let run = sb.kernels(&[cmd, "--help"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("\nExamples:\n"),
            "{cmd}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("\nGlobal options:\n"),
            "{cmd}: {}",
            run.stdout
        );
    }
}

/// `kernels man | head -1`: the reader goes away; the run ends with 0 and says nothing.
#[test]
fn a_closed_pipe_ends_quietly() {
    let sb = layout();
    for args in [&["man"][..], &["completions", "bash"], &["list", "--all"]] {
        let mut child = sb
            .command(kernels_bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the child writes anything: every write meets EPIPE.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

/// A kernel named `name` whose interpreter is the test Python (a venv with ipykernel), for
/// commands that start it or read its environment without making one.
fn test_python_kernel(sb: &Sandbox, name: &str, python: &Path) {
    let spec = serde_json::json!({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": format!("Python ({name})"), "language": "python"});
    sb.write_spec(&sb.user_kernels(), name, &spec.to_string());
}

/// `prune` removes a kernel whose interpreter is gone, then has nothing to do; `protect`
/// records a kernel and says which names come close to an unknown one.
#[test]
fn prune_and_protect() {
    let sb = layout();
    std::fs::remove_dir_all(sb.user_kernels().join("broken")).unwrap();
    let run = snap(&sb, "prune", &["prune"]);
    assert_eq!(run.code, 0);
    assert!(!sb.user_kernels().join("gone").exists());
    let run = snap(&sb, "prune_nothing", &["prune"]);
    assert_eq!(run.code, 0);
    let run = snap(&sb, "protect", &["protect", "good"]);
    assert_eq!(run.code, 0);
    let run = snap(&sb, "protect_unknown", &["protect", "godo"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("`good`"), "{}", run.stderr);
}

/// `run` on a kernel and on a name no kernel has; `doctor` finding nothing wrong; `export` of an unknown name (its success
/// is in [`apply_then_remove_with_env`], on an environment whose packages are fixed).
#[test]
fn run_export_doctor() {
    let python = require_python!();
    let sb = layout();
    test_python_kernel(&sb, "py", &python);
    let run = snap(&sb, "run", &["run", "py", "--", "python", "-c", "print(1)"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "1\n");
    let run = snap(
        &sb,
        "run_unknown",
        &["run", "pyy", "--", "python", "-c", "print(1)"],
    );
    assert_ne!(run.code, 0);
    let run = snap(&sb, "export_unknown", &["export", "pyy"]);
    assert_ne!(run.code, 0);
    let run = snap(&sb, "doctor_ok", &["doctor", "py"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

/// `rebind` rewrites the notebook that asks for the old kernel; an unknown new kernel fails.
#[test]
fn rebind_success_and_unknown() {
    let python = require_python!();
    let sb = layout();
    test_python_kernel(&sb, "py", &python);
    let nb = sb.root().join("work/a.ipynb");
    std::fs::create_dir_all(nb.parent().unwrap()).unwrap();
    let notebook = serde_json::json!({
        "cells": [], "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "old", "display_name": "Old", "language": "python"}}});
    std::fs::write(&nb, format!("{notebook:#}\n")).unwrap();
    let run = snap(
        &sb,
        "rebind",
        &["rebind", "work", "--from", "old", "--to", "py"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&nb).unwrap();
    assert!(text.contains("\"name\": \"py\""), "{text}");
    let run = snap(
        &sb,
        "rebind_unknown",
        &["rebind", "work", "--from", "py", "--to", "pyy"],
    );
    assert_ne!(run.code, 0);
}

/// `apply` makes what the file asks for (conda stand-in), then finds nothing to change;
/// `export` writes the environment.yml of what it made; `remove --with-env --yes` deletes the kernel and the environment `apply` made.
#[test]
fn apply_then_remove_with_env() {
    let cb = CondaBox::standin(None);
    let file = cb.sb.root().join("kernels.toml");
    std::fs::write(
        &file,
        "version = 1\n\n[[kernel]]\nname = \"data\"\nbackend = \"conda\"\n",
    )
    .unwrap();
    let run = snap(&cb.sb, "apply", &["apply", "kernels.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(cb.sb.user_kernels().join("data/kernel.json").exists());
    let run = snap(&cb.sb, "apply_converged", &["apply", "kernels.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = snap(&cb.sb, "export", &["export", "data"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("ipykernel"), "{}", run.stdout);
    let env = cb.env("data");
    assert!(env.exists());
    let run = snap(
        &cb.sb,
        "remove_with_env",
        &["remove", "data", "--with-env", "--yes"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!env.exists());
    assert!(!cb.sb.user_kernels().join("data").exists());
}
