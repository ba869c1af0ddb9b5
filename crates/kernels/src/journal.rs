//! What a run changed, so a failure or an interrupt can undo exactly that.
//!
//! The executor records an entry **before** each step that creates something (so a step
//! interrupted half-way is undone too) and rolls back in reverse order:
//!
//! | entry | rollback |
//! |---|---|
//! | [`JournalEntry::EnvCreated`] | the prefix is deleted (an empty directory that was there before is left, empty) |
//! | [`JournalEntry::PackagesInstalled`] | nothing can be undone: packages installed into an environment that existed before are kept, and the report says so |
//! | [`JournalEntry::KernelWritten`] | the kernelspec directory is removed; a kernelspec it replaced is put back from its backup |
//!
//! Everything that existed before the run and is not listed here is never touched.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The name of the copy inside a backup directory.
const BACKUP_NAME: &str = "spec";

/// One change.
#[derive(Debug)]
pub enum JournalEntry {
    /// An environment is being created at `prefix`.
    EnvCreated {
        /// The prefix.
        prefix: PathBuf,
        /// It was an empty directory before (kept, emptied, on rollback).
        was_empty_dir: bool,
        /// Its ancestors that did not exist yet (the tool creates them; removed again on
        /// rollback when empty), nearest first. See [`missing_ancestors`].
        new_parents: Vec<PathBuf>,
    },
    /// Packages are being installed into an environment that existed before.
    PackagesInstalled {
        /// The environment.
        prefix: PathBuf,
        /// What was asked for.
        packages: Vec<String>,
    },
    /// A kernelspec was written at `dir`.
    KernelWritten {
        /// The spec directory.
        dir: PathBuf,
        /// A copy of the kernelspec it replaced.
        backup: Option<tempfile::TempDir>,
        /// Its ancestors that did not exist yet (the kernels dir, the Jupyter data dir),
        /// nearest first; removed again on rollback when empty.
        new_parents: Vec<PathBuf>,
    },
}

/// What a rollback did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    /// Changes undone, one sentence each.
    pub undone: Vec<String>,
    /// Changes that cannot be undone and were kept.
    pub kept: Vec<String>,
    /// Undo attempts that failed (with why).
    pub failed: Vec<String>,
}

impl RollbackReport {
    /// True when nothing had to be done.
    pub fn is_empty(&self) -> bool {
        self.undone.is_empty() && self.kept.is_empty() && self.failed.is_empty()
    }
}

/// The changes of one run, in order.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Vec<JournalEntry>,
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Journal {
        Journal::default()
    }

    /// Records a change (before it is made).
    pub fn record(&mut self, entry: JournalEntry) {
        self.entries.push(entry);
    }

    /// The entries so far.
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }

    /// Keeps every change (the run succeeded); backups are deleted.
    pub fn commit(self) {
        drop(self.entries);
    }

    /// Undoes every change, newest first.
    pub fn rollback(self) -> RollbackReport {
        let mut report = RollbackReport::default();
        for entry in self.entries.into_iter().rev() {
            match entry {
                JournalEntry::EnvCreated {
                    prefix,
                    was_empty_dir,
                    new_parents,
                } => {
                    undo_env(&prefix, was_empty_dir, &mut report);
                    remove_empty(&new_parents);
                }
                JournalEntry::PackagesInstalled { prefix, packages } => report.kept.push(format!(
                    "the environment {} existed before this run and is not rolled back: \
                     packages cannot be uninstalled, so whatever the installer put in before \
                     it stopped stays (asked for: {})",
                    prefix.display(),
                    packages.join(" ")
                )),
                JournalEntry::KernelWritten {
                    dir,
                    backup,
                    new_parents,
                } => {
                    undo_kernel(&dir, backup, &mut report);
                    remove_empty(&new_parents);
                }
            }
        }
        report
    }
}

/// The ancestors of `path` that do not exist, nearest first (what `mkdir -p` of `path` would
/// create).
pub fn missing_ancestors(path: &Path) -> Vec<PathBuf> {
    path.ancestors()
        .skip(1)
        .take_while(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect()
}

/// Removes the directories of `dirs` (nearest first) that are empty; stops at the first that
/// is not (something else now lives there).
pub(crate) fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

fn undo_env(prefix: &Path, was_empty_dir: bool, report: &mut RollbackReport) {
    if std::fs::symlink_metadata(prefix).is_err() {
        report.undone.push(format!(
            "nothing is left of the environment {}",
            prefix.display()
        ));
        return;
    }
    let result = if was_empty_dir {
        empty_dir(prefix)
    } else {
        std::fs::remove_dir_all(prefix)
    };
    match result {
        Ok(()) => report
            .undone
            .push(format!("removed the environment {}", prefix.display())),
        Err(e) => report.failed.push(format!(
            "could not remove the environment {}: {e}",
            prefix.display()
        )),
    }
}

fn empty_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if std::fs::symlink_metadata(&path)?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn undo_kernel(dir: &Path, backup: Option<tempfile::TempDir>, report: &mut RollbackReport) {
    if std::fs::symlink_metadata(dir).is_ok() {
        if let Err(e) = kernelspec::remove(dir) {
            report.failed.push(format!(
                "could not remove the kernelspec {}: {e}",
                dir.display()
            ));
            return;
        }
    }
    match backup {
        None => report
            .undone
            .push(format!("removed the kernelspec {}", dir.display())),
        Some(b) => match kernelspec::copy_tree(&b.path().join(BACKUP_NAME), dir) {
            Ok(()) => report.undone.push(format!(
                "restored the previous kernelspec {}",
                dir.display()
            )),
            Err(e) => report.failed.push(format!(
                "could not restore the previous kernelspec {} (a copy is at {}): {e}",
                dir.display(),
                b.keep().display()
            )),
        },
    }
}

/// Copies a kernelspec directory aside (outside every kernels directory, so Jupyter never
/// sees the copy), for [`JournalEntry::KernelWritten`].
pub fn backup_kernel_dir(dir: &Path) -> std::io::Result<tempfile::TempDir> {
    let holder = tempfile::Builder::new()
        .prefix("kernels-backup-")
        .tempdir()?;
    let copy = holder.path().join(BACKUP_NAME);
    kernelspec::copy_tree(dir, &copy).map_err(|e| {
        let kind = e.source.kind();
        std::io::Error::new(kind, e)
    })?;
    Ok(holder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn directories_this_run_made_for_an_env_go_too_unless_something_else_lives_there() {
        let t = tempfile::tempdir().unwrap();
        let prefix = t.path().join("a/b/env");
        let parents = missing_ancestors(&prefix);
        assert_eq!(parents, [t.path().join("a/b"), t.path().join("a")]);
        fs::create_dir_all(prefix.join("bin")).unwrap();
        let mut j = Journal::new();
        j.record(JournalEntry::EnvCreated {
            prefix: prefix.clone(),
            was_empty_dir: false,
            new_parents: parents.clone(),
        });
        j.rollback();
        assert!(!t.path().join("a").exists());

        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::create_dir_all(t.path().join("a/other")).unwrap();
        let mut j = Journal::new();
        j.record(JournalEntry::EnvCreated {
            prefix,
            was_empty_dir: false,
            new_parents: parents,
        });
        j.rollback();
        assert!(!t.path().join("a/b").exists());
        assert!(t.path().join("a/other").is_dir());
    }

    #[test]
    fn rollback_undoes_in_reverse_and_keeps_what_it_cannot_undo() {
        let t = tempfile::tempdir().unwrap();
        let new_env = t.path().join("new");
        fs::create_dir_all(new_env.join("bin")).unwrap();
        let was_empty = t.path().join("empty");
        fs::create_dir_all(was_empty.join("lib")).unwrap();
        let kernels = t.path().join("kernels");
        let fresh = kernels.join("fresh");
        fs::create_dir_all(&fresh).unwrap();
        fs::write(fresh.join("kernel.json"), "{}").unwrap();
        let replaced = kernels.join("old");
        fs::create_dir_all(&replaced).unwrap();
        fs::write(replaced.join("kernel.json"), "old").unwrap();
        let backup = backup_kernel_dir(&replaced).unwrap();
        fs::write(replaced.join("kernel.json"), "new").unwrap();

        let mut j = Journal::new();
        j.record(JournalEntry::EnvCreated {
            prefix: new_env.clone(),
            was_empty_dir: false,
            new_parents: Vec::new(),
        });
        j.record(JournalEntry::EnvCreated {
            prefix: was_empty.clone(),
            was_empty_dir: true,
            new_parents: Vec::new(),
        });
        j.record(JournalEntry::PackagesInstalled {
            prefix: "/pre/existing".into(),
            packages: vec!["numpy".into()],
        });
        j.record(JournalEntry::KernelWritten {
            dir: fresh.clone(),
            backup: None,
            new_parents: Vec::new(),
        });
        j.record(JournalEntry::KernelWritten {
            dir: replaced.clone(),
            backup: Some(backup),
            new_parents: Vec::new(),
        });
        let report = j.rollback();
        assert!(!new_env.exists());
        assert!(was_empty.is_dir() && fs::read_dir(&was_empty).unwrap().next().is_none());
        assert!(!fresh.exists());
        assert_eq!(
            fs::read_to_string(replaced.join("kernel.json")).unwrap(),
            "old"
        );
        assert_eq!(report.undone.len(), 4, "{report:?}");
        assert_eq!(report.kept.len(), 1);
        assert!(
            report.kept[0].contains("cannot be uninstalled"),
            "{report:?}"
        );
        assert!(report.failed.is_empty());
    }
}
