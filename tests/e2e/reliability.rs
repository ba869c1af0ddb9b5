//! The reliability suite: hostile kernel.json files, names that try to escape the kernels
//! directory, concurrent and interrupted runs, read-only and full disks.
//!
//! Every case is recorded as one line `reliability: <group>/<case>: ok|FAIL ...` on stdout and
//! each test ends with `reliability <group>: N cases tried, M passed`; `scripts/reliability.sh`
//! runs this module and adds the lines up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::policy::{isolated, spec_argv, system_kernels, tree};
use crate::common::{kernels_bin, Run, Sandbox};

/// How long any reading command may take on a hostile input before it counts as a hang.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// The outcomes of one group of cases.
struct Suite {
    group: &'static str,
    results: Vec<(String, Result<(), String>)>,
}

impl Suite {
    fn new(group: &'static str) -> Suite {
        Suite {
            group,
            results: Vec::new(),
        }
    }

    fn record(&mut self, case: impl Into<String>, result: Result<(), String>) {
        let case = case.into();
        match &result {
            Ok(()) => println!("reliability: {}/{case}: ok", self.group),
            Err(why) => println!("reliability: {}/{case}: FAIL {why}", self.group),
        }
        self.results.push((case, result));
    }

    fn finish(self) {
        let passed = self.results.iter().filter(|(_, r)| r.is_ok()).count();
        println!(
            "reliability {}: {} cases tried, {passed} passed",
            self.group,
            self.results.len()
        );
        let failed: Vec<String> = self
            .results
            .iter()
            .filter_map(|(c, r)| r.as_ref().err().map(|e| format!("{c}: {e}")))
            .collect();
        assert!(
            failed.is_empty(),
            "{} failed:\n{}",
            self.group,
            failed.join("\n")
        );
    }
}

/// Runs a command, killing it (and failing) after `limit`.
fn run_limited(cmd: &mut Command, limit: Duration) -> Result<Run, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut err = child.stderr.take().ok_or("no stderr")?;
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no exit after {limit:?}: a hang"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Ok(Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    })
}

fn kernels_limited(sb: &Sandbox, args: &[&str]) -> Result<Run, String> {
    run_limited(sb.command(kernels_bin()).args(args), HANG_LIMIT)
}

/// A healthy-looking spec that must stay listed whatever its neighbour does.
const CONTROL: &str = "control";

fn write_bytes(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, data).expect("write");
}

/// Makes one case under a kernels dir; returns the kernel name it installs, if any.
type MakeCase = fn(&Path) -> Option<String>;

/// Cases made at test time: too large for git, or not files at all. Each returns the kernel
/// name it installs (if any) under `kernels`.
fn generated_cases() -> Vec<(&'static str, MakeCase)> {
    vec![
        ("huge-50mb", |k| {
            let path = k.join("hostile-huge-50mb/kernel.json");
            std::fs::create_dir_all(path.parent().expect("p")).expect("dir");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
            f.write_all(br#"{"argv": ["python3", "{connection_file}"], "language": "python", "display_name": ""#)
                .expect("w");
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..50 {
                f.write_all(&chunk).expect("w");
            }
            f.write_all(b"\"}").expect("w");
            Some("hostile-huge-50mb".into())
        }),
        ("deep-nesting-10000", |k| {
            let mut s = String::from(
                r#"{"argv": ["python3", "{connection_file}"], "display_name": "d", "language": "python", "metadata": {"x": "#,
            );
            s.push_str(&"[".repeat(10_000));
            s.push_str(&"]".repeat(10_000));
            s.push_str("}}");
            write_bytes(
                &k.join("hostile-deep-nesting-10000/kernel.json"),
                s.as_bytes(),
            );
            Some("hostile-deep-nesting-10000".into())
        }),
        ("deep-object-nesting-10000", |k| {
            let mut s = String::new();
            for _ in 0..10_000 {
                s.push_str("{\"a\":");
            }
            s.push('1');
            s.push_str(&"}".repeat(10_000));
            write_bytes(
                &k.join("hostile-deep-object-nesting-10000/kernel.json"),
                s.as_bytes(),
            );
            Some("hostile-deep-object-nesting-10000".into())
        }),
        ("million-argv", |k| {
            let argv: Vec<&str> = std::iter::once("python3")
                .chain(std::iter::repeat_n("a", 1_000_000))
                .collect();
            let text = serde_json::json!({"argv": argv, "display_name": "m", "language": "python"})
                .to_string();
            write_bytes(&k.join("hostile-million-argv/kernel.json"), text.as_bytes());
            Some("hostile-million-argv".into())
        }),
        ("symlink-loop-dir", |k| {
            std::fs::create_dir_all(k).expect("k");
            std::os::unix::fs::symlink(
                "hostile-symlink-loop-dir",
                k.join("hostile-symlink-loop-dir"),
            )
            .expect("link");
            None
        }),
        ("symlink-ping-pong", |k| {
            std::fs::create_dir_all(k).expect("k");
            std::os::unix::fs::symlink("hostile-pong", k.join("hostile-ping")).expect("link");
            std::os::unix::fs::symlink("hostile-ping", k.join("hostile-pong")).expect("link");
            None
        }),
        ("kernel-json-self-link", |k| {
            let d = k.join("hostile-self-link");
            std::fs::create_dir_all(&d).expect("d");
            std::os::unix::fs::symlink("kernel.json", d.join("kernel.json")).expect("link");
            None
        }),
        ("kernel-json-to-dev-zero", |k| {
            // Reading it would never end; it is not a regular file, so it must not be read.
            let d = k.join("hostile-dev-zero");
            std::fs::create_dir_all(&d).expect("d");
            std::os::unix::fs::symlink("/dev/zero", d.join("kernel.json")).expect("link");
            None
        }),
        ("fifo", |k| {
            // Opening a FIFO with no writer blocks forever: the unreadable file no user can read.
            let d = k.join("hostile-fifo");
            std::fs::create_dir_all(&d).expect("d");
            let ok = Command::new("mkfifo").arg(d.join("kernel.json")).status();
            assert!(ok.is_ok_and(|s| s.success()), "mkfifo");
            None
        }),
        ("dir-named-kernel-json", |k| {
            std::fs::create_dir_all(k.join("hostile-dir-json/kernel.json")).expect("d");
            None
        }),
        ("spec-dir-is-link-to-file", |k| {
            std::fs::create_dir_all(k).expect("k");
            let f = k.join("plain-file");
            std::fs::write(&f, "not a dir").expect("f");
            std::os::unix::fs::symlink(&f, k.join("hostile-link-to-file")).expect("link");
            None
        }),
        ("dangling-spec-dir", |k| {
            std::fs::create_dir_all(k).expect("k");
            std::os::unix::fs::symlink("/nonexistent/kernels/x", k.join("hostile-dangling"))
                .expect("link");
            None
        }),
        ("mode-000", |k| {
            // Root (CI) reads it anyway; as another user it is an unreadable file.
            use std::os::unix::fs::PermissionsExt;
            let p = k.join("hostile-mode-000/kernel.json");
            write_bytes(&p, br#"{"argv": ["python3", "{connection_file}"], "display_name": "m", "language": "python"}"#);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).expect("chmod");
            Some("hostile-mode-000".into())
        }),
        ("non-utf8-dir-name", |k| {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"hostile-\xff\xfe");
            write_bytes(
                &k.join(name).join("kernel.json"),
                br#"{"argv": ["python3", "{connection_file}"], "display_name": "u", "language": "python"}"#,
            );
            None
        }),
        ("newline-in-dir-name", |k| {
            write_bytes(
                &k.join("hostile-\n\u{1b}[31mfake").join("kernel.json"),
                br#"{"argv": ["python3", "{connection_file}"], "display_name": "n", "language": "python"}"#,
            );
            None
        }),
    ]
}

fn hostile_corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

/// Runs every reading command against a sandbox holding one hostile case (plus a control
/// kernel) and checks: no hang, no panic, expected exit codes, the control kernel still
/// listed, the hostile kernel named (listed or reported broken), and nothing on disk changed.
fn check_reading_commands(sb: &Sandbox, name: Option<&str>) -> Result<(), String> {
    let before = tree(sb.root());
    let mut errors = Vec::new();
    let mut check = |args: &[&str], codes: &[i32]| -> Option<Run> {
        match kernels_limited(sb, args) {
            Err(e) => {
                errors.push(format!("`{}`: {e}", args.join(" ")));
                None
            }
            Ok(run) => {
                if run.stderr.contains("panicked") || run.stdout.contains("panicked") {
                    errors.push(format!("`{}` panicked: {}", args.join(" "), run.stderr));
                } else if !codes.contains(&run.code) {
                    errors.push(format!(
                        "`{}` exited {} (expected {codes:?}): {}",
                        args.join(" "),
                        run.code,
                        run.stderr.chars().take(400).collect::<String>()
                    ));
                }
                Some(run)
            }
        }
    };
    let list = check(&["list"], &[0]);
    let list_json = check(&["list", "--json"], &[0]);
    let doctor = check(&["doctor"], &[0, 4]);
    let doctor_json = check(&["doctor", "--json"], &[0, 4]);
    check(&["prune", "--dry-run"], &[0]);
    let prune_json = check(&["prune", "--dry-run", "--json"], &[0]);
    check(&["policy"], &[0]);
    if let Some(n) = name {
        check(&["show", n], &[0, 1]);
        check(&["doctor", n], &[0, 4]);
    }
    if let Some(run) = &list {
        if !run.stdout.contains(CONTROL) {
            errors.push(format!("`list` lost the control kernel:\n{}", run.stdout));
        }
    }
    for (what, run) in [
        ("list --json", &list_json),
        ("doctor --json", &doctor_json),
        ("prune --dry-run --json", &prune_json),
    ] {
        if let Some(run) = run {
            if serde_json::from_str::<serde_json::Value>(&run.stdout).is_err() {
                errors.push(format!("`{what}` printed no JSON document"));
            }
        }
    }
    if let (Some(n), Some(lj)) = (name, &list_json) {
        let doc: serde_json::Value = serde_json::from_str(&lj.stdout).unwrap_or_default();
        let loads = doc["kernelspecs"].get(n).is_some();
        let broken = doc["broken"]
            .as_array()
            .is_some_and(|b| b.iter().any(|e| e["name"] == n));
        if !loads && !broken {
            errors.push(format!("`list --json` neither lists nor reports {n}"));
        }
        if let Some(d) = &doctor {
            if !d.stdout.contains(n) {
                errors.push(format!("`doctor` does not name {n}"));
            }
            if broken && (d.code != 4 || !d.stdout.contains("does not load")) {
                errors.push(format!("`doctor` does not report that {n} does not load"));
            }
        }
    }
    if tree(sb.root()) != before {
        errors.push("a reading command changed files".into());
    }
    if Path::new("/tmp/kernels-hostile-was-run").exists() {
        errors.push("something in a spec was executed".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn sandbox_with_control() -> Sandbox {
    let sb = isolated();
    sb.write_spec(
        &sb.user_kernels(),
        CONTROL,
        &spec_argv(
            &[
                "python3",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
            "Control",
        ),
    );
    sb
}

#[test]
fn hostile_kernel_json_corpus() {
    let _ = std::fs::remove_file("/tmp/kernels-hostile-was-run");
    let mut suite = Suite::new("hostile");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(hostile_corpus_dir())
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("kernel.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus is incomplete: {cases:?}");
    for case in &cases {
        let case_name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let sb = sandbox_with_control();
        let name = format!("hostile-{case_name}");
        let data = std::fs::read(case.join("kernel.json")).expect("read case");
        write_bytes(&sb.user_kernels().join(&name).join("kernel.json"), &data);
        suite.record(case_name, check_reading_commands(&sb, Some(&name)));
    }
    for (case, make) in generated_cases() {
        let sb = sandbox_with_control();
        let name = make(&sb.user_kernels());
        suite.record(case, check_reading_commands(&sb, name.as_deref()));
    }
    // The kernels dir itself is hostile: a file, or a symlink loop.
    let sb = sandbox_with_control();
    let jp = sb.root().join("jp-file");
    write_bytes(&jp.join("kernels"), b"a file where a directory should be");
    let mut sb = sb;
    sb.set("JUPYTER_PATH", &jp);
    suite.record("kernels-dir-is-a-file", check_reading_commands(&sb, None));
    let mut sb = sandbox_with_control();
    let jp = sb.root().join("jp-loop");
    std::fs::create_dir_all(&jp).expect("jp");
    std::os::unix::fs::symlink("kernels", jp.join("kernels")).expect("link");
    sb.set("JUPYTER_PATH", &jp);
    suite.record(
        "kernels-dir-is-a-symlink-loop",
        check_reading_commands(&sb, None),
    );
    suite.finish();
}

/// Every command that takes a kernel name, with `NAME` where the name goes.
fn name_commands(sb: &Sandbox) -> Vec<Vec<String>> {
    let nb = sb.root().join("nb");
    let python = crate::common::test_python()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/usr/bin/python3".into());
    let env_dir = PathBuf::from(&python)
        .parent()
        .and_then(Path::parent)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let nb = nb.display().to_string();
    [
        vec!["show", "NAME"],
        vec!["remove", "NAME"],
        vec!["remove", "--with-env", "NAME"],
        vec!["doctor", "NAME"],
        vec!["doctor", "--boot", "NAME"],
        vec!["install", "NAME", "numpy"],
        vec!["add", "NAME", "--existing", env_dir.as_str()],
        vec!["add", "NAME", "--backend", "venv"],
        // `--from` is matched against what notebooks say, which may be any string; only the
        // name written (`--to`) must be a kernel name.
        vec!["rebind", "--from", "control", "--to", "NAME", nb.as_str()],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn names_that_escape_the_kernels_dir_are_rejected_before_anything_is_touched() {
    let mut suite = Suite::new("names");
    // A NUL cannot be passed in argv at all (the OS forbids it); the name rule is checked in
    // the library instead.
    suite.record(
        "nul-byte (library)",
        match kernelspec::KernelName::parse("a\0b") {
            Err(_) => Ok(()),
            Ok(n) => Err(format!("accepted {n:?}")),
        },
    );
    let long = "x".repeat(300);
    let bad_names: Vec<(&str, &str)> = vec![
        ("dotdot-slash", "../x"),
        ("dotdot-deep", "../../../../etc"),
        ("absolute", "/abs"),
        ("absolute-etc", "/etc/passwd"),
        ("slash", "a/b"),
        ("dotdot", ".."),
        ("dot", "."),
        ("empty", ""),
        ("newline", "a\nb"),
        ("control-char", "a\u{1}b"),
        ("space", "a b"),
        ("300-chars", long.as_str()),
        ("unicode-kelvin", "\u{212a}ernel"),
        ("backslash", "a\\b"),
    ];
    for (case, bad) in &bad_names {
        let sb = sandbox_with_control();
        let nb = sb.root().join("nb");
        std::fs::create_dir_all(&nb).expect("nb");
        std::fs::write(
            nb.join("a.ipynb"),
            r#"{"cells": [], "metadata": {"kernelspec": {"name": "control", "display_name": "C", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}"#,
        )
        .expect("nb");
        for cmd in name_commands(&sb) {
            let args: Vec<String> = cmd
                .iter()
                .map(|a| {
                    if a == "NAME" {
                        (*bad).to_string()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let label = format!("{case}: kernels {}", cmd.join(" "));
            let before = tree(sb.root());
            let result = match kernels_limited(&sb, &refs) {
                Err(e) => Err(e),
                Ok(run) if run.stderr.contains("panicked") => {
                    Err(format!("panicked: {}", run.stderr))
                }
                Ok(run) if run.code != 2 => Err(format!(
                    "exit {} (expected 2): {}",
                    run.code,
                    run.stderr.lines().next().unwrap_or_default()
                )),
                Ok(_) if tree(sb.root()) != before => Err("files changed".into()),
                Ok(_) => Ok(()),
            };
            suite.record(label, result);
        }
        // `protect` takes absolute environment paths too: `/abs` is looked up (exit 1, not
        // found), every other bad name is a usage error.
        let before = tree(sb.root());
        let expected = if bad.starts_with('/') { 1 } else { 2 };
        let result = match kernels_limited(&sb, &["protect", bad]) {
            Err(e) => Err(e),
            Ok(run) if run.code != expected => {
                Err(format!("exit {} (expected {expected})", run.code))
            }
            Ok(_) if tree(sb.root()) != before => Err("files changed".into()),
            Ok(_) => Ok(()),
        };
        suite.record(format!("{case}: kernels protect NAME"), result);
    }
    suite.finish();
}

#[test]
fn a_system_kernel_dir_that_cannot_be_written_is_a_clear_error_and_nothing_is_lost() {
    // Root ignores permission bits, so the directory is made immutable (chattr +i) instead;
    // without chattr support the case says why it skipped.
    let mut suite = Suite::new("read-only-prune");
    let sb = sandbox_with_control();
    let sys = system_kernels(&sb);
    let gone = sb.root().join("gone/bin/python");
    sb.write_spec(
        &sys,
        "stale-system",
        &super::policy::spec_for(&gone, "Stale"),
    );
    let Some(read_only) = crate::common::Immutable::make(&sys) else {
        println!("reliability: read-only: skipped, `chattr +i` is not supported here");
        return crate::common::skip("`chattr +i` is not supported here");
    };
    let before = tree(sb.root());
    let result = kernels_limited(&sb, &["prune", "--json"]);
    drop(read_only);
    suite.record(
        "prune-in-immutable-dir",
        match result {
            Err(e) => Err(e),
            Ok(run) if run.code != 1 => {
                Err(format!("exit {} (expected 1): {}", run.code, run.stderr))
            }
            Ok(run)
                if !run
                    .stderr
                    .contains("removing kernel `stale-system` failed: permission denied") =>
            {
                Err(format!("unclear: {}", run.stderr))
            }
            Ok(_) if tree(sb.root()) != before => Err("files changed".into()),
            Ok(_) => Ok(()),
        },
    );
    suite.finish();
}

/// The prefix of the test interpreter's venv (it has ipykernel), for `add --existing`.
fn test_env() -> Option<String> {
    crate::common::test_python().and_then(|p| p.parent()?.parent().map(|e| e.display().to_string()))
}

/// Whether every kernel.json under `dir` parses and no temporary or half-made entry is left.
fn kernels_dir_is_consistent(dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            return Err(format!("a leftover temporary entry {name}"));
        }
        let spec = e.path().join("kernel.json");
        let text = std::fs::read(&spec).map_err(|err| format!("{name}: no kernel.json ({err})"))?;
        if kernelspec::KernelSpec::from_json_bytes(&text).is_err() {
            return Err(format!("{name}: a half-written kernel.json"));
        }
    }
    Ok(())
}

/// Starts `kernels ARGS` in the background.
fn spawn(sb: &Sandbox, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = sb.command(kernels_bin());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn kernels")
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn eight_concurrent_adds_and_removes_leave_a_consistent_state() {
    let Some(env) = test_env() else {
        return crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
    };
    let mut suite = Suite::new("concurrency");
    let sb = sandbox_with_control();
    for r in ["r0", "r1"] {
        sb.kernels(&["add", r, "--existing", &env]).ok();
    }
    // Round 1: runs wait for the lock (60 s), so all serialise: same names and different.
    let jobs: Vec<Vec<&str>> = vec![
        vec!["add", "a0", "--existing", &env],
        vec!["add", "a1", "--existing", &env],
        vec!["add", "same", "--existing", &env],
        vec!["add", "same", "--existing", &env],
        vec!["add", "Same", "--existing", &env],
        vec!["remove", "r0"],
        vec!["remove", "r1"],
        vec!["remove", "r0"],
    ];
    let children: Vec<_> = jobs
        .iter()
        .map(|args| spawn(&sb, args, &[("KERNELS_LOCK_TIMEOUT", "120")]))
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let mut removed_r0 = 0;
    for (args, run) in jobs.iter().zip(&runs) {
        let label = format!("waiting: kernels {}", args.join(" "));
        let result = if run.stderr.contains("panicked") {
            Err(format!("panicked: {}", run.stderr))
        } else if run.code == 0 {
            if args[..2] == ["remove", "r0"] {
                removed_r0 += 1;
            }
            Ok(())
        } else if run.code == 1 && args[0] == "remove" && run.stderr.contains("no kernel named") {
            Ok(())
        } else {
            Err(format!("exit {}: {}", run.code, run.stderr))
        };
        suite.record(label, result);
    }
    suite.record(
        "waiting: r0 removed exactly once",
        (removed_r0 == 1)
            .then_some(())
            .ok_or(format!("{removed_r0} removals succeeded")),
    );
    let k = sb.user_kernels();
    let state = ["a0", "a1", "same", "control"]
        .iter()
        .all(|n| k.join(n).join("kernel.json").is_file())
        && !k.join("r0").exists()
        && !k.join("r1").exists();
    suite.record(
        "waiting: final state",
        if state {
            Ok(())
        } else {
            Err(format!("{:?}", tree(&k).keys().collect::<Vec<_>>()))
        },
    );
    suite.record(
        "waiting: every kernel.json whole",
        kernels_dir_is_consistent(&k),
    );

    // Round 2: no waiting. Each run either succeeds or says "busy" (exit 5) and changes nothing.
    let names: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            spawn(
                &sb,
                &["add", n, "--existing", &env],
                &[("KERNELS_LOCK_TIMEOUT", "0")],
            )
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    for (n, run) in names.iter().zip(&runs) {
        let exists = k.join(n).join("kernel.json").is_file();
        let result = match run.code {
            0 if exists => Ok(()),
            5 if !exists && run.stderr.contains("busy") => Ok(()),
            code => Err(format!(
                "exit {code}, kernel present: {exists}: {}",
                run.stderr
            )),
        };
        suite.record(format!("no wait: kernels add {n}"), result);
    }
    suite.record(
        "no wait: every kernel.json whole",
        kernels_dir_is_consistent(&k),
    );
    suite.finish();
}

/// A fake `uv` that runs the real one but stops (sleeping, having announced itself) before
/// or after the call whose first argument is `step`.
fn gated_uv(dir: &Path, real: &Path, step: &str, when: &str, started: &Path) -> PathBuf {
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = '{step}' ]; then\n\
           if [ '{when}' = before ]; then : > '{started}'; sleep 120; exit 1; fi\n\
           '{real}' \"$@\"; rc=$?; : > '{started}'; sleep 120; exit $rc\n\
         fi\n\
         exec '{real}' \"$@\"\n",
        started = started.display(),
        real = real.display()
    );
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("uv");
    std::fs::write(&path, script).expect("uv");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn an_interrupt_at_each_step_of_add_leaves_the_machine_as_it_was() {
    let Some(python) = crate::common::test_python() else {
        return crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
    };
    let bin = python.parent().expect("bin").to_path_buf();
    let real_uv = bin.join("uv");
    let base = super::add::base_python();
    let mut suite = Suite::new("interrupt");

    // 1. The tool steps of a new venv kernel (`uv venv`, `uv pip install`), each interrupted
    //    just before and just after the tool ran, by SIGINT and by SIGTERM.
    if !real_uv.is_file() || base.is_none() {
        println!("reliability: interrupt: tool steps skipped (no uv or base interpreter next to KERNELS_TEST_PYTHON)");
        crate::common::skip(
            "the tool steps of the interrupt suite (no uv or base interpreter next to KERNELS_TEST_PYTHON)",
        );
    } else {
        for step in ["venv", "pip"] {
            for when in ["before", "after"] {
                for signal in ["INT", "TERM"] {
                    let mut sb = sandbox_with_control();
                    super::add::warm_caches(&mut sb);
                    if let Some(b) = &base {
                        sb.set("KERNELS_PYTHON", b);
                    }
                    let started = sb.root().join("started");
                    let uv = gated_uv(&sb.root().join("gate"), &real_uv, step, when, &started);
                    sb.set("KERNELS_UV", &uv);
                    let before = tree(sb.root());
                    let child = spawn(&sb, &["add", "fresh", "--backend", "venv"], &[]);
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while !started.exists() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let reached = started.exists();
                    let _ = std::fs::remove_file(&started);
                    let _ = Command::new("kill")
                        .arg(format!("-{signal}"))
                        .arg(child.id().to_string())
                        .status();
                    let run = finish(child);
                    let mut after = tree(sb.root());
                    after.remove("started");
                    let result = if !reached {
                        Err(format!("the {step} step never ran: {}", run.stderr))
                    } else if run.code != 130 {
                        Err(format!("exit {} (expected 130): {}", run.code, run.stderr))
                    } else if after != before {
                        let added: Vec<_> =
                            after.keys().filter(|k| !before.contains_key(*k)).collect();
                        let gone: Vec<_> =
                            before.keys().filter(|k| !after.contains_key(*k)).collect();
                        Err(format!("not as before: added {added:?}, removed {gone:?}"))
                    } else {
                        Ok(())
                    };
                    suite.record(format!("SIG{signal} {when} `uv {step}`"), result);
                }
            }
        }
    }

    // 2. The kernel-writing steps (checks, kernel.json, logos) of registering an existing
    //    environment take a few milliseconds: signals are sent at delays 0.5 ms apart so that
    //    some land in each step. Every outcome must be all (exit 0, a whole kernel) or nothing.
    let env = bin.parent().expect("env").display().to_string();
    let mut interrupted = 0;
    for signal in ["INT", "TERM"] {
        for delay_us in (0..20_000u64).step_by(500) {
            let sb = sandbox_with_control();
            let before = tree(sb.root());
            let child = spawn(&sb, &["add", "quick", "--existing", &env], &[]);
            std::thread::sleep(Duration::from_micros(delay_us));
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status();
            let run = finish(child);
            let whole = kernels_dir_is_consistent(&sb.user_kernels()).is_ok()
                && sb.user_kernels().join("quick/kernel.json").is_file();
            let result = match run.code {
                0 if whole => Ok(()),
                130 | -1 if tree(sb.root()) == before => {
                    interrupted += 1;
                    Ok(())
                }
                code => Err(format!(
                    "exit {code}, kernel whole: {whole}: {}",
                    run.stderr
                )),
            };
            suite.record(
                format!(
                    "SIG{signal} after {:.1} ms of `add --existing`",
                    delay_us as f64 / 1000.0
                ),
                result,
            );
        }
    }
    println!("reliability: interrupt: {interrupted} of the timed runs were stopped part-way and left nothing behind");
    suite.finish();
}

/// Unmounts on drop, so a failing test does not leave a mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tiny tmpfs at `dir`, filled to the last byte; `None` (with the reason) when mounting is
/// not allowed here.
fn full_tmpfs(dir: &Path) -> Result<Mount, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Mount(dir.to_path_buf()))
}

fn fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join(".filler")).expect("filler");
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    // Small files may still fit in a partial block: take those too.
    for i in 0..64 {
        if std::fs::write(dir.join(format!(".filler-{i}")), b"x").is_err() {
            break;
        }
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_nothing_is_lost() {
    let Some(env) = test_env() else {
        return crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
    };
    let mut suite = Suite::new("full-disk");
    let sb = sandbox_with_control();
    let kernels_dir = sb.user_kernels();
    let keep = kernels_dir.join(CONTROL).join("kernel.json");
    let keep_text = std::fs::read(&keep).expect("control");
    // Mount over the user kernels dir (hiding the control kernel), then put it back inside.
    let mount = match full_tmpfs(&kernels_dir) {
        Ok(m) => m,
        Err(why) => {
            println!("reliability: full-disk: skipped, a tmpfs cannot be mounted here ({why})");
            return crate::common::skip(&format!("a tmpfs cannot be mounted here ({why})"));
        }
    };
    write_bytes(&kernels_dir.join(CONTROL).join("kernel.json"), &keep_text);
    fill(&kernels_dir);
    let before = tree(sb.root());
    let run = kernels_limited(&sb, &["add", "newk", "--existing", &env]);
    suite.record(
        "add onto a full disk",
        match run {
            Err(e) => Err(e),
            Ok(r) if r.code != 1 => Err(format!("exit {} (expected 1): {}", r.code, r.stderr)),
            Ok(r) if !r.stderr.contains("No space left") => Err(format!("unclear: {}", r.stderr)),
            Ok(_) if tree(sb.root()) != before => Err("files changed".into()),
            Ok(_) => Ok(()),
        },
    );
    let run = kernels_limited(&sb, &["protect", CONTROL]);
    // The policy file is on the (not full) home disk: protecting works.
    suite.record(
        "protect while the kernels disk is full",
        run.and_then(|r| if r.code == 0 { Ok(()) } else { Err(r.stderr) }),
    );
    let run = kernels_limited(&sb, &["doctor", CONTROL]);
    suite.record(
        "doctor on a full disk",
        run.and_then(|r| {
            if r.code == 0 || r.code == 4 {
                Ok(())
            } else {
                Err(r.stderr)
            }
        }),
    );
    drop(mount);

    // The policy file's disk is full: protect fails clearly and the old file is intact.
    let sb = sandbox_with_control();
    sb.write_spec(
        &sb.user_kernels(),
        "second",
        &spec_argv(&["python3", "{connection_file}"], "S"),
    );
    sb.kernels(&["protect", CONTROL]).ok();
    let policy_dir = sb.home().join(".config/kernels");
    let old = std::fs::read(policy_dir.join("policy.json")).expect("policy");
    let Ok(mount) = full_tmpfs(&policy_dir) else {
        suite.finish();
        return;
    };
    write_bytes(&policy_dir.join("policy.json"), &old);
    fill(&policy_dir);
    let run = kernels_limited(&sb, &["protect", "second"]);
    let intact = std::fs::read(policy_dir.join("policy.json")).ok() == Some(old.clone());
    let leftovers = std::fs::read_dir(&policy_dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".policy.json."))
                .count()
        })
        .unwrap_or(0);
    suite.record(
        "protect onto a full disk",
        match run {
            Err(e) => Err(e),
            Ok(r) if r.code != 1 => Err(format!("exit {} (expected 1): {}", r.code, r.stderr)),
            Ok(r) if !r.stderr.contains("No space left") => Err(format!("unclear: {}", r.stderr)),
            Ok(_) if !intact => Err("the old policy file changed".into()),
            Ok(_) if leftovers > 0 => Err("a temporary file was left".into()),
            Ok(_) => Ok(()),
        },
    );
    drop(mount);
    suite.finish();
}

#[test]
fn an_immutable_kernels_dir_is_a_clear_error_for_add_and_remove() {
    let Some(env) = test_env() else {
        return crate::common::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
    };
    let mut suite = Suite::new("read-only");
    let sb = sandbox_with_control();
    let dir = sb.user_kernels();
    let Some(read_only) = crate::common::Immutable::make(&dir) else {
        println!("reliability: read-only: skipped, `chattr +i` is not supported here");
        return crate::common::skip("`chattr +i` is not supported here");
    };
    let before = tree(sb.root());
    let add = kernels_limited(&sb, &["add", "newk", "--existing", &env]);
    let remove = kernels_limited(&sb, &["remove", CONTROL]);
    let after = tree(sb.root());
    drop(read_only);
    for (label, run) in [
        ("add into an immutable dir", add),
        ("remove from an immutable dir", remove),
    ] {
        suite.record(
            label,
            match run {
                Err(e) => Err(e),
                Ok(r) if r.code != 1 => Err(format!("exit {} (expected 1): {}", r.code, r.stderr)),
                Ok(r) if r.stderr.contains("panicked") || !r.stderr.contains("error:") => {
                    Err(format!("unclear: {}", r.stderr))
                }
                Ok(_) => Ok(()),
            },
        );
    }
    suite.record(
        "nothing changed",
        if after == before {
            Ok(())
        } else {
            Err("files changed".into())
        },
    );
    suite.finish();
}
