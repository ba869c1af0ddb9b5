//! Package requests and what an environment already has, read from disk (no subprocess).
//!
//! * conda packages: the file names of `conda-meta/<name>-<version>-<build>.json`;
//! * Python packages: `*.dist-info/METADATA` (`Name:`/`Version:`) in every
//!   `lib/python*/site-packages`, plus `*.egg-info` directory names.
//!
//! "Missing" means *no package of that name is installed*; version constraints in a spec
//! are not evaluated (that needs a solver). Specs that are URLs or paths cannot be
//! matched by name and always count as missing, so the installer sees them.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Packages to install: conda specs and pip (PyPI) requirement strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSet {
    /// conda match specs (`numpy`, `python=3.11`, `conda-forge::pandas>=2`).
    pub conda: Vec<String>,
    /// pip requirements (`requests`, `pandas[excel]>=2`).
    pub pip: Vec<String>,
}

impl PackageSet {
    /// True when both lists are empty.
    pub fn is_empty(&self) -> bool {
        self.conda.is_empty() && self.pip.is_empty()
    }
}

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The distribution name of a pip requirement, normalised; `None` for URLs and paths.
pub fn pip_spec_name(spec: &str) -> Option<String> {
    let s = spec.trim();
    if s.contains("://") || s.starts_with('.') || s.starts_with('/') || s.starts_with('-') {
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(s.len());
    let name = &s[..end];
    (!name.is_empty()).then(|| normalize_name(name))
}

/// The package name of a conda match spec (channel prefix and constraints removed,
/// lower-cased); `None` for URLs and paths.
pub fn conda_spec_name(spec: &str) -> Option<String> {
    let s = spec.trim();
    if s.contains("://") || s.starts_with('.') || s.starts_with('/') {
        return None;
    }
    let s = s.rsplit("::").next().unwrap_or(s);
    let end = s
        .find([' ', '=', '<', '>', '!', '~', '[', '*', '@'])
        .unwrap_or(s.len());
    let name = s[..end].trim();
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// Splits a `conda-meta` record file name `name-version-build.json` into
/// `(name, version)`.
pub fn parse_conda_meta_file_name(file_name: &str) -> Option<(String, String)> {
    let stem = file_name.strip_suffix(".json")?;
    let mut parts = stem.rsplitn(3, '-');
    let _build = parts.next()?;
    let version = parts.next()?;
    let name = parts.next()?;
    (!name.is_empty()).then(|| (name.to_owned(), version.to_owned()))
}

/// `(name, version)` of every conda package recorded in `<prefix>/conda-meta`, sorted.
pub fn conda_packages(prefix: &Path) -> Vec<(String, String)> {
    let Ok(rd) = fs::read_dir(prefix.join("conda-meta")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|e| parse_conda_meta_file_name(e.file_name().to_str()?))
        .collect();
    out.sort();
    out
}

/// Every `lib/python*/site-packages` (and `lib64/…`) directory of a prefix.
pub fn site_packages_dirs(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(rd) = fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with("python"))
            })
            .map(|e| e.path().join("site-packages"))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            if !out.iter().any(|o: &PathBuf| same_file(o, &d)) {
                out.push(d);
            }
        }
    }
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// `(normalised name, version)` of every Python distribution installed in `prefix`,
/// read from `*.dist-info/METADATA` (falling back to the directory name) and
/// `*.egg-info` names. Sorted and de-duplicated. No subprocess.
pub fn installed_packages(prefix: &Path) -> Vec<(String, String)> {
    let mut out = BTreeSet::new();
    for sp in site_packages_dirs(prefix) {
        let Ok(rd) = fs::read_dir(&sp) else { continue };
        for entry in rd.flatten() {
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            if let Some(stem) = name.strip_suffix(".dist-info") {
                let from_meta = read_metadata_name_version(&entry.path().join("METADATA"));
                if let Some((n, v)) = from_meta.or_else(|| split_dist_stem(stem)) {
                    out.insert((normalize_name(&n), v));
                }
            } else if let Some(stem) = name.strip_suffix(".egg-info") {
                if let Some((n, v)) = split_dist_stem(stem) {
                    out.insert((normalize_name(&n), v));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// `name-version` (PEP 427 escaped) → parts.
fn split_dist_stem(stem: &str) -> Option<(String, String)> {
    let (name, rest) = stem.split_once('-')?;
    let version = rest.split('-').next().unwrap_or(rest);
    Some((name.to_owned(), version.to_owned()))
}

/// Reads `Name:` and `Version:` from the header of a core-metadata file.
fn read_metadata_name_version(path: &Path) -> Option<(String, String)> {
    let f = fs::File::open(path).ok()?;
    let (mut name, mut version) = (None, None);
    for line in BufReader::new(f).lines() {
        let line = line.ok()?;
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim().to_owned());
        }
        if name.is_some() && version.is_some() {
            break;
        }
    }
    Some((name?, version.unwrap_or_default()))
}

/// The pip requirements of `wanted` whose distribution is not installed in `prefix`.
pub fn missing_pip(prefix: &Path, wanted: &[String]) -> Vec<String> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let have: BTreeSet<String> = installed_packages(prefix)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    wanted
        .iter()
        .filter(|spec| pip_spec_name(spec).is_none_or(|n| !have.contains(&n)))
        .cloned()
        .collect()
}

/// The conda specs of `wanted` whose package is not recorded in `<prefix>/conda-meta`.
pub fn missing_conda(prefix: &Path, wanted: &[String]) -> Vec<String> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let have: BTreeSet<String> = conda_packages(prefix)
        .into_iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    wanted
        .iter()
        .filter(|spec| conda_spec_name(spec).is_none_or(|n| !have.contains(&n)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503() {
        assert_eq!(normalize_name("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(normalize_name("jupyter_client"), "jupyter-client");
    }

    #[test]
    fn spec_names() {
        assert_eq!(
            pip_spec_name("pandas[excel]>=2 ; python_version>'3'"),
            Some("pandas".into())
        );
        assert_eq!(
            pip_spec_name("Typing_Extensions==4"),
            Some("typing-extensions".into())
        );
        assert_eq!(pip_spec_name("git+https://x/y"), None);
        assert_eq!(pip_spec_name("./local"), None);
        assert_eq!(
            conda_spec_name("conda-forge::numpy>=1.2"),
            Some("numpy".into())
        );
        assert_eq!(conda_spec_name("python=3.11"), Some("python".into()));
        assert_eq!(conda_spec_name("r-base 4.3.*"), Some("r-base".into()));
    }

    #[test]
    fn conda_meta_names_keep_dashes() {
        assert_eq!(
            parse_conda_meta_file_name("python-dateutil-2.9.0-pyh_local_0.json"),
            Some(("python-dateutil".into(), "2.9.0".into()))
        );
        assert_eq!(parse_conda_meta_file_name("history"), None);
    }

    #[test]
    fn reads_dist_info_and_conda_meta() {
        let t = tempfile::tempdir().unwrap();
        let sp = t.path().join("lib/python3.11/site-packages");
        fs::create_dir_all(sp.join("ipykernel-6.29.5.dist-info")).unwrap();
        fs::write(
            sp.join("ipykernel-6.29.5.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: ipykernel\nVersion: 6.29.5\n\nbody\n",
        )
        .unwrap();
        fs::create_dir_all(sp.join("jupyter_client-8.6.0.dist-info")).unwrap();
        fs::create_dir_all(t.path().join("conda-meta")).unwrap();
        fs::write(t.path().join("conda-meta/numpy-2.0.0-py311_0.json"), "{}").unwrap();
        fs::write(t.path().join("conda-meta/history"), "").unwrap();

        assert_eq!(
            installed_packages(t.path()),
            vec![
                ("ipykernel".into(), "6.29.5".into()),
                ("jupyter-client".into(), "8.6.0".into())
            ]
        );
        let want = vec![
            "IPyKernel>=6".to_owned(),
            "jupyter_client".into(),
            "six".into(),
        ];
        assert_eq!(missing_pip(t.path(), &want), vec!["six".to_owned()]);
        let want = vec!["numpy>=1".to_owned(), "scipy".into()];
        assert_eq!(missing_conda(t.path(), &want), vec!["scipy".to_owned()]);
    }
}
