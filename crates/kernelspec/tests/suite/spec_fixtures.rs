//! kernel.json parsing and writing, on real files written by ipykernel, IRkernel and xeus,
//! plus a corpus of lenient and broken ones.

use kernelspec::{InterruptMode, KernelSpec, SpecError, SpecProblem, SpecWarning, MAX_SPEC_BYTES};
use serde_json::json;

use super::support::{fixture_dirs, fixtures};

fn load(group: &str, name: &str) -> KernelSpec {
    KernelSpec::load(&fixtures().join(group).join(name).join("kernel.json")).unwrap()
}

fn bytes(group: &str, name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(group).join(name).join("kernel.json")).unwrap()
}

fn problem(group: &str, name: &str) -> SpecProblem {
    let path = fixtures().join(group).join(name).join("kernel.json");
    match KernelSpec::load(&path) {
        Err(SpecError::Invalid {
            path: Some(p),
            problem,
        }) => {
            assert_eq!(p, path);
            problem
        }
        other => panic!("{name}: expected an invalid-spec error, got {other:?}"),
    }
}

#[test]
fn ipykernel_specs_load_and_rewrite_byte_for_byte() {
    for name in [
        "ipykernel-7.4-prefix",
        "ipykernel-7.4-env",
        "ipykernel-7.4-wheel",
    ] {
        let spec = load("valid", name);
        assert_eq!(spec.language, "python");
        assert_eq!(spec.kernel_protocol_version.as_deref(), Some("5.5"));
        assert_eq!(spec.metadata["debugger"], json!(true));
        assert_eq!(spec.metadata["supported_encryption"], json!(["curve"]));
        assert!(spec
            .argv
            .ends_with(&["-f".into(), "{connection_file}".into()]));
        assert!(spec.lint().is_empty(), "{name}: {:?}", spec.lint());
        assert_eq!(
            spec.to_file_string().as_bytes(),
            bytes("valid", name),
            "{name}: our kernel.json differs from ipykernel's"
        );
    }
    let env = load("valid", "ipykernel-7.4-env");
    assert_eq!(env.display_name, "Café é");
    assert_eq!(env.env["B"], "two words");
    assert_eq!(env.argv[1], "-Xfrozen_modules=off");
}

#[test]
fn irkernel_and_xeus_specs_load() {
    let template = load("valid", "irkernel-template");
    assert_eq!(template.argv[0], "R");
    assert_eq!(template.language, "R");
    assert_eq!(template.display_name, "R");
    assert_eq!(template.kernel_protocol_version, None);
    let installed = load("valid", "irkernel-installed");
    assert_eq!(installed.argv[0], "/usr/lib/R/bin/R");
    assert_eq!(installed.argv[5], "{connection_file}");
    let rprofile = load("valid", "irkernel-rprofile");
    assert_eq!(rprofile.env["R_PROFILE_USER"], "/home/user/.Rprofile-r43");
    let xpy = load("valid", "xpython");
    assert_eq!(xpy.display_name, "Python 3.11 (XPython)");
    assert_eq!(
        xpy.argv,
        ["/opt/conda/envs/xpy/bin/xpython", "-f", "{connection_file}"]
    );
    assert_eq!(xpy.metadata["debugger"], json!(true));
    assert_eq!(xpy.interrupt_mode, InterruptMode::Signal);
    for s in [template, installed, rprofile, xpy] {
        assert!(s.lint().is_empty(), "{:?}", s.lint());
    }
}

#[test]
fn jupyter_json_has_fixed_keys_and_defaults() {
    let spec = load("valid", "irkernel-template");
    let v = spec.to_jupyter_json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "argv",
            "env",
            "display_name",
            "language",
            "interrupt_mode",
            "metadata",
            "kernel_protocol_version"
        ]
    );
    assert_eq!(v["env"], json!({}));
    assert_eq!(v["metadata"], json!({}));
    assert_eq!(v["interrupt_mode"], json!("signal"));
    assert_eq!(v["kernel_protocol_version"], json!(""));
}

#[test]
fn unknown_keys_are_kept_for_files_but_not_listed() {
    let spec = load("lenient", "unknown-keys");
    let extra: Vec<&str> = spec.extra.keys().map(String::as_str).collect();
    assert_eq!(extra, ["zeta", "alpha", "codemirror_mode"]);
    let listed = spec.to_jupyter_json();
    assert!(listed.get("zeta").is_none());
    let written = spec.to_file_string();
    let reparsed = KernelSpec::from_json_bytes(written.as_bytes()).unwrap();
    assert_eq!(reparsed.extra["zeta"], json!({"k": [1, 2.5, "s"]}));
    // Extra keys come last, sorted.
    let a = written.find("\"alpha\"").unwrap();
    let c = written.find("\"codemirror_mode\"").unwrap();
    let z = written.find("\"zeta\"").unwrap();
    let m = written.find("\"metadata\"").unwrap();
    assert!(m < a && a < c && c < z, "{written}");
    assert_eq!(
        spec.lint(),
        [SpecWarning::IgnoredKeys {
            keys: vec!["zeta".into(), "alpha".into(), "codemirror_mode".into()]
        }]
    );
}

#[test]
fn every_valid_and_lenient_spec_round_trips() {
    for dir in fixture_dirs("valid")
        .into_iter()
        .chain(fixture_dirs("lenient"))
    {
        let spec = KernelSpec::load(&dir.join("kernel.json")).unwrap();
        let written = spec.to_file_string();
        let mut again = KernelSpec::from_json_bytes(written.as_bytes()).unwrap();
        // NaN/Infinity were read as null, so the rewrite has no non-standard numbers left.
        again.raw.non_finite_numbers = spec.raw.non_finite_numbers;
        assert_eq!(again, spec, "{}", dir.display());
        assert_eq!(
            again.to_file_string(),
            written,
            "{}: not deterministic",
            dir.display()
        );
        assert_eq!(again.to_jupyter_json(), spec.to_jupyter_json());
    }
}

#[test]
fn lenient_specs_load_like_jupyter_and_lint_explains_them() {
    let s = load("lenient", "argv-string");
    assert_eq!(s.argv, ["python3 {connection_file}"]);
    assert!(s.lint().is_empty(), "{:?}", s.lint());

    let s = load("lenient", "argv-non-string");
    assert_eq!(
        s.to_jupyter_json()["argv"],
        json!(["python", 3, null, {"a": 1}])
    );
    assert!(!s.is_launchable());
    assert_eq!(
        s.lint(),
        [
            SpecWarning::MissingConnectionFile,
            SpecWarning::NonStringArgv { index: 1 },
            SpecWarning::NonStringArgv { index: 2 },
            SpecWarning::NonStringArgv { index: 3 },
        ]
    );

    let s = load("lenient", "argv-empty");
    assert_eq!(s.lint(), [SpecWarning::EmptyArgv]);
    assert!(!s.is_launchable());

    let s = load("lenient", "env-non-string");
    assert_eq!(
        s.to_jupyter_json()["env"],
        json!({"A": 1, "B": "b", "C": null, "D": ["x"]})
    );
    assert!(!s.is_launchable());
    assert!(s
        .lint()
        .contains(&SpecWarning::NonStringEnv { key: "C".into() }));

    let s = load("lenient", "duplicate-keys");
    assert_eq!(s.display_name, "two");
    assert_eq!(s.argv, ["python", "{connection_file}"]);

    let s = load("lenient", "interrupt-uppercase");
    assert_eq!(s.interrupt_mode, InterruptMode::Message);
    assert_eq!(s.to_jupyter_json()["interrupt_mode"], json!("message"));
    assert!(s
        .to_file_string()
        .contains("\"interrupt_mode\": \"message\""));

    let s = load("lenient", "nan-infinity");
    assert_eq!(s.metadata["a"], json!(null));
    assert_eq!(s.metadata["s"], json!("NaN"));
    assert_eq!(s.lint(), [SpecWarning::NonFiniteNumbers]);

    let s = load("lenient", "minimal");
    assert_eq!(
        s.lint(),
        [
            SpecWarning::EmptyArgv,
            SpecWarning::EmptyDisplayName,
            SpecWarning::EmptyLanguage
        ]
    );

    let s = load("lenient", "no-connection-file");
    assert_eq!(
        s.lint(),
        [
            SpecWarning::MissingConnectionFile,
            SpecWarning::EmptyDisplayName
        ]
    );

    let s = load("lenient", "provisioner");
    assert_eq!(s.provisioner_name(), Some("local-provisioner"));
    assert!(s.lint().is_empty());
    let mut custom = s.clone();
    custom.metadata["kernel_provisioner"]["provisioner_name"] = json!("docker-provisioner");
    assert_eq!(
        custom.lint(),
        [SpecWarning::CustomProvisioner {
            name: "docker-provisioner".into()
        }]
    );
}

#[test]
fn editing_argv_or_env_takes_over_from_the_raw_json() {
    let mut s = load("lenient", "argv-non-string");
    s.argv = vec!["python".into(), "-f".into(), "{connection_file}".into()];
    assert_eq!(
        s.to_jupyter_json()["argv"],
        json!(["python", "-f", "{connection_file}"])
    );
    let mut e = load("lenient", "env-non-string");
    e.env.insert("NEW".into(), "1".into());
    assert_eq!(e.to_jupyter_json()["env"]["A"], json!("1"));
}

#[test]
fn broken_specs_fail_with_typed_problems() {
    use SpecProblem::*;
    let wrong = |field: &str, found: &str| -> Box<dyn Fn(&SpecProblem) -> bool> {
        let (field, found) = (field.to_owned(), found.to_owned());
        Box::new(
            move |p| matches!(p, WrongType { field: f, found: x, .. } if *f == field && *x == found),
        )
    };
    type Check = Box<dyn Fn(&SpecProblem) -> bool>;
    let cases: Vec<(&str, Check)> = vec![
        ("bom", Box::new(|p| *p == Bom)),
        (
            "trailing-garbage",
            Box::new(|p| matches!(p, Syntax { message, .. } if message.contains("trailing"))),
        ),
        (
            "top-level-array",
            Box::new(|p| *p == NotAnObject { found: "a list" }),
        ),
        (
            "top-level-string",
            Box::new(|p| *p == NotAnObject { found: "a string" }),
        ),
        (
            "empty-file",
            Box::new(|p| matches!(p, Syntax { line: 1, .. })),
        ),
        ("truncated", Box::new(|p| matches!(p, Syntax { .. }))),
        ("single-quotes", Box::new(|p| matches!(p, Syntax { .. }))),
        ("trailing-comma", Box::new(|p| matches!(p, Syntax { .. }))),
        (
            "invalid-utf8",
            Box::new(|p| *p == InvalidUtf8 { offset: 38 }),
        ),
        ("deep-nesting", Box::new(|p| matches!(p, TooDeep { .. }))),
        ("display-name-null", wrong("display_name", "null")),
        ("display-name-number", wrong("display_name", "a number")),
        ("language-list", wrong("language", "a list")),
        ("metadata-list", wrong("metadata", "a list")),
        ("env-list", wrong("env", "a list")),
        ("argv-number", wrong("argv", "a number")),
        ("argv-null", wrong("argv", "null")),
        ("argv-object", wrong("argv", "an object")),
        (
            "protocol-number",
            wrong("kernel_protocol_version", "a number"),
        ),
        ("protocol-null", wrong("kernel_protocol_version", "null")),
        ("name-number", wrong("name", "a number")),
        (
            "interrupt-bogus",
            Box::new(|p| {
                *p == BadInterruptMode {
                    value: "\"sigint\"".into(),
                }
            }),
        ),
        (
            "interrupt-number",
            Box::new(|p| *p == BadInterruptMode { value: "1".into() }),
        ),
        (
            "resource-dir-key",
            Box::new(|p| {
                *p == ReservedKey {
                    key: "resource_dir".into(),
                }
            }),
        ),
    ];
    let dirs = fixture_dirs("broken");
    assert_eq!(dirs.len(), cases.len(), "every broken fixture needs a case");
    for (name, check) in &cases {
        let p = problem("broken", name);
        assert!(check(&p), "{name}: unexpected problem {p:?}");
        // Messages are readable sentences naming the file.
        let err = KernelSpec::load(&fixtures().join("broken").join(name).join("kernel.json"))
            .unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn load_caps_size_and_rejects_non_files() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("kernel.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_SPEC_BYTES + 1).unwrap();
    assert!(matches!(
        KernelSpec::load(&big),
        Err(SpecError::TooLarge { .. })
    ));
    assert!(KernelSpec::load(&big)
        .unwrap_err()
        .to_string()
        .contains("too large"));
    assert!(matches!(
        KernelSpec::load(dir.path()),
        Err(SpecError::NotAFile { .. })
    ));
    let missing = dir.path().join("nope.json");
    let err = KernelSpec::load(&missing).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }));
    assert!(err.to_string().contains("nope.json"));
}

#[test]
fn built_specs_write_deterministically() {
    let mut spec = KernelSpec::new(
        vec![
            "/env/bin/python".into(),
            "-m".into(),
            "ipykernel_launcher".into(),
            "-f".into(),
            "{connection_file}".into(),
        ],
        "Python (proj)",
        "python",
    );
    spec.env.insert("Z".into(), "1".into());
    spec.env.insert("A".into(), "${HOME}/x".into());
    spec.metadata.insert("debugger".into(), json!(true));
    spec.kernel_protocol_version = Some("5.5".into());
    let text = spec.to_file_string();
    assert_eq!(
        text,
        "{\n \"argv\": [\n  \"/env/bin/python\",\n  \"-m\",\n  \"ipykernel_launcher\",\n  \"-f\",\n  \"{connection_file}\"\n ],\n \"display_name\": \"Python (proj)\",\n \"language\": \"python\",\n \"metadata\": {\n  \"debugger\": true\n },\n \"kernel_protocol_version\": \"5.5\",\n \"env\": {\n  \"A\": \"${HOME}/x\",\n  \"Z\": \"1\"\n }\n}"
    );
    assert_eq!(KernelSpec::from_json_bytes(text.as_bytes()).unwrap(), spec);
}

#[test]
fn interrupt_mode_parses_case_insensitively() {
    assert_eq!(InterruptMode::parse("Signal"), Some(InterruptMode::Signal));
    assert_eq!(
        InterruptMode::parse("MESSAGE"),
        Some(InterruptMode::Message)
    );
    assert_eq!(InterruptMode::parse(" message"), None);
    assert_eq!(
        "message".parse::<InterruptMode>().unwrap().to_string(),
        "message"
    );
    assert_eq!(InterruptMode::default(), InterruptMode::Signal);
}
