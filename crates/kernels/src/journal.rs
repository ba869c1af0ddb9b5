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
//! | [`JournalEntry::KernelRemoved`] | the kernelspec is put back from its backup, unless the environment it ran in was deleted by this run |
//! | [`JournalEntry::EnvDeleting`] | nothing can be undone: an environment deleted stays deleted; one left whole is said to be untouched, one half-deleted is reported with what to do |
//! | [`JournalEntry::PolicyWritten`] | the policy file gets back its previous bytes (and mode), or is removed when there was none |
//!
//! Removals (`remove`, `prune`, `apply --prune`) order their steps so the undoable ones
//! (kernelspecs, moved aside with a backup) come first and the irreversible one (deleting an
//! environment) last.
//!
//! Everything that existed before the run and is not listed here is never touched.
//!
//! # Durable
//!
//! A journal made with [`Journal::durable`] is also a file, `journal.json` in the state
//! directory of the user the run is for (beside the run lock): every entry is written and
//! fsync'd there **before** the step it describes starts, and the file goes when the run
//! commits or has rolled back. A run killed outright (SIGKILL, OOM, power loss) leaves it
//! behind; the next `kernels` command that takes that run lock finds it ([`recover`]) and
//! rolls the dead run back, saying what it did — or, when the dead run had started deleting an
//! environment (the irreversible step), completes it instead: the environment and the
//! kernelspecs removed for it are gone, never half-left. Until then the dead run's environment has
//! no kernelspec (kernel.json is written last) and its guard still says "installing"
//! ([`crate::guard`]), so nothing registers, lists as usable or adopts it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The journal file's name, in the user's kernels state directory.
pub const JOURNAL_FILE: &str = "journal.json";

/// Larger journal files are not read (they are not ours).
const MAX_JOURNAL_BYTES: u64 = 4 << 20;

/// The name of the copy inside a backup directory.
const BACKUP_NAME: &str = "spec";

/// One change.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
        /// conda's registry of environments (`~/.conda/environments.txt`), whose line for
        /// this prefix goes too.
        #[serde(default)]
        registry: Option<PathBuf>,
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
        /// A copy of the kernelspec it replaced (made by [`backup_kernel_dir`]).
        backup: Option<PathBuf>,
        /// Its ancestors that did not exist yet (the kernels dir, the Jupyter data dir),
        /// nearest first; removed again on rollback when empty.
        new_parents: Vec<PathBuf>,
    },
    /// A kernelspec is being removed; a copy of it is at `backup` (made by
    /// [`backup_kernel_dir`]) until the run commits.
    KernelRemoved {
        /// The spec directory.
        dir: PathBuf,
        /// The copy.
        backup: PathBuf,
        /// The (canonical) environment this run deletes with it, if any: once that is
        /// deleted, the kernelspec is not put back.
        #[serde(default)]
        env: Option<PathBuf>,
    },
    /// An environment is being deleted (irreversible; see the module docs).
    EnvDeleting {
        /// The canonical prefix.
        prefix: PathBuf,
        /// conda's registry of environments, whose line for this prefix goes too.
        #[serde(default)]
        registry: Option<PathBuf>,
    },
    /// A protection policy file is being rewritten (`kernels protect`, apply's
    /// `protect = true`); its previous content is kept here, in the journal itself, so the
    /// durable journal alone can put it back. Made by [`policy_write_entry`].
    PolicyWritten {
        /// The policy file.
        file: PathBuf,
        /// Its bytes before the write (policy files are UTF-8 JSON); `None`: there was none.
        previous: Option<String>,
        /// Its permission bits before the write.
        #[serde(default)]
        mode: Option<u32>,
        /// Its ancestors that did not exist yet, nearest first; removed again on rollback
        /// when empty.
        #[serde(default)]
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
    /// Irreversible steps a dead run had started, finished instead of undone.
    pub completed: Vec<String>,
    /// The kernelspec directories whose removal a dead run had started and recovery finished
    /// (so a re-run of the same `remove` knows they are gone on purpose).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_kernels: Vec<PathBuf>,
}

impl RollbackReport {
    /// True when nothing had to be done.
    pub fn is_empty(&self) -> bool {
        self.undone.is_empty()
            && self.kept.is_empty()
            && self.failed.is_empty()
            && self.completed.is_empty()
    }
}

/// The changes of one run, in order.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Vec<JournalEntry>,
    /// The durable copy, when there is one.
    file: Option<PathBuf>,
}

/// The journal file's contents.
#[derive(Debug, Deserialize)]
struct JournalDoc {
    /// The process that wrote it.
    pid: u32,
    entries: Vec<JournalEntry>,
}

impl Journal {
    /// An empty journal, in memory only.
    pub fn new() -> Journal {
        Journal::default()
    }

    /// An empty journal kept durably in `state_dir` (see the module docs); nothing is written
    /// until the first entry.
    pub fn durable(state_dir: &Path) -> Journal {
        Journal {
            entries: Vec::new(),
            file: Some(state_dir.join(JOURNAL_FILE)),
        }
    }

    /// Records a change before it is made: in memory, and durably (fsync'd) when the journal
    /// has a file; an error means the change must not be made.
    pub fn record(&mut self, entry: JournalEntry) -> std::io::Result<()> {
        self.entries.push(entry);
        match &self.file {
            Some(path) => write_doc(path, &self.entries),
            None => Ok(()),
        }
    }

    /// The journal file, when the journal is durable.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The entries so far.
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }

    /// Keeps every change (the run succeeded); backups and the journal file are deleted.
    pub fn commit(self) {
        for entry in &self.entries {
            match entry {
                JournalEntry::KernelWritten {
                    backup: Some(b), ..
                }
                | JournalEntry::KernelRemoved { backup: b, .. } => {
                    let _ = std::fs::remove_dir_all(b);
                }
                _ => {}
            }
        }
        remove_file_synced(self.file.as_deref());
    }

    /// Undoes every change, newest first; the journal file goes afterwards.
    pub fn rollback(self) -> RollbackReport {
        let mut report = RollbackReport::default();
        let file = self.file.clone();
        // Environments this run deleted (even in part): their kernelspecs stay removed.
        let mut deleted: Vec<PathBuf> = Vec::new();
        for entry in self.entries.into_iter().rev() {
            match entry {
                JournalEntry::EnvCreated {
                    prefix,
                    was_empty_dir,
                    new_parents,
                    registry,
                } => {
                    undo_env(&prefix, was_empty_dir, &mut report);
                    if let Some(r) = registry {
                        unregister_conda_env(&r, &prefix);
                    }
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
                JournalEntry::EnvDeleting { prefix, .. } => {
                    if judge_deleted_env(&prefix, &mut report) {
                        deleted.push(prefix);
                    }
                }
                JournalEntry::KernelRemoved { dir, backup, env } => match env {
                    Some(e) if deleted.contains(&e) => {
                        let _ = std::fs::remove_dir_all(&backup);
                        report.kept.push(format!(
                            "the kernelspec {} stays removed: its environment {} was deleted",
                            dir.display(),
                            e.display()
                        ));
                    }
                    _ => restore_kernel(&dir, &backup, &mut report),
                },
                JournalEntry::PolicyWritten {
                    file,
                    previous,
                    mode,
                    new_parents,
                } => {
                    undo_policy(&file, previous.as_deref(), mode, &mut report);
                    remove_empty(&new_parents);
                }
            }
        }
        remove_file_synced(file.as_deref());
        report
    }

    /// Finishes what a dead run started (see [`recover`]): every environment it was deleting
    /// is deleted, every kernelspec it was removing is removed, and the journal goes.
    fn complete(self, state_dir: &Path) -> RollbackReport {
        let mut report = RollbackReport::default();
        for entry in &self.entries {
            match entry {
                JournalEntry::KernelRemoved { dir, backup, .. } => {
                    if std::fs::symlink_metadata(dir).is_ok() {
                        if let Err(e) = kernelspec::remove(dir) {
                            report.failed.push(format!(
                                "could not remove the kernelspec {}: {e}",
                                dir.display()
                            ));
                            continue;
                        }
                    }
                    let _ = std::fs::remove_dir_all(backup);
                    report
                        .completed
                        .push(format!("removed the kernelspec {}", dir.display()));
                    report.removed_kernels.push(dir.clone());
                }
                JournalEntry::EnvDeleting { prefix, registry } => {
                    finish_env_deletion(state_dir, prefix, registry.as_deref(), &mut report)
                }
                // Only removals are completed; a journal mixing in creations is rolled back.
                _ => {}
            }
        }
        remove_file_synced(self.file.as_deref());
        report
    }

    /// True when the run had begun an irreversible step, so a dead run is completed, not
    /// rolled back.
    fn past_point_of_no_return(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, JournalEntry::EnvDeleting { .. }))
    }
}

/// After a failed deletion: says what became of the environment at `prefix`; true when it
/// is gone or no longer whole (so the kernelspecs removed for it stay removed).
fn judge_deleted_env(prefix: &Path, report: &mut RollbackReport) -> bool {
    if std::fs::symlink_metadata(prefix).is_err() {
        report.kept.push(format!(
            "the environment {} was deleted; that cannot be undone",
            prefix.display()
        ));
        return true;
    }
    if env_is_whole(prefix) {
        report.undone.push(format!(
            "the environment {} was not deleted and is as it was",
            prefix.display()
        ));
        return false;
    }
    report.failed.push(format!(
        "the environment {} is partly deleted and no longer usable; delete what is left \
         (`rm -rf {}`) or run the same command again",
        prefix.display(),
        prefix.display()
    ));
    true
}

/// An environment whose interpreter and identifying file are still there.
fn env_is_whole(prefix: &Path) -> bool {
    let python = prefix.join("bin/python");
    let marked = prefix.join("conda-meta").is_dir() || prefix.join("pyvenv.cfg").is_file();
    marked && std::fs::metadata(python).is_ok()
}

/// Deletes what is left of an environment a dead run was deleting (the directory, never
/// through a symlink), its conda registry line, its prefix lock file and its record.
fn finish_env_deletion(
    state_dir: &Path,
    prefix: &Path,
    registry: Option<&Path>,
    report: &mut RollbackReport,
) {
    match std::fs::symlink_metadata(prefix) {
        Err(_) => {}
        Ok(m) if m.is_dir() => {
            if let Err(e) = std::fs::remove_dir_all(prefix) {
                report.failed.push(format!(
                    "could not finish deleting the environment {}: {e}",
                    prefix.display()
                ));
                return;
            }
        }
        Ok(_) => {
            report.failed.push(format!(
                "{} is no longer a directory; it was left as it is",
                prefix.display()
            ));
            return;
        }
    }
    if let Some(r) = registry {
        unregister_conda_env(r, prefix);
    }
    let lock = crate::prefix_lock::PrefixLock::path_for(prefix);
    if std::fs::symlink_metadata(&lock).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::remove_file(&lock);
    }
    let _ = crate::ownership::forget_in(state_dir, prefix);
    report
        .completed
        .push(format!("deleted the environment {}", prefix.display()));
}

/// What [`recover`] found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// The process that left the journal.
    pub pid: u32,
    /// What rolling it back did.
    pub report: RollbackReport,
}

/// Why an unfinished journal cannot be finished.
#[derive(Debug, thiserror::Error)]
#[error("an unfinished run left {} and it cannot be rolled back: {why}", path.display())]
pub struct RecoveryError {
    /// The journal file.
    pub path: PathBuf,
    /// Why.
    pub why: String,
}

/// The process that left an unfinished journal in `state_dir`, if one did (read, not acted
/// on; for `doctor`).
pub fn unfinished(state_dir: &Path) -> Result<Option<u32>, RecoveryError> {
    read_doc(&state_dir.join(JOURNAL_FILE)).map(|d| d.map(|d| d.pid))
}

/// Rolls back the run that left a journal in `state_dir` (call it holding that directory's
/// run lock, so the run that wrote it is gone). `Ok(None)` when there is none.
pub fn recover(state_dir: &Path) -> Result<Option<Recovery>, RecoveryError> {
    let path = state_dir.join(JOURNAL_FILE);
    let Some(doc) = read_doc(&path)? else {
        return Ok(None);
    };
    let created: Vec<PathBuf> = doc
        .entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::EnvCreated { prefix, .. } => Some(prefix.clone()),
            _ => None,
        })
        .collect();
    let canonical: Vec<PathBuf> = created
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let journal = Journal {
        entries: doc.entries,
        file: Some(path),
    };
    if journal.past_point_of_no_return() {
        return Ok(Some(Recovery {
            pid: doc.pid,
            report: journal.complete(state_dir),
        }));
    }
    let report = journal.rollback();
    // The dead run's prefix lock files, the directories it made for them, and its records
    // of the environments it made go too.
    for prefix in &created {
        let lock = crate::prefix_lock::PrefixLock::path_for(prefix);
        if std::fs::symlink_metadata(&lock).is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(&lock);
        }
    }
    for c in canonical {
        let _ = crate::ownership::forget_in(state_dir, &c);
    }
    Ok(Some(Recovery {
        pid: doc.pid,
        report,
    }))
}

fn read_doc(path: &Path) -> Result<Option<JournalDoc>, RecoveryError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let err = |why: String| RecoveryError {
        path: path.to_path_buf(),
        why,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let euid = rustix::process::geteuid().as_raw();
    if !meta.is_file() || meta.len() > MAX_JOURNAL_BYTES || meta.mode() & 0o022 != 0 {
        return Err(err("it is not a plain private file".into()));
    }
    if meta.uid() != euid {
        return Err(err(format!(
            "it belongs to another user (uid {})",
            meta.uid()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_JOURNAL_BYTES).read_to_end(&mut bytes))
        .map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| err(format!("it does not parse ({e})")))
}

/// Writes the journal atomically and durably (see [`crate::durable::write_private`]).
fn write_doc(path: &Path, entries: &[JournalEntry]) -> std::io::Result<()> {
    let doc = serde_json::json!({
        "version": 1,
        "pid": std::process::id(),
        "entries": entries,
    });
    crate::durable::write_private(path, doc.to_string().as_bytes())
}

fn remove_file_synced(path: Option<&Path>) {
    if let Some(p) = path {
        if std::fs::remove_file(p).is_ok() {
            crate::durable::sync_dir(p.parent().unwrap_or(Path::new(".")));
        }
    }
}

/// Drops `prefix`'s line from conda's registry of environments (`environments.txt`), when
/// it has one; the file is rewritten atomically, the other lines kept as they were.
pub(crate) fn unregister_conda_env(registry: &Path, prefix: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(registry) else {
        return;
    };
    if !meta.is_file() || meta.len() > MAX_JOURNAL_BYTES {
        return;
    }
    let Ok(text) = std::fs::read_to_string(registry) else {
        return;
    };
    let wanted = prefix.to_string_lossy();
    let wanted = wanted.trim_end_matches('/');
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_end_matches('/') != wanted)
        .collect();
    if kept.len() == text.lines().count() {
        return;
    }
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let tmp = registry.with_extension(format!("txt.{}.tmp", std::process::id()));
    if std::fs::write(&tmp, out).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return;
    }
    let _ = std::fs::set_permissions(&tmp, meta.permissions());
    if std::fs::rename(&tmp, registry).is_err() {
        let _ = std::fs::remove_file(&tmp);
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

/// Puts a removed kernelspec back from its backup (when it is not there again already).
fn restore_kernel(dir: &Path, backup: &Path, report: &mut RollbackReport) {
    if std::fs::symlink_metadata(dir).is_ok() {
        let _ = std::fs::remove_dir_all(backup);
        return;
    }
    match kernelspec::copy_tree(&backup.join(BACKUP_NAME), dir) {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(backup);
            report
                .undone
                .push(format!("put back the kernelspec {}", dir.display()));
        }
        Err(e) => report.failed.push(format!(
            "could not put back the kernelspec {} (a copy is at {}): {e}",
            dir.display(),
            backup.display()
        )),
    }
}

fn undo_kernel(dir: &Path, backup: Option<PathBuf>, report: &mut RollbackReport) {
    let written = std::fs::symlink_metadata(dir).is_ok();
    if written {
        if let Err(e) = kernelspec::remove(dir) {
            report.failed.push(format!(
                "could not remove the kernelspec {}: {e}",
                dir.display()
            ));
            return;
        }
    }
    match backup {
        // Nothing there and nothing replaced: it was never written; nothing to undo or say.
        None if !written => {}
        None => report
            .undone
            .push(format!("removed the kernelspec {}", dir.display())),
        Some(b) => match kernelspec::copy_tree(&b.join(BACKUP_NAME), dir) {
            Ok(()) => {
                let _ = std::fs::remove_dir_all(&b);
                report.undone.push(format!(
                    "restored the previous kernelspec {}",
                    dir.display()
                ))
            }
            Err(e) => report.failed.push(format!(
                "could not restore the previous kernelspec {} (a copy is at {}): {e}",
                dir.display(),
                b.display()
            )),
        },
    }
}

/// The entry to record before rewriting the policy file at `path`: its current bytes and mode,
/// or that it does not exist yet. An error (unreadable, not a regular file, too large, not
/// UTF-8) means the file must not be rewritten.
pub fn policy_write_entry(path: &Path) -> std::io::Result<JournalEntry> {
    use std::os::unix::fs::PermissionsExt;
    let (previous, mode) = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
        Err(e) => return Err(e),
        Ok(meta) => {
            let bytes = kernelspec::bounded::read_regular_nofollow(path, MAX_JOURNAL_BYTES)
                .map_err(std::io::Error::other)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")
            })?;
            (Some(text), Some(meta.permissions().mode() & 0o7777))
        }
    };
    Ok(JournalEntry::PolicyWritten {
        file: path.to_path_buf(),
        previous,
        mode,
        new_parents: missing_ancestors(path),
    })
}

/// Puts a policy file back as it was before the run (see [`JournalEntry::PolicyWritten`]);
/// a file that is still as it was (the write never happened) is left alone, unsaid.
fn undo_policy(
    file: &Path,
    previous: Option<&str>,
    mode: Option<u32>,
    report: &mut RollbackReport,
) {
    let now = std::fs::symlink_metadata(file)
        .ok()
        .filter(|m| m.is_file())
        .and_then(|_| std::fs::read(file).ok());
    let (result, done) = match previous {
        None if std::fs::symlink_metadata(file).is_err() => return,
        None => (
            std::fs::remove_file(file),
            "removed the policy file this run wrote",
        ),
        Some(text) if now.as_deref() == Some(text.as_bytes()) => return,
        Some(text) => (
            replace_file(file, text.as_bytes(), mode.unwrap_or(0o644)),
            "restored the previous policy file",
        ),
    };
    match result {
        Ok(()) => report.undone.push(format!("{done} {}", file.display())),
        Err(e) => report.failed.push(format!(
            "could not restore the policy file {} as it was before this run: {e}",
            file.display()
        )),
    }
}

/// Replaces `path` atomically and durably with `bytes`, mode `mode` (set before the rename,
/// so the file is never seen with other permissions).
fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".policy.json.")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    crate::durable::sync_dir(dir);
    Ok(())
}

/// Copies a kernelspec directory aside (outside every kernels directory, so Jupyter never
/// sees the copy), for [`JournalEntry::KernelWritten`]; returns the directory holding the
/// copy, which outlives the process (a durable journal names it) until the run commits or
/// rolls back.
pub fn backup_kernel_dir(dir: &Path) -> std::io::Result<PathBuf> {
    let holder = tempfile::Builder::new()
        .prefix("kernels-backup-")
        .tempdir()?;
    let copy = holder.path().join(BACKUP_NAME);
    kernelspec::copy_tree(dir, &copy).map_err(|e| {
        let kind = e.source.kind();
        std::io::Error::new(kind, e)
    })?;
    Ok(holder.keep())
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
            registry: None,
        })
        .unwrap();
        j.rollback();
        assert!(!t.path().join("a").exists());

        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::create_dir_all(t.path().join("a/other")).unwrap();
        let mut j = Journal::new();
        j.record(JournalEntry::EnvCreated {
            prefix,
            was_empty_dir: false,
            new_parents: parents,
            registry: None,
        })
        .unwrap();
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
            registry: None,
        })
        .unwrap();
        j.record(JournalEntry::EnvCreated {
            prefix: was_empty.clone(),
            was_empty_dir: true,
            new_parents: Vec::new(),
            registry: None,
        })
        .unwrap();
        j.record(JournalEntry::PackagesInstalled {
            prefix: "/pre/existing".into(),
            packages: vec!["numpy".into()],
        })
        .unwrap();
        j.record(JournalEntry::KernelWritten {
            dir: fresh.clone(),
            backup: None,
            new_parents: Vec::new(),
        })
        .unwrap();
        j.record(JournalEntry::KernelWritten {
            dir: replaced.clone(),
            backup: Some(backup),
            new_parents: Vec::new(),
        })
        .unwrap();
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

    #[test]
    fn a_policy_write_is_undone_byte_for_byte_and_an_unwritten_one_is_not_mentioned() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("policy.json");
        let before = "{\n  \"kernels\": [ {\"name\": \"a\"} ]\n}\n";
        fs::write(&file, before).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        let mut j = Journal::new();
        j.record(policy_write_entry(&file).unwrap()).unwrap();
        fs::write(&file, "{}").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let report = j.rollback();
        assert_eq!(fs::read_to_string(&file).unwrap(), before);
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(report.undone.len(), 1, "{report:?}");
        assert!(report.undone[0].contains("restored the previous policy file"));

        // The write never happened (it failed): nothing to undo, nothing said.
        let mut j = Journal::new();
        j.record(policy_write_entry(&file).unwrap()).unwrap();
        assert!(j.rollback().is_empty());
        assert_eq!(fs::read_to_string(&file).unwrap(), before);

        // There was no file (nor its directory): both go again.
        let fresh = t.path().join("cfg/kernels/policy.json");
        let mut j = Journal::new();
        j.record(policy_write_entry(&fresh).unwrap()).unwrap();
        fs::create_dir_all(fresh.parent().unwrap()).unwrap();
        fs::write(&fresh, "{}").unwrap();
        let report = j.rollback();
        assert!(!t.path().join("cfg").exists(), "{report:?}");
        assert_eq!(report.undone.len(), 1, "{report:?}");
    }

    #[test]
    fn a_run_killed_after_writing_the_policy_file_is_rolled_back_by_the_next_one() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        let file = t.path().join("policy.json");
        fs::write(&file, "previous\n").unwrap();
        let mut j = Journal::durable(&state);
        j.record(policy_write_entry(&file).unwrap()).unwrap();
        fs::write(&file, "half of a new policy").unwrap();
        // Killed here: no commit, no rollback; only the journal file is left.
        drop(j);
        assert_eq!(unfinished(&state).unwrap(), Some(std::process::id()));
        let recovery = recover(&state).unwrap().expect("an unfinished journal");
        assert_eq!(fs::read_to_string(&file).unwrap(), "previous\n");
        assert!(recovery.report.undone[0].contains("restored the previous policy file"));
        assert!(recovery.report.failed.is_empty(), "{:?}", recovery.report);
        assert!(!state.join(JOURNAL_FILE).exists());
        assert!(recover(&state).unwrap().is_none());
    }
}
