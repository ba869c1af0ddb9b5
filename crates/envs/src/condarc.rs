//! conda's `envs_dirs`, worked out from variables and `.condarc` files without running
//! conda.
//!
//! Order (highest precedence first, duplicates dropped), following conda's merge:
//!
//! 1. `CONDA_ENVS_DIRS`, then `CONDA_ENVS_PATH` (each split on `:`);
//! 2. `envs_dirs:` (or its alias `envs_path:`) in the `.condarc` files, in conda's
//!    precedence ([`rc_files`]: `$CONDARC`, then the user's files, then the root's), which
//!    decides where `-n NAME` goes when two files both set it;
//! 3. `<root>/envs` and `~/.conda/envs`.
//!
//! Only the two simple YAML list forms are understood — a block list
//! (`envs_dirs:` followed by `  - /a` lines) and a flow list (`envs_dirs: [/a, /b]`) — which
//! is what `conda config --add envs_dirs` writes. Entries have `~` and `$VAR`/`${VAR}`
//! expanded, as conda does.

use std::path::{Path, PathBuf};

use crate::vars::{self, HostEnv};

/// The `envs_dirs` of the conda installation rooted at `root` (see module docs).
pub fn envs_dirs(root: Option<&Path>, env: &HostEnv) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !p.as_os_str().is_empty() && !out.contains(&p) {
            out.push(p);
        }
    };
    for var in [vars::CONDA_ENVS_DIRS, vars::CONDA_ENVS_PATH] {
        if let Some(v) = env.get(var) {
            for entry in v.split(':').filter(|e| !e.is_empty()) {
                push(expand(entry, env));
            }
        }
    }
    for file in rc_files(root, env) {
        if let Ok(text) = std::fs::read_to_string(&file) {
            for entry in parse_envs_dirs(&text) {
                push(expand(&entry, env));
            }
        }
    }
    if let Some(root) = root {
        push(root.join("envs"));
    }
    if let Some(home) = &env.home {
        push(home.join(".conda/envs"));
    }
    out
}

/// The `.condarc` files kernels reads, highest precedence first, as conda 26 ranks them
/// (`SEARCH_PATH`, read the other way round with later files winning): `$CONDARC`,
/// `~/.condarc`, `~/.conda/condarc`, `~/.conda/.condarc`, `~/.config/conda/condarc`,
/// `~/.config/conda/.condarc`, `<root>/condarc`, `<root>/.condarc`. The system files
/// (`/etc/conda`, `/var/lib/conda`), `condarc.d` directories and the target prefix's own
/// `.condarc` are not read.
pub(crate) fn rc_files(root: Option<&Path>, env: &HostEnv) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = env
        .get(vars::CONDARC)
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(home) = &env.home {
        for rel in [
            ".condarc",
            ".conda/condarc",
            ".conda/.condarc",
            ".config/conda/condarc",
            ".config/conda/.condarc",
        ] {
            files.push(home.join(rel));
        }
    }
    if let Some(root) = root {
        files.push(root.join("condarc"));
        files.push(root.join(".condarc"));
    }
    files
}

/// The entries of the top-level `envs_dirs:`/`envs_path:` key of a `.condarc` text.
pub fn parse_envs_dirs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = ["envs_dirs:", "envs_path:"]
            .iter()
            .find_map(|k| line.strip_prefix(k))
        else {
            continue;
        };
        let rest = strip_comment(rest).trim();
        if let Some(flow) = rest.strip_prefix('[') {
            // Flow list, possibly spanning lines until `]`.
            let mut body = flow.to_owned();
            while !body.contains(']') {
                match lines.next() {
                    Some(l) => {
                        body.push(' ');
                        body.push_str(strip_comment(l));
                    }
                    None => break,
                }
            }
            let body = body.split(']').next().unwrap_or_default();
            out.extend(body.split(',').map(unquote).filter(|s| !s.is_empty()));
        } else if rest.is_empty() {
            // Block list: following `- item` lines (indented or not).
            while let Some(next) = lines.peek() {
                let t = strip_comment(next).trim();
                if t.is_empty() {
                    lines.next();
                    continue;
                }
                let Some(item) = t.strip_prefix('-') else {
                    break;
                };
                out.push(unquote(item));
                lines.next();
            }
        } else {
            // A scalar; conda accepts a single string for a sequence setting.
            out.push(unquote(rest));
        }
    }
    out
}

pub(crate) fn strip_comment(s: &str) -> &str {
    // A `#` starts a comment at the line start or after whitespace (not inside a path).
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &s[..i];
        }
    }
    s
}

pub(crate) fn unquote(s: &str) -> String {
    let t = s.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(t);
    t.trim().to_owned()
}

/// Expands a leading `~` and `$VAR`/`${VAR}` from `env` (unknown variables stay as is).
pub fn expand(s: &str, env: &HostEnv) -> PathBuf {
    let mut s = s.trim().to_owned();
    if s == "~" || s.starts_with("~/") {
        if let Some(home) = &env.home {
            s = format!("{}{}", home.display(), &s[1..]);
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(end) => (&b[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match env.vars.get(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[i..i + 1 + consumed]),
        }
        rest = &rest[i + 1 + consumed..];
    }
    out.push_str(rest);
    PathBuf::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_block_and_flow_lists() {
        let text = "channels:\n  - defaults\nenvs_dirs:\n  - /a   # first\n  - '~/b'\n\n  - \"/c d\"\npkgs_dirs:\n  - /p\n";
        assert_eq!(parse_envs_dirs(text), ["/a", "~/b", "/c d"]);
        assert_eq!(parse_envs_dirs("envs_dirs: [/a, '/b']\n"), ["/a", "/b"]);
        assert_eq!(
            parse_envs_dirs("envs_path: [\n /a,\n /b\n]\n"),
            ["/a", "/b"]
        );
        assert_eq!(parse_envs_dirs("envs_dirs:\n- /x#y\n"), ["/x#y"]);
        assert!(parse_envs_dirs("channels: [a]\n").is_empty());
    }

    #[test]
    fn order_vars_rc_then_fixed_dirs() {
        // conda 26.7.1 with CONDA_ENVS_DIRS=/e1:/e2, CONDARC -> /c, ~/.condarc -> /h and
        // ~/.config/conda/condarc -> /x reported [/e1, /e2, /c, /h, /x, <root>/envs,
        // ~/.conda/envs]; the root's own .condarc ranks below every user file.
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let root = t.path().join("root");
        std::fs::create_dir_all(home.join(".config/conda")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(t.path().join("rc"), "envs_dirs: [/c]\n").unwrap();
        std::fs::write(home.join(".condarc"), "envs_dirs:\n  - ~/myenvs\n").unwrap();
        std::fs::write(home.join(".config/conda/condarc"), "envs_dirs: [/x]\n").unwrap();
        std::fs::write(root.join(".condarc"), "envs_dirs: [$DATA/envs]\n").unwrap();
        let env = HostEnv::from_vars([
            ("HOME", home.display().to_string()),
            ("DATA", "/data".into()),
            ("CONDA_ENVS_DIRS", "/e1:/e2".into()),
            ("CONDARC", t.path().join("rc").display().to_string()),
        ]);
        assert_eq!(
            envs_dirs(Some(&root), &env),
            vec![
                PathBuf::from("/e1"),
                PathBuf::from("/e2"),
                PathBuf::from("/c"),
                home.join("myenvs"),
                PathBuf::from("/x"),
                PathBuf::from("/data/envs"),
                root.join("envs"),
                home.join(".conda/envs"),
            ]
        );
    }
}
