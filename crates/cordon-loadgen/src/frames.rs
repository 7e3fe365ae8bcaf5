//! The protocol frames the load generator sends and reads (docs/PROTOCOL.md).
//!
//! Incoming frames are decoded into one borrowed struct with only the fields the scenarios look at; serde skips
//! the rest without allocating. The message text is borrowed too (the split-card check reads it).

use std::borrow::Cow;

use serde::Deserialize;

/// Any server frame, reduced to what the scenarios read.
#[derive(Debug, Deserialize)]
pub(crate) struct In<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) conversation_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) client_msg_id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) seq: Option<i64>,
    #[serde(default)]
    pub(crate) duplicate: Option<bool>,
    #[serde(default, borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
    #[serde(default, rename = "ref", borrow)]
    pub(crate) reference: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) sender: Option<PartyIn<'a>>,
    #[serde(default, borrow)]
    pub(crate) conversation: Option<ConvIn<'a>>,
    #[serde(default, borrow)]
    pub(crate) conversations: Option<Vec<ConvIn<'a>>>,
    #[serde(default, borrow)]
    pub(crate) visitor_token: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) agent: Option<AgentIn<'a>>,
    #[serde(default, borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PartyIn<'a> {
    #[serde(borrow)]
    pub(crate) kind: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConvIn<'a> {
    #[serde(borrow)]
    pub(crate) id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) agent: Option<AgentIn<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AgentIn<'a> {
    #[serde(borrow)]
    pub(crate) id: Cow<'a, str>,
}

pub(crate) fn parse(text: &str) -> Option<In<'_>> {
    serde_json::from_str(text).ok()
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// `hello` for a visitor (or, on the relay, for an agent: the widget key names its tenant there).
pub(crate) fn hello(widget_key: Option<&str>, visitor_token: Option<&str>) -> String {
    let mut s = String::from(r#"{"type":"hello","v":1"#);
    if let Some(k) = widget_key {
        s.push_str(r#","widget_key":"#);
        s.push_str(&q(k));
    }
    if let Some(t) = visitor_token {
        s.push_str(r#","visitor_token":"#);
        s.push_str(&q(t));
    }
    s.push('}');
    s
}

pub(crate) fn open() -> String {
    r#"{"type":"conversation.open"}"#.to_string()
}

pub(crate) fn status_online() -> String {
    r#"{"type":"status.set","status":"online"}"#.to_string()
}

pub(crate) fn sync(conversation_id: &str, after_seq: i64) -> String {
    format!(
        r#"{{"type":"sync","conversation_id":{},"after_seq":{after_seq}}}"#,
        q(conversation_id)
    )
}

/// `message.send`. `text` comes from [`filler`] or [`crate::cards`]: ASCII letters, digits and spaces, so it
/// needs no escaping.
pub(crate) fn send(conversation_id: &str, client_msg_id: &str, text: &str) -> String {
    let mut s = String::with_capacity(80 + conversation_id.len() + text.len());
    s.push_str(r#"{"type":"message.send","conversation_id":"#);
    s.push_str(&q(conversation_id));
    s.push_str(r#","client_msg_id":""#);
    s.push_str(client_msg_id);
    s.push_str(r#"","text":""#);
    s.push_str(text);
    s.push_str(r#""}"#);
    s
}

/// Message text of `len` bytes: lower-case words, never digits (so no card-number look-alikes).
pub(crate) fn filler(len: usize) -> String {
    const WORDS: &[&str] = &[
        "hello", "order", "parcel", "arrive", "thanks", "please", "check", "status", "when",
        "will", "my", "the", "is", "delivery", "question", "about",
    ];
    let mut s = String::with_capacity(len + 10);
    let mut i = 0;
    while s.len() < len {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[i % WORDS.len()]);
        i += 7;
    }
    s.truncate(len.max(1));
    if s.ends_with(' ') {
        s.pop();
        s.push('x');
    }
    s
}

/// What a load-generator message is, carried in its id so that any receiver (the agent included, which sees only
/// the redacted text) can file its latency under the right heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Filler text: never held by the server.
    Ordinary,
    /// Filler text sent right after the last piece of a split card: ordinary (never held), but it is the message
    /// that releases pieces the server still holds, so it is also measured on its own.
    AfterCard,
    /// Piece `index` (1-based) of a card number typed in `of` pieces: a candidate the server holds.
    Piece { index: u8, of: u8 },
}

impl Class {
    pub(crate) fn is_piece(self) -> bool {
        matches!(self, Class::Piece { .. })
    }
}

/// A parsed load-generator message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MsgId {
    pub(crate) step: u32,
    /// The sending visitor's index in its worker (which also says the node it is on).
    pub(crate) conn: u32,
    /// The intended send time, µs since the run's epoch.
    pub(crate) intended_us: u64,
    pub(crate) class: Class,
}

/// A load-generator message id: step, connection, counter, the intended send time (µs since the run's epoch) and
/// the class (`r` after a card, `p<index>o<of>` for a piece). Letters separate the numbers, so the id never looks
/// like a card number (the server refuses ids that hold one).
pub(crate) fn msg_id(step: u32, conn: u32, n: u64, intended_us: u64, class: Class) -> String {
    match class {
        Class::Ordinary => format!("m{step}c{conn}n{n}t{intended_us}"),
        Class::AfterCard => format!("m{step}c{conn}n{n}t{intended_us}r"),
        Class::Piece { index, of } => format!("m{step}c{conn}n{n}t{intended_us}p{index}o{of}"),
    }
}

/// Step, intended µs and class from a load-generator message id; `None` for other ids (system messages).
pub(crate) fn parse_msg_id(id: &str) -> Option<MsgId> {
    let rest = id.strip_prefix('m')?;
    let (step, rest) = rest.split_once('c')?;
    let (conn, rest) = rest.split_once('n')?;
    let (_, rest) = rest.split_once('t')?;
    let (time, class) = if let Some(t) = rest.strip_suffix('r') {
        (t, Class::AfterCard)
    } else if let Some((t, piece)) = rest.split_once('p') {
        let (index, of) = piece.split_once('o')?;
        let (index, of) = (index.parse().ok()?, of.parse().ok()?);
        if index == 0 || index > of {
            return None;
        }
        (t, Class::Piece { index, of })
    } else {
        (rest, Class::Ordinary)
    };
    Some(MsgId {
        step: step.parse().ok()?,
        conn: conn.parse().ok()?,
        intended_us: time.parse().ok()?,
        class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_text_is_plain() {
        let id = msg_id(3, 17, 99, 123_456_789, Class::Ordinary);
        let parsed = parse_msg_id(&id).unwrap();
        assert_eq!((parsed.step, parsed.intended_us), (3, 123_456_789));
        assert_eq!(parsed.class, Class::Ordinary);
        assert_eq!(parse_msg_id("sys_abc"), None);
        let t = filler(100);
        assert_eq!(t.len(), 100);
        assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b == b' '));
        let frame = send("c_1", &id, &t);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["text"], t);
    }

    #[test]
    fn parses_frames_borrowing() {
        let f = parse(
            r#"{"type":"message","conversation_id":"c1","seq":4,"sender":{"kind":"visitor","id":"v","name":"Visitor"},"client_msg_id":"m0c1n1t5","text":"hi","created_at":1}"#,
        )
        .unwrap();
        assert_eq!(f.kind, "message");
        assert_eq!(f.seq, Some(4));
        assert_eq!(f.sender.unwrap().kind, "visitor");
        let w = parse(r#"{"type":"welcome","v":1,"role":"visitor","visitor_token":"tok","conversations":[{"id":"c","state":"assigned","agent":{"id":"a","name":"A"},"last_seq":2}],"limits":{}}"#).unwrap();
        assert_eq!(w.visitor_token.as_deref(), Some("tok"));
        assert_eq!(w.conversations.unwrap()[0].id, "c");
    }

    #[test]
    fn classes_round_trip_in_ids() {
        for class in [
            Class::Ordinary,
            Class::AfterCard,
            Class::Piece { index: 1, of: 2 },
            Class::Piece { index: 4, of: 4 },
        ] {
            let id = msg_id(12, 4_095, 1_234_567, 987_654_321_012, class);
            assert!(id.len() <= 64, "{id}");
            assert!(
                cordon_card::find(&id).is_empty(),
                "an id must never read as a card: {id}"
            );
            assert_eq!(
                parse_msg_id(&id),
                Some(MsgId {
                    step: 12,
                    conn: 4_095,
                    intended_us: 987_654_321_012,
                    class
                }),
                "{id}"
            );
        }
        assert!(Class::Piece { index: 2, of: 3 }.is_piece());
        assert!(!Class::AfterCard.is_piece());
        // Malformed classes are not load-generator ids.
        assert_eq!(parse_msg_id("m1c2n3t4p0o2"), None);
        assert_eq!(parse_msg_id("m1c2n3t4p3o2"), None);
        assert_eq!(parse_msg_id("m1c2n3t4px"), None);
    }

    #[test]
    fn message_text_is_read() {
        let f =
            parse(r#"{"type":"message","seq":2,"client_msg_id":"x","text":"[Visa •••• 1111]"}"#)
                .unwrap();
        assert_eq!(f.text.as_deref(), Some("[Visa •••• 1111]"));
    }
}
