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
    let mut suite = Suite::new("read-only");
    let sb = sandbox_with_control();
    let sys = system_kernels(&sb);
    let gone = sb.root().join("gone/bin/python");
    sb.write_spec(
        &sys,
        "stale-system",
        &super::policy::spec_for(&gone, "Stale"),
    );
    let immutable = Command::new("chattr").arg("+i").arg(&sys).status();
    if !immutable.is_ok_and(|s| s.success()) {
        println!("reliability: read-only: skipped, `chattr +i` is not supported here");
        return;
    }
    let before = tree(sb.root());
    let result = kernels_limited(&sb, &["prune", "--json"]);
    let _ = Command::new("chattr").arg("-i").arg(&sys).status();
    suite.record(
        "prune-in-immutable-dir",
        match result {
            Err(e) => Err(e),
            Ok(run) if run.code != 1 => {
                Err(format!("exit {} (expected 1): {}", run.code, run.stderr))
            }
            Ok(run) if !run.stderr.contains("could not be removed") => {
                Err(format!("unclear: {}", run.stderr))
            }
            Ok(_) if tree(sb.root()) != before => Err("files changed".into()),
            Ok(_) => Ok(()),
        },
    );
    suite.finish();
}
