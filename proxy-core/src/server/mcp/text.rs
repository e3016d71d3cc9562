//! What the model reads: control characters and ANSI escapes removed, cut to the call's
//! budget with an explicit truncation line, and the recording id at the end.

/// Which end of an over-budget text survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The first lines (resources, exec output).
    Head,
    /// The newest lines (logs).
    Tail,
}

/// Removes ANSI escape sequences (CSI, OSC, two-byte escapes) and every control character
/// but newline and tab; carriage returns go too, so a log cannot overwrite what it showed.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI, the one-character form of ESC [.
            '\u{9b}' => skip_csi(&mut chars),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \).
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// Cuts `text` to at most `budget` bytes at a line boundary, keeping `keep`'s end, and says
/// what was cut on its own line. `total` is how many bytes there were before any earlier cut.
pub(crate) fn fit(text: &str, budget: usize, keep: Keep, total: u64) -> String {
    let cut_before = total > text.len() as u64;
    if text.len() <= budget && !cut_before {
        return text.to_string();
    }
    let kept = match keep {
        Keep::Head => head(text, budget),
        Keep::Tail => tail(text, budget),
    };
    let which = match keep {
        Keep::Head => "first",
        Keep::Tail => "newest",
    };
    let mut out = String::with_capacity(kept.len() + 120);
    let line = format!(
        "[truncated: showing the {which} {} of {total} bytes; narrow the request to see more]",
        kept.len()
    );
    if keep == Keep::Tail {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(kept);
    if keep == Keep::Head {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}

fn head(text: &str, budget: usize) -> &str {
    if text.len() <= budget {
        return text;
    }
    let mut end = floor_char(text, budget);
    if let Some(nl) = text[..end].rfind('\n') {
        end = nl + 1;
    }
    &text[..end]
}

fn tail(text: &str, budget: usize) -> &str {
    if text.len() <= budget {
        return text;
    }
    let mut start = text.len() - budget;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    if let Some(nl) = text[start..].find('\n') {
        start += nl + 1;
    }
    &text[start..]
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_go() {
        let s = "a\u{1b}[31mred\u{1b}[0m\r\u{7}b\u{1b}]0;title\u{7}c\u{9b}2Jd\te\n";
        assert_eq!(sanitize(s), "aredbcd\te\n");
    }

    #[test]
    fn head_and_tail_cut_at_lines() {
        let text = "one\ntwo\nthree\nfour\n";
        let h = fit(text, 9, Keep::Head, text.len() as u64);
        assert_eq!(
            h,
            "one\ntwo\n[truncated: showing the first 8 of 19 bytes; narrow the request to see more]"
        );
        let t = fit(text, 11, Keep::Tail, text.len() as u64);
        assert!(t.ends_with("\nfour\n"), "{t}");
        assert!(
            t.starts_with("[truncated: showing the newest 5 of 19"),
            "{t}"
        );
        assert_eq!(fit(text, 100, Keep::Head, text.len() as u64), text);
    }

    #[test]
    fn an_earlier_cut_is_reported() {
        let t = fit("abc\n", 100, Keep::Head, 5000);
        assert!(t.ends_with(
            "[truncated: showing the first 4 of 5000 bytes; narrow the request to see more]"
        ));
    }
}
