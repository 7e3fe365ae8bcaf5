//! Ids of tokens and payment requests, and the form capability. All random (128 or 256 bits from the OS):
//! nothing is derived from the card, so no token, id or index reveals or confirms a number (PCI DSS 3.5.1.1).

/// A new token id: `tok_` and 22 base64url characters (128 random bits).
pub fn new_token_id() -> String {
    cordon_crypto::new_id("tok")
}

/// A new payment request id: `pr_` and 22 base64url characters.
pub fn new_request_id() -> String {
    cordon_crypto::new_id("pr")
}

/// A new form capability (`vf_` and 43 base64url characters, 256 bits) and the SHA-256 stored for it. It
/// travels only in the vault form URL's fragment, which browsers never send to a server.
pub fn new_form_token() -> (String, [u8; 32]) {
    cordon_crypto::new_token("vf")
}

fn well_formed(id: &str, prefix: &str, body_len: usize) -> bool {
    id.strip_prefix(prefix).is_some_and(|b| {
        b.len() == body_len
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    })
}

/// Is `id` shaped like a token id? (Shape only: a forged id of the right shape is then not found.)
pub fn is_token_id(id: &str) -> bool {
    well_formed(id, "tok_", 22)
}

pub fn is_request_id(id: &str) -> bool {
    well_formed(id, "pr_", 22)
}

pub fn is_form_token(t: &str) -> bool {
    well_formed(t, "vf_", 43)
}

/// Does the form token match the stored hash? In constant time.
pub fn form_token_matches(token: &str, stored: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    let hash = cordon_crypto::hash_token(token);
    stored.len() == hash.len() && bool::from(hash.ct_eq(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_well_formed() {
        let a = new_token_id();
        assert!(is_token_id(&a), "{a}");
        assert_ne!(a, new_token_id());
        assert!(is_request_id(&new_request_id()));
        assert!(!is_token_id("tok_short"));
        assert!(!is_token_id("tok_4111111111111111aaaaaa!"));
        assert!(!is_token_id(&new_request_id()));
        let (t, h) = new_form_token();
        assert!(is_form_token(&t));
        assert!(form_token_matches(&t, &h));
        assert!(!form_token_matches(&new_form_token().0, &h));
        assert!(!form_token_matches(&t, &h[..16]));
    }
}
