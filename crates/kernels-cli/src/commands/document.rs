//! The one `--json` document of a mutating run, and the one shape of its error part.
//!
//! Success (stdout, one document):
//! `{"ok": true, "dry_run": bool, "plan": {"kernels": [...]}, "warnings": [...],
//!   "outcome": {"kernels": [...], "executed": [...]} | null}`; commands add their own keys.
//! A failure sets `"ok": false` and adds `"exit_code"` and
//! `"error": {"kind", "message", "hint"}` ([`mark_failed`]); a command that fails before it
//! has a document prints [`error_document`] alone.

use kernels::{Outcome, Plan, PlanWarning};
use serde_json::{json, Value};

use crate::exit::{Code, Failure};

/// The `--json` document of `add`, `install` and `apply`.
pub fn document(
    plan: &Plan,
    warnings: &[PlanWarning],
    outcome: Option<&Outcome>,
    dry_run: bool,
) -> Value {
    json!({
        "ok": true,
        "dry_run": dry_run,
        "plan": plan,
        "warnings": warnings,
        "outcome": outcome,
    })
}

/// A document holding only an error (what `main` prints for a command that failed).
pub fn error_document(code: Code, message: &str, hint: Option<&str>) -> Value {
    let mut doc = json!({});
    mark(&mut doc, code, message, hint);
    doc
}

/// Marks `doc` as failed with `failure`, as `main` would have printed it.
pub fn mark_failed(doc: &mut Value, failure: &Failure) {
    mark(
        doc,
        failure.code,
        &failure.one_line(),
        failure.hint.as_deref(),
    );
}

fn mark(doc: &mut Value, code: Code, message: &str, hint: Option<&str>) {
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("ok".into(), json!(false));
        obj.insert("exit_code".into(), json!(code.as_u8()));
        obj.insert(
            "error".into(),
            json!({"kind": code.word(), "message": message, "hint": hint}),
        );
    }
}
