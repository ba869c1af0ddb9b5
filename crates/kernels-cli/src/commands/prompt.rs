//! Asking before destructive or surprising changes: at a terminal the user is asked; without
//! one, `--yes` is the answer, and a missing one is a clear error saying what was not done.

use std::io::IsTerminal;

use kernels::Plan;

use super::Ctx;
use crate::exit::Failure;

/// True when the user can be asked: stdin and stderr are terminals, and the output is not
/// a JSON document.
pub fn can_ask(ctx: &Ctx) -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !ctx.out.json
}

/// Refuses to overwrite kernelspecs `kernels` did not make unless `--yes` (or the user
/// agrees at a terminal prompt).
pub fn confirm_foreign_replacements(ctx: &Ctx, plan: &Plan) -> Result<(), Failure> {
    let foreign: Vec<_> = plan.foreign_replacements().collect();
    if foreign.is_empty() || ctx.global.yes {
        return Ok(());
    }
    let list: Vec<String> = foreign
        .iter()
        .map(|k| format!("{} ({})", k.name, ctx.show_path(&k.kernel_dir)))
        .collect();
    let s = if list.len() > 1 { "s" } else { "" };
    if can_ask(ctx) {
        if ctx.out.ask_yes_no(&format!(
            "Replace the kernelspec{s} not made by kernels: {}?",
            list.join(", ")
        )) {
            return Ok(());
        }
        return Err(Failure::failed("nothing was changed"));
    }
    Err(Failure::failed(format!(
        "refusing to replace kernelspec{s} that kernels did not make: {}",
        list.join(", ")
    ))
    .hint("pass --yes to replace it, or choose another kernel name"))
}

/// "1.2 GB", "340 MB", "12 kB": a size on disk for a prompt (decimal units, as `du --si`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_du_si() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(4_096), "4.1 kB");
        assert_eq!(human_size(340_000_000), "340 MB");
        assert_eq!(human_size(1_234_567_890), "1.2 GB");
    }
}
