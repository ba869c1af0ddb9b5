//! Checking a [`Launch`] against the file system and the known environments.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{parse_argv, prefix_of_program, EnvRef, Launch, Wrapper};

/// An environment known to this machine (from the conda registry, envs dirs, our venv home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownEnv {
    /// Its name, if it has one (conda named envs, `base`).
    pub name: Option<String>,
    /// Its prefix.
    pub prefix: PathBuf,
}

/// What [`locate`] needs to know about the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Locator<'a> {
    /// `PATH`, split: where bare program names are looked up.
    pub path: &'a [PathBuf],
    /// `HOME`, for `~` and `$HOME` (Jupyter expands `~` in every argument).
    pub home: Option<&'a Path>,
    /// Known environments, for `-n NAME`.
    pub envs: &'a [KnownEnv],
    /// Known conda roots: `-n base` is a root, `-n NAME` may be `<root>/envs/NAME`.
    pub conda_roots: &'a [PathBuf],
    /// The kernel's own directory, for `{resource_dir}`.
    pub resource_dir: Option<&'a Path>,
}

/// Whether a program exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "path", rename_all = "snake_case")]
pub enum ProgramStatus {
    /// It exists at this path.
    Found(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// An absolute path that does not exist.
    Missing(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// A bare name not found on `PATH`.
    NotOnPath(String),
    /// Cannot be told from here (a relative path, the `{prefix}` placeholder, ...).
    Unknown(String),
}

impl ProgramStatus {
    /// The path, when it exists.
    pub fn found(&self) -> Option<&Path> {
        match self {
            ProgramStatus::Found(p) => Some(p),
            _ => None,
        }
    }
}

/// Whether the environment a kernel runs in exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "value", rename_all = "snake_case")]
pub enum EnvStatus {
    /// No environment is selected (a system interpreter, a plain program).
    NotSelected,
    /// It exists.
    Exists(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// The prefix (or the pixi manifest, or the uv project) does not exist.
    Missing(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// A name no known environment has.
    UnknownName(String),
    /// Cannot be told from here (why).
    Unknown(String),
}

impl EnvStatus {
    /// The prefix, when it exists.
    pub fn prefix(&self) -> Option<&Path> {
        match self {
            EnvStatus::Exists(p) => Some(p),
            _ => None,
        }
    }
}

/// What is definitely gone, making a kernel unable to start (what `prune` acts on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "what", content = "path", rename_all = "snake_case")]
pub enum Gone {
    /// `argv[0]`, an absolute path, does not exist.
    Launcher(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// The environment's prefix (or manifest) does not exist.
    Env(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
    /// The interpreter inside the wrappers, an absolute path, does not exist.
    Program(#[serde(serialize_with = "crate::serde_util::path")] PathBuf),
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gone::Launcher(p) => write!(f, "its launcher {} does not exist", p.display()),
            Gone::Env(p) => write!(f, "its environment {} does not exist", p.display()),
            Gone::Program(p) => write!(f, "its interpreter {} does not exist", p.display()),
        }
    }
}

/// A [`Launch`] checked against the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// What the argv says.
    pub launch: Launch,
    /// `argv[0]`.
    pub launcher: ProgramStatus,
    /// The environment.
    pub env: EnvStatus,
    /// The program that finally runs the kernel (the interpreter), resolved inside the
    /// environment; `None` when the wrappers hide it.
    pub program: Option<ProgramStatus>,
}

impl Located {
    /// The first thing that is definitely gone, if any. Only absolute paths that do not exist
    /// count: a name that is not found, a bare `python` (Jupyter substitutes its own), a
    /// relative path or a lazily created pixi/uv environment never make a kernel "gone".
    pub fn gone(&self) -> Option<Gone> {
        if let ProgramStatus::Missing(p) = &self.launcher {
            return Some(Gone::Launcher(p.clone()));
        }
        if let EnvStatus::Missing(p) = &self.env {
            return Some(Gone::Env(p.clone()));
        }
        if let Some(ProgramStatus::Missing(p)) = &self.program {
            return Some(Gone::Program(p.clone()));
        }
        None
    }

    /// The interpreter that really runs, when it exists.
    pub fn interpreter(&self) -> Option<&Path> {
        self.program.as_ref().and_then(ProgramStatus::found)
    }
}

/// Parses `argv` ([`parse_argv`]) and checks it against the machine.
pub fn locate(argv: &[String], at: &Locator<'_>) -> Located {
    let launch = parse_argv(argv);
    let launcher = program_status(&launch.launcher, at, None);
    let mut env = env_status(&launch, at);
    let program = launch.program.as_ref().map(|p| {
        if launch.wrappers.is_empty() {
            launcher.clone()
        } else {
            program_status(p, at, env.prefix())
        }
    });
    // A direct interpreter: its environment is the prefix it sits in, if that is one.
    if launch.env.is_none() && matches!(env, EnvStatus::NotSelected) {
        if let Some(ProgramStatus::Found(p) | ProgramStatus::Missing(p)) = &program {
            if let Some(prefix) = prefix_of_program(p) {
                if !prefix.exists() {
                    env = EnvStatus::Missing(prefix);
                } else if is_env_prefix(&prefix) {
                    env = EnvStatus::Exists(prefix);
                }
            }
        }
    }
    Located {
        launch,
        launcher,
        env,
        program,
    }
}

/// A directory that looks like a Python environment (conda or venv).
pub(crate) fn is_env_prefix(prefix: &Path) -> bool {
    prefix.join("conda-meta").is_dir() || prefix.join("pyvenv.cfg").is_file()
}

/// Expands `~`, `$HOME`, `${HOME}` and `{resource_dir}`; `None` when an unknown placeholder
/// (`{prefix}`, another `$VAR`) remains.
fn expand(word: &str, at: &Locator<'_>) -> Option<String> {
    let mut s = word.to_string();
    if let Some(home) = at.home.and_then(Path::to_str) {
        if s == "~" {
            s = home.to_string();
        } else if let Some(rest) = s.strip_prefix("~/") {
            s = format!("{home}/{rest}");
        }
        s = s.replace("${HOME}", home).replace("$HOME", home);
    }
    if let Some(dir) = at.resource_dir.and_then(Path::to_str) {
        s = s.replace("{resource_dir}", dir);
    }
    if s.contains("{prefix}") || s.contains('$') || s.starts_with('~') {
        return None;
    }
    Some(s)
}

fn program_status(program: &str, at: &Locator<'_>, env_prefix: Option<&Path>) -> ProgramStatus {
    let Some(expanded) = expand(program, at) else {
        return ProgramStatus::Unknown(format!(
            "{program} depends on Jupyter's or the shell's environment"
        ));
    };
    if expanded.is_empty() {
        return ProgramStatus::Unknown("an empty program name".to_string());
    }
    let path = Path::new(&expanded);
    if path.is_absolute() {
        return if path.exists() {
            ProgramStatus::Found(path.to_path_buf())
        } else {
            ProgramStatus::Missing(path.to_path_buf())
        };
    }
    if expanded.contains('/') {
        return ProgramStatus::Unknown(format!(
            "{program} is relative to the directory the kernel starts in"
        ));
    }
    // A bare name: the activated environment's bin first, then PATH.
    if let Some(prefix) = env_prefix {
        let candidate = prefix.join("bin").join(&expanded);
        if candidate.exists() {
            return ProgramStatus::Found(candidate);
        }
    }
    match at
        .path
        .iter()
        .map(|dir| dir.join(&expanded))
        .find(|p| p.is_file())
    {
        Some(found) => ProgramStatus::Found(found),
        None => ProgramStatus::NotOnPath(expanded),
    }
}

fn env_status(launch: &Launch, at: &Locator<'_>) -> EnvStatus {
    let Some(env) = &launch.env else {
        return EnvStatus::NotSelected;
    };
    match env {
        EnvRef::Prefix(p) => {
            let Some(expanded) = expand(p, at) else {
                return EnvStatus::Unknown(format!("{p} depends on the environment"));
            };
            let path = PathBuf::from(&expanded);
            if !path.is_absolute() {
                return EnvStatus::Unknown(format!(
                    "{p} is relative to the directory the kernel starts in"
                ));
            }
            if path.is_dir() {
                return EnvStatus::Exists(path);
            }
            // `uv run` creates the project's .venv on first use.
            let lazily_created = launch.wrappers.contains(&Wrapper::UvRun)
                && path.parent().is_some_and(Path::is_dir);
            if lazily_created {
                EnvStatus::Unknown(format!("{p} is created by `uv run` on first use"))
            } else {
                EnvStatus::Missing(path)
            }
        }
        EnvRef::Name(name) => resolve_name(name, launch, at),
        EnvRef::Pixi {
            manifest,
            environment,
        } => {
            let Some(expanded) = expand(manifest, at) else {
                return EnvStatus::Unknown(format!("{manifest} depends on the environment"));
            };
            let manifest = PathBuf::from(expanded);
            if !manifest.is_absolute() {
                return EnvStatus::Unknown(format!(
                    "{} is relative to the directory the kernel starts in",
                    manifest.display()
                ));
            }
            if !manifest.exists() {
                return EnvStatus::Missing(manifest);
            }
            let dir = if manifest.is_file() {
                manifest.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                manifest
            };
            let prefix = dir.join(".pixi").join("envs").join(environment);
            if prefix.is_dir() {
                EnvStatus::Exists(prefix)
            } else {
                EnvStatus::Unknown(format!(
                    "{} is not installed yet; `pixi run` installs it on first use",
                    prefix.display()
                ))
            }
        }
    }
}

fn resolve_name(name: &str, launch: &Launch, at: &Locator<'_>) -> EnvStatus {
    let hinted_root = launch
        .conda_root
        .as_deref()
        .and_then(|r| expand(r, at))
        .map(PathBuf::from);
    // Under the root the wrapper names first, then the registry, then every known root.
    if let Some(root) = &hinted_root {
        if let Some(found) = under_root(root, name) {
            return EnvStatus::Exists(found);
        }
    }
    if let Some(known) = at
        .envs
        .iter()
        .find(|e| e.name.as_deref() == Some(name) && e.prefix.is_dir())
    {
        return EnvStatus::Exists(known.prefix.clone());
    }
    for root in at.conda_roots {
        if let Some(found) = under_root(root, name) {
            return EnvStatus::Exists(found);
        }
    }
    EnvStatus::UnknownName(name.to_string())
}

fn under_root(root: &Path, name: &str) -> Option<PathBuf> {
    let candidate = if name == "base" {
        root.to_path_buf()
    } else {
        root.join("envs").join(name)
    };
    candidate.is_dir().then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            Tree {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }
        fn s(&self, rel: &str) -> String {
            self.p(rel).display().to_string()
        }
        fn file(&self, rel: &str) -> PathBuf {
            let p = self.p(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
            p
        }
        fn venv(&self, rel: &str) -> PathBuf {
            self.file(&format!("{rel}/pyvenv.cfg"));
            self.file(&format!("{rel}/bin/python"));
            self.p(rel)
        }
    }

    #[test]
    fn direct_interpreter_present_and_gone() {
        let t = Tree::new();
        let venv = t.venv("v");
        let at = Locator::default();
        let ok = locate(&v(&[&t.s("v/bin/python"), "-m", "ipykernel_launcher"]), &at);
        assert_eq!(ok.env, EnvStatus::Exists(venv.clone()));
        assert_eq!(ok.gone(), None);
        assert_eq!(ok.interpreter(), Some(t.p("v/bin/python").as_path()));
        std::fs::remove_dir_all(&venv).unwrap();
        let gone = locate(&v(&[&t.s("v/bin/python"), "-m", "ipykernel_launcher"]), &at);
        assert_eq!(gone.gone(), Some(Gone::Launcher(t.p("v/bin/python"))));
        assert_eq!(gone.env, EnvStatus::Missing(venv));
    }

    #[test]
    fn conda_run_env_gone_but_conda_present() {
        let t = Tree::new();
        let conda = t.file("root/bin/conda");
        let env = t.venv("root/envs/ds");
        let argv = v(&[
            &conda.display().to_string(),
            "run",
            "-n",
            "ds",
            "python",
            "-m",
            "ipykernel_launcher",
        ]);
        let roots = [t.p("root")];
        let at = Locator {
            conda_roots: &roots,
            ..Locator::default()
        };
        let ok = locate(&argv, &at);
        assert_eq!(ok.env, EnvStatus::Exists(env.clone()));
        assert_eq!(ok.interpreter(), Some(env.join("bin/python").as_path()));
        assert_eq!(ok.gone(), None);
        // By prefix: gone for sure.
        std::fs::remove_dir_all(&env).unwrap();
        let argv = v(&[
            &conda.display().to_string(),
            "run",
            "-p",
            &env.display().to_string(),
            "python",
        ]);
        assert_eq!(locate(&argv, &at).gone(), Some(Gone::Env(env)));
        // By name: unknown, never "gone".
        let argv = v(&["conda", "run", "-n", "ds", "python"]);
        let l = locate(&argv, &at);
        assert_eq!(l.env, EnvStatus::UnknownName("ds".into()));
        assert_eq!(l.launcher, ProgramStatus::NotOnPath("conda".into()));
        assert_eq!(l.gone(), None);
    }

    #[test]
    fn names_resolve_through_registry_and_hinted_root() {
        let t = Tree::new();
        let e = t.venv("elsewhere/x");
        let known = [KnownEnv {
            name: Some("x".into()),
            prefix: e.clone(),
        }];
        let at = Locator {
            envs: &known,
            ..Locator::default()
        };
        let l = locate(
            &v(&[
                "bash",
                "-c",
                "conda activate x && exec python -m ipykernel_launcher",
            ]),
            &at,
        );
        assert_eq!(l.env, EnvStatus::Exists(e));
        let root_env = t.venv("c/envs/y");
        let script = format!("source {}/bin/activate y && exec python k", t.s("c"));
        let l = locate(&v(&["bash", "-c", &script]), &at);
        assert_eq!(l.env, EnvStatus::Exists(root_env));
    }

    #[test]
    fn bare_names_use_env_bin_then_path_and_home_expands() {
        let t = Tree::new();
        t.file("bin1/R");
        let path = [t.p("bin1")];
        let home = t.p("home");
        let env = t.venv("home/venvs/a");
        let at = Locator {
            path: &path,
            home: Some(&home),
            ..Locator::default()
        };
        let l = locate(&v(&["R", "--slave"]), &at);
        assert_eq!(l.launcher, ProgramStatus::Found(t.p("bin1/R")));
        let l = locate(
            &v(&[
                "bash",
                "-c",
                "source ~/venvs/a/bin/activate && exec python -m ipykernel_launcher",
            ]),
            &at,
        );
        assert_eq!(l.env, EnvStatus::Exists(env.clone()));
        assert_eq!(l.interpreter(), Some(env.join("bin/python").as_path()));
        let l = locate(
            &v(&["$HOME/venvs/a/bin/python", "-m", "ipykernel_launcher"]),
            &at,
        );
        assert_eq!(l.launcher, ProgramStatus::Found(env.join("bin/python")));
        let l = locate(&v(&["{prefix}/bin/python"]), &at);
        assert!(matches!(l.launcher, ProgramStatus::Unknown(_)));
        assert_eq!(l.gone(), None);
    }

    #[test]
    fn resource_dir_placeholder_and_relative_paths() {
        let t = Tree::new();
        t.file("k/run.sh");
        let rd = t.p("k");
        let at = Locator {
            resource_dir: Some(&rd),
            ..Locator::default()
        };
        let l = locate(&v(&["{resource_dir}/run.sh", "{connection_file}"]), &at);
        assert_eq!(l.launcher, ProgramStatus::Found(t.p("k/run.sh")));
        let l = locate(&v(&["./run.sh"]), &at);
        assert!(matches!(l.launcher, ProgramStatus::Unknown(_)));
        assert_eq!(l.gone(), None);
    }

    #[test]
    fn pixi_and_uv_are_lazy() {
        let t = Tree::new();
        let manifest = t.file("proj/pixi.toml");
        let argv = v(&[
            "pixi",
            "run",
            "--manifest-path",
            &manifest.display().to_string(),
            "python",
        ]);
        let l = locate(&argv, &Locator::default());
        assert!(matches!(l.env, EnvStatus::Unknown(_)), "{:?}", l.env);
        let env = t.venv("proj/.pixi/envs/default");
        assert_eq!(
            locate(&argv, &Locator::default()).env,
            EnvStatus::Exists(env)
        );
        std::fs::remove_dir_all(t.p("proj")).unwrap();
        assert_eq!(
            locate(&argv, &Locator::default()).gone(),
            Some(Gone::Env(manifest))
        );
        let t2 = Tree::new();
        std::fs::create_dir_all(t2.p("proj")).unwrap();
        let argv = v(&["uv", "run", "--project", &t2.s("proj"), "python"]);
        assert!(matches!(
            locate(&argv, &Locator::default()).env,
            EnvStatus::Unknown(_)
        ));
        let argv = v(&["uv", "run", "--project", &t2.s("gone"), "python"]);
        assert_eq!(
            locate(&argv, &Locator::default()).gone(),
            Some(Gone::Env(t2.p("gone/.venv")))
        );
    }

    #[test]
    fn envkernel_with_deleted_venv_is_gone() {
        // Finding 3 of the peer review: `--missing` cannot see this.
        let t = Tree::new();
        let ek = t.file("tools/bin/envkernel");
        let venv = t.venv("venvA");
        let argv = v(&[
            &ek.display().to_string(),
            "virtualenv",
            "run",
            &venv.display().to_string(),
            "--",
            "python",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ]);
        assert_eq!(locate(&argv, &Locator::default()).gone(), None);
        std::fs::remove_dir_all(&venv).unwrap();
        assert_eq!(
            locate(&argv, &Locator::default()).gone(),
            Some(Gone::Env(venv))
        );
    }
}
