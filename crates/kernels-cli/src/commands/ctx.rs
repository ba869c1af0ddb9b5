//! What every command gets: the global options, the printer, the cancel flag, and the machine
//! snapshots (read once, lazily, from the process environment: the only place the CLI reads it).

use std::sync::OnceLock;

use crate::cli::GlobalArgs;
use crate::output::Out;

/// The context of one run.
pub struct Ctx {
    /// The global options.
    pub global: GlobalArgs,
    /// The printer.
    pub out: Out,
    /// Set by SIGINT/SIGTERM; long-running steps poll it, stop their child, and roll back.
    pub cancel: envs::CancelToken,
    paths: OnceLock<(
        kernelspec::JupyterPaths,
        Option<kernelspec::server::RunningServer>,
    )>,
    host: OnceLock<envs::HostEnv>,
}

impl Ctx {
    /// Builds the context and installs the signal handlers: the first SIGINT/SIGTERM sets the
    /// cancel flag (the running step stops its child and undoes this run's changes); a second
    /// one ends the process at once with exit 130.
    pub fn new(global: GlobalArgs, out: Out) -> Ctx {
        let cancel = envs::CancelToken::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registration fails only for forbidden signals; these two are allowed.
            let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, cancel.flag());
            let _ = signal_hook::flag::register(signal, cancel.flag());
        }
        Ctx {
            global,
            out,
            cancel,
            paths: OnceLock::new(),
            host: OnceLock::new(),
        }
    }

    /// The Jupyter search path of this machine and user: the running Jupyter server's when
    /// one is found (see [`kernelspec::server`]) and `KERNELS_JUPYTER_PREFIX` is unset.
    pub fn paths(&self) -> &kernelspec::JupyterPaths {
        &self.paths_and_server().0
    }

    /// The Jupyter server whose search path [`Ctx::paths`] is, if one was matched.
    pub fn server(&self) -> Option<&kernelspec::server::RunningServer> {
        self.paths_and_server().1.as_ref()
    }

    fn paths_and_server(
        &self,
    ) -> &(
        kernelspec::JupyterPaths,
        Option<kernelspec::server::RunningServer>,
    ) {
        self.paths.get_or_init(|| {
            let (input, server) = kernelspec::PathsInput::from_process_env().with_running_server();
            (kernelspec::JupyterPaths::new(&input), server)
        })
    }

    /// A path for humans: `~/...` under the home directory.
    pub fn show_path(&self, path: &std::path::Path) -> String {
        if let Some(home) = self.host().home.as_deref() {
            if let Ok(rest) = path.strip_prefix(home) {
                return format!("~/{}", rest.display());
            }
        }
        path.display().to_string()
    }

    /// Takes the per-user run lock every mutating command holds (see
    /// [`super::run_lock::take_lock`]: waits, then exit 5 when busy).
    pub fn lock(&self) -> Result<kernels::RunLock, crate::exit::Failure> {
        super::run_lock::take_lock(self)
    }

    /// The environment snapshot the env drivers work from.
    pub fn host(&self) -> &envs::HostEnv {
        self.host.get_or_init(envs::HostEnv::from_process)
    }
}
