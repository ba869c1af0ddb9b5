//! Activation of a real venv carrying conda-style activation files, and the check that
//! real jupyter_client expands the baked templates as intended.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use envs::{
    activate, ActivationMethod, CancelToken, EnvKind, Environment, HostEnv, NoObserver, ToolCommand,
};

fn make_venv(python: &Path, prefix: &Path, host: &HostEnv) {
    let cmd = ToolCommand::new(python, host)
        .args(["-m", "venv", "--without-pip"])
        .arg(prefix);
    envs::run_checked(&cmd, &CancelToken::new(), &NoObserver).unwrap();
}

#[test]
fn venv_with_activate_d_script_and_env_vars() {
    let Some(python) = support::real_python() else {
        return support::skip("no python3");
    };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let mut host = support::sandbox_host(&base, &python);
    host.vars
        .insert("LD_LIBRARY_PATH".into(), "/host/lib".into());
    host.vars
        .insert("CONDA_PREFIX".into(), "/must/not/leak".into());
    let host = HostEnv::from_vars(host.vars);
    let prefix = base.join("v");
    make_venv(&python, &prefix, &host);

    let etc = prefix.join("etc/conda");
    fs::create_dir_all(etc.join("activate.d")).unwrap();
    fs::create_dir_all(etc.join("env_vars.d")).unwrap();
    fs::write(
        etc.join("activate.d/zz.sh"),
        "export FROM_SCRIPT=1\nexport LD_LIBRARY_PATH=\"$VIRTUAL_ENV/lib:$LD_LIBRARY_PATH\"\nexport SEEN_PKG_VAR=\"$PKG_VAR\"\nexport PRICE='5$'\n",
    )
    .unwrap();
    fs::write(etc.join("activate.d/aa.sh"), "export ORDER=first\n").unwrap();
    fs::write(
        etc.join("activate.d/bb.sh"),
        "export ORDER=\"$ORDER,second\"\n",
    )
    .unwrap();
    fs::write(etc.join("activate.d/ignored.csh"), "setenv CSH 1\n").unwrap();
    fs::write(etc.join("env_vars.d/pkg.json"), r#"{"pkg_var": "frompkg"}"#).unwrap();

    let env = Environment::inspect(&prefix).unwrap();
    assert_eq!(env.kind, EnvKind::Venv);
    let a = activate(&env, &host).unwrap();
    assert_eq!(a.method, ActivationMethod::Scripts);
    assert_eq!(a.scripts.len(), 3, "{:?}", a.scripts);
    let v = &a.vars;
    let p = prefix.display().to_string();
    assert_eq!(v["PATH"], format!("{p}/bin:${{PATH}}"));
    assert_eq!(v["VIRTUAL_ENV"], p);
    assert_eq!(v["VIRTUAL_ENV_PROMPT"], "v");
    assert_eq!(v["PKG_VAR"], "frompkg");
    assert_eq!(v["FROM_SCRIPT"], "1");
    assert_eq!(
        v["SEEN_PKG_VAR"], "frompkg",
        "scripts run after env_vars are set"
    );
    assert_eq!(v["ORDER"], "first,second", "scripts run in sorted order");
    assert_eq!(
        v["LD_LIBRARY_PATH"],
        format!("{p}/lib:${{LD_LIBRARY_PATH}}")
    );
    assert_eq!(v["PRICE"], "5$$");
    assert!(!v.contains_key("CSH"));
    assert!(
        !v.contains_key("CONDA_PREFIX"),
        "a venv is not a conda env, and host state never leaks"
    );
    assert!(!v.contains_key("PWD") && !v.contains_key("SHLVL"));

    // Expansion as jupyter_client does it (kernelspec's rules, which `kernels run` uses).
    let server: BTreeMap<String, String> = [("PATH".to_owned(), "/usr/bin".to_owned())].into();
    let resolved = kernelspec::substitute_env(&a.vars, &server);
    assert_eq!(resolved["PATH"], format!("{p}/bin:/usr/bin"));
    assert_eq!(resolved["PRICE"], "5$");

    if let Some(test_python) = std::env::var_os(support::KERNELS_TEST_PYTHON) {
        jupyter_client_expands(Path::new(&test_python), &a.vars, &base);
    } else {
        support::skip(
            "the jupyter_client check: KERNELS_TEST_PYTHON is not set (scripts/test.sh sets it)",
        );
    }
}

/// Starts a "kernel" through real jupyter_client that dumps its environment, and checks
/// the baked templates expanded against the launching environment.
fn jupyter_client_expands(python: &Path, baked: &BTreeMap<String, String>, base: &Path) {
    let kdir = base.join("share/jupyter/kernels/probe");
    fs::create_dir_all(&kdir).unwrap();
    let out = base.join("env.json");
    let spec = serde_json::json!({
        "argv": [python, "-c", "import os,json,sys; json.dump(dict(os.environ), open(sys.argv[1],'w'))", out],
        "display_name": "probe",
        "language": "python",
        "env": baked,
    });
    fs::write(
        kdir.join("kernel.json"),
        serde_json::to_string(&spec).unwrap(),
    )
    .unwrap();
    let driver = "import os,sys,time\nfrom jupyter_client.manager import KernelManager\nkm=KernelManager(kernel_name='probe')\nkm.start_kernel()\nfor _ in range(400):\n    if os.path.exists(sys.argv[1]) and os.path.getsize(sys.argv[1]):\n        break\n    time.sleep(0.05)\ntry:\n    km.shutdown_kernel(now=True)\nexcept Exception:\n    pass\n";
    let host = HostEnv::from_vars([
        ("HOME", base.join("home").display().to_string()),
        ("PATH", "/usr/bin:/bin".to_owned()),
        ("LD_LIBRARY_PATH", "/server/lib".to_owned()),
    ]);
    let cmd = ToolCommand::new(python, &host)
        .env(
            "JUPYTER_PATH",
            base.join("share/jupyter").display().to_string(),
        )
        .env("LD_LIBRARY_PATH", "/server/lib")
        .args(["-c", driver])
        .arg(&out);
    envs::run_checked(&cmd, &CancelToken::new(), &NoObserver).unwrap();
    let seen: BTreeMap<String, String> =
        serde_json::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    let prefix = baked["VIRTUAL_ENV"].clone();
    assert_eq!(seen["PATH"], format!("{prefix}/bin:/usr/bin:/bin"));
    assert_eq!(seen["LD_LIBRARY_PATH"], format!("{prefix}/lib:/server/lib"));
    assert_eq!(seen["PRICE"], "5$");
    assert_eq!(seen["FROM_SCRIPT"], "1");
}

#[test]
fn conda_env_without_scripts_is_computed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("opt/envs/t3");
    fs::create_dir_all(p.join("conda-meta")).unwrap();
    fs::write(p.join("conda-meta/history"), "").unwrap();
    fs::write(
        p.join("conda-meta/state"),
        r#"{"env_vars": {"MY_VAR": "hello", "OTHER": "***unset***"}}"#,
    )
    .unwrap();
    let env = Environment::inspect(&p).unwrap();
    let host = HostEnv::from_vars([("PATH", "/usr/bin:/bin")]);
    let a = activate(&env, &host).unwrap();
    assert_eq!(a.method, ActivationMethod::Computed);
    assert_eq!(a.vars["CONDA_DEFAULT_ENV"], "t3");
    assert_eq!(a.vars["CONDA_PROMPT_MODIFIER"], "(t3) ");
    assert_eq!(a.vars["CONDA_SHLVL"], "1");
    assert_eq!(a.vars["MY_VAR"], "hello");
    assert!(!a.vars.contains_key("OTHER"));
}
