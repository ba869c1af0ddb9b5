//! Shell integration and generated documentation: the checked-in CLI reference equals what
//! the binary generates, completion scripts load in real shells and complete, the man page
//! renders, `--color`/`NO_COLOR`/terminal detection, and `-q`/`-v`.

use std::path::{Path, PathBuf};

use crate::common::{have, kernels_bin, run, Run, Sandbox};

const REGENERATE: &str = "cargo run --release -- man --markdown > docs/reference/cli.md";

fn reference_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference/cli.md")
}

/// The visible subcommands, from `kernels --help`'s "Commands:" section.
fn subcommands(sb: &Sandbox) -> Vec<String> {
    let help = sb.kernels(&["--help"]);
    help.ok();
    help.stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Wrapped descriptions are indented further; command names are indented by two.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|s| s.trim_end_matches(',').to_string())
        .filter(|s| s != "help")
        .collect()
}

#[test]
fn the_checked_in_cli_reference_matches_the_binary() {
    let sb = Sandbox::new();
    let generated = sb.kernels(&["man", "--markdown"]);
    generated.ok();
    let checked_in = std::fs::read_to_string(reference_path()).unwrap_or_default();
    if generated.stdout != checked_in {
        let first = generated
            .stdout
            .lines()
            .zip(checked_in.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| {
                format!(
                    "first difference at line {}:\n  binary:     {a}\n  checked in: {b}",
                    i + 1
                )
            })
            .unwrap_or_else(|| "the files differ in length".to_string());
        panic!(
            "docs/reference/cli.md is out of date with the command line.\n{first}\n\
             Regenerate it from the repository root with:\n  {REGENERATE}"
        );
    }
    // It covers every visible command.
    let subs = subcommands(&sb);
    assert!(subs.len() >= 10, "{subs:?}");
    for sub in &subs {
        assert!(
            generated.stdout.contains(&format!("\n## kernels {sub}\n")),
            "the reference lacks `kernels {sub}`"
        );
        assert!(
            generated.stdout.contains(&format!("Usage: kernels {sub}")),
            "{sub}"
        );
    }
}

#[test]
fn completion_scripts_load_and_complete_in_real_shells() {
    let sb = Sandbox::new();
    let subs = subcommands(&sb);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = sb.kernels(&["completions", shell]);
        out.ok();
        for sub in ["apply", "rebind", "doctor", "completions"] {
            assert!(out.stdout.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash: load the script and ask it to complete `kernels ap` and `kernels apply --ch`.
    let script = sb.root().join("kernels.bash");
    std::fs::write(&script, sb.kernels(&["completions", "bash"]).stdout).unwrap();
    let probe = format!(
        r#"source '{}'
complete -p kernels
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); _kernels kernels "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"; echo "${{COMPREPLY[*]}}"; }}
echo "subs: $(complete_words kernels '')"
echo "ap: $(complete_words kernels ap)"
echo "flags: $(complete_words kernels apply --ch)"
echo "shells: $(complete_words kernels completions '')"
"#,
        script.display()
    );
    let out = run(sb.command("bash").args(["--norc", "-c", &probe]));
    out.ok();
    assert!(out.stdout.contains("-F _kernels kernels"), "{}", out.stdout);
    let line = |prefix: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_default()
            .to_string()
    };
    let offered = line("subs:");
    for sub in &subs {
        assert!(
            offered.split_whitespace().any(|w| w == sub),
            "bash does not offer {sub}: {offered}"
        );
    }
    assert_eq!(line("ap:"), "ap: apply");
    assert!(line("flags:").contains("--check"), "{}", out.stdout);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(line("shells:").contains(shell), "{}", out.stdout);
    }
    // zsh and fish: the script must at least parse, when the shell is installed.
    for (shell, args) in [("zsh", &["-n"][..]), ("fish", &["--no-execute"][..])] {
        if !have(shell) {
            eprintln!("note: {shell} is not installed; its completion script was not loaded");
            continue;
        }
        let file = sb.root().join(format!("kernels.{shell}"));
        std::fs::write(&file, sb.kernels(&["completions", shell]).stdout).unwrap();
        let out = run(sb.command(shell).args(args).arg(&file));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
    }
}

#[test]
fn the_man_page_renders_with_every_command() {
    let sb = Sandbox::new();
    let man = sb.kernels(&["man"]);
    man.ok();
    assert!(
        man.stdout.contains(".TH kernels"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    for sub in subcommands(&sb) {
        assert!(man.stdout.contains(&sub), "man page lacks {sub}");
    }
    if !have("groff") {
        eprintln!("note: groff is not installed; the man page was not rendered");
        return;
    }
    let page = sb.root().join("kernels.1");
    std::fs::write(&page, &man.stdout).unwrap();
    let out = run(sb
        .command("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&page));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.trim().is_empty(),
        "groff warnings:\n{}",
        out.stderr
    );
}

const ESC: char = '\x1b';

/// A command that fails with an error on stderr (and never touches the machine).
const FAILING: &[&str] = &["show", "no-such-kernel-anywhere"];

#[test]
fn color_follows_the_flag_no_color_and_the_terminal() {
    let mut sb = Sandbox::new();
    let with = |sb: &Sandbox, extra: &[&str]| -> Run {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend_from_slice(FAILING);
        sb.kernels(&args)
    };
    let always = with(&sb, &["--color", "always"]);
    assert_eq!(always.code, 1);
    assert!(
        always.stderr.contains(&format!("{ESC}[31merror:")),
        "{:?}",
        always.stderr
    );
    let never = with(&sb, &["--color", "never"]);
    assert!(never.stderr.starts_with("error: "), "{:?}", never.stderr);
    assert!(!never.stderr.contains(ESC));
    // auto: not a terminal here, so no colour.
    let auto = with(&sb, &[]);
    assert!(
        auto.stderr.contains("error: ") && !auto.stderr.contains(ESC),
        "{:?}",
        auto.stderr
    );
    // JSON is never coloured, even when asked.
    let json = sb.kernels(&["--color", "always", "list", "--json"]);
    json.ok();
    assert!(!json.stdout.contains(ESC));
    json.json();
    // NO_COLOR does not override an explicit --color always.
    sb.set("NO_COLOR", "1");
    assert!(with(&sb, &["--color", "always"]).stderr.contains(ESC));
    sb.unset("NO_COLOR");

    // auto on a real terminal: colour, unless NO_COLOR is set (non-empty).
    if !have("script") {
        eprintln!("note: `script` is not installed; terminal detection was not tested");
        return;
    }
    let on_tty = |sb: &Sandbox| -> String {
        let cmd = format!("'{}' {}", kernels_bin().display(), FAILING.join(" "));
        let out = run(sb.command("script").args(["-qec", &cmd, "/dev/null"]));
        out.stdout
    };
    let tty = on_tty(&sb);
    assert!(tty.contains(&format!("{ESC}[31merror:")), "{tty:?}");
    sb.set("NO_COLOR", "1");
    let tty = on_tty(&sb);
    assert!(
        tty.contains("error:") && !tty.contains(&format!("{ESC}[31m")),
        "{tty:?}"
    );
    sb.set("NO_COLOR", "");
    assert!(
        on_tty(&sb).contains(&format!("{ESC}[31merror:")),
        "an empty NO_COLOR is unset"
    );
}

#[test]
fn quiet_silences_status_and_verbose_adds_detail() {
    let sb = Sandbox::new();
    sb.write_spec(
        &sb.user_kernels(),
        "target",
        r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Target", "language": "python"}"#,
    );
    let dir = sb.root().join("nbs");
    std::fs::create_dir_all(&dir).unwrap();
    let nb = |kernel: &str| {
        format!(
            "{{\n \"cells\": [],\n \"metadata\": {{\n  \"kernelspec\": {{\n   \"display_name\": \"X\",\n   \"language\": \"python\",\n   \"name\": \"{kernel}\"\n  }}\n }},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}}\n"
        )
    };
    std::fs::write(dir.join("a.ipynb"), nb("old")).unwrap();
    std::fs::write(dir.join("b.ipynb"), nb("other")).unwrap();
    let d = dir.to_str().unwrap();
    let args = ["rebind", d, "--from", "old", "--to", "target", "--dry-run"];

    let normal = sb.kernels(&args);
    normal.ok();
    assert!(
        normal.stderr.contains("Would rebind 1 of 2 notebooks"),
        "{}",
        normal.stderr
    );
    assert!(!normal.stderr.contains("untouched"), "{}", normal.stderr);

    let quiet = sb.kernels(&[&["-q"][..], &args[..]].concat());
    quiet.ok();
    assert_eq!(quiet.stderr, "", "-q must leave only errors on stderr");
    assert_eq!(
        quiet.stdout, normal.stdout,
        "-q does not change the data on stdout"
    );

    let verbose = sb.kernels(&[&["-v"][..], &args[..]].concat());
    verbose.ok();
    assert!(verbose.stderr.contains("untouched: "), "{}", verbose.stderr);
    assert!(
        verbose.stderr.contains("b.ipynb (asks for other)"),
        "{}",
        verbose.stderr
    );

    // Errors are shown even with -q; -q and -v together are a usage error.
    let err = sb.kernels(&[&["-q"][..], FAILING].concat());
    assert_eq!(err.code, 1);
    assert!(
        err.stderr.contains("error: no kernel named"),
        "{}",
        err.stderr
    );
    let both = sb.kernels(&["-q", "-v", "list"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
}

/// The image-build guide shows the example files inline; they must be exactly the files the
/// apply tests execute (`<!-- file: examples/NAME -->` followed by a fenced block).
#[test]
fn the_image_build_guide_shows_the_scripts_the_tests_run() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let guide = std::fs::read_to_string(docs.join("image-builds.md")).unwrap();
    let mut seen = 0;
    let mut rest = guide.as_str();
    while let Some(at) = rest.find("<!-- file: ") {
        let after = &rest[at + "<!-- file: ".len()..];
        let name = &after[..after.find(" -->").unwrap()];
        let fence_start = after.find("```").unwrap();
        let body_start = fence_start + after[fence_start..].find('\n').unwrap() + 1;
        let body_end = body_start + after[body_start..].find("\n```").unwrap();
        let shown = &after[body_start..body_end];
        let file = std::fs::read_to_string(docs.join(name)).unwrap();
        assert_eq!(
            shown,
            file.trim_end_matches('\n'),
            "docs/image-builds.md shows a different {name} than docs/{name}"
        );
        seen += 1;
        rest = &after[body_end..];
    }
    assert_eq!(
        seen, 4,
        "expected kernels.toml, both scripts and the Dockerfile inline"
    );
}

/// Relative links in the user docs this suite covers point at files that exist.
#[test]
fn relative_links_in_the_guides_resolve() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for page in [
        "image-builds.md",
        "install.md",
        "search-order.md",
        "reference/kernels-toml.md",
        "reference/exit-codes.md",
        "reference/cli.md",
    ] {
        let path = docs.join(page);
        let text = std::fs::read_to_string(&path).unwrap();
        let dir = path.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let target = &text[i + 2..];
            let target = &target[..target.find(')').unwrap()];
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            assert!(
                dir.join(file).exists(),
                "{page} links to {target}, which does not exist"
            );
        }
    }
}
