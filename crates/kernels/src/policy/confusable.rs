//! Display names compared the way a person reads them, so a protected display name cannot be
//! imitated with look-alike characters.
//!
//! [`display_name_key`] maps a display name to a key; two names that look the same get the
//! same key. In order: NFKC (compatibility forms: a no-break space becomes a space, fullwidth
//! letters become ASCII), the UTS #39 confusable skeleton (which also drops default-ignorable
//! characters such as the zero-width space, and maps look-alikes such as Cyrillic `М` to `M`),
//! whitespace runs folded to one space and every dash or minus to `-`, lowercase, and the
//! skeleton and folding once more (lowercasing can make new look-alikes).

use unicode_normalization::UnicodeNormalization;

/// Dashes and minus signs that read as `-` (Unicode `Dash_Punctuation` and the math minus).
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{058A}' | '\u{05BE}' | '\u{1400}' | '\u{1806}' | '\u{2010}'
            ..='\u{2015}'
                | '\u{2053}'
                | '\u{207B}'
                | '\u{208B}'
                | '\u{2212}'
                | '\u{2E17}'
                | '\u{2E1A}'
                | '\u{2E3A}'
                | '\u{2E3B}'
                | '\u{2E40}'
                | '\u{2E5D}'
                | '\u{301C}'
                | '\u{3030}'
                | '\u{30A0}'
                | '\u{30FC}'
                | '\u{FE31}'
                | '\u{FE32}'
                | '\u{FE58}'
                | '\u{FE63}'
                | '\u{FF0D}'
                | '\u{10EAD}'
    )
}

/// Whitespace runs become one space (trimmed at both ends); dashes become `-`.
fn fold(s: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in s {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(if is_dash(c) { '-' } else { c });
    }
    out
}

/// The comparison key of a display name (see the module docs). Empty for a name that is
/// only whitespace or invisible characters.
pub fn display_name_key(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    let first = fold(unicode_security::skeleton(&nfkc));
    let lower = first.to_lowercase();
    fold(unicode_security::skeleton(&lower))
}

/// Whether two display names look the same (and are not empty).
pub fn same_display_name(a: &str, b: &str) -> bool {
    let a = display_name_key(a);
    !a.is_empty() && a == display_name_key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTECTED: &str = "Python 3.8 - AzureML";

    #[test]
    fn imitations_of_a_protected_display_name_match_it() {
        for imitation in [
            "Python 3.8 - AzureML",
            "python 3.8 - azureml",
            "  Python 3.8 - AzureML ",
            "Python 3.8 \u{200B}- AzureML",         // zero-width space
            "Python\u{200B} 3.8 - Azure\u{200D}ML", // zero-width space and joiner
            "Python 3.8\u{00A0}- AzureML",          // no-break space
            "Python 3.8 - Azure\u{041C}L",          // Cyrillic capital em
            "Python 3.8 \u{2013} AzureML",          // en dash
            "Python 3.8 \u{2014} AzureML",          // em dash
            "Python 3.8 \u{2212} AzureML",          // minus sign
            "Python 3.8  - AzureML",                // doubled space
            "Python 3.8 -\tAzureML",                // tab
            "\u{FF30}ython 3.8 - AzureML",          // fullwidth P
            "Pyth\u{043E}n 3.8 - AzureML",          // Cyrillic o
            "Python 3.8 - Azure\u{FEFF}ML",         // byte order mark
        ] {
            assert!(
                same_display_name(PROTECTED, imitation),
                "{imitation:?} should match ({:?} vs {:?})",
                display_name_key(PROTECTED),
                display_name_key(imitation)
            );
        }
    }

    #[test]
    fn different_names_stay_different() {
        for other in [
            "Python 3.9 - AzureML",
            "Python 3.8 - AzureML (copy)",
            "Python 3.8",
            "Python 38 - AzureML",
        ] {
            assert!(!same_display_name(PROTECTED, other), "{other:?}");
        }
        assert!(!same_display_name("", ""));
        assert!(!same_display_name("\u{200B}", " "));
    }
}
