//! The two string templating rules applied at launch.
//!
//! * `{name}` placeholders in argv (jupyter_client's `format_kernel_cmd`): the regex
//!   `\{([A-Za-z0-9_]+)\}`, unknown names left untouched.
//! * `$VAR` / `${VAR}` in spec env values (Python's `string.Template.safe_substitute`):
//!   identifiers are `[_A-Za-z][_A-Za-z0-9]*`, `$$` becomes `$`, unknown names and
//!   lone `$` are kept as written.
//!
//! Plus `~` expansion of argv elements (`os.path.expanduser`).

use std::collections::BTreeMap;

/// Replace `{name}` placeholders whose name is in `namespace`; leave the rest as is.
pub(crate) fn format_placeholders(arg: &str, namespace: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let closes = name_len > 0 && after.as_bytes().get(name_len) == Some(&b'}');
        match namespace.get(&after[..name_len]) {
            Some(value) if closes => {
                out.push_str(value);
                rest = &after[name_len + 1..];
            }
            _ => {
                // Not a (known) placeholder: keep the brace and rescan after it.
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Python's `string.Template(template).safe_substitute(vars)`.
pub(crate) fn safe_substitute(template: &str, vars: &BTreeMap<String, String>) -> String {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&template[copied..i]);
        let after = i + 1;
        let (replacement, end) = if bytes.get(after) == Some(&b'$') {
            (Some("$".to_owned()), after + 1)
        } else if bytes.get(after) == Some(&b'{') {
            let len = identifier_len(&bytes[after + 1..]);
            if len > 0 && bytes.get(after + 1 + len) == Some(&b'}') {
                let name = &template[after + 1..after + 1 + len];
                (vars.get(name).cloned(), after + len + 2)
            } else {
                (None, after)
            }
        } else {
            let len = identifier_len(&bytes[after..]);
            if len > 0 {
                (
                    vars.get(&template[after..after + len]).cloned(),
                    after + len,
                )
            } else {
                (None, after)
            }
        };
        match replacement {
            Some(value) => out.push_str(&value),
            // Unknown name: keep the whole `$name`/`${name}`; invalid: keep the `$`.
            None => out.push_str(&template[i..end]),
        }
        i = end;
        copied = end;
    }
    out.push_str(&template[copied..]);
    out
}

/// Length of a Template identifier at the start of `bytes` (0 when there is none).
fn identifier_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => bytes
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count(),
        _ => 0,
    }
}

/// `os.path.expanduser` for `~` and `~/...` using `home`; `~user` forms are kept.
pub(crate) fn expand_user(arg: &str, home: Option<&str>) -> String {
    let Some(tail) = arg.strip_prefix('~') else {
        return arg.to_owned();
    };
    if !(tail.is_empty() || tail.starts_with('/')) {
        return arg.to_owned();
    }
    match home {
        Some(home) => {
            let trimmed = home.trim_end_matches('/');
            let joined = format!("{trimmed}{tail}");
            if joined.is_empty() {
                "/".to_owned()
            } else {
                joined
            }
        }
        None => arg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn template_cases_from_the_reference() {
        // Reference §3.4: spec {"HOME":"/override","FOO":"${HOME}/x","QUX":"$FOO-${NEWVAR}"}
        // substituted against the inherited env only.
        let inherited = env(&[
            ("HOME", "/srv/home"),
            ("FOO", "outer"),
            ("NEWVAR", "outer_new"),
        ]);
        assert_eq!(safe_substitute("${HOME}/x", &inherited), "/srv/home/x");
        assert_eq!(
            safe_substitute("$FOO-${NEWVAR}", &inherited),
            "outer-outer_new"
        );
        assert_eq!(safe_substitute("/override", &inherited), "/override");
    }

    #[test]
    fn template_escapes_unknowns_and_invalid_dollars() {
        let vars = env(&[("A", "1"), ("a_b2", "x")]);
        assert_eq!(safe_substitute("$$A", &vars), "$A");
        assert_eq!(safe_substitute("$$$A", &vars), "$1");
        assert_eq!(
            safe_substitute("$UNDEFINED_VAR/y", &vars),
            "$UNDEFINED_VAR/y"
        );
        assert_eq!(safe_substitute("${UNDEFINED}", &vars), "${UNDEFINED}");
        assert_eq!(safe_substitute("cost: $5 and $", &vars), "cost: $5 and $");
        assert_eq!(safe_substitute("${A", &vars), "${A");
        assert_eq!(safe_substitute("${ A}", &vars), "${ A}");
        assert_eq!(safe_substitute("$A$a_b2.$A_", &vars), "1x.$A_");
        assert_eq!(safe_substitute("é$A€", &vars), "é1€");
        // Identifiers are case-sensitive lookups; the pattern is case-insensitive.
        assert_eq!(safe_substitute("$a", &vars), "$a");
    }

    #[test]
    fn placeholders_follow_the_regex() {
        let mut ns = BTreeMap::new();
        ns.insert("connection_file", "/run/k.json".to_owned());
        ns.insert("resource_dir", "/spec".to_owned());
        assert_eq!(format_placeholders("{connection_file}", &ns), "/run/k.json");
        assert_eq!(
            format_placeholders("x{connection_file}y", &ns),
            "x/run/k.jsony"
        );
        assert_eq!(format_placeholders("{unknown}", &ns), "{unknown}");
        assert_eq!(
            format_placeholders("{ connection_file }", &ns),
            "{ connection_file }"
        );
        assert_eq!(format_placeholders("{{resource_dir}}", &ns), "{/spec}");
        assert_eq!(format_placeholders("{}{", &ns), "{}{");
        assert_eq!(format_placeholders("{resource_dir", &ns), "{resource_dir");
        assert_eq!(
            format_placeholders("{resource_dir}/{connection_file}", &ns),
            "/spec//run/k.json"
        );
    }

    #[test]
    fn tilde_expansion_matches_expanduser() {
        assert_eq!(expand_user("~/tilde", Some("/h/u/")), "/h/u/tilde");
        assert_eq!(expand_user("~", Some("/h/u")), "/h/u");
        assert_eq!(expand_user("~", Some("/")), "/");
        assert_eq!(expand_user("~other/x", Some("/h/u")), "~other/x");
        assert_eq!(expand_user("a~/x", Some("/h/u")), "a~/x");
        assert_eq!(expand_user("~/x", None), "~/x");
    }
}
