//! argv/env substitutions as Jupyter applies them at launch.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use kernelspec::{
    build_argv, expand_tilde, is_generic_python, kernel_env, resolve_generic_python,
    safe_substitute, substitute_argv, substitute_env,
};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn argv_placeholders() {
    let vars = HashMap::from([
        ("connection_file", "/run/k.json".to_owned()),
        ("resource_dir", "/k/py".to_owned()),
        ("prefix", "/opt/venv".to_owned()),
    ]);
    let argv = s(&[
        "{prefix}/bin/python",
        "-f",
        "{connection_file}",
        "x{resource_dir}y",
        "{unknown}",
        "{ connection_file }",
        "{{connection_file}}",
        "{}",
        "{conn-file}",
        "{",
        "}{",
        "{connection_file}{resource_dir}",
        "{resource_dir",
        "{prefix}/{connection_file}",
    ]);
    assert_eq!(
        substitute_argv(&argv, &vars),
        s(&[
            "/opt/venv/bin/python",
            "-f",
            "/run/k.json",
            "x/k/pyy",
            "{unknown}",
            "{ connection_file }",
            "{/run/k.json}",
            "{}",
            "{conn-file}",
            "{",
            "}{",
            "/run/k.json/k/py",
            "{resource_dir",
            "/opt/venv//run/k.json",
        ])
    );
}

#[test]
fn tilde_expansion() {
    let home = Some(Path::new("/home/u"));
    assert_eq!(expand_tilde("~", home), "/home/u");
    assert_eq!(expand_tilde("~/x", home), "/home/u/x");
    assert_eq!(expand_tilde("~bob/x", home), "~bob/x");
    assert_eq!(expand_tilde("a~/x", home), "a~/x");
    assert_eq!(expand_tilde("~/x", None), "~/x");
    // As `os.path.expanduser`: the home's trailing `/` goes, and an empty result is `/`.
    assert_eq!(expand_tilde("~", Some(Path::new("/h/u/"))), "/h/u");
    assert_eq!(expand_tilde("~/x", Some(Path::new("/h/u/"))), "/h/u/x");
    assert_eq!(expand_tilde("~", Some(Path::new("/"))), "/");
    assert_eq!(expand_tilde("~", Some(Path::new(""))), "/");
    let vars = HashMap::from([("connection_file", "~/c.json".to_owned())]);
    assert_eq!(
        build_argv(&s(&["~/bin/k", "{connection_file}"]), &vars, home),
        s(&["/home/u/bin/k", "/home/u/c.json"])
    );
}

#[test]
fn generic_python_argv0() {
    assert!(is_generic_python("python", None));
    assert!(is_generic_python("python3", None));
    assert!(is_generic_python("python3.11", Some(11)));
    assert!(!is_generic_python("python3.11", Some(12)));
    assert!(!is_generic_python("/usr/bin/python", Some(11)));
    let mut argv = s(&["python", "-m", "ipykernel_launcher"]);
    assert!(resolve_generic_python(
        &mut argv,
        Path::new("/env/bin/python"),
        Some(11)
    ));
    assert_eq!(argv[0], "/env/bin/python");
    assert!(!resolve_generic_python(&mut argv, Path::new("/x"), None));
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn template_safe_substitute_semantics() {
    let vars = map(&[("HOME", "/h"), ("A_1", "a"), ("x", "lower")]);
    for (template, want) in [
        ("$HOME/x", "/h/x"),
        ("${HOME}/x", "/h/x"),
        ("$$HOME", "$HOME"),
        ("$$", "$"),
        ("$UNDEFINED", "$UNDEFINED"),
        ("${UNDEFINED}", "${UNDEFINED}"),
        ("$A_1b", "$A_1b"),
        ("${A_1}b", "ab"),
        ("$A_1-b", "a-b"),
        ("${HOME", "${HOME"),
        ("$1", "$1"),
        ("${1}", "${1}"),
        ("$", "$"),
        ("a$", "a$"),
        ("$x", "lower"),
        ("$X", "$X"),
        ("${ HOME}", "${ HOME}"),
        ("$é", "$é"),
        ("$$$HOME", "$/h"),
        ("cost: $5 and $", "cost: $5 and $"),
        ("$A_1$x.$A_", "alower.$A_"),
        ("é$HOME€", "é/h€"),
    ] {
        assert_eq!(safe_substitute(template, &vars), want, "{template:?}");
    }
}

#[test]
fn env_uses_only_the_inherited_environment() {
    // The run recorded in the reference: HOME overridden, FOO/QUX reference inherited values.
    let inherited = map(&[
        ("HOME", "/real/home"),
        ("FOO", "outer"),
        ("NEWVAR", "outer_new"),
        ("KEEP", "k"),
    ]);
    let spec_env = map(&[
        ("HOME", "/override"),
        ("FOO", "${HOME}/x"),
        ("QUX", "$FOO-${NEWVAR}"),
        ("NEWVAR", "fromspec"),
    ]);
    let env = substitute_env(&spec_env, &inherited);
    assert_eq!(env["HOME"], "/override");
    assert_eq!(env["FOO"], "/real/home/x");
    assert_eq!(env["QUX"], "outer-outer_new");
    assert_eq!(env["NEWVAR"], "fromspec");
    assert_eq!(env["KEEP"], "k");
}

#[test]
fn pythonexecutable_is_dropped_for_python_kernels_only() {
    let inherited = map(&[("PYTHONEXECUTABLE", "/x/python")]);
    assert!(!kernel_env(&BTreeMap::new(), "Python", &inherited).contains_key("PYTHONEXECUTABLE"));
    assert!(!kernel_env(&BTreeMap::new(), "python3", &inherited).contains_key("PYTHONEXECUTABLE"));
    assert!(kernel_env(&BTreeMap::new(), "R", &inherited).contains_key("PYTHONEXECUTABLE"));
}
