//! Small helpers for the SVG documents the coordinators print or watch.

/// Escapes text for XML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Cuts a label to `max` characters (with an ellipsis) so that it stays in its box.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(
            esc("<Équipe \"A\" & 'B'>\u{7}"),
            "&lt;Équipe &quot;A&quot; &amp; &apos;B&apos;&gt;"
        );
        assert_eq!(fit("Belleville", 20), "Belleville");
        assert_eq!(fit("Belleville", 5), "Bell…");
    }
}
