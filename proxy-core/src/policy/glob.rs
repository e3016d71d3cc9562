//! Name globs for namespaces and pods: `*` matches any run of characters (including none),
//! everything else matches itself. Kubernetes names cannot contain `*`, so there is no
//! escaping, and there is deliberately no `?` or character class: rules stay readable.

/// The longest glob accepted.
pub const MAX_GLOB_LEN: usize = 253;

/// A compiled glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    text: String,
}

impl Glob {
    /// Checks and compiles `text`: non-empty, bounded, only name characters and `*`.
    pub fn new(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("empty pattern (use \"*\" for any)".into());
        }
        if text.len() > MAX_GLOB_LEN {
            return Err(format!("longer than {MAX_GLOB_LEN} characters"));
        }
        if let Some(c) = text.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '*'))
        }) {
            return Err(format!(
                "`{text}`: {c:?} cannot appear in a Kubernetes name (lower-case letters, digits, '-', '.', and '*' as wildcard)"
            ));
        }
        Ok(Glob { text: text.into() })
    }

    /// Whether this is `*`, matching everything.
    pub fn is_any(&self) -> bool {
        self.text.bytes().all(|b| b == b'*')
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches. Linear-time two-pointer matching with one backtrack point.
    pub fn matches(&self, name: &str) -> bool {
        let (p, s) = (self.text.as_bytes(), name.as_bytes());
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, si));
                pi += 1;
            } else if pi < p.len() && p[pi] == s[si] {
                pi += 1;
                si += 1;
            } else if let Some((sp, ss)) = star {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&b| b == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("shop", "shop", true),
            ("shop", "shop2", false),
            ("shop", "sho", false),
            ("payments-*", "payments-eu", true),
            ("payments-*", "payments-", true),
            ("payments-*", "payments", false),
            ("payments-*", "xpayments-eu", false),
            ("*-prod", "shop-prod", true),
            ("*-prod", "shop-prod-2", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*b*c", "abcbc", true),
            ("api-*-0", "api-x-y-0", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).unwrap().matches(s), want, "{p} ~ {s}");
        }
    }

    #[test]
    fn invalid_globs() {
        for bad in ["", "Shop", "a/b", "a?", "a b", "[ab]", "ns\u{e9}"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
        assert!(Glob::new(&"a".repeat(MAX_GLOB_LEN + 1)).is_err());
    }
}
