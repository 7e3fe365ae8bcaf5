//! End of chat (issue 20, item 9): the visitor rates a chat once it has ended (1-5, with an optional comment),
//! and the tenant's staff see that rating on the conversation. The comment is the visitor's free text: card
//! numbers are masked with the detector before it is sealed with the tenant's data key, like a message body.
//! The reports computed from ratings and conversations are in `reports.rs`.

use cordon_crypto::MessagePlace;
use cordon_store::{ConversationState, StoredRating};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::conversations::{visible, Viewer};
use crate::error::{code, Refusal, Result};
use crate::Service;

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// A rating as the staff (and the visitor who gave it) see it: the comment card-masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RatingView {
    pub conversation_id: String,
    /// 1 (poor) to 5 (great).
    pub score: i64,
    /// The visitor's comment, card numbers masked; absent when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: i64,
}

/// A conversation's rating, or `null` while the visitor has given none.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationRating {
    pub conversation_id: String,
    pub rating: Option<RatingView>,
}

/// Where a comment is sealed: a label no message has (`rating:…`, where a message has its `c_…` id) binds tenant
/// and conversation, and seq 0 (messages start at 1), so a comment never opens as a message or a note, nor as the
/// comment of another conversation.
fn place<'a>(tenant_id: &'a str, label: &'a str) -> MessagePlace<'a> {
    MessagePlace {
        tenant_id,
        conversation_id: label,
        seq: 0,
    }
}

fn label(conversation_id: &str) -> String {
    format!("rating:{conversation_id}")
}

/// The score and the comment as they will be kept: `bad_request` outside 1-5 or past the comment's length; an
/// empty comment is none; a card number in it is masked.
pub fn check(score: i64, comment: Option<&str>) -> Result<(i64, Option<String>)> {
    if !(1..=5).contains(&score) {
        return Err(Refusal::invalid("a rating is a whole number from 1 to 5"));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(Refusal::invalid("a comment is at most 1000 characters"));
    }
    Ok((
        score,
        comment.map(|c| cordon_card::redact(c).text.into_owned()),
    ))
}

/// The visitor rates one of their own conversations, once, after it has ended. Refused: `bad_request` (score or
/// comment), `not_found` (not this visitor's conversation, or another tenant's), `conversation_open` (it has not
/// ended), `conflict` (rated already).
pub async fn submit(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
    conversation_id: &str,
    score: i64,
    comment: Option<&str>,
) -> Result<RatingView> {
    let (score, comment) = check(score, comment)?;
    let viewer = Viewer::Visitor {
        tenant_id,
        visitor_id,
    };
    let conv = visible(svc, viewer, conversation_id).await?;
    if conv.state != ConversationState::Closed {
        return Err(Refusal::new(
            code::CONVERSATION_OPEN,
            "a chat is rated once it has ended",
        ));
    }
    let sealed_comment = match &comment {
        Some(c) => {
            let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
            let l = label(&conv.id);
            Some(key.seal_message(place(tenant_id, &l), c))
        }
        None => None,
    };
    let rating = StoredRating {
        conversation_id: conv.id.clone(),
        visitor_id: visitor_id.to_string(),
        score,
        sealed_comment,
        created_at: cordon_store::now_ms(),
    };
    let entry = audit::entry(
        tenant_id,
        &format!("visitor:{visitor_id}"),
        Action::RatingCreate,
        &format!("conversation:{}", conv.id),
    );
    svc.store.add_rating(tenant_id, &rating, &[entry]).await?;
    Ok(RatingView {
        conversation_id: conv.id,
        score,
        comment,
        created_at: rating.created_at,
    })
}

async fn open(svc: &Service, tenant_id: &str, r: StoredRating) -> Result<RatingView> {
    let comment = match &r.sealed_comment {
        Some(sealed) => {
            let key_id = cordon_crypto::sealed_key_id(sealed)
                .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
            let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
            let l = label(&r.conversation_id);
            Some(
                key.open_message(place(tenant_id, &l), sealed)
                    .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?,
            )
        }
        None => None,
    };
    Ok(RatingView {
        conversation_id: r.conversation_id,
        score: r.score,
        comment,
        created_at: r.created_at,
    })
}

/// A conversation's rating for the tenant's staff (`conversations:read`), audited as read.
pub async fn read(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
) -> Result<ConversationRating> {
    principal.require(Scope::ConversationsRead)?;
    let tenant_id = principal.tenant_id();
    // Another tenant's conversation is `not_found`, whether or not it was rated.
    let conv = crate::notes::conversation(svc, principal, conversation_id).await?;
    audit::record_read(
        svc,
        principal,
        Action::RatingRead,
        &format!("conversation:{}", conv.id),
    )
    .await?;
    let rating = match svc.store.conversation_rating(tenant_id, &conv.id).await? {
        Some(r) => Some(open(svc, tenant_id, r).await?),
        None => None,
    };
    Ok(ConversationRating {
        conversation_id: conv.id,
        rating,
    })
}

/// A conversation's rating comment opened, for the visitor's data export (lifecycle). The caller holds the
/// admin scope and audits the export.
pub async fn opened_for_export(
    svc: &Service,
    tenant_id: &str,
    conversation_id: &str,
) -> Result<Option<String>> {
    Ok(
        match svc
            .store
            .conversation_rating(tenant_id, conversation_id)
            .await?
        {
            Some(r) => open(svc, tenant_id, r).await?.comment,
            None => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_comments_are_checked_and_cards_masked() {
        for bad in [0, 6, -1, i64::MAX] {
            assert_eq!(check(bad, None).unwrap_err().code, code::BAD_REQUEST);
        }
        assert_eq!(check(5, Some("  ")).unwrap(), (5, None));
        let (_, c) = check(1, Some("charged twice on 4111 1111 1111 1111")).unwrap();
        let c = c.unwrap();
        assert!(
            !c.contains("4111 1111 1111 1111") && c.contains("1111"),
            "{c}"
        );
        assert!(check(3, Some(&"x".repeat(1001))).is_err());
        assert!(check(3, Some(&"é".repeat(1000))).is_ok());
    }
}
