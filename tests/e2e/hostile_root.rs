//! A hostile (or careless) user against root's runs, the admin policy and the inputs: each
//! case of the "hostile user" group of `scripts/reliability.sh` (every test here is named
//! `hostile_*`). Outcomes are a usage error (2), a refusal (3) or a clean failure (1) — never
//! a hang, never a write through a planted symlink, never a file outside the home owned by
//! the user.
//!
//! The root-only cases create a throwaway account (`useradd`) and print why they skip
//! without root. Where a case would need `/etc` itself, a root-owned 0755 directory in the
//! sandbox stands in for it (the same permissions, so the same rule applies); every such case
//! also checks that nothing under the real `/etc` came to belong to the user.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{have, kernels_bin, test_python, Run, Sandbox};

/// Runs `cmd`, killing it and failing the test if it takes longer than `limit` (a hang).
fn run_bounded(cmd: &mut Command, limit: Duration) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: still running after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn kernels_bounded(sb: &Sandbox, args: &[&str]) -> Run {
    run_bounded(
        sb.command(kernels_bin()).args(args),
        Duration::from_secs(60),
    )
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", path.display());
}

fn spec(display: &str) -> String {
    serde_json::json!({
        "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display,
        "language": "python",
    })
    .to_string()
}

#[test]
fn hostile_apply_of_a_device_or_fifo_is_a_usage_error_at_once() {
    let sb = Sandbox::new();
    let fifo = sb.root().join("kernels.toml");
    mkfifo(&fifo);
    for file in [Path::new("/dev/zero"), &fifo] {
        let out = kernels_bounded(&sb, &["apply", file.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{}: {}", file.display(), out.stderr);
        assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    }
}

#[test]
fn hostile_fifo_kernel_json_never_hangs_list_or_add() {
    let sb = Sandbox::new();
    let dir = sb.user_kernels().join("x");
    std::fs::create_dir_all(&dir).unwrap();
    mkfifo(&dir.join("kernel.json"));
    let list = kernels_bounded(&sb, &["list", "--json"]);
    assert!(list.code == 0 || list.code == 4, "{}", list.stderr);
    let Some(python) = test_python() else {
        crate::common::skip("KERNELS_TEST_PYTHON is not set");
        return;
    };
    let env = python.parent().and_then(Path::parent).unwrap();
    let add = kernels_bounded(
        &sb,
        &["add", "x", "--existing", env.to_str().unwrap(), "--dry-run"],
    );
    assert!(add.code != -1, "{}", add.stderr);
    // The FIFO is still there, unread and unreplaced.
    let meta = std::fs::symlink_metadata(dir.join("kernel.json")).unwrap();
    assert!(
        std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()),
        "kernel.json was replaced"
    );
}

#[test]
fn hostile_unusable_system_policy_fails_closed_and_never_hangs() {
    let mut sb = Sandbox::new();
    sb.write_spec(&sb.user_kernels(), "adminkern", &spec("Admin kernel"));
    let fifo = sb.root().join("policy-fifo.json");
    mkfifo(&fifo);
    let invalid = sb.root().join("invalid.json");
    std::fs::write(&invalid, "{\"kernels\": [{\"name\": \"adminkern\"").unwrap();
    for policy in [Path::new("/dev/null"), &fifo, &invalid] {
        sb.set("KERNELS_SYSTEM_POLICY", policy);
        let out = kernels_bounded(&sb, &["remove", "adminkern", "--yes"]);
        assert_eq!(out.code, 3, "{}: {}", policy.display(), out.stderr);
        assert!(out.stderr.contains("cannot be used"), "{}", out.stderr);
        assert!(out.stderr.contains("hint:"), "{}", out.stderr);
        assert!(sb.user_kernels().join("adminkern/kernel.json").is_file());
        // Read-only commands still work, and doctor reports the policy is not in force.
        let doctor = kernels_bounded(&sb, &["doctor"]);
        assert_eq!(doctor.code, 4, "{}\n{}", doctor.stdout, doctor.stderr);
    }
}

#[test]
fn hostile_the_policy_variable_cannot_drop_the_admin_rules() {
    // The fixed /etc/kernels/policy.json is always read: the unit test
    // `the_variable_cannot_switch_off_the_fixed_file` proves it with a stand-in for the
    // fixed file. Here: a protecting system file, then the variable pointed elsewhere, so
    // the only way left to weaken protection — a missing file — is shown to only add.
    let mut sb = Sandbox::new();
    sb.write_spec(&sb.user_kernels(), "adminkern", &spec("Admin kernel"));
    let admin = PathBuf::from(&sb.vars()["KERNELS_SYSTEM_POLICY"]);
    std::fs::create_dir_all(admin.parent().unwrap()).unwrap();
    std::fs::write(&admin, r#"{"kernels": [{"name": "adminkern"}]}"#).unwrap();
    std::fs::set_permissions(&admin, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = kernels_bounded(&sb, &["remove", "adminkern", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let policy = kernels_bounded(&sb, &["policy", "--json"]);
    let doc = policy.json();
    let systems: Vec<&str> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "system")
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert!(systems.contains(&admin.to_str().unwrap()), "{doc}");
    // /dev/null instead: refused (fail closed), not allowed.
    sb.set("KERNELS_SYSTEM_POLICY", "/dev/null");
    let out = kernels_bounded(&sb, &["remove", "adminkern", "--yes"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(sb.user_kernels().join("adminkern/kernel.json").is_file());
}

#[test]
fn hostile_imitated_protected_display_names_are_refused() {
    let Some(python) = test_python() else {
        crate::common::skip("KERNELS_TEST_PYTHON is not set");
        return;
    };
    let env = python.parent().and_then(Path::parent).unwrap();
    let sb = Sandbox::new();
    // The image's kernel, protected by the built-in defaults.
    sb.write_spec(
        &sb.user_kernels(),
        "python38-azureml",
        &spec("Python 3.8 - AzureML"),
    );
    for imitation in [
        "Python 3.8 \u{200B}- AzureML",
        "Python 3.8\u{00A0}- AzureML",
        "Python 3.8 - Azure\u{041C}L",
        "Python 3.8 \u{2013} AzureML",
        "Python 3.8  - AzureML",
    ] {
        let out = kernels_bounded(
            &sb,
            &[
                "add",
                "fake",
                "--existing",
                env.to_str().unwrap(),
                "--display-name",
                imitation,
            ],
        );
        assert_eq!(out.code, 3, "{imitation:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("display name"),
            "{imitation:?}: {}",
            out.stderr
        );
        assert!(!sb.user_kernels().join("fake").exists());
    }
}

#[test]
fn hostile_package_specs_never_become_installer_options() {
    let sb = Sandbox::new();
    let out = kernels_bounded(&sb, &["add", "x", "--pip=-r/etc/shadow", "--dry-run"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("-r/etc/shadow"), "{}", out.stderr);
    assert!(!out.stderr.contains("root:"), "{}", out.stderr);
    for (key, value) in [
        ("pip", "--index-url=https://evil.invalid/simple"),
        ("packages", "--override-channels"),
        ("channels", "--insecure"),
    ] {
        let file = sb.root().join("kernels.toml");
        std::fs::write(
            &file,
            format!("[[kernel]]\nname = \"x\"\n{key} = [\"{value}\"]\n"),
        )
        .unwrap();
        let out = kernels_bounded(&sb, &["apply", file.to_str().unwrap(), "--dry-run"]);
        assert_eq!(out.code, 2, "{key}: {}", out.stderr);
        assert!(out.stderr.contains("option"), "{}", out.stderr);
    }
    assert!(!sb.home().join(".local/share/kernels").exists());
}

#[test]
fn hostile_home_unset_is_a_usage_error_and_writes_nothing() {
    let mut sb = Sandbox::new();
    sb.unset("HOME");
    let before: Vec<_> = std::fs::read_dir(sb.root()).unwrap().collect();
    for args in [&["add", "x"][..], &["list"], &["remove", "x", "--yes"]] {
        let out = kernels_bounded(&sb, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("HOME is not set"), "{}", out.stderr);
    }
    sb.set("HOME", "relative/home");
    let out = kernels_bounded(&sb, &["add", "x"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let after: Vec<_> = std::fs::read_dir(sb.root()).unwrap().collect();
    assert_eq!(before.len(), after.len(), "something was created");
    assert!(!sb.root().join("~").exists());
}

#[test]
fn hostile_lock_planted_as_a_symlink_is_never_written_through() {
    let sb = Sandbox::new();
    sb.write_spec(&sb.user_kernels(), "k", &spec("K"));
    // A file only its owner may write, as /etc/shadow.
    let victim = sb.root().join("shadow");
    std::fs::write(&victim, "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o640)).unwrap();
    let state = sb.home().join(".local/state/kernels");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::symlink(&victim, state.join("lock")).unwrap();
    let out = kernels_bounded(&sb, &["protect", "k"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "root:*:19000:0:99999:7:::\n"
    );
    // A FIFO as the lock: refused at once, not waited on.
    std::fs::remove_file(state.join("lock")).unwrap();
    mkfifo(&state.join("lock"));
    let out = kernels_bounded(&sb, &["protect", "k"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

/// A throwaway account, deleted (with its home) however the test ends.
struct User {
    name: String,
    uid: u32,
    home: PathBuf,
}

impl User {
    fn create(tag: &str) -> Option<User> {
        if !kernelspec::running_as_root() || !have("useradd") || !have("userdel") {
            crate::common::skip("needs root and useradd/userdel to create a throwaway user");
            return None;
        }
        let name = format!("kh{tag}{}", std::process::id() % 100_000);
        let made = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", &name])
            .output()
            .expect("useradd");
        assert!(
            made.status.success(),
            "useradd: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let entry: Vec<String> = passwd
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap()
            .split(':')
            .map(String::from)
            .collect();
        Some(User {
            uid: entry[2].parse().unwrap(),
            home: PathBuf::from(&entry[5]),
            name,
        })
    }

    /// Every path under the home not owned by the user.
    fn foreign_in_home(&self) -> Vec<String> {
        find(&self.home, |m| m.uid() != self.uid)
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
    }
}

/// Paths under `root` (not following symlinks) whose metadata matches.
fn find(root: &Path, pred: impl Fn(&std::fs::Metadata) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if pred(&meta) {
                out.push(format!("{} ({})", path.display(), meta.uid()));
            }
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// A sandbox for root's `--for-user` runs: readable by the user (an unreadable system policy
/// location fails closed), with a root-owned 0755 stand-in for `/etc`.
fn root_sandbox() -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::new();
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = sb.root().join("etc");
    std::fs::create_dir_all(etc.join("kernels")).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if let Some(p) = python {
        sb.set("KERNELS_PYTHON", p);
    }
    (sb, etc)
}

#[test]
fn hostile_for_user_symlinks_never_lead_root_outside_the_home() {
    let Some(user) = User::create("s") else {
        return;
    };
    if test_python().is_none() {
        crate::common::skip("KERNELS_TEST_PYTHON is not set");
        return;
    }
    let (sb, etc) = root_sandbox();
    let policy = etc.join("kernels/policy.json");
    std::fs::write(&policy, "{\"kernels\": []}\n").unwrap();
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let shadow = etc.join("shadow");
    std::fs::write(&shadow, "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o640)).unwrap();
    let attack = etc.join("attack");
    std::fs::create_dir_all(&attack).unwrap();
    let file = sb.root().join("kernels.toml");
    std::fs::write(&file, "[[kernel]]\nname = \"mine\"\nbackend = \"venv\"\n").unwrap();
    let f = file.to_str().unwrap();
    let link = |target: &Path, at: &Path| {
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
        // The user owns the link, as if they had made it.
        let _ = Command::new("chown")
            .args(["-h", &user.name])
            .arg(at)
            .status();
        let _ = Command::new("chown")
            .args(["-R", &user.name])
            .arg(user.home.join(".local"))
            .status();
    };
    let kernels_dir = user.home.join(".local/share/jupyter/kernels");
    let state_dir = user.home.join(".local/state/kernels");
    let cases: [(&str, &Path, &Path, &str); 3] = [
        (
            "kernels dir -> etc/attack",
            &attack,
            &kernels_dir,
            "ermission denied",
        ),
        (
            "lock -> etc/shadow",
            &shadow,
            &state_dir.join("lock"),
            "lock",
        ),
        (
            "state dir -> etc/kernels",
            &etc.join("kernels"),
            &state_dir,
            "lock",
        ),
    ];
    for (what, target, at, why) in cases {
        let _ = std::fs::remove_dir_all(user.home.join(".local"));
        link(target, at);
        let out = run_bounded(
            sb.command(kernels_bin())
                .args(["apply", f, "--for-user", &user.name]),
            Duration::from_secs(300),
        );
        assert_eq!(out.code, 1, "{what}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{what}: {}", out.stderr);
        // The environment made before the kernelspec failed was rolled back.
        assert!(!user.home.join(".local/share/kernels/envs/mine").exists());
        assert!(
            std::fs::read_dir(&attack).unwrap().next().is_none(),
            "{what}: wrote into the attack dir"
        );
        assert_eq!(
            std::fs::read_to_string(&shadow).unwrap(),
            "root:*:19000:0:99999:7:::\n",
            "{what}"
        );
        assert_eq!(
            std::fs::read_to_string(&policy).unwrap(),
            "{\"kernels\": []}\n",
            "{what}"
        );
        let theirs = find(&etc, |m| m.uid() == user.uid);
        assert!(theirs.is_empty(), "{what}: now the user's: {theirs:?}");
        assert_eq!(std::fs::metadata(&etc).unwrap().uid(), 0);
        let foreign = user.foreign_in_home();
        assert!(foreign.is_empty(), "{what}: not the user's: {foreign:?}");
    }
    let real_etc = find(Path::new("/etc"), |m| m.uid() == user.uid);
    assert!(
        real_etc.is_empty(),
        "/etc entries now the user's: {real_etc:?}"
    );
}

#[test]
fn hostile_for_user_leaves_only_the_users_files_and_the_user_can_install() {
    let Some(user) = User::create("o") else {
        return;
    };
    if test_python().is_none() || !have("runuser") {
        crate::common::skip("needs KERNELS_TEST_PYTHON and runuser");
        return;
    }
    let (sb, _etc) = root_sandbox();
    let file = sb.root().join("kernels.toml");
    std::fs::write(&file, "[[kernel]]\nname = \"mine\"\nbackend = \"venv\"\n").unwrap();
    // A FIFO where the user's policy would be: read non-blocking, so it never hangs root.
    let config = user.home.join(".config/kernels");
    std::fs::create_dir_all(&config).unwrap();
    mkfifo(&config.join("policy.json"));
    let _ = Command::new("chown")
        .args(["-R", &user.name])
        .arg(user.home.join(".config"))
        .status();
    let out = run_bounded(
        sb.command(kernels_bin())
            .args(["apply", file.to_str().unwrap(), "--for-user", &user.name]),
        Duration::from_secs(500),
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let foreign = user.foreign_in_home();
    assert!(foreign.is_empty(), "not the user's: {foreign:?}");
    let env = user.home.join(".local/share/kernels/envs/mine");
    assert!(env.join("bin/python").exists(), "{}", out.stderr);
    // The user extends the kernel the apply made for them.
    let install = run_bounded(
        sb.command("runuser")
            .args(["-u", &user.name, "--"])
            .arg(kernels_bin())
            .args(["install", "mine", "six"])
            .env("HOME", &user.home)
            .current_dir(&user.home),
        Duration::from_secs(300),
    );
    assert_eq!(
        install.code, 0,
        "install as {}:\n{}\n{}",
        user.name, install.stdout, install.stderr
    );
    let foreign = user.foreign_in_home();
    assert!(foreign.is_empty(), "not the user's: {foreign:?}");
}

#[test]
fn hostile_for_user_sigterm_is_passed_on_and_stops_the_run() {
    let Some(user) = User::create("t") else {
        return;
    };
    if test_python().is_none() {
        crate::common::skip("KERNELS_TEST_PYTHON is not set");
        return;
    }
    let (sb, _etc) = root_sandbox();
    let file = sb.root().join("kernels.toml");
    std::fs::write(&file, "[[kernel]]\nname = \"slow\"\nbackend = \"venv\"\n").unwrap();
    let mut child = sb
        .command(kernels_bin())
        .args(["apply", file.to_str().unwrap(), "--for-user", &user.name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the user's run has started making the environment, then SIGTERM root's.
    let env = user.home.join(".local/share/kernels/envs/slow");
    let started = Instant::now();
    while !env.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not stop apply --for-user");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Interrupted (130) and rolled back, or finished before the signal arrived (0).
    let code = status.code().unwrap_or(-1);
    eprintln!("apply --for-user after SIGTERM: exit {code}");
    assert!(code == 130 || code == 0, "exit {code}");
    if code == 130 {
        assert!(!env.exists(), "the half-made environment was left behind");
    }
    let foreign = user.foreign_in_home();
    assert!(foreign.is_empty(), "not the user's: {foreign:?}");
}

#[test]
fn hostile_doctor_boot_stops_at_once_on_ctrl_c_and_leaves_no_kernel() {
    let Some(python) = test_python() else {
        crate::common::skip("KERNELS_TEST_PYTHON is not set");
        return;
    };
    let mut sb = Sandbox::new();
    let runtime = sb.root().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // Connection files (and so the kernels' command lines) name this directory.
    sb.set("TMPDIR", &runtime);
    for i in 0..3 {
        let spec = serde_json::json!({
            "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": format!("Real {i}"),
            "language": "python",
        });
        sb.write_spec(&sb.user_kernels(), &format!("real{i}"), &spec.to_string());
    }
    let mut child = sb
        .command(kernels_bin())
        .args(["doctor", "--boot", "--timeout", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ctrl-C once the three kernel processes are running.
    let marker = runtime.to_string_lossy().into_owned();
    let started = Instant::now();
    while processes_naming(&marker).len() < 3 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(processes_naming(&marker).len(), 3, "the kernels never ran");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("doctor --boot did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    // No kernel process is left: none has the sandbox's runtime dir on its command line.
    let left = processes_naming(&marker);
    assert!(left.is_empty(), "kernels left running: {left:#?}");
}

/// Command lines of running processes that contain `marker` (zombies have none).
fn processes_naming(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) {
            out.push(text);
        }
    }
    out
}
