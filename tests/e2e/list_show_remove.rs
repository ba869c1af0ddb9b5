//! `kernels list` (text), `kernels show` and `kernels remove` on sandboxed layouts.

use std::path::Path;

use crate::common::Sandbox;

const SPEC: &str = r#"{"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "D", "language": "python"}"#;

fn spec(display: &str) -> String {
    SPEC.replace("\"D\"", &format!("{display:?}"))
}

/// A sandbox whose only kernel dirs with content are the ones a test writes.
fn sandbox() -> Sandbox {
    Sandbox::new()
}

/// Every path under `dir`, sorted; the run lock's state dir is left out (a mutating command
/// creates its lock file before it reads the machine, even when it then changes nothing).
fn tree(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walk(dir)
        .into_iter()
        .filter(|p| !p.contains("/.local/state"))
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

#[test]
fn list_text_shows_status_broken_and_shadowing() {
    let mut sb = sandbox();
    let jp = sb.root().join("jp");
    sb.write_spec(&jp.join("kernels"), "dup", &spec("first"));
    sb.write_spec(&sb.user_kernels(), "dup", &spec("second"));
    sb.write_spec(&sb.user_kernels(), "good", &spec("Good One"));
    sb.write_spec(&sb.user_kernels(), "bad", "{oops");
    sb.set("JUPYTER_PATH", &jp);
    let out = sb.kernels(&["list"]);
    out.ok();
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", out.stdout))
            .to_string()
    };
    assert!(line("good").contains("Good One") && line("good").contains(" ok "));
    assert!(
        line("bad").contains("broken: JSON syntax error"),
        "{}",
        line("bad")
    );
    assert!(line("dup").contains("shadows"), "{}", line("dup"));
    assert!(
        out.stderr.contains("1 shadowed copy not shown"),
        "{}",
        out.stderr
    );
    let all = sb.kernels(&["list", "--all"]);
    assert!(all.stdout.contains("shadowed"), "{}", all.stdout);
}

#[test]
fn list_json_reports_dir_problems_and_search_path() {
    let sb = sandbox();
    sb.write_spec(&sb.user_kernels(), "k", &spec("K"));
    let doc = sb.kernels(&["list", "--json"]).json();
    assert_eq!(doc["kernelspecs"]["k"]["kernels"]["scope"], "user");
    let search: Vec<&str> = doc["search_path"]
        .as_array()
        .expect("search_path")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    let user = sb.user_kernels().display().to_string();
    assert!(search.contains(&user.as_str()), "{search:?}");
    assert!(search
        .last()
        .is_some_and(|p| p.ends_with(".ipython/kernels")));
}

#[test]
fn show_prints_the_spec_and_what_it_shadows() {
    let mut sb = sandbox();
    let jp = sb.root().join("jp");
    sb.write_spec(&jp.join("kernels"), "Dup", &spec("first"));
    sb.write_spec(&sb.user_kernels(), "dup", &spec("second"));
    sb.set("JUPYTER_PATH", &jp);
    let out = sb.kernels(&["show", "DUP"]);
    out.ok();
    assert!(
        out.stdout.contains("display name:  first"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("shadows:"), "{}", out.stdout);
    let doc = sb.kernels(&["show", "dup", "--json"]).json();
    assert_eq!(doc["name"], "dup");
    assert_eq!(doc["spec"]["display_name"], "first");
    assert_eq!(doc["shadows"].as_array().map(Vec::len), Some(1));
}

#[test]
fn show_unknown_name_suggests_close_ones() {
    let sb = sandbox();
    sb.write_spec(&sb.user_kernels(), "python-data", &spec("x"));
    let out = sb.kernels(&["show", "python-dat"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no kernel named `python-dat`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `python-data`"),
        "{}",
        out.stderr
    );
}

#[test]
fn show_broken_spec_names_the_problem() {
    let sb = sandbox();
    sb.write_spec(&sb.user_kernels(), "bom", &format!("\u{feff}{SPEC}"));
    let out = sb.kernels(&["show", "bom"]);
    out.ok();
    assert!(out.stdout.contains("byte order mark"), "{}", out.stdout);
}

#[test]
fn remove_deletes_only_the_winning_copy_case_insensitively() {
    let mut sb = sandbox();
    let jp = sb.root().join("jp");
    let winner = sb.write_spec(&jp.join("kernels"), "dup", &spec("first"));
    let loser = sb.write_spec(&sb.user_kernels(), "dup", &spec("second"));
    sb.set("JUPYTER_PATH", &jp);
    sb.kernels(&["remove", "DuP"]).ok();
    assert!(!winner.exists());
    assert!(loser.exists());
    let doc = sb.kernels(&["list", "--json"]).json();
    assert_eq!(doc["kernelspecs"]["dup"]["spec"]["display_name"], "second");
    if let Some(j) = sb.jupyter(&["kernelspec", "list", "--json"]) {
        let theirs = j.json();
        assert_eq!(
            theirs["kernelspecs"]["dup"]["spec"]["display_name"],
            "second"
        );
    }
}

#[cfg(unix)]
#[test]
fn remove_of_a_symlinked_spec_unlinks_only_the_link() {
    let sb = sandbox();
    let real = sb.write_spec(&sb.root().join("elsewhere"), "real", &spec("linked"));
    std::fs::create_dir_all(sb.user_kernels()).expect("dir");
    let link = sb.user_kernels().join("linked");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    sb.kernels(&["remove", "linked"]).ok();
    assert!(!link.exists() && link.symlink_metadata().is_err());
    assert!(
        real.join("kernel.json").exists(),
        "the link target must survive"
    );
}

#[test]
fn remove_with_an_unknown_name_removes_nothing() {
    let sb = sandbox();
    let keep = sb.write_spec(&sb.user_kernels(), "keep", &spec("k"));
    let before = tree(sb.root());
    let out = sb.kernels(&["remove", "keep", "nope"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no kernel named `nope`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was removed"), "{}", out.stderr);
    assert!(keep.exists());
    assert_eq!(tree(sb.root()), before);
}

#[test]
fn remove_rejects_escaping_names_before_touching_anything() {
    let sb = sandbox();
    sb.write_spec(&sb.user_kernels(), "keep", &spec("k"));
    let before = tree(sb.root());
    let long = "x".repeat(300);
    // (A NUL cannot be passed through argv at all; names.rs tests it at the unit level.)
    for bad in ["../keep", "/abs", "a/b", "..", "a\nb", long.as_str()] {
        let out = sb.kernels(&["remove", "keep", bad]);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stderr);
        assert!(out.stderr.contains("invalid kernel name"), "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
    assert_eq!(tree(sb.root()), before);
}

#[test]
fn remove_dry_run_and_json() {
    let sb = sandbox();
    let k = sb.write_spec(&sb.user_kernels(), "k", &spec("k"));
    let dry = sb.kernels(&["remove", "k", "--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout.contains("would remove kernel k"),
        "{}",
        dry.stdout
    );
    assert!(k.exists());
    let doc = sb.kernels(&["remove", "k", "--json"]).json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["removed"][0]["name"], "k");
    assert!(!k.exists());
    // Gone now: a second remove is an error with exit 1, like Jupyter's.
    let again = sb.kernels(&["remove", "k", "--json"]);
    assert_eq!(again.code, 1);
    assert_eq!(again.json()["ok"], false);
}

#[test]
fn remove_with_env_deletes_only_environments_kernels_created() {
    let python = crate::require_python!();
    let mut sb = sandbox();
    if let Some(bin) = crate::common::test_bin_dir() {
        sb.prepend_path(&bin);
    }
    let envs = sb.home().join(".local/share/kernels/envs");
    let env_created = |name: &str| -> serde_json::Value {
        let doc = sb.kernels(&["show", name, "--json"]).json();
        doc["spec"]["metadata"]["kernels"]["env_created"].clone()
    };
    sb.kernels(&["add", "rmenv", "--backend", "venv"]).ok();
    assert!(envs.join("rmenv/bin/python").exists());
    assert!(envs.join("rmenv/.kernels-env.json").exists());
    // A second kernel registered on the same environment: the environment itself records
    // that kernels made it, so this kernel knows too.
    let existing = envs.join("rmenv").display().to_string();
    sb.kernels(&["add", "other", "--existing", &existing]).ok();
    assert_eq!(env_created("other"), true);

    // The env is still used by `other`: the kernel goes, the env stays, with a warning.
    let out = sb.kernels(&["remove", "rmenv", "--with-env"]);
    out.ok();
    assert!(
        out.stderr.contains("still used by kernel other"),
        "{}",
        out.stderr
    );
    assert!(!sb.user_kernels().join("rmenv").exists());
    assert!(envs.join("rmenv").exists());
    // Its last user goes: so does the environment, but only with --yes when there is no
    // terminal to ask (exit 2, nothing removed, otherwise).
    let out = sb.kernels(&["remove", "other", "--with-env"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(
        out.stderr.contains("rmenv"),
        "the environment is named: {}",
        out.stderr
    );
    assert!(sb.user_kernels().join("other").exists());
    assert!(envs.join("rmenv").exists());
    sb.kernels(&["remove", "other", "--with-env", "--yes"]).ok();
    assert!(!envs.join("rmenv").exists());

    // An environment kernels did not make: --with-env refuses and removes nothing.
    let foreign = sb.root().join("foreign");
    let made = std::process::Command::new(&python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&foreign)
        .status()
        .expect("python -m venv");
    assert!(made.success());
    sb.write_spec(
        &sb.user_kernels(),
        "foreign",
        &format!(
            r#"{{"argv": ["{}", "-m", "ipykernel_launcher", "-f", "{{connection_file}}"], "display_name": "F", "language": "python"}}"#,
            foreign.join("bin/python").display()
        ),
    );
    let out = sb.kernels(&["remove", "foreign", "--with-env"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("not created by kernels"),
        "{}",
        out.stderr
    );
    assert!(sb.user_kernels().join("foreign").exists());
    assert!(foreign.join("bin/python").exists());

    // A kernel whose kernel.json was deleted by hand and then restored by a re-run of add
    // still knows kernels made its environment; --with-env then removes both, and Jupyter no
    // longer sees the kernel.
    sb.kernels(&["add", "solo", "--backend", "venv"]).ok();
    std::fs::remove_dir_all(sb.user_kernels().join("solo")).expect("rm -r kernel dir");
    sb.kernels(&["add", "solo", "--backend", "venv"]).ok();
    assert_eq!(env_created("solo"), true);
    let dry = sb.kernels(&["remove", "solo", "--with-env", "--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout.contains("would remove environment"),
        "{}",
        dry.stdout
    );
    // The dry run's document shows the deletion as a step, with its path and size.
    let plan = sb
        .kernels(&["remove", "solo", "--with-env", "--dry-run", "--json"])
        .ok()
        .json();
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{plan}");
    assert_eq!(steps[0]["step"], "remove_kernel", "{plan}");
    assert_eq!(steps[1]["step"], "delete_env", "{plan}");
    let canonical = std::fs::canonicalize(envs.join("solo")).expect("canonical");
    assert_eq!(
        steps[1]["target"],
        canonical.display().to_string(),
        "{plan}"
    );
    assert!(steps[1]["bytes"].as_u64().is_some_and(|b| b > 0), "{plan}");
    assert!(envs.join("solo").exists());
    let doc = sb
        .kernels(&["remove", "solo", "--with-env", "--json", "--yes"])
        .json();
    assert_eq!(
        doc["envs_removed"][0],
        envs.join("solo").display().to_string()
    );
    assert!(!envs.join("solo").exists());
    assert!(!sb.user_kernels().join("solo").exists());
    if let Some(j) = sb.jupyter(&["kernelspec", "list", "--json"]) {
        assert!(j.json()["kernelspecs"].get("solo").is_none());
    }
}

#[test]
fn remove_with_env_that_cannot_delete_the_environment_puts_the_kernelspec_back() {
    let _python = crate::require_python!();
    let mut sb = sandbox();
    if let Some(bin) = crate::common::test_bin_dir() {
        sb.prepend_path(&bin);
    }
    sb.kernels(&["add", "held", "--backend", "venv"]).ok();
    let spec = sb.user_kernels().join("held/kernel.json");
    let before = std::fs::read(&spec).expect("kernel.json");
    let prefix = std::fs::canonicalize(sb.home().join(".local/share/kernels/envs/held"))
        .expect("canonical prefix");
    // Another run holds the environment (the real prefix lock, as a second kernels run
    // would): the deletion, the last step, cannot start, so the removed kernelspec comes
    // back and the report says so.
    let held = kernels::prefix_lock::PrefixLock::acquire(
        &prefix,
        std::time::Duration::from_secs(5),
        &envs::CancelToken::new(),
    )
    .expect("prefix lock");
    sb.set("KERNELS_LOCK_TIMEOUT", "0.5");
    let out = sb.kernels(&["remove", "held", "--with-env", "--yes"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("rolled back: put back the kernelspec"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("were removed, but"), "{}", out.stderr);
    assert_eq!(std::fs::read(&spec).expect("kernel.json back"), before);
    assert!(prefix.join("bin/python").exists());
    assert!(!sb.home().join(".local/state/kernels/journal.json").exists());
    drop(held);
    sb.kernels(&["remove", "held", "--with-env", "--yes"]).ok();
    assert!(!prefix.exists());
    assert!(!spec.exists());
}

#[test]
fn list_and_show_say_when_a_kernels_environment_or_interpreter_is_gone() {
    let sb = sandbox();
    let gone_env = sb.root().join("envs/deleted");
    let live_env = sb.root().join("envs/live");
    std::fs::create_dir_all(live_env.join("bin")).expect("env");
    std::fs::write(live_env.join("bin/python"), "").expect("python");
    let spec_for = |python: &Path| {
        format!(
            r#"{{"argv": ["{}", "-m", "ipykernel_launcher", "-f", "{{connection_file}}"], "display_name": "x", "language": "python"}}"#,
            python.display()
        )
    };
    sb.write_spec(
        &sb.user_kernels(),
        "stale",
        &spec_for(&gone_env.join("bin/python")),
    );
    sb.write_spec(
        &sb.user_kernels(),
        "live",
        &spec_for(&live_env.join("bin/python")),
    );
    sb.write_spec(
        &sb.user_kernels(),
        "no-interpreter",
        &spec_for(&live_env.join("bin/python3.99")),
    );

    let out = sb.kernels(&["list"]);
    out.ok();
    let row = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("stale").contains("environment missing"),
        "{}",
        out.stdout
    );
    assert!(
        row("no-interpreter").contains("interpreter missing"),
        "{}",
        out.stdout
    );
    assert!(row("live").contains(" ok "), "{}", out.stdout);

    let doc = sb.kernels(&["list", "--json"]).json();
    let extra = |name: &str| doc["kernelspecs"][name]["kernels"].clone();
    assert_eq!(extra("stale")["missing"]["what"], "environment");
    assert_eq!(extra("stale")["env"], gone_env.display().to_string());
    assert_eq!(extra("live")["missing"], serde_json::Value::Null);
    assert_eq!(extra("no-interpreter")["missing"]["what"], "interpreter");

    let show = sb.kernels(&["show", "stale"]);
    show.ok();
    assert!(show.stdout.contains("environment:"), "{}", show.stdout);
    assert!(show.stdout.contains("is missing"), "{}", show.stdout);
}
