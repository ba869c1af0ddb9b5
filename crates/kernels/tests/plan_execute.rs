//! The add/apply core on a synthetic machine: the planner's decisions, the policy check, and
//! the executor with its journal, driven through a fake `uv` (a shell script that makes
//! venv-shaped directories), so every branch runs in milliseconds without a network. The real
//! tools are exercised by the end-to-end tests of the binary.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use envs::{BackendKind, CancelToken, HostEnv, Language, NoProgress};
use kernels::policy::Policy;
use kernels::{
    execute, plan, BackendChoice, BackendLabel, EnvSource, ExecFailure, InstallMode, KernelRequest,
    KernelStatus, ManagedMeta, PlanError, Snapshot, Step,
};
use kernelspec::{JupyterPaths, KernelName, PathsInput, Platform};

struct Machine {
    dir: tempfile::TempDir,
    host: HostEnv,
    paths: JupyterPaths,
}

/// A fake uv: `uv venv ... PREFIX` makes a venv-shaped PREFIX; `uv pip install --python
/// PY ... PKGS` writes a dist-info per package into PY's env, or fails for `no-such-*`;
/// `slow-*` packages block (for cancellation). Every call is appended to `calls.log`.
const FAKE_UV: &str = r#"#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
if [ "$1" = venv ]; then
  for last; do :; done
  mkdir -p "$last/bin" "$last/lib/python3.12/site-packages"
  : > "$last/bin/python"
  printf 'home = /usr/bin\nimplementation = CPython\nversion_info = 3.12.1\n' > "$last/pyvenv.cfg"
  exit 0
fi
shift 2
py=$2; shift 3
sp="$(dirname "$(dirname "$py")")/lib/python3.12/site-packages"
for pkg; do
  case "$pkg" in
    no-such-*) echo "error: package $pkg not found" >&2; exit 1;;
    slow-*) sleep 30;;
  esac
  name=$(printf '%s' "$pkg" | sed 's/[<>=!~ ].*//')
  mkdir -p "$sp/$name-1.0.dist-info" "$sp/$name/resources"
  printf 'Name: %s\nVersion: 7.4.0\n\n' "$name" > "$sp/$name-1.0.dist-info/METADATA"
done
"#;

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("home");
        fs::create_dir_all(&home).unwrap();
        let bin = root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let uv = bin.join("uv");
        fs::write(&uv, FAKE_UV).unwrap();
        fs::set_permissions(&uv, fs::Permissions::from_mode(0o755)).unwrap();
        let host = HostEnv::from_vars([
            ("HOME", home.display().to_string()),
            ("PATH", "/usr/bin:/bin".to_owned()),
            // No usual conda root (/anaconda, /opt/conda, ...): the machine's is not ours.
            ("KERNELS_CONDA_ROOTS", String::new()),
            ("KERNELS_PYTHON", "/usr/bin/python3".to_owned()),
            ("KERNELS_UV", uv.display().to_string()),
            (
                "KERNELS_SYSTEM_POLICY",
                root.join("none.json").display().to_string(),
            ),
        ]);
        let paths = JupyterPaths::new(&PathsInput::new(Platform::Linux, Some(home.clone())).var(
            "JUPYTER_DATA_DIR",
            &home.join("jupyter").display().to_string(),
        ));
        Machine { dir, host, paths }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    fn snapshot(&self, reqs: &[KernelRequest]) -> Snapshot {
        Snapshot::take_with_policy(
            reqs,
            self.host.clone(),
            self.paths.clone(),
            Policy::from_entries(kernels::policy::builtin_entries()),
        )
    }

    fn calls(&self) -> Vec<String> {
        let log = self.root().join("bin/calls.log");
        let calls = fs::read_to_string(&log)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        let _ = fs::remove_file(log);
        calls
    }

    fn venv_home(&self) -> PathBuf {
        self.root().join("home/.local/share/kernels/envs")
    }

    fn kernels_dir(&self) -> PathBuf {
        self.root().join("home/jupyter/kernels")
    }
}

fn venv_request(name: &str) -> KernelRequest {
    let mut r = KernelRequest::new(KernelName::parse(name).unwrap());
    r.env = EnvSource::New {
        backend: BackendChoice::Only(BackendKind::Venv),
        prefix: None,
    };
    r
}

fn run(
    m: &Machine,
    reqs: &[KernelRequest],
) -> Result<kernels::Outcome, Box<kernels::ExecuteError>> {
    let snap = m.snapshot(reqs);
    let p = plan(reqs, &snap).unwrap();
    p.check_policy(&snap).unwrap();
    execute(&p, &snap, &CancelToken::new(), &NoProgress)
}

#[test]
fn a_new_venv_is_one_create_step_then_the_kernel() {
    let m = Machine::new();
    let reqs = [venv_request("demo")];
    let snap = m.snapshot(&reqs);
    let p = plan(&reqs, &snap).unwrap();
    let k = &p.kernels[0];
    assert_eq!(k.status, KernelStatus::Create);
    assert_eq!(k.env.prefix, m.venv_home().join("demo"));
    assert_eq!(k.env.backend, BackendLabel::UV);
    assert!(k.env.env_created);
    assert_eq!(k.steps.len(), 2);
    let Step::CreateEnv(c) = &k.steps[0] else {
        panic!("{:?}", k.steps[0])
    };
    assert_eq!(c.commands.len(), 2);
    assert_eq!(c.commands[0].argv[1], "venv");
    assert_eq!(c.commands[1].argv.last().unwrap(), "ipykernel");
    let Step::WriteKernel(w) = &k.steps[1] else {
        panic!()
    };
    assert!(w.predicted);
    assert_eq!(w.dir, m.kernels_dir().join("demo"));
    assert!(m.calls().is_empty(), "planning runs nothing");

    let out = execute(&p, &snap, &CancelToken::new(), &NoProgress).unwrap();
    let steps: Vec<&str> = out.executed.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["create_env", "write_kernel"]);
    assert_eq!(m.calls().len(), 2);
    let written = kernelspec::KernelSpec::load(&w.dir.join("kernel.json")).unwrap();
    let meta = ManagedMeta::from_spec(&written).unwrap();
    assert_eq!(meta.env, m.venv_home().join("demo"));
    assert_eq!(meta.backend, BackendLabel::UV);
    assert_eq!(written.env["VIRTUAL_ENV"], meta.env.display().to_string());

    // Satisfied: unchanged, no steps, nothing runs.
    let snap = m.snapshot(&reqs);
    let p = plan(&reqs, &snap).unwrap();
    assert_eq!(p.kernels[0].status, KernelStatus::Unchanged);
    assert!(p.is_noop());
    let out = execute(&p, &snap, &CancelToken::new(), &NoProgress).unwrap();
    assert!(out.executed.is_empty());
    assert!(m.calls().is_empty());
}

#[test]
fn an_existing_env_gets_only_what_is_missing_in_one_call() {
    let m = Machine::new();
    run(&m, &[venv_request("demo")]).unwrap();
    m.calls();
    let mut r = venv_request("demo");
    r.packages.pip = vec!["ipykernel".into(), "numpy".into(), "pandas>=2".into()];
    r.packages.conda = vec!["scipy".into()];
    let snap = m.snapshot(std::slice::from_ref(&r));
    let p = plan(std::slice::from_ref(&r), &snap).unwrap();
    let k = &p.kernels[0];
    assert_eq!(k.status, KernelStatus::Update);
    let Step::InstallPackages(i) = &k.steps[0] else {
        panic!("{:?}", k.steps)
    };
    assert!(i.into_existing);
    assert_eq!(i.pip, ["scipy", "numpy", "pandas>=2"]);
    assert_eq!(i.commands.len(), 1);
    execute(&p, &snap, &CancelToken::new(), &NoProgress).unwrap();
    assert_eq!(m.calls().len(), 1);

    // Installed by name now: a constraint alone does not reach the installer for `add`...
    let snap = m.snapshot(std::slice::from_ref(&r));
    assert!(plan(std::slice::from_ref(&r), &snap).unwrap().is_noop());
    // ...but does for `install` (InstallMode::Requested).
    r.install_mode = InstallMode::Requested;
    let snap = m.snapshot(std::slice::from_ref(&r));
    let p = plan(std::slice::from_ref(&r), &snap).unwrap();
    let Step::InstallPackages(i) = &p.kernels[0].steps[0] else {
        panic!()
    };
    assert_eq!(i.pip, ["pandas>=2"]);
}

#[test]
fn refusals_and_impossible_requests() {
    let m = Machine::new();
    // Something that is not an environment at the target.
    let occupied = m.root().join("occupied");
    fs::create_dir_all(&occupied).unwrap();
    fs::write(occupied.join("notes.txt"), "x").unwrap();
    let mut r = venv_request("x");
    r.env = EnvSource::New {
        backend: BackendChoice::Only(BackendKind::Venv),
        prefix: Some(occupied),
    };
    let snap = m.snapshot(std::slice::from_ref(&r));
    assert!(matches!(
        plan(&[r], &snap),
        Err(PlanError::TargetOccupied { .. })
    ));
    // --existing of nothing.
    let mut r = venv_request("y");
    r.env = EnvSource::Existing {
        path: m.root().join("absent"),
    };
    let snap = m.snapshot(std::slice::from_ref(&r));
    assert!(matches!(
        plan(&[r], &snap),
        Err(PlanError::NoSuchEnvironment { .. })
    ));
    // R without a conda-family tool.
    let mut r = KernelRequest::new(KernelName::parse("r").unwrap());
    r.language = Language::R;
    let snap = m.snapshot(std::slice::from_ref(&r));
    let err = plan(&[r], &snap).unwrap_err();
    assert!(matches!(err, PlanError::RNeedsConda { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains("--existing"));
    // Two requests for one kernel in one plan.
    let reqs = [venv_request("twice"), venv_request("twice")];
    let snap = m.snapshot(&reqs);
    assert!(matches!(
        plan(&reqs, &snap),
        Err(PlanError::Conflict { .. })
    ));
    // A protected kernel of that name exists: planned, but refused by the policy check.
    let dir = m.kernels_dir().join("python38-azureml");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("kernel.json"),
        r#"{"argv": ["python"], "display_name": "Python 3.8 - AzureML", "language": "python"}"#,
    )
    .unwrap();
    let reqs = [venv_request("Python38-AzureML")];
    let snap = m.snapshot(&reqs);
    let p = plan(&reqs, &snap).unwrap();
    let refusal = p.check_policy(&snap).unwrap_err();
    assert!(refusal.to_string().contains("protected"), "{refusal}");
    assert!(m.calls().is_empty());
}

#[test]
fn a_failing_install_removes_the_new_env_and_keeps_the_old_ones() {
    let m = Machine::new();
    run(&m, &[venv_request("old")]).unwrap();
    let old = m.venv_home().join("old");
    let before = fs::read_dir(old.join("lib/python3.12/site-packages"))
        .unwrap()
        .count();
    let mut r = venv_request("new");
    r.packages.pip = vec!["no-such-package".into()];
    let err = run(&m, &[r]).unwrap_err();
    assert!(matches!(err.cause, ExecFailure::Env(_)), "{err:?}");
    // The error's own text is short; what the tool said is in the failed run it carries.
    let text = kernels_error_text(&*err);
    assert!(text.contains("no-such-package"), "{text}");
    let said = tool_summary(&*err).join("\n");
    assert!(said.contains("package no-such-package not found"), "{said}");
    assert!(!m.venv_home().join("new").exists());
    assert!(!m.kernels_dir().join("new").exists());
    assert!(!err.rollback.undone.is_empty());
    assert_eq!(
        fs::read_dir(old.join("lib/python3.12/site-packages"))
            .unwrap()
            .count(),
        before
    );

    // Into the existing env: kept, and said so.
    let mut r = venv_request("old");
    r.packages.pip = vec!["no-such-package".into()];
    let err = run(&m, &[r]).unwrap_err();
    assert!(old.join("pyvenv.cfg").exists());
    assert_eq!(err.rollback.kept.len(), 1, "{:?}", err.rollback);
    assert!(m.kernels_dir().join("old/kernel.json").exists());
}

#[test]
fn one_plan_for_many_kernels_rolls_back_as_one() {
    let m = Machine::new();
    let mut bad = venv_request("b");
    bad.packages.pip = vec!["no-such-package".into()];
    let err = run(&m, &[venv_request("a"), bad]).unwrap_err();
    assert_eq!(err.kernel, "b");
    // `a`'s environment was made by this run: it goes too; no kernelspec was written, as
    // kernelspecs come after every environment step.
    assert!(!m.venv_home().join("a").exists());
    assert!(!m.kernels_dir().join("a").exists());
    assert!(run(&m, &[venv_request("a"), venv_request("b")]).is_ok());
    assert!(m.kernels_dir().join("b/kernel.json").exists());
}

#[test]
fn a_cancelled_run_changes_nothing() {
    let m = Machine::new();
    let reqs = [venv_request("c")];
    let snap = m.snapshot(&reqs);
    let p = plan(&reqs, &snap).unwrap();
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = execute(&p, &snap, &cancel, &NoProgress).unwrap_err();
    assert!(err.is_interrupted());
    assert!(m.calls().is_empty());
    assert!(!m.venv_home().join("c").exists());
}

#[test]
fn a_rerun_finds_the_env_its_kernel_records() {
    let m = Machine::new();
    let mut r = venv_request("far");
    let elsewhere = m.root().join("elsewhere/far");
    r.env = EnvSource::New {
        backend: BackendChoice::Only(BackendKind::Venv),
        prefix: Some(elsewhere.clone()),
    };
    run(&m, &[r]).unwrap();
    // Without --prefix, `auto`: the recorded environment is used, nothing is created.
    let r = KernelRequest::new(KernelName::parse("far").unwrap());
    let snap = m.snapshot(std::slice::from_ref(&r));
    let p = plan(&[r], &snap).unwrap();
    assert_eq!(p.kernels[0].env.prefix, elsewhere);
    assert_eq!(p.kernels[0].status, KernelStatus::Unchanged);
    assert!(
        p.kernels[0].env.env_created,
        "still recorded as made by kernels"
    );
}

#[test]
fn user_variables_and_display_names_reach_the_spec() {
    let m = Machine::new();
    let mut r = venv_request("vars");
    r.display_name = Some("My Env".into());
    r.kernel_env = BTreeMap::from([("MY_VAR".to_owned(), "1".to_owned())]);
    run(&m, &[r.clone()]).unwrap();
    m.calls();
    let spec = kernelspec::KernelSpec::load(&m.kernels_dir().join("vars/kernel.json")).unwrap();
    assert_eq!(spec.display_name, "My Env");
    assert_eq!(spec.env["MY_VAR"], "1");
    let meta = ManagedMeta::from_spec(&spec).unwrap();
    assert!(!meta.activation.vars.contains(&"MY_VAR".to_owned()));
    assert_eq!(meta.user_env(&spec).len(), 1);
    // Changing a variable rewrites the kernelspec and nothing else.
    r.kernel_env.insert("MY_VAR".into(), "2".into());
    let out = run(&m, &[r]).unwrap();
    let steps: Vec<&str> = out.executed.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["write_kernel"]);
    assert!(m.calls().is_empty());
}

/// The summary of the first failed tool run in an error's chain.
fn tool_summary(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut s = Some(e);
    while let Some(c) = s {
        if let Some(run) = envs::ToolRun::find(c) {
            return run.summary();
        }
        s = c.source();
    }
    Vec::new()
}

fn kernels_error_text(e: &dyn std::error::Error) -> String {
    let mut t = e.to_string();
    let mut s = e.source();
    while let Some(c) = s {
        t.push_str(": ");
        t.push_str(&c.to_string());
        s = c.source();
    }
    t
}

/// A conda environment `conda-envs/ml` (history, a python record, `bin/python`) and a request
/// to register it as kernel `ml`.
fn existing_conda_env_ml(m: &Machine) -> (PathBuf, KernelRequest) {
    let prefix = m.root().join("conda-envs/ml");
    fs::create_dir_all(prefix.join("conda-meta")).unwrap();
    fs::write(prefix.join("conda-meta/history"), "").unwrap();
    fs::write(prefix.join("conda-meta/python-3.12.1-h0.json"), "{}").unwrap();
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::write(prefix.join("bin/python"), "").unwrap();
    let mut r = KernelRequest::new(KernelName::parse("ml").unwrap());
    r.env = EnvSource::Existing {
        path: prefix.clone(),
    };
    (prefix, r)
}

#[test]
fn a_conda_env_without_a_conda_tool_gets_ipykernel_from_its_own_pip() {
    let m = Machine::new();
    let (prefix, mut r) = existing_conda_env_ml(&m);
    let snap = m.snapshot(std::slice::from_ref(&r));
    let p = plan(std::slice::from_ref(&r), &snap).unwrap();
    let Step::InstallPackages(i) = &p.kernels[0].steps[0] else {
        panic!("{:?}", p.kernels[0].steps)
    };
    assert!(i.conda.is_empty());
    assert_eq!(i.pip, ["ipykernel"]);
    assert_eq!(
        i.commands[0].argv,
        [
            prefix.join("bin/python").display().to_string(),
            "-m".into(),
            "pip".into(),
            "install".into(),
            "--no-input".into(),
            "ipykernel".into()
        ]
    );
    // A conda package, though, needs a conda-family tool, or the rattler backend when it is
    // built in (which solves in-process: the plan shows no command for it).
    r.packages.conda = vec!["numpy".into()];
    let snap = m.snapshot(std::slice::from_ref(&r));
    let planned = plan(std::slice::from_ref(&r), &snap);
    if envs::RATTLER_BUILT {
        let p = planned.unwrap();
        let Step::InstallPackages(i) = &p.kernels[0].steps[0] else {
            panic!("{:?}", p.kernels[0].steps)
        };
        assert_eq!(i.conda, ["numpy"]);
        assert_eq!(i.conda_backend, Some(BackendKind::Rattler));
        assert!(i
            .commands
            .iter()
            .all(|c| !c.argv.contains(&"numpy".to_owned())));
    } else {
        assert!(matches!(planned, Err(PlanError::CondaToolMissing { .. })));
    }
    // An explicit conda-family backend never becomes rattler.
    r.env = EnvSource::New {
        backend: BackendChoice::Only(BackendKind::Conda),
        prefix: Some(prefix),
    };
    let snap = m.snapshot(std::slice::from_ref(&r));
    assert!(matches!(
        plan(&[r], &snap),
        Err(PlanError::CondaToolMissing { .. })
    ));
}

/// A fake conda: answers `--version`; any other call is recorded in `calls.log` and fails.
const FAKE_CONDA: &str = r#"#!/bin/sh
if [ "$1" = --version ]; then echo "conda 24.11.3"; exit 0; fi
echo "conda $*" >> "$(dirname "$0")/calls.log"
exit 1
"#;

/// The steps a run announces.
#[derive(Default)]
struct Announced(std::sync::Mutex<Vec<String>>);

impl envs::Progress for Announced {
    fn event(&self, event: &envs::Event<'_>) {
        if let envs::Event::Started(step) = event {
            self.0.lock().unwrap().push(format!("{step:?}"));
        }
    }
}

#[test]
fn an_env_frozen_after_planning_is_refused_by_its_conda_step_before_the_tool_runs() {
    let mut m = Machine::new();
    let conda = m.root().join("bin/conda");
    fs::write(&conda, FAKE_CONDA).unwrap();
    fs::set_permissions(&conda, fs::Permissions::from_mode(0o755)).unwrap();
    m.host
        .vars
        .insert("KERNELS_CONDA".into(), conda.display().to_string());
    let (prefix, mut r) = existing_conda_env_ml(&m);
    r.packages.conda = vec!["numpy".into()];
    let snap = m.snapshot(std::slice::from_ref(&r));
    let p = plan(std::slice::from_ref(&r), &snap).unwrap();
    p.check_policy(&snap).unwrap();
    let Step::InstallPackages(i) = &p.kernels[0].steps[0] else {
        panic!("{:?}", p.kernels[0].steps)
    };
    assert!(i.conda.contains(&"numpy".to_owned()), "{:?}", i.conda);
    m.calls();

    // Frozen between the plan and the run: the conda step says it starts, then refuses.
    fs::write(
        prefix.join("conda-meta/frozen"),
        r#"{"message": "image environment"}"#,
    )
    .unwrap();
    let announced = Announced::default();
    let err = execute(&p, &snap, &CancelToken::new(), &announced).unwrap_err();
    assert!(
        matches!(&err.cause, ExecFailure::Env(e) if matches!(
            &**e,
            envs::EnvError::Frozen { prefix: p, message: Some(msg) }
                if p == &prefix && msg == "image environment"
        )),
        "{err:?}"
    );
    let steps = announced.0.lock().unwrap().clone();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(steps[0].starts_with("InstallPackages"), "{steps:?}");
    assert!(m.calls().is_empty());
    assert!(!m.kernels_dir().join("ml").exists());
}
