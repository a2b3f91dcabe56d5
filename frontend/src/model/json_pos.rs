//! Where in the JSON text a problem is: serde's "at line 3 column 5" read back into a position
//! the editor can select (textarea offsets count UTF-16 code units).

/// (line, column), 1-based, from a message that says `line N column M`.
pub fn line_col(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.find("line ")? + 5..];
    let (line, rest) = rest.split_once(' ')?;
    let col = rest.strip_prefix("column ")?;
    let col: String = col.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.parse().ok()?, col.parse().ok()?))
}

/// The UTF-16 offset of (line, column) in `text`; past the end, the end.
pub fn utf16_offset(text: &str, line: usize, col: usize) -> u32 {
    let mut offset = 0u32;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            let before: u32 = l
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| c.len_utf16() as u32)
                .sum();
            return offset + before;
        }
        offset += l.chars().map(|c| c.len_utf16() as u32).sum::<u32>() + 1;
    }
    offset.saturating_sub(1)
}

/// The gutter's text: `1\n2\n...` for every line of `text`.
pub fn line_numbers(text: &str) -> String {
    let lines = text.split('\n').count();
    (1..=lines)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_positions_are_read_back() {
        assert_eq!(
            line_col("expected `,` or `}` at line 3 column 5"),
            Some((3, 5))
        );
        assert_eq!(line_col("steps[1].target: must be absolute"), None);
    }

    #[test]
    fn offsets_count_utf16_units() {
        let text = "{\n  \"t\": \"é😀\",\n  x\n}";
        assert_eq!(utf16_offset(text, 1, 1), 0);
        assert_eq!(utf16_offset(text, 2, 3), 4);
        // Line 3 starts after line 2's 13 chars, one of them two UTF-16 units: 2 + 14 + 1.
        assert_eq!(utf16_offset(text, 3, 3), 2 + 14 + 2);
        assert_eq!(line_numbers("a\nb\nc"), "1\n2\n3");
    }
}
