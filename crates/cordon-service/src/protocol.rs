//! The WebSocket protocol's frames (docs/PROTOCOL.md describes them for client authors).
//!
//! Every frame is a JSON text frame with a `type`. Decoding never reports serde's own text, which can quote the
//! input (for example "unknown variant `4111…`"): errors are mapped to stable codes with fixed messages.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::code;

/// The protocol versions this server speaks.
pub const PROTOCOL_VERSIONS: &[u32] = &[1];

/// Identity proof from the tenant's site: `signature = hex(HMAC-SHA256(identity_secret, user_id + ":" + expires))`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct IdentityProof {
    pub user_id: String,
    /// Unix seconds after which the proof is refused.
    pub expires: i64,
    pub signature: String,
    /// The user's name and email for the agents (issue 20). When either is present the signature covers them:
    /// `hex(HMAC-SHA256(identity_secret, user_id + "\n" + email + "\n" + name + ":" + expires))`, an absent one
    /// taken as empty.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// What the frame tells the agents about the visitor's page and browser (issue 20): the page's address (no query
/// or fragment) and title as the loader reports them, the browser's user agent and time zone. All optional and
/// unverified; bounded, card numbers masked and sealed before they are stored.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct VisitorContext {
    #[serde(default)]
    pub page_url: Option<String>,
    #[serde(default)]
    pub page_title: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// An IANA time zone name, such as `Europe/Lisbon`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Hello {
    /// Protocol version the client speaks (1).
    pub v: u32,
    /// Visitors: the tenant's public widget key.
    #[serde(default)]
    pub widget_key: Option<String>,
    /// Visitors: the token from an earlier `welcome`, to return to the same history.
    #[serde(default)]
    pub visitor_token: Option<String>,
    /// Visitors: identity proof, required when the tenant enforces verification.
    #[serde(default)]
    pub identity: Option<IdentityProof>,
    /// Visitors: the embedding page's origin as the browser reports it to the frame.
    #[serde(default)]
    pub embed_origin: Option<String>,
    /// Visitors: the page and browser, for the agents' side panel (issue 20).
    #[serde(default)]
    pub context: Option<VisitorContext>,
}

/// Frames a client sends.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum ClientFrame {
    #[serde(rename = "hello")]
    Hello(Hello),
    /// Visitors: open a conversation, or get the one already open.
    #[serde(rename = "conversation.open")]
    ConversationOpen {},
    #[serde(rename = "message.send")]
    MessageSend {
        conversation_id: String,
        client_msg_id: String,
        text: String,
    },
    /// Ask for every message with `seq > after_seq`; answered by `message` frames, then `synced`.
    #[serde(rename = "sync")]
    Sync {
        conversation_id: String,
        after_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: String,
        active: bool,
    },
    #[serde(rename = "read")]
    Read { conversation_id: String, seq: i64 },
    #[serde(rename = "ping")]
    Ping {},
    #[serde(rename = "conversation.close")]
    ConversationClose { conversation_id: String },
    /// Agents: take a queued conversation.
    #[serde(rename = "conversation.accept")]
    ConversationAccept { conversation_id: String },
    /// Agents: hand a conversation to another agent of the tenant.
    #[serde(rename = "conversation.transfer")]
    ConversationTransfer {
        conversation_id: String,
        agent_id: String,
    },
    /// Agents: online, away or offline.
    #[serde(rename = "status.set")]
    StatusSet { status: String },
    /// Agents (issue 15): ask the conversation's visitor for a payment through the card vault. Answered by
    /// `payment.requested`; both sides then see a system message `Payment requested (pr_…): …`.
    #[serde(rename = "payment.request")]
    PaymentRequest {
        conversation_id: String,
        /// In minor units (cents).
        amount_minor: i64,
        /// ISO 4217, e.g. `EUR`.
        currency: String,
        description: String,
    },
    /// Visitors (issue 15): get the vault form of an open payment request of their conversation. Answered by
    /// `payment.form`.
    #[serde(rename = "payment.open")]
    PaymentOpen { request_id: String },
    /// Visitors (issue 20): rate one of their conversations once it has ended, once: a score 1-5 and an optional
    /// comment (at most 1,000 characters; card numbers masked). Answered by `rating.saved`.
    #[serde(rename = "rating.submit")]
    RatingSubmit {
        conversation_id: String,
        score: i64,
        #[serde(default)]
        comment: Option<String>,
    },
    /// Visitors (issue 20): the contact given in the tenant's pre-chat or offline form, replacing any earlier one:
    /// an email to answer to and an optional name. Answered by `contact.saved`.
    #[serde(rename = "contact.set")]
    ContactSet {
        #[serde(default)]
        name: Option<String>,
        email: String,
    },
    /// Visitors (issue 20): a ticket for the widget origin's file routes (`POST /w/files`, `GET /w/files/{id}`).
    /// Answered by `file.ticket`.
    #[serde(rename = "file.ticket")]
    FileTicket {},
}

impl ClientFrame {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Hello(_) => "hello",
            ClientFrame::ConversationOpen {} => "conversation.open",
            ClientFrame::MessageSend { .. } => "message.send",
            ClientFrame::Sync { .. } => "sync",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Ping {} => "ping",
            ClientFrame::ConversationClose { .. } => "conversation.close",
            ClientFrame::ConversationAccept { .. } => "conversation.accept",
            ClientFrame::ConversationTransfer { .. } => "conversation.transfer",
            ClientFrame::StatusSet { .. } => "status.set",
            ClientFrame::PaymentRequest { .. } => "payment.request",
            ClientFrame::PaymentOpen { .. } => "payment.open",
            ClientFrame::RatingSubmit { .. } => "rating.submit",
            ClientFrame::ContactSet { .. } => "contact.set",
            ClientFrame::FileTicket {} => "file.ticket",
        }
    }
}

/// A decoding failure, as a stable code and fixed text (never the input, never serde's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    pub code: &'static str,
    pub message: &'static str,
}

/// Decode one client text frame.
pub fn decode(text: &str, max_bytes: usize) -> Result<ClientFrame, DecodeError> {
    if text.len() > max_bytes {
        return Err(DecodeError {
            code: code::FRAME_TOO_LARGE,
            message: "frame exceeds 65536 bytes",
        });
    }
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => Ok(frame),
        Err(_) => {
            // Tell an unknown type apart from a malformed frame, without quoting either.
            let value: serde_json::Value = serde_json::from_str(text).map_err(|_| DecodeError {
                code: code::BAD_FRAME,
                message: "frame is not valid JSON",
            })?;
            let known = value
                .get("type")
                .and_then(|t| t.as_str())
                .map(|t| client_frame_types().contains(&t));
            Err(match known {
                Some(true) => DecodeError {
                    code: code::BAD_FRAME,
                    message: "frame has missing or invalid fields for its type",
                },
                Some(false) => DecodeError {
                    code: code::UNKNOWN_TYPE,
                    message: "unknown frame type",
                },
                None => DecodeError {
                    code: code::BAD_FRAME,
                    message: "frame must be a JSON object with a string \"type\"",
                },
            })
        }
    }
}

/// Every client frame type, read from the generated schema (so a new variant is listed automatically).
pub fn client_frame_types() -> Vec<&'static str> {
    use std::sync::OnceLock;
    static TYPES: OnceLock<Vec<&'static str>> = OnceLock::new();
    TYPES
        .get_or_init(|| {
            let schema = serde_json::to_value(<ClientFrame as utoipa::PartialSchema>::schema())
                .unwrap_or_default();
            let mut out = Vec::new();
            if let Some(variants) = schema.get("oneOf").and_then(|v| v.as_array()) {
                for v in variants {
                    collect_type_names(v, &mut out);
                }
            }
            out
        })
        .clone()
}

fn collect_type_names(v: &serde_json::Value, out: &mut Vec<&'static str>) {
    if let Some(names) = v
        .pointer("/properties/type/enum")
        .and_then(|e| e.as_array())
    {
        for n in names {
            if let Some(s) = n.as_str() {
                out.push(Box::leak(s.to_string().into_boxed_str()));
            }
        }
    }
    if let Some(all) = v.get("allOf").and_then(|a| a.as_array()) {
        for part in all {
            collect_type_names(part, out);
        }
    }
}

/// Who sent a message or event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Party {
    /// `visitor`, `agent` or `system`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: String,
    /// `queued`, `assigned` or `closed`.
    pub state: &'static str,
    pub visitor_id: String,
    pub agent: Option<AgentRef>,
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Agents' `welcome` only: the highest seq this agent has marked read (`read`) in any of its consoles, so
    /// every console counts unread messages from the same point. Absent elsewhere and when never read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub conversation_id: String,
    pub seq: i64,
    pub sender: Party,
    pub client_msg_id: String,
    /// Already redacted: card numbers appear as `[Brand •••• 1234]`.
    pub text: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProtocolLimits {
    pub max_frame_bytes: usize,
    pub max_text_chars: usize,
    pub frames_per_sec: f64,
    pub frame_burst: f64,
}

/// Frames the server sends.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum ServerFrame {
    #[serde(rename = "welcome")]
    Welcome {
        v: u32,
        role: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        visitor_id: Option<String>,
        /// Visitors: keep this (e.g. in the frame's localStorage) and send it in the next `hello`.
        #[serde(skip_serializing_if = "Option::is_none")]
        visitor_token: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent: Option<AgentRef>,
        conversations: Vec<ConversationView>,
        limits: ProtocolLimits,
        /// Visitors (issue 20): agents online now and about how long the wait is, for the widget to show before
        /// the first message.
        #[serde(skip_serializing_if = "Option::is_none")]
        availability: Option<crate::availability::Availability>,
    },
    #[serde(rename = "conversation")]
    Conversation { conversation: ConversationView },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: ConversationView },
    #[serde(rename = "message")]
    Message(MessageView),
    #[serde(rename = "message.ack")]
    MessageAck {
        conversation_id: String,
        client_msg_id: String,
        seq: i64,
        created_at: i64,
        duplicate: bool,
    },
    #[serde(rename = "synced")]
    Synced {
        conversation_id: String,
        last_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: String,
        from: Party,
        active: bool,
    },
    #[serde(rename = "read")]
    Read {
        conversation_id: String,
        by: Party,
        seq: i64,
    },
    /// A conversation's internal notes, tags or priority changed (issue 20): sent to the tenant's agent sockets only,
    /// never a visitor's, and without the content, which a console reads (audited) if it shows that conversation.
    #[serde(rename = "notes.updated")]
    NotesUpdated {
        conversation_id: String,
        by: AgentRef,
    },
    #[serde(rename = "notice")]
    Notice {
        code: &'static str,
        message: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    /// To the agent who sent `payment.request`: the request as stored.
    #[serde(rename = "payment.requested")]
    PaymentRequested {
        request: crate::payments::PaymentRequestView,
    },
    /// To the visitor who sent `payment.open`: the vault form's URL (its capability in the fragment) to frame.
    #[serde(rename = "payment.form")]
    PaymentForm(crate::payments::PaymentForm),
    /// To the visitor who sent `rating.submit`: the rating as kept (the comment card-masked).
    #[serde(rename = "rating.saved")]
    RatingSaved { rating: crate::ratings::RatingView },
    /// To the visitor who sent `contact.set`: the contact as kept (the name card-masked).
    #[serde(rename = "contact.saved")]
    ContactSaved { contact: crate::contact::Contact },
    /// To the visitor who sent `file.ticket`: send it as `X-Cordon-File-Ticket` to `/w/files` (issue 20).
    #[serde(rename = "file.ticket")]
    FileTicket(crate::files::FileTicket),
    #[serde(rename = "pong")]
    Pong {},
    #[serde(rename = "error")]
    Error {
        code: &'static str,
        message: String,
        /// The `client_msg_id` of the frame that failed, when it had a valid one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ServerFrame {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            reference: None,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (no maps with non-string keys, no custom impls).
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"internal error"}"#.to_string()
        })
    }
}

/// Client-chosen ids (`client_msg_id`, ids in requests) are 1–64 characters from `[A-Za-z0-9._:-]`, and may not
/// contain a card number (they are stored and echoed, so they must be as clean as message text).
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        && cordon_card::find(id).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_types_come_from_the_schema() {
        let types = client_frame_types();
        for t in [
            "hello",
            "conversation.open",
            "message.send",
            "sync",
            "typing",
            "read",
            "ping",
            "conversation.close",
            "conversation.accept",
            "conversation.transfer",
            "status.set",
            "payment.request",
            "payment.open",
            "rating.submit",
            "file.ticket",
            "contact.set",
        ] {
            assert!(types.contains(&t), "{t} missing from {types:?}");
        }
        assert_eq!(types.len(), 16);
    }

    #[test]
    fn decode_errors_never_echo_input() {
        let card = "4111111111111111";
        for bad in [
            format!("{{\"type\":\"{card}\"}}"),
            format!("{{\"type\":\"message.send\",\"text\":{card}}}"),
            format!("not json {card}"),
            format!("[\"{card}\"]"),
        ] {
            let err = decode(&bad, 65536).unwrap_err();
            assert!(!err.message.contains("4111"));
            assert!(!err.code.contains("4111"));
        }
        assert_eq!(
            decode(r#"{"type":"nope"}"#, 65536).unwrap_err().code,
            code::UNKNOWN_TYPE
        );
        assert_eq!(
            decode(r#"{"type":"sync"}"#, 65536).unwrap_err().code,
            code::BAD_FRAME
        );
        assert_eq!(decode("{", 65536).unwrap_err().code, code::BAD_FRAME);
        assert_eq!(
            decode(&"x".repeat(70000), 65536).unwrap_err().code,
            code::FRAME_TOO_LARGE
        );
        assert!(matches!(
            decode(r#"{"type":"ping"}"#, 65536),
            Ok(ClientFrame::Ping {})
        ));
    }

    #[test]
    fn client_ids() {
        assert!(valid_client_id("m-1"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("a b"));
        assert!(!valid_client_id(&"a".repeat(65)));
    }
}
