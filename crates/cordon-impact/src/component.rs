//! What was compromised, and when: the two inputs of every impact query.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use crate::time::format_millis;
use crate::ImpactError;

/// A compromised component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// A widget file, by its SHA-384 (kept as 96 lowercase hex digits, the form the exposure record stores).
    AssetHash { sha384_hex: String },
    /// An agent account, named as an operator types it (`TENANT/USERNAME`).
    Agent {
        tenant_slug: String,
        username: String,
    },
    /// An API key, by its id.
    ApiKey { id: String },
    /// A node (the `node` each visitor session records).
    Node { id: String },
    /// Everything: every session in the window, on every tenant.
    Platform,
}

impl Component {
    /// A widget file's hash, as 96 hex digits (either case) or as an SRI value `sha384-<base64>`.
    pub fn asset_hash(input: &str) -> Result<Self, ImpactError> {
        Ok(Component::AssetHash {
            sha384_hex: sha384_hex_from_input(input)?,
        })
    }

    /// `TENANT/USERNAME`, each part non-empty and free of spaces and control characters.
    pub fn agent(input: &str) -> Result<Self, ImpactError> {
        let (tenant, user) = input.split_once('/').ok_or(ImpactError::InvalidAgent)?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 200
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        };
        if !ok(tenant) || !ok(user) {
            return Err(ImpactError::InvalidAgent);
        }
        Ok(Component::Agent {
            tenant_slug: tenant.to_string(),
            username: user.to_string(),
        })
    }

    /// An API key id (`--api-key ID`) or a node id (`--node ID`): a plain identifier.
    pub fn api_key(id: &str) -> Result<Self, ImpactError> {
        Ok(Component::ApiKey {
            id: plain_identifier(id)?,
        })
    }

    pub fn node(id: &str) -> Result<Self, ImpactError> {
        Ok(Component::Node {
            id: plain_identifier(id)?,
        })
    }

    /// The machine name of the component's kind, as it appears in the JSON (`component.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Component::AssetHash { .. } => "asset_hash",
            Component::Agent { .. } => "agent",
            Component::ApiKey { .. } => "api_key",
            Component::Node { .. } => "node",
            Component::Platform => "platform",
        }
    }

    /// How the component reads in the report (`sha384-…`, `skyway/sam`, the key or node id, `platform`).
    pub fn value(&self) -> String {
        match self {
            Component::AssetHash { sha384_hex } => sri_from_hex(sha384_hex),
            Component::Agent {
                tenant_slug,
                username,
            } => format!("{tenant_slug}/{username}"),
            Component::ApiKey { id } | Component::Node { id } => id.clone(),
            Component::Platform => "platform".to_string(),
        }
    }
}

fn plain_identifier(id: &str) -> Result<String, ImpactError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(ImpactError::InvalidIdentifier)
    }
}

/// A SHA-384 typed as hex (either case) or as `sha384-<standard base64>`, as 96 lowercase hex digits.
pub fn sha384_hex_from_input(input: &str) -> Result<String, ImpactError> {
    let s = input.trim();
    if let Some(b64) = s.strip_prefix("sha384-") {
        let bytes = B64.decode(b64).map_err(|_| ImpactError::InvalidAssetHash)?;
        if bytes.len() != 48 {
            return Err(ImpactError::InvalidAssetHash);
        }
        return Ok(hex::encode(bytes));
    }
    if s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(s.to_ascii_lowercase());
    }
    Err(ImpactError::InvalidAssetHash)
}

/// The SRI form of a stored hash. A stored value that is not hex (which the store never writes) is shown as
/// it is rather than dropped, so a report never hides what the record says.
pub fn sri_from_hex(hex_digits: &str) -> String {
    match hex::decode(hex_digits) {
        Ok(bytes) if bytes.len() == 48 => format!("sha384-{}", B64.encode(bytes)),
        _ => hex_digits.to_string(),
    }
}

/// The time window of the compromise, `[from, to)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from_ms: i64,
    to_ms: i64,
}

impl Window {
    pub fn new(from_ms: i64, to_ms: i64) -> Result<Self, ImpactError> {
        if from_ms >= to_ms {
            return Err(ImpactError::EmptyWindow);
        }
        Ok(Window { from_ms, to_ms })
    }

    pub fn from_ms(&self) -> i64 {
        self.from_ms
    }

    pub fn to_ms(&self) -> i64 {
        self.to_ms
    }

    /// Does a span `[start, end]` (an open session has no end) overlap the window? The same rule as the
    /// exposure record's query: started before the window closed, and not ended before it opened.
    pub fn overlaps(&self, start: i64, end: Option<i64>) -> bool {
        start < self.to_ms && end.is_none_or(|e| e >= self.from_ms)
    }

    pub fn contains(&self, at: i64) -> bool {
        (self.from_ms..self.to_ms).contains(&at)
    }
}

/// The window as the JSON shows it: `[from, to)`, RFC 3339 UTC timestamps with milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowView {
    pub from: String,
    pub to: String,
}

impl From<Window> for WindowView {
    fn from(w: Window) -> Self {
        WindowView {
            from: format_millis(w.from_ms),
            to: format_millis(w.to_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b";

    #[test]
    fn asset_hash_in_both_forms() {
        let sri = sri_from_hex(HEX);
        assert!(sri.starts_with("sha384-"));
        assert_eq!(
            Component::asset_hash(&sri).unwrap(),
            Component::asset_hash(HEX).unwrap()
        );
        assert_eq!(
            Component::asset_hash(&HEX.to_ascii_uppercase())
                .unwrap()
                .value(),
            sri
        );
        for bad in [
            "",
            "sha384-",
            "sha256-abc",
            &HEX[1..],
            "sha384-AAAA",
            &format!("{HEX}00"),
        ] {
            assert!(Component::asset_hash(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn agent_and_identifiers() {
        assert_eq!(
            Component::agent("skyway/sam").unwrap().value(),
            "skyway/sam"
        );
        for bad in ["skyway", "/sam", "skyway/", "sky way/sam", "a/b/c"] {
            assert!(Component::agent(bad).is_err(), "{bad:?}");
        }
        assert!(Component::api_key("k_ABC-1").is_ok());
        assert!(Component::node("node 1").is_err());
    }

    #[test]
    fn window_rules() {
        assert!(Window::new(5, 5).is_err());
        let w = Window::new(10, 20).unwrap();
        assert!(w.overlaps(0, None));
        assert!(w.overlaps(0, Some(10)));
        assert!(!w.overlaps(0, Some(9)));
        assert!(!w.overlaps(20, None));
        assert!(w.contains(10) && !w.contains(20));
    }

    proptest! {
        #[test]
        fn sri_and_hex_agree(bytes in proptest::collection::vec(any::<u8>(), 48)) {
            let hex_digits = hex::encode(&bytes);
            let sri = sri_from_hex(&hex_digits);
            prop_assert_eq!(sha384_hex_from_input(&sri).unwrap(), hex_digits.clone());
            prop_assert_eq!(sha384_hex_from_input(&hex_digits.to_ascii_uppercase()).unwrap(), hex_digits);
        }
    }
}
