//! Reading the small shell scripts kernels are started with (`bash -c "…"`): just enough of
//! POSIX shell word splitting to find the activation and the final command. Never executed.

use super::EnvRef;

/// What a `-c` script activates and runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ScriptRead {
    /// The environment the last activation in the script selects.
    pub env: Option<EnvRef>,
    /// The conda root named by `…/bin/activate ENV` or `…/etc/profile.d/conda.sh`.
    pub conda_root: Option<String>,
    /// The command that runs the kernel: the `exec`'d one, else the last plain command.
    pub command: Option<Vec<String>>,
}

/// Commands that set up a shell without running the kernel.
const SETUP_COMMANDS: &[&str] = &[
    "eval", "export", "unset", "cd", "set", "module", "ml", "umask", "ulimit", "trap", "true", ":",
    "echo", "printf", "shopt", "hash", "alias", "local", "declare", "typeset", "readonly", "test",
    "[", "[[",
];

/// Reads `script` (the text after `-c`); `positional` are the arguments after it (`$0`, `$1`…).
pub(super) fn read_script(script: &str, positional: &[String]) -> Result<ScriptRead, String> {
    let commands = split_commands(script)?;
    let mut read = ScriptRead::default();
    for words in commands {
        let words = expand_positional(words, positional);
        let words: Vec<String> = words.into_iter().skip_while(|w| is_assignment(w)).collect();
        let Some(program) = words.first() else {
            continue;
        };
        let name = program.rsplit('/').next().unwrap_or(program);
        match name {
            "exec" => {
                let mut i = 1;
                while i < words.len() && words[i].starts_with('-') {
                    i += if words[i] == "-a" { 2 } else { 1 };
                }
                if i < words.len() {
                    read.command = Some(words[i..].to_vec());
                }
                // `exec` replaces the shell: nothing after it runs.
                return Ok(read);
            }
            "source" | "." => {
                if let Some(file) = words.get(1) {
                    read_source(file, words.get(2).map(String::as_str), &mut read);
                }
            }
            "conda" | "mamba" | "micromamba"
                if words.get(1).map(String::as_str) == Some("activate") =>
            {
                let target = words[2..].iter().find(|w| !w.starts_with('-'));
                read.env = Some(match target {
                    Some(t) => name_or_path(t),
                    None => EnvRef::Name("base".to_string()),
                });
            }
            "conda" | "mamba" | "micromamba"
                if matches!(
                    words.get(1).map(String::as_str),
                    Some("deactivate" | "shell.bash" | "shell.posix")
                ) => {}
            _ if SETUP_COMMANDS.contains(&name) => {}
            _ => read.command = Some(words),
        }
    }
    Ok(read)
}

/// `source FILE [ARG]`: venv and conda activate scripts, conda's shell hook.
fn read_source(file: &str, arg: Option<&str>, read: &mut ScriptRead) {
    if file == "activate" {
        // `source activate ENV` (old conda, activate found on PATH).
        read.env = Some(arg.map_or_else(|| EnvRef::Name("base".to_string()), name_or_path));
        return;
    }
    if let Some(bin) = file.strip_suffix("/activate") {
        let root = parent(bin);
        match arg {
            // conda's `…/bin/activate ENV`: ENV under that root.
            Some(env) => {
                read.conda_root = Some(root.to_string());
                read.env = Some(name_or_path(env));
            }
            // A venv's own `bin/activate`, or conda's root activate (base): the prefix itself.
            None => read.env = Some(EnvRef::Prefix(root.to_string())),
        }
        return;
    }
    for hook in ["/etc/profile.d/conda.sh", "/etc/profile.d/mamba.sh"] {
        if let Some(root) = file.strip_suffix(hook) {
            read.conda_root = Some(root.to_string());
        }
    }
}

/// The directory part of a `/`-separated path as written (`/a/b` → `/a`).
fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    }
}

/// An activation target: a path when it has a `/`, else an environment name.
fn name_or_path(target: &str) -> EnvRef {
    if target.contains('/') {
        EnvRef::Prefix(target.to_string())
    } else {
        EnvRef::Name(target.to_string())
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Replaces `$@`/`$*` words with the arguments after `$0`, and `$N` words with argument N.
fn expand_positional(words: Vec<String>, positional: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    for word in words {
        match word.as_str() {
            "$@" | "$*" | "${@}" | "${*}" => out.extend(positional.iter().skip(1).cloned()),
            w if w.len() == 2 && w.starts_with('$') && w.as_bytes()[1].is_ascii_digit() => {
                let n = usize::from(w.as_bytes()[1] - b'0');
                if let Some(value) = positional.get(n) {
                    out.push(value.clone());
                }
            }
            _ => out.push(word),
        }
    }
    out
}

/// Splits a script into commands (at `;`, `&&`, `||`, `|`, `&` and newlines) of words, with
/// quotes removed. `$(…)` and backquotes stay inside their word, unexpanded.
pub(super) fn split_commands(script: &str) -> Result<Vec<Vec<String>>, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut commands: Vec<Vec<String>> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let end_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => end_word(&mut word, &mut in_word, &mut words),
            '\n' | ';' | '&' | '|' => {
                end_word(&mut word, &mut in_word, &mut words);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some('\n') => {}
                    Some(&next) => {
                        word.push(next);
                        in_word = true;
                    }
                    None => return Err("the script ends with a lone backslash".to_string()),
                }
            }
            '\'' => {
                in_word = true;
                i = copy_single_quoted(&chars, i, &mut word)?;
            }
            '"' => {
                in_word = true;
                i = copy_double_quoted(&chars, i, &mut word)?;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                in_word = true;
                i = copy_substitution(&chars, i, &mut word)?;
            }
            '`' => {
                in_word = true;
                i = copy_backquoted(&chars, i, &mut word)?;
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    end_word(&mut word, &mut in_word, &mut words);
    if !words.is_empty() {
        commands.push(words);
    }
    Ok(commands)
}

/// Copies the inside of the single-quoted string starting at `start` (the `'`) into `word`,
/// literally; returns the index of the closing quote.
fn copy_single_quoted(chars: &[char], start: usize, word: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            Some('\'') => return Ok(i),
            Some(&ch) => word.push(ch),
            None => return Err("a single quote is not closed".to_string()),
        }
        i += 1;
    }
}

/// Copies the inside of the double-quoted string starting at `start` (the `"`) into `word`:
/// backslash escapes of `"`, `\\`, `$`, `` ` `` and newline are undone, `$(…)` is kept whole;
/// returns the index of the closing quote.
fn copy_double_quoted(chars: &[char], start: usize, word: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            Some('"') => return Ok(i),
            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`' | '\n')) => {
                i += 1;
                if chars[i] != '\n' {
                    word.push(chars[i]);
                }
            }
            Some('$') if chars.get(i + 1) == Some(&'(') => {
                i = copy_substitution(chars, i, word)?;
            }
            Some(&ch) => word.push(ch),
            None => return Err("a double quote is not closed".to_string()),
        }
        i += 1;
    }
}

/// Copies the backquoted command starting at `start` into `word`, backquotes included;
/// returns the index of the closing backquote.
fn copy_backquoted(chars: &[char], start: usize, word: &mut String) -> Result<usize, String> {
    word.push('`');
    let mut i = start + 1;
    while i < chars.len() && chars[i] != '`' {
        word.push(chars[i]);
        i += 1;
    }
    if i >= chars.len() {
        return Err("a backquote is not closed".to_string());
    }
    word.push('`');
    Ok(i)
}

/// Copies `$(…)` starting at `start` (the `$`) into `word`, balancing parentheses; returns the
/// index of the closing `)`.
fn copy_substitution(chars: &[char], start: usize, word: &mut String) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        word.push(c);
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("a $( command substitution is not closed".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<String>> {
        split_commands(s).unwrap()
    }

    #[test]
    fn splits_words_and_commands() {
        assert_eq!(
            words("source '/a b/bin/activate' x && exec python -m k"),
            vec![
                vec!["source", "/a b/bin/activate", "x"],
                vec!["exec", "python", "-m", "k"]
            ]
        );
        assert_eq!(
            words("a \"b \\\"c\\\"\" d\\ e; f # comment\n g"),
            vec![vec!["a", "b \"c\"", "d e"], vec!["f"], vec!["g"]]
        );
        assert_eq!(
            words("eval \"$(conda shell.bash hook 2> /dev/null)\" || true"),
            vec![
                vec!["eval", "$(conda shell.bash hook 2> /dev/null)"],
                vec!["true"]
            ]
        );
        assert_eq!(words("x $(a (b) c) y"), vec![vec!["x", "$(a (b) c)", "y"]]);
        assert_eq!(words("''"), vec![vec![""]]);
    }

    #[test]
    fn unclosed_quotes_are_errors_not_panics() {
        for s in ["'abc", "\"abc", "abc\\", "$(abc", "`abc"] {
            assert!(split_commands(s).is_err(), "{s}");
        }
    }

    #[test]
    fn reads_activation_and_command() {
        let r = read_script(
            "source /c/bin/activate ds && exec python -m ipykernel_launcher",
            &[],
        )
        .unwrap();
        assert_eq!(r.conda_root.as_deref(), Some("/c"));
        assert_eq!(r.env, Some(EnvRef::Name("ds".into())));
        assert_eq!(r.command.unwrap()[0], "python");
        let r = read_script(". /v/bin/activate; X=1 python -m k", &[]).unwrap();
        assert_eq!(r.env, Some(EnvRef::Prefix("/v".into())));
        assert_eq!(r.command.unwrap(), vec!["python", "-m", "k"]);
        let r = read_script("source activate old && python k", &[]).unwrap();
        assert_eq!(r.env, Some(EnvRef::Name("old".into())));
        let r = read_script("conda activate; exec -a label python k", &[]).unwrap();
        assert_eq!(r.env, Some(EnvRef::Name("base".into())));
        assert_eq!(r.command.unwrap(), vec!["python", "k"]);
        let r = read_script("cd /tmp; export A=1", &[]).unwrap();
        assert_eq!(r.command, None);
    }

    #[test]
    fn positional_parameters() {
        let pos: Vec<String> = ["name", "python", "-m", "k"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = read_script("exec \"$@\"", &pos).unwrap();
        assert_eq!(r.command.unwrap(), vec!["python", "-m", "k"]);
        let r = read_script("exec $1 $3", &pos).unwrap();
        assert_eq!(r.command.unwrap(), vec!["python", "k"]);
    }

    #[test]
    fn parent_of_paths() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("a"), ".");
        assert_eq!(parent("/a/b/"), "/a");
    }
}
