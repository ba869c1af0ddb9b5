//! `kernels completions SHELL` and `kernels man [--markdown]`: generated from the clap
//! definition, so they cannot drift from the parser.
//!
//! `kernels man --markdown` is the CLI reference (`docs/reference/cli.md`): every command's
//! `--help`, rendered at a fixed width; a test fails when the checked-in file differs from
//! what the binary prints. Regenerate it with:
//!
//! ```sh
//! cargo run --release -- man --markdown > docs/reference/cli.md
//! ```

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Ctx;
use crate::cli::Cli;
use crate::exit::{Code, Failure};

/// The width the reference is rendered at (independent of the terminal).
const REFERENCE_WIDTH: usize = 100;

/// Arguments of `kernels completions`.
#[derive(Debug, Args)]
#[command(after_help = "Install, for example:\n  \
    bash: kernels completions bash > ~/.local/share/bash-completion/completions/kernels\n  \
    zsh:  kernels completions zsh > ~/.zfunc/_kernels   (with fpath+=~/.zfunc before compinit)\n  \
    fish: kernels completions fish > ~/.config/fish/completions/kernels.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `kernels man`.
#[derive(Debug, Args)]
#[command(after_help = "Install, for example: kernels man > /usr/local/share/man/man1/kernels.1")]
pub struct ManArgs {
    /// Print the CLI reference in Markdown instead (every command's --help; it is
    /// docs/reference/cli.md).
    #[arg(long)]
    pub markdown: bool,
}

/// Prints the completion script on stdout.
pub fn run(ctx: &Ctx, args: &CompletionsArgs) -> anyhow::Result<Code> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "kernels", &mut script);
    ctx.out.bytes(&script);
    Ok(Code::Ok)
}

/// Prints the man page (or, with `--markdown`, the CLI reference) on stdout.
pub fn run_man(ctx: &Ctx, args: &ManArgs) -> anyhow::Result<Code> {
    if args.markdown {
        ctx.out.line(reference().trim_end());
        return Ok(Code::Ok);
    }
    let man = clap_mangen::Man::new(Cli::command());
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|e| Failure::failed(format!("rendering the man page: {e}")))?;
    ctx.out.bytes(&page);
    Ok(Code::Ok)
}

/// The CLI reference as Markdown: the top-level help, then each visible command's long help.
pub fn reference() -> String {
    let mut root = Cli::command().term_width(REFERENCE_WIDTH);
    root.build();
    let subs: Vec<clap::Command> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .cloned()
        .collect();
    let mut md = String::new();
    md.push_str("# CLI reference\n\n");
    md.push_str(
        "<!-- Generated from the command-line definition by `kernels man --markdown`; do not \
         edit.\n     Regenerate: cargo run --release -- man --markdown > docs/reference/cli.md \
         -->\n\n",
    );
    md.push_str(
        "Every command's `--help`, as the binary prints it. Exit codes are explained in \
         [exit-codes.md](exit-codes.md), the `kernels.toml` format in \
         [kernels-toml.md](kernels-toml.md).\n\n",
    );
    md.push_str("Options available to every command (`--json`, `-q`, `-v`, `-y`, `--color`) are listed under each command too, under *Global options*.\n\n");
    md.push_str("| command | what it does |\n|---|---|\n");
    for sub in &subs {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        md.push_str(&format!(
            "| [`kernels {}`](#kernels-{}) | {} |\n",
            sub.get_name(),
            sub.get_name(),
            about.replace('|', "\\|")
        ));
    }
    md.push_str("\n## kernels\n\n```text\n");
    md.push_str(&help_text(&mut root.clone()));
    md.push_str("\n```\n");
    for sub in &subs {
        md.push_str(&format!("\n## kernels {}\n\n```text\n", sub.get_name()));
        md.push_str(&help_text(&mut sub.clone()));
        md.push_str("\n```\n");
    }
    md
}

/// A command's long help as plain text, without trailing spaces.
fn help_text(cmd: &mut clap::Command) -> String {
    let text = cmd.render_long_help().to_string();
    let lines: Vec<&str> = text.trim_end().lines().map(str::trim_end).collect();
    lines.join("\n")
}
