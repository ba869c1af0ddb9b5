//! Step progress on stderr: one permanent line per step, and, when stderr is a terminal, a
//! transient spinner line below it with the elapsed time and the tool's latest output line,
//! so a long solve or install never looks hung. Nothing transient is written to a pipe or
//! file, with `-q`, or with `-v` (which prints every tool line instead).

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::output::Out;

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(120);
/// Longest tool line shown on the spinner line (it must fit on one terminal row).
const MAX_LINE: usize = 60;

/// Prints progress for [`envs::Progress`] callers.
pub struct StepPrinter<'a> {
    out: &'a Out,
    spinner: Option<Spinner>,
}

impl<'a> StepPrinter<'a> {
    /// A printer writing through `out`; it spins only on a terminal, without `-q`/`-v`.
    pub fn new(out: &'a Out) -> StepPrinter<'a> {
        let spin = !out.quiet && out.verbose == 0 && std::io::stderr().is_terminal();
        StepPrinter {
            out,
            spinner: spin.then(Spinner::start),
        }
    }
}

impl envs::Progress for StepPrinter<'_> {
    fn step(&self, msg: &str) {
        match &self.spinner {
            Some(s) => s.with_line_cleared(|state| {
                self.out.step(&format!("• {msg}"));
                state.started = Some(Instant::now());
                state.last_line.clear();
                state.active = true;
            }),
            None => self.out.step(&format!("• {msg}")),
        }
    }

    fn line(&self, tool_line: &str) {
        self.out.detail(&format!("    {tool_line}"));
        if let Some(s) = &self.spinner {
            let line = tool_line.trim();
            if !line.is_empty() {
                s.lock().last_line = truncate(line, MAX_LINE);
            }
        }
    }
}

impl Drop for StepPrinter<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.stop();
        }
    }
}

#[derive(Debug, Default)]
struct State {
    active: bool,
    stop: bool,
    started: Option<Instant>,
    last_line: String,
    drawn: bool,
}

impl State {
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }
}

struct Spinner {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    fn start() -> Spinner {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let worker = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let (lock, wake) = &*worker;
            let mut frame = 0usize;
            let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while !state.stop {
                if state.active {
                    let secs = state.started.map_or(0, |t| t.elapsed().as_secs());
                    eprint!(
                        "\r\x1b[K  {} {secs}s {}",
                        FRAMES[frame % FRAMES.len()],
                        state.last_line
                    );
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
    use super::truncate;

    #[test]
    fn long_tool_lines_are_cut_to_one_row() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"x".repeat(100), 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}
