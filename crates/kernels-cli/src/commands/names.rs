//! Kernel-name handling shared by the commands that take names.

use kernelspec::{Discovery, KernelName};

use crate::exit::Failure;

/// Parses a kernel name given on the command line; an invalid one is a usage error (exit 2)
/// stating the rule, raised before any file is touched.
pub fn parse_name(raw: &str) -> Result<KernelName, Failure> {
    KernelName::parse(raw).map_err(|e| {
        Failure::usage(format!(
            "invalid kernel name `{}`: {}",
            printable(raw),
            e.what
        ))
        .hint(kernelspec::NAME_RULE)
    })
}

/// "no kernel named X" (exit 1) with the closest names as a hint.
pub fn unknown_kernel(name: &str, discovery: &Discovery) -> Failure {
    let close = discovery.closest_names(name, 3);
    let hint = if close.is_empty() {
        "`kernels list` shows the kernels Jupyter sees".to_string()
    } else {
        format!("did you mean {}?", quoted_list(&close))
    };
    Failure::failed(format!("no kernel named `{}`", printable(name))).hint(hint)
}

/// `` `a`, `b` or `c` `` (names are quoted with backticks everywhere).
pub fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// Control characters (a NUL, a newline) made visible so an error stays one line.
pub fn printable(raw: &str) -> String {
    raw.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_are_usage_errors_with_the_rule() {
        for bad in ["../x", "/abs", "a/b", "a\0b", "", ".", "..", "spaced name"] {
            let f = parse_name(bad).expect_err(bad);
            assert_eq!(f.code, crate::exit::Code::Usage, "{bad:?}");
            assert!(
                !f.cause.contains('\0') && !f.cause.contains('\n'),
                "{bad:?}"
            );
            assert_eq!(f.hint.as_deref(), Some(kernelspec::NAME_RULE));
        }
        assert_eq!(
            parse_name("MyEnv").map(|n| n.to_string()).ok(),
            Some("myenv".into())
        );
    }

    #[test]
    fn quoted_lists_read_naturally() {
        assert_eq!(quoted_list(&["a"]), "`a`");
        assert_eq!(quoted_list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
