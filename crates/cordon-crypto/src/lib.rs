//! Cordon's key handling, in one place so that every secret follows the same rules:
//!
//! - the **master key** only wraps other keys and never touches data directly;
//! - each tenant has a **data key**, stored wrapped by the master key, from which a per-conversation
//!   subkey is derived (HKDF) to seal message bodies with XChaCha20-Poly1305;
//! - passwords are argon2id; bearer tokens are high-entropy and stored as SHA-256 only;
//! - no secret type prints its bytes in `Debug`.
#![forbid(unsafe_code)]

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Errors from key handling. None of them carries key material or the data being processed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key must be 32 bytes, given as 64 hex digits or base64")]
    MasterKeyFormat,
    #[error("the master key does not match this database")]
    WrongMasterKey,
    #[error("sealed data is malformed")]
    Malformed,
    #[error("sealed data failed authentication (wrong key, or moved or altered ciphertext)")]
    Authentication,
    #[error("password hashing failed")]
    PasswordHash,
}

/// Version byte at the start of every sealed blob, so the format can change later.
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// version (1) + key id (4) + nonce (24)
const SEAL_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// A 256-bit secret key. Debug never shows the bytes; memory is zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A fresh random key from the OS generator.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SecretKey(k)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// Parse the master key as given in `CORDON_MASTER_KEY` or the key file: 64 hex digits or base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::MasterKeyFormat)?
        } else {
            B64.decode(text)
                .or_else(|_| B64URL.decode(text))
                .map_err(|_| CryptoError::MasterKeyFormat)?
        };
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::MasterKeyFormat)?;
        Ok(SecretKey(arr))
    }

    /// The text form written to a key file (hex). Named so no caller prints it by accident.
    pub fn dangerous_export_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Raw bytes, for wrapping inside this crate and for signing-key seeds.
    pub fn dangerous_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn derive(&self, label: &[u8]) -> SecretKey {
        let hk = hkdf::Hkdf::<Sha256>::new(None, &self.0);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 255*32 limit, so expand cannot fail.
        let _ = hk.expand(label, &mut out);
        SecretKey(out)
    }
}

/// Seal `plaintext` under `key` with associated data `ad`; output is header ‖ ciphertext.
fn seal_raw(key: &SecretKey, key_id: u32, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let full_ad = bind_header(ad, key_id);
    // Encryption with XChaCha20-Poly1305 only fails for inputs beyond ~256 GiB; chat bodies are bounded far below.
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &full_ad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(SEAL_HEADER_LEN + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn bind_header(ad: &[u8], key_id: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(ad.len() + 5);
    v.push(SEAL_VERSION);
    v.extend_from_slice(&key_id.to_be_bytes());
    v.extend_from_slice(ad);
    v
}

/// The key id recorded in a sealed blob, so the right key can be looked up before opening.
pub fn sealed_key_id(sealed: &[u8]) -> Result<u32, CryptoError> {
    if sealed.len() < SEAL_HEADER_LEN + 16 || sealed[0] != SEAL_VERSION {
        return Err(CryptoError::Malformed);
    }
    Ok(u32::from_be_bytes([
        sealed[1], sealed[2], sealed[3], sealed[4],
    ]))
}

fn open_raw(key: &SecretKey, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key_id = sealed_key_id(sealed)?;
    let nonce = &sealed[5..SEAL_HEADER_LEN];
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let full_ad = bind_header(ad, key_id);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: &sealed[SEAL_HEADER_LEN..],
                aad: &full_ad,
            },
        )
        .map_err(|_| CryptoError::Authentication)
}

/// Length-prefix each part so that ("ab","c") and ("a","bc") bind differently.
fn associated_data(label: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(label.as_bytes());
    for p in parts {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

/// The master key: it wraps tenant data keys and signing keys, and nothing else.
#[derive(Debug, Clone)]
pub struct MasterKey {
    wrapping: SecretKey,
}

/// A fixed plaintext sealed under the master key and stored in the database, so a wrong key is refused at start.
const KEY_CHECK_PLAINTEXT: &[u8] = b"cordon master key check v1";

impl MasterKey {
    pub fn new(key: SecretKey) -> Self {
        MasterKey {
            wrapping: key.derive(b"cordon master wrapping v1"),
        }
    }

    /// Wrap a secret key; `context` names what it is for and whom it belongs to (e.g. tenant id + key id).
    pub fn wrap(&self, context: &str, key: &SecretKey) -> Vec<u8> {
        seal_raw(
            &self.wrapping,
            0,
            &associated_data("cordon wrap v1", &[context.as_bytes()]),
            &key.0,
        )
    }

    pub fn unwrap_key(&self, context: &str, wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
        let mut bytes = open_raw(
            &self.wrapping,
            &associated_data("cordon wrap v1", &[context.as_bytes()]),
            wrapped,
        )?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        bytes.zeroize();
        Ok(SecretKey(arr))
    }

    /// A keyed hash under a master-derived key, for values that may be compared but never stored raw.
    pub fn keyed_hash(&self, purpose: &str, value: &[u8]) -> [u8; 32] {
        keyed_hash(&self.wrapping, purpose, value)
    }

    /// The value stored in the database at first start.
    pub fn key_check(&self) -> Vec<u8> {
        seal_raw(&self.wrapping, 0, b"cordon key check", KEY_CHECK_PLAINTEXT)
    }

    pub fn verify_key_check(&self, stored: &[u8]) -> Result<(), CryptoError> {
        match open_raw(&self.wrapping, b"cordon key check", stored) {
            Ok(p) if p == KEY_CHECK_PLAINTEXT => Ok(()),
            _ => Err(CryptoError::WrongMasterKey),
        }
    }
}

/// Where a message body sits: sealing binds it, so a ciphertext cannot be moved to another tenant,
/// conversation or position.
#[derive(Debug, Clone, Copy)]
pub struct MessagePlace<'a> {
    pub tenant_id: &'a str,
    pub conversation_id: &'a str,
    pub seq: i64,
}

/// A tenant's unwrapped data key with its id. Message keys derive from it per conversation.
#[derive(Debug, Clone)]
pub struct DataKey {
    pub key_id: u32,
    key: SecretKey,
}

impl DataKey {
    pub fn new(key_id: u32, key: SecretKey) -> Self {
        DataKey { key_id, key }
    }

    /// Per-conversation subkey: each key encrypts only one conversation's messages, which keeps every key
    /// far inside the AEAD's safe message count.
    fn conversation_key(&self, conversation_id: &str) -> SecretKey {
        let mut label = b"cordon conversation v1:".to_vec();
        label.extend_from_slice(conversation_id.as_bytes());
        self.key.derive(&label)
    }

    fn message_ad(place: MessagePlace<'_>) -> Vec<u8> {
        associated_data(
            "cordon message v1",
            &[
                place.tenant_id.as_bytes(),
                place.conversation_id.as_bytes(),
                &place.seq.to_be_bytes(),
            ],
        )
    }

    pub fn seal_message(&self, place: MessagePlace<'_>, plaintext: &str) -> Vec<u8> {
        let key = self.conversation_key(place.conversation_id);
        seal_raw(
            &key,
            self.key_id,
            &Self::message_ad(place),
            plaintext.as_bytes(),
        )
    }

    pub fn open_message(
        &self,
        place: MessagePlace<'_>,
        sealed: &[u8],
    ) -> Result<String, CryptoError> {
        if sealed_key_id(sealed)? != self.key_id {
            return Err(CryptoError::Authentication);
        }
        let key = self.conversation_key(place.conversation_id);
        let bytes = open_raw(&key, &Self::message_ad(place), sealed)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)
    }

    /// A keyed hash for values that must be comparable but never stored raw (e.g. a login name typed on a
    /// failed login, which is often a password).
    pub fn keyed_hash(&self, purpose: &str, value: &[u8]) -> [u8; 32] {
        keyed_hash(&self.key, purpose, value)
    }

    fn file_ad(tenant_id: &str, conversation_id: &str, file_id: &str) -> Vec<u8> {
        associated_data(
            "cordon file v1",
            &[
                tenant_id.as_bytes(),
                conversation_id.as_bytes(),
                file_id.as_bytes(),
            ],
        )
    }

    /// Seal an attachment's bytes (issue 20) under the conversation's key, like its messages; the associated
    /// data binds tenant, conversation and file id under a label no message uses, so a file's ciphertext never
    /// opens as a message, nor as another file, nor in another conversation.
    pub fn seal_file(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        file_id: &str,
        bytes: &[u8],
    ) -> Vec<u8> {
        let key = self.conversation_key(conversation_id);
        seal_raw(
            &key,
            self.key_id,
            &Self::file_ad(tenant_id, conversation_id, file_id),
            bytes,
        )
    }

    pub fn open_file(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        file_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if sealed_key_id(sealed)? != self.key_id {
            return Err(CryptoError::Authentication);
        }
        let key = self.conversation_key(conversation_id);
        open_raw(
            &key,
            &Self::file_ad(tenant_id, conversation_id, file_id),
            sealed,
        )
    }
}

/// The card vault's key (issue 15), kept apart from every tenant's data key: it seals card data only, is
/// wrapped by the master key or by a key of its own (`CORDON_VAULT_KEY`), and its id travels in each blob so a
/// rotated key can still open what it sealed. The associated data binds tenant and token id, so a sealed card
/// moved to another token or tenant fails to open.
#[derive(Debug, Clone)]
pub struct VaultKey {
    pub key_id: u32,
    key: SecretKey,
}

impl VaultKey {
    pub fn new(key_id: u32, key: SecretKey) -> Self {
        VaultKey { key_id, key }
    }

    fn card_ad(tenant_id: &str, token_id: &str) -> Vec<u8> {
        associated_data(
            "cordon vault card v1",
            &[tenant_id.as_bytes(), token_id.as_bytes()],
        )
    }

    pub fn seal_card(&self, tenant_id: &str, token_id: &str, plaintext: &[u8]) -> Vec<u8> {
        seal_raw(
            &self.key,
            self.key_id,
            &Self::card_ad(tenant_id, token_id),
            plaintext,
        )
    }

    /// Open a sealed card. The plaintext is returned in a buffer that is zeroed when dropped.
    pub fn open_card(
        &self,
        tenant_id: &str,
        token_id: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        if sealed_key_id(sealed)? != self.key_id {
            return Err(CryptoError::Authentication);
        }
        open_raw(&self.key, &Self::card_ad(tenant_id, token_id), sealed)
            .map(zeroize::Zeroizing::new)
    }
}

/// HMAC-SHA256 under a label-specific subkey.
pub fn keyed_hash(key: &SecretKey, purpose: &str, value: &[u8]) -> [u8; 32] {
    let sub = key.derive(format!("cordon keyed hash v1:{purpose}").as_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&sub.0).unwrap_or_else(|_| {
        // HMAC accepts keys of any length, so this branch is unreachable.
        unreachable!("HMAC takes any key length")
    });
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Hash a password with argon2id (the crate's recommended parameters).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CryptoError::PasswordHash)
}

/// Verify a password against a stored argon2 PHC string. A malformed hash verifies as false.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A PHC hash of a random password, used to spend the same time on unknown users as on known ones.
pub fn dummy_password_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yh0O5Lb3UU5g7iBq0Gq9K3V5aR8sJZ6wq6ZrV4R9cFo"
}

/// A new bearer token `<prefix>_<43 base64url chars>` (256 bits) and the hash to store for it.
pub fn new_token(prefix: &str) -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{prefix}_{}", B64URL.encode(raw));
    let hash = hash_token(&token);
    (token, hash)
}

/// Tokens carry 256 random bits, so a plain SHA-256 is a safe lookup key (no salt or stretching needed).
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A random opaque identifier: `<prefix>_<22 base64url chars>` (128 bits).
pub fn new_id(prefix: &str) -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{prefix}_{}", B64URL.encode(raw))
}

/// base64url's 64 characters in ASCII order, so that the encoded time sorts as the time: the ids look like
/// [`new_id`]'s and are as long.
const SORTED_BASE64: &[u8; 64] =
    b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

fn push_sorted_base64(out: &mut String, value: u128, chars: u32) {
    for i in (0..chars).rev() {
        // The index is masked to 6 bits, so it is always inside the 64-character alphabet.
        let digit = ((value >> (6 * i)) & 63) as usize;
        out.push(char::from(SORTED_BASE64[digit]));
    }
}

/// An identifier whose leading characters are its creation time: `<prefix>_` then 22 characters, as long as
/// [`new_id`]'s and from the same characters: 8 for the milliseconds since 1970 (48 bits) and 14 for 84 random
/// bits, in base64url's characters taken in ASCII order.
///
/// For the rows a new visitor session inserts by the thousand (visitors, their session records, conversations).
/// Ids made close in time are next to each other in every index keyed by them, so a commit of many new sessions
/// dirties a few pages at the end of each such index instead of one random leaf per row: about half the WAL pages
/// per session (issue 13, `python3 benches/sqlite_session_pages.py`). What it gives away is when the row was made,
/// to the millisecond, which the row's own `created_at` already tells whoever may see the id; 84 random bits still
/// make it unguessable. Never use it for a secret: tokens come from [`new_token`].
pub fn new_time_ordered_id(prefix: &str) -> String {
    // A clock before 1970 (a broken host) gives time 0: the id is still unique by its random part.
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        & ((1u128 << 48) - 1);
    let mut random = [0u8; 11];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let random = random
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut id = String::with_capacity(prefix.len() + 23);
    id.push_str(prefix);
    id.push('_');
    push_sorted_base64(&mut id, millis, 8);
    // The low 84 of the 88 random bits.
    push_sorted_base64(&mut id, random, 14);
    id
}

/// A random human-typable password for demo accounts.
pub fn new_password() -> String {
    let mut raw = [0u8; 15];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    B64URL.encode(raw)
}

/// Identity verification: the tenant's site signs `user_id` and an expiry (unix seconds) with the tenant's
/// identity secret: `hex(HMAC-SHA256(secret, user_id + ":" + expires))`. Constant-time comparison.
pub fn identity_hmac(secret: &[u8], user_id: &str, expires: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(user_id.as_bytes());
    mac.update(b":");
    mac.update(expires.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn verify_identity_hmac(secret: &[u8], user_id: &str, expires: i64, given_hex: &str) -> bool {
    let expected = identity_hmac(secret, user_id, expires);
    let given = given_hex.trim().to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// A webhook's signature, the Standard Webhooks convention: `v1,` + base64(HMAC-SHA256(secret, id + "." +
/// timestamp + "." + body)), so a receiver that checks the timestamp can reject replays.
pub fn webhook_signature(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (standard-webhooks.com, "Verifying webhooks").
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            super::webhook_signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_time_and_differ_in_their_random_part() {
        let first = new_time_ordered_id("c");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_time_ordered_id("c");
        // As long as a random id, from the same characters.
        assert_eq!(first.len(), new_id("c").len(), "{first}");
        assert!(first.starts_with("c_") && first[2..].bytes().all(|b| SORTED_BASE64.contains(&b)));
        assert!(first < second, "{first} then {second}");
        // The same millisecond: the random part still makes every id unique.
        let many: std::collections::HashSet<String> =
            (0..1000).map(|_| new_time_ordered_id("v")).collect();
        assert_eq!(many.len(), 1000);
        // The time part reads back as now.
        let millis = first[2..10].bytes().fold(0u128, |acc, b| {
            (acc << 6) | SORTED_BASE64.iter().position(|c| *c == b).unwrap() as u128
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(now >= millis && now - millis < 60_000, "{millis} vs {now}");
    }

    fn place(seq: i64) -> MessagePlace<'static> {
        MessagePlace {
            tenant_id: "t_a",
            conversation_id: "c_1",
            seq,
        }
    }

    #[test]
    fn message_round_trip_and_binding() {
        let dk = DataKey::new(7, SecretKey::generate());
        let sealed = dk.seal_message(place(3), "hello");
        assert_eq!(sealed_key_id(&sealed).unwrap(), 7);
        assert_eq!(dk.open_message(place(3), &sealed).unwrap(), "hello");
        // Moved to another seq, conversation or tenant: refused.
        assert!(dk.open_message(place(4), &sealed).is_err());
        let other_conv = MessagePlace {
            conversation_id: "c_2",
            ..place(3)
        };
        assert!(dk.open_message(other_conv, &sealed).is_err());
        let other_tenant = MessagePlace {
            tenant_id: "t_b",
            ..place(3)
        };
        assert!(dk.open_message(other_tenant, &sealed).is_err());
        // Another key: refused.
        let dk2 = DataKey::new(7, SecretKey::generate());
        assert!(dk2.open_message(place(3), &sealed).is_err());
        // Plaintext is not visible in the blob.
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn files_are_bound_to_tenant_conversation_and_id_and_never_open_as_messages() {
        let dk = DataKey::new(2, SecretKey::generate());
        let sealed = dk.seal_file("t_a", "c_1", "f_1", b"\x89PNG picture");
        assert_eq!(
            dk.open_file("t_a", "c_1", "f_1", &sealed).unwrap(),
            b"\x89PNG picture"
        );
        assert!(dk.open_file("t_b", "c_1", "f_1", &sealed).is_err());
        assert!(dk.open_file("t_a", "c_2", "f_1", &sealed).is_err());
        assert!(dk.open_file("t_a", "c_1", "f_2", &sealed).is_err());
        assert!(dk.open_message(place(0), &sealed).is_err());
        let msg = dk.seal_message(place(1), "hello");
        assert!(dk.open_file("t_a", "c_1", "1", &msg).is_err());
        assert!(!sealed.windows(7).any(|w| w == b"picture"));
    }

    #[test]
    fn vault_cards_are_bound_to_tenant_token_and_key() {
        let vk = VaultKey::new(3, SecretKey::generate());
        let sealed = vk.seal_card("t_a", "tok_1", b"4111111111111111");
        assert_eq!(sealed_key_id(&sealed).unwrap(), 3);
        assert_eq!(
            &vk.open_card("t_a", "tok_1", &sealed).unwrap()[..],
            b"4111111111111111"
        );
        assert!(vk.open_card("t_b", "tok_1", &sealed).is_err());
        assert!(vk.open_card("t_a", "tok_2", &sealed).is_err());
        assert!(VaultKey::new(3, SecretKey::generate())
            .open_card("t_a", "tok_1", &sealed)
            .is_err());
        assert!(VaultKey::new(4, vk.key.clone())
            .open_card("t_a", "tok_1", &sealed)
            .is_err());
        assert!(!sealed.windows(4).any(|w| w == b"4111"));
        // A message key cannot open a card even with the same bytes: the labels differ.
        let dk = DataKey::new(3, vk.key.clone());
        let place = MessagePlace {
            tenant_id: "t_a",
            conversation_id: "tok_1",
            seq: 0,
        };
        assert!(dk.open_message(place, &sealed).is_err());
    }

    #[test]
    fn wrap_and_key_check() {
        let mk = MasterKey::new(SecretKey::generate());
        let k = SecretKey::generate();
        let w = mk.wrap("tenant t_a key 1", &k);
        assert_eq!(
            mk.unwrap_key("tenant t_a key 1", &w).unwrap().0,
            k.0,
            "round trip"
        );
        assert!(mk.unwrap_key("tenant t_b key 1", &w).is_err());
        let check = mk.key_check();
        mk.verify_key_check(&check).unwrap();
        let other = MasterKey::new(SecretKey::generate());
        assert!(matches!(
            other.verify_key_check(&check),
            Err(CryptoError::WrongMasterKey)
        ));
    }

    #[test]
    fn master_key_parsing_and_debug_masking() {
        let k = SecretKey::generate();
        let hex_form = k.dangerous_export_hex();
        assert_eq!(SecretKey::parse(&hex_form).unwrap().0, k.0);
        assert_eq!(SecretKey::parse(&B64.encode(k.0)).unwrap().0, k.0);
        assert!(SecretKey::parse("short").is_err());
        let dbg = format!("{:?} {:?}", k, MasterKey::new(k.clone()));
        assert!(!dbg.contains(&hex_form[..8]));
        assert!(dbg.contains("***"));
    }

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", dummy_password_hash()));
        let (t, hash) = new_token("ck");
        assert!(t.starts_with("ck_"));
        assert_eq!(hash_token(&t), hash);
    }

    #[test]
    fn identity_hmac_checks() {
        let secret = b"s3cret";
        let mac = identity_hmac(secret, "user-1", 1_900_000_000);
        assert!(verify_identity_hmac(secret, "user-1", 1_900_000_000, &mac));
        assert!(!verify_identity_hmac(secret, "user-2", 1_900_000_000, &mac));
        assert!(!verify_identity_hmac(secret, "user-1", 1_900_000_001, &mac));
        assert!(!verify_identity_hmac(
            b"other",
            "user-1",
            1_900_000_000,
            &mac
        ));
    }
}
