//! Chaos: `kill -9` a run at random instants; after the next `kernels` command the machine is
//! either as before or complete, never in between, and every listed kernel boots.
//!
//! A hard stop (SIGKILL, OOM, power loss) runs no rollback: only the durable journal the run
//! left in its state directory and the guard in the environment it was making tell the next
//! run what to undo. Only the `kernels` process is killed: the installers it started must die
//! with it (their parent-death signal), which each round checks by waiting, bounded, until
//! every process the run started (and every member of their process groups) is gone.
//!
//! Per command (`add` with venv and with the real conda, `install`, `remove --with-env`,
//! `apply`) one uninterrupted run first measures how long the command takes; the kill
//! instants are then drawn from a seeded RNG over that span. The next command alternates
//! between `prune --yes` and a re-run of the killed command (which must finish the dead run's
//! journal first, then complete).
//!
//! - `KERNELS_CHAOS_SEED=N` replays a run (the seed is printed);
//! - `KERNELS_CHAOS_POINTS=N` sets the kills per command (the suite runs a small sample;
//!   `scripts/reliability.sh` runs 50 per command).
//!
//! Each command prints one line, `chaos: add/venv 50 kills, 50 consistent (...)`, which
//! `scripts/reliability.sh` collects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::add_conda::CondaBox;
use crate::common::{kernels_bin, test_bin_dir, test_python, Run, Sandbox};

/// How long the processes a killed run started may take to go.
const GONE_WITHIN: Duration = Duration::from_secs(20);

/// The RNG: splitmix64 (enough to spread kill instants; replayable from its seed).
struct Rng(u64);

impl Rng {
    /// From `KERNELS_CHAOS_SEED`, else from the clock; printed either way.
    fn from_env(what: &str) -> Rng {
        let seed = std::env::var("KERNELS_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                now ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("chaos {what}: seed {seed} (replay with KERNELS_CHAOS_SEED={seed})");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Kills per command: `KERNELS_CHAOS_POINTS`, else `sample`.
fn points(sample: usize) -> usize {
    std::env::var("KERNELS_CHAOS_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(sample)
}

/// One process, as /proc shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Proc {
    pid: u32,
    ppid: u32,
    pgid: u32,
    started: u64,
    zombie: bool,
}

fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ... starttime(22)": comm may hold spaces.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.push(Proc {
            pid,
            ppid: num(1) as u32,
            pgid: num(2) as u32,
            started: num(19),
            zombie: f.first().is_some_and(|s| *s == "Z" || *s == "X"),
        });
    }
    out
}

/// Every descendant of `pid`.
fn descendants(pid: u32, all: &[Proc]) -> Vec<Proc> {
    let mut out: Vec<Proc> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for c in all.iter().filter(|c| c.ppid == p) {
            if !out.iter().any(|o| o.pid == c.pid) {
                out.push(*c);
                frontier.push(c.pid);
            }
        }
    }
    out
}

/// What a killed run had started: the processes and their process groups.
#[derive(Default)]
struct Started {
    procs: BTreeSet<(u32, u64)>,
    groups: BTreeSet<u32>,
}

impl Started {
    fn add(&mut self, run: &Proc, all: &[Proc]) {
        for d in descendants(run.pid, all) {
            self.procs.insert((d.pid, d.started));
            // The run's own group is the test's; the tools lead their own groups.
            if d.pgid != run.pgid {
                self.groups.insert(d.pgid);
            }
        }
    }

    /// The ones still running (zombies waiting to be reaped count as gone).
    fn alive(&self) -> Vec<Proc> {
        processes()
            .into_iter()
            .filter(|p| !p.zombie)
            .filter(|p| self.procs.contains(&(p.pid, p.started)) || self.groups.contains(&p.pgid))
            .collect()
    }
}

/// Runs `kernels ARGS` and SIGKILLs it (it alone) `at` after the start, unless it ended
/// first; then waits, bounded, until everything it started is gone. Returns whether it was
/// killed, and the processes that outlived it.
fn run_and_kill(sb: &Sandbox, args: &[String], at: Duration) -> (bool, Vec<Proc>) {
    let started = Instant::now();
    run_and_kill_when(sb, args, &|| started.elapsed() >= at)
}

/// [`run_and_kill`], killing when `now()` first says so.
fn run_and_kill_when(sb: &Sandbox, args: &[String], now: &dyn Fn() -> bool) -> (bool, Vec<Proc>) {
    let mut child = sb
        .command(kernels_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kernels");
    let mut seen = Started::default();
    let pid = child.id();
    let me = |all: &[Proc]| all.iter().find(|p| p.pid == pid).copied();
    let mut finished = false;
    while !now() {
        if child.try_wait().ok().flatten().is_some() {
            finished = true;
            break;
        }
        let all = processes();
        if let Some(run) = me(&all) {
            seen.add(&run, &all);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if !finished {
        let all = processes();
        if let Some(run) = me(&all) {
            seen.add(&run, &all);
        }
        let _ = child.kill();
    }
    let _ = child.wait();
    let deadline = Instant::now() + GONE_WITHIN;
    let mut alive = seen.alive();
    while !alive.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        alive = seen.alive();
    }
    (!finished, alive)
}

/// A tool's helper (a grandchild of `kernels`, in the tool's process group) goes too when
/// `kernels` is SIGKILLed: the tool by its parent-death signal, the helper by the group
/// reaper.
#[test]
fn chaos_a_killed_run_takes_its_tools_helpers_with_it() {
    crate::require_python!();
    let Some(mut sb) = venv_sandbox() else {
        return crate::common::skip("no test venv bin directory");
    };
    let uv = test_bin_dir().expect("bin").join("uv");
    let helper = sb.root().join("helper-pid");
    let fake = sb.root().join("slow/uv");
    std::fs::create_dir_all(fake.parent().expect("dir")).expect("dir");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = venv ]; then exec '{}' \"$@\"; fi\nsleep 120 &\necho $! > '{}.tmp'\nmv '{}.tmp' '{}'\nwait\n",
            uv.display(),
            helper.display(),
            helper.display(),
            helper.display()
        ),
    )
    .expect("fake uv");
    super::add::make_executable(&fake);
    sb.set("KERNELS_UV", &fake);
    let give_up = Instant::now() + Duration::from_secs(120);
    let (killed, outlived) =
        run_and_kill_when(&sb, &args(&["add", "helped", "--backend", "venv"]), &|| {
            helper.exists() || Instant::now() > give_up
        });
    assert!(killed, "the run ended before its tool started a helper");
    let pid = std::fs::read_to_string(&helper).expect("the helper started");
    assert!(outlived.is_empty(), "outlived the run: {outlived:?}");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "helper alive: {stat}"
    );
}

/// What is on disk for one kernel and its environment.
#[derive(Debug, PartialEq)]
enum State {
    /// Neither kernel nor environment, nothing left beside it, no journal.
    Absent,
    /// Kernel and a complete environment (its guard ready, ipykernel importable), no journal.
    Present,
    /// Anything else.
    InBetween(String),
}

fn journal(sb: &Sandbox) -> PathBuf {
    sb.home().join(".local/state/kernels/journal.json")
}

/// The state of kernel `name` with its environment at `prefix`.
fn state(sb: &Sandbox, name: &str, prefix: &Path) -> State {
    if journal(sb).exists() {
        return State::InBetween("a journal is left".into());
    }
    let kernel = sb.user_kernels().join(name).join("kernel.json");
    let registry = sb.home().join(".conda/environments.txt");
    let registered = std::fs::read_to_string(&registry)
        .unwrap_or_default()
        .lines()
        .any(|l| Path::new(l.trim()) == prefix);
    match (kernel.is_file(), prefix.exists()) {
        (false, false) => {
            let leftovers: Vec<PathBuf> = std::fs::read_dir(prefix.parent().expect("parent"))
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            if !leftovers.is_empty() {
                State::InBetween(format!("left beside the prefix: {leftovers:?}"))
            } else if registered {
                State::InBetween(format!("{} still names it", registry.display()))
            } else {
                State::Absent
            }
        }
        (true, true) => {
            let marker =
                std::fs::read_to_string(prefix.join(".kernels-env.json")).unwrap_or_default();
            let imports = std::process::Command::new(prefix.join("bin/python"))
                .args(["-c", "import ipykernel"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if marker.contains("installing") {
                State::InBetween(format!(
                    "registered, but its guard says installing: {marker}"
                ))
            } else if !imports {
                State::InBetween("registered, but its environment is broken".into())
            } else {
                State::Present
            }
        }
        (k, e) => State::InBetween(format!("kernel registered: {k}, environment there: {e}")),
    }
}

/// Every kernel `kernels list` shows boots (`doctor --boot`, exit 0).
fn listed_kernels_boot(sb: &Sandbox) -> Result<(), String> {
    let list = sb.kernels(&["list", "--json"]);
    if list.code != 0 {
        return Err(format!("list failed: {}", list.stderr));
    }
    if !list.stdout.contains("\"name\"") {
        return Ok(());
    }
    let doctor = sb.kernels(&["doctor", "--boot", "--timeout", "60"]);
    if doctor.code == 0 {
        Ok(())
    } else {
        Err(format!(
            "doctor --boot exit {}:\n{}{}",
            doctor.code, doctor.stdout, doctor.stderr
        ))
    }
}

/// One command under chaos.
struct Scenario<'a> {
    /// `add/venv`, ...
    name: &'static str,
    sb: &'a Sandbox,
    /// The command killed.
    args: Vec<String>,
    /// Kills in the suite when `KERNELS_CHAOS_POINTS` is not set.
    sample: usize,
    /// Brings the machine to the state before the command (after a round that completed).
    prepare: &'a dyn Fn(&Sandbox),
    /// The state now: `Ok(true)` as before, `Ok(false)` complete, `Err` in between.
    observe: &'a dyn Fn(&Sandbox) -> Result<bool, String>,
}

impl Scenario<'_> {
    /// Runs the rounds; panics with every in-between state found.
    fn run(&self) {
        let mut rng = Rng::from_env(self.name);
        (self.prepare)(self.sb);
        let t0 = Instant::now();
        let full = self
            .sb
            .kernels(&self.args.iter().map(String::as_str).collect::<Vec<_>>());
        let span = t0.elapsed();
        assert_eq!(full.code, 0, "uninterrupted {}: {}", self.name, full.stderr);
        assert_eq!(
            (self.observe)(self.sb),
            Ok(false),
            "{}: not complete",
            self.name
        );
        let n = points(self.sample);
        let span_ms = (span.as_millis() as u64 * 12 / 10).max(50);
        let (mut killed, mut before, mut complete) = (0, 0, 0);
        let mut problems = Vec::new();
        for round in 0..n {
            (self.prepare)(self.sb);
            let at = Duration::from_millis(rng.below(span_ms));
            let (was_killed, outlived) = run_and_kill(self.sb, &self.args, at);
            killed += usize::from(was_killed);
            if !outlived.is_empty() {
                problems.push(format!(
                    "killed at {at:?}: processes outlived the run: {outlived:?}"
                ));
            }
            // Every other killed round re-runs the same command (it must finish the job); a
            // run that ended by itself is followed by `prune`, since re-running a finished
            // `remove` rightly says there is no such kernel.
            let rerun = round % 2 == 1 && was_killed;
            let next = if rerun {
                self.sb
                    .kernels(&self.args.iter().map(String::as_str).collect::<Vec<_>>())
            } else {
                self.sb.kernels(&["prune", "--yes"])
            };
            let verdict = check_after(self, &next, rerun)
                .and_then(|as_before| listed_kernels_boot(self.sb).map(|()| as_before));
            println!(
                "chaos round: {} {}/{n} killed at {at:?} ({}): {}",
                self.name,
                round + 1,
                if was_killed { "killed" } else { "had ended" },
                match (&verdict, outlived.is_empty()) {
                    (Ok(true), true) => "as before",
                    (Ok(false), true) => "complete",
                    _ => "INCONSISTENT",
                }
            );
            match verdict {
                Ok(true) if outlived.is_empty() => before += 1,
                Ok(false) if outlived.is_empty() => complete += 1,
                Ok(_) => {}
                Err(why) => problems.push(format!(
                    "killed at {at:?}, next `{}`: {why}\n{}",
                    if rerun {
                        "the same command"
                    } else {
                        "prune --yes"
                    },
                    next.stderr
                )),
            }
        }
        let consistent = before + complete;
        println!(
            "chaos: {} {n} kills, {consistent} consistent ({killed} before the run ended; \
             {before} as before, {complete} complete; uninterrupted run {:.1} s)",
            self.name,
            span.as_secs_f64()
        );
        assert!(problems.is_empty(), "{}", problems.join("\n---\n"));
    }
}

/// The verdict after the next command: a re-run must have completed.
fn check_after(s: &Scenario<'_>, next: &Run, rerun: bool) -> Result<bool, String> {
    if next.stderr.contains("panicked") {
        return Err("the next command panicked".into());
    }
    let as_before = (s.observe)(s.sb)?;
    if rerun && (next.code != 0 || as_before) {
        return Err(format!("the re-run did not complete (exit {})", next.code));
    }
    Ok(as_before)
}

/// A sandbox whose tools are the test venv's (uv, python) and no conda.
fn venv_sandbox() -> Option<Sandbox> {
    let mut sb = super::policy::isolated();
    let bin = test_bin_dir()?;
    sb.prepend_path(&bin);
    sb.set("KERNELS_PYTHON", test_python()?);
    super::add::warm_caches(&mut sb);
    Some(sb)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// "As before" is no kernel and no environment; "complete" both.
fn absent_or_present(
    name: &'static str,
    prefix: PathBuf,
) -> impl Fn(&Sandbox) -> Result<bool, String> {
    move |sb| match state(sb, name, &prefix) {
        State::Absent => Ok(true),
        State::Present => Ok(false),
        State::InBetween(why) => Err(why),
    }
}

/// Removes kernel `name` and its environment (a clean start for the next round).
fn remove_all(sb: &Sandbox, name: &str, prefix: &Path) {
    sb.kernels(&["remove", name, "--with-env", "--yes"]);
    let _ = std::fs::remove_dir_all(prefix);
    let _ = std::fs::remove_dir_all(sb.user_kernels().join(name));
    let _ = std::fs::remove_file(journal(sb));
}

#[test]
fn chaos_kill_9_during_add_venv() {
    crate::require_python!();
    let Some(sb) = venv_sandbox() else {
        return crate::common::skip("no test venv bin directory");
    };
    let prefix = sb.root().join("envs/chaos");
    let p = prefix.display().to_string();
    let prefix2 = prefix.clone();
    Scenario {
        name: "add/venv",
        sb: &sb,
        args: args(&["add", "chaos", "--backend", "venv", "--prefix", &p]),
        sample: 3,
        prepare: &move |sb| {
            if state(sb, "chaos", &prefix2) != State::Absent {
                remove_all(sb, "chaos", &prefix2);
            }
        },
        observe: &absent_or_present("chaos", prefix.clone()),
    }
    .run();
}

#[test]
fn chaos_kill_9_during_add_conda() {
    let Some(mut cb) = CondaBox::real() else {
        return;
    };
    super::add::warm_caches(&mut cb.sb);
    let sb = &cb.sb;
    let prefix = sb.root().join("envs/chaos");
    let p = prefix.display().to_string();
    let prefix2 = prefix.clone();
    Scenario {
        name: "add/conda",
        sb,
        args: args(&["add", "chaos", "--backend", "conda", "--prefix", &p]),
        sample: 1,
        prepare: &move |sb| {
            if state(sb, "chaos", &prefix2) != State::Absent {
                remove_all(sb, "chaos", &prefix2);
            }
        },
        observe: &absent_or_present("chaos", prefix.clone()),
    }
    .run();
}

#[test]
fn chaos_kill_9_during_install() {
    crate::require_python!();
    let Some(sb) = venv_sandbox() else {
        return crate::common::skip("no test venv bin directory");
    };
    let prefix = sb.root().join("envs/chaos");
    let p = prefix.display().to_string();
    sb.kernels(&["add", "chaos", "--backend", "venv", "--prefix", &p])
        .ok();
    let uv = test_bin_dir().expect("bin").join("uv");
    let python = prefix.join("bin/python");
    let has_six = {
        let python = python.clone();
        move || {
            std::process::Command::new(&python)
                .args(["-c", "import six"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    };
    let has_six2 = has_six.clone();
    let (prefix2, python2) = (prefix.clone(), python.clone());
    Scenario {
        name: "install",
        sb: &sb,
        args: args(&["install", "chaos", "six"]),
        sample: 3,
        // Packages installed into an environment that existed before are kept (they
        // cannot be uninstalled); the test takes six out again itself.
        prepare: &move |sb| {
            if has_six() {
                let _ = sb
                    .command(&uv)
                    .args(["pip", "uninstall", "--python"])
                    .arg(&python2)
                    .arg("six")
                    .output();
            }
        },
        // As before: the kernel and its environment whole, without six; complete: with it.
        observe: &move |sb| match state(sb, "chaos", &prefix2) {
            State::Present => Ok(!has_six2()),
            State::Absent => Err("the kernel and its environment are gone".into()),
            State::InBetween(why) => Err(why),
        },
    }
    .run();
}

/// `remove --with-env` is a journaled removal plan: kernelspecs first (backed up, undoable),
/// the environment last (journaled before its deletion starts, so a run killed while deleting
/// it is completed by the next run, never half-left).
#[test]
fn chaos_kill_9_during_remove_with_env() {
    crate::require_python!();
    let Some(sb) = venv_sandbox() else {
        return crate::common::skip("no test venv bin directory");
    };
    let prefix = sb.root().join("envs/chaos");
    let p = prefix.display().to_string();
    let prefix2 = prefix.clone();
    let observe = absent_or_present("chaos", prefix.clone());
    Scenario {
        name: "remove --with-env",
        sb: &sb,
        args: args(&["remove", "chaos", "--with-env", "--yes"]),
        sample: 2,
        prepare: &move |sb| {
            if state(sb, "chaos", &prefix2) != State::Present {
                remove_all(sb, "chaos", &prefix2);
                sb.kernels(&["add", "chaos", "--backend", "venv", "--prefix", &p])
                    .ok();
            }
        },
        // Here "as before" is the kernel with its environment, "complete" neither.
        observe: &move |sb| observe(sb).map(|absent| !absent),
    }
    .run();
}

#[test]
fn chaos_kill_9_during_apply() {
    crate::require_python!();
    let Some(sb) = venv_sandbox() else {
        return crate::common::skip("no test venv bin directory");
    };
    let prefix = sb.root().join("envs/chaos");
    let file = sb.root().join("kernels.toml");
    std::fs::write(
        &file,
        format!(
            "version = 1\n\n[[kernel]]\nname = \"chaos\"\nbackend = \"venv\"\nprefix = \"{}\"\n",
            prefix.display()
        ),
    )
    .expect("kernels.toml");
    let prefix2 = prefix.clone();
    Scenario {
        name: "apply",
        sb: &sb,
        args: args(&["apply", &file.display().to_string()]),
        sample: 2,
        prepare: &move |sb| {
            if state(sb, "chaos", &prefix2) != State::Absent {
                remove_all(sb, "chaos", &prefix2);
            }
        },
        observe: &absent_or_present("chaos", prefix.clone()),
    }
    .run();
}

/// A run killed while its environment's guard says "installing", and its journal lost: the
/// environment is never listed as usable or installed into, and `add` of the same kernel
/// rebuilds it (this user's records say it is theirs).
#[test]
fn chaos_a_half_made_env_without_its_journal_is_never_used_and_add_rebuilds_it() {
    crate::require_python!();
    let Some(sb) = venv_sandbox() else {
        return crate::common::skip("no test venv bin directory");
    };
    let home = sb.home().join(".local/share/kernels/envs/half");
    let mut child = sb
        .command(kernels_bin())
        .args(["add", "half", "--backend", "venv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it once the tool has started filling the guarded prefix.
    let deadline = Instant::now() + Duration::from_secs(60);
    let marker = home.join(".kernels-env.json");
    while Instant::now() < deadline
        && !(home.join("pyvenv.cfg").exists()
            && std::fs::read_to_string(&marker).is_ok_and(|m| m.contains("installing")))
    {
        assert!(child.try_wait().ok().flatten().is_none(), "add ended first");
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        home.join("pyvenv.cfg").exists(),
        "never saw the guarded prefix"
    );
    std::fs::remove_file(journal(&sb)).expect("the killed run left its journal");

    let envs = sb.kernels(&["envs", "--json"]).json();
    let row = envs["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .find(|e| {
            e["prefix"]
                .as_str()
                .is_some_and(|p| p.ends_with("/envs/half"))
        })
        .cloned()
        .expect("listed");
    assert_eq!(row["half_made"], true, "{row}");
    assert_eq!(row["ipykernel"], false, "{row}");
    let text = sb.kernels(&["envs"]);
    assert!(text.stdout.contains("half-made"), "{}", text.stdout);
    let doctor = sb.kernels(&["doctor", "--json"]).json();
    assert!(
        doctor["machine"].to_string().contains("half-made"),
        "{doctor}"
    );
    let existing = sb.kernels(&["add", "other", "--existing", &home.display().to_string()]);
    assert_eq!(existing.code, 1, "{}", existing.stderr);
    assert!(existing.stderr.contains("half-made"), "{}", existing.stderr);
    assert!(existing.stderr.contains("hint:"), "{}", existing.stderr);
    assert!(!sb.user_kernels().join("other").exists());

    let again = sb.kernels(&["add", "half", "--backend", "venv"]);
    again.ok();
    assert!(again.stderr.contains("half-made"), "{}", again.stderr);
    let guard = std::fs::read_to_string(&marker).expect("marker");
    assert!(!guard.contains("installing"), "{guard}");
    let doc = sb.kernels(&["doctor", "--boot", "half"]);
    assert_eq!(doc.code, 0, "{}\n{}", doc.stdout, doc.stderr);
}

/// A kernels dir that cannot be written: the run fails writing the kernelspec, and its
/// rollback report does not claim to have removed a kernelspec that was never written.
#[test]
fn chaos_rollback_of_a_kernelspec_never_written_claims_nothing() {
    let python = crate::require_python!();
    let sb = super::policy::isolated();
    let kernels_dir = sb.user_kernels();
    std::fs::create_dir_all(&kernels_dir).expect("kernels dir");
    let Some(read_only) = crate::common::Immutable::make(&kernels_dir) else {
        return crate::common::skip("`chattr +i` is not supported here");
    };
    let env = python.parent().and_then(Path::parent).expect("test venv");
    let out = sb.kernels(&["add", "ro", "--existing", &env.display().to_string()]);
    drop(read_only);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        !out.stderr.contains("removed the kernelspec"),
        "{}",
        out.stderr
    );
    assert!(!kernels_dir.join("ro").exists());
    assert!(!journal(&sb).exists());
}

/// A conda environment created and then rolled back (its kernelspec could not be written)
/// leaves no line in conda's registry of environments.
#[test]
fn chaos_a_rolled_back_conda_env_leaves_no_registry_line() {
    let Some(mut cb) = CondaBox::real() else {
        return;
    };
    super::add::warm_caches(&mut cb.sb);
    let sb = &cb.sb;
    let kernels_dir = sb.user_kernels();
    std::fs::create_dir_all(&kernels_dir).expect("kernels dir");
    let Some(read_only) = crate::common::Immutable::make(&kernels_dir) else {
        return crate::common::skip("`chattr +i` is not supported here");
    };
    let prefix = sb.root().join("envs/rolled");
    let p = prefix.display().to_string();
    let out = sb.kernels(&["add", "rolled", "--backend", "conda", "--prefix", &p]);
    drop(read_only);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("removed the environment"),
        "{}",
        out.stderr
    );
    assert!(!prefix.exists());
    let registry =
        std::fs::read_to_string(sb.home().join(".conda/environments.txt")).unwrap_or_default();
    assert!(
        !registry.lines().any(|l| Path::new(l.trim()) == prefix),
        "{registry}"
    );
    assert_eq!(state(sb, "rolled", &prefix), State::Absent);
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
