//! The command line itself: help, version, usage errors, completions, man page.

use crate::common::Sandbox;

#[test]
fn help_lists_every_command_and_exit_codes() {
    let sb = Sandbox::new();
    let out = sb.kernels(&["--help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for cmd in [
        "add",
        "list",
        "show",
        "remove",
        "install",
        "envs",
        "doctor",
        "prune",
        "protect",
        "policy",
        "apply",
        "rebind",
        "completions",
    ] {
        assert!(
            out.stdout.contains(&format!("\n  {cmd}")),
            "help lacks {cmd}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("3 refused by protection policy"));
}

#[test]
fn unknown_flag_is_a_usage_error_with_exit_2() {
    let sb = Sandbox::new();
    let out = sb.kernels(&["list", "--no-such-flag"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn completions_and_man_page_are_generated() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = sb.kernels(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("kernels"), "{shell}");
        assert!(
            out.stdout.contains("doctor"),
            "{shell} completion lacks subcommands"
        );
    }
    let man = sb.kernels(&["man"]);
    assert_eq!(man.code, 0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH kernels"),
        "{}",
        &man.stdout[..man.stdout.len().min(200)]
    );
}
