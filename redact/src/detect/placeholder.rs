//! The built-in allow-list: documentation examples and placeholders that have the shape of
//! a credential but are none (`AKIAIOSFODNN7EXAMPLE`, `glpat-XXXXXXXXXXXXXXXXXXXX`,
//! `xoxb-****…`, `<token>`, `${TOKEN}`). A documentation example ends in `EXAMPLE` or
//! `EXAMPLEKEY`, as the AWS documentation's keys do. It applies to built-in rules only; user rules and
//! the user allow-list (`allow:` in the rules file) are unaffected, and the allow-list
//! extends it.

use memchr::memmem;

/// A run of this many identical filler bytes (`x`, `X`, `*`, `0`) marks a placeholder: in a
/// random token of 64 base62 characters it occurs with probability below 10⁻¹¹.
const FILLER_RUN: usize = 8;

/// True for a matched span that is a documentation example or a placeholder.
pub(crate) fn is_documentation_example(secret: &[u8]) -> bool {
    let templated = memmem::find(secret, b"${").is_some()
        || memmem::find(secret, b"{{").is_some()
        || (secret.first() == Some(&b'<') && secret.last() == Some(&b'>'));
    let lower = secret.to_ascii_lowercase();
    let example = [&b"example"[..], b"examplekey"]
        .iter()
        .any(|e| lower.ends_with(e));
    templated || example || filler_run(secret)
}

fn filler_run(secret: &[u8]) -> bool {
    let mut run = 0;
    let mut prev = 0u8;
    for &b in secret {
        run = match b == prev && matches!(b, b'x' | b'X' | b'*' | b'0') {
            true => run + 1,
            false => 1,
        };
        if run >= FILLER_RUN {
            return true;
        }
        prev = b;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_examples() {
        let aws = ["AKIAIOSFODNN7", "EXAMPLE"].concat();
        assert!(is_documentation_example(aws.as_bytes()));
        assert!(is_documentation_example(b"glpat-XXXXXXXXXXXXXXXXXXXX"));
        assert!(is_documentation_example(b"dop_v1_0000000000000000"));
        assert!(is_documentation_example(b"${VAULT_TOKEN}"));
        assert!(is_documentation_example(b"<your-token>"));
        assert!(!is_documentation_example(b"hvs.CAESIJ0xx9aQk2kT3b7Zl0nW"));
        assert!(!is_documentation_example(b"xoxb-123-456-abcdef"));
    }
}
