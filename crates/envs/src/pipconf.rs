//! The user's pip configuration, as uv options.
//!
//! kernels' own uv (see [`crate::provision`]) must install from the index the user set up for
//! pip, and uv does not read pip's files. [`uv_options_from_pip`] reads what a pip started
//! for a new venv would read, in pip's precedence order:
//!
//! 1. the files: `$PIP_CONFIG_FILE` alone when it names an existing file (and nothing at all
//!    when it is `/dev/null`), else the global files (`DIR/pip/pip.conf` for each
//!    `$XDG_CONFIG_DIRS` entry, default `/etc/xdg`, then `/etc/pip.conf`) and the user files
//!    (`~/.pip/pip.conf`, then `$XDG_CONFIG_HOME/pip/pip.conf`, default `~/.config`), later
//!    files winning; within them a key of `[install]` wins over `[global]`;
//! 2. the `PIP_*` variables the process runner passes to pip (they win over the files).
//!
//! Translated: `index-url`, `extra-index-url`, `find-links`, `no-index`, `trusted-host`
//! (uv's `--allow-insecure-host`), `cert` (`SSL_CERT_FILE`) and `proxy` (`HTTPS_PROXY`,
//! `HTTP_PROXY`). Settings that only change pip's own output or cache are ignored. Any other
//! setting could change what gets installed (`pre`, `only-binary`, `constraint`,
//! `client-cert`, …): then there is no translation, and the caller uses pip itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::process::inherits;
use crate::vars::{self, HostEnv};

/// Config files larger than this are not pip configuration; they are not read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Settings that do not change what pip installs or from where.
const HARMLESS: &[&str] = &[
    "timeout",
    "default-timeout",
    "retries",
    "disable-pip-version-check",
    "no-input",
    "cache-dir",
    "no-cache-dir",
    "progress-bar",
    "quiet",
    "verbose",
    "no-color",
    "log",
    "no-warn-script-location",
    "no-warn-conflicts",
    "root-user-action",
    "require-virtualenv",
    "break-system-packages",
    "no-python-version-warning",
];

/// uv arguments and variables equivalent to the user's pip index configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UvIndexOptions {
    /// Arguments for `uv pip install` (`--index-url URL`, …).
    pub args: Vec<String>,
    /// Variables to set for uv (`SSL_CERT_FILE`, proxies).
    pub env: Vec<(String, String)>,
}

/// The pip setting that has no uv equivalent (the caller says so and uses pip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable {
    /// The setting's name as pip spells it (`only-binary`).
    pub key: String,
    /// Where it was set (a file, or `PIP_…`).
    pub origin: String,
}

/// Reads the user's pip configuration (see the module docs) and translates it for uv.
pub fn uv_options_from_pip(host: &HostEnv) -> Result<UvIndexOptions, Untranslatable> {
    let settings = pip_settings(host);
    let mut out = UvIndexOptions::default();
    for (key, (value, origin)) in &settings {
        let values = || value.split_whitespace().map(str::to_owned);
        match key.as_str() {
            "index-url" | "i" => out.args.extend(["--index-url".to_owned(), value.clone()]),
            "extra-index-url" => {
                values().for_each(|v| out.args.extend(["--extra-index-url".to_owned(), v]))
            }
            "find-links" | "f" => {
                values().for_each(|v| out.args.extend(["--find-links".to_owned(), v]))
            }
            "trusted-host" => {
                values().for_each(|v| out.args.extend(["--allow-insecure-host".to_owned(), v]))
            }
            "no-index" if is_true(value) => out.args.push("--no-index".to_owned()),
            "no-index" => {}
            "cert" => out.env.push(("SSL_CERT_FILE".to_owned(), value.clone())),
            "proxy" => {
                for var in ["HTTPS_PROXY", "HTTP_PROXY"] {
                    out.env.push((var.to_owned(), value.clone()));
                }
            }
            k if HARMLESS.contains(&k) => {}
            _ => {
                return Err(Untranslatable {
                    key: key.clone(),
                    origin: origin.clone(),
                })
            }
        }
    }
    Ok(out)
}

fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// `key → (value, origin)` as pip resolves it for `pip install` in a new venv.
fn pip_settings(host: &HostEnv) -> BTreeMap<String, (String, String)> {
    let mut global = BTreeMap::new();
    let mut install = BTreeMap::new();
    for file in config_files(host) {
        let Some(text) = read_small(&file) else {
            continue;
        };
        let origin = file.display().to_string();
        for (section, key, value) in parse_ini(&text) {
            let target = match section.as_str() {
                "global" => &mut global,
                "install" => &mut install,
                _ => continue,
            };
            target.insert(key, (value, origin.clone()));
        }
    }
    global.extend(install);
    for (name, value) in &host.vars {
        let Some(rest) = name.strip_prefix("PIP_") else {
            continue;
        };
        if !inherits(name) || value.is_empty() || rest == "CONFIG_FILE" {
            continue;
        }
        let key = rest.to_ascii_lowercase().replace('_', "-");
        global.insert(key, (value.clone(), name.clone()));
    }
    global
}

/// The pip configuration files, lowest precedence first.
fn config_files(host: &HostEnv) -> Vec<PathBuf> {
    if let Some(f) = host.get(vars::PIP_CONFIG_FILE) {
        if f == "/dev/null" {
            return Vec::new();
        }
        if Path::new(f).is_file() {
            // pip reads the global files too, but the named file wins and the user files
            // are skipped.
            let mut files = global_files(host);
            files.push(PathBuf::from(f));
            return files;
        }
    }
    let mut files = global_files(host);
    if let Some(home) = &host.home {
        files.push(home.join(".pip/pip.conf"));
        let config = match host.get(vars::XDG_CONFIG_HOME) {
            Some(x) => PathBuf::from(x),
            None => home.join(".config"),
        };
        files.push(config.join("pip/pip.conf"));
    }
    files
}

fn global_files(host: &HostEnv) -> Vec<PathBuf> {
    let dirs = host.get(vars::XDG_CONFIG_DIRS).unwrap_or("/etc/xdg");
    let mut files: Vec<PathBuf> = vars::split_path_list(dirs)
        .into_iter()
        .map(|d| d.join("pip/pip.conf"))
        .collect();
    files.push(PathBuf::from("/etc/pip.conf"));
    files
}

/// A regular file's text when it is small; `None` otherwise (never blocks on a FIFO).
fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CONFIG_BYTES {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// `(section, key, value)` of an INI text as Python's configparser reads it: `key = value`
/// or `key: value`, `#`/`;` comment lines, indented lines continuing the previous value.
/// Keys are normalised as pip does (lower case, `_` → `-`, leading `--` dropped).
fn parse_ini(text: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.2.push('\n');
                last.2.push_str(line);
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        if let Some(at) = line.find(['=', ':']) {
            let key = line[..at]
                .trim()
                .trim_start_matches('-')
                .to_ascii_lowercase()
                .replace('_', "-");
            out.push((section.clone(), key, line[at + 1..].trim().to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_with(home: &Path, extra: &[(&str, &str)]) -> HostEnv {
        let mut v = vec![
            ("HOME".to_owned(), home.display().to_string()),
            (
                "XDG_CONFIG_DIRS".to_owned(),
                home.join("xdg").display().to_string(),
            ),
        ];
        v.extend(extra.iter().map(|(k, x)| (k.to_string(), x.to_string())));
        HostEnv::from_vars(v)
    }

    #[test]
    fn ini_values_continue_on_indented_lines() {
        let got = parse_ini("[global]\n# c\nIndex_URL = http://a/simple\nextra-index-url =\n  http://b\n  http://c\n[install]\n--no-index: yes\n");
        assert_eq!(
            got,
            vec![
                (
                    "global".into(),
                    "index-url".into(),
                    "http://a/simple".into()
                ),
                (
                    "global".into(),
                    "extra-index-url".into(),
                    "\nhttp://b\nhttp://c".into()
                ),
                ("install".into(), "no-index".into(), "yes".into()),
            ]
        );
    }

    #[test]
    fn files_and_variables_in_pip_precedence() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path();
        std::fs::create_dir_all(home.join(".config/pip")).unwrap();
        std::fs::create_dir_all(home.join(".pip")).unwrap();
        std::fs::write(
            home.join(".pip/pip.conf"),
            "[install]\nindex-url = http://legacy/simple\n[global]\ntrusted-host = legacy\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".config/pip/pip.conf"),
            "[global]\nindex-url = http://xdg/simple\ncert = /ca.pem\ntimeout = 5\n",
        )
        .unwrap();
        // [install] beats [global] even from an earlier file; a variable beats both.
        let opts = uv_options_from_pip(&host_with(home, &[])).unwrap();
        assert_eq!(
            opts.args,
            [
                "--index-url",
                "http://legacy/simple",
                "--allow-insecure-host",
                "legacy"
            ]
        );
        assert_eq!(
            opts.env,
            [("SSL_CERT_FILE".to_owned(), "/ca.pem".to_owned())]
        );
        let opts = uv_options_from_pip(&host_with(
            home,
            &[
                ("PIP_INDEX_URL", "http://var/simple"),
                ("PIP_FIND_LINKS", "/w1 /w2"),
                ("PIP_REQUIRE_VIRTUALENV", "1"),
            ],
        ))
        .unwrap();
        assert!(opts
            .args
            .windows(2)
            .any(|w| w == ["--index-url", "http://var/simple"]));
        assert!(opts.args.windows(2).any(|w| w == ["--find-links", "/w2"]));
        // PIP_CONFIG_FILE=/dev/null: no files at all.
        let opts =
            uv_options_from_pip(&host_with(home, &[("PIP_CONFIG_FILE", "/dev/null")])).unwrap();
        assert_eq!(opts, UvIndexOptions::default());
    }

    #[test]
    fn a_setting_that_changes_what_is_installed_is_not_translated() {
        let t = tempfile::tempdir().unwrap();
        let conf = t.path().join("custom.conf");
        std::fs::write(&conf, "[install]\nonly-binary = :all:\n").unwrap();
        let host = host_with(t.path(), &[("PIP_CONFIG_FILE", conf.to_str().unwrap())]);
        let err = uv_options_from_pip(&host).unwrap_err();
        assert_eq!(err.key, "only-binary");
        assert_eq!(err.origin, conf.display().to_string());
    }
}
