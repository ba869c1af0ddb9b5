//! The rattler backend: conda environments made in-process with the conda organisation's
//! Rust crates (resolvo to solve, rattler to fetch and link), so no conda runs and none
//! needs to be installed.
//!
//! What conda would read, this reads ([`CondaConfig`]: channels, `channel_alias`,
//! `custom_channels`, `default_channels`, `channel_priority`, `pkgs_dirs`); what conda
//! would leave, this leaves: `conda-meta/<pkg>.json` records (rattler's own), a
//! `conda-meta/history` entry with the requested specs, and the prefix's line in
//! `~/.conda/environments.txt`. Packages are linked from (and downloaded into) conda's
//! own package caches. So `conda env list`, `conda list -p` and `conda install -p` treat
//! the environment as one of theirs.
//!
//! pip packages and `-r` files go through the environment's own pip afterwards, as with
//! the conda backend. The async parts run on a runtime of their own, racing the
//! [`CancelToken`]: Ctrl-C drops the work and `create` deletes the half-made prefix.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rattler::install::Installer;
use rattler::package_cache::PackageCache;
use rattler::validation::ValidationMode;
use rattler_conda_types::{
    Channel, GenericVirtualPackage, MatchSpec, ParseStrictness, PrefixRecord, RepoDataRecord,
    Subdir,
};
use rattler_repodata_gateway::Gateway;
use rattler_solve::{resolvo, CancellationToken, SolverImpl, SolverTask};
use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages};

use crate::backend::{conda_specs, Backend, BackendKind, CreateEnv};
use crate::conda::{self, check_create_target, check_not_frozen};
use crate::conda_config::{ChannelPriority, CondaConfig};
use crate::conda_json::{PackageRecord, Transaction};
use crate::discover::Environment;
use crate::error::rattler_step::{
    DETECT_VIRTUAL, INSTALL, LOAD_CHANNELS, READ_CHANNELS, READ_SPECS, SOLVE,
};
use crate::error::EnvError;
use crate::locate::Tools;
use crate::packages::{self, PackageSet};
use crate::process::{CancelToken, ToolCommand};
use crate::progress::{report_transaction, Event, LineForwarder, Progress, Step, ToolName};
use crate::vars::{self, HostEnv};
use crate::venv::{self, PipInstall};

/// The rattler backend (see module docs).
#[derive(Debug, Clone)]
pub struct RattlerBackend {
    /// The conda root found beside, if any: its `.condarc` and `pkgs` count.
    root: Option<PathBuf>,
    host: HostEnv,
}

/// A solved environment: every package record, and the specs that asked for them.
#[derive(Debug, Clone)]
pub struct Solution {
    /// The records, as the solver returned them.
    pub records: Vec<RepoDataRecord>,
    /// The requested specs.
    pub specs: Vec<MatchSpec>,
}

impl RattlerBackend {
    /// The backend for a host, using the conda root of `tools` (if one was found) for its
    /// configuration.
    pub fn new(tools: &Tools, host: &HostEnv) -> RattlerBackend {
        RattlerBackend {
            root: tools.conda.as_ref().map(|t| t.root.clone()),
            host: host.clone(),
        }
    }

    /// The conda configuration the backend solves and caches with.
    pub fn config(&self) -> CondaConfig {
        CondaConfig::read(self.root.as_deref(), &self.host)
    }

    /// Where downloaded channel indexes are kept (`$XDG_CACHE_HOME/kernels/repodata`).
    fn repodata_cache(&self) -> Option<PathBuf> {
        let base = match self.host.get(vars::XDG_CACHE_HOME) {
            Some(d) if d.starts_with('/') => PathBuf::from(d),
            _ => self.host.home.as_ref()?.join(".cache"),
        };
        Some(base.join("kernels/repodata"))
    }

    /// Solves `specs` against the configured channels (after `extra`), preferring what
    /// `installed` already has.
    pub fn solve(
        &self,
        prefix: &Path,
        specs: &[String],
        extra: &[String],
        installed: &[PrefixRecord],
        cancel: &CancelToken,
    ) -> Result<Solution, EnvError> {
        let fail = |action| move |e: String| rattler_error(action, prefix, e);
        let cfg = self.config();
        let specs = parse_specs(specs).map_err(fail(READ_SPECS))?;
        let channels = channels(&cfg, extra, &self.host).map_err(fail(READ_CHANNELS))?;
        let subdir = Subdir::current()
            .ok_or_else(|| fail(SOLVE)("this platform has no conda subdir".to_owned()))?;
        let mut gateway = Gateway::builder();
        if let Some(dir) = self.repodata_cache() {
            gateway = gateway.with_cache_dir(dir);
        }
        let query = gateway
            .finish()
            .query(channels, [subdir, Subdir::NoArch], specs.clone())
            .recursive(true)
            .execute();
        let repodata = block_on(query, cancel, LOAD_CHANNELS, prefix)?
            .map_err(|e| fail(LOAD_CHANNELS)(kernelspec::error_chain(&e)))?
            .repodata;
        let virtual_packages: Vec<GenericVirtualPackage> =
            VirtualPackages::detect(&VirtualPackageOverrides::default(), None)
                .map_err(|e| fail(DETECT_VIRTUAL)(kernelspec::error_chain(&e)))?
                .into_generic_virtual_packages()
                .collect();
        let token = CancellationToken::new();
        let task = SolverTask {
            locked_packages: installed.iter().map(|r| &r.repodata_record).collect(),
            virtual_packages,
            specs: specs.clone(),
            channel_priority: solve_priority(cfg.channel_priority),
            cancellation_token: Some(token.clone()),
            ..SolverTask::from_iter(&repodata)
        };
        let solved = watch_cancel(cancel, &token, || resolvo::Solver.solve(task));
        if cancel.is_cancelled() {
            return Err(EnvError::Interrupted {
                action: SOLVE,
                prefix: prefix.to_path_buf(),
            });
        }
        let records = solved
            .map_err(|e| fail(SOLVE)(kernelspec::error_chain(&e)))?
            .records;
        Ok(Solution { records, specs })
    }

    /// Links `solution` into `prefix` (creating it), then records it the way conda does.
    fn link(
        &self,
        prefix: &Path,
        solution: &Solution,
        installed: Vec<PrefixRecord>,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        let cfg = self.config();
        let cache =
            PackageCache::new_layered(cache_layers(&cfg.pkgs_dirs), false, ValidationMode::Skip);
        let mut installer = Installer::new()
            .with_package_cache(cache)
            .with_execute_link_scripts(true)
            .with_installed_packages(installed)
            .with_requested_specs(solution.specs.clone());
        if let Some(subdir) = Subdir::current() {
            installer = installer.with_target_platform(subdir);
        }
        let install = installer.install(prefix, solution.records.clone());
        let result = block_on(install, cancel, INSTALL, prefix)?
            .map_err(|e| rattler_error(INSTALL, prefix, kernelspec::error_chain(&e)))?;
        let linked: Vec<&RepoDataRecord> = result.transaction.installed_packages().collect();
        report_transaction(
            progress,
            &Transaction {
                prefix: Some(prefix.to_path_buf()),
                link: linked.iter().map(|r| package_record(r)).collect(),
                ..Transaction::default()
            },
        );
        let io = |action: &str, path: PathBuf| {
            let action = action.to_owned();
            move |source| EnvError::Io {
                action,
                path,
                source,
            }
        };
        let history = prefix.join("conda-meta/history");
        append(&history, &history_entry(prefix, &linked, &solution.specs))
            .map_err(io("write", history.clone()))?;
        if let Some(registry) = self.host.conda_registry() {
            register(&registry, prefix).map_err(io("register the environment in", registry))?;
        }
        Ok(())
    }

    fn pip_step(&self, prefix: &Path, pip: &[String], req: Option<&Path>) -> Option<ToolCommand> {
        let pkgs = PipInstall {
            packages: pip.to_vec(),
            requirements: req.map(Path::to_path_buf),
        };
        (!pkgs.is_empty()).then(|| venv::pip_install_command(prefix, &pkgs, &self.host))
    }

    fn run_pip(
        &self,
        cmd: &ToolCommand,
        prefix: &Path,
        packages: &[String],
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        progress.event(&Event::Started(&Step::InstallPackages {
            prefix: prefix.to_path_buf(),
            packages: packages.to_vec(),
            tool: ToolName::Pip,
        }));
        venv::run_step(cmd, cancel, &LineForwarder::all(progress))
    }

    /// The solved packages of a create, one `name=version=build` each, sorted.
    pub fn preview(&self, req: &CreateEnv) -> Result<Vec<String>, EnvError> {
        let prefix = conda::absolute(&req.prefix);
        let (specs, channels, _) = create_specs(req)?;
        let s = self.solve(&prefix, &specs, &channels, &[], &CancelToken::new())?;
        let mut out: Vec<String> = s
            .records
            .iter()
            .map(|r| {
                let p = &r.package_record;
                format!("{}={}={}", p.name.as_normalized(), p.version, p.build)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn create_inner(
        &self,
        prefix: &Path,
        req: &CreateEnv,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        if req.clone_from.is_some() {
            return Err(EnvError::UnsupportedLanguage {
                backend: BackendKind::Rattler,
                language: "cloned".to_owned(),
            });
        }
        let (specs, channels, file_pip) = create_specs(req)?;
        let solution = self.solve(prefix, &specs, &channels, &[], cancel)?;
        self.link(prefix, &solution, Vec::new(), cancel, progress)?;
        let mut pip = file_pip;
        pip.extend(req.pip_packages.iter().cloned());
        match self.pip_step(prefix, &pip, req.requirements.as_deref()) {
            Some(cmd) => self.run_pip(&cmd, prefix, &pip, cancel, progress),
            None => Ok(()),
        }
    }
}

/// The conda specs, the channels and the pip packages of a create.
type CreateSpecs = (Vec<String>, Vec<String>, Vec<String>);

/// The conda specs, the channels (`-c` first) and the pip packages of a create. With an
/// environment file, its dependencies, channels and `pip:` list join the request's, and
/// the kernel's packages are added unless the file names them (so the kernel can start).
fn create_specs(req: &CreateEnv) -> Result<CreateSpecs, EnvError> {
    let mut channels = req.channels.clone();
    let Some(file) = &req.environment_file else {
        return Ok((conda_specs(req), channels, Vec::new()));
    };
    let text = std::fs::read_to_string(file).map_err(|source| EnvError::Io {
        action: "read".to_owned(),
        path: file.clone(),
        source,
    })?;
    let env = EnvironmentFile::parse(&text);
    let mut specs = env.dependencies;
    let kernel_specs = conda_specs(&CreateEnv {
        environment_file: None,
        ..req.clone()
    });
    for k in kernel_specs {
        let name = packages::conda_spec_name(&k);
        if !specs.iter().any(|s| packages::conda_spec_name(s) == name) {
            specs.push(k);
        }
    }
    for c in env.channels {
        if !channels.contains(&c) {
            channels.push(c);
        }
    }
    Ok((specs, channels, env.pip))
}

/// What a conda `environment.yml` asks for (`channels`, `dependencies` and their `pip:`
/// list; `name` and `prefix` are the caller's business).
#[derive(Debug, Default, PartialEq, Eq)]
struct EnvironmentFile {
    channels: Vec<String>,
    dependencies: Vec<String>,
    pip: Vec<String>,
}

impl EnvironmentFile {
    fn parse(text: &str) -> EnvironmentFile {
        let mut out = EnvironmentFile::default();
        let mut key = String::new();
        let mut pip_indent: Option<usize> = None;
        for raw in text.lines() {
            let line = crate::condarc::strip_comment(raw);
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            let Some(item) = t.strip_prefix('-') else {
                if indent == 0 {
                    key = t.split(':').next().unwrap_or_default().trim().to_owned();
                    pip_indent = None;
                }
                continue;
            };
            let item = crate::condarc::unquote(item);
            if pip_indent.is_some_and(|i| indent <= i) {
                pip_indent = None;
            }
            match key.as_str() {
                "channels" => out.channels.push(item),
                "dependencies" if pip_indent.is_some() => out.pip.push(item),
                "dependencies" if item.trim_end_matches(':') == "pip" && item.ends_with(':') => {
                    pip_indent = Some(indent)
                }
                "dependencies" => out.dependencies.push(item),
                _ => {}
            }
        }
        out
    }
}

impl Backend for RattlerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Rattler
    }

    fn create(
        &self,
        req: &CreateEnv,
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<Environment, EnvError> {
        let prefix = conda::absolute(&req.prefix);
        check_create_target(&prefix)?;
        let existed = prefix.exists();
        progress.event(&Event::Started(&Step::CreateEnv {
            prefix: prefix.clone(),
            tool: ToolName::Rattler,
        }));
        if let Err(e) = self.create_inner(&prefix, req, cancel, progress) {
            if prefix.exists() {
                if existed {
                    // Only the guard was there: keep the directory, drop what was linked.
                    clear_except_guard(&prefix);
                } else {
                    let _ = std::fs::remove_dir_all(&prefix);
                }
            }
            return Err(e);
        }
        Environment::made_conda(prefix)
    }

    fn install(
        &self,
        env: &Environment,
        pkgs: &PackageSet,
        _channels: &[String],
        cancel: &CancelToken,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        check_not_frozen(&env.prefix)?;
        let prefix = &env.prefix;
        if !pkgs.conda.is_empty() {
            progress.event(&Event::Started(&Step::InstallPackages {
                prefix: prefix.to_path_buf(),
                packages: pkgs.conda.clone(),
                tool: ToolName::Rattler,
            }));
            let installed = PrefixRecord::collect_from_prefix::<PrefixRecord>(prefix)
                .map_err(|e| rattler_error("read the packages of", prefix, e.to_string()))?;
            // Everything installed stays (by name; the solver prefers the installed
            // builds), and the new specs join it.
            let mut specs: Vec<String> = installed
                .iter()
                .map(|r| {
                    r.repodata_record
                        .package_record
                        .name
                        .as_normalized()
                        .to_owned()
                })
                .filter(|n| {
                    !pkgs
                        .conda
                        .iter()
                        .any(|p| packages::conda_spec_name(p).as_deref() == Some(n.as_str()))
                })
                .collect();
            specs.extend(pkgs.conda.iter().cloned());
            let mut solution = self.solve(prefix, &specs, &[], &installed, cancel)?;
            solution.specs =
                parse_specs(&pkgs.conda).map_err(|e| rattler_error(READ_SPECS, prefix, e))?;
            self.link(prefix, &solution, installed, cancel, progress)?;
        }
        match self.pip_step(prefix, &pkgs.pip, None) {
            Some(cmd) => self.run_pip(&cmd, prefix, &pkgs.pip, cancel, progress),
            None => Ok(()),
        }
    }

    fn remove(&self, prefix: &Path, _cancel: &CancelToken) -> Result<(), EnvError> {
        if !prefix.join("conda-meta").is_dir() {
            return Err(EnvError::NotAnEnvironment {
                prefix: prefix.to_path_buf(),
                expected: "conda",
            });
        }
        check_not_frozen(prefix)?;
        venv::remove_prefix(prefix)
    }

    fn create_commands(&self, req: &CreateEnv) -> Vec<ToolCommand> {
        // Everything but pip happens in-process; `--dry-run` shows the solved packages
        // instead (see `RattlerBackend::preview`).
        let prefix = conda::absolute(&req.prefix);
        self.pip_step(&prefix, &req.pip_packages, req.requirements.as_deref())
            .into_iter()
            .collect()
    }

    fn missing(&self, env: &Environment, pkgs: &PackageSet) -> PackageSet {
        PackageSet {
            conda: packages::missing_conda(&env.prefix, &pkgs.conda),
            pip: packages::missing_pip(&env.prefix, &pkgs.pip),
        }
    }

    fn solved_packages(&self, req: &CreateEnv) -> Result<Vec<String>, EnvError> {
        self.preview(req)
    }
}

/// `pkgs_dirs` as package-cache layers: the ones this user may write first, in their order,
/// then the rest. rattler writes (and takes its cache lock) in the first layer whose mode
/// has any write bit; conda writes to the first one the user can write. A notebook user's
/// `[/anaconda/pkgs (root's), ~/.conda/pkgs]` would otherwise have rattler lock root's
/// cache and fail; root's stays a layer rattler may read (it skips package directories
/// that lack its own metadata file, i.e. those conda extracted).
fn cache_layers(pkgs_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let (mut layers, theirs): (Vec<PathBuf>, Vec<PathBuf>) = pkgs_dirs
        .iter()
        .cloned()
        .partition(|d| crate::writable_or_creatable(d));
    layers.extend(theirs);
    layers
}

/// conda's spellings (`python=3.11`, `numpy>=2`) as rattler match specs.
fn parse_specs(specs: &[String]) -> Result<Vec<MatchSpec>, String> {
    specs
        .iter()
        .map(|s| {
            MatchSpec::from_str(s, ParseStrictness::Lenient).map_err(|e| format!("`{s}`: {e}"))
        })
        .collect()
}

/// The channel rattler uses where conda would fall back to its built-in `defaults`
/// (repo.anaconda.com): those channels come with Anaconda's terms of service, whose
/// acceptance conda 26 enforces through a plugin that rattler cannot honour, so a
/// configuration that names no channel gets conda-forge, as conda-free tools default to.
pub const UNCONFIGURED_CHANNEL: &str = "conda-forge";

/// The configured channels (after `extra`) as rattler channels; with no `channels` and no
/// `default_channels` configured anywhere, [`UNCONFIGURED_CHANNEL`] stands for `defaults`.
pub fn channels(
    cfg: &CondaConfig,
    extra: &[String],
    env: &HostEnv,
) -> Result<Vec<Channel>, String> {
    let unconfigured;
    let cfg = if cfg.channels.is_empty() && cfg.default_channels.is_none() {
        unconfigured = CondaConfig {
            channels: vec![UNCONFIGURED_CHANNEL.to_owned()],
            ..cfg.clone()
        };
        &unconfigured
    } else {
        cfg
    };
    cfg.channel_urls(extra, env)
        .iter()
        .map(|u| {
            url::Url::parse(&format!("{u}/"))
                .map(Channel::from_url)
                .map_err(|e| format!("channel `{u}`: {e}"))
        })
        .collect()
}

/// conda's `channel_priority` as the solver's.
pub fn solve_priority(p: ChannelPriority) -> rattler_solve::ChannelPriority {
    match p {
        ChannelPriority::Strict => rattler_solve::ChannelPriority::Strict,
        ChannelPriority::Flexible => rattler_solve::ChannelPriority::Flexible,
        ChannelPriority::Disabled => rattler_solve::ChannelPriority::Disabled,
    }
}

fn rattler_error(action: &'static str, prefix: &Path, detail: String) -> EnvError {
    EnvError::Rattler {
        action,
        prefix: prefix.to_path_buf(),
        detail,
    }
}

/// Runs `fut` to completion on a runtime of its own, unless `cancel` fires first (checked
/// every 50 ms); then the future is dropped and the run is interrupted.
fn block_on<F: Future>(
    fut: F,
    cancel: &CancelToken,
    action: &'static str,
    prefix: &Path,
) -> Result<F::Output, EnvError> {
    let interrupted = || EnvError::Interrupted {
        action,
        prefix: prefix.to_path_buf(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| rattler_error(action, prefix, format!("cannot start a runtime: {e}")))?;
    rt.block_on(async {
        tokio::select! {
            out = fut => Ok(out),
            () = cancelled(cancel) => Err(interrupted()),
        }
    })
}

async fn cancelled(cancel: &CancelToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the (blocking) solve, passing a cancel on to the solver's own token.
fn watch_cancel<T>(
    cancel: &CancelToken,
    token: &CancellationToken,
    solve: impl FnOnce() -> T,
) -> T {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if cancel.is_cancelled() {
                    token.cancel();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let out = solve();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    })
}

fn package_record(r: &RepoDataRecord) -> PackageRecord {
    let p = &r.package_record;
    PackageRecord {
        name: p.name.as_normalized().to_owned(),
        version: p.version.to_string(),
        build: Some(p.build.to_string()),
        channel: r.channel.clone(),
    }
}

/// One `conda-meta/history` entry as conda writes it: a header, the linked packages as
/// `channel/subdir::name-version-build`, and the requested specs (which `conda install`
/// keeps honouring later).
fn history_entry(prefix: &Path, linked: &[&RepoDataRecord], specs: &[MatchSpec]) -> String {
    let mut out = format!(
        "==> {} <==\n# cmd: kernels (rattler) install -p {}\n",
        timestamp(&jiff::Zoned::now()),
        prefix.display()
    );
    let mut dists: Vec<String> = linked
        .iter()
        .map(|r| {
            let p = &r.package_record;
            let channel = r
                .channel
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/');
            format!(
                "+{channel}/{}::{}-{}-{}",
                p.subdir,
                p.name.as_normalized(),
                p.version,
                p.build
            )
        })
        .collect();
    dists.sort();
    for d in dists {
        out.push_str(&d);
        out.push('\n');
    }
    let specs: Vec<String> = specs
        .iter()
        .map(|s| {
            format!(
                "'{}'",
                s.to_string().replace('\\', "\\\\").replace('\'', "\\'")
            )
        })
        .collect();
    out.push_str(&format!("# update specs: [{}]\n", specs.join(", ")));
    out
}

/// `YYYY-MM-DD HH:MM:SS` of a time in the system's time zone, as conda's history header
/// writes it (`time.strftime` of local time).
fn timestamp(t: &jiff::Zoned) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Adds `prefix` to conda's registry of environments (`environments.txt`), as conda does
/// on create: one line, once.
fn register(registry: &Path, prefix: &Path) -> std::io::Result<()> {
    let line = prefix.display().to_string();
    let text = std::fs::read_to_string(registry).unwrap_or_default();
    if text.lines().any(|l| l.trim_end_matches('/') == line) {
        return Ok(());
    }
    if let Some(dir) = registry.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    append(registry, &format!("{sep}{line}\n"))
}

/// After a failed create into a directory that held only the guard: removes everything
/// else.
fn clear_except_guard(prefix: &Path) {
    if let Ok(rd) = std::fs::read_dir(prefix) {
        for e in rd.flatten() {
            if e.file_name() == conda::PREFIX_GUARD {
                continue;
            }
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condarc_channels_become_rattler_channels() {
        let env = HostEnv::from_vars([("HOME", "/home/u")]);
        let cfg = CondaConfig::from_texts(
            &[
                "channels:\n  - internal\n  - defaults\nchannel_priority: strict\n\
                 custom_channels:\n  internal: https://mirror.example/conda\n\
                 default_channels: [https://mirror.example/main]\n"
                    .to_owned(),
            ],
            &env,
        );
        let chans = channels(&cfg, &["/srv/lab".to_owned()], &env).unwrap();
        let urls: Vec<String> = chans.iter().map(|c| c.base_url.to_string()).collect();
        assert_eq!(
            urls,
            [
                "file:///srv/lab/",
                "https://mirror.example/conda/internal/",
                "https://mirror.example/main/"
            ]
        );
        assert_eq!(
            solve_priority(cfg.channel_priority),
            rattler_solve::ChannelPriority::Strict
        );
        assert_eq!(
            solve_priority(ChannelPriority::default()),
            rattler_solve::ChannelPriority::Flexible
        );
    }

    #[test]
    fn no_configured_channel_means_conda_forge_not_anacondas_defaults() {
        let env = HostEnv::from_vars([("HOME", "/home/u")]);
        let urls = |texts: &[&str], extra: &[&str]| -> Vec<String> {
            let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
            let extra: Vec<String> = extra.iter().map(|t| t.to_string()).collect();
            let cfg = CondaConfig::from_texts(&texts, &env);
            channels(&cfg, &extra, &env)
                .unwrap()
                .iter()
                .map(|c| c.base_url.to_string())
                .collect()
        };
        let forge = "https://conda.anaconda.org/conda-forge/";
        assert_eq!(urls(&[], &[]), [forge]);
        assert_eq!(urls(&[], &["/srv/lab"]), ["file:///srv/lab/", forge]);
        assert_eq!(
            urls(&["channel_alias: https://mirror.example\n"], &[]),
            ["https://mirror.example/conda-forge/"]
        );
        // Whatever the user configured stays: `defaults` named with `default_channels`, or
        // asked for explicitly.
        assert_eq!(
            urls(&["default_channels: [https://mirror.example/main]\n"], &[]),
            ["https://mirror.example/main/"]
        );
        assert_eq!(
            urls(&["channels: [defaults]\n"], &[]),
            [
                "https://repo.anaconda.com/pkgs/main/",
                "https://repo.anaconda.com/pkgs/r/"
            ]
        );
    }

    #[test]
    fn conda_specs_parse_and_history_reads_like_condas() {
        let specs = parse_specs(&["python=3.11".into(), "numpy>=2".into()]).unwrap();
        assert_eq!(specs[0].to_string(), "python 3.11.*");
        assert!(parse_specs(&["python=>=<".into()]).is_err());
        let entry = history_entry(Path::new("/e/x"), &[], &specs);
        let lines: Vec<&str> = entry.lines().collect();
        assert!(
            lines[0].starts_with("==> 2") && lines[0].ends_with(" <=="),
            "{entry}"
        );
        assert_eq!(lines[1], "# cmd: kernels (rattler) install -p /e/x");
        assert_eq!(lines[2], "# update specs: ['python 3.11.*', 'numpy >=2']");
    }

    #[test]
    fn environment_files_give_specs_channels_and_pip() {
        let text = "name: x\nchannels:\n  - conda-forge # main\n  - bioconda\ndependencies:\n  \
                    - python=3.10\n  - numpy\n  - pip:\n    - requests==2.*\n    - 'rich'\n  \
                    - pandas\nprefix: /x\n";
        let env = EnvironmentFile::parse(text);
        assert_eq!(env.channels, ["conda-forge", "bioconda"]);
        assert_eq!(env.dependencies, ["python=3.10", "numpy", "pandas"]);
        assert_eq!(env.pip, ["requests==2.*", "rich"]);
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("environment.yml");
        std::fs::write(&file, text).unwrap();
        let req = CreateEnv {
            environment_file: Some(file),
            channels: vec!["lab".into()],
            ..CreateEnv::new(crate::Prefix::absolute("/e/lab"))
        };
        let (specs, channels, pip) = create_specs(&req).unwrap();
        assert_eq!(
            specs,
            ["python=3.10", "numpy", "pandas", "pip", "ipykernel"]
        );
        assert_eq!(channels, ["lab", "conda-forge", "bioconda"]);
        assert_eq!(pip, ["requests==2.*", "rich"]);
    }

    #[test]
    fn timestamps_are_local_civil_time() {
        let t = jiff::Timestamp::from_second(1_780_000_000).unwrap();
        let utc = t.to_zoned(jiff::tz::TimeZone::UTC);
        assert_eq!(timestamp(&utc), "2026-05-28 20:26:40");
        let east = t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(2)));
        assert_eq!(timestamp(&east), "2026-05-28 22:26:40");
        let epoch = jiff::Timestamp::UNIX_EPOCH.to_zoned(jiff::tz::TimeZone::UTC);
        assert_eq!(timestamp(&epoch), "1970-01-01 00:00:00");
    }

    #[test]
    fn an_unreachable_https_channel_is_an_error_not_a_panic() {
        // Builds the HTTPS client (a build without a TLS provider panics here) and fails
        // to connect: port 1 on the loopback refuses at once.
        let home = tempfile::tempdir().unwrap();
        // Only that channel: no default one to reach over the network.
        std::fs::write(home.path().join(".condarc"), "default_channels: []\n").unwrap();
        let host = HostEnv::from_vars([("HOME", home.path().to_str().unwrap())]);
        let backend = RattlerBackend { root: None, host };
        let prefix = home.path().join("env");
        let err = backend
            .solve(
                &prefix,
                &["python".to_owned()],
                &["https://127.0.0.1:1/lab".to_owned()],
                &[],
                &CancelToken::new(),
            )
            .unwrap_err();
        match err {
            EnvError::Rattler { action, detail, .. } => {
                assert_eq!(action, LOAD_CHANNELS);
                assert!(detail.contains("127.0.0.1"), "{detail}");
            }
            other => panic!("expected a rattler error, got {other:?}"),
        }
    }

    #[test]
    fn a_cancelled_create_is_interrupted_and_leaves_no_prefix() {
        // A local channel with empty indexes: whichever step the cancel reaches (the
        // channel load or the solve), the create stops with `Interrupted` and deletes the
        // prefix it started.
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join(".condarc"),
            "channels: []\ndefault_channels: []\n",
        )
        .unwrap();
        let channel = t.path().join("channel");
        for sub in [Subdir::current().unwrap(), Subdir::NoArch] {
            let dir = channel.join(sub.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("repodata.json"),
                format!(r#"{{"info":{{"subdir":"{sub}"}},"packages":{{}},"packages.conda":{{}}}}"#),
            )
            .unwrap();
        }
        let host = HostEnv::from_vars([("HOME", home.to_str().unwrap())]);
        let backend = RattlerBackend { root: None, host };
        let prefix = t.path().join("env");
        let req = CreateEnv {
            channels: vec![channel.display().to_string()],
            ..CreateEnv::new(crate::Prefix::absolute(&prefix))
        };
        let cancel = CancelToken::new();
        cancel.cancel();
        let err = backend
            .create(&req, &cancel, &crate::progress::NoProgress)
            .unwrap_err();
        assert!(matches!(err, EnvError::Interrupted { .. }), "{err:?}");
        assert!(!prefix.exists());
    }

    #[test]
    fn registers_once() {
        let t = tempfile::tempdir().unwrap();
        let reg = t.path().join(".conda/environments.txt");
        register(&reg, Path::new("/e/a")).unwrap();
        register(&reg, Path::new("/e/a")).unwrap();
        register(&reg, Path::new("/e/b")).unwrap();
        assert_eq!(std::fs::read_to_string(&reg).unwrap(), "/e/a\n/e/b\n");
    }
}
