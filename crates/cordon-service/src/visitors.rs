//! Visitors: a widget key names the tenant, an identity proof (when the tenant asks for one) names the user, and
//! a visitor token brings back an earlier visitor and its conversations. Each socket's session is recorded with
//! the embedding site and the widget files it ran.

use std::net::IpAddr;

use cordon_store::{Conversation, ConversationFilter, Tenant, Visitor, VisitorSessionStart};

use crate::error::{code, Refusal, Result};
use crate::protocol::{self, IdentityProof};
use crate::throttle::VisitorTokenLimit;
use crate::Service;

/// What a visitor's `hello` brings.
#[derive(Debug)]
pub struct Arrival<'a> {
    pub widget_key: Option<&'a str>,
    pub identity: Option<&'a IdentityProof>,
    pub visitor_token: Option<&'a str>,
    pub embed_origin: Option<&'a str>,
    /// The page and browser the frame reports, for the agents' side panel (issue 20).
    pub context: Option<&'a protocol::VisitorContext>,
    /// The TCP peer's address: unknown visitor tokens back off by it.
    pub peer: Option<IpAddr>,
    /// The hashes of the widget files this node carries: the session record keeps them when no release is live
    /// (with one, it keeps that release's files and id).
    pub asset_hashes: &'a [String],
}

/// A visitor admitted.
#[derive(Debug)]
pub struct Admitted {
    pub tenant: Tenant,
    pub visitor: Visitor,
    /// A new visitor's token, to give it once.
    pub new_token: Option<String>,
    /// The visitor's conversations (none for a new visitor).
    pub conversations: Vec<Conversation>,
    /// When the tenant enforces verification: the proof's expiry (unix seconds).
    pub identity_expires: Option<i64>,
    /// The session record, ended by [`end_session`].
    pub session_record: String,
}

async fn tenant_for(svc: &Service, widget_key: Option<&str>) -> Result<Tenant> {
    match widget_key {
        Some(k) if protocol::valid_client_id(k) => svc
            .store
            .tenant_by_widget_key(k)
            .await?
            .ok_or_else(|| Refusal::new(code::UNKNOWN_TENANT, "unknown widget key")),
        _ => Err(Refusal::new(
            code::UNKNOWN_TENANT,
            "hello needs a valid widget_key",
        )),
    }
}

/// The verified user id and the proof's expiry, when the tenant enforces verification; ignored (never trusted)
/// otherwise.
fn verified_user(
    svc: &Service,
    tenant: &Tenant,
    identity: Option<&IdentityProof>,
) -> Result<Option<(String, i64)>> {
    if !tenant.verify_identity {
        return Ok(None);
    }
    let Some(proof) = identity else {
        return Err(Refusal::new(
            code::IDENTITY_REQUIRED,
            "this site requires a verified identity",
        ));
    };
    let secret = svc
        .keys
        .identity_secret(&tenant.id, &tenant.identity_secret_wrapped)?;
    // No line breaks in any part: with a name or email the signed text separates them by "\n" (issue 20).
    let no_breaks = |s: &str| !s.contains(['\n', '\r']);
    let user_ok = !proof.user_id.is_empty()
        && proof.user_id.len() <= 128
        && no_breaks(&proof.user_id)
        && cordon_card::find(&proof.user_id).is_empty();
    let (name, email) = (
        proof.name.as_deref().unwrap_or(""),
        proof.email.as_deref().unwrap_or(""),
    );
    let person_ok = name.len() <= 512 && email.len() <= 512 && no_breaks(name) && no_breaks(email);
    // `user_id + ":" + expires`, or with a name or email `user_id \n email \n name : expires`: the same HMAC
    // over a longer first part, so the last ":" still ends the signed text's user part unambiguously.
    let signed_user = if proof.name.is_some() || proof.email.is_some() {
        format!("{}\n{email}\n{name}", proof.user_id)
    } else {
        proof.user_id.clone()
    };
    if !user_ok
        || !person_ok
        || !cordon_crypto::verify_identity_hmac(
            secret.dangerous_export_hex().as_bytes(),
            &signed_user,
            proof.expires,
            &proof.signature,
        )
    {
        return Err(Refusal::new(
            code::IDENTITY_INVALID,
            "the identity proof is not valid",
        ));
    }
    if cordon_store::now_ms() / 1000 > proof.expires {
        return Err(Refusal::new(
            code::IDENTITY_EXPIRED,
            "the identity proof has expired",
        ));
    }
    Ok(Some((proof.user_id.clone(), proof.expires)))
}

/// The tenant a widget key names, if any (the frame page; a widget key is public, so no audit entry).
pub async fn tenant_by_widget_key(svc: &Service, widget_key: &str) -> Result<Option<Tenant>> {
    Ok(svc.store.tenant_by_widget_key(widget_key).await?)
}

/// The visitor a token names, if any; unknown tokens back off by address.
async fn known_visitor(
    svc: &Service,
    tenant: &Tenant,
    arrival: &Arrival<'_>,
) -> Result<Option<Visitor>> {
    let Some(tok) = arrival.visitor_token.filter(|t| t.len() <= 128) else {
        return Ok(None);
    };
    let limit = VisitorTokenLimit::new(svc, arrival.peer);
    limit.check()?;
    match svc
        .store
        .visitor_by_token(&tenant.id, &cordon_crypto::hash_token(tok))
        .await?
    {
        None => {
            limit.unknown(&tenant.id).await?;
            Ok(None)
        }
        found => Ok(found),
    }
}

/// Admit a visitor: find the tenant, check the identity, find or make the visitor, record the session.
pub async fn admit(svc: &Service, arrival: Arrival<'_>) -> Result<Admitted> {
    let tenant = tenant_for(svc, arrival.widget_key).await?;
    let verified = verified_user(svc, &tenant, arrival.identity)?;
    let known = known_visitor(svc, &tenant, &arrival).await?;
    let mut new_token = None;
    let mut new_visitor = None;
    // A token only unlocks history if it matches the verified user (or no verification is in force).
    let visitor = match (known, &verified) {
        (Some(v), None) if v.user_id.is_none() => v,
        (Some(v), Some((uid, _))) if v.user_id.as_deref() == Some(uid.as_str()) => v,
        _ => {
            // Stored below, in the same write as the session record.
            let (token, hash) = cordon_crypto::new_token("cv");
            let visitor = Visitor {
                id: cordon_crypto::new_time_ordered_id("v"),
                tenant_id: tenant.id.clone(),
                user_id: verified.as_ref().map(|(u, _)| u.clone()),
                created_at: cordon_store::now_ms(),
            };
            new_token = Some(token);
            new_visitor = Some((visitor.clone(), hash.to_vec()));
            visitor
        }
    };
    // A visitor made just now has no conversations to list.
    let conversations = if new_visitor.is_some() {
        Vec::new()
    } else {
        let filter = ConversationFilter {
            visitor_id: Some(visitor.id.clone()),
            limit: 50,
            ..Default::default()
        };
        svc.store.list_conversations(&tenant.id, &filter).await?
    };
    // The files of the release this tenant's frame is served (its pin, or the latest approved release); with
    // no live release, the files this node carries (which it then does not serve).
    let (asset_hashes, release_id) = match crate::releases::for_tenant(svc, &tenant.id).await? {
        Some(r) => (r.manifest.hashes(), Some(r.id().to_string())),
        None => (arrival.asset_hashes.to_vec(), None),
    };
    let record_id = cordon_crypto::new_time_ordered_id("vs");
    let origin = arrival
        .embed_origin
        // A well-formed origin without a card number (`find` on the whole URL reads the host as a path).
        .filter(|o| crate::management::validate_origin(o).is_ok());
    let start = VisitorSessionStart {
        id: record_id.clone(),
        tenant_id: tenant.id.clone(),
        visitor_id: visitor.id.clone(),
        node: svc.settings.node_id.clone(),
        embed_origin: origin.map(str::to_string),
        asset_hashes,
        release_id,
    };
    svc.store.start_visitor_session(new_visitor, start).await?;
    // The side panel (issue 20): only what the tenant signed counts as the person's name and email.
    let person =
        verified
            .as_ref()
            .and(arrival.identity)
            .map(|p| crate::visitor_profile::VerifiedPerson {
                user_id: p.user_id.clone(),
                name: p.name.clone(),
                email: p.email.clone(),
            });
    crate::visitor_profile::record(
        svc,
        &tenant.id,
        &visitor.id,
        arrival.context,
        person.as_ref(),
    )
    .await;
    Ok(Admitted {
        tenant,
        visitor,
        new_token,
        conversations,
        identity_expires: verified.map(|(_, e)| e),
        session_record: record_id,
    })
}

/// The visitor's socket closed: end its session record with the agents it met and the cards masked.
pub async fn end_session(
    svc: &Service,
    tenant_id: &str,
    session_record: &str,
    agents_seen: &[String],
    cards: i64,
) {
    if let Err(e) = svc
        .store
        .end_visitor_session(tenant_id, session_record, agents_seen, cards)
        .await
    {
        tracing::warn!(error = %e, "could not close visitor session record");
    }
}

/// Has a verified identity that expired at `expires` (unix seconds) run out?
pub fn identity_expired(expires: i64) -> bool {
    cordon_store::now_ms() / 1000 > expires
}

/// The exposure record: a page of the tenant's visitor sessions (conversations:read or admin), recorded as a
/// read before it is returned.
pub async fn session_page(
    svc: &Service,
    principal: &crate::access::Principal,
    query: &cordon_store::ExposureQuery,
) -> Result<Vec<cordon_store::VisitorSessionRecord>> {
    use crate::access::Scope;
    use crate::audit::{self, Action};
    if !(principal.has(Scope::ConversationsRead) || principal.has(Scope::Admin)) {
        return Err(Refusal::forbidden());
    }
    audit::record_read(
        svc,
        principal,
        Action::VisitorSessionsList,
        "visitor_sessions",
    )
    .await?;
    Ok(svc
        .store
        .visitor_session_page(principal.tenant_id(), query)
        .await?)
}

/// The tenant whose embed snippet an admin reads (recorded as a read).
pub async fn widget_tenant(svc: &Service, principal: &crate::access::Principal) -> Result<Tenant> {
    use crate::access::Scope;
    use crate::audit::{self, Action};
    principal.require(Scope::Admin)?;
    audit::record_read(svc, principal, Action::WidgetRead, "widget").await?;
    Ok(svc.store.tenant(principal.tenant_id()).await?)
}
