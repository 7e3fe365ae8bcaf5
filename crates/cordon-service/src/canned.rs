//! Canned replies (issue 20): a tenant's stock answers, typed in the console's composer as `/shortcut`. Admins
//! manage them; everyone who chats reads them. The text is checked, card-masked (like any message: it is sent
//! as one) and sealed with the tenant's data key; every read and change is audited.

use cordon_crypto::MessagePlace;
use cordon_store::StoredCannedReply;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::Service;

/// Longest canned reply, in characters (a message may be 4,000; a stock answer is shorter).
pub const MAX_TEXT_CHARS: usize = 2000;

/// A canned reply as the console and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CannedReply {
    pub id: String,
    /// Lowercase letters, digits, `-` and `_`, 1–32, starting with a letter or digit; typed as `/shortcut`.
    pub shortcut: String,
    /// The reply, card numbers masked.
    pub text: String,
    /// Who added it, as the audit log names actors.
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn place<'a>(tenant_id: &'a str, label: &'a str) -> MessagePlace<'a> {
    // The label cannot be a conversation's (`c_…`), so a reply's ciphertext never opens as a message.
    MessagePlace {
        tenant_id,
        conversation_id: label,
        seq: 0,
    }
}

fn label(id: &str) -> String {
    format!("canned-reply:{id}")
}

fn check_shortcut(s: &str) -> Result<String> {
    let s = s.trim().trim_start_matches('/').to_ascii_lowercase();
    let ok = (1..=32).contains(&s.len())
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(Refusal::invalid(
            "shortcut must be 1-32 lowercase letters, digits, - or _",
        ));
    }
    Ok(s)
}

fn check_text(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > MAX_TEXT_CHARS {
        return Err(Refusal::invalid("text must be 1-2000 characters"));
    }
    // Masked now, so a card number never reaches storage, the console or a visitor through a stock answer.
    Ok(cordon_card::redact(s).text.into_owned())
}

async fn seal(svc: &Service, tenant_id: &str, id: &str, text: &str) -> Result<Vec<u8>> {
    let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
    Ok(key.seal_message(place(tenant_id, &label(id)), text))
}

async fn open(svc: &Service, tenant_id: &str, r: StoredCannedReply) -> Result<CannedReply> {
    let key_id = cordon_crypto::sealed_key_id(&r.sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    let text = key
        .open_message(place(tenant_id, &label(&r.id)), &r.sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    Ok(CannedReply {
        id: r.id,
        shortcut: r.shortcut,
        text,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn valid_id(id: &str) -> Result<()> {
    if !crate::protocol::valid_client_id(id) {
        return Err(Refusal::new(code::NOT_FOUND, "no such canned reply"));
    }
    Ok(())
}

fn not_found(e: cordon_store::StoreError) -> Refusal {
    match e {
        cordon_store::StoreError::NotFound => Refusal::new(code::NOT_FOUND, "no such canned reply"),
        other => other.into(),
    }
}

/// The tenant's canned replies, by shortcut: for those who chat (and admins, who manage them).
pub async fn list(svc: &Service, principal: &Principal) -> Result<Vec<CannedReply>> {
    if !principal.has(Scope::Chat) {
        principal.require(Scope::Admin)?;
    }
    let tenant_id = principal.tenant_id();
    audit::record_read(svc, principal, Action::CannedRepliesList, "canned_replies").await?;
    let mut out = Vec::new();
    for r in svc.store.canned_replies(tenant_id).await? {
        out.push(open(svc, tenant_id, r).await?);
    }
    Ok(out)
}

/// Add a canned reply (admin).
pub async fn create(
    svc: &Service,
    principal: &Principal,
    shortcut: &str,
    text: &str,
) -> Result<CannedReply> {
    principal.require(Scope::Admin)?;
    let tenant_id = principal.tenant_id();
    let shortcut = check_shortcut(shortcut)?;
    let text = check_text(text)?;
    let id = cordon_crypto::new_id("cr");
    let now = cordon_store::now_ms();
    let row = StoredCannedReply {
        id: id.clone(),
        shortcut,
        sealed: seal(svc, tenant_id, &id, &text).await?,
        created_by: principal.actor(),
        created_at: now,
        updated_at: now,
    };
    let entry = audit::by(
        principal,
        Action::CannedReplyCreate,
        &format!("canned_reply:{id}"),
    );
    svc.store
        .create_canned_reply(tenant_id, &row, &[entry])
        .await?;
    Ok(CannedReply {
        id,
        shortcut: row.shortcut,
        text,
        created_by: row.created_by,
        created_at: now,
        updated_at: now,
    })
}

/// Replace a canned reply's shortcut and text (admin).
pub async fn update(
    svc: &Service,
    principal: &Principal,
    id: &str,
    shortcut: &str,
    text: &str,
) -> Result<()> {
    principal.require(Scope::Admin)?;
    valid_id(id)?;
    let tenant_id = principal.tenant_id();
    let shortcut = check_shortcut(shortcut)?;
    let text = check_text(text)?;
    let sealed = seal(svc, tenant_id, id, &text).await?;
    let entry = audit::by(
        principal,
        Action::CannedReplyUpdate,
        &format!("canned_reply:{id}"),
    );
    svc.store
        .update_canned_reply(tenant_id, id, &shortcut, &sealed, &[entry])
        .await
        .map_err(not_found)
}

/// Delete a canned reply (admin).
pub async fn delete(svc: &Service, principal: &Principal, id: &str) -> Result<()> {
    principal.require(Scope::Admin)?;
    valid_id(id)?;
    let tenant_id = principal.tenant_id();
    let entry = audit::by(
        principal,
        Action::CannedReplyDelete,
        &format!("canned_reply:{id}"),
    );
    svc.store
        .delete_canned_reply(tenant_id, id, &[entry])
        .await
        .map_err(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_and_texts_are_checked() {
        assert_eq!(check_shortcut("/Refund").unwrap(), "refund");
        assert_eq!(check_shortcut("bag-23kg").unwrap(), "bag-23kg");
        for bad in ["", "-x", "two words", "é", &"x".repeat(33)] {
            assert_eq!(
                check_shortcut(bad).unwrap_err().code,
                code::BAD_REQUEST,
                "{bad}"
            );
        }
        let t = check_text("Pay with 4111 1111 1111 1111 please").unwrap();
        assert!(!t.contains("4111 1111") && t.contains("1111"), "{t}");
        assert!(check_text(" ").is_err());
        assert!(check_text(&"x".repeat(2001)).is_err());
    }
}
