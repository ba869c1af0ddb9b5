//! Jupyter's per-platform path rules as pure functions over strings.
//!
//! Everything here works on path *strings* with the target platform's separators, so the macOS
//! and Windows rules are unit-tested on any host. The functions mirror jupyter_core 5.9
//! (`paths.py`), platformdirs 4.x, Python's `site` and IPython's `paths.py`; filesystem probes
//! (symlink resolution, "is this dir writable") are done by the caller and passed in.

use std::collections::BTreeMap;

use crate::vars;

/// The operating system whose rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Linux and every other Unix except macOS (XDG rules).
    Linux,
    /// macOS (`~/Library/Jupyter`).
    MacOs,
    /// Windows (`%APPDATA%\jupyter`).
    Windows,
}

impl Platform {
    /// The platform this program was built for.
    pub fn current() -> Platform {
        if cfg!(windows) {
            Platform::Windows
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Linux
        }
    }

    /// Separator of path lists such as `JUPYTER_PATH` (`os.pathsep`).
    pub fn list_separator(self) -> char {
        match self {
            Platform::Windows => ';',
            _ => ':',
        }
    }

    /// The directory separator (`os.sep`).
    pub fn separator(self) -> char {
        match self {
            Platform::Windows => '\\',
            _ => '/',
        }
    }

    fn is_sep(self, c: char) -> bool {
        c == '/' || (self == Platform::Windows && c == '\\')
    }

    fn is_absolute(self, s: &str) -> bool {
        match self {
            Platform::Windows => {
                let b = s.as_bytes();
                s.starts_with('\\')
                    || s.starts_with('/')
                    || (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic())
            }
            _ => s.starts_with('/'),
        }
    }
}

/// `os.path.join(base, part)`: an absolute `part` replaces `base`; an empty `base` gives `part`.
pub(crate) fn pjoin(p: Platform, base: &str, part: &str) -> String {
    if base.is_empty() || p.is_absolute(part) {
        return part.to_owned();
    }
    if base.ends_with(|c| p.is_sep(c)) {
        format!("{base}{part}")
    } else {
        format!("{base}{}{part}", p.separator())
    }
}

/// `str(pathlib.Path(*parts))`: joined, repeated separators and `.` components removed, no
/// trailing separator (and `/` turned into `\` on Windows).
pub(crate) fn pathlib_join(p: Platform, parts: &[&str]) -> String {
    let mut joined = String::new();
    for part in parts {
        joined = pjoin(p, &joined, part);
    }
    let sep = p.separator();
    let absolute = joined.starts_with(|c| p.is_sep(c));
    let mut out = String::new();
    let mut first = true;
    for comp in joined.split(|c| p.is_sep(c)) {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if !first {
            out.push(sep);
        }
        out.push_str(comp);
        first = false;
    }
    if absolute {
        out.insert(0, sep);
    }
    if p == Platform::Windows && out.len() == 2 && out.ends_with(':') {
        out.push(sep);
    }
    if out.is_empty() {
        ".".to_owned()
    } else {
        out
    }
}

/// `os.path.normpath`: lexical clean-up including `..` (used for `IPYTHONDIR`).
pub(crate) fn normpath(p: Platform, path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let (prefix, rest) = match p {
        Platform::Windows if path.len() >= 2 && path.as_bytes()[1] == b':' => path.split_at(2),
        _ => ("", path),
    };
    let absolute = rest.starts_with(|c| p.is_sep(c));
    let mut comps: Vec<&str> = Vec::new();
    for comp in rest.split(|c| p.is_sep(c)) {
        match comp {
            "" | "." => {}
            ".." => {
                if comps.last().is_some_and(|c| *c != "..") {
                    comps.pop();
                } else if !absolute {
                    comps.push("..");
                }
            }
            c => comps.push(c),
        }
    }
    let sep = p.separator().to_string();
    let body = comps.join(&sep);
    let mut out = prefix.to_owned();
    if absolute {
        out.push_str(&sep);
    }
    out.push_str(&body);
    if out.is_empty() {
        ".".to_owned()
    } else {
        out
    }
}

/// `str.rstrip(os.sep)` as applied to `JUPYTER_PATH` entries (only `\` on Windows, only `/`
/// elsewhere, exactly like Python).
pub(crate) fn rstrip_sep(p: Platform, s: &str) -> &str {
    s.trim_end_matches(p.separator())
}

/// `os.path.expanduser` for a leading `~` or `~/...` (other users' `~name` is left alone).
pub(crate) fn expanduser(p: Platform, s: &str, home: Option<&str>) -> String {
    let Some(home) = home else {
        return s.to_owned();
    };
    if s == "~" {
        return home.to_owned();
    }
    match s.strip_prefix('~') {
        Some(rest) if rest.starts_with(|c| p.is_sep(c)) => {
            format!("{}{rest}", home.trim_end_matches(|c| p.is_sep(c)))
        }
        _ => s.to_owned(),
    }
}

/// jupyter_core's `envset`: `None` when unset; otherwise true unless the lowercased value is
/// one of `no`, `n`, `false`, `off`, `0`, `0.0`. An empty value is therefore **true**.
pub fn envset(value: Option<&str>) -> Option<bool> {
    value.map(|v| {
        !matches!(
            v.to_lowercase().as_str(),
            "no" | "n" | "false" | "off" | "0" | "0.0"
        )
    })
}

fn non_empty<'a>(vars: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    vars.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// Whether `JUPYTER_PLATFORM_DIRS` is truthy (default false).
pub(crate) fn use_platform_dirs(vars: &BTreeMap<String, String>) -> bool {
    envset(vars.get(vars::JUPYTER_PLATFORM_DIRS).map(String::as_str)).unwrap_or(false)
}

/// Inputs of [`user_data_dir`] that come from the filesystem or the process.
pub(crate) struct Homes<'a> {
    /// `Path("~").expanduser()` as given.
    pub raw: &'a str,
    /// The same, with symlinks resolved (`.resolve()`).
    pub resolved: &'a str,
}

/// `jupyter_data_dir()`. The Windows `APPDATA` result still needs `.resolve()` by the caller
/// (the returned flag is true then).
pub(crate) fn user_data_dir(
    p: Platform,
    vars: &BTreeMap<String, String>,
    homes: &Homes<'_>,
) -> (String, bool) {
    if let Some(d) = non_empty(vars, vars::JUPYTER_DATA_DIR) {
        return (d.to_owned(), false);
    }
    if use_platform_dirs(vars) {
        let dir = match p {
            Platform::Linux => {
                let base = match non_empty(vars, vars::XDG_DATA_HOME).map(str::trim) {
                    Some(x) if !x.is_empty() => x.to_owned(),
                    _ => pjoin(p, homes.raw, ".local/share"),
                };
                pjoin(p, &base, "jupyter")
            }
            Platform::MacOs => match non_empty(vars, vars::XDG_DATA_HOME).map(str::trim) {
                Some(x) if !x.is_empty() => pjoin(p, x, "Jupyter"),
                _ => pjoin(p, homes.raw, "Library/Application Support/Jupyter"),
            },
            Platform::Windows => match non_empty(vars, vars::LOCALAPPDATA) {
                Some(local) => pjoin(p, local, "Jupyter"),
                None => pjoin(p, homes.raw, "AppData\\Local\\Jupyter"),
            },
        };
        return (dir, false);
    }
    match p {
        Platform::MacOs => (
            pathlib_join(p, &[homes.resolved, "Library", "Jupyter"]),
            false,
        ),
        Platform::Windows => {
            if let Some(appdata) = non_empty(vars, vars::APPDATA) {
                return (pathlib_join(p, &[appdata, "jupyter"]), true);
            }
            // jupyter_config_dir(): JUPYTER_NO_CONFIG would give a throwaway temp dir, which
            // nobody can predict; we fall through to the usual config dir in that case.
            let config = match non_empty(vars, vars::JUPYTER_CONFIG_DIR) {
                Some(c) => c.to_owned(),
                None => pjoin(p, homes.resolved, ".jupyter"),
            };
            (pjoin(p, &config, "data"), false)
        }
        Platform::Linux => {
            let xdg = match non_empty(vars, vars::XDG_DATA_HOME) {
                Some(x) => x.to_owned(),
                None => pjoin(p, &pjoin(p, homes.resolved, ".local"), "share"),
            };
            (pjoin(p, &xdg, "jupyter"), false)
        }
    }
}

/// `SYSTEM_JUPYTER_PATH`. `env_dir` is `<sys.prefix>/share/jupyter` when known; on Windows
/// without `JUPYTER_USE_PROGRAMDATA` the system dir *is* the env dir, so an unknown prefix gives
/// an empty list there.
pub(crate) fn system_data_dirs(
    p: Platform,
    vars: &BTreeMap<String, String>,
    env_dir: Option<&str>,
) -> Vec<String> {
    let use_programdata =
        envset(vars.get(vars::JUPYTER_USE_PROGRAMDATA).map(String::as_str)).unwrap_or(false);
    let programdata = vars.get(vars::PROGRAMDATA).map(String::as_str);
    let env_list = || env_dir.map(|e| vec![e.to_owned()]).unwrap_or_default();
    if use_platform_dirs(vars) {
        return match p {
            Platform::Windows if !use_programdata => env_list(),
            Platform::Windows => {
                // platformdirs asks Windows for the common app data folder; its env var is
                // PROGRAMDATA, with the standard location as fallback.
                let base = programdata
                    .filter(|s| !s.is_empty())
                    .unwrap_or("C:\\ProgramData");
                vec![pjoin(p, base, "Jupyter")]
            }
            Platform::Linux | Platform::MacOs => {
                let xdg = vars
                    .get(vars::XDG_DATA_DIRS)
                    .map(String::as_str)
                    .filter(|s| !s.trim().is_empty());
                match (p, xdg) {
                    (_, Some(list)) => list
                        .split(p.list_separator())
                        .map(|d| {
                            pjoin(
                                p,
                                d,
                                if p == Platform::MacOs {
                                    "Jupyter"
                                } else {
                                    "jupyter"
                                },
                            )
                        })
                        .collect(),
                    (Platform::MacOs, None) => {
                        vec!["/Library/Application Support/Jupyter".to_owned()]
                    }
                    _ => vec![
                        "/usr/local/share/jupyter".to_owned(),
                        "/usr/share/jupyter".to_owned(),
                    ],
                }
            }
        };
    }
    match p {
        Platform::Windows => match programdata {
            Some(pd) if use_programdata && !pd.is_empty() => vec![pjoin(p, pd, "jupyter")],
            _ => env_list(),
        },
        _ => vec![
            "/usr/local/share/jupyter".to_owned(),
            "/usr/share/jupyter".to_owned(),
        ],
    }
}

/// `site.getuserbase()` when the user site is enabled (`None` otherwise).
///
/// The user site is off inside a venv and when `PYTHONNOUSERSITE` is non-empty. On macOS we use
/// the non-framework default `~/.local`; a framework build's `~/Library/Python/X.Y` needs the
/// Python version, which we do not know.
pub(crate) fn user_base(
    p: Platform,
    vars: &BTreeMap<String, String>,
    home_raw: &str,
    in_venv: bool,
) -> Option<String> {
    if in_venv || non_empty(vars, vars::PYTHONNOUSERSITE).is_some() {
        return None;
    }
    if let Some(b) = non_empty(vars, vars::PYTHONUSERBASE) {
        return Some(b.to_owned());
    }
    match p {
        Platform::Windows => {
            let base = non_empty(vars, vars::APPDATA)
                .map(str::to_owned)
                .unwrap_or_else(|| home_raw.to_owned());
            Some(pjoin(p, &base, "Python"))
        }
        _ => Some(pjoin(p, home_raw, ".local")),
    }
}

/// The data dir string of `<user base>/share/jupyter` (pathlib-normalised like jupyter_core).
pub(crate) fn user_site_data_dir(p: Platform, user_base: &str) -> String {
    pathlib_join(p, &[user_base, "share", "jupyter"])
}

/// `<prefix>/share/jupyter` as jupyter_core builds `ENV_JUPYTER_PATH`.
pub(crate) fn env_data_dir(p: Platform, prefix: &str) -> String {
    pathlib_join(p, &[prefix, "share", "jupyter"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_python() {
        use Platform::*;
        assert_eq!(pjoin(Linux, "", "kernels"), "kernels");
        assert_eq!(pjoin(Linux, "/a/", "kernels"), "/a/kernels");
        assert_eq!(pjoin(Linux, "/a", "/b"), "/b");
        assert_eq!(pjoin(Windows, "C:\\x", "kernels"), "C:\\x\\kernels");
        assert_eq!(
            pathlib_join(Linux, &["/opt//v/", "share", "jupyter"]),
            "/opt/v/share/jupyter"
        );
        assert_eq!(
            pathlib_join(Windows, &["C:/Users/u", "jupyter"]),
            "C:\\Users\\u\\jupyter"
        );
        assert_eq!(normpath(Linux, "/a/./b/../c//"), "/a/c");
        assert_eq!(normpath(Linux, ""), ".");
        assert_eq!(normpath(Linux, "../x"), "../x");
        assert_eq!(rstrip_sep(Linux, "/a/b//"), "/a/b");
        assert_eq!(rstrip_sep(Windows, "C:\\a\\"), "C:\\a");
        assert_eq!(expanduser(Linux, "~/ip", Some("/h/")), "/h/ip");
        assert_eq!(expanduser(Linux, "~bob/ip", Some("/h")), "~bob/ip");
    }

    #[test]
    fn envset_rules() {
        assert_eq!(envset(None), None);
        for t in ["", "1", "yes", "true", "anything"] {
            assert_eq!(envset(Some(t)), Some(true), "{t:?}");
        }
        for f in ["no", "N", "False", "OFF", "0", "0.0"] {
            assert_eq!(envset(Some(f)), Some(false), "{f:?}");
        }
    }
}
