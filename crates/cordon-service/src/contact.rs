//! Offline and pre-chat forms (issue 20, item 2). A tenant's admin turns on a pre-chat form (name, email and an
//! optional question before the first message) and an offline form (an email to answer to when no agent is
//! online); the widget learns which from the visitor's `welcome`. What a visitor gives (`contact.set`) is their
//! free text: card numbers are masked in the name and refused in the email, and both are sealed with the
//! tenant's data key bound to tenant and visitor. The agents see it beside the chat (visitor_profile.rs).

use cordon_crypto::MessagePlace;
use cordon_store::ChatForms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::Service;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;

/// What a visitor gave in a form: an email to answer to, and a name if they gave one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

/// The forms a tenant's widget shows, and whether a chat's transcript is emailed to the visitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatFormsView {
    /// Before the first message: name, email and an optional question.
    pub prechat: bool,
    /// When no agent is online: an email to answer to.
    pub offline: bool,
    /// When a chat ends: its transcript (the visitor-visible messages, card numbers masked) emailed to the
    /// address the visitor gave, if the operator configured a mail server. Off when left out.
    #[serde(default)]
    pub transcript: bool,
}

impl From<ChatForms> for ChatFormsView {
    fn from(f: ChatForms) -> Self {
        ChatFormsView {
            prechat: f.prechat,
            offline: f.offline,
            transcript: f.transcript,
        }
    }
}

/// Where a contact is sealed: a label no conversation has, bound to tenant and visitor, seq 0.
fn place<'a>(tenant_id: &'a str, label: &'a str) -> MessagePlace<'a> {
    MessagePlace {
        tenant_id,
        conversation_id: label,
        seq: 0,
    }
}

fn label(visitor_id: &str) -> String {
    format!("visitor-contact:{visitor_id}")
}

/// An email address as kept: trimmed, one `@` between a local part (1-64) and a domain with a dot, at most 254
/// characters, no spaces, controls, quotes or angle brackets, and no card number.
pub fn check_email(e: &str) -> Result<String> {
    let e = e.trim();
    let bad = || Refusal::invalid("an email address is name@example.com, at most 254 characters");
    if e.chars().count() > MAX_EMAIL_CHARS
        || e.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';')
        })
    {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    let ok = (1..=64).contains(&local.chars().count())
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && cordon_card::find(e).is_empty();
    if !ok {
        return Err(bad());
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A name as kept: trimmed, at most 100 characters, no controls, card numbers masked; `None` when blank.
pub fn check_name(n: Option<&str>) -> Result<Option<String>> {
    let Some(n) = n.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        return Err(Refusal::invalid("a name is at most 100 characters"));
    }
    Ok(Some(cordon_card::redact(n).text.into_owned()))
}

/// A visitor gives their contact (`contact.set`), replacing any earlier one; audited.
pub async fn set_contact(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
    name: Option<&str>,
    email: &str,
) -> Result<Contact> {
    let contact = Contact {
        name: check_name(name)?,
        email: check_email(email)?,
    };
    let json = serde_json::to_string(&contact)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
    let sealed = key.seal_message(place(tenant_id, &label(visitor_id)), &json);
    let entry = audit::entry(
        tenant_id,
        &format!("visitor:{visitor_id}"),
        Action::VisitorContactSet,
        &format!("visitor:{visitor_id}"),
    );
    svc.store
        .put_visitor_contact(tenant_id, visitor_id, &sealed, &[entry])
        .await?;
    Ok(contact)
}

/// The contact a visitor gave, opened, if any. Callers check who may see it (the side panel needs
/// `conversations:read`; the export, admin).
pub async fn contact(svc: &Service, tenant_id: &str, visitor_id: &str) -> Result<Option<Contact>> {
    let Some((sealed, _)) = svc.store.visitor_contact(tenant_id, visitor_id).await? else {
        return Ok(None);
    };
    let key_id = cordon_crypto::sealed_key_id(&sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    let json = key
        .open_message(place(tenant_id, &label(visitor_id)), &sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    Ok(serde_json::from_str(&json).ok())
}

/// The tenant's chat forms (admin), audited as read.
pub async fn forms(svc: &Service, principal: &Principal) -> Result<ChatFormsView> {
    principal.require(Scope::Admin)?;
    audit::record_read(svc, principal, Action::ChatFormsRead, "chat_forms").await?;
    Ok(svc.store.chat_forms(principal.tenant_id()).await?.into())
}

/// Turn the tenant's chat forms on or off (admin), audited in the same transaction.
pub async fn set_forms(svc: &Service, principal: &Principal, forms: ChatFormsView) -> Result<()> {
    principal.require(Scope::Admin)?;
    let target = format!(
        "chat_forms:prechat={},offline={},transcript={}",
        forms.prechat, forms.offline, forms.transcript
    );
    let entry = audit::by(principal, Action::ChatFormsUpdate, &target);
    let f = ChatForms {
        prechat: forms.prechat,
        offline: forms.offline,
        transcript: forms.transcript,
    };
    Ok(svc
        .store
        .set_chat_forms(principal.tenant_id(), f, &principal.actor(), &[entry])
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_names_are_checked() {
        assert_eq!(check_email(" Ana@Example.COM ").unwrap(), "Ana@example.com");
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "ana @example.com",
            "<ana@example.com>",
            "4111111111111111@example.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert_eq!(check_name(Some("  ")).unwrap(), None);
        let n = check_name(Some("Ana 4111 1111 1111 1111"))
            .unwrap()
            .unwrap();
        assert!(!n.contains("4111 1111 1111 1111"), "{n}");
        assert!(check_name(Some(&"a".repeat(101))).is_err());
    }
}
