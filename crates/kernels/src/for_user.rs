//! `apply --for-user USER`: run as root, install into USER's home, owned by USER — the image
//! build and startup script case, without a `sudo -u USER -i` wrapper.
//!
//! How it works:
//!
//! 1. [`find_user`] resolves USER (a name, or a numeric uid) from `/etc/passwd`, falling back
//!    to `getent passwd` for directory-service accounts. Only root may use it
//!    ([`require_root`]).
//! 2. [`host_for`] turns the invoking (root's) environment snapshot into USER's: `HOME`,
//!    `USER` and `LOGNAME` are USER's; the per-user locations of the invoker (`XDG_*_HOME`,
//!    `XDG_RUNTIME_DIR`, `JUPYTER_DATA_DIR`, `JUPYTER_CONFIG_DIR`, `JUPYTER_RUNTIME_DIR`,
//!    `IPYTHONDIR`, `PYTHONUSERBASE`) and root's shell activation (`VIRTUAL_ENV`,
//!    `CONDA_PREFIX`, `CONDA_DEFAULT_ENV`) are dropped, as are tool locations that point into
//!    the invoker's home (`CONDA_ENVS_PATH`, `CONDA_ENVS_DIRS`, `CONDARC`, `MAMBA_ROOT_PREFIX`,
//!    `UV_CACHE_DIR`, `PIP_CACHE_DIR`). Everything else (PATH, proxies, indexes,
//!    `JUPYTER_PATH`, `KERNELS_*`) is kept. [`paths_input_for`] builds the Jupyter search path
//!    input from that snapshot. The whole run — plan, environments, kernelspecs, lock, policy —
//!    then works in USER's home exactly as if USER had run it.
//! 3. Root does no file work in USER's home at all: [`spawn_as`] starts the run again as USER
//!    (uid, primary gid and supplementary groups from the account database, all three of
//!    real, effective and saved ids, so the child cannot regain root) with the snapshot of
//!    step 2 as its whole environment. Every file the run writes — kernelspecs, environments,
//!    the lock, the journal, the installers' caches, conda's `environments.txt` — is therefore
//!    USER's, made with USER's permissions: a symlink USER planted (the kernels dir pointing
//!    at `/etc`, the lock at `/etc/shadow`, the state dir at `/etc/kernels`) leads only where
//!    USER could write anyway. Nothing is chowned afterwards.
//!
//! The ids are dropped on a short-lived thread of their own (Linux credentials are per
//! thread; the raw `setresuid`-family calls change only the calling one), which spawns the
//! child and ends, so the rest of the process stays root and no `unsafe` pre-exec hook is
//! needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use envs::HostEnv;
use kernelspec::{EnvPrefix, PathsInput, Platform};

/// The account database read first.
pub const PASSWD_FILE: &str = "/etc/passwd";

/// The group database (supplementary groups).
pub const GROUP_FILE: &str = "/etc/group";

/// Variables `--for-user` rewrites or drops in the snapshot (it never reads the process
/// environment itself; see the module docs for the rules).
pub mod vars {
    /// The home directory; set to USER's.
    pub const HOME: &str = "HOME";
    /// The user name; set to USER's.
    pub const USER: &str = "USER";
    /// The login name; set to USER's.
    pub const LOGNAME: &str = "LOGNAME";

    /// The invoker's per-user locations: always dropped, so USER's defaults apply.
    pub const PER_USER: &[&str] = &[
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "PYTHONUSERBASE",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
    ];

    /// Tool locations dropped only when they point into the invoker's home.
    pub const IF_IN_INVOKER_HOME: &[&str] = &[
        "CONDA_ENVS_PATH",
        "CONDA_ENVS_DIRS",
        "CONDARC",
        "MAMBA_ROOT_PREFIX",
        "UV_CACHE_DIR",
        "PIP_CACHE_DIR",
    ];
}

/// An account, as `/etc/passwd` describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserAccount {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
}

/// Why `--for-user` cannot be used or failed.
#[derive(Debug, thiserror::Error)]
pub enum ForUserError {
    /// Not running as root.
    #[error("--for-user needs root (running as uid {uid})")]
    NotRoot {
        /// The effective uid.
        uid: u32,
    },
    /// No such account.
    #[error("no user named {name:?} (looked in {PASSWD_FILE} and `getent passwd`)")]
    NoSuchUser {
        /// What was asked for.
        name: String,
    },
    /// The account has no usable home.
    #[error("user {name} has no usable home directory ({})", .home.display())]
    NoHome {
        /// The user.
        name: String,
        /// What the account database says.
        home: PathBuf,
    },
    /// The account database could not be read.
    #[error("reading {}", .path.display())]
    ReadPasswd {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuses unless the effective user is root.
pub fn require_root() -> Result<(), ForUserError> {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        Ok(())
    } else {
        Err(ForUserError::NotRoot { uid: uid.as_raw() })
    }
}

/// Parses passwd-format text (`name:password:uid:gid:gecos:home:shell`). Comments, blank
/// lines, NIS `+`/`-` entries and malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<UserAccount> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with('+') && !l.starts_with('-'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 7 || fields[0].is_empty() {
                return None;
            }
            Some(UserAccount {
                name: fields[0].to_string(),
                uid: fields[2].trim().parse().ok()?,
                gid: fields[3].trim().parse().ok()?,
                home: PathBuf::from(fields[5]),
            })
        })
        .collect()
}

/// The account named `user` in passwd-format `text`; an all-digits `user` also matches a uid
/// when no account has that name.
pub fn lookup(user: &str, text: &str) -> Option<UserAccount> {
    let accounts = parse_passwd(text);
    if let Some(a) = accounts.iter().find(|a| a.name == user) {
        return Some(a.clone());
    }
    let uid: u32 = user.parse().ok()?;
    accounts.into_iter().find(|a| a.uid == uid)
}

/// Resolves `user` from [`PASSWD_FILE`], then `getent passwd USER` (LDAP, NIS, sssd
/// accounts), and checks the home is an absolute path other than `/`.
pub fn find_user(
    user: &str,
    host: &HostEnv,
    cancel: &envs::CancelToken,
) -> Result<UserAccount, ForUserError> {
    find_user_in(Path::new(PASSWD_FILE), user, host, cancel)
}

/// [`find_user`] with another passwd file (tests).
pub fn find_user_in(
    passwd: &Path,
    user: &str,
    host: &HostEnv,
    cancel: &envs::CancelToken,
) -> Result<UserAccount, ForUserError> {
    let no_such = || ForUserError::NoSuchUser {
        name: user.to_string(),
    };
    if user.is_empty() || user.contains(':') || user.contains('\n') || user.starts_with('-') {
        return Err(no_such());
    }
    let text = match std::fs::read_to_string(passwd) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ForUserError::ReadPasswd {
                path: passwd.to_path_buf(),
                source,
            })
        }
    };
    let account = match lookup(user, &text) {
        Some(a) => a,
        None => getent(user, host, cancel).ok_or_else(no_such)?,
    };
    if !account.home.is_absolute() || account.home == Path::new("/") {
        return Err(ForUserError::NoHome {
            name: account.name,
            home: account.home,
        });
    }
    Ok(account)
}

fn getent(user: &str, host: &HostEnv, cancel: &envs::CancelToken) -> Option<UserAccount> {
    let program = envs::process::find_on_path("getent", &host.path)?;
    let cmd = envs::ToolCommand::new(program, host)
        .args(["passwd", user])
        .timeout(std::time::Duration::from_secs(10));
    let out = envs::run(&cmd, cancel, &envs::NoObserver).ok()?;
    if !out.success() {
        return None;
    }
    lookup(user, &out.stdout)
}

fn under(path: &str, home: Option<&Path>) -> bool {
    home.is_some_and(|h| h != Path::new("/") && Path::new(path).starts_with(h))
}

/// USER's view of the invoking snapshot (see the module docs for what changes).
pub fn host_for(user: &UserAccount, host: &HostEnv) -> HostEnv {
    let invoker_home = host.home.as_deref();
    let mut vars: BTreeMap<String, String> = host
        .vars
        .iter()
        .filter(|(k, _)| !vars::PER_USER.contains(&k.as_str()))
        .filter(|(k, v)| {
            !(vars::IF_IN_INVOKER_HOME.contains(&k.as_str())
                && v.split(':').any(|p| under(p, invoker_home)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.insert(vars::HOME.into(), user.home.display().to_string());
    vars.insert(vars::USER.into(), user.name.clone());
    vars.insert(vars::LOGNAME.into(), user.name.clone());
    HostEnv::from_vars(vars)
}

/// The Jupyter search-path input of a snapshot made by [`host_for`]: the same rules as
/// [`PathsInput::from_process_env`], applied to the snapshot instead of the process.
pub fn paths_input_for(host: &HostEnv) -> PathsInput {
    let vars: BTreeMap<String, String> = kernelspec::vars::SNAPSHOT_VARS
        .iter()
        .filter_map(|k| host.vars.get(*k).map(|v| ((*k).to_string(), v.clone())))
        .collect();
    let pick = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
    let env_prefix = pick(kernelspec::vars::KERNELS_JUPYTER_PREFIX)
        .or_else(|| pick(kernelspec::vars::VIRTUAL_ENV))
        .or_else(|| pick(kernelspec::vars::CONDA_PREFIX))
        .map(|p| EnvPrefix::detect(PathBuf::from(p), &vars));
    PathsInput {
        platform: Platform::current(),
        home: host.home.clone(),
        vars,
        env_prefix,
    }
}

/// The groups of `user`: the primary group, then every group of [`GROUP_FILE`] that lists
/// the user as a member (sorted, without duplicates).
pub fn groups_of(user: &UserAccount) -> Vec<u32> {
    let text = kernelspec::bounded::read_regular(Path::new(GROUP_FILE), 16 * 1024 * 1024)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    groups_in(user, &text)
}

/// [`groups_of`] for group-format `text` (`name:password:gid:member,member`).
pub fn groups_in(user: &UserAccount, text: &str) -> Vec<u32> {
    let mut out = vec![user.gid];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 {
            continue;
        }
        let Ok(gid) = fields[2].trim().parse::<u32>() else {
            continue;
        };
        if fields[3].split(',').any(|m| m.trim() == user.name) && !out.contains(&gid) {
            out.push(gid);
        }
    }
    out[1..].sort_unstable();
    out
}

/// Starts `cmd` as `user`: real, effective and saved uid and gid are the user's, and the
/// supplementary groups are `groups` (see the module docs for how). The caller sets the
/// program, arguments, environment, working directory and stdio on `cmd` first.
#[cfg(target_os = "linux")]
pub fn spawn_as(
    user: &UserAccount,
    groups: &[u32],
    mut cmd: std::process::Command,
) -> std::io::Result<std::process::Child> {
    use rustix::fs::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    let (uid, gid) = (Uid::from_raw(user.uid), Gid::from_raw(user.gid));
    let groups: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // Groups and gid first: once the uid is dropped they cannot be changed.
                set_thread_groups(&groups)?;
                set_thread_res_gid(gid, gid, gid)?;
                set_thread_res_uid(uid, uid, uid)?;
                cmd.spawn()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawning thread panicked")))
    })
}

/// Waits for a child started by [`spawn_as`] in its own process group, forwarding one
/// SIGTERM to that group when `cancel` is set (the child then rolls back and exits on its
/// own; a second signal to this process ends it at once, as everywhere).
pub fn wait_forwarding(
    child: &mut std::process::Child,
    cancel: &envs::CancelToken,
) -> std::io::Result<std::process::ExitStatus> {
    let mut forwarded = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if cancel.is_cancelled() && !forwarded {
            forwarded = true;
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `--for-user` needs per-thread credentials, which only Linux has.
#[cfg(not(target_os = "linux"))]
pub fn spawn_as(
    _user: &UserAccount,
    _groups: &[u32],
    _cmd: std::process::Command,
) -> std::io::Result<std::process::Child> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "--for-user is supported on Linux only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

azureuser:x:1000:1000:Azure User,,,:/home/azureuser:/bin/bash
broken:x:notanumber:1::/home/broken:/bin/sh
short:x:5
+nisuser::::::
1001:x:1002:1002::/home/numeric:/bin/sh
";

    #[test]
    fn passwd_lines_are_parsed_and_bad_ones_skipped() {
        let accounts = parse_passwd(PASSWD);
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["root", "daemon", "azureuser", "1001"]);
        let a = lookup("azureuser", PASSWD).unwrap();
        assert_eq!((a.uid, a.gid), (1000, 1000));
        assert_eq!(a.home, PathBuf::from("/home/azureuser"));
        // A name wins over a uid; a uid matches when no name does.
        assert_eq!(
            lookup("1001", PASSWD).unwrap().home,
            PathBuf::from("/home/numeric")
        );
        assert_eq!(lookup("1000", PASSWD).unwrap().name, "azureuser");
        assert!(lookup("nobody-here", PASSWD).is_none());
        assert!(lookup("broken", PASSWD).is_none());
    }

    #[test]
    fn missing_users_and_bad_homes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("passwd");
        std::fs::write(
            &file,
            format!("{PASSWD}rootless:x:7:7::/:/bin/sh\nrel:x:8:8::home:/bin/sh\n"),
        )
        .unwrap();
        // No PATH: the getent fallback finds nothing to run.
        let host = HostEnv::from_vars([("HOME", "/root")]);
        let cancel = envs::CancelToken::new();
        assert!(matches!(
            find_user_in(&file, "ghost", &host, &cancel),
            Err(ForUserError::NoSuchUser { .. })
        ));
        for bad in ["", "a:b", "-x"] {
            assert!(find_user_in(&file, bad, &host, &cancel).is_err(), "{bad:?}");
        }
        assert!(matches!(
            find_user_in(&file, "rootless", &host, &cancel),
            Err(ForUserError::NoHome { .. })
        ));
        assert!(matches!(
            find_user_in(&file, "rel", &host, &cancel),
            Err(ForUserError::NoHome { .. })
        ));
        assert_eq!(
            find_user_in(&file, "azureuser", &host, &cancel)
                .unwrap()
                .uid,
            1000
        );
    }

    #[test]
    fn the_snapshot_becomes_the_users() {
        let user = lookup("azureuser", PASSWD).unwrap();
        let root = HostEnv::from_vars([
            ("HOME", "/root"),
            ("USER", "root"),
            ("PATH", "/usr/local/bin:/usr/bin"),
            ("XDG_DATA_HOME", "/root/.local/share"),
            ("JUPYTER_DATA_DIR", "/root/jd"),
            ("JUPYTER_PATH", "/opt/jupyter"),
            ("VIRTUAL_ENV", "/root/venv"),
            ("UV_CACHE_DIR", "/root/.cache/uv"),
            ("PIP_CACHE_DIR", "/var/cache/pip"),
            ("CONDA_ENVS_PATH", "/opt/envs:/root/envs"),
            ("HTTPS_PROXY", "http://proxy:3128"),
        ]);
        let h = host_for(&user, &root);
        assert_eq!(h.home.as_deref(), Some(Path::new("/home/azureuser")));
        assert_eq!(h.get("USER"), Some("azureuser"));
        assert_eq!(h.get("LOGNAME"), Some("azureuser"));
        for gone in [
            "XDG_DATA_HOME",
            "JUPYTER_DATA_DIR",
            "VIRTUAL_ENV",
            "UV_CACHE_DIR",
            "CONDA_ENVS_PATH",
        ] {
            assert_eq!(h.get(gone), None, "{gone}");
        }
        for kept in ["JUPYTER_PATH", "PIP_CACHE_DIR", "HTTPS_PROXY"] {
            assert!(h.get(kept).is_some(), "{kept}");
        }
        assert_eq!(
            h.path,
            vec![PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")]
        );

        let input = paths_input_for(&h);
        assert_eq!(input.home.as_deref(), Some(Path::new("/home/azureuser")));
        let paths = kernelspec::JupyterPaths::new(&input);
        assert_eq!(
            paths.user_kernel_dir(),
            PathBuf::from("/home/azureuser/.local/share/jupyter/kernels")
        );
        assert_eq!(
            envs::venv_home(&h),
            PathBuf::from("/home/azureuser/.local/share/kernels/envs")
        );
    }

    #[test]
    fn groups_are_the_primary_one_and_memberships() {
        let user = lookup("azureuser", PASSWD).unwrap();
        let groups = "\
root:x:0:
adm:x:4:syslog,azureuser
# comment
docker:x:999:azureuser
azureuser:x:1000:
users:x:100:someone,azureuser2
bad:x:nan:azureuser
short:x
";
        assert_eq!(groups_in(&user, groups), vec![1000, 4, 999]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn spawn_as_drops_every_id_in_the_child_only() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let user = UserAccount {
            name: "nobody-ish".into(),
            uid: 65534,
            gid: 65534,
            home: PathBuf::from("/"),
        };
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            "id -u; id -g; id -G; cat /proc/self/status | grep -E '^(Uid|Gid):'",
        ])
        .stdout(std::process::Stdio::piped());
        let child = spawn_as(&user, &[65534, 4242], cmd).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "65534", "{text}");
        assert_eq!(lines[1], "65534", "{text}");
        assert_eq!(lines[2], "65534 4242", "{text}");
        // Real, effective, saved and filesystem ids are all the user's.
        assert!(
            lines[3].split_whitespace().skip(1).all(|v| v == "65534"),
            "{text}"
        );
        assert!(
            lines[4].split_whitespace().skip(1).all(|v| v == "65534"),
            "{text}"
        );
        // This process (and this thread) is still root.
        assert!(rustix::process::geteuid().is_root());
    }
}
