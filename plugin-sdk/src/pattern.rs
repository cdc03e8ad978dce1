//! Name patterns for scoping grants: `*` matches any run of characters, `?`
//! any one character; everything else matches itself.

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative glob match with backtracking to the last `*`: linear in
    // practice, never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        // `*` first: taken as a literal against a `*` in the name, it would
        // leave no point to backtrack to.
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("docs-*", "docs-2024"));
        assert!(matches("docs-*", "docs-"));
        assert!(!matches("docs-*", "doc"));
        assert!(!matches("docs-*", "my-docs-1"));
        assert!(matches("*-prod", "eu-prod"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
    }

    /// Found by the `auth_request` fuzz target: a `*` in the name was
    /// matched as a literal by the pattern's `*`, which then could not
    /// stretch over the rest of the name.
    #[test]
    fn a_star_in_the_name_is_matched_by_a_star() {
        assert!(matches("*", "*acme"));
        assert!(matches("*", "**"));
        assert!(matches("a*", "a*b"));
        assert!(matches("*b", "*ab"));
        assert!(matches("*?", "*x"));
        assert!(!matches("*b", "*a"));
    }
}
