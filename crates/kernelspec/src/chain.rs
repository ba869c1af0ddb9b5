//! An error and its causes as text: the one helper every crate uses to flatten a
//! `std::error::Error` source chain (the CLI renders the same list as `Caused by:` lines).
//!
//! It lives here because this is the lowest crate of the workspace: `envs` (rattler's
//! errors) and `boot` (boot reports carry error text) both use it, and `boot` re-exports it
//! for `kernels` and the CLI.

/// The messages of `err` and its sources, outermost first, with repeats dropped.
///
/// A cause is dropped when its message is empty, equals the message before it, or is
/// the tail of the message before it (`"reading x: {source}"` style errors that already
/// embed their source). Unlike a substring test, a short cause such as `"denied"` is kept
/// when the message before it merely contains the word somewhere in the middle.
pub fn causes(err: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !repeats(out.last().map(String::as_str).unwrap_or(""), &text) {
            out.push(text);
        }
        source = cause.source();
    }
    out
}

/// `error: cause: root cause` on one line (see [`causes`] for what is left out).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    causes(err).join(": ")
}

/// True when `cause` adds nothing to `previous`, the message printed just before it.
pub fn repeats(previous: &str, cause: &str) -> bool {
    let cause = cause.trim();
    if cause.is_empty() || previous.trim() == cause {
        return true;
    }
    let previous = previous.trim_end();
    previous
        .strip_suffix(cause)
        .is_some_and(|head| head.ends_with(": ") || head.ends_with('\n'))
        || previous
            .strip_suffix(')')
            .and_then(|p| p.strip_suffix(cause))
            .is_some_and(|head| head.ends_with('('))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    fn chain(parts: &[&'static str]) -> E {
        parts
            .iter()
            .rev()
            .fold(None, |inner, p| Some(E(p, inner.map(Box::new))))
            .expect("at least one part")
    }

    #[test]
    fn embedded_and_repeated_causes_are_dropped() {
        let e = chain(&["reading x: denied", "denied", "denied", "os error 13"]);
        assert_eq!(causes(&e), ["reading x: denied", "os error 13"]);
        assert_eq!(error_chain(&e), "reading x: denied: os error 13");
        let e = chain(&["bad file (no such file)", "no such file"]);
        assert_eq!(causes(&e), ["bad file (no such file)"]);
    }

    #[test]
    fn a_cause_merely_mentioned_inside_is_kept() {
        // A substring test would drop "denied" here, and the reader would never see why.
        let e = chain(&["denied access list is unreadable", "denied"]);
        assert_eq!(causes(&e), ["denied access list is unreadable", "denied"]);
        let e = chain(&["access denied", "denied"]);
        assert_eq!(causes(&e), ["access denied", "denied"]);
        let e = chain(&["", "x"]);
        assert_eq!(causes(&e), ["", "x"]);
    }
}
