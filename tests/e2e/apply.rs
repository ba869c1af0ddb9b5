//! `kernels apply`: the documented image-build scripts and kernels.toml executed as written
//! (real venvs, real ipykernel, booted under the real jupyter_client), convergence, `--check`,
//! `--dry-run`, `--prune`, `--json`, file errors, and `--for-user` with a throwaway account.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{have, kernels_bin, run, test_bin_dir, Sandbox};
use crate::require_python;

/// The repository's `docs/examples`.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples")
}

fn support(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(file)
}

/// A sandbox whose PATH starts with the binary under test and the test venv's `bin` (uv).
fn sandbox() -> Sandbox {
    let mut sb = Sandbox::new();
    if let Some(bin) = test_bin_dir() {
        sb.prepend_path(&bin);
    }
    sb.prepend_path(kernels_bin().parent().unwrap());
    sb
}

/// Installer shims: `uv` and `pip` (the ones that exist on the sandbox PATH) are replaced by
/// scripts that log their arguments to `log` and then run the real tool. Returns the log.
fn install_shims(sb: &mut Sandbox) -> PathBuf {
    let dir = sb.root().join("shims");
    std::fs::create_dir_all(&dir).unwrap();
    let log = sb.root().join("installers.log");
    let path = sb.vars().get("PATH").cloned().unwrap_or_default();
    for tool in ["uv", "pip", "pip3", "conda", "mamba", "micromamba"] {
        let real = path
            .split(':')
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.is_file());
        let Some(real) = real else { continue };
        let shim = dir.join(tool);
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    sb.prepend_path(&dir);
    log
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn current_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs code in a kernel with the real jupyter_client; returns its JSON verdict.
fn run_in_kernel(sb: &Sandbox, python: &Path, kernel: &str, code: &str) -> Value {
    let out = run(sb.command(python).arg(support("run_kernel.py")).args([
        kernel,
        code,
        "--timeout",
        "90",
    ]));
    assert_eq!(
        out.code, 0,
        "{kernel} did not start:\n{}\n{}",
        out.stdout, out.stderr
    );
    serde_json::from_str(out.stdout.trim()).unwrap()
}

fn rows(doc: &Value) -> Vec<(String, String)> {
    doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                k["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn the_documented_image_scripts_create_check_and_restore_kernels() {
    let python = require_python!();
    let mut sb = sandbox();
    let log = install_shims(&mut sb);
    let toml = examples().join("kernels.toml");
    let me = current_user();

    // Creation script, first run: real environments, real ipykernel.
    let create = run(sb
        .command("bash")
        .arg(examples().join("create-image.sh"))
        .arg(&me));
    create.ok();
    let first_log = read_log(&log);
    if test_bin_dir().is_some_and(|b| b.join("uv").is_file()) {
        assert!(
            first_log.contains("uv "),
            "the first run should install with uv: {first_log:?}"
        );
    }
    for name in ["data", "scratch"] {
        assert!(
            sb.user_kernels().join(name).join("kernel.json").is_file(),
            "kernel {name} missing:\n{}",
            create.stderr
        );
    }
    // They boot under Jupyter's own client, with the file's env and packages.
    let v = run_in_kernel(
        &sb,
        &python,
        "data",
        "import os, sys, tabulate; print(os.environ['MPLBACKEND'], sys.prefix)",
    );
    assert_eq!(v["status"], "ok", "{v}");
    let out = v["stdout"].as_str().unwrap();
    assert!(out.starts_with("Agg "), "{out}");
    assert!(out.contains("kernels/envs/data"), "{out}");
    let v = run_in_kernel(&sb, &python, "scratch", "print(6 * 7)");
    assert_eq!(v["stdout"].as_str().unwrap().trim(), "42", "{v}");

    // Second run, as the startup script: nothing to do, no installer started.
    std::fs::write(&log, "").unwrap();
    let startup = run(sb
        .command("bash")
        .arg(examples().join("startup.sh"))
        .arg(&me));
    startup.ok();
    assert!(
        startup.stdout.contains("kernels match"),
        "{}",
        startup.stdout
    );
    assert_eq!(
        read_log(&log),
        "",
        "a converged machine must start no installer"
    );
    let again = sb.kernels(&["apply", toml.to_str().unwrap()]);
    again.ok();
    for name in ["data", "scratch"] {
        assert!(
            again
                .stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(" unchanged ")),
            "{}",
            again.stdout
        );
    }
    let check = sb.kernels(&["apply", toml.to_str().unwrap(), "--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    assert_eq!(read_log(&log), "");

    // A kernel removed by hand: --check says so (4), the startup script restores it.
    std::fs::remove_dir_all(sb.user_kernels().join("scratch")).unwrap();
    let check = sb.kernels(&["apply", toml.to_str().unwrap(), "--check", "--json"]);
    assert_eq!(check.code, 4, "{}\n{}", check.stdout, check.stderr);
    let doc = check.json();
    assert_eq!(doc["converged"], false);
    assert_eq!(
        rows(&doc),
        pairs(&[("data", "unchanged"), ("scratch", "register")])
    );
    assert!(
        !sb.user_kernels().join("scratch").exists(),
        "--check changed something"
    );
    let restore = run(sb
        .command("bash")
        .arg(examples().join("startup.sh"))
        .arg(&me));
    restore.ok();
    assert_eq!(
        read_log(&log),
        "",
        "restoring a kernelspec needs no installer"
    );
    assert!(sb.user_kernels().join("scratch/kernel.json").is_file());
    let check = sb.kernels(&["apply", toml.to_str().unwrap(), "--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let v = run_in_kernel(&sb, &python, "scratch", "print('back')");
    assert_eq!(v["stdout"].as_str().unwrap().trim(), "back", "{v}");
}

/// A kernels.toml of kernels that register the test venv (which has ipykernel) as
/// `existing`: planning and registering for real without installing anything.
fn existing_file(dir: &Path, env: &Path, names: &[&str]) -> PathBuf {
    let mut text = String::from("version = 1\n");
    for n in names {
        text.push_str(&format!(
            "\n[[kernel]]\nname = \"{n}\"\ndisplay_name = \"Py {n}\"\nexisting = \"{}\"\nenv = {{ WHO = \"{n}\" }}\n",
            env.display()
        ));
    }
    let path = dir.join("kernels.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn test_env(python: &Path) -> PathBuf {
    python.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn apply_converges_dry_runs_checks_and_reports_json() {
    let python = require_python!();
    let sb = sandbox();
    let env = test_env(&python);
    let file = existing_file(sb.root(), &env, &["k1", "k2"]);
    let f = file.to_str().unwrap();

    let dry = sb.kernels(&["apply", f, "--dry-run"]);
    dry.ok();
    assert!(dry.stdout.contains("k1      register"), "{}", dry.stdout);
    assert!(!sb.user_kernels().exists(), "--dry-run wrote something");
    let check = sb.kernels(&["apply", f, "--check"]);
    assert_eq!(check.code, 4, "{}", check.stderr);
    assert!(
        check.stderr.contains("2 changes needed"),
        "{}",
        check.stderr
    );

    let first = sb.kernels(&["apply", f, "--json"]);
    first.ok();
    let doc = first.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(rows(&doc), pairs(&[("k1", "register"), ("k2", "register")]));
    assert_eq!(doc["plan"]["kernels"].as_array().unwrap().len(), 2);
    let outcome = doc["outcome"]["kernels"].as_array().unwrap();
    assert_eq!(outcome.len(), 2);
    assert_eq!(outcome[0]["name"], "k1");
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.user_kernels().join("k1/kernel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["display_name"], "Py k1");
    assert_eq!(spec["env"]["WHO"], "k1");
    assert_eq!(spec["metadata"]["kernels"]["source"], "apply");
    assert_eq!(
        spec["metadata"]["kernels"]["apply_file"],
        std::fs::canonicalize(&file).unwrap().display().to_string()
    );

    let second = sb.kernels(&["apply", f, "--json"]);
    second.ok();
    let doc = second.json();
    assert_eq!(doc["converged"], true);
    assert_eq!(
        rows(&doc),
        pairs(&[("k1", "unchanged"), ("k2", "unchanged")])
    );
    assert_eq!(doc["outcome"]["executed"].as_array().unwrap().len(), 0);
    sb.kernels(&["apply", f, "--check"]).ok();

    // A changed file converges: a new variable rewrites only that kernelspec.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("WHO = \"k2\"", "WHO = \"k2\", EXTRA = \"1\"");
    std::fs::write(&file, text).unwrap();
    let third = sb.kernels(&["apply", f, "--json"]);
    third.ok();
    assert_eq!(
        rows(&third.json()),
        pairs(&[("k1", "unchanged"), ("k2", "update")])
    );
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.user_kernels().join("k2/kernel.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["env"]["EXTRA"], "1");

    // The applied kernel really starts under Jupyter, with its variables.
    let v = run_in_kernel(&sb, &python, "k2", "import os; print(os.environ['WHO'])");
    assert_eq!(v["stdout"].as_str().unwrap().trim(), "k2", "{v}");
}

#[test]
fn a_protection_that_cannot_be_written_keeps_the_kernels_and_the_policy_file_as_it_was() {
    let python = require_python!();
    let sb = sandbox();
    let env = test_env(&python);
    let file = existing_file(sb.root(), &env, &["k1"]);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("WHO = \"k1\" }", "WHO = \"k1\" }\nprotect = true");
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();

    // The dry run names the policy file each protection step writes.
    let dry = sb.kernels(&["apply", f, "--dry-run", "--json"]).ok().json();
    let steps = dry["protect_steps"].as_array().expect("protect_steps");
    assert_eq!(steps.len(), 2, "{dry}");
    assert_eq!(
        dry["handover_steps"],
        serde_json::json!([]),
        "not handed over"
    );
    let policy = PathBuf::from(steps[0]["file"].as_str().expect("file"));
    crate::e2e::policy::write_policy(&policy, &serde_json::json!({"version": 1, "kernels": []}));
    let before = std::fs::read(&policy).unwrap();
    let dir = policy.parent().unwrap().to_path_buf();
    // Root ignores modes, not the immutable flag.
    let Some(read_only) = crate::common::Immutable::make(&dir) else {
        return crate::common::skip("`chattr +i` is not supported here");
    };
    let out = sb.kernels(&["apply", f, "--json"]);
    drop(read_only);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the kernels were applied, but recording their protection failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("is as it was before this run"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert_eq!(out.json()["ok"], false);
    assert_eq!(std::fs::read(&policy).unwrap(), before);
    // The kernel stays (see docs/crash-safety.md); the same apply again protects it.
    assert!(sb.user_kernels().join("k1/kernel.json").is_file());
    sb.kernels(&["apply", f]).ok();
    let doc: Value = serde_json::from_slice(&std::fs::read(&policy).unwrap()).unwrap();
    assert_eq!(doc["kernels"][0]["name"], "k1", "{doc}");
}

#[test]
fn prune_removes_only_this_files_own_kernels() {
    let python = require_python!();
    let sb = sandbox();
    let env = test_env(&python);
    let dir_a = sb.root().join("a");
    let dir_b = sb.root().join("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = existing_file(&dir_a, &env, &["keep", "drop", "guarded"]);
    let b = existing_file(&dir_b, &env, &["other-file"]);
    sb.kernels(&["apply", a.to_str().unwrap()]).ok();
    sb.kernels(&["apply", b.to_str().unwrap()]).ok();
    sb.kernels(&["add", "by-add", "--existing", env.to_str().unwrap()])
        .ok();
    sb.write_spec(
        &sb.user_kernels(),
        "foreign",
        r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Foreign", "language": "python"}"#,
    );
    sb.kernels(&["protect", "guarded"]).ok();

    // The file now lists only `keep`.
    let a = existing_file(&dir_a, &env, &["keep"]);
    let af = a.to_str().unwrap();
    // Without --prune nothing is removed and the file counts as converged.
    sb.kernels(&["apply", af, "--check"]).ok();
    let check = sb.kernels(&["apply", af, "--check", "--prune", "--json"]);
    assert_eq!(check.code, 4, "{}", check.stderr);
    let doc = check.json();
    assert_eq!(
        rows(&doc),
        pairs(&[
            ("keep", "unchanged"),
            ("drop", "prune"),
            ("guarded", "keep (protected)")
        ])
    );
    // The prune is a plan step too: one removal, of `drop` alone (never the protected one).
    let steps = doc["prune_steps"].as_array().expect("prune_steps");
    assert_eq!(steps.len(), 1, "{doc}");
    assert_eq!(steps[0]["step"], "remove_kernel", "{doc}");
    assert_eq!(steps[0]["name"], "drop", "{doc}");
    let out = sb.kernels(&["apply", af, "--prune"]);
    out.ok();
    assert!(
        out.stderr.contains("not pruning kernel `guarded`"),
        "{}",
        out.stderr
    );
    let left: BTreeSet<String> = std::fs::read_dir(sb.user_kernels())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ["keep", "guarded", "other-file", "by-add", "foreign"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(left, want);
    // The environment behind a pruned kernel stays.
    assert!(env.join("pyvenv.cfg").is_file());
    // Converged now, prune included (the protected one is not a pending change).
    sb.kernels(&["apply", af, "--check", "--prune"]).ok();
}

#[test]
fn invalid_files_are_usage_errors_with_line_field_and_suggestion() {
    let sb = sandbox();
    let file = sb.root().join("kernels.toml");
    std::fs::write(
        &file,
        "[[kernel]]\nname = \"ok\"\npackges = [\"numpy\"]\n\n[[kernel]]\nname = \"OK\"\npython = 3.10\n",
    )
    .unwrap();
    let out = sb.kernels(&["apply", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let f = file.display().to_string();
    for want in [
        format!("{f} has 3 problems; nothing was changed"),
        format!("{f}:3:1: kernel `ok`.packges: unknown key `packges` (did you mean `packages`?)"),
        format!("{f}:6:8: name: duplicate kernel name `ok` (first defined on line 2)"),
        format!("{f}:7:10: kernel `OK`.python: expected a string, found a number"),
    ] {
        assert!(
            out.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
    assert!(
        !sb.home().join(".local").exists(),
        "a bad file must change nothing"
    );

    let json = sb.kernels(&["apply", file.to_str().unwrap(), "--json"]);
    assert_eq!(json.code, 2);
    assert_eq!(json.json()["error"]["kind"], "usage");

    let missing = sb.kernels(&["apply", sb.root().join("nope.toml").to_str().unwrap()]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("nope.toml"), "{}", missing.stderr);
}

#[test]
fn for_user_is_refused_without_root_or_without_the_user() {
    let sb = sandbox();
    let file = sb.root().join("kernels.toml");
    std::fs::write(&file, "[[kernel]]\nname = \"x\"\n").unwrap();
    let out = sb.kernels(&[
        "apply",
        file.to_str().unwrap(),
        "--for-user",
        "no-such-user-kernels-test",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    if kernelspec::running_as_root() {
        assert!(
            out.stderr
                .contains("no user named \"no-such-user-kernels-test\""),
            "{}",
            out.stderr
        );
        // An account without a home (the usual `nobody`) is refused before anything runs.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        if passwd
            .lines()
            .any(|l| l.starts_with("nobody:") && l.contains(":/nonexistent:"))
        {
            let out = sb.kernels(&["apply", file.to_str().unwrap(), "--for-user", "nobody"]);
            assert_eq!(out.code, 2, "{}", out.stderr);
            assert!(
                out.stderr.contains("(/nonexistent) does not exist"),
                "{}",
                out.stderr
            );
        }
    } else {
        assert!(
            out.stderr.contains("--for-user needs root"),
            "{}",
            out.stderr
        );
    }
}

/// Deletes the throwaway account (and its home) however the test ends.
pub struct UserGuard(String);

/// A new account `<prefix><pid>` with a home (root only; the caller checks `useradd`):
/// its guard, name, uid, gid and home.
pub fn throwaway_user(prefix: &str) -> (UserGuard, String, u32, u32, PathBuf) {
    let name = format!("{prefix}{}", std::process::id() % 100_000);
    let made = std::process::Command::new("useradd")
        .args(["--create-home", "--shell", "/bin/sh", &name])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "useradd: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let guard = UserGuard(name.clone());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let entry: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap()
        .split(':')
        .collect();
    let (uid, gid, home) = (
        entry[2].parse::<u32>().unwrap(),
        entry[3].parse::<u32>().unwrap(),
        PathBuf::from(entry[5]),
    );
    (guard, name, uid, gid, home)
}

/// Files and directories under `home` that `uid` does not own (`find HOME ! -user USER`).
pub fn not_owned_by(home: &Path, uid: u32) -> Vec<String> {
    walkdir(home)
        .into_iter()
        .filter_map(|p| std::fs::symlink_metadata(&p).ok().map(|m| (p, m)))
        .filter(|(_, m)| m.uid() != uid)
        .map(|(p, m)| format!("{} (uid {})", p.display(), m.uid()))
        .collect()
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .args(["-r", "-f", &self.0])
            .output();
    }
}

/// An interpreter a throwaway user can run (root's own may live under /root, which they
/// cannot enter), so the kernel can later be started as the user.
fn user_python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

#[test]
fn for_user_installs_into_the_users_home_owned_by_the_user() {
    let python = require_python!();
    if !kernelspec::running_as_root() || !have("useradd") || !have("userdel") {
        return crate::common::skip(
            "needs root and useradd/userdel to create a throwaway user (.ci/run runs as root)",
        );
    }
    let (_guard, name, uid, gid, home) = throwaway_user("kt");
    let mut sb = sandbox();
    // The run happens as the user, who must be able to look for the sandbox's system policy
    // (an unreadable one fails closed).
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let user_python = user_python();
    if let Some(p) = &user_python {
        sb.set("KERNELS_PYTHON", p);
    }
    let file = sb.root().join("kernels.toml");
    std::fs::write(
        &file,
        // venv explicitly: a conda installed on the machine would otherwise be picked.
        "[[kernel]]\nname = \"mine\"\ndisplay_name = \"Mine\"\nbackend = \"venv\"\nenv = { OWNER = \"user\" }\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    // The dry run shows the hand-over as the run's first step.
    let dry = sb
        .kernels(&["apply", f, "--for-user", &name, "--dry-run", "--json"])
        .ok()
        .json();
    let handover = &dry["handover_steps"][0];
    assert_eq!(handover["step"], "run_as_user", "{dry}");
    assert_eq!(handover["user"], name.as_str());
    assert_eq!(handover["uid"], uid);
    assert_eq!(handover["gid"], gid);
    assert_eq!(handover["home"], home.display().to_string());
    assert_eq!(handover["as_user"], true);
    let out = sb.kernels(&["apply", f, "--for-user", &name, "--json"]);
    out.ok();
    let doc = out.json();
    assert_eq!(doc["for_user"]["name"], name.as_str());
    assert_eq!(doc["for_user"]["uid"], uid);

    // Placement: the user's home, not root's (the sandbox HOME).
    let kdir = home.join(".local/share/jupyter/kernels/mine");
    let env = home.join(".local/share/kernels/envs/mine");
    assert!(kdir.join("kernel.json").is_file(), "{}", out.stderr);
    assert!(env.join("bin/python").exists());
    assert!(
        !sb.user_kernels().exists(),
        "root's own kernels dir was written"
    );
    assert!(!sb.home().join(".local/share/kernels").exists());
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(kdir.join("kernel.json")).unwrap()).unwrap();
    assert!(spec["argv"][0]
        .as_str()
        .unwrap()
        .starts_with(home.to_str().unwrap()));

    // Ownership: every file and directory under the user's home is the user's.
    let mut not_theirs = Vec::new();
    let mut count = 0;
    for entry in walkdir(&home) {
        count += 1;
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        if meta.uid() != uid || meta.gid() != gid {
            not_theirs.push(format!(
                "{} ({}:{})",
                entry.display(),
                meta.uid(),
                meta.gid()
            ));
        }
    }
    assert!(
        count > 100,
        "expected an environment under the home, saw {count} entries"
    );
    assert!(
        not_theirs.is_empty(),
        "not owned by {name}: {:#?}",
        &not_theirs[..not_theirs.len().min(20)]
    );

    // A second run is converged and leaves ownership alone.
    let again = sb.kernels(&["apply", f, "--for-user", &name, "--check"]);
    assert_eq!(again.code, 0, "{}", again.stderr);

    // The user can extend the kernel the apply made for them: their own install works (the
    // environment is theirs), and what it adds is theirs too. (After the check, which the
    // added package would fail; before root boots the kernel below, since Python run as
    // root writes root-owned bytecode caches into the environment.)
    if have("runuser") {
        let install = run(sb
            .command("runuser")
            .args(["-u", &name, "--"])
            .arg(kernels_bin())
            .args(["install", "mine", "six"])
            .env("HOME", &home));
        assert_eq!(
            install.code, 0,
            "kernels install as {name}:\n{}\n{}",
            install.stdout, install.stderr
        );
        let theirs = not_owned_by(&home, uid);
        assert!(theirs.is_empty(), "not owned by {name}: {theirs:#?}");
    } else {
        eprintln!("note: no runuser; the install as the user was not tried");
    }

    // The kernel starts under Jupyter (as root, reading the user's kernels) ...
    let mut as_root = Sandbox::new();
    as_root.set("HOME", &home);
    let v = run_in_kernel(
        &as_root,
        &python,
        "mine",
        "import os, sys; print(os.environ['OWNER'], sys.prefix)",
    );
    assert_eq!(v["status"], "ok", "{v}");
    assert!(
        v["stdout"]
            .as_str()
            .unwrap()
            .contains(env.to_str().unwrap()),
        "{v}"
    );
    // ... and as the user themselves, through kernels doctor --boot.
    if user_python.is_some() && have("runuser") {
        let boot = run(sb
            .command("runuser")
            .args(["-u", &name, "--"])
            .arg(kernels_bin())
            .args(["doctor", "--boot", "mine"])
            .env("HOME", &home));
        assert_eq!(
            boot.code, 0,
            "doctor --boot as {name}:\n{}\n{}",
            boot.stdout, boot.stderr
        );
    } else {
        eprintln!("note: no /usr/bin/python3 or runuser; the boot as the user was not tried");
    }
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

#[test]
fn a_kernelspec_kernels_did_not_make_is_replaced_only_with_yes() {
    let python = require_python!();
    let sb = sandbox();
    let env = test_env(&python);
    let foreign = r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Hand made", "language": "python"}"#;
    sb.write_spec(&sb.user_kernels(), "k1", foreign);
    let file = existing_file(sb.root(), &env, &["k1"]);
    let f = file.to_str().unwrap();

    let check = sb.kernels(&["apply", f, "--check", "--json"]);
    assert_eq!(check.code, 4);
    assert_eq!(rows(&check.json()), pairs(&[("k1", "update")]));
    // No terminal and no --yes: refused, nothing changed.
    let refused = sb.kernels(&["apply", f]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("kernels did not make"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    let kernel_json = sb.user_kernels().join("k1/kernel.json");
    assert_eq!(std::fs::read_to_string(&kernel_json).unwrap(), foreign);
    // With --yes it is replaced, and from then on it is ours.
    sb.kernels(&["apply", f, "--yes"]).ok();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&kernel_json).unwrap()).unwrap();
    assert_eq!(spec["display_name"], "Py k1");
    assert_eq!(spec["metadata"]["kernels"]["source"], "apply");
    sb.kernels(&["apply", f, "--check"]).ok();
}

#[test]
fn a_plan_touching_a_protected_kernel_is_refused_with_one_json_document() {
    let python = require_python!();
    let sb = sandbox();
    let env = test_env(&python);
    sb.write_spec(
        &sb.user_kernels(),
        "guarded",
        r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Guarded", "language": "python"}"#,
    );
    sb.kernels(&["protect", "guarded"]).ok();
    let before = std::fs::read_to_string(sb.user_kernels().join("guarded/kernel.json")).unwrap();
    let file = existing_file(sb.root(), &env, &["guarded"]);
    let f = file.to_str().unwrap();
    for args in [
        &["apply", f, "--check", "--json"][..],
        &["apply", f, "--dry-run", "--json"][..],
        &["apply", f, "--json", "--yes"][..],
    ] {
        let out = sb.kernels(args);
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        let doc = out.json(); // exactly one document
        assert_eq!(doc["ok"], false, "{args:?}");
        assert_eq!(doc["error"]["kind"], "refused", "{args:?}");
        assert!(out.stderr.contains("guarded"), "{}", out.stderr);
    }
    let after = std::fs::read_to_string(sb.user_kernels().join("guarded/kernel.json")).unwrap();
    assert_eq!(before, after);
}

/// `apply --for-user` as root records `protect = true` in the admin policy under root's own
/// run lock (the child held only the user's): while another root run holds it, the record
/// waits and then gives up as busy (exit 5) with the policy file untouched; once the lock is
/// free, a re-run records it.
#[test]
fn for_user_protection_is_recorded_under_roots_own_run_lock() {
    let _python = require_python!();
    if !kernelspec::running_as_root() || !have("useradd") || !have("userdel") {
        return crate::common::skip(
            "needs root and useradd/userdel to create a throwaway user (.ci/run runs as root)",
        );
    }
    let (_guard, name, _uid, _gid, home) = throwaway_user("kl");
    let mut sb = sandbox();
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if let Some(p) = user_python() {
        sb.set("KERNELS_PYTHON", p);
    }
    let file = sb.root().join("kernels.toml");
    std::fs::write(
        &file,
        "[[kernel]]\nname = \"kept\"\nbackend = \"venv\"\nprotect = true\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let policy = super::policy::system_policy(&sb);
    let root_host = envs::HostEnv::from_vars(sb.vars().clone());
    let held = kernels::RunLock::acquire(
        &kernels::LockConfig::from_host(&root_host),
        &envs::CancelToken::new(),
        &mut |_| {},
    )
    .expect("root's run lock");
    sb.set("KERNELS_LOCK_TIMEOUT", "0.5");
    let busy = sb.kernels(&["apply", f, "--for-user", &name]);
    assert_eq!(busy.code, 5, "{}", busy.stderr);
    assert!(
        home.join(".local/share/jupyter/kernels/kept/kernel.json")
            .is_file(),
        "the user's run made the kernel: {}",
        busy.stderr
    );
    assert!(
        !policy.exists(),
        "the policy was written without root's lock"
    );
    drop(held);
    let out = sb.kernels(&["apply", f, "--for-user", &name]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let recorded = std::fs::read_to_string(&policy).expect("policy written");
    assert!(recorded.contains("kept"), "{recorded}");
}
