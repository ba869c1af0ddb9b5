//! The search path, variable by variable, for all three platforms (pure rules; no real home).

use std::path::{Path, PathBuf};

use kernelspec::{EnvPrefix, JupyterPaths, PathsInput, Platform, Scope};

fn kernel_dirs(input: &PathsInput) -> Vec<(String, Scope)> {
    JupyterPaths::new(input)
        .kernel_dirs()
        .iter()
        .map(|d| (d.path.display().to_string(), d.scope))
        .collect()
}

fn dirs_only(input: &PathsInput) -> Vec<String> {
    kernel_dirs(input).into_iter().map(|(d, _)| d).collect()
}

fn prefix(path: &str, is_env: bool, is_venv: bool) -> Option<EnvPrefix> {
    Some(EnvPrefix {
        path: PathBuf::from(path),
        is_env,
        is_venv,
    })
}

/// A Linux input whose home is a fresh temp dir (so host checks see nothing).
fn linux(home: &Path) -> PathsInput {
    PathsInput::new(Platform::Linux, Some(home.to_owned()))
}

fn on_linux_host() -> bool {
    if Platform::current() != Platform::Linux {
        crate::skip::skip("Linux-host rules (symlink resolution) are checked on Linux only");
        return false;
    }
    true
}

#[test]
fn linux_default_without_env_prefix() {
    if !on_linux_host() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().canonicalize().unwrap();
    let hs = h.display();
    assert_eq!(
        kernel_dirs(&linux(&h)),
        vec![
            (format!("{hs}/.local/share/jupyter/kernels"), Scope::User),
            ("/usr/local/share/jupyter/kernels".into(), Scope::System),
            ("/usr/share/jupyter/kernels".into(), Scope::System),
            (format!("{hs}/.ipython/kernels"), Scope::IPython),
        ]
    );
}

#[test]
fn linux_owned_venv_puts_env_first_and_disables_user_site() {
    if !on_linux_host() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().canonicalize().unwrap();
    let hs = h.display();
    let mut input = linux(&h).var("PYTHONUSERBASE", "/ub");
    input.env_prefix = prefix("/opt/venv", true, true);
    assert_eq!(
        kernel_dirs(&input),
        vec![
            ("/opt/venv/share/jupyter/kernels".into(), Scope::Env),
            (format!("{hs}/.local/share/jupyter/kernels"), Scope::User),
            ("/usr/local/share/jupyter/kernels".into(), Scope::System),
            ("/usr/share/jupyter/kernels".into(), Scope::System),
            (format!("{hs}/.ipython/kernels"), Scope::IPython),
        ]
    );
    // Not owned (or conda base): env dir after the user dirs, user site enabled.
    input.env_prefix = prefix("/opt/conda", false, false);
    let dirs = dirs_only(&input);
    assert_eq!(dirs[0], format!("{hs}/.local/share/jupyter/kernels"));
    assert_eq!(dirs[1], "/ub/share/jupyter/kernels");
    assert_eq!(dirs[2], "/opt/conda/share/jupyter/kernels");
}

#[test]
fn prefer_env_path_truthiness() {
    if !on_linux_host() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().canonicalize().unwrap();
    let user = format!("{}/.local/share/jupyter/kernels", h.display());
    let env = "/p/share/jupyter/kernels".to_owned();
    for (value, is_env, env_first) in [
        ("", false, true),
        ("1", false, true),
        ("yes", false, true),
        ("0", true, false),
        ("no", true, false),
        ("N", true, false),
        ("false", true, false),
        ("OFF", true, false),
        ("0.0", true, false),
    ] {
        let mut input = linux(&h).var("JUPYTER_PREFER_ENV_PATH", value);
        input.env_prefix = prefix("/p", is_env, false);
        let dirs = dirs_only(&input);
        let want = if env_first {
            [&env, &user]
        } else {
            [&user, &env]
        };
        assert_eq!(
            [&dirs[0], &dirs[1]],
            want,
            "JUPYTER_PREFER_ENV_PATH={value:?}"
        );
        assert_eq!(JupyterPaths::new(&input).prefers_env(), env_first);
    }
}

#[test]
fn jupyter_path_entries_come_first_stripped_and_empty_kept() {
    let input = PathsInput::new(Platform::Linux, Some("/nonexistent-home".into()))
        .var("JUPYTER_PATH", "/a/b/:/c/d//:::/e");
    let dirs = kernel_dirs(&input);
    assert_eq!(
        dirs[..5],
        [
            ("/a/b/kernels".to_owned(), Scope::JupyterPath),
            ("/c/d/kernels".to_owned(), Scope::JupyterPath),
            ("kernels".to_owned(), Scope::JupyterPath),
            ("kernels".to_owned(), Scope::JupyterPath),
            ("/e/kernels".to_owned(), Scope::JupyterPath),
        ]
    );
    // An empty JUPYTER_PATH is ignored.
    let input =
        PathsInput::new(Platform::Linux, Some("/nonexistent-home".into())).var("JUPYTER_PATH", "");
    assert_eq!(kernel_dirs(&input)[0].1, Scope::User);
}

#[test]
fn system_dirs_already_listed_are_not_repeated() {
    let mut input = PathsInput::new(Platform::Linux, Some("/nonexistent-home".into()))
        .var("JUPYTER_PATH", "/usr/share/jupyter");
    // A prefix equal to a system dir is not an env dir of its own.
    input.env_prefix = prefix("/usr/local", false, false);
    assert_eq!(
        dirs_only(&input),
        [
            "/usr/share/jupyter/kernels",
            "/nonexistent-home/.local/share/jupyter/kernels",
            "/usr/local/share/jupyter/kernels",
            "/nonexistent-home/.ipython/kernels",
        ]
    );
}

#[test]
fn data_dir_variables() {
    let base = || PathsInput::new(Platform::Linux, Some("/nonexistent-home".into()));
    assert_eq!(
        dirs_only(&base().var("JUPYTER_DATA_DIR", "/d/"))[0],
        "/d/kernels"
    );
    assert_eq!(
        dirs_only(&base().var("XDG_DATA_HOME", "/x"))[0],
        "/x/jupyter/kernels"
    );
    // JUPYTER_DATA_DIR wins over XDG_DATA_HOME; empty values are ignored.
    assert_eq!(
        dirs_only(
            &base()
                .var("XDG_DATA_HOME", "/x")
                .var("JUPYTER_DATA_DIR", "/d")
        )[0],
        "/d/kernels"
    );
    assert_eq!(
        dirs_only(&base().var("JUPYTER_DATA_DIR", "").var("XDG_DATA_HOME", ""))[0],
        "/nonexistent-home/.local/share/jupyter/kernels"
    );
    // With XDG_DATA_HOME moved away, ~/.local/share/jupyter is still the user *site* dir.
    let dirs = kernel_dirs(&base().var("XDG_DATA_HOME", "/x"));
    assert_eq!(
        dirs[1],
        (
            "/nonexistent-home/.local/share/jupyter/kernels".into(),
            Scope::UserSite
        )
    );
    // ... unless the user site is off.
    let dirs = kernel_dirs(
        &base()
            .var("XDG_DATA_HOME", "/x")
            .var("PYTHONNOUSERSITE", "1"),
    );
    assert_eq!(dirs[1].1, Scope::System);
    let dirs = kernel_dirs(&base().var("PYTHONUSERBASE", "/ub"));
    assert_eq!(
        dirs[1],
        ("/ub/share/jupyter/kernels".into(), Scope::UserSite)
    );
}

#[test]
fn ipython_dir_is_last() {
    let base = || PathsInput::new(Platform::Linux, Some("/nonexistent-home".into()));
    let last = |i: &PathsInput| kernel_dirs(i).pop().unwrap();
    assert_eq!(
        last(&base()),
        ("/nonexistent-home/.ipython/kernels".into(), Scope::IPython)
    );
    assert_eq!(
        last(&base().var("IPYTHONDIR", "/ip/./x/../y/")).0,
        "/ip/y/kernels"
    );
    assert_eq!(
        last(&base().var("IPYTHONDIR", "~/ipy")).0,
        "/nonexistent-home/ipy/kernels"
    );
    assert_eq!(last(&base().var("IPYTHONDIR", "")).0, "./kernels");
}

#[test]
fn ipython_dir_under_xdg_config_when_writable_and_no_dot_ipython() {
    if !on_linux_host() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().canonicalize().unwrap();
    let xdg = h.join("conf");
    std::fs::create_dir_all(xdg.join("ipython")).unwrap();
    let input = linux(&h).var("XDG_CONFIG_HOME", &xdg.display().to_string());
    assert_eq!(
        dirs_only(&input).pop().unwrap(),
        format!("{}/ipython/kernels", xdg.display())
    );
    std::fs::create_dir(h.join(".ipython")).unwrap();
    assert_eq!(
        dirs_only(&input).pop().unwrap(),
        format!("{}/.ipython/kernels", h.display())
    );
}

#[cfg(unix)]
#[test]
fn symlinked_home_is_resolved_for_the_data_dir_only() {
    if !on_linux_host() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().canonicalize().unwrap().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = tmp.path().canonicalize().unwrap().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let dirs = kernel_dirs(&linux(&link));
    assert_eq!(
        dirs[0],
        (
            format!("{}/.local/share/jupyter/kernels", real.display()),
            Scope::User
        )
    );
    // The user base uses the unresolved home, as Python's site module does.
    assert_eq!(
        dirs[1],
        (
            format!("{}/.local/share/jupyter/kernels", link.display()),
            Scope::UserSite
        )
    );
}

#[test]
fn macos_rules() {
    let mut input =
        PathsInput::new(Platform::MacOs, Some("/Users/u".into())).var("XDG_DATA_HOME", "/ignored");
    input.env_prefix = prefix("/opt/homebrew/Caskroom/venv", true, true);
    assert_eq!(
        dirs_only(&input),
        [
            "/opt/homebrew/Caskroom/venv/share/jupyter/kernels",
            "/Users/u/Library/Jupyter/kernels",
            "/usr/local/share/jupyter/kernels",
            "/usr/share/jupyter/kernels",
            "/Users/u/.ipython/kernels",
        ]
    );
    let p = JupyterPaths::new(&input);
    assert_eq!(
        p.user_kernel_dir(),
        Path::new("/Users/u/Library/Jupyter/kernels")
    );
    assert_eq!(
        p.system_kernel_dir(),
        Path::new("/usr/local/share/jupyter/kernels")
    );
    // platformdirs mode.
    let input =
        PathsInput::new(Platform::MacOs, Some("/Users/u".into())).var("JUPYTER_PLATFORM_DIRS", "1");
    assert_eq!(
        dirs_only(&input),
        [
            "/Users/u/Library/Application Support/Jupyter/kernels",
            "/Users/u/.local/share/jupyter/kernels",
            "/Library/Application Support/Jupyter/kernels",
            "/Users/u/.ipython/kernels",
        ]
    );
}

#[test]
fn windows_rules() {
    let home = Some(PathBuf::from("C:\\Users\\u"));
    let base = || {
        let mut i = PathsInput::new(Platform::Windows, home.clone())
            .var("APPDATA", "C:\\Users\\u\\AppData\\Roaming")
            .var("PROGRAMDATA", "C:\\ProgramData");
        i.env_prefix = prefix("C:\\Python311", false, false);
        i
    };
    assert_eq!(
        kernel_dirs(&base()),
        vec![
            (
                "C:\\Users\\u\\AppData\\Roaming\\jupyter\\kernels".into(),
                Scope::User
            ),
            (
                "C:\\Users\\u\\AppData\\Roaming\\Python\\share\\jupyter\\kernels".into(),
                Scope::UserSite
            ),
            ("C:\\Python311\\share\\jupyter\\kernels".into(), Scope::Env),
            ("C:\\Users\\u\\.ipython\\kernels".into(), Scope::IPython),
        ]
    );
    let p = JupyterPaths::new(&base());
    // Without JUPYTER_USE_PROGRAMDATA the system dir is the env dir.
    assert_eq!(
        p.system_kernel_dir(),
        Path::new("C:\\Python311\\share\\jupyter\\kernels")
    );

    let with_pd = base()
        .var("JUPYTER_USE_PROGRAMDATA", "1")
        .var("JUPYTER_PATH", "D:\\jp\\;E:\\x");
    assert_eq!(
        kernel_dirs(&with_pd),
        vec![
            ("D:\\jp\\kernels".into(), Scope::JupyterPath),
            ("E:\\x\\kernels".into(), Scope::JupyterPath),
            (
                "C:\\Users\\u\\AppData\\Roaming\\jupyter\\kernels".into(),
                Scope::User
            ),
            (
                "C:\\Users\\u\\AppData\\Roaming\\Python\\share\\jupyter\\kernels".into(),
                Scope::UserSite
            ),
            ("C:\\Python311\\share\\jupyter\\kernels".into(), Scope::Env),
            ("C:\\ProgramData\\jupyter\\kernels".into(), Scope::System),
            ("C:\\Users\\u\\.ipython\\kernels".into(), Scope::IPython),
        ]
    );
    assert_eq!(
        JupyterPaths::new(&with_pd).system_kernel_dir(),
        Path::new("C:\\ProgramData\\jupyter\\kernels")
    );

    // Env preferred: the env group (== system) moves before the user group.
    let mut venv = base();
    venv.env_prefix = prefix("C:\\proj\\.venv", true, true);
    assert_eq!(
        dirs_only(&venv),
        [
            "C:\\proj\\.venv\\share\\jupyter\\kernels",
            "C:\\Users\\u\\AppData\\Roaming\\jupyter\\kernels",
            "C:\\Users\\u\\.ipython\\kernels",
        ]
    );

    // No APPDATA: <config dir>\data.
    let mut no_appdata =
        PathsInput::new(Platform::Windows, home.clone()).var("PYTHONNOUSERSITE", "1");
    assert_eq!(
        dirs_only(&no_appdata)[0],
        "C:\\Users\\u\\.jupyter\\data\\kernels"
    );
    no_appdata = no_appdata.var("JUPYTER_CONFIG_DIR", "D:\\cfg");
    assert_eq!(dirs_only(&no_appdata)[0], "D:\\cfg\\data\\kernels");

    // platformdirs mode.
    let pd = PathsInput::new(Platform::Windows, home)
        .var("JUPYTER_PLATFORM_DIRS", "1")
        .var("LOCALAPPDATA", "C:\\Users\\u\\AppData\\Local")
        .var("PYTHONNOUSERSITE", "1");
    assert_eq!(
        dirs_only(&pd)[0],
        "C:\\Users\\u\\AppData\\Local\\Jupyter\\kernels"
    );
}

#[test]
fn linux_platform_dirs_mode() {
    let input = PathsInput::new(Platform::Linux, Some("/nonexistent-home".into()))
        .var("JUPYTER_PLATFORM_DIRS", "true")
        .var("XDG_DATA_DIRS", "/x1:/x2")
        .var("PYTHONNOUSERSITE", "1");
    assert_eq!(
        dirs_only(&input),
        [
            "/nonexistent-home/.local/share/jupyter/kernels",
            "/x1/jupyter/kernels",
            "/x2/jupyter/kernels",
            "/nonexistent-home/.ipython/kernels",
        ]
    );
}

#[test]
fn install_targets_and_list_order() {
    let mut input = PathsInput::new(Platform::Linux, Some("/nonexistent-home".into()))
        .var("JUPYTER_PATH", "/tmp/a");
    input.env_prefix = prefix("/opt/venv", true, true);
    let p = JupyterPaths::new(&input);
    assert_eq!(
        p.user_kernel_dir(),
        Path::new("/nonexistent-home/.local/share/jupyter/kernels")
    );
    assert_eq!(
        p.system_kernel_dir(),
        Path::new("/usr/local/share/jupyter/kernels")
    );
    assert_eq!(
        JupyterPaths::prefix_kernel_dir(Path::new("/opt/venv")),
        Path::new("/opt/venv/share/jupyter/kernels")
    );
    assert!(p.contains_kernel_dir(Path::new("/opt/venv/share/jupyter/kernels")));
    assert!(!p.contains_kernel_dir(Path::new("/srv/pfx/share/jupyter/kernels")));
    assert_eq!(p.list_order_index(Path::new("/tmp/a/kernels/x")), Some(0));
    // Whole components: /tmp/ab is not inside /tmp/a.
    assert_eq!(p.list_order_index(Path::new("/tmp/ab/kernels/x")), None);
    assert_eq!(
        p.list_order_index(Path::new("/opt/venv/share/jupyter/kernels/python3")),
        Some(1)
    );
    assert_eq!(
        p.list_order_index(Path::new("/nonexistent-home/.ipython/kernels/x")),
        None
    );
}

#[test]
fn env_prefix_detection() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    std::fs::create_dir(&venv).unwrap();
    std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    let vars = Default::default();
    let e = EnvPrefix::detect(venv.clone(), &vars);
    assert!(e.is_venv && e.is_env, "{e:?}");
    let conda = tmp.path().join("conda").join("envs").join("x");
    std::fs::create_dir_all(&conda).unwrap();
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("CONDA_PREFIX".to_owned(), conda.display().to_string());
    vars.insert("CONDA_DEFAULT_ENV".to_owned(), "x".to_owned());
    let e = EnvPrefix::detect(conda.clone(), &vars);
    assert!(!e.is_venv && e.is_env);
    vars.insert("CONDA_DEFAULT_ENV".to_owned(), "base".to_owned());
    assert!(!EnvPrefix::detect(conda.clone(), &vars).is_env);
    vars.remove("CONDA_DEFAULT_ENV");
    assert!(
        !EnvPrefix::detect(conda, &vars).is_env,
        "CONDA_DEFAULT_ENV defaults to base"
    );
}
