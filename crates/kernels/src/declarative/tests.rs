use std::path::{Path, PathBuf};

use super::*;
use crate::policy::{Entry, Source, Target};
use envs::BackendKind;

const FILE: &str = "/srv/image/kernels.toml";

fn parse(text: &str) -> Result<KernelsFile, FileErrors> {
    parse_str(text, Path::new(FILE), Some(Path::new("/home/azureuser")))
}

fn errors(text: &str) -> Vec<String> {
    let err = parse(text).expect_err("should not parse");
    err.to_string().lines().map(str::to_string).collect()
}

#[test]
fn a_full_entry_is_read_with_paths_resolved() {
    let file = parse(
        r#"
version = 1

[[kernel]]
name = "Torch"
display_name = "PyTorch 2"
language = "python"
backend = "conda"
python = "3.11"
packages = ["pytorch", "numpy>=2"]
pip = ["wandb"]
requirements = "reqs/../requirements.txt"
environment_file = "env/environment.yml"
channels = ["conda-forge"]
prefix = "~/envs/torch"
env = { OMP_NUM_THREADS = "4", EMPTY = "" }
scope = "system"
protect = true

[[kernel]]
name = "r-stats"
language = "R"
packages = ["r-tidyverse"]

[[kernel]]
name = "proj"
existing = "/opt/envs/proj"
scope = "sys-prefix"
"#,
    )
    .unwrap();
    assert_eq!(file.version, 1);
    let names: Vec<&str> = file.names().collect();
    assert_eq!(names, ["torch", "r-stats", "proj"]);
    let t = &file.kernels[0];
    assert_eq!(t.display_name.as_deref(), Some("PyTorch 2"));
    assert_eq!(t.backend, BackendChoice::Only(BackendKind::Conda));
    assert_eq!(t.python.as_deref(), Some("3.11"));
    assert_eq!(t.packages, ["pytorch", "numpy>=2"]);
    assert_eq!(
        t.requirements,
        Some(PathBuf::from("/srv/image/requirements.txt"))
    );
    assert_eq!(
        t.environment_file,
        Some(PathBuf::from("/srv/image/env/environment.yml"))
    );
    assert_eq!(t.prefix, Some(PathBuf::from("/home/azureuser/envs/torch")));
    assert_eq!(t.env.get("OMP_NUM_THREADS").map(String::as_str), Some("4"));
    assert_eq!(t.env.get("EMPTY").map(String::as_str), Some(""));
    assert_eq!(t.scope, FileScope::System);
    assert!(t.protect);
    assert_eq!(t.line, 4);
    assert_eq!(file.kernels[1].language, Language::R);
    assert_eq!(
        file.kernels[2].existing,
        Some(PathBuf::from("/opt/envs/proj"))
    );

    let reqs = file.requests(
        Path::new("/usr/local/share/jupyter/kernels"),
        Path::new(FILE),
    );
    assert_eq!(reqs[0].origin, Origin::Apply);
    assert_eq!(reqs[0].apply_file.as_deref(), Some(Path::new(FILE)));
    assert_eq!(
        reqs[0].scope,
        KernelScope::KernelsDir("/usr/local/share/jupyter/kernels".into())
    );
    assert_eq!(
        reqs[0].env,
        EnvSource::New {
            backend: BackendChoice::Only(BackendKind::Conda),
            prefix: Some("/home/azureuser/envs/torch".into())
        }
    );
    assert_eq!(reqs[0].packages.pip, ["wandb"]);
    assert_eq!(reqs[0].kernel_env.len(), 2);
    assert_eq!(
        reqs[2].env,
        EnvSource::Existing {
            path: "/opt/envs/proj".into()
        }
    );
    assert_eq!(reqs[2].scope, KernelScope::SysPrefix);
    for r in &reqs {
        assert!(r.validate().is_ok(), "{r:?}");
    }
}

#[test]
fn unknown_keys_get_a_suggestion_with_line_and_field() {
    assert_eq!(
        errors("[[kernel]]\nname = \"x\"\npackges = [\"a\"]\ndisplayname = \"X\"\n"),
        [
            "/srv/image/kernels.toml:3:1: kernel `x`.packges: unknown key `packges` (did you mean `packages`?)",
            "/srv/image/kernels.toml:4:1: kernel `x`.displayname: unknown key `displayname` (did you mean `display_name`?)",
        ]
    );
    assert_eq!(
        errors("verison = 1\n[[kernel]]\nname = \"x\"\n"),
        ["/srv/image/kernels.toml:1:1: verison: unknown top-level key `verison` (did you mean `version`?)"]
    );
    let far = errors("[[kernel]]\nname = \"x\"\nzzzzzz = 1\n");
    assert!(far[0].contains("known keys: name, display_name"), "{far:?}");
}

#[test]
fn wrong_types_and_values_are_reported_all_at_once() {
    let errs = errors(
        r#"[[kernel]]
name = "x"
python = 3.10
packages = "numpy"
pip = ["ok", 3, ""]
backend = "venvv"
scope = "global"
protect = "yes"
env = { "BAD-KEY" = "1", N = 4 }
language = "julia"
"#,
    );
    let joined = errors_text(&errs);
    for want in [
        ":3:10: kernel `x`.python: expected a string, found a number (quote the version: python = \"3.10\" (as a number, 3.10 would read as 3.1))",
        ":4:12: kernel `x`.packages: expected an array of strings, found a string (write a list: [\"numpy\"])",
        ":5:14: kernel `x`.pip: expected a string in the list, found an integer",
        ":5:17: kernel `x`.pip: empty string in the list",
        ":6:11: kernel `x`.backend: unknown value \"venvv\" (did you mean \"venv\"?",
        ":7:9: kernel `x`.scope: unknown value \"global\" (one of: user, system, sys-prefix)",
        ":8:11: kernel `x`.protect: expected true or false",
        ":9:9: kernel `x`.env.BAD-KEY: invalid environment variable name",
        ":9:30: kernel `x`.env.N: expected a string, found an integer (quote it: N = \"4\")",
        ":10:12: kernel `x`.language: unknown value \"julia\"",
    ] {
        assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
    }
    // In file order.
    let lines: Vec<usize> = errs
        .iter()
        .map(|e| e.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

fn errors_text(errs: &[String]) -> String {
    errs.join("\n")
}

#[test]
fn names_are_validated_and_unique_case_insensitively() {
    let errs = errors("[[kernel]]\nname = \"Py\"\n\n[[kernel]]\nname = \"py\"\n");
    assert_eq!(
        errs,
        ["/srv/image/kernels.toml:5:8: name: duplicate kernel name `py` (first defined on line 2) (kernel names are case-insensitive; each [[kernel]] needs its own)"]
    );
    let errs = errors("[[kernel]]\nname = \"../evil\"\n");
    assert!(
        errs[0].starts_with(
            "/srv/image/kernels.toml:2:8: kernel `../evil`.name: invalid kernel name \"../evil\""
        ),
        "{errs:?}"
    );
    let errs = errors("[[kernel]]\ndisplay_name = \"No name\"\n");
    assert_eq!(
        errs,
        ["/srv/image/kernels.toml:1:1: kernel[0]: missing required key `name` (every [[kernel]] needs `name = \"...\"`)"]
    );
}

#[test]
fn contradictions_are_rejected_where_they_are_written() {
    let errs = errors(
        "[[kernel]]\nname = \"p\"\nexisting = \"/opt/p\"\npython = \"3.11\"\nbackend = \"conda\"\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "/srv/image/kernels.toml:4:1: kernel `p`.python: `python` describes a new environment"
        ),
        "{errs:?}"
    );
    assert!(errs[0].contains("line 3"), "{errs:?}");
    let errs =
        errors("[[kernel]]\nname = \"r\"\nlanguage = \"r\"\npip = [\"x\"]\nbackend = \"venv\"\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains(
        ":4:1: kernel `r`.pip: pip packages and requirements files need a Python kernel"
    ));
    assert!(
        errs[1].contains(":5:1: kernel `r`.backend: the venv backend cannot create R environments")
    );
    let errs =
        errors("[[kernel]]\nname = \"v\"\nbackend = \"venv\"\nenvironment_file = \"e.yml\"\n");
    assert!(errs[0].contains(":4:1: kernel `v`.environment_file: the venv backend cannot use a conda environment file"), "{errs:?}");
}

#[test]
fn syntax_errors_and_shapes_carry_positions() {
    let errs = errors("[[kernel]]\nname = \"x\"\npip = [\"a\",\n");
    assert!(
        errs[0].starts_with("/srv/image/kernels.toml:3:"),
        "{errs:?}"
    );
    let errs = errors("[[kernel]]\nname = \"x\"\nname = \"y\"\n");
    assert!(
        errs[0].starts_with("/srv/image/kernels.toml:3:1:"),
        "{errs:?}"
    );
    assert!(errs[0].contains("duplicate key"), "{errs:?}");
    let errs = errors("[kernel]\nname = \"x\"\n");
    assert!(
        errs[0].contains(
            "kernel: expected an array of tables (write each kernel as a [[kernel]] table"
        ),
        "{errs:?}"
    );
    let errs = errors("version = 2\n[[kernel]]\nname = \"x\"\n");
    assert!(
        errs[0].starts_with("/srv/image/kernels.toml:1:11: version: unsupported file version"),
        "{errs:?}"
    );
    let errs = errors("# nothing yet\n");
    assert!(errs[0].contains("the file lists no kernels"), "{errs:?}");
    // Columns count characters, not bytes.
    let errs = errors("[[kernel]]\nname = \"x\"\ndisplay_name = \"é\"\nprotect = 1\n");
    assert!(errs[0].contains(":4:11:"), "{errs:?}");
    let errs = errors(
        "[[kernel]]\nname = \"x\"\nenv = { A = \"1\" }\ndisplay_name = \"ü\" ; protect = 1\n",
    );
    assert!(
        errs[0].starts_with("/srv/image/kernels.toml:4:"),
        "{errs:?}"
    );
}

#[test]
fn tilde_without_a_home_is_an_error() {
    let err = parse_str(
        "[[kernel]]\nname = \"x\"\nexisting = \"~/env\"\n",
        Path::new(FILE),
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("`~` cannot be expanded"), "{err}");
}

#[test]
fn files_are_read_from_disk_relative_to_their_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernels.toml");
    std::fs::write(
        &path,
        "[[kernel]]\nname = \"a\"\nrequirements = \"req.txt\"\n",
    )
    .unwrap();
    let file = parse_file(&path, None).unwrap();
    assert_eq!(
        file.kernels[0].requirements,
        Some(dir.path().join("req.txt"))
    );
    assert!(matches!(
        parse_file(&dir.path().join("missing.toml"), None),
        Err(ReadError::Io { .. })
    ));
    std::fs::write(&path, [0xffu8, 0xfe]).unwrap();
    assert!(matches!(
        parse_file(&path, None),
        Err(ReadError::NotUtf8 { .. })
    ));
}

fn spec_with_meta(dir: &Path, name: &str, meta: serde_json::Value) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let spec = serde_json::json!({
        "argv": ["/x/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name,
        "language": "python",
        "metadata": {"kernels": meta},
    });
    std::fs::write(d.join("kernel.json"), spec.to_string()).unwrap();
}

#[test]
fn prune_takes_only_kernels_applied_from_this_file() {
    let tmp = tempfile::tempdir().unwrap();
    let kdir = tmp.path().join("data/kernels");
    let this = Path::new("/srv/image/kernels.toml");
    let applied = |file: &str| {
        serde_json::json!({"managed": true, "env": "/e", "env_created": true, "backend": "uv",
                           "activation": {"method": "computed", "vars": []}, "source": "apply",
                           "apply_file": file})
    };
    spec_with_meta(&kdir, "kept", applied(FILE));
    spec_with_meta(&kdir, "gone", applied(FILE));
    spec_with_meta(&kdir, "guarded", applied(FILE));
    spec_with_meta(&kdir, "other-file", applied("/elsewhere/kernels.toml"));
    let mut by_add = applied(FILE);
    by_add["source"] = "add".into();
    spec_with_meta(&kdir, "by-add", by_add);
    let mut unmanaged = applied(FILE);
    unmanaged["managed"] = false.into();
    spec_with_meta(&kdir, "foreign", unmanaged);

    let input =
        kernelspec::PathsInput::new(kernelspec::Platform::current(), Some(tmp.path().into())).var(
            "JUPYTER_DATA_DIR",
            &tmp.path().join("data").display().to_string(),
        );
    let paths = kernelspec::JupyterPaths::new(&input);
    let discovery = kernelspec::discover(&paths);
    let ours = discovery
        .kernels
        .iter()
        .filter(|k| k.resource_dir.starts_with(&kdir))
        .count();
    assert_eq!(ours, 6);
    let policy = Policy::from_entries(vec![Entry {
        target: Target::Kernel("guarded".into()),
        required: false,
        source: Source::BuiltIn,
        reason: None,
    }]);
    let file = parse("[[kernel]]\nname = \"kept\"\n").unwrap();
    let found = prune_candidates(&file, this, &discovery, &policy);
    let names: Vec<(&str, bool)> = found
        .iter()
        .map(|c| (c.kernel.name.as_str(), c.verdict.is_ok()))
        .collect();
    assert_eq!(names, [("gone", true), ("guarded", false)]);
}

#[test]
fn provision_uv_is_read_into_the_request_and_checked() {
    let file = parse("[[kernel]]\nname = \"a\"\nbackend = \"venv\"\nprovision_uv = false\n\n[[kernel]]\nname = \"b\"\n").unwrap();
    let reqs = file.requests(Path::new("/k"), Path::new(FILE));
    assert!(!reqs[0].provision_uv);
    assert!(reqs[1].provision_uv, "default: allowed");
    let errs = errors("[[kernel]]\nname = \"a\"\nprovision_uv = \"no\"\n");
    assert!(
        errs[0].contains("provision_uv: expected true or false"),
        "{errs:?}"
    );
    let errs = errors("[[kernel]]\nname = \"a\"\nexisting = \"/e\"\nprovision_uv = true\n");
    assert!(
        errs[0].contains("cannot be combined with `existing`"),
        "{errs:?}"
    );
}

#[test]
fn wrong_types_inside_lists_and_tables_point_at_the_inner_value() {
    let errs = errors(
        "[[kernel]]\nname = \"x\"\npackages = [[\"a\"], \"b\"]\nenv = { A = { B = \"1\" }, C = \"ok\" }\n",
    );
    assert_eq!(
        errs,
        [
            "/srv/image/kernels.toml:3:13: kernel `x`.packages: expected a string in the list, found an array",
            "/srv/image/kernels.toml:4:13: kernel `x`.env.A: expected a string, found a table (quote it: A = \"{ B = \"1\" }\")",
        ]
    );
    let errs = errors("[[kernel]]\nname = \"x\"\nenv = \"A=1\"\npython = 2024-01-01\n");
    assert_eq!(
        errs,
        [
            "/srv/image/kernels.toml:3:7: kernel `x`.env: expected a table of KEY = \"value\" (write env = { MY_VAR = \"1\" })",
            "/srv/image/kernels.toml:4:10: kernel `x`.python: expected a version string such as \"3.11\"",
        ]
    );
    // The same table written as a sub-table.
    let errs = errors("[[kernel]]\nname = \"x\"\n[kernel.env]\nN = 4\n");
    assert_eq!(
        errs,
        ["/srv/image/kernels.toml:4:5: kernel `x`.env.N: expected a string, found an integer (quote it: N = \"4\")"]
    );
}

#[test]
fn unknown_top_level_tables_and_every_unknown_key_are_reported() {
    let errs = errors("[defaults]\npython = \"3.11\"\n\n[[kernel]]\nname = \"x\"\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .contains("defaults: unknown top-level key `defaults` (known keys: version, kernel)"),
        "{errs:?}"
    );
    let text: String = (0..30).map(|i| format!("bad{i} = 1\n")).collect();
    let errs = errors(&format!("[[kernel]]\nname = \"x\"\n{text}"));
    assert_eq!(errs.len(), 30, "{errs:?}");
    assert!(
        errs[29].contains(":32:1: kernel `x`.bad29: unknown key `bad29`"),
        "{errs:?}"
    );
}

#[test]
fn problems_in_several_kernels_are_reported_together_with_the_checks_after_them() {
    let errs = errors(
        r#"version = "1"

[[kernel]]
name = "a"
pakages = ["x"]
existing = "/e"
python = 3.11

[[kernel]]
name = "A"
scope = "usr"

[[kernel]]
name = "a"
"#,
    );
    assert_eq!(
        errs,
        [
            "/srv/image/kernels.toml:1:11: version: unsupported file version (this kernels reads version 1) (write `version = 1` or leave it out)",
            "/srv/image/kernels.toml:5:1: kernel `a`.pakages: unknown key `pakages` (did you mean `packages`?)",
            "/srv/image/kernels.toml:7:1: kernel `a`.python: `python` describes a new environment; it cannot be combined with `existing` (drop `python`, or drop `existing` (line 6) to create the environment)",
            "/srv/image/kernels.toml:7:10: kernel `a`.python: expected a string, found a number (quote the version: python = \"3.11\" (as a number, 3.10 would read as 3.1))",
            "/srv/image/kernels.toml:10:8: name: duplicate kernel name `a` (first defined on line 4) (kernel names are case-insensitive; each [[kernel]] needs its own)",
            "/srv/image/kernels.toml:11:9: kernel `A`.scope: unknown value \"usr\" (did you mean \"user\"? (one of: user, system, sys-prefix))",
            "/srv/image/kernels.toml:14:8: name: duplicate kernel name `a` (first defined on line 4) (kernel names are case-insensitive; each [[kernel]] needs its own)",
        ]
    );
}

#[test]
fn kernels_that_are_not_tables_keep_their_position_in_messages() {
    let errs = errors("kernel = [1, { display_name = \"D\", protect = 0 }]\n");
    assert_eq!(
        errs,
        [
            "/srv/image/kernels.toml:1:11: kernel[0]: expected a table (write each kernel as a [[kernel]] table (double brackets))",
            "/srv/image/kernels.toml:1:14: kernel[1]: missing required key `name` (every [[kernel]] needs `name = \"...\"`)",
            "/srv/image/kernels.toml:1:46: kernel[1].protect: expected true or false",
        ]
    );
    let errs = errors("[[kernel]]\nname = 7\nprotect = true\n");
    assert_eq!(
        errs,
        ["/srv/image/kernels.toml:2:8: kernel[0].name: expected a string, found an integer"]
    );
}
