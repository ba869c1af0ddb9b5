//! The fuzz targets. Each returns a short "shape" of what the input did, or the invariant
//! the input broke.

use std::path::Path;

use kernels::policy::{Addition, PolicyDoc, Source, Target};
use kernels::wrappers::{parse_argv, MAX_DEPTH};
use kernelspec::{KernelName, KernelSpec};

/// The leading identifier of a Debug rendering (`TooDeep { .. }` → `TooDeep`).
fn variant(debug: &str) -> String {
    debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

/// `kernel.json` bytes: parsing never panics, and what we write from a parsed spec parses
/// back to the same file (write → parse → write is stable).
pub fn spec(bytes: &[u8]) -> Result<String, String> {
    let spec = match KernelSpec::from_json_bytes(bytes) {
        Ok(spec) => spec,
        Err(e) => {
            let text = e.to_string();
            if text.is_empty() {
                return Err("an error with an empty message".into());
            }
            let shape = e
                .problem()
                .map(|p| variant(&format!("{p:?}")))
                .unwrap_or_else(|| variant(&format!("{e:?}")));
            return Ok(format!("err:{shape}"));
        }
    };
    let lints: Vec<String> = spec
        .lint()
        .iter()
        .map(|l| variant(&format!("{l:?}")))
        .collect();
    let _ = spec.to_jupyter_json();
    let _ = spec.is_launchable();
    let _ = kernels::ManagedMeta::from_spec(&spec);
    let _ = kernels::env_of_spec(&spec);
    let _ = parse_argv(&spec.argv);
    let written = spec.to_file_string();
    let again = KernelSpec::from_json_bytes(written.as_bytes())
        .map_err(|e| format!("the file we write does not load again: {e}\n{written}"))?;
    let rewritten = again.to_file_string();
    if rewritten != written {
        return Err(format!(
            "write -> parse -> write changed the file:\n{written}\n---\n{rewritten}"
        ));
    }
    if again.argv != spec.argv
        || again.display_name != spec.display_name
        || again.language != spec.language
    {
        return Err(format!("a field changed in the round trip:\n{written}"));
    }
    Ok(format!(
        "ok:argv{}:{}",
        spec.argv.len().min(3),
        lints.join(",")
    ))
}

/// Kernel names: whatever `KernelName::parse` accepts is a single safe path component, in
/// lowercase, and parses to itself.
pub fn name(bytes: &[u8]) -> Result<String, String> {
    let input = String::from_utf8_lossy(bytes);
    let valid = kernelspec::is_valid_name(&input);
    match KernelName::parse(&input) {
        Err(e) => {
            if valid {
                return Err(format!(
                    "is_valid_name accepts what parse rejects: {input:?}"
                ));
            }
            Ok(format!("err:{}", variant(&format!("{:?}", e.what))))
        }
        Ok(name) => {
            let s = name.as_str();
            if !valid {
                return Err(format!(
                    "parse accepts what is_valid_name rejects: {input:?}"
                ));
            }
            if s != input.to_ascii_lowercase() {
                return Err(format!("{input:?} became {s:?}, not its lowercase form"));
            }
            if s.is_empty() || s.len() > kernelspec::MAX_NAME_LEN || s == "." || s == ".." {
                return Err(format!("accepted {s:?}"));
            }
            if !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            {
                return Err(format!("accepted a character outside [a-z0-9._-]: {s:?}"));
            }
            let base = Path::new("/kernels");
            let joined = base.join(s);
            if joined.parent() != Some(base) || joined.components().count() != 3 {
                return Err(format!(
                    "{s:?} does not stay one component under {}",
                    base.display()
                ));
            }
            match KernelName::parse(s) {
                Ok(again) if again == name => {}
                _ => return Err(format!("{s:?} does not parse to itself")),
            }
            Ok(format!("ok:{}", s.len().min(8)))
        }
    }
}

/// Kernel argv (NUL-separated): reading wrappers never panics and stays within its depth.
pub fn argv(bytes: &[u8]) -> Result<String, String> {
    let argv: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let launch = parse_argv(&argv);
    if launch.wrappers.len() > MAX_DEPTH {
        return Err(format!(
            "{} wrappers read, more than the depth limit",
            launch.wrappers.len()
        ));
    }
    let _ = launch.runs_ipykernel();
    let _ = launch.jupyter_substitutes_python();
    let kinds: Vec<String> = launch
        .wrappers
        .iter()
        .map(|w| variant(&format!("{w:?}")))
        .collect();
    let env = launch
        .env
        .as_ref()
        .map(|e| variant(&format!("{e:?}")))
        .unwrap_or_default();
    Ok(format!(
        "{}|{env}|{}",
        kinds.join(","),
        launch.program.is_some()
    ))
}

/// Policy files: parsing never panics; what we write back reads back to the same entries,
/// and an added entry is there after a round trip.
pub fn policy(bytes: &[u8]) -> Result<String, String> {
    let source = Source::User("/fuzz/policy.json".into());
    let mut doc = match PolicyDoc::parse(bytes, &source) {
        Ok(doc) => doc,
        Err(why) => return Ok(format!("err:{}", why.chars().take(12).collect::<String>())),
    };
    let text = doc.to_text();
    let again = PolicyDoc::parse(text.as_bytes(), &source)
        .map_err(|e| format!("the file we write does not parse again: {e}\n{text}"))?;
    if again.entries != doc.entries {
        return Err(format!("entries changed in the round trip:\n{text}"));
    }
    let added = Addition {
        target: Target::Kernel("fuzz-added".into()),
        required: true,
    };
    doc.add(std::slice::from_ref(&added));
    let text = doc.to_text();
    let after = PolicyDoc::parse(text.as_bytes(), &source)
        .map_err(|e| format!("after add, the file does not parse: {e}\n{text}"))?;
    if !after
        .entries
        .iter()
        .any(|e| e.target == added.target && e.required)
    {
        return Err(format!(
            "the added entry is missing after a round trip:\n{text}"
        ));
    }
    Ok(format!(
        "ok:{}:{}",
        doc.entries.len().min(5),
        doc.warnings.len().min(5)
    ))
}
