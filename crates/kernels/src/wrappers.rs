//! From a kernel's `argv` to the interpreter and environment it really runs.
//!
//! `jupyter kernelspec list --missing` only tests `argv[0]`, so a kernel started through a
//! wrapper (`conda run`, `bash -c "source …/activate ENV && exec python …"`, envkernel, the
//! nb_conda_kernels runner, `pixi run`) looks healthy after its environment was deleted. This
//! module sees through those wrappers in two steps:
//!
//! 1. [`parse_argv`] is pure: it reads the argv forms below and returns a [`Launch`] (the
//!    wrappers, the environment they select, the program that finally runs the kernel).
//! 2. [`locate`] checks that [`Launch`] against the file system and the known environments
//!    ([`Locator`]) and returns a [`Located`], which says what exists and what is gone.
//!
//! Forms understood (outermost first; wrappers may nest, up to [`MAX_DEPTH`] levels):
//!
//! | form | example |
//! |------|---------|
//! | direct interpreter | `/opt/envs/x/bin/python -m ipykernel_launcher -f {connection_file}` |
//! | bare `python`/`python3` | `python -m ipykernel_launcher …` (Jupyter runs its own `sys.executable`) |
//! | conda-family `run` | `conda run -n NAME --no-capture-output python …`, `micromamba run -p PREFIX …` |
//! | shell activation | `bash -c "source /x/bin/activate ENV && exec python …"`, `conda activate` inside `sh -c` |
//! | nb_conda_kernels runner | `python -m nb_conda_kernels.runner BASE ENV_PREFIX python …` |
//! | nb_venv_kernels runner | `python -m nb_venv_kernels.runner ENV_PREFIX python …` |
//! | envkernel | `/x/bin/envkernel conda|virtualenv|venv run PATH -- python …` |
//! | pixi | `pixi run --manifest-path M [-e ENV] python …` |
//! | uv | `uv run --project DIR python …` |
//! | `env` | `/usr/bin/env VAR=1 python …` |

mod locate;
mod shell;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use locate::{locate, EnvStatus, Gone, KnownEnv, Located, Locator, ProgramStatus};

/// How deeply wrappers may nest before [`parse_argv`] stops looking inside.
pub const MAX_DEPTH: usize = 8;

/// One wrapper layer between Jupyter and the kernel process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wrapper {
    /// `conda run`, `mamba run` or `micromamba run`.
    CondaRun {
        /// The tool's command name (`conda`, `mamba`, `micromamba`).
        tool: String,
    },
    /// A shell running a script that activates an environment (kernda style).
    ShellActivate {
        /// The shell's command name (`bash`, `sh`, ...).
        shell: String,
    },
    /// A shell running a script file.
    ShellScript {
        /// The shell's command name.
        shell: String,
        /// The script file, as written.
        script: String,
    },
    /// `python -m nb_conda_kernels.runner BASE ENV ...`.
    NbCondaRunner,
    /// `python -m nb_venv_kernels.runner ENV ...`.
    NbVenvRunner,
    /// envkernel (`envkernel MODE run ... -- CMD`).
    EnvKernel {
        /// Its mode: `conda`, `virtualenv`, `venv`, `lmod`, `docker`, `singularity`.
        mode: String,
    },
    /// `pixi run`.
    PixiRun,
    /// `uv run`.
    UvRun,
    /// `env [VAR=VALUE...] CMD` (`/usr/bin/env`).
    EnvCommand,
}

impl Wrapper {
    /// A short label for reports, e.g. `conda run` or `bash activation`.
    pub fn label(&self) -> String {
        match self {
            Wrapper::CondaRun { tool } => format!("{tool} run"),
            Wrapper::ShellActivate { shell } => format!("{shell} activation"),
            Wrapper::ShellScript { shell, script } => format!("{shell} script {script}"),
            Wrapper::NbCondaRunner => "nb_conda_kernels runner".to_string(),
            Wrapper::NbVenvRunner => "nb_venv_kernels runner".to_string(),
            Wrapper::EnvKernel { mode } => format!("envkernel {mode}"),
            Wrapper::PixiRun => "pixi run".to_string(),
            Wrapper::UvRun => "uv run".to_string(),
            Wrapper::EnvCommand => "env".to_string(),
        }
    }
}

/// The environment a wrapper selects, as written in the argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum EnvRef {
    /// A prefix path (`-p PREFIX`, an activate script's own env, a runner's env argument).
    Prefix(String),
    /// A conda-family environment name (`-n NAME`, `conda activate NAME`).
    Name(String),
    /// A pixi environment of a manifest.
    Pixi {
        /// The `--manifest-path` value (a `pixi.toml`/`pyproject.toml` file or its directory).
        manifest: String,
        /// The environment name (`default` when not given).
        environment: String,
    },
}

/// What [`parse_argv`] read from an argv: the wrapper chain and the program at its end.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Launch {
    /// `argv[0]` as written: the program Jupyter starts.
    pub launcher: String,
    /// The wrapper layers, outermost first (empty for a direct interpreter).
    pub wrappers: Vec<Wrapper>,
    /// The environment the innermost activating wrapper selects.
    pub env: Option<EnvRef>,
    /// A conda root the wrappers name (the root of `…/bin/activate` or
    /// `…/etc/profile.d/conda.sh`, the nb_conda_kernels base); names in [`Launch::env`] are
    /// resolved under it first.
    pub conda_root: Option<String>,
    /// The program that finally runs the kernel, as written (`None` when it could not be
    /// found inside the wrappers).
    pub program: Option<String>,
    /// The arguments of [`Launch::program`].
    pub args: Vec<String>,
    /// What could not be interpreted (for reports; never a reason to prune).
    pub notes: Vec<String>,
}

impl Launch {
    /// Whether the final program runs ipykernel (`-m ipykernel_launcher`, `-m ipykernel`,
    /// `-m ipykernel.kernelapp`), i.e. the environment needs the `ipykernel` package.
    pub fn runs_ipykernel(&self) -> bool {
        let mut it = self.args.iter();
        while let Some(arg) = it.next() {
            if arg == "-m" {
                return it
                    .next()
                    .is_some_and(|m| m == "ipykernel_launcher" || m.starts_with("ipykernel"));
            }
            if let Some(module) = arg.strip_prefix("-m") {
                return module == "ipykernel_launcher" || module.starts_with("ipykernel");
            }
        }
        false
    }

    /// Whether the final program is a bare `python`/`python3`/`python3.X` that Jupyter
    /// replaces with the Python running Jupyter itself (only when it is `argv[0]`).
    pub fn jupyter_substitutes_python(&self) -> bool {
        self.wrappers.is_empty() && is_bare_python(&self.launcher)
    }
}

/// Reads an argv and returns the wrapper chain and the program at its end. Pure: no file
/// system access, no environment variables.
///
/// ```
/// use kernels::wrappers::{parse_argv, EnvRef};
/// let argv = ["conda", "run", "-n", "torch", "--no-capture-output", "python", "-m",
///             "ipykernel_launcher", "-f", "{connection_file}"];
/// let launch = parse_argv(&argv.map(String::from));
/// assert_eq!(launch.env, Some(EnvRef::Name("torch".into())));
/// assert_eq!(launch.program.as_deref(), Some("python"));
/// assert!(launch.runs_ipykernel());
/// ```
pub fn parse_argv(argv: &[String]) -> Launch {
    let mut launch = Launch {
        launcher: argv.first().cloned().unwrap_or_default(),
        ..Launch::default()
    };
    if argv.is_empty() {
        launch.notes.push("argv is empty".to_string());
        return launch;
    }
    parse_into(argv, 0, &mut launch);
    launch
}

/// The file name of a program as written (`/x/bin/conda` → `conda`).
fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// `python`, `python3`, `python3.11` (no path).
fn is_bare_python(program: &str) -> bool {
    !program.contains('/') && is_python_name(program)
}

/// A file name that names a Python interpreter: `python`, `python3`, `python3.11`, `pythonw`.
fn is_python_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    rest.is_empty()
        || rest == "w"
        || rest
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == 'm' || c == 't')
}

fn is_shell_name(name: &str) -> bool {
    matches!(name, "bash" | "sh" | "zsh" | "dash" | "ksh")
}

fn is_conda_tool(name: &str) -> Option<&'static str> {
    match name {
        "conda" => Some("conda"),
        "mamba" => Some("mamba"),
        "micromamba" => Some("micromamba"),
        _ => None,
    }
}

/// Reads `argv` (one wrapper level) into `launch`, recursing into the wrapped command.
fn parse_into(argv: &[String], depth: usize, launch: &mut Launch) {
    let Some(first) = argv.first() else {
        launch
            .notes
            .push("a wrapper has no command to run".to_string());
        return;
    };
    if depth >= MAX_DEPTH {
        launch.notes.push(format!(
            "wrappers nest more than {MAX_DEPTH} levels deep; stopped looking inside"
        ));
        set_program(launch, argv);
        return;
    }
    let name = base_name(first);
    let rest = &argv[1..];
    if let Some(tool) = is_conda_tool(name) {
        if let Some(inner) = parse_conda_run(tool, rest, launch) {
            return parse_into(inner, depth + 1, launch);
        }
        set_program(launch, argv);
        return;
    }
    if is_shell_name(name) {
        return parse_shell(name, argv, depth, launch);
    }
    if is_python_name(name) {
        if let Some(inner) = parse_python_module(argv, launch) {
            return parse_into(inner, depth + 1, launch);
        }
        set_program(launch, argv);
        return;
    }
    if name == "envkernel" || name == "envkernel.py" {
        if let Some(inner) = parse_envkernel(rest, launch) {
            return parse_into(inner, depth + 1, launch);
        }
        set_program(launch, argv);
        return;
    }
    if name == "pixi" {
        if let Some(inner) = parse_pixi_run(rest, launch) {
            return parse_into(inner, depth + 1, launch);
        }
        set_program(launch, argv);
        return;
    }
    if name == "uv" {
        if let Some(inner) = parse_uv_run(rest, launch) {
            return parse_into(inner, depth + 1, launch);
        }
        set_program(launch, argv);
        return;
    }
    if name == "env" {
        launch.wrappers.push(Wrapper::EnvCommand);
        let mut i = 0;
        while i < rest.len() {
            let arg = &rest[i];
            if arg == "-u" || arg == "--unset" || arg == "-C" || arg == "--chdir" {
                i += 2;
            } else if arg.starts_with('-') || is_assignment(arg) {
                i += 1;
            } else {
                break;
            }
        }
        return parse_into(&rest[i.min(rest.len())..], depth + 1, launch);
    }
    set_program(launch, argv);
}

fn set_program(launch: &mut Launch, argv: &[String]) {
    launch.program = argv.first().cloned();
    launch.args = argv.get(1..).map(<[String]>::to_vec).unwrap_or_default();
}

/// `NAME=value` (a shell or `env` assignment).
fn is_assignment(arg: &str) -> bool {
    match arg.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Splits `--opt=value` into (`--opt`, Some(value)).
fn split_eq(arg: &str) -> (&str, Option<&str>) {
    if arg.starts_with("--") {
        if let Some((k, v)) = arg.split_once('=') {
            return (k, Some(v));
        }
    }
    (arg, None)
}

/// `TOOL [global flags] run [flags] [--] CMD...`: records the env, returns CMD.
fn parse_conda_run<'a>(
    tool: &str,
    rest: &'a [String],
    launch: &mut Launch,
) -> Option<&'a [String]> {
    // Global flags may come before the subcommand (`conda --no-plugins run ...`).
    let run_at = rest.iter().position(|a| !a.starts_with('-'))?;
    if rest[run_at] != "run" {
        return None;
    }
    launch.wrappers.push(Wrapper::CondaRun {
        tool: tool.to_string(),
    });
    let args = &rest[run_at + 1..];
    // Options of `conda run` and `micromamba run` that take a value.
    const WITH_VALUE: &[&str] = &[
        "-n",
        "--name",
        "-p",
        "--prefix",
        "--cwd",
        "-a",
        "--attach",
        "--label",
        "-e",
        "--env",
        "-r",
        "--root-prefix",
        "--rc-file",
        "--env-name",
    ];
    let mut i = 0;
    let mut env = None;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let (key, inline) = split_eq(arg);
        // `-nNAME` / `-pPREFIX` glued short forms.
        let (key, inline) = match (key, inline) {
            (k, None)
                if k.len() > 2
                    && (k.starts_with("-n") || k.starts_with("-p"))
                    && !k.starts_with("--") =>
            {
                (&k[..2], Some(&k[2..]))
            }
            other => other,
        };
        if WITH_VALUE.contains(&key) {
            let value = match inline {
                Some(v) => Some(v.to_string()),
                None => {
                    i += 1;
                    args.get(i).cloned()
                }
            };
            match (key, value) {
                ("-n" | "--name", Some(v)) => env = Some(EnvRef::Name(v)),
                ("-p" | "--prefix", Some(v)) => env = Some(EnvRef::Prefix(v)),
                ("-r" | "--root-prefix", Some(v)) => launch.conda_root = Some(v),
                _ => {}
            }
        }
        i += 1;
    }
    match env {
        Some(env) => launch.env = Some(env),
        None => launch.notes.push(format!(
            "`{tool} run` names no environment (-n/-p): it runs in the active or base environment"
        )),
    }
    Some(&args[i.min(args.len())..])
}

/// `python [opts] -m nb_conda_kernels.runner BASE ENV CMD...` and friends; `None` when the
/// argv is a plain interpreter.
fn parse_python_module<'a>(argv: &'a [String], launch: &mut Launch) -> Option<&'a [String]> {
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].as_str();
        if arg == "-m" {
            let module = argv.get(i + 1)?.as_str();
            let after = &argv[(i + 2).min(argv.len())..];
            return match module {
                "nb_conda_kernels.runner" => {
                    launch.wrappers.push(Wrapper::NbCondaRunner);
                    let (base, env) = (after.first()?, after.get(1)?);
                    launch.conda_root = Some(base.clone());
                    launch.env = Some(EnvRef::Prefix(env.clone()));
                    Some(&after[2..])
                }
                "nb_venv_kernels.runner" => {
                    launch.wrappers.push(Wrapper::NbVenvRunner);
                    launch.env = Some(EnvRef::Prefix(after.first()?.clone()));
                    Some(&after[1..])
                }
                "envkernel" => parse_envkernel(after, launch),
                _ => None,
            };
        }
        // Interpreter options before `-m`; `-X opt`/`-W arg` take a separate value.
        if arg == "-X" || arg == "-W" || arg == "--check-hash-based-pycs" {
            i += 2;
            continue;
        }
        if arg.starts_with('-') && arg != "-" && arg != "-c" {
            i += 1;
            continue;
        }
        return None;
    }
    None
}

/// `MODE run [ARGS] -- CMD...` of envkernel.
fn parse_envkernel<'a>(rest: &'a [String], launch: &mut Launch) -> Option<&'a [String]> {
    let mode = rest.first()?.clone();
    if rest.get(1).map(String::as_str) != Some("run") {
        return None;
    }
    let args = &rest[2..];
    let dash = args.iter().position(|a| a == "--");
    let (before, cmd) = match dash {
        Some(d) => (&args[..d], &args[d + 1..]),
        None => (args, &args[args.len()..]),
    };
    if matches!(mode.as_str(), "conda" | "virtualenv" | "venv") {
        if let Some(path) = before.iter().find(|a| !a.starts_with('-')) {
            launch.env = Some(EnvRef::Prefix(path.clone()));
        }
    } else {
        launch.notes.push(format!(
            "envkernel {mode} kernels run in a {mode} environment this tool cannot inspect"
        ));
    }
    launch.wrappers.push(Wrapper::EnvKernel { mode });
    if dash.is_none() {
        launch
            .notes
            .push("envkernel argv has no `--` before the kernel command".to_string());
    }
    Some(cmd)
}

/// `pixi [global] run [--manifest-path M] [-e ENV] [flags] CMD...`.
fn parse_pixi_run<'a>(rest: &'a [String], launch: &mut Launch) -> Option<&'a [String]> {
    let run_at = rest.iter().position(|a| !a.starts_with('-'))?;
    if rest[run_at] != "run" {
        return None;
    }
    launch.wrappers.push(Wrapper::PixiRun);
    let args = &rest[run_at + 1..];
    const WITH_VALUE: &[&str] = &[
        "--manifest-path",
        "-m",
        "--environment",
        "-e",
        "--executable",
        "-x",
        "--color",
        "--concurrent-downloads",
        "--concurrent-solves",
        "--tls-root-certs",
        "--auth-file",
        "--pypi-keyring-provider",
        "--workspace",
        "-w",
    ];
    let mut manifest: Option<String> = None;
    let mut environment: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') {
            break;
        }
        let (key, inline) = split_eq(arg);
        if WITH_VALUE.contains(&key) {
            let value = match inline {
                Some(v) => Some(v.to_string()),
                None => {
                    i += 1;
                    args.get(i).cloned()
                }
            };
            match key {
                "--manifest-path" | "-m" | "--workspace" | "-w" => manifest = value,
                "--environment" | "-e" => environment = value,
                _ => {}
            }
        }
        i += 1;
    }
    match manifest {
        Some(manifest) => {
            launch.env = Some(EnvRef::Pixi {
                manifest,
                environment: environment.unwrap_or_else(|| "default".to_string()),
            })
        }
        None => launch.notes.push(
            "`pixi run` has no --manifest-path: its environment depends on the directory the \
             kernel starts in"
                .to_string(),
        ),
    }
    Some(&args[i.min(args.len())..])
}

/// `uv run [--project DIR|--directory DIR] [flags] CMD...`.
fn parse_uv_run<'a>(rest: &'a [String], launch: &mut Launch) -> Option<&'a [String]> {
    let run_at = rest.iter().position(|a| !a.starts_with('-'))?;
    if rest[run_at] != "run" {
        return None;
    }
    launch.wrappers.push(Wrapper::UvRun);
    let args = &rest[run_at + 1..];
    const WITH_VALUE: &[&str] = &[
        "--project",
        "--directory",
        "--with",
        "--python",
        "-p",
        "--group",
        "--extra",
        "--env-file",
        "--index",
        "--index-url",
        "--default-index",
        "--extra-index-url",
        "--cache-dir",
        "--package",
        "--module",
        "-m",
        "--with-requirements",
        "--with-editable",
        "--config-file",
    ];
    let mut project = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') {
            break;
        }
        let (key, inline) = split_eq(arg);
        if WITH_VALUE.contains(&key) {
            let value = match inline {
                Some(v) => Some(v.to_string()),
                None => {
                    i += 1;
                    args.get(i).cloned()
                }
            };
            if matches!(key, "--project" | "--directory") {
                project = value;
            }
        }
        i += 1;
    }
    match project {
        Some(dir) => launch.env = Some(EnvRef::Prefix(join(&dir, ".venv"))),
        None => launch.notes.push(
            "`uv run` has no --project: its environment depends on the directory the kernel \
             starts in"
                .to_string(),
        ),
    }
    Some(&args[i.min(args.len())..])
}

/// `dir/leaf` without doubling a trailing slash.
fn join(dir: &str, leaf: &str) -> String {
    format!("{}/{leaf}", dir.trim_end_matches('/'))
}

/// `SHELL [opts] -c SCRIPT [NAME [ARGS...]]` or `SHELL [opts] FILE [ARGS...]`.
fn parse_shell(shell: &str, argv: &[String], depth: usize, launch: &mut Launch) {
    let mut saw_c = false;
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].as_str();
        if arg == "--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            i += if matches!(long, "rcfile" | "init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if (arg.starts_with('-') || arg.starts_with('+')) && arg.len() > 1 {
            if arg.contains('c') {
                saw_c = true;
            }
            i += if arg.contains('o') || arg.contains('O') {
                2
            } else {
                1
            };
            continue;
        }
        break;
    }
    let Some(script) = argv.get(i) else {
        launch
            .notes
            .push(format!("`{shell}` is started with no script or command"));
        set_program(launch, argv);
        return;
    };
    if !saw_c {
        launch.wrappers.push(Wrapper::ShellScript {
            shell: shell.to_string(),
            script: script.clone(),
        });
        launch.notes.push(format!(
            "the kernel starts through the script {script}, which this tool does not read"
        ));
        set_program(launch, &argv[i..]);
        return;
    }
    launch.wrappers.push(Wrapper::ShellActivate {
        shell: shell.to_string(),
    });
    // Positional parameters after the script: `$0`, then `$1`...
    let positional = argv.get(i + 1..).unwrap_or(&[]);
    match shell::read_script(script, positional) {
        Ok(read) => {
            if let Some(root) = read.conda_root {
                launch.conda_root = Some(root);
            }
            if let Some(env) = read.env {
                launch.env = Some(env);
            }
            match read.command {
                Some(cmd) => parse_into(&cmd, depth + 1, launch),
                None => launch.notes.push(format!(
                    "the `{shell} -c` script runs no command this tool recognises"
                )),
            }
        }
        Err(why) => launch
            .notes
            .push(format!("could not read the `{shell} -c` script: {why}")),
    }
}

/// The prefix an interpreter path belongs to, by its layout: `<prefix>/bin/python` and
/// `<prefix>/lib/R/bin/R` (R's own `bin`, as IRkernel writes it). Pure: nothing is checked on
/// disk, and symlinks are not followed (a venv's `bin/python` is a symlink to the base
/// interpreter, and the venv is what matters).
pub fn prefix_of_program(program: &Path) -> Option<PathBuf> {
    let bin = program.parent()?;
    let bin_name = bin.file_name()?.to_str()?;
    if bin_name == "exec" {
        // <prefix>/lib/R/bin/exec/R
        return prefix_of_program(bin);
    }
    if bin_name != "bin" && bin_name != "Scripts" {
        return None;
    }
    let above = bin.parent()?;
    if above.file_name().and_then(|n| n.to_str()) == Some("R") {
        let lib = above.parent()?;
        if lib.file_name().and_then(|n| n.to_str()) == Some("lib") {
            return lib.parent().map(Path::to_path_buf);
        }
    }
    Some(above.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const TAIL: &[&str] = &["-m", "ipykernel_launcher", "-f", "{connection_file}"];

    fn with_tail(head: &[&str]) -> Vec<String> {
        let mut all = v(head);
        all.extend(v(TAIL));
        all
    }

    #[test]
    fn direct_interpreter() {
        let l = parse_argv(&with_tail(&["/opt/envs/x/bin/python"]));
        assert!(l.wrappers.is_empty());
        assert_eq!(l.env, None);
        assert_eq!(l.program.as_deref(), Some("/opt/envs/x/bin/python"));
        assert!(l.runs_ipykernel());
        assert!(!l.jupyter_substitutes_python());
    }

    #[test]
    fn frozen_modules_flag_before_m() {
        let l = parse_argv(&with_tail(&["/e/bin/python", "-Xfrozen_modules=off"]));
        assert_eq!(l.program.as_deref(), Some("/e/bin/python"));
        assert!(l.runs_ipykernel());
        let l = parse_argv(&v(&[
            "/e/bin/python",
            "-X",
            "frozen_modules=off",
            "-m",
            "ipykernel",
            "-f",
            "x",
        ]));
        assert!(l.runs_ipykernel());
    }

    #[test]
    fn bare_python_is_substituted_by_jupyter() {
        for p in ["python", "python3", "python3.11"] {
            let l = parse_argv(&with_tail(&[p]));
            assert!(l.jupyter_substitutes_python(), "{p}");
            assert_eq!(l.program.as_deref(), Some(p));
        }
        let l = parse_argv(&v(&[
            "R",
            "--slave",
            "-e",
            "IRkernel::main()",
            "--args",
            "{connection_file}",
        ]));
        assert!(!l.jupyter_substitutes_python());
        assert!(!l.runs_ipykernel());
        assert_eq!(l.program.as_deref(), Some("R"));
    }

    #[test]
    fn conda_run_by_name_with_flags() {
        let l = parse_argv(&with_tail(&[
            "conda",
            "run",
            "-n",
            "torch",
            "--no-capture-output",
            "python",
        ]));
        assert_eq!(
            l.wrappers,
            vec![Wrapper::CondaRun {
                tool: "conda".into()
            }]
        );
        assert_eq!(l.env, Some(EnvRef::Name("torch".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        assert!(l.runs_ipykernel());
    }

    #[test]
    fn conda_run_by_prefix_and_glued_forms() {
        let l = parse_argv(&with_tail(&[
            "/anaconda/bin/conda",
            "run",
            "-s",
            "--prefix=/p/x",
            "--",
            "python",
        ]));
        assert_eq!(l.env, Some(EnvRef::Prefix("/p/x".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        let l = parse_argv(&with_tail(&[
            "conda",
            "--no-plugins",
            "run",
            "-ntorch",
            "python",
        ]));
        assert_eq!(l.env, Some(EnvRef::Name("torch".into())));
        let l = parse_argv(&with_tail(&[
            "conda",
            "run",
            "--live-stream",
            "--cwd",
            "/tmp",
            "-p",
            "/q",
            "python",
        ]));
        assert_eq!(l.env, Some(EnvRef::Prefix("/q".into())));
    }

    #[test]
    fn micromamba_and_mamba_run() {
        let l = parse_argv(&with_tail(&[
            "/usr/bin/micromamba",
            "run",
            "-r",
            "/mm",
            "-a",
            "",
            "--label",
            "k",
            "-e",
            "A=1",
            "-n",
            "ds",
            "python",
        ]));
        assert_eq!(
            l.wrappers,
            vec![Wrapper::CondaRun {
                tool: "micromamba".into()
            }]
        );
        assert_eq!(l.env, Some(EnvRef::Name("ds".into())));
        assert_eq!(l.conda_root.as_deref(), Some("/mm"));
        assert_eq!(l.program.as_deref(), Some("python"));
        let l = parse_argv(&with_tail(&["mamba", "run", "-p", "/e", "python"]));
        assert_eq!(
            l.wrappers,
            vec![Wrapper::CondaRun {
                tool: "mamba".into()
            }]
        );
        assert_eq!(l.env, Some(EnvRef::Prefix("/e".into())));
    }

    #[test]
    fn conda_run_without_env_is_noted() {
        let l = parse_argv(&with_tail(&["conda", "run", "python"]));
        assert_eq!(l.env, None);
        assert!(!l.notes.is_empty());
        // Not `run`: conda itself is the program.
        let l = parse_argv(&v(&["conda", "info"]));
        assert!(l.wrappers.is_empty());
        assert_eq!(l.program.as_deref(), Some("conda"));
    }

    #[test]
    fn kernda_bash_source_activate() {
        let l = parse_argv(&v(&[
            "bash",
            "-c",
            "source /anaconda/bin/activate /anaconda/envs/ds && exec /anaconda/envs/ds/bin/python -m ipykernel_launcher -f {connection_file}",
        ]));
        assert_eq!(
            l.wrappers,
            vec![Wrapper::ShellActivate {
                shell: "bash".into()
            }]
        );
        assert_eq!(l.env, Some(EnvRef::Prefix("/anaconda/envs/ds".into())));
        assert_eq!(l.conda_root.as_deref(), Some("/anaconda"));
        assert_eq!(l.program.as_deref(), Some("/anaconda/envs/ds/bin/python"));
        assert!(l.runs_ipykernel());
    }

    #[test]
    fn kernda_double_wrap() {
        let l = parse_argv(&v(&[
            "bash",
            "-c",
            "source /c/bin/activate ds && exec bash -c 'source /c/bin/activate ds && exec python -m ipykernel_launcher -f {connection_file}'",
        ]));
        assert_eq!(l.wrappers.len(), 2);
        assert_eq!(l.env, Some(EnvRef::Name("ds".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        assert!(l.runs_ipykernel());
    }

    #[test]
    fn conda_activate_in_sh_c_with_hook() {
        let l = parse_argv(&v(&[
            "/bin/sh",
            "-lc",
            "eval \"$(/opt/conda/bin/conda shell.posix hook)\"; conda activate torch; python -m ipykernel_launcher -f {connection_file}",
        ]));
        assert_eq!(l.env, Some(EnvRef::Name("torch".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        let l = parse_argv(&v(&[
            "bash",
            "-c",
            ". /opt/mc/etc/profile.d/conda.sh && conda activate /opt/envs/x && exec python -m ipykernel_launcher -f {connection_file}",
        ]));
        assert_eq!(l.conda_root.as_deref(), Some("/opt/mc"));
        assert_eq!(l.env, Some(EnvRef::Prefix("/opt/envs/x".into())));
    }

    #[test]
    fn venv_activate_and_positional_args() {
        let l = parse_argv(&v(&[
            "bash",
            "-c",
            "source \"/home/u/venvs/a b/bin/activate\"; exec \"$@\"",
            "kernel",
            "python",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ]));
        assert_eq!(l.env, Some(EnvRef::Prefix("/home/u/venvs/a b".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        assert!(l.runs_ipykernel());
    }

    #[test]
    fn shell_script_file() {
        let l = parse_argv(&v(&["bash", "/opt/start-kernel.sh", "{connection_file}"]));
        assert!(matches!(l.wrappers[0], Wrapper::ShellScript { .. }));
        assert_eq!(l.program.as_deref(), Some("/opt/start-kernel.sh"));
    }

    #[test]
    fn nb_conda_kernels_runner() {
        let l = parse_argv(&with_tail(&[
            "python",
            "-m",
            "nb_conda_kernels.runner",
            "/opt/conda",
            "/opt/conda/envs/r",
            "/opt/conda/envs/r/bin/python",
        ]));
        assert_eq!(l.wrappers, vec![Wrapper::NbCondaRunner]);
        assert_eq!(l.conda_root.as_deref(), Some("/opt/conda"));
        assert_eq!(l.env, Some(EnvRef::Prefix("/opt/conda/envs/r".into())));
        assert_eq!(l.program.as_deref(), Some("/opt/conda/envs/r/bin/python"));
        assert!(l.runs_ipykernel());
        // The outer python is Jupyter's own, not a direct interpreter.
        assert!(!l.jupyter_substitutes_python());
    }

    #[test]
    fn nb_venv_kernels_runner() {
        let l = parse_argv(&with_tail(&[
            "python",
            "-m",
            "nb_venv_kernels.runner",
            "/p/.venv",
            "python",
        ]));
        assert_eq!(l.wrappers, vec![Wrapper::NbVenvRunner]);
        assert_eq!(l.env, Some(EnvRef::Prefix("/p/.venv".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
    }

    #[test]
    fn envkernel_forms() {
        // The exact argv envkernel 1.1.1 writes.
        let l = parse_argv(&with_tail(&[
            "/x/bin/envkernel",
            "virtualenv",
            "run",
            "/tmp/venv",
            "--",
            "python",
        ]));
        assert_eq!(
            l.wrappers,
            vec![Wrapper::EnvKernel {
                mode: "virtualenv".into()
            }]
        );
        assert_eq!(l.env, Some(EnvRef::Prefix("/tmp/venv".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        let l = parse_argv(&with_tail(&[
            "/x/bin/envkernel",
            "conda",
            "run",
            "/c/envs/e",
            "--",
            "python",
        ]));
        assert_eq!(l.env, Some(EnvRef::Prefix("/c/envs/e".into())));
        let l = parse_argv(&with_tail(&[
            "envkernel",
            "docker",
            "run",
            "--pwd",
            "img:1",
            "--",
            "python",
        ]));
        assert_eq!(l.env, None);
        assert!(!l.notes.is_empty());
        let l = parse_argv(&with_tail(&[
            "python3",
            "-m",
            "envkernel",
            "venv",
            "run",
            "/v",
            "--",
            "python",
        ]));
        assert_eq!(l.env, Some(EnvRef::Prefix("/v".into())));
    }

    #[test]
    fn pixi_run() {
        let l = parse_argv(&with_tail(&[
            "pixi",
            "run",
            "--manifest-path",
            "/w/proj/pixi.toml",
            "--environment",
            "cuda",
            "--frozen",
            "python",
        ]));
        assert_eq!(l.wrappers, vec![Wrapper::PixiRun]);
        assert_eq!(
            l.env,
            Some(EnvRef::Pixi {
                manifest: "/w/proj/pixi.toml".into(),
                environment: "cuda".into()
            })
        );
        assert_eq!(l.program.as_deref(), Some("python"));
        let l = parse_argv(&with_tail(&[
            "/u/.pixi/bin/pixi",
            "run",
            "--manifest-path=/w/p",
            "python",
        ]));
        assert_eq!(
            l.env,
            Some(EnvRef::Pixi {
                manifest: "/w/p".into(),
                environment: "default".into()
            })
        );
        let l = parse_argv(&with_tail(&["pixi", "run", "python"]));
        assert_eq!(l.env, None);
        assert!(!l.notes.is_empty());
    }

    #[test]
    fn uv_run_and_env() {
        let l = parse_argv(&with_tail(&[
            "uv",
            "run",
            "--project",
            "/w/p/",
            "--with",
            "ipykernel",
            "python",
        ]));
        assert_eq!(l.env, Some(EnvRef::Prefix("/w/p/.venv".into())));
        assert_eq!(l.program.as_deref(), Some("python"));
        let l = parse_argv(&with_tail(&[
            "/usr/bin/env",
            "-u",
            "X",
            "FOO=1",
            "/e/bin/python",
        ]));
        assert_eq!(l.wrappers, vec![Wrapper::EnvCommand]);
        assert_eq!(l.program.as_deref(), Some("/e/bin/python"));
    }

    #[test]
    fn nesting_is_bounded_and_empty_argv_noted() {
        let mut argv = Vec::new();
        for _ in 0..20 {
            argv.extend(v(&["env"]));
        }
        argv.extend(v(&["python"]));
        let l = parse_argv(&argv);
        assert!(l.notes.iter().any(|n| n.contains("nest")));
        let l = parse_argv(&[]);
        assert_eq!(l.program, None);
        assert!(!l.notes.is_empty());
        let l = parse_argv(&v(&["conda", "run", "-n", "x"]));
        assert_eq!(l.program, None);
    }

    #[test]
    fn prefix_of_program_layouts() {
        let p = |s: &str| prefix_of_program(Path::new(s)).map(|p| p.display().to_string());
        assert_eq!(p("/opt/envs/x/bin/python").as_deref(), Some("/opt/envs/x"));
        assert_eq!(p("/c/envs/r/lib/R/bin/R").as_deref(), Some("/c/envs/r"));
        assert_eq!(
            p("/c/envs/r/lib/R/bin/exec/R").as_deref(),
            Some("/c/envs/r")
        );
        assert_eq!(p("/usr/bin/python3").as_deref(), Some("/usr"));
        assert_eq!(p("/opt/tool/python"), None);
        assert_eq!(p("python"), None);
    }
}
