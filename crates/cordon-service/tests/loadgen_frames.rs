//! cordon-loadgen keeps its own black-box copy of the wire format (its independence from the server is the
//! point of a load generator), so nothing makes the two agree but this test: every frame loadgen sends decodes
//! as the server decodes it, with the fields it meant, and the server frames loadgen reads parse in its copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Loadgen is a binary: its frames module is compiled in here from its source, unchanged.
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../../cordon-loadgen/src/frames.rs"]
mod frames;

use cordon_service::protocol::{
    decode, AgentRef, ClientFrame, ConversationView, MessageView, Party, ProtocolLimits,
    ServerFrame,
};

/// The server's default frame limit (PROTOCOL.md §12).
const MAX_FRAME_BYTES: usize = 64 * 1024;

fn decoded(text: &str) -> ClientFrame {
    decode(text, MAX_FRAME_BYTES)
        .unwrap_or_else(|e| panic!("the server refuses {text}: {}", e.code))
}

#[test]
fn every_frame_loadgen_sends_decodes_on_the_server() {
    match decoded(&frames::hello(Some("wk_abc"), Some("cv_token"))) {
        ClientFrame::Hello(h) => {
            assert_eq!(h.v, 1);
            assert_eq!(h.widget_key.as_deref(), Some("wk_abc"));
            assert_eq!(h.visitor_token.as_deref(), Some("cv_token"));
        }
        other => panic!("{}", other.type_name()),
    }
    match decoded(&frames::hello(None, None)) {
        ClientFrame::Hello(h) => assert!(h.widget_key.is_none() && h.visitor_token.is_none()),
        other => panic!("{}", other.type_name()),
    }
    assert!(matches!(
        decoded(&frames::open()),
        ClientFrame::ConversationOpen {}
    ));
    match decoded(&frames::status_online()) {
        ClientFrame::StatusSet { status } => assert_eq!(status, "online"),
        other => panic!("{}", other.type_name()),
    }
    match decoded(&frames::sync("c_1", 42)) {
        ClientFrame::Sync {
            conversation_id,
            after_seq,
        } => assert_eq!((conversation_id.as_str(), after_seq), ("c_1", 42)),
        other => panic!("{}", other.type_name()),
    }
    let classes = [
        frames::Class::Ordinary,
        frames::Class::AfterCard,
        frames::Class::Piece { index: 2, of: 4 },
    ];
    for class in classes {
        let id = frames::msg_id(3, 17, 99, 123_456_789, class);
        assert!(
            cordon_service::protocol::valid_client_id(&id),
            "the server accepts loadgen's id {id}"
        );
        let text = frames::filler(300);
        match decoded(&frames::send("c_1", &id, &text)) {
            ClientFrame::MessageSend {
                conversation_id,
                client_msg_id,
                text: got,
            } => {
                assert_eq!(conversation_id, "c_1");
                assert_eq!(client_msg_id, id);
                assert_eq!(got, text);
            }
            other => panic!("{}", other.type_name()),
        }
    }
}

#[test]
fn the_server_frames_loadgen_reads_parse_in_its_copy() {
    let party = Party {
        kind: "visitor",
        id: "v_1".into(),
        name: "Visitor".into(),
    };
    let conversation = ConversationView {
        id: "c_1".into(),
        state: "assigned",
        visitor_id: "v_1".into(),
        agent: Some(AgentRef {
            id: "a_1".into(),
            name: "Sam".into(),
        }),
        last_seq: 2,
        created_at: 1,
        updated_at: 2,
        read_seq: Some(1),
    };
    let welcome = ServerFrame::Welcome {
        v: 1,
        role: "visitor",
        visitor_id: Some("v_1".into()),
        visitor_token: Some("cv_token".into()),
        agent: None,
        conversations: vec![conversation.clone()],
        limits: ProtocolLimits {
            max_frame_bytes: MAX_FRAME_BYTES,
            max_text_chars: 4000,
            frames_per_sec: 20.0,
            frame_burst: 40.0,
        },
        availability: None,
    }
    .to_json();
    let w = frames::parse(&welcome).expect("welcome parses");
    assert_eq!(w.kind, "welcome");
    assert_eq!(w.visitor_token.as_deref(), Some("cv_token"));
    let convs = w.conversations.expect("conversations");
    assert_eq!(convs[0].id, "c_1");
    assert_eq!(convs[0].state.as_deref(), Some("assigned"));
    assert_eq!(convs[0].agent.as_ref().map(|a| a.id.as_ref()), Some("a_1"));

    let message = ServerFrame::Message(MessageView {
        conversation_id: "c_1".into(),
        seq: 4,
        sender: party,
        client_msg_id: "m1c2n3t4".into(),
        text: "[Visa •••• 1111]".into(),
        created_at: 5,
    })
    .to_json();
    let m = frames::parse(&message).expect("message parses");
    assert_eq!(m.kind, "message");
    assert_eq!(m.seq, Some(4));
    assert_eq!(m.client_msg_id.as_deref(), Some("m1c2n3t4"));
    assert_eq!(
        m.sender.map(|s| s.kind.into_owned()).as_deref(),
        Some("visitor")
    );
    assert_eq!(m.text.as_deref(), Some("[Visa •••• 1111]"));

    let ack = ServerFrame::MessageAck {
        conversation_id: "c_1".into(),
        client_msg_id: "m1c2n3t4".into(),
        seq: 4,
        created_at: 5,
        duplicate: true,
    }
    .to_json();
    let a = frames::parse(&ack).expect("ack parses");
    assert_eq!(
        (a.kind.as_ref(), a.seq, a.duplicate),
        ("message.ack", Some(4), Some(true))
    );

    let refused = ServerFrame::Error {
        code: "rate_limited",
        message: "too many frames; slow down and retry".into(),
        reference: Some("m1c2n3t4".into()),
    }
    .to_json();
    let e = frames::parse(&refused).expect("error parses");
    assert_eq!(e.code.as_deref(), Some("rate_limited"));
    assert_eq!(e.reference.as_deref(), Some("m1c2n3t4"));

    let updated = ServerFrame::ConversationUpdated { conversation }.to_json();
    let u = frames::parse(&updated).expect("update parses");
    assert_eq!(
        u.conversation.map(|c| c.id.into_owned()).as_deref(),
        Some("c_1")
    );
}
