//! The built-in allow-list: documentation examples and placeholders that have the shape of
//! a credential but are none (`AKIAIOSFODNN7EXAMPLE`, `glpat-XXXXXXXXXXXXXXXXXXXX`,
//! `xoxb-****…`, `<token>`, `${TOKEN}`). A documentation example ends in `EXAMPLE` or
//! `EXAMPLEKEY`, as the AWS documentation's keys do. It applies to built-in rules only; user rules and
//! the user allow-list (`allow:` in the rules file) are unaffected, and the allow-list
//! extends it.

/// A run of this many identical filler bytes (`x`, `X`, `*`, `0`) marks a placeholder: in a
/// random token of 64 base62 characters it occurs with probability below 10⁻¹¹.
const FILLER_RUN: usize = 8;

/// True for a matched span that is a documentation example or a placeholder.
///
/// It runs on every span a built-in rule finds, so it reads the span once and allocates
/// nothing (a `memmem::find` per call builds a searcher, which costs more than these short
/// spans do).
pub(crate) fn is_documentation_example(secret: &[u8]) -> bool {
    let bracketed = secret.first() == Some(&b'<') && secret.last() == Some(&b'>');
    let example = [&b"example"[..], b"examplekey"]
        .iter()
        .any(|e| ends_with_ignore_case(secret, e));
    bracketed || example || templated_or_filler(secret)
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// `${` or `{{` anywhere, or a run of [`FILLER_RUN`] identical filler bytes.
fn templated_or_filler(secret: &[u8]) -> bool {
    let templated =
        memchr::memchr_iter(b'{', secret).any(|i| i > 0 && matches!(secret[i - 1], b'$' | b'{'));
    templated || filler_run(secret)
}

fn is_filler(b: u8) -> bool {
    matches!(b, b'x' | b'X' | b'*' | b'0')
}

/// A run of [`FILLER_RUN`] identical filler bytes. Any such run covers one of the offsets
/// `FILLER_RUN - 1`, `2 * FILLER_RUN - 1`, …, so only runs through those are measured.
fn filler_run(secret: &[u8]) -> bool {
    (FILLER_RUN - 1..secret.len()).step_by(FILLER_RUN).any(|p| {
        let b = secret[p];
        if !is_filler(b) {
            return false;
        }
        let left = secret[..p].iter().rev().take_while(|&&c| c == b).count();
        let right = secret[p + 1..].iter().take_while(|&&c| c == b).count();
        left + 1 + right >= FILLER_RUN
    })
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
        assert!(is_documentation_example(b"sk_live_{{ .Values.stripe }}"));
        assert!(is_documentation_example(b"pre${X}post"));
        assert!(!is_documentation_example(b"pre$ {X} {post"));
        assert!(is_documentation_example(b"hvs.ThisIsAnExample"));
        assert!(is_documentation_example(b"dapi_ExampleKey"));
        assert!(!is_documentation_example(b"hvs.Exampl"));
        assert!(!is_documentation_example(b"examplekey-2"));
    }

    /// The definition `templated_or_filler` implements faster.
    fn naive(s: &[u8]) -> bool {
        let templated = s.windows(2).any(|w| w == b"${" || w == b"{{");
        let filler = s
            .windows(FILLER_RUN)
            .any(|w| is_filler(w[0]) && w.iter().all(|&c| c == w[0]));
        templated || filler
    }

    #[test]
    fn the_fast_scan_agrees_with_the_definition() {
        // Every string over a small alphabet up to 6 bytes, and runs of every length at
        // every offset of longer strings.
        let alphabet = b"x0*$Xa{";
        let mut all: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let next: Vec<Vec<u8>> = all
                .iter()
                .filter(|s| s.len() == all.last().map_or(0, Vec::len))
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            all.extend(next);
        }
        for s in &all {
            assert_eq!(
                templated_or_filler(s),
                naive(s),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        for len in 0..20 {
            for at in 0..20 {
                for fill in [b'x', b'X', b'*', b'0', b'a'] {
                    let mut s = b"Ab9zQk3TpLm8RwVn5Yc2Hd7Fj".to_vec();
                    s.splice(at..at, std::iter::repeat_n(fill, len));
                    assert_eq!(templated_or_filler(&s), naive(&s), "{len} at {at}");
                }
            }
        }
    }
}
