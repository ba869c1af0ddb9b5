//! Differential tests against the real jupyter_client/jupyter_core from PyPI.
//!
//! They need `KERNELS_TEST_PYTHON` (an interpreter with jupyter_client and ipykernel); without
//! it they print why they skip and pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kernelspec::{
    discover, to_python_json, EnvPrefix, JupyterPaths, KernelSpec, PathsInput, Platform,
};
use serde_json::Value;

use super::support::{fixture_dirs, fixtures};

fn test_python() -> Option<PathBuf> {
    match std::env::var_os("KERNELS_TEST_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            crate::skip::skip(
                "KERNELS_TEST_PYTHON is not set (needs jupyter_client + ipykernel; \
                 scripts/test.sh sets it)",
            );
            None
        }
    }
}

/// Run the probe with a clean environment: only `HOME` and `vars`.
fn probe(python: &Path, home: &Path, vars: &BTreeMap<String, String>, args: &[&str]) -> Value {
    let script = fixtures()
        .parent()
        .unwrap()
        .join("support")
        .join("jupyter_probe.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(vars)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn fixtures_load_exactly_when_jupyter_loads_them() {
    let Some(python) = test_python() else { return };
    let home = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = ["valid", "lenient", "broken"]
        .iter()
        .flat_map(|g| fixture_dirs(g))
        .collect();
    let args: Vec<String> = std::iter::once("load".to_owned())
        .chain(dirs.iter().map(|d| d.display().to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let results = probe(&python, home.path(), &BTreeMap::new(), &args);
    let mut compared = 0;
    for r in results.as_array().unwrap() {
        let dir = PathBuf::from(r["dir"].as_str().unwrap());
        let ours = KernelSpec::load(&dir.join("kernel.json"));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match (&ours, r.get("ok")) {
            (Ok(spec), Some(theirs)) => {
                let mine = spec.to_jupyter_json();
                if name == "nan-infinity" {
                    // Documented divergence: NaN/Infinity become null in our model.
                    assert_eq!(theirs["metadata"]["a"], "<NaN>");
                    assert_eq!(mine["metadata"]["a"], Value::Null);
                    assert_eq!(mine["argv"], theirs["argv"]);
                } else {
                    assert_eq!(
                        &mine, theirs,
                        "{name}: spec differs from Jupyter's to_dict()"
                    );
                    assert_eq!(
                        to_python_json(&mine, Some(2)),
                        r["text"].as_str().unwrap(),
                        "{name}: rendering differs from json.dumps(indent=2)"
                    );
                }
            }
            (Err(_), None) => {}
            (Ok(_), None) => panic!("{name}: we load it, Jupyter fails with {}", r["error"]),
            (Err(e), Some(_)) => panic!("{name}: Jupyter loads it, we fail: {e}"),
        }
        compared += 1;
    }
    assert_eq!(compared, dirs.len());
}

fn our_dirs(input: &PathsInput) -> (Vec<String>, Vec<String>) {
    let paths = JupyterPaths::new(input);
    (
        paths
            .data_dirs()
            .iter()
            .map(|d| d.path.display().to_string())
            .collect(),
        paths
            .kernel_dirs()
            .iter()
            .map(|d| d.path.display().to_string())
            .collect(),
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn search_path_matches_jupyter_for_each_variable() {
    let Some(python) = test_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let link_home = root.join("linkhome");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&home, &link_home).unwrap();
    let xdg_config = root.join("xdgconf");
    std::fs::create_dir_all(xdg_config.join("ipython")).unwrap();
    let r = |p: &str| root.join(p).display().to_string();

    type Scenario<'a> = (&'a str, PathBuf, Vec<(&'a str, String)>);
    let scenarios: Vec<Scenario<'_>> = vec![
        ("default", home.clone(), vec![]),
        (
            "jupyter_path",
            home.clone(),
            vec![("JUPYTER_PATH", format!("{}/:{}::", r("a/b"), r("c/d")))],
        ),
        (
            "jupyter_path_system",
            home.clone(),
            vec![("JUPYTER_PATH", "/usr/share/jupyter".into())],
        ),
        (
            "data_dir",
            home.clone(),
            vec![("JUPYTER_DATA_DIR", r("data"))],
        ),
        (
            "xdg_data_home",
            home.clone(),
            vec![("XDG_DATA_HOME", r("xdg"))],
        ),
        (
            "prefer_env_0",
            home.clone(),
            vec![("JUPYTER_PREFER_ENV_PATH", "0".into())],
        ),
        (
            "prefer_env_empty",
            home.clone(),
            vec![("JUPYTER_PREFER_ENV_PATH", String::new())],
        ),
        (
            "prefer_env_no",
            home.clone(),
            vec![("JUPYTER_PREFER_ENV_PATH", "No".into())],
        ),
        (
            "ipythondir",
            home.clone(),
            vec![("IPYTHONDIR", "~/ipy/../ipy2".into())],
        ),
        (
            "xdg_config_ipython",
            home.clone(),
            vec![("XDG_CONFIG_HOME", xdg_config.display().to_string())],
        ),
        (
            "userbase_in_venv",
            home.clone(),
            vec![("PYTHONUSERBASE", r("ub"))],
        ),
        (
            "platform_dirs",
            home.clone(),
            vec![
                ("JUPYTER_PLATFORM_DIRS", "1".into()),
                ("XDG_DATA_DIRS", format!("{}:{}", r("x1"), r("x2"))),
            ],
        ),
        (
            "conda_base_vars",
            home.clone(),
            vec![
                ("CONDA_PREFIX", r("conda")),
                ("CONDA_DEFAULT_ENV", "base".into()),
            ],
        ),
        #[cfg(unix)]
        ("symlinked_home", link_home.clone(), vec![]),
    ];
    for (label, home, vars) in scenarios {
        let vars: BTreeMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let theirs = probe(&python, &home, &vars, &["paths"]);
        let prefix = PathBuf::from(theirs["prefix"].as_str().unwrap());
        let input = PathsInput {
            platform: Platform::current(),
            home: Some(home.clone()),
            env_prefix: Some(EnvPrefix::detect(prefix, &vars)),
            vars,
        };
        let (data, kernels) = our_dirs(&input);
        assert_eq!(data, strings(&theirs["data"]), "{label}: data dirs differ");
        assert_eq!(
            kernels,
            strings(&theirs["kernel_dirs"]),
            "{label}: kernel dirs differ"
        );
    }
}

#[cfg(unix)]
#[test]
fn discovery_matches_jupyter_on_a_real_tree() {
    use std::fs;
    let Some(python) = test_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let home = root.join("home");
    let jp1 = root.join("jp1");
    let jp2 = root.join("jp2");
    let data = root.join("data");
    let spec = |dir: &Path, name: &str, body: &str| {
        let d = dir.join("kernels").join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("kernel.json"), body).unwrap();
    };
    let ok = |display: &str| {
        format!(
            r#"{{"argv": ["python", "-f", "{{connection_file}}"], "display_name": "{display}", "language": "python"}}"#
        )
    };
    spec(&jp1, "dup", &ok("dup in jp1"));
    spec(&jp2, "dup", &ok("dup in jp2"));
    spec(&jp1, "broken-wins", "{not json");
    spec(&data, "broken-wins", &ok("hidden by a broken spec"));
    spec(&data, "MixedCase", &ok("mixed"));
    spec(&data, "bad name", &ok("invalid name"));
    spec(&data, ".hidden", &ok("hidden dir"));
    spec(
        &data,
        "odd-types",
        r#"{"argv": ["python", 1], "env": {"A": 2}, "display_name": "odd"}"#,
    );
    fs::create_dir_all(data.join("kernels").join("no-json")).unwrap();
    fs::write(data.join("kernels").join("plain-file"), "x").unwrap();
    let target = root.join("elsewhere").join("linked");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("kernel.json"), ok("linked")).unwrap();
    std::os::unix::fs::symlink(&target, data.join("kernels").join("linked")).unwrap();
    std::os::unix::fs::symlink(
        data.join("kernels").join("nowhere"),
        data.join("kernels").join("dangling"),
    )
    .unwrap();
    fs::create_dir_all(&home).unwrap();

    let vars: BTreeMap<String, String> = [
        (
            "JUPYTER_PATH",
            format!("{}:{}", jp1.display(), jp2.display()),
        ),
        ("JUPYTER_DATA_DIR", data.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let theirs = probe(&python, &home, &vars, &["discover"]);
    let prefix = PathBuf::from(
        probe(&python, &home, &vars, &["paths"])["prefix"]
            .as_str()
            .unwrap(),
    );
    let input = PathsInput {
        platform: Platform::current(),
        home: Some(home.clone()),
        env_prefix: Some(EnvPrefix::detect(prefix, &vars)),
        vars,
    };
    let found = discover(&JupyterPaths::new(&input));

    // Jupyter's find_kernel_specs(): every winner, loadable or not. (The env prefix of the
    // test Python may hold more kernels; both sides see them.)
    let mut ours: BTreeMap<String, String> = found
        .kernels
        .iter()
        .map(|k| (k.name.clone(), k.resource_dir.display().to_string()))
        .collect();
    let mut jup: BTreeMap<String, String> = theirs["found"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(ours, jup, "find_kernel_specs differs");
    assert!(
        ours.contains_key("bad name")
            && ours.contains_key("mixedcase")
            && ours.contains_key(".hidden")
    );

    // get_all_specs(): only loadable ones, spec JSON equal, in the same order.
    let all = theirs["all"].as_object().unwrap();
    let loaded: Vec<(&str, Value)> = found
        .loaded()
        .map(|(k, s)| {
            (
                k.name.as_str(),
                serde_json::json!({"resource_dir": k.resource_dir, "spec": s.to_jupyter_json()}),
            )
        })
        .collect();
    let names: Vec<&str> = loaded.iter().map(|(n, _)| *n).collect();
    let mut jnames: Vec<&str> = all.keys().map(String::as_str).collect();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    jnames.sort();
    assert_eq!(sorted_names, jnames, "get_all_specs names differ");
    for (name, v) in &loaded {
        assert_eq!(v, &all[*name], "{name}");
    }
    assert!(!names.contains(&"broken-wins"));
    ours.clear();
    jup.clear();
}
