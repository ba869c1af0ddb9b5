//! Progress on stderr, rendered from the library's typed [`envs::Event`]s.
//!
//! * On a terminal: per step a spinner line with the step, its elapsed time and the tool's
//!   latest line (from stdout or stderr), replaced when the step ends by a permanent line
//!   with its time; a conda transaction adds one line (packages linked and downloaded).
//! * `-v`: no spinner; each step line, each command line (`$ …`) and every tool line.
//! * Off a terminal (a pipe, a file, CI): plain step lines only.
//! * `-q`: nothing. `--json` never writes progress on stdout (all of this is stderr).
//!
//! Paths are shown as the summaries show them (`~` for the home directory).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use envs::{Event, Step, ToolName};
use kernels::KernelStatus;

use crate::commands::Ctx;
use crate::output::Out;

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(120);
/// Longest tool line shown on the spinner line (it must fit on one terminal row).
const MAX_LINE: usize = 60;
/// The terminal width a shell exports.
const COLUMNS: &str = "COLUMNS";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing (`-q`).
    Silent,
    /// Step lines only (not a terminal).
    Plain,
    /// A spinner per step (a terminal).
    Live,
    /// Step and command lines and every tool line (`-v`).
    Verbose,
}

/// Renders [`envs::Event`]s for a run of `add`, `install` or `apply`.
pub struct StepPrinter<'a> {
    out: &'a Out,
    home: Option<std::path::PathBuf>,
    mode: Mode,
    spinner: Option<Spinner>,
    /// Per new environment, which tool creates it and why ([`tool_reason`]).
    reasons: Vec<(std::path::PathBuf, String)>,
    host: &'a envs::HostEnv,
}

impl<'a> StepPrinter<'a> {
    /// A printer for `ctx`: it spins only on a terminal, without `-q`/`-v`.
    pub fn new(ctx: &'a Ctx) -> StepPrinter<'a> {
        let out = &ctx.out;
        let mode = if out.quiet {
            Mode::Silent
        } else if out.verbose > 0 {
            Mode::Verbose
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Plain
        };
        StepPrinter {
            out,
            home: ctx.host().home.clone(),
            mode,
            spinner: (mode == Mode::Live).then(Spinner::start),
            reasons: Vec::new(),
            host: ctx.host(),
        }
    }

    /// Makes each "Creating environment" line say which tool and why it was picked.
    pub fn explain(mut self, plan: &kernels::Plan) -> Self {
        for step in plan.kernels.iter().flat_map(|k| k.env_steps()) {
            if let kernels::Step::CreateEnv(c) = step {
                self.reasons
                    .push((c.prefix.to_path_buf(), tool_reason(c, self.host)));
            }
        }
        self
    }

    fn show(&self, path: &Path) -> String {
        show_path(self.home.as_deref(), path)
    }

    /// The words for a step (a create with the tool's reason).
    fn describe(&self, step: &Step) -> String {
        let text = describe_step(step, &|p| self.show(p));
        let reason = match step {
            Step::CreateEnv { prefix, .. } => self
                .reasons
                .iter()
                .find(|(p, _)| p == prefix)
                .map(|(_, r)| r.as_str()),
            _ => None,
        };
        match reason {
            Some(r) => format!("{text} ({r})"),
            None => text,
        }
    }

    /// A permanent line, printed with the spinner line out of the way.
    fn permanent(&self, text: &str) {
        match &self.spinner {
            Some(s) => s.with_line_cleared(|_| self.out.step(text)),
            None => self.out.step(text),
        }
    }
}

/// The words for a step, paths through `show`.
pub fn describe_step(step: &Step, show: &dyn Fn(&Path) -> String) -> String {
    match step {
        Step::CreateEnv { prefix, tool } => match tool {
            ToolName::Venv | ToolName::Pip => {
                format!("Creating virtual environment {}", show(prefix))
            }
            ToolName::Uv | ToolName::OwnUv => {
                format!("Creating virtual environment {} with {tool}", show(prefix))
            }
            _ => format!("Creating environment {} with {tool}", show(prefix)),
        },
        Step::InstallPackages {
            prefix,
            packages,
            tool,
        } => {
            let what = if packages.is_empty() {
                "the requirements".to_owned()
            } else {
                packages.join(" ")
            };
            format!("Installing {what} into {} with {tool}", show(prefix))
        }
        Step::ProvisionUv { dir, python } => format!(
            "Installing uv into {} with {}'s pip, once, to make environments faster \
             (to opt out: KERNELS_NO_PROVISION_UV=1 or --no-provision-uv)",
            show(dir),
            show(python)
        ),
        Step::WriteKernel { name, dir } => {
            format!("Writing kernel `{name}` to {}", show(dir))
        }
    }
}

/// `~/…` under `home`, else the path as it is.
pub fn show_path(home: Option<&Path>, path: &Path) -> String {
    if let Some(rest) = home.and_then(|h| path.strip_prefix(h).ok()) {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// "57 packages linked (12 downloaded)".
fn transaction_line(linked: usize, fetched: usize) -> String {
    let s = if linked == 1 { "" } else { "s" };
    match fetched {
        0 => format!("  {linked} package{s} linked"),
        n => format!("  {linked} package{s} linked ({n} downloaded)"),
    }
}

impl envs::Progress for StepPrinter<'_> {
    fn event(&self, event: &Event<'_>) {
        match (self.mode, event) {
            (Mode::Silent, _) => {}
            (Mode::Plain | Mode::Verbose, Event::Started(step)) => {
                self.out.step(&format!("• {}", self.describe(step)));
            }
            (_, Event::Notice(text)) => self.permanent(&format!("• {text}")),
            (Mode::Verbose, Event::Command(cmd)) => self.out.step(&format!("  $ {cmd}")),
            (Mode::Verbose, Event::Line { text, .. }) => self.out.step(&format!("    {text}")),
            (Mode::Verbose, Event::Transaction { linked, fetched }) => {
                self.out.step(&transaction_line(linked.len(), *fetched));
            }
            (Mode::Live, _) => self.live(event),
            _ => {}
        }
    }
}

impl StepPrinter<'_> {
    /// A terminal without `-v`: the spinner follows the step.
    fn live(&self, event: &Event<'_>) {
        let Some(s) = &self.spinner else { return };
        match event {
            Event::Started(step) => s.with_line_cleared(|state| {
                state.finish_pending(self.out);
                state.step = self.describe(step);
                state.started = Some(Instant::now());
                state.last_line.clear();
                state.active = true;
            }),
            Event::Finished { elapsed } => s.with_line_cleared(|state| {
                if state.active {
                    self.out
                        .step(&format!("✓ {} ({})", state.step, duration(*elapsed)));
                }
                state.active = false;
            }),
            Event::Transaction { linked, fetched } => s.with_line_cleared(|state| {
                state.finish_pending(self.out);
                self.out.step(&transaction_line(linked.len(), *fetched));
            }),
            Event::Line { text, .. } => {
                let line = text.trim();
                if !line.is_empty() {
                    s.lock().last_line = truncate(line, MAX_LINE);
                }
            }
            Event::Command(_) | Event::Notice(_) => {}
        }
    }
}

/// The closing line of a run for one kernel: what was made, with versions and time, e.g.
/// ``Added kernel `newenv` "Python (newenv)": conda env ~/.conda/envs/newenv (python 3.11.7,
/// ipykernel 7.4.0, 57 packages) in 7.9 s``.
pub fn closing_line(
    k: &kernels::KernelPlan,
    o: &kernels::KernelOutcome,
    elapsed: Duration,
    home: Option<&Path>,
) -> String {
    let env = env_words(o, home);
    let time = duration(elapsed);
    let (name, display) = (&k.name, &k.display_name);
    match o.status {
        KernelStatus::Create => format!("Added kernel `{name}` \"{display}\": {env} in {time}"),
        KernelStatus::Update if o.kernel_json.is_some() => {
            format!("Updated kernel `{name}` \"{display}\": {env} in {time}")
        }
        KernelStatus::Update => {
            format!("Installed into {env} in {time} (kernel `{name}` left as it is)")
        }
        KernelStatus::Unchanged => format!("Kernel `{name}` is up to date; nothing to do"),
    }
}

/// "conda env ~/x (python 3.11.7, ipykernel 7.4.0, 57 packages)".
fn env_words(o: &kernels::KernelOutcome, home: Option<&Path>) -> String {
    let path = show_path(home, &o.env);
    let Some(c) = &o.contents else {
        return format!("environment {path}");
    };
    let mut facts = Vec::new();
    if let Some(v) = &c.python {
        facts.push(format!("python {v}"));
    }
    if let Some(v) = &c.ipykernel {
        facts.push(format!("ipykernel {v}"));
    }
    facts.push(format!(
        "{} package{}",
        c.packages,
        if c.packages == 1 { "" } else { "s" }
    ));
    let kind = match c.kind {
        "conda" => "conda env",
        "venv" => "venv",
        _ => "environment",
    };
    format!("{kind} {path} ({})", facts.join(", "))
}

/// Which tool creates an environment and which rule found it, e.g.
/// "/anaconda/bin/conda, found in the conda root /anaconda" or "python ~/py/bin/python3 found
/// on PATH, uv named by KERNELS_UV".
pub fn tool_reason(step: &kernels::CreateEnvStep, host: &envs::HostEnv) -> String {
    let home = host.home.as_deref();
    let tools = step.tools();
    match (&tools.conda, step.backend) {
        (_, envs::BackendKind::Rattler) => {
            "built into kernels; channels and package caches from the conda configuration \
             (conda-forge when it names no channel)"
                .to_owned()
        }
        (Some(tool), b) if b != envs::BackendKind::Venv => {
            let why = envs::conda_found_by(host, &tool.exe)
                .map(|f| format!(", {}", shown_reason(&f, home)))
                .unwrap_or_default();
            format!("{}{why}", show_path(home, &tool.exe))
        }
        _ => {
            let mut parts = Vec::new();
            if let Some(p) = tools.python.as_deref() {
                let why = envs::python_found_by(host, p);
                parts.push(format!(
                    "python {} {}",
                    show_path(home, p),
                    shown_reason(&why, home)
                ));
            }
            if let (Some(uv), true) = (&tools.uv, step.uv) {
                let why = if host.get(envs::vars::KERNELS_UV).is_some() {
                    envs::FoundBy::Variable(envs::vars::KERNELS_UV)
                } else {
                    envs::FoundBy::Path
                };
                parts.push(format!(
                    "uv {} {}",
                    show_path(home, uv),
                    shown_reason(&why, home)
                ));
            } else if step.uv {
                parts.push("packages with kernels' own uv".to_owned());
            } else {
                parts.push("packages with pip".to_owned());
            }
            parts.join(", ")
        }
    }
}

/// A [`envs::FoundBy`] with `~` for the home directory.
fn shown_reason(f: &envs::FoundBy, home: Option<&Path>) -> String {
    match f {
        envs::FoundBy::KnownRoot(r) => format!("found in the conda root {}", show_path(home, r)),
        other => other.to_string(),
    }
}

/// A run's time as people read it: "850 ms" under a second, else "7.9 s" (one decimal).
pub fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl Drop for StepPrinter<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.spinner.take() {
            // A step that never finished (it failed, or was interrupted) keeps its line, so
            // the error below it says what it was.
            s.with_line_cleared(|state| state.finish_pending(self.out));
            s.stop();
        }
    }
}

#[derive(Debug, Default)]
struct State {
    active: bool,
    stop: bool,
    step: String,
    started: Option<Instant>,
    last_line: String,
    drawn: bool,
}

impl State {
    /// A step still spinning when the next thing happens is printed as it is (without a
    /// time: it did not report its end).
    fn finish_pending(&mut self, out: &Out) {
        if self.active {
            out.step(&format!("• {}", self.step));
            self.active = false;
        }
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }
}

/// One spinner row of at most `width` characters: the frame and elapsed time first (so a
/// narrow terminal still shows them), then the step, shortened to leave half the row to the
/// tool's latest line when there is one.
fn spinner_text(frame: char, secs: u64, state: &State, width: usize) -> String {
    let head = format!("{frame} {secs}s ");
    let room = width.saturating_sub(head.chars().count());
    let text = if state.last_line.is_empty() {
        format!("{head}{}", truncate(&state.step, room))
    } else {
        let step = truncate(&state.step, (room / 2).max(12));
        format!("{head}{step}  {}", state.last_line)
    };
    truncate(&text, width)
}

struct Spinner {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    fn start() -> Spinner {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let worker = Arc::clone(&shared);
        let width = terminal_width().saturating_sub(1);
        let thread = std::thread::spawn(move || {
            let (lock, wake) = &*worker;
            let mut frame = 0usize;
            let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while !state.stop {
                if state.active {
                    let secs = state.started.map_or(0, |t| t.elapsed().as_secs());
                    let text = spinner_text(FRAMES[frame % FRAMES.len()], secs, &state, width);
                    // One row only: a wrapped line could not be erased again.
                    eprint!("\r\x1b[K{text}");
                    let _ = std::io::stderr().flush();
                    state.drawn = true;
                    frame += 1;
                }
                state = wake
                    .wait_timeout(state, TICK)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            state.clear();
        });
        Spinner {
            shared,
            thread: Some(thread),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the spinner line erased, so a permanent line can be printed.
    fn with_line_cleared(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        state.clear();
        f(&mut state);
    }

    fn stop(mut self) {
        self.lock().stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The terminal's width as the shell exports it (`COLUMNS`), else 80.
fn terminal_width() -> usize {
    std::env::var(COLUMNS)
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|&c| c >= 20)
        .unwrap_or(80)
}

fn truncate(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut s: String = line.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_worded_with_home_as_tilde() {
        let home = Path::new("/home/u");
        let show = |p: &Path| show_path(Some(home), p);
        for (step, want) in [
            (
                Step::CreateEnv {
                    prefix: "/home/u/.conda/envs/x".into(),
                    tool: ToolName::Mamba,
                },
                "Creating environment ~/.conda/envs/x with mamba",
            ),
            (
                Step::CreateEnv {
                    prefix: "/opt/envs/x".into(),
                    tool: ToolName::OwnUv,
                },
                "Creating virtual environment /opt/envs/x with kernels' own uv",
            ),
            (
                Step::InstallPackages {
                    prefix: "/home/u2/x".into(),
                    packages: vec!["pandas".into(), "numpy".into()],
                    tool: ToolName::Pip,
                },
                "Installing pandas numpy into /home/u2/x with pip",
            ),
        ] {
            assert_eq!(describe_step(&step, &show), want);
        }
        assert_eq!(
            transaction_line(57, 12),
            "  57 packages linked (12 downloaded)"
        );
        assert_eq!(transaction_line(1, 0), "  1 package linked");
        assert_eq!(duration(Duration::from_millis(7890)), "7.9 s");
        assert_eq!(duration(Duration::from_millis(1000)), "1.0 s");
        assert_eq!(duration(Duration::from_millis(999)), "999 ms");
        assert_eq!(duration(Duration::from_micros(12_400)), "12 ms");
    }

    #[test]
    fn long_tool_lines_are_cut_to_one_row() {
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn a_spinner_row_keeps_its_time_and_the_tools_line_on_a_narrow_terminal() {
        let state = State {
            step: format!(
                "Creating virtual environment {} (python found on PATH)",
                "x".repeat(60)
            ),
            last_line: "Downloading ipykernel-7.4.0-py3-none-any.whl".into(),
            ..State::default()
        };
        let row = spinner_text('⠋', 12, &state, 79);
        assert!(row.chars().count() <= 79, "{row}");
        assert!(
            row.starts_with("⠋ 12s Creating virtual environment"),
            "{row}"
        );
        assert!(row.contains("Downloading ipykernel"), "{row}");
        let quiet = State {
            last_line: String::new(),
            ..state
        };
        let row = spinner_text('⠋', 3, &quiet, 40);
        assert_eq!(row.chars().count(), 40, "{row}");
        assert!(
            row.starts_with("⠋ 3s Creating") && row.ends_with('…'),
            "{row}"
        );
        let cut = truncate(&"x".repeat(100), 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}
