//! Files and images in a conversation, both ways (issue 20). A file is checked against an allow-list by its
//! bytes (`cordon_media`: PNG, JPEG, GIF, WebP, PDF, plain text; the declared type must match), its metadata
//! stripped, a text file's card numbers masked, its name made safe and card-masked, and then sealed with the
//! tenant's data key under the conversation's key, like the conversation's messages. A message from the sender
//! (`[file f_…] name (type, size)`) puts it in the conversation, so both sides see it; the widget and the
//! console recognise that shape and fetch the file from their own origin.
//!
//! Who may send: the conversation's visitor (with a file ticket, below) while it is open, and the agent it is
//! assigned to. Who may fetch: the conversation's visitor, and the tenant's principals with
//! `conversations:read`. Anyone else is told there is no such file. Every upload and download is audited.
//!
//! A visitor has no cookie or key on the widget origin: the socket, once `hello` admitted it, hands out a
//! *file ticket* (`file.ticket`), a MAC under the tenant's data key over the widget key, the visitor id and an
//! expiry (at most an hour, and never past a verified identity's expiry). The HTTP routes take it in a header,
//! so no other page can send it, and a shredded tenant's tickets stop working with its keys.

use cordon_crypto::MessagePlace;
use cordon_media::{Kind, MediaError};
use cordon_store::{ConversationState, SenderKind, StoredFile, StoredFileMeta};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::messages::{self, Draft, Sender};
use crate::Service;

/// The default largest file, in bytes (`--max-file-bytes`).
pub const DEFAULT_MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// How long a visitor's file ticket lasts.
pub const TICKET_TTL_MS: i64 = 3_600_000;
/// The header the widget sends its ticket in.
pub const TICKET_HEADER: &str = "x-cordon-file-ticket";

/// A file as both sides see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    pub id: String,
    pub conversation_id: String,
    /// Made safe (no path, no quotes, an extension that says the type) and card-masked.
    pub name: String,
    /// `image/png`, `image/jpeg`, `image/gif`, `image/webp`, `application/pdf` or `text/plain`.
    pub content_type: String,
    /// Bytes as stored (metadata stripped).
    pub size: i64,
    /// A raster image: shown inline as an `<img>`; every other file is a download.
    pub image: bool,
    /// `visitor` or `agent`.
    pub uploader_kind: String,
    pub created_at: i64,
    /// The message that put the file in the conversation.
    pub seq: i64,
}

/// A visitor's file ticket (`file.ticket` on the visitor socket).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileTicket {
    /// Send it as `X-Cordon-File-Ticket` to `/w/files` routes on the widget origin.
    pub ticket: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// A file opened for download.
pub struct Download {
    pub name: String,
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes or the name.
        f.debug_struct("Download")
            .field("kind", &self.kind)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The visitor a valid ticket names.
#[derive(Debug, Clone)]
pub struct TicketHolder {
    pub tenant_id: String,
    pub visitor_id: String,
}

fn media_refusal(e: MediaError) -> Refusal {
    match e {
        MediaError::TypeNotAllowed => Refusal::new(
            code::FILE_TYPE_NOT_ALLOWED,
            "files may be PNG, JPEG, GIF or WebP images, PDF documents or plain text",
        ),
        MediaError::Mismatch => Refusal::new(
            code::FILE_TYPE_MISMATCH,
            "the file's content is not of its declared type",
        ),
        MediaError::Malformed => Refusal::new(code::FILE_MALFORMED, "the file is malformed"),
    }
}

fn no_such_file() -> Refusal {
    Refusal::new(code::NOT_FOUND, "no such file")
}

/// Where a file's name is sealed: a label no message has (like a note's), seq 0.
fn name_place<'a>(tenant_id: &'a str, label: &'a str) -> MessagePlace<'a> {
    MessagePlace {
        tenant_id,
        conversation_id: label,
        seq: 0,
    }
}

fn name_label(conversation_id: &str, file_id: &str) -> String {
    format!("filename:{conversation_id}:{file_id}")
}

/// `12 B`, `3.4 KB`, `2.0 MB`.
pub fn human_size(n: i64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
}

/// The message that puts a file in its conversation. The widget and the console recognise this shape; a person
/// who types it gains nothing (the id still has to be a file of that conversation to be fetched).
pub fn message_text(id: &str, name: &str, kind: Kind, size: i64) -> String {
    format!(
        "[file {id}] {name} ({}, {})",
        kind.essence(),
        human_size(size)
    )
}

/// A file name as stored: card numbers masked first (before any cut could leave part of one), then made safe.
pub fn clean_name(name: &str, kind: Kind) -> String {
    let masked = cordon_card::redact(name).text.into_owned();
    let safe = cordon_media::safe_name(&masked, kind);
    // A cut or a dropped character could join digits into a number the first pass did not see.
    cordon_card::redact(&safe).text.into_owned()
}

/// Check, strip and mask a file's bytes: what is stored.
pub fn prepare(max_bytes: usize, content_type: &str, bytes: &[u8]) -> Result<(Kind, Vec<u8>)> {
    if bytes.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    if bytes.is_empty() {
        return Err(Refusal::invalid("the file is empty"));
    }
    let kind = cordon_media::check(content_type, bytes).map_err(media_refusal)?;
    let stripped = cordon_media::strip(kind, bytes).map_err(media_refusal)?;
    if kind == Kind::Text {
        // Plain text is masked like a message: `check` made sure it is UTF-8.
        let text =
            std::str::from_utf8(&stripped).map_err(|_| media_refusal(MediaError::Mismatch))?;
        return Ok((
            kind,
            cordon_card::redact(text).text.into_owned().into_bytes(),
        ));
    }
    Ok((kind, stripped))
}

pub fn too_large(max_bytes: usize) -> Refusal {
    Refusal::new(
        code::FILE_TOO_LARGE,
        format!("files may be at most {}", human_size(max_bytes as i64)),
    )
}

/// The largest file this server takes.
pub fn max_bytes(svc: &Service) -> usize {
    svc.settings.max_file_bytes
}

async fn conversation(
    svc: &Service,
    tenant_id: &str,
    conversation_id: &str,
) -> Result<cordon_store::Conversation> {
    if !crate::protocol::valid_client_id(conversation_id) {
        return Err(Refusal::new(code::NOT_FOUND, "no such conversation"));
    }
    svc.store
        .conversation(tenant_id, conversation_id)
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::NotFound => {
                Refusal::new(code::NOT_FOUND, "no such conversation")
            }
            other => other.into(),
        })
}

/// Seal, store (audited) and announce a prepared file.
async fn store_and_announce(
    svc: &Service,
    sender: Sender,
    conv: &cordon_store::Conversation,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    actor: &str,
) -> Result<FileView> {
    if conv.state == ConversationState::Closed {
        return Err(Refusal::new(
            code::CONVERSATION_CLOSED,
            "the conversation is closed",
        ));
    }
    let (kind, stored) = prepare(max_bytes(svc), content_type, bytes)?;
    let name = clean_name(name, kind);
    let tenant_id = conv.tenant_id.as_str();
    let id = cordon_crypto::new_id("f");
    let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
    let label = name_label(&conv.id, &id);
    let size = stored.len() as i64;
    let file = StoredFile {
        meta: StoredFileMeta {
            id: id.clone(),
            conversation_id: conv.id.clone(),
            uploader_kind: sender.kind.as_str().to_string(),
            uploader_id: sender.id.clone(),
            kind: kind.essence().to_string(),
            size,
            created_at: cordon_store::now_ms(),
        },
        name_sealed: key.seal_message(name_place(tenant_id, &label), &name),
        sealed: key.seal_file(tenant_id, &conv.id, &id, &stored),
    };
    let entry = audit::entry(tenant_id, actor, Action::FileUpload, &format!("file:{id}"));
    svc.store
        .add_conversation_file(tenant_id, &file, &[entry])
        .await?;
    let draft = Draft {
        conversation_id: conv.id.clone(),
        client_msg_id: id.clone(),
        text: message_text(&id, &name, kind, size),
    };
    let sent = messages::send(svc, &sender, &draft).await?;
    Ok(FileView {
        id,
        conversation_id: conv.id.clone(),
        name,
        content_type: kind.essence().to_string(),
        size,
        image: kind.is_image(),
        uploader_kind: file.meta.uploader_kind,
        created_at: file.meta.created_at,
        seq: sent.outcome.seq,
    })
}

/// Files one visitor may send in an hour, in all its conversations of a tenant: a chat needs a few screenshots
/// and a receipt, not a stream of uploads filling the tenant's storage.
pub const VISITOR_FILES_PER_HOUR: i64 = 20;
/// …and bytes, in files of at most `--max-file-bytes` each: this many of the largest.
pub const VISITOR_LARGEST_FILES_PER_HOUR: i64 = 5;
const HOUR_MS: i64 = 3_600_000;

/// The visitor's upload budget: counted from what it sent in the last hour (from the store, so every node and a
/// restart agree), `rate_limited` with a wait once a file or its bytes would pass it. The budget is a little
/// soft when a visitor uploads on two nodes at the same instant; the cap per conversation is exact.
async fn check_visitor_budget(svc: &Service, holder: &TicketHolder, size: usize) -> Result<()> {
    let since = cordon_store::now_ms() - HOUR_MS;
    let (files, bytes) = svc
        .store
        .files_sent_since(&holder.tenant_id, &holder.visitor_id, since)
        .await?;
    let max_bytes =
        VISITOR_LARGEST_FILES_PER_HOUR * i64::try_from(max_bytes(svc)).unwrap_or(i64::MAX / 8);
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    if files >= VISITOR_FILES_PER_HOUR || bytes.saturating_add(size) > max_bytes {
        // The oldest of the hour's files leaves the window within the hour; a client is told to wait a while, not
        // to retry at once.
        return Err(Refusal::rate_limited(
            "you have sent many files in the last hour; please wait before sending more",
            600,
        ));
    }
    Ok(())
}

/// An agent sends a file in a conversation assigned to it (agents and admins signed in; never an API key).
pub async fn upload_as_agent(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<FileView> {
    principal.require(Scope::Chat)?;
    let Principal::Agent { agent, .. } = principal else {
        return Err(Refusal::new(
            code::FORBIDDEN,
            "files are sent by agents in a conversation",
        ));
    };
    let conv = conversation(svc, &agent.tenant_id, conversation_id).await?;
    crate::conversations::check_writer(&conv, agent)?;
    let sender = Sender {
        tenant_id: agent.tenant_id.clone(),
        kind: SenderKind::Agent,
        id: agent.id.clone(),
        name: agent.display_name.clone(),
    };
    store_and_announce(
        svc,
        sender,
        &conv,
        name,
        content_type,
        bytes,
        &principal.actor(),
    )
    .await
}

/// The conversation's visitor sends a file (with a ticket from its socket).
pub async fn upload_as_visitor(
    svc: &Service,
    holder: &TicketHolder,
    conversation_id: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<FileView> {
    let conv = conversation(svc, &holder.tenant_id, conversation_id).await?;
    if conv.visitor_id != holder.visitor_id {
        return Err(Refusal::new(code::NOT_FOUND, "no such conversation"));
    }
    check_visitor_budget(svc, holder, bytes.len()).await?;
    let sender = Sender {
        tenant_id: holder.tenant_id.clone(),
        kind: SenderKind::Visitor,
        id: holder.visitor_id.clone(),
        name: "Visitor".into(),
    };
    let actor = format!("visitor:{}", holder.visitor_id);
    store_and_announce(svc, sender, &conv, name, content_type, bytes, &actor).await
}

async fn open(svc: &Service, tenant_id: &str, f: StoredFile) -> Result<Download> {
    let kind = Kind::from_essence(&f.meta.kind)
        .ok_or_else(|| Refusal::internal("a stored file's kind"))?;
    let name = open_name(svc, tenant_id, &f.meta, &f.name_sealed).await?;
    let key_id = cordon_crypto::sealed_key_id(&f.sealed)
        .map_err(|_| Refusal::internal("a sealed file is malformed"))?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    let bytes = key
        .open_file(tenant_id, &f.meta.conversation_id, &f.meta.id, &f.sealed)
        .map_err(|_| Refusal::internal("a sealed file does not open"))?;
    Ok(Download { name, kind, bytes })
}

/// A file's name opened, for the visitor's data export (lifecycle; the caller holds the admin scope and audits
/// the export). `None` when the file is gone.
pub async fn name_for_export(
    svc: &Service,
    tenant_id: &str,
    conversation_id: &str,
    file_id: &str,
) -> Result<Option<String>> {
    // Names only: the bytes are neither read nor opened.
    for (meta, name_sealed) in svc
        .store
        .conversation_files(tenant_id, conversation_id)
        .await?
    {
        if meta.id == file_id {
            return Ok(Some(open_name(svc, tenant_id, &meta, &name_sealed).await?));
        }
    }
    Ok(None)
}

async fn open_name(
    svc: &Service,
    tenant_id: &str,
    meta: &StoredFileMeta,
    name_sealed: &[u8],
) -> Result<String> {
    let key_id = cordon_crypto::sealed_key_id(name_sealed)
        .map_err(|_| Refusal::internal("a sealed file name is malformed"))?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    let label = name_label(&meta.conversation_id, &meta.id);
    key.open_message(name_place(tenant_id, &label), name_sealed)
        .map_err(|_| Refusal::internal("a sealed file name does not open"))
}

fn valid_file_id(id: &str) -> bool {
    id.starts_with("f_") && crate::protocol::valid_client_id(id)
}

/// A file of a conversation, for the tenant's principals with `conversations:read`. The conversation in the
/// path must be the file's.
pub async fn download_as_principal(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
    file_id: &str,
) -> Result<Download> {
    principal.require(Scope::ConversationsRead)?;
    if !valid_file_id(file_id) {
        return Err(no_such_file());
    }
    let tenant_id = principal.tenant_id();
    let f = svc
        .store
        .conversation_file(tenant_id, file_id)
        .await?
        .filter(|f| f.meta.conversation_id == conversation_id)
        .ok_or_else(no_such_file)?;
    audit::record_read(svc, principal, Action::FileRead, &format!("file:{file_id}")).await?;
    open(svc, tenant_id, f).await
}

/// A file of one of the ticket holder's own conversations.
pub async fn download_as_visitor(
    svc: &Service,
    holder: &TicketHolder,
    file_id: &str,
) -> Result<Download> {
    if !valid_file_id(file_id) {
        return Err(no_such_file());
    }
    let f = svc
        .store
        .conversation_file(&holder.tenant_id, file_id)
        .await?
        .ok_or_else(no_such_file)?;
    let conv = conversation(svc, &holder.tenant_id, &f.meta.conversation_id)
        .await
        .map_err(|_| no_such_file())?;
    if conv.visitor_id != holder.visitor_id {
        return Err(no_such_file());
    }
    let entry = audit::entry(
        &holder.tenant_id,
        &format!("visitor:{}", holder.visitor_id),
        Action::FileRead,
        &format!("file:{file_id}"),
    );
    audit::record(svc, vec![entry]).await?;
    open(svc, &holder.tenant_id, f).await
}

fn ticket_mac(
    key: &cordon_crypto::DataKey,
    widget_key: &str,
    visitor_id: &str,
    expires: i64,
) -> String {
    let text = format!("{widget_key}\n{visitor_id}\n{expires}");
    hex::encode(key.keyed_hash("cordon file ticket v1", text.as_bytes()))
}

/// A ticket for the visitor the socket admitted (`identity_expires`: a verified identity's expiry, unix seconds,
/// which the ticket never outlives). Audited `file.ticket_issue`.
pub async fn issue_ticket(
    svc: &Service,
    tenant: &cordon_store::Tenant,
    visitor_id: &str,
    identity_expires: Option<i64>,
) -> Result<FileTicket> {
    let mut expires = cordon_store::now_ms() + TICKET_TTL_MS;
    if let Some(e) = identity_expires {
        expires = expires.min(e.saturating_mul(1000));
    }
    let key = svc.keys.current_data_key(&svc.store, &tenant.id).await?;
    let mac = ticket_mac(&key, &tenant.widget_key, visitor_id, expires);
    let entry = audit::entry(
        &tenant.id,
        &format!("visitor:{visitor_id}"),
        Action::FileTicketIssue,
        &format!("visitor:{visitor_id}"),
    );
    audit::record(svc, vec![entry]).await?;
    Ok(FileTicket {
        ticket: format!(
            "ft1.{}.{visitor_id}.{expires}.{}.{mac}",
            tenant.widget_key, key.key_id
        ),
        expires_at: expires,
    })
}

/// The visitor a ticket names, if it is genuine and not expired; `not_authenticated` otherwise.
pub async fn check_ticket(svc: &Service, ticket: Option<&str>) -> Result<TicketHolder> {
    let refused = || Refusal::new(code::NOT_AUTHENTICATED, "a valid file ticket is needed");
    let ticket = ticket.filter(|t| t.len() <= 400).ok_or_else(refused)?;
    let rest = ticket.strip_prefix("ft1.").ok_or_else(refused)?;
    // From the right: the widget key is the tenant's and may hold a '.'; the other parts cannot.
    let mut parts = rest.rsplitn(5, '.');
    let (Some(mac), Some(key_id), Some(expires), Some(visitor_id), Some(widget_key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(refused());
    };
    let expires: i64 = expires.parse().map_err(|_| refused())?;
    let key_id: u32 = key_id.parse().map_err(|_| refused())?;
    if expires < cordon_store::now_ms()
        || !crate::protocol::valid_client_id(widget_key)
        || !crate::protocol::valid_client_id(visitor_id)
    {
        return Err(refused());
    }
    let tenant = svc
        .store
        .tenant_by_widget_key(widget_key)
        .await?
        .ok_or_else(refused)?;
    // A shredded tenant has no key: its tickets are dead with it.
    let key = svc
        .keys
        .data_key(&svc.store, &tenant.id, key_id)
        .await
        .map_err(|_| refused())?;
    let want = ticket_mac(&key, widget_key, visitor_id, expires);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        want.as_bytes(),
        mac.as_bytes(),
    )) {
        return Err(refused());
    }
    Ok(TicketHolder {
        tenant_id: tenant.id,
        visitor_id: visitor_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_and_text_are_masked_and_limits_hold() {
        let name = clean_name("receipt 4111 1111 1111 1111.txt", Kind::Text);
        assert!(
            !name.contains("4111 1111") && name.contains("1111"),
            "{name}"
        );
        // A card the length limit cuts is masked before the cut.
        let long = format!("{} 4111 1111 1111 1111.png", "a".repeat(100));
        let n = clean_name(&long, Kind::Png);
        assert!(!n.contains("4111 1111") && n.chars().count() <= 120, "{n}");
        let (kind, bytes) =
            prepare(1000, "text/plain", b"card 4111 1111 1111 1111 thanks").unwrap();
        assert_eq!(kind, Kind::Text);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            !text.contains("4111 1111 1111") && text.contains("thanks"),
            "{text}"
        );
        assert_eq!(
            prepare(4, "text/plain", b"12345").unwrap_err().code,
            code::FILE_TOO_LARGE
        );
        assert_eq!(
            prepare(100, "text/plain", b"").unwrap_err().code,
            code::BAD_REQUEST
        );
        assert_eq!(
            prepare(100, "image/svg+xml", b"<svg/>").unwrap_err().code,
            code::FILE_TYPE_NOT_ALLOWED
        );
        assert_eq!(
            prepare(100, "image/png", b"GIF89a").unwrap_err().code,
            code::FILE_TYPE_MISMATCH
        );
        assert_eq!(
            prepare(100, "image/png", b"\x89PNG\r\n\x1a\n")
                .unwrap_err()
                .code,
            code::FILE_MALFORMED
        );
        assert_eq!(
            message_text("f_x", "a.png", Kind::Png, 2048),
            "[file f_x] a.png (image/png, 2.0 KB)"
        );
    }
}
