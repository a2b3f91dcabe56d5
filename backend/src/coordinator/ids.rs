//! Run ids and cancel tokens: 128 bits from the kernel's random generator each, written as 32
//! lowercase hex digits, so that nobody can guess another client's run or cancel it.

/// Hex digits in an id or a token.
pub const ID_LEN: usize = 32;

/// A fresh random id or token.
pub fn random_hex() -> String {
    let mut bytes = [0u8; ID_LEN / 2];
    getrandom::fill(&mut bytes).expect("the kernel's random generator answers");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` has the shape of an id (or a token).
pub fn well_formed(text: &str) -> bool {
    text.len() == ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Compare a presented token with the real one in time independent of where they differ.
pub fn same_token(presented: &str, real: &str) -> bool {
    presented.len() == real.len()
        && presented
            .bytes()
            .zip(real.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_well_formed_and_distinct() {
        let a = random_hex();
        let b = random_hex();
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert!(!well_formed("42"));
        assert!(!well_formed(&a.to_uppercase()));
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = random_hex();
        assert!(same_token(&t, &t.clone()));
        assert!(!same_token(&t, &random_hex()));
        assert!(!same_token("", &t));
    }
}
