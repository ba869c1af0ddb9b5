//! The venv backend with real tools: `python -m venv`, pip, uv and ipykernel from the
//! package index. Needs `KERNELS_TEST_PYTHON` (uv is taken from its directory); each test
//! installs ipykernel, so there are only two.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use envs::{
    backend_for, BackendKind, CancelToken, CreateEnv, EnvError, EnvKind, Event, PackageSet,
    Progress, Step, Stream, ToolName, Tools,
};

/// The events as text: `step: …`, `$ program`, `out: …`, `err: …`.
struct Lines(std::cell::RefCell<Vec<String>>);

impl Progress for Lines {
    fn event(&self, event: &Event<'_>) {
        let text = match event {
            Event::Started(step) => format!("step: {step:?}"),
            Event::Command(cmd) => format!("$ {}", cmd.program().display()),
            Event::Line {
                stream: Stream::Stdout,
                text,
            } => format!("out: {text}"),
            Event::Line {
                stream: Stream::Stderr,
                text,
            } => format!("err: {text}"),
            _ => return,
        };
        self.0.borrow_mut().push(text);
    }
}

fn test_python() -> Option<PathBuf> {
    match std::env::var_os(support::KERNELS_TEST_PYTHON) {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            support::skip("KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)");
            None
        }
    }
}

fn create_with(uv: bool) {
    let Some(python) = test_python() else { return };
    let uv_exe = python.parent().unwrap().join("uv");
    if uv && !uv_exe.exists() {
        return support::skip("no uv next to KERNELS_TEST_PYTHON (scripts/test.sh installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let host = support::sandbox_host(dir.path(), &python);
    let tools = Tools {
        conda: None,
        python: Some(python.clone()),
        uv: uv.then_some(uv_exe),
        uv_provision: None,
    };
    let backend = backend_for(BackendKind::Venv, &tools, &host).unwrap();
    let prefix = envs::venv_home(&host).join(if uv { "with-uv" } else { "with-pip" });
    let req = CreateEnv::new(envs::Prefix::absolute(&prefix));
    let progress = Lines(Default::default());
    let started = std::time::Instant::now();
    let env = backend
        .create(&req, &CancelToken::new(), &progress)
        .unwrap();
    println!("created in {:?} (uv: {uv})", started.elapsed());
    let events = progress.0.borrow();
    let first = Step::CreateEnv {
        prefix: prefix.clone(),
        tool: if uv { ToolName::Uv } else { ToolName::Venv },
    };
    assert_eq!(events[0], format!("step: {first:?}"), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("$ ")), "{events:?}");
    // pip reports its progress on stdout, uv on stderr: both reach the receiver live.
    let stream = if uv { "err: " } else { "out: " };
    assert!(events.iter().any(|e| e.starts_with(stream)), "{events:?}");
    drop(events);
    assert_eq!(env.kind, EnvKind::Venv);
    assert!(env.python.is_some() && env.has_ipykernel, "{env:?}");
    assert!(env.python_version.is_some());
    let want = PackageSet {
        conda: vec![],
        pip: vec![
            "ipykernel".into(),
            "jupyter_client".into(),
            "pyzmq>=20".into(),
        ],
    };
    assert!(
        backend.missing(&env, &want).is_empty(),
        "{:?}",
        backend.missing(&env, &want)
    );
    let missing = backend.missing(
        &env,
        &PackageSet {
            conda: vec![],
            pip: vec!["six".into()],
        },
    );
    assert_eq!(missing.pip, ["six"]);

    // The kernel's interpreter really has ipykernel.
    let check = envs::ToolCommand::new(env.python.clone().unwrap(), &host)
        .args(["-c", "import ipykernel, sys; print(sys.prefix)"]);
    let out = envs::run_checked(&check, &CancelToken::new(), &envs::NoObserver).unwrap();
    assert_eq!(PathBuf::from(out.stdout.trim()), prefix);

    // Discovery finds it under the venv home.
    let found = envs::list_envs(&Tools::default(), &host, &[]);
    assert!(found
        .iter()
        .any(|e| e.prefix == prefix && e.kind == EnvKind::Venv));

    // A second create is refused and keeps the env.
    let err = backend
        .create(&req, &CancelToken::new(), &envs::NoProgress)
        .unwrap_err();
    assert!(matches!(err, EnvError::EnvExists { .. }), "{err:?}");
    assert!(prefix.join("pyvenv.cfg").is_file());

    backend.remove(&prefix, &CancelToken::new()).unwrap();
    assert!(!prefix.exists());
}

#[test]
fn venv_with_uv_gets_ipykernel() {
    create_with(true);
}

#[test]
fn venv_with_pip_gets_ipykernel() {
    create_with(false);
}
