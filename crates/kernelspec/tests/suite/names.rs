use kernelspec::{is_valid_name, KernelName, NameProblem, NAME_RULE};

#[test]
fn valid_names_are_lowercased() {
    for (input, want) in [
        ("python3", "python3"),
        ("My-Env", "my-env"),
        ("a.b_c-d", "a.b_c-d"),
        ("-", "-"),
        ("...", "..."),
        (".hidden", ".hidden"),
        ("X", "x"),
    ] {
        let name = KernelName::parse(input).unwrap();
        assert_eq!(name.as_str(), want);
        assert_eq!(name.to_string(), want);
        assert_eq!(input.parse::<KernelName>().unwrap(), name);
        assert_eq!(serde_json::to_string(&name).unwrap(), format!("\"{want}\""));
    }
    assert!(KernelName::parse(&"a".repeat(255)).is_ok());
}

#[test]
fn invalid_names_are_rejected_with_the_jupyter_rule() {
    let cases: &[(&str, NameProblem)] = &[
        ("", NameProblem::Empty),
        (".", NameProblem::DotName),
        ("..", NameProblem::DotName),
        ("../x", NameProblem::BadChar('/')),
        ("/abs", NameProblem::BadChar('/')),
        ("a/b", NameProblem::BadChar('/')),
        ("a\\b", NameProblem::BadChar('\\')),
        ("abc\n", NameProblem::BadChar('\n')),
        ("a\0b", NameProblem::BadChar('\0')),
        ("bad name", NameProblem::BadChar(' ')),
        // Unicode characters that Python's IGNORECASE regex accepts.
        ("\u{212A}ernel", NameProblem::BadChar('\u{212A}')),
        ("\u{17F}py", NameProblem::BadChar('\u{17F}')),
        ("\u{131}py", NameProblem::BadChar('\u{131}')),
        ("\u{130}py", NameProblem::BadChar('\u{130}')),
        ("café", NameProblem::BadChar('é')),
    ];
    for (input, problem) in cases {
        let err = KernelName::parse(input).unwrap_err();
        assert_eq!(err.what, *problem, "{input:?}");
        assert_eq!(err.input, *input);
        assert!(err.to_string().ends_with(NAME_RULE), "{err}");
        assert!(!is_valid_name(input));
    }
    let long = "a".repeat(300);
    assert_eq!(
        KernelName::parse(&long).unwrap_err().what,
        NameProblem::TooLong
    );
}

#[test]
fn rule_text_is_jupyters() {
    assert_eq!(
        NAME_RULE,
        "Kernel names can only contain ASCII letters and numbers and these separators: - . _ (hyphen, period, and underscore)."
    );
}

#[test]
fn names_order_and_hash_by_lowercase_text() {
    use std::collections::BTreeSet;
    let set: BTreeSet<KernelName> = ["b", "A", "a"]
        .iter()
        .map(|s| KernelName::parse(s).unwrap())
        .collect();
    let v: Vec<&str> = set.iter().map(KernelName::as_str).collect();
    assert_eq!(v, ["a", "b"]);
}
