//! "Did you mean": the names closest to a mistyped one, for hints. One implementation for
//! kernel names, protected names and kernels.toml keys, on strsim's Levenshtein distance.

/// Up to `n` of `candidates` that look like `input`, compared case-insensitively: within an
/// edit distance of a third of its length (at least 2), or one containing the other (both at
/// least 3 characters long). Closest first, then alphabetical; no repeats.
pub fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let wanted = input.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let have = c.to_lowercase();
            let related = (wanted.chars().count() >= 3 && have.contains(&wanted))
                || (have.chars().count() >= 3 && wanted.contains(&have));
            let d = if related {
                1
            } else {
                strsim::levenshtein(&wanted, &have)
            };
            (d <= limit).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_and_parts_are_suggested_far_names_are_not() {
        let names = ["python3", "python3-dev", "julia-1.10", "ir", "python3"];
        assert_eq!(closest("pyton3", names, 3), ["python3"]);
        assert_eq!(closest("Python", names, 5), ["python3", "python3-dev"]);
        assert_eq!(closest("julia", names, 3), ["julia-1.10"]);
        assert_eq!(closest("IR", names, 3), ["ir"]);
        assert!(closest("zzzzzzzz", names, 3).is_empty());
    }
}
