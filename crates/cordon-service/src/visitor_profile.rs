//! Who the visitor is (issue 20): what the agents' side panel shows beside a conversation. The frame reports the
//! page (address and title, from the loader), the browser's user agent and time zone in `hello`; the tenant may
//! sign the user's name and email with the identity proof. The free text is bounded, card-masked and sealed
//! with the tenant's data key before it is stored; the browser, system and time zone are kept as short labels.

use cordon_crypto::MessagePlace;
use cordon_store::{ConversationFilter, StoredVisitorProfile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::conversations::{conversation_view, Names};
use crate::error::{code, Refusal, Result};
use crate::protocol::{ConversationView, VisitorContext};
use crate::Service;

/// Longest page address and title kept (characters).
const MAX_URL: usize = 512;
const MAX_TITLE: usize = 200;
const MAX_NAME: usize = 120;
const MAX_EMAIL: usize = 254;
/// Past conversations the panel lists.
const PAST_LIMIT: i64 = 20;

/// The identity the tenant signed for this visit.
#[derive(Debug, Clone, Default)]
pub struct VerifiedPerson {
    pub user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The sealed part: what a visitor or the tenant's page wrote.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sealed {
    page_url: Option<String>,
    page_title: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

/// The panel's contents.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitorProfileView {
    pub visitor_id: String,
    /// The tenant's own user id, when the visitor came with a verified identity.
    pub user_id: Option<String>,
    /// The verified name and email, when the tenant signed them (card numbers masked).
    pub name: Option<String>,
    pub email: Option<String>,
    /// The page the visitor was on at its last visit: address without query or fragment, and title.
    pub page_url: Option<String>,
    pub page_title: Option<String>,
    /// Derived from the user agent, e.g. `Chrome 131` and `Android`; `unknown` when not recognised.
    pub browser: Option<String>,
    pub os: Option<String>,
    /// The visitor's IANA time zone (the console shows the local time from it).
    pub time_zone: Option<String>,
    /// When the visitor's browser last reported this (ms).
    pub updated_at: Option<i64>,
    /// The visitor's other conversations, newest first (at most 20).
    pub past_conversations: Vec<ConversationView>,
    /// What the visitor gave in a pre-chat or offline form (issue 20), unverified; absent when nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<crate::contact::Contact>,
}

fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Bounded, without control characters, card numbers masked; `None` when empty.
fn clean(s: Option<&str>, max: usize) -> Option<String> {
    let s = clip(s?.trim(), max);
    if s.is_empty() {
        return None;
    }
    Some(cordon_card::redact(&s).text.into_owned())
}

/// A page address the panel may show: http(s), without query or fragment (the loader sends none; a frame
/// that sends one anyway has it cut here).
fn clean_url(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return None;
    }
    let cut = s.find(['?', '#']).map_or(s, |i| &s[..i]);
    clean(Some(cut), MAX_URL)
}

/// An IANA zone name (`Area/City`, `UTC`, `Etc/GMT+3`); anything else is dropped.
fn clean_zone(s: Option<&str>) -> String {
    match s {
        Some(z)
            if !z.is_empty()
                && z.len() <= 64
                && z.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)) =>
        {
            z.to_string()
        }
        _ => String::new(),
    }
}

/// The browser and system a user agent names, as short labels from fixed lists (never the raw string).
pub fn browser_and_os(ua: &str) -> (String, String) {
    let version = |marker: &str| -> Option<String> {
        let rest = &ua[ua.find(marker)? + marker.len()..];
        let major: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        (!major.is_empty()).then_some(major)
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
    ]
    .iter()
    .find_map(|(marker, name)| {
        if *name == "Safari" && !ua.contains("Safari/") {
            return None;
        }
        version(marker).map(|v| format!("{name} {v}"))
    })
    .unwrap_or_else(|| "unknown".to_string());
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "unknown"
    };
    (browser, os.to_string())
}

/// Where a profile is sealed: its own key and associated data, bound to tenant and visitor. The label cannot be
/// a conversation's (those are `c_…`), so a profile's ciphertext never opens as a message or the reverse.
fn place<'a>(tenant_id: &'a str, label: &'a str) -> MessagePlace<'a> {
    MessagePlace {
        tenant_id,
        conversation_id: label,
        seq: 0,
    }
}

fn label(visitor_id: &str) -> String {
    format!("visitor-profile:{visitor_id}")
}

/// Keep what this visit reported. Best effort for the visitor: a failure is logged, the chat goes on.
pub async fn record(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
    context: Option<&VisitorContext>,
    person: Option<&VerifiedPerson>,
) {
    if context.is_none() && person.is_none() {
        return;
    }
    let ctx = context.cloned().unwrap_or_default();
    let sealed = Sealed {
        page_url: clean_url(ctx.page_url.as_deref()),
        page_title: clean(ctx.page_title.as_deref(), MAX_TITLE),
        name: person.and_then(|p| clean(p.name.as_deref(), MAX_NAME)),
        email: person.and_then(|p| clean(p.email.as_deref(), MAX_EMAIL)),
    };
    let (browser, os) = browser_and_os(&clip(ctx.user_agent.as_deref().unwrap_or(""), 512));
    let result = async {
        let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
        let json = serde_json::to_string(&sealed)
            .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
        let row = StoredVisitorProfile {
            visitor_id: visitor_id.to_string(),
            sealed: key.seal_message(place(tenant_id, &label(visitor_id)), &json),
            browser,
            os,
            time_zone: clean_zone(ctx.time_zone.as_deref()),
            updated_at: cordon_store::now_ms(),
        };
        svc.store.put_visitor_profile(tenant_id, &row).await?;
        Ok::<(), Refusal>(())
    }
    .await;
    if let Err(r) = result {
        tracing::warn!(code = r.code, "could not record the visitor profile");
    }
}

async fn open_sealed(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
    sealed: &[u8],
) -> Result<Sealed> {
    let key_id = cordon_crypto::sealed_key_id(sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    let json = key
        .open_message(place(tenant_id, &label(visitor_id)), sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    Ok(serde_json::from_str::<Sealed>(&json).unwrap_or_default())
}

/// A visitor's profile opened (page, title, name, email), for the visitor's data export (lifecycle); `None`
/// when none was recorded. The caller holds the admin scope and audits the export.
pub async fn opened_for_export(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
) -> Result<Option<serde_json::Value>> {
    let Some(p) = svc.store.visitor_profile(tenant_id, visitor_id).await? else {
        return Ok(None);
    };
    let sealed = open_sealed(svc, tenant_id, visitor_id, &p.sealed).await?;
    Ok(serde_json::to_value(sealed).ok())
}

/// The side panel of a conversation: its visitor's profile and other conversations (`conversations:read`,
/// audited as `visitor_profile.read`).
pub async fn for_conversation(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
) -> Result<VisitorProfileView> {
    principal.require(Scope::ConversationsRead)?;
    let tenant_id = principal.tenant_id();
    if !crate::protocol::valid_client_id(conversation_id) {
        return Err(Refusal::new(code::NOT_FOUND, "no such conversation"));
    }
    let conv = svc
        .store
        .conversation(tenant_id, conversation_id)
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::NotFound => {
                Refusal::new(code::NOT_FOUND, "no such conversation")
            }
            other => other.into(),
        })?;
    audit::record_read(
        svc,
        principal,
        Action::VisitorProfileRead,
        &format!("visitor:{}", conv.visitor_id),
    )
    .await?;
    let user_id = svc
        .store
        .visitor_user_id(tenant_id, &conv.visitor_id)
        .await?;
    let stored = svc
        .store
        .visitor_profile(tenant_id, &conv.visitor_id)
        .await?;
    let sealed = match &stored {
        Some(p) => open_sealed(svc, tenant_id, &conv.visitor_id, &p.sealed).await?,
        None => Sealed::default(),
    };
    let filter = ConversationFilter {
        visitor_id: Some(conv.visitor_id.clone()),
        limit: PAST_LIMIT + 1,
        ..Default::default()
    };
    let mut names = Names::default();
    let mut past = Vec::new();
    for c in svc.store.list_conversations(tenant_id, &filter).await? {
        if c.id != conv.id && past.len() < PAST_LIMIT as usize {
            past.push(conversation_view(svc, &mut names, &c).await);
        }
    }
    let known = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(VisitorProfileView {
        visitor_id: conv.visitor_id.clone(),
        user_id,
        name: sealed.name,
        email: sealed.email,
        page_url: sealed.page_url,
        page_title: sealed.page_title,
        browser: stored.as_ref().and_then(|p| known(&p.browser)),
        os: stored.as_ref().and_then(|p| known(&p.os)),
        time_zone: stored.as_ref().and_then(|p| known(&p.time_zone)),
        updated_at: stored.as_ref().map(|p| p.updated_at),
        past_conversations: past,
        contact: crate::contact::contact(svc, tenant_id, &conv.visitor_id).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_become_labels() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(
            browser_and_os(chrome),
            ("Chrome 131".into(), "Linux".into())
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_and_os(iphone), ("Safari 17".into(), "iOS".into()));
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(browser_and_os(edge), ("Edge 131".into(), "Windows".into()));
        assert_eq!(
            browser_and_os("4111 1111 1111 1111"),
            ("unknown".into(), "unknown".into())
        );
    }

    #[test]
    fn text_is_bounded_and_masked_and_urls_lose_their_query() {
        assert_eq!(
            clean_url(Some(
                "https://shop.example/checkout?card=4111111111111111#x"
            ))
            .as_deref(),
            Some("https://shop.example/checkout")
        );
        assert_eq!(clean_url(Some("javascript:alert(1)")), None);
        let t = clean(Some("Order for card 4111 1111 1111 1111"), MAX_TITLE).unwrap();
        assert!(!t.contains("4111 1111") && t.contains("1111"), "{t}");
        assert_eq!(clean(Some("  "), 10), None);
        assert_eq!(clip("a\u{0}b\nc", 10), "abc");
        assert_eq!(clean_zone(Some("Europe/Lisbon")), "Europe/Lisbon");
        assert_eq!(clean_zone(Some("<script>")), "");
    }
}
