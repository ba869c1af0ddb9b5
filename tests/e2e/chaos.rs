//! Chaos: `kill -9` a run at many instants; after the next `kernels` command the machine is
//! either as before or complete, never in between.
//!
//! A hard stop (SIGKILL, OOM, power loss) runs no rollback: only the durable journal the run
//! left in its state directory tells the next run what to undo. "Killed" here means the run
//! and every process it started (an installer left running would go on writing into the
//! environment after its run was gone, which a power loss does not do either).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{kernels_bin, Sandbox};

/// The kill instants, in milliseconds after the start (spread over a venv `add`).
const KILL_AT_MS: &[u64] = &[
    50, 150, 300, 450, 600, 800, 1000, 1300, 1600, 2000, 2500, 3000, 3600, 4300, 5200, 6500, 8000,
    10000, 12500, 60000,
];

/// Every descendant of `pid` (by parent pid, read from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces; split after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((child, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &parents {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Stops the run and everything it started, then kills them all at once.
fn hard_stop(child: &mut std::process::Child) {
    let pid = child.id();
    signal(pid, "-STOP");
    let mut all = vec![pid];
    for _ in 0..3 {
        for d in descendants(pid) {
            if !all.contains(&d) {
                signal(d, "-STOP");
                all.push(d);
            }
        }
    }
    for p in &all {
        signal(*p, "-KILL");
    }
    let _ = child.wait();
}

/// What is on disk for the kernel `chaos` at `prefix`.
#[derive(Debug, PartialEq)]
enum State {
    Before,
    Complete,
    InBetween(String),
}

fn state(sb: &Sandbox, prefix: &Path) -> State {
    let kernel = sb.user_kernels().join("chaos/kernel.json");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(prefix.parent().expect("parent"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let journal = sb.home().join(".local/state/kernels/journal.json");
    if journal.exists() {
        return State::InBetween("a journal is left".into());
    }
    match (kernel.is_file(), prefix.exists()) {
        (false, false) if leftovers.is_empty() => State::Before,
        (false, false) => State::InBetween(format!("left beside the prefix: {leftovers:?}")),
        (true, true) => {
            let ok = std::process::Command::new(prefix.join("bin/python"))
                .args(["-c", "import ipykernel"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                State::Complete
            } else {
                State::InBetween("registered, but its environment is broken".into())
            }
        }
        (k, e) => State::InBetween(format!("kernel registered: {k}, environment there: {e}")),
    }
}

#[test]
fn chaos_kill_9_during_add_then_the_next_command_leaves_before_or_complete() {
    crate::require_python!();
    let mut sb = super::policy::isolated();
    let Some(bin) = crate::common::test_bin_dir() else {
        return;
    };
    sb.prepend_path(&bin);
    if let Some(p) = crate::common::test_python() {
        sb.set("KERNELS_PYTHON", p);
    }
    let prefix = sb.root().join("envs/chaos");
    let p = prefix.to_str().expect("utf8").to_owned();
    let (mut before, mut complete, mut recovered) = (0, 0, 0);
    let mut in_between = Vec::new();
    for &ms in KILL_AT_MS {
        let mut child = sb
            .command(kernels_bin())
            .args(["add", "chaos", "--backend", "venv", "--prefix", &p])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(ms) {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        hard_stop(&mut child);
        // The next command that takes the lock finishes the dead run's journal.
        let next = sb.kernels(&["prune", "--yes"]);
        assert!(!next.stderr.contains("panicked"), "{}", next.stderr);
        if next.stderr.contains("rolled it back") {
            recovered += 1;
        }
        match state(&sb, &prefix) {
            State::Before => before += 1,
            State::Complete => {
                complete += 1;
                sb.kernels(&["remove", "chaos", "--with-env", "--yes"]).ok();
            }
            State::InBetween(why) => {
                in_between.push(format!("killed at {ms} ms: {why}\n{}", next.stderr));
                // Start the next round clean.
                let _ = std::fs::remove_dir_all(&prefix);
                let _ = std::fs::remove_dir_all(sb.user_kernels().join("chaos"));
            }
        }
    }
    eprintln!(
        "chaos add: {} kill points: {before} as before ({recovered} rolled back by the next \
         command), {complete} complete, {} in between",
        KILL_AT_MS.len(),
        in_between.len()
    );
    assert!(
        complete > 0,
        "no run completed, so the later instants were never reached"
    );
    assert!(in_between.is_empty(), "{}", in_between.join("\n---\n"));
}

#[test]
fn chaos_doctor_reports_a_journal_left_behind() {
    let sb = super::policy::isolated();
    let state = sb.home().join(".local/state/kernels");
    std::fs::create_dir_all(&state).expect("state");
    let journal = state.join("journal.json");
    // A dead run's journal (nothing left to undo): a warning, and the next command that
    // takes the lock finishes it and says so.
    std::fs::write(
        &journal,
        r#"{"version": 1, "pid": 999999999, "entries": []}"#,
    )
    .expect("journal");
    let doc = sb.kernels(&["doctor", "--json"]).json();
    let text = doc["machine"].to_string();
    assert!(text.contains("stopped before it finished"), "{doc}");
    let next = sb.kernels(&["prune", "--yes"]);
    assert!(next.stderr.contains("rolled it back"), "{}", next.stderr);
    assert!(!journal.exists());
    // One that cannot be read is a problem (exit 4), and is left for a human.
    std::fs::write(&journal, "not json").expect("journal");
    let out = sb.kernels(&["doctor"]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("cannot be rolled back"),
        "{}",
        out.stdout
    );
    assert!(journal.exists());
}
