//! The channel side of the user's conda configuration, read without running conda: which
//! channels, where their names point (`channel_alias`, `custom_channels`,
//! `default_channels`: how conda users point names at a mirror), `channel_priority` and
//! the package caches (`pkgs_dirs`).
//!
//! Files: the same list `envs_dirs` reads, in conda's precedence (`condarc::rc_files`:
//! `$CONDARC`, the user's files, then the root's). A scalar comes from the first file that
//! sets it; lists are merged, higher precedence first, duplicates dropped; `custom_channels` entries are merged by
//! name. `CONDA_PKGS_DIRS` and `CONDA_CHANNEL_PRIORITY` win over every file.
//!
//! Only the YAML that `conda config` writes is understood: top-level keys with a scalar,
//! a block or flow list, or a block or flow map of `name: url`.

use std::path::{Path, PathBuf};

use crate::condarc::{expand, rc_files, strip_comment, unquote};
use crate::vars::{self, HostEnv};

/// Where a channel name without a URL points when no `channel_alias` is set.
pub const DEFAULT_CHANNEL_ALIAS: &str = "https://conda.anaconda.org";
/// What `defaults` means when no `default_channels` is set.
pub const DEFAULT_CHANNELS: [&str; 2] = [
    "https://repo.anaconda.com/pkgs/main",
    "https://repo.anaconda.com/pkgs/r",
];

/// conda's `channel_priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelPriority {
    /// A package comes from the first channel that has it.
    Strict,
    /// Earlier channels are preferred, later ones used when needed (conda's default).
    #[default]
    Flexible,
    /// The highest version wins, whichever channel has it.
    Disabled,
}

impl ChannelPriority {
    /// Parses conda's spellings (`true`/`false` are the old boolean form).
    pub fn parse(s: &str) -> Option<ChannelPriority> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Some(ChannelPriority::Strict),
            "flexible" | "true" => Some(ChannelPriority::Flexible),
            "disabled" | "false" => Some(ChannelPriority::Disabled),
            _ => None,
        }
    }
}

/// The channel settings of the conda configuration (see module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CondaConfig {
    /// `channels`, merged; empty means `defaults`.
    pub channels: Vec<String>,
    /// `default_channels`, when any file sets it (an empty list: `defaults` is nothing).
    pub default_channels: Option<Vec<String>>,
    /// `channel_alias`.
    pub channel_alias: Option<String>,
    /// `custom_channels`: a name and the base URL it lives under.
    pub custom_channels: Vec<(String, String)>,
    /// `channel_priority`.
    pub channel_priority: ChannelPriority,
    /// `pkgs_dirs`, with conda's defaults when unset: `<root>/pkgs`, `~/.conda/pkgs`.
    pub pkgs_dirs: Vec<PathBuf>,
}

/// A top-level value of a `.condarc`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Scalar(String),
    List(Vec<String>),
    Map(Vec<(String, String)>),
}

impl CondaConfig {
    /// Reads the configuration of the conda root `root` (if any) and the user in `env`.
    pub fn read(root: Option<&Path>, env: &HostEnv) -> CondaConfig {
        let texts: Vec<String> = rc_files(root, env)
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        let mut cfg = CondaConfig::from_texts(&texts, env);
        if let Some(p) = env
            .get(vars::CONDA_CHANNEL_PRIORITY)
            .and_then(ChannelPriority::parse)
        {
            cfg.channel_priority = p;
        }
        if let Some(dirs) = env.get(vars::CONDA_PKGS_DIRS) {
            let dirs: Vec<PathBuf> = dirs
                .split(',')
                .filter(|d| !d.trim().is_empty())
                .map(|d| expand(d, env))
                .collect();
            if !dirs.is_empty() {
                cfg.pkgs_dirs = dirs;
            }
        }
        if cfg.pkgs_dirs.is_empty() {
            cfg.pkgs_dirs.extend(root.map(|r| r.join("pkgs")));
            cfg.pkgs_dirs
                .extend(env.home.as_ref().map(|h| h.join(".conda/pkgs")));
        }
        cfg
    }

    /// The configuration of `.condarc` texts, highest precedence first.
    pub fn from_texts(texts: &[String], env: &HostEnv) -> CondaConfig {
        let mut cfg = CondaConfig::default();
        let mut priority = None;
        for text in texts {
            for (key, value) in top_level(text) {
                match (key.as_str(), value) {
                    ("channels", v) => merge(&mut cfg.channels, list(v)),
                    ("default_channels", v) => {
                        merge(cfg.default_channels.get_or_insert_with(Vec::new), list(v))
                    }
                    ("channel_alias", Value::Scalar(s)) if cfg.channel_alias.is_none() => {
                        cfg.channel_alias = Some(s)
                    }
                    ("custom_channels", Value::Map(m)) => {
                        for (name, url) in m {
                            if !cfg.custom_channels.iter().any(|(n, _)| *n == name) {
                                cfg.custom_channels.push((name, url));
                            }
                        }
                    }
                    ("channel_priority", Value::Scalar(s)) if priority.is_none() => {
                        priority = ChannelPriority::parse(&s)
                    }
                    ("pkgs_dirs", v) => {
                        let dirs = list(v).iter().map(|d| expand(d, env)).collect();
                        merge(&mut cfg.pkgs_dirs, dirs)
                    }
                    _ => {}
                }
            }
        }
        cfg.channel_priority = priority.unwrap_or_default();
        cfg
    }

    /// The channel URLs to solve from: `extra` (`-c`, first, as conda puts them), then the
    /// configured channels (or `defaults`), each resolved by [`CondaConfig::channel_url`];
    /// `defaults` expands to the default channels. Duplicates are dropped.
    pub fn channel_urls(&self, extra: &[String], env: &HostEnv) -> Vec<String> {
        let configured: Vec<String> = if self.channels.is_empty() {
            vec!["defaults".to_owned()]
        } else {
            self.channels.clone()
        };
        let mut out = Vec::new();
        for name in extra.iter().chain(&configured) {
            let urls = if name == "defaults" {
                self.defaults()
                    .iter()
                    .map(|d| self.channel_url(d, env))
                    .collect()
            } else {
                vec![self.channel_url(name, env)]
            };
            merge(&mut out, urls);
        }
        out
    }

    /// The URL of one channel: a URL as it is; a path as a `file://` URL; a name under its
    /// `custom_channels` entry, else under `channel_alias`.
    pub fn channel_url(&self, channel: &str, env: &HostEnv) -> String {
        let channel = channel.trim().trim_end_matches('/');
        if channel.contains("://") {
            return channel.to_owned();
        }
        if channel.starts_with('/') || channel.starts_with('~') || channel.starts_with('$') {
            return format!("file://{}", expand(channel, env).display());
        }
        let first = channel.split('/').next().unwrap_or(channel);
        let base = self
            .custom_channels
            .iter()
            .find(|(n, _)| n == first)
            .map(|(_, url)| url.as_str())
            .or(self.channel_alias.as_deref())
            .unwrap_or(DEFAULT_CHANNEL_ALIAS);
        format!("{}/{channel}", base.trim_end_matches('/'))
    }

    fn defaults(&self) -> Vec<String> {
        match &self.default_channels {
            Some(d) => d.clone(),
            None => DEFAULT_CHANNELS.map(str::to_owned).to_vec(),
        }
    }
}

fn merge<T: PartialEq>(into: &mut Vec<T>, items: Vec<T>) {
    for i in items {
        if !into.contains(&i) {
            into.push(i);
        }
    }
}

fn list(v: Value) -> Vec<String> {
    match v {
        Value::Scalar(s) if s.is_empty() => Vec::new(),
        Value::Scalar(s) => vec![s],
        Value::List(l) => l,
        Value::Map(_) => Vec::new(),
    }
}

/// Every top-level `key: value` of a `.condarc` text, in order.
fn top_level(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = strip_comment(lines[i]);
        i += 1;
        if line.starts_with([' ', '\t', '-']) || line.trim().is_empty() {
            continue;
        }
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let rest = rest.trim();
        let value = if let Some(flow) = rest.strip_prefix('[') {
            Value::List(split_flow(flow.trim_end_matches(']')))
        } else if let Some(flow) = rest.strip_prefix('{') {
            Value::Map(
                split_flow(flow.trim_end_matches('}'))
                    .iter()
                    .filter_map(|e| pair(e))
                    .collect(),
            )
        } else if !rest.is_empty() {
            Value::Scalar(unquote(rest))
        } else {
            let (value, used) = block(&lines[i..]);
            i += used;
            value
        };
        out.push((key.trim().to_owned(), value));
    }
    out
}

/// A block list (`- item` lines) or block map (indented `name: url` lines) after a key.
fn block(lines: &[&str]) -> (Value, usize) {
    let mut items = Vec::new();
    let mut pairs = Vec::new();
    let mut used = 0;
    for raw in lines {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            used += 1;
            continue;
        }
        let t = line.trim();
        if let Some(item) = t.strip_prefix('-') {
            items.push(unquote(item));
        } else if line.starts_with([' ', '\t']) {
            pairs.extend(pair(t));
        } else {
            break;
        }
        used += 1;
    }
    if pairs.is_empty() {
        (Value::List(items), used)
    } else {
        (Value::Map(pairs), used)
    }
}

fn split_flow(body: &str) -> Vec<String> {
    body.split(',')
        .map(unquote)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `name: url` (the URL keeps its own colons).
fn pair(entry: &str) -> Option<(String, String)> {
    let (k, v) = entry.split_once(':')?;
    let v = unquote(v);
    (!v.is_empty()).then(|| (unquote(k), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_what_conda_config_writes() {
        let env = HostEnv::from_vars([("HOME", "/home/u")]);
        let user = "channels:\n  - conda-forge   # first\n  - defaults\nchannel_priority: strict\n\
                    custom_channels:\n  internal: https://mirror.example/conda\n\
                    pkgs_dirs: [~/pkgs, '/shared/pkgs']\n";
        let root = "channels: [bioconda]\ndefault_channels: []\ncustom_channels: {}\n\
                    channel_alias: https://alias.example\nchannel_priority: flexible\n";
        let cfg = CondaConfig::from_texts(&texts(&[user, root]), &env);
        assert_eq!(cfg.channels, ["conda-forge", "defaults", "bioconda"]);
        assert_eq!(cfg.default_channels, Some(vec![]));
        assert_eq!(cfg.channel_alias.as_deref(), Some("https://alias.example"));
        assert_eq!(
            cfg.custom_channels,
            [(
                "internal".to_owned(),
                "https://mirror.example/conda".to_owned()
            )]
        );
        assert_eq!(cfg.channel_priority, ChannelPriority::Strict);
        assert_eq!(
            cfg.pkgs_dirs,
            [PathBuf::from("/home/u/pkgs"), PathBuf::from("/shared/pkgs")]
        );
    }

    #[test]
    fn channel_names_resolve_like_conda() {
        let env = HostEnv::from_vars([("HOME", "/home/u")]);
        let cfg = CondaConfig {
            channel_alias: Some("https://mirror.example/".into()),
            custom_channels: vec![("internal".into(), "https://corp.example/c".into())],
            ..CondaConfig::default()
        };
        assert_eq!(
            cfg.channel_urls(&["internal/label/dev".into(), "/srv/chan/".into()], &env),
            [
                "https://corp.example/c/internal/label/dev",
                "file:///srv/chan",
                "https://repo.anaconda.com/pkgs/main",
                "https://repo.anaconda.com/pkgs/r",
            ]
        );
        let forge = CondaConfig {
            channels: vec!["conda-forge".into(), "defaults".into()],
            default_channels: Some(vec!["main".into()]),
            ..CondaConfig::default()
        };
        assert_eq!(
            forge.channel_urls(&["file:///lab".into()], &env),
            [
                "file:///lab",
                "https://conda.anaconda.org/conda-forge",
                "https://conda.anaconda.org/main"
            ]
        );
    }

    #[test]
    fn files_by_precedence_and_variables_win() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let root = t.path().join("root");
        std::fs::create_dir_all(home.join(".conda")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join(".condarc"),
            "channel_priority: disabled\nchannels: [r]\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".condarc"),
            "channel_priority: strict\nchannels: [h]\n",
        )
        .unwrap();
        let rc = t.path().join("rc");
        std::fs::write(&rc, "channels:\n  - x\n").unwrap();
        let mut env = HostEnv::from_vars([
            ("HOME", home.display().to_string()),
            ("CONDARC", rc.display().to_string()),
        ]);
        let cfg = CondaConfig::read(Some(&root), &env);
        assert_eq!(cfg.channels, ["x", "h", "r"]);
        assert_eq!(cfg.channel_priority, ChannelPriority::Strict);
        assert_eq!(cfg.pkgs_dirs, [root.join("pkgs"), home.join(".conda/pkgs")]);
        env.vars
            .insert("CONDA_CHANNEL_PRIORITY".into(), "disabled".into());
        env.vars.insert("CONDA_PKGS_DIRS".into(), "/a,/b".into());
        let cfg = CondaConfig::read(Some(&root), &env);
        assert_eq!(cfg.channel_priority, ChannelPriority::Disabled);
        assert_eq!(cfg.pkgs_dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
    }
}
