//! The conda driver, each test body twice: against the conda stand-in
//! (`tests/standins/conda`) and against the real conda `KERNELS_TEST_CONDA` names (the
//! `real_*` tests record a skip without one; scripts/test.sh bootstraps one).
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use envs::{
    backend_for, locate, vars, BackendChoice, BackendKind, CancelToken, CondaCreate, CondaDriver,
    CondaFailure, CreateEnv, EnvError, EnvKind, Environment, HostEnv, NoObserver, NoProgress,
    PackageSet, ToolCommand,
};

struct Sandbox {
    tool: Tool,
    _dir: tempfile::TempDir,
    base: PathBuf,
    host: HostEnv,
    driver: CondaDriver,
}

/// The tool a test drives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Standin,
    Real,
}

/// One `#[test]` per tool for a body taking a [`Sandbox`].
macro_rules! both_tools {
    ($body:ident: $standin:ident, $real:ident) => {
        #[test]
        fn $standin() {
            if let Some(s) = sandbox(Tool::Standin) {
                $body(s);
            }
        }
        #[test]
        fn $real() {
            if let Some(s) = sandbox(Tool::Real) {
                $body(s);
            }
        }
    };
}

/// A conda root `<tmp>/root` whose `bin/conda` is the stand-in; for the real conda, its own
/// root (the environments still go under `<tmp>/root/envs`, by `-p`).
fn sandbox(tool: Tool) -> Option<Sandbox> {
    let Some(python) = support::real_python() else {
        support::skip("no python3 to run the conda stand-in");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let root = base.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("conda-meta")).unwrap();
    fs::write(root.join("conda-meta/history"), "").unwrap();
    let exe = match tool {
        Tool::Real => match std::env::var_os(support::KERNELS_TEST_CONDA) {
            Some(real) => PathBuf::from(real),
            None => {
                support::skip("no real conda: set KERNELS_TEST_CONDA (scripts/test.sh does)");
                return None;
            }
        },
        Tool::Standin => {
            let standin = support::workspace_root().join("tests/standins/conda");
            std::os::unix::fs::symlink(standin.canonicalize().unwrap(), root.join("bin/conda"))
                .unwrap();
            root.join("bin/conda")
        }
    };
    let mut host = support::sandbox_host(&base, &python);
    host.vars
        .insert(vars::KERNELS_CONDA.into(), exe.display().to_string());
    if tool == Tool::Real {
        // The real root is not `<tmp>/root`: name the sandbox's envs dir as conda's own, so
        // that discovery finds the environments the tests make there.
        host.vars.insert(
            vars::CONDA_ENVS_DIRS.into(),
            root.join("envs").display().to_string(),
        );
    }
    let host = HostEnv::from_vars(host.vars);
    let found = locate(&host, BackendChoice::Auto)
        .conda
        .expect("KERNELS_CONDA is found");
    let driver = CondaDriver::new(found, &host).with_env(
        support::KERNELS_STANDIN_PYTHON,
        python.display().to_string(),
    );
    Some(Sandbox {
        tool,
        _dir: dir,
        base,
        host,
        driver,
    })
}

fn create(s: &Sandbox, prefix: &Path, specs: &[&str]) -> Result<envs::Transaction, EnvError> {
    let req = CondaCreate {
        prefix: prefix.to_path_buf(),
        specs: specs.iter().map(|s| s.to_string()).collect(),
        ..CondaCreate::default()
    };
    s.driver.create(&req, &CancelToken::new(), &NoObserver)
}

both_tools!(locate_finds_root_from_kernels_conda: standin_locate_finds_root_from_kernels_conda, real_locate_finds_root_from_kernels_conda);

fn locate_finds_root_from_kernels_conda(s: Sandbox) {
    if s.tool == Tool::Standin {
        assert_eq!(s.driver.tool().root, s.base.join("root"));
        assert_eq!(s.driver.tool().flavor, envs::CondaFlavor::Conda);
        assert!(s.driver.version().unwrap().starts_with("conda "));
    }
}

both_tools!(create_list_install_remove: standin_create_list_install_remove, real_create_list_install_remove);

fn create_list_install_remove(s: Sandbox) {
    let prefix = s.base.join("root/envs/ml");
    let t = create(&s, &prefix, &["python=3.11", "pip", "ipykernel"]).unwrap();
    assert_eq!(t.prefix.as_deref(), Some(prefix.as_path()));
    let names: Vec<&str> = t.link.iter().map(|p| p.name.as_str()).collect();
    for want in ["python", "pip", "ipykernel"] {
        assert!(names.contains(&want), "{names:?}");
    }
    let env = Environment::inspect(&prefix).unwrap();
    assert_eq!(env.kind, EnvKind::Conda);
    assert_eq!(env.name.as_deref(), Some("ml"));
    assert!(env.python.is_some() && env.has_ipykernel);
    assert!(env.python_version.as_deref().unwrap().starts_with("3.11"));

    let listed = s.driver.list(&prefix, &CancelToken::new()).unwrap();
    assert!(listed.iter().any(|p| p.name == "ipykernel"));

    let info = s.driver.info(&CancelToken::new()).unwrap();
    assert_eq!(
        info.root_prefix.as_deref(),
        Some(s.driver.tool().root.as_path())
    );
    let envs = s.driver.env_list(&CancelToken::new()).unwrap();
    // conda lists a `-p` environment outside its envs_dirs only when it registered it in the
    // user's environments.txt, which depends on its configuration; the stand-in always does.
    if s.tool == Tool::Standin {
        assert!(envs.envs.contains(&prefix), "{envs:?}");
    }

    let t = s
        .driver
        .install(
            &prefix,
            &["numpy".into()],
            &[],
            false,
            &CancelToken::new(),
            &NoObserver,
        )
        .unwrap();
    assert_eq!(t.link.len(), 1);
    let t = s
        .driver
        .install(
            &prefix,
            &["numpy".into()],
            &[],
            false,
            &CancelToken::new(),
            &NoObserver,
        )
        .unwrap();
    assert!(
        t.link.is_empty() && t.message.is_some(),
        "nothing to do: {t:?}"
    );

    // Discovery sees it without running the tool.
    let tools = locate(&s.host, BackendChoice::Auto);
    let found = envs::list_envs(&tools, &s.host, &[]);
    assert!(found
        .iter()
        .any(|e| e.prefix == prefix && e.name.as_deref() == Some("ml")));

    s.driver
        .remove_env(&prefix, &CancelToken::new(), &NoObserver)
        .unwrap();
    assert!(!prefix.exists());
    let err = s
        .driver
        .remove_env(&prefix, &CancelToken::new(), &NoObserver)
        .unwrap_err();
    assert!(
        matches!(err.conda_failure(), Some(CondaFailure::EnvironmentLocationNotFound { location }) if Path::new(location) == prefix),
        "{err:?}"
    );
}

both_tools!(refuses_create_over_existing_env_without_running_the_tool: standin_refuses_create_over_existing_env_without_running_the_tool, real_refuses_create_over_existing_env_without_running_the_tool);

fn refuses_create_over_existing_env_without_running_the_tool(s: Sandbox) {
    let prefix = s.base.join("root/envs/keep");
    create(&s, &prefix, &["python"]).unwrap();
    fs::write(prefix.join("USER_FILE"), "precious").unwrap();
    let history = fs::read_to_string(prefix.join("conda-meta/history")).unwrap();

    let err = create(&s, &prefix, &["python"]).unwrap_err();
    assert!(matches!(err, EnvError::EnvExists { .. }), "{err:?}");
    assert!(err.hint().is_some());
    assert_eq!(
        fs::read_to_string(prefix.join("USER_FILE")).unwrap(),
        "precious"
    );
    // The tool was not started: it would have appended to the history.
    assert_eq!(
        fs::read_to_string(prefix.join("conda-meta/history")).unwrap(),
        history
    );

    // The trap is real: the tool itself, called directly, wipes the env.
    if s.tool == Tool::Standin {
        let direct = ToolCommand::new(&s.driver.tool().exe, &s.host).args(s.driver.create_args(
            &CondaCreate {
                prefix: prefix.clone(),
                ..CondaCreate::default()
            },
        ));
        let out = envs::run(&direct, &CancelToken::new(), &NoObserver).unwrap();
        assert!(out.success(), "{out:?}");
        assert!(
            !prefix.join("USER_FILE").exists(),
            "the stand-in mimics conda's wipe"
        );
    }
}

both_tools!(missing_package_is_typed_and_leaves_nothing: standin_missing_package_is_typed_and_leaves_nothing, real_missing_package_is_typed_and_leaves_nothing);

fn missing_package_is_typed_and_leaves_nothing(s: Sandbox) {
    let prefix = s.base.join("root/envs/broken");
    let err = create(&s, &prefix, &["python", "nonexistent-pkg"]).unwrap_err();
    match err.conda_failure() {
        Some(CondaFailure::PackagesNotFound { packages }) => {
            assert_eq!(packages, &["nonexistent-pkg"])
        }
        other => panic!("{other:?} / {err}"),
    }
    assert!(err.hint().unwrap().contains("channel"));
    assert!(!prefix.exists());
    // The error chain shows the command and its output.
    let details = std::error::Error::source(&err).unwrap().to_string();
    assert!(details.contains("failed with exit status 1"), "{details}");
    // The tool's JSON is read into the failure, not repeated raw.
    assert!(!details.contains("exception_name"), "{details}");
}

both_tools!(frozen_env_is_refused_before_the_tool_runs: standin_frozen_env_is_refused_before_the_tool_runs, real_frozen_env_is_refused_before_the_tool_runs);

fn frozen_env_is_refused_before_the_tool_runs(s: Sandbox) {
    let prefix = s.base.join("root/envs/frozen");
    create(&s, &prefix, &["python"]).unwrap();
    fs::write(
        prefix.join("conda-meta/frozen"),
        r#"{"message": "managed by the image"}"#,
    )
    .unwrap();
    let err = s
        .driver
        .install(
            &prefix,
            &["numpy".into()],
            &[],
            false,
            &CancelToken::new(),
            &NoObserver,
        )
        .unwrap_err();
    assert!(
        matches!(&err, EnvError::Frozen { message: Some(m), .. } if m == "managed by the image"),
        "{err:?}"
    );
    let err = s
        .driver
        .remove_env(&prefix, &CancelToken::new(), &NoObserver)
        .unwrap_err();
    assert!(matches!(err, EnvError::Frozen { .. }));
    assert!(prefix.join("conda-meta/history").is_file());
}

/// Stand-in only: a real conda cannot be made to sleep inside a create.
#[test]
fn standin_interrupt_stops_a_slow_install() {
    let Some(s) = sandbox(Tool::Standin) else {
        return;
    };
    let driver = s
        .driver
        .clone()
        .with_env(support::KERNELS_STANDIN_SLEEP, "30");
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        c2.cancel();
    });
    let req = CondaCreate {
        prefix: s.base.join("root/envs/slow"),
        specs: vec!["python".into()],
        ..CondaCreate::default()
    };
    let err = driver.create(&req, &cancel, &NoObserver).unwrap_err();
    t.join().unwrap();
    assert!(err.is_interrupted(), "{err:?}");
}

both_tools!(backend_create_and_missing: standin_backend_create_and_missing, real_backend_create_and_missing);

fn backend_create_and_missing(s: Sandbox) {
    let mut tools = locate(&s.host, BackendChoice::Only(BackendKind::Conda));
    tools.uv = None;
    // The backend builds its own driver, so the stand-in's python link falls back to the
    // interpreter running it, which is fine here.
    let b = backend_for(BackendKind::Conda, &tools, &s.host).unwrap();
    let req = CreateEnv {
        conda_packages: vec!["numpy".into()],
        ..CreateEnv::new(envs::Prefix::absolute(s.base.join("root/envs/viab")))
    };
    let env = b.create(&req, &CancelToken::new(), &NoProgress).unwrap();
    assert!(env.has_ipykernel);
    let want = PackageSet {
        conda: vec!["numpy>=1".into(), "ipykernel".into(), "pandas".into()],
        pip: vec![],
    };
    assert_eq!(b.missing(&env, &want).conda, vec!["pandas".to_owned()]);
    b.install(
        &env,
        &PackageSet {
            conda: vec!["pandas".into()],
            pip: vec![],
        },
        &[],
        &CancelToken::new(),
        &NoProgress,
    )
    .unwrap();
    assert!(b.missing(&env, &want).is_empty());
    let err = b
        .create(&req, &CancelToken::new(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, EnvError::EnvExists { .. }));
    b.remove(&env.prefix, &CancelToken::new()).unwrap();
    assert!(!env.prefix.exists());
}
