//! JSON text exactly as Python's `json` module writes it, and the one reading leniency of
//! Python's `json` that matters for kernel specs.
//!
//! Jupyter and ipykernel write JSON with `json.dumps`/`json.dump`, whose defaults differ from
//! serde_json's: every non-ASCII character is escaped (`ensure_ascii=True`, `é` becomes
//! `\u00e9`), floats use Python's `repr` (`1e+16`, `1e-05`, `-0.0`), and the separators are
//! `", "`/`": "` without indent and `","`/`": "` with one. Matching them byte for byte lets
//! `kernels list --json` equal `jupyter kernelspec list --json` and lets the kernel.json we
//! write equal the one ipykernel writes.

use serde_json::{Number, Value};

/// Render `value` like Python's `json.dumps(value, indent=indent)` with its other defaults
/// (`ensure_ascii=True`, keys in map order, no trailing newline).
///
/// `None` gives the one-line form (`{"a": 1, "b": [1, 2]}`).
///
/// ```
/// let v = serde_json::json!({"name": "Café", "x": [1, 1e16]});
/// assert_eq!(
///     kernelspec::to_python_json(&v, Some(1)),
///     "{\n \"name\": \"Caf\\u00e9\",\n \"x\": [\n  1,\n  1e+16\n ]\n}"
/// );
/// ```
pub fn to_python_json(value: &Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        for _ in 0..width * level {
            out.push(' ');
        }
    }
}

fn write_value(out: &mut String, value: &Value, indent: Option<usize>, level: usize) {
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, indent, level + 1);
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, indent, level + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

/// Write `s` as a JSON string literal with Python's `ensure_ascii=True` escaping.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&python_float_repr(f));
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form when the decimal
/// exponent is below -4 or at least 16.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as `d[.ddd]e<exp>`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let decpt = exp + 1;
    if !(-4 < decpt && decpt <= 16) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let len = digits.len() as i32;
    let body = if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt < len {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    } else {
        format!("{digits}{}.0", "0".repeat((decpt - len) as usize))
    };
    format!("{sign}{body}")
}

/// Python's `json` accepts the non-standard constants `NaN`, `Infinity` and `-Infinity`.
/// serde_json cannot represent them, so we replace each such token outside strings with
/// `null`. Returns `None` when there was nothing to replace (the common case, no copy).
pub(crate) fn replace_non_finite(bytes: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut copied_upto = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if matches!(b, b'-' | b'I' | b'N') {
            if let Some(tok) = TOKENS.iter().find(|t| bytes[i..].starts_with(t)) {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(bytes.len() + 8));
                buf.extend_from_slice(&bytes[copied_upto..i]);
                buf.extend_from_slice(b"null");
                i += tok.len();
                copied_upto = i;
                continue;
            }
        }
        i += 1;
    }
    if let Some(buf) = out.as_mut() {
        buf.extend_from_slice(&bytes[copied_upto..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5, "1.5"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (100.0, "100.0"),
            (123.456, "123.456"),
            (1.2345678901234567e19, "1.2345678901234567e+19"),
            (5.3, "5.3"),
            (-2.5e-7, "-2.5e-07"),
            (1e100, "1e+100"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn dumps_one_line_and_indented() {
        let v = json!({"a": [1, "é", {}], "b": [], "c": "\u{1D518}\"\\\n\u{7f}"});
        assert_eq!(
            to_python_json(&v, None),
            r#"{"a": [1, "\u00e9", {}], "b": [], "c": "\ud835\udd18\"\\\n\u007f"}"#
        );
        assert_eq!(
            to_python_json(&v, Some(2)),
            "{\n  \"a\": [\n    1,\n    \"\\u00e9\",\n    {}\n  ],\n  \"b\": [],\n  \"c\": \"\\ud835\\udd18\\\"\\\\\\n\\u007f\"\n}"
        );
    }

    #[test]
    fn non_finite_tokens_outside_strings_only() {
        assert_eq!(replace_non_finite(br#"{"a": "NaN"}"#), None);
        let got = replace_non_finite(br#"{"a": NaN, "b": [-Infinity, Infinity], "c": "x\"NaN"}"#)
            .unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"{"a": null, "b": [null, null], "c": "x\"NaN"}"#
        );
    }
}
