//! Transcript emails (issue 20, item 2), on every backend, against a tiny SMTP sink on loopback
//! (common/smtp.rs): a tenant that turned transcripts on, a visitor who gave an email, a chat with a card number
//! typed in it and in the visitor's name, an agent's reply and the close: exactly one mail, to the visitor, with
//! both messages and no card number; a restart on the same database sends no second one. With transcripts off,
//! without a contact, or without a mail server, nothing is queued or sent. A sink that refuses for now (451) is
//! tried again until it accepts; an address it refuses for good (550) is given up at once, and the outbox
//! keeps the reply code, never the address.

mod common;

use std::time::Duration;

use common::smtp::{Mail, SmtpSink};
use common::{Auth, TestServer, Ws};
use cordon_store::testing::TestDatabase;
use serde_json::json;

const CARD: &str = "4111 1111 1111 1111";

async fn start(db: TestDatabase, sink: &SmtpSink) -> TestServer {
    let url = sink.url();
    TestServer::start_configured(db, move |c| {
        c.mail
            .configure(Some(&url), Some("Cordon Chat <chat@cordon.test>"))
            .expect("mail settings");
        // Retries in a test come after 200 ms, 800 ms, 3.2 s.
        c.mail.first_retry = Duration::from_millis(200);
    })
    .await
}

async fn set_forms(srv: &TestServer, slug: &str, transcript: bool) {
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login(slug, "admin").await));
    let body = json!({"prechat": true, "offline": true, "transcript": transcript});
    let (s, e) = admin
        .call("PUT", "/api/v1/tenant/chat-forms", Some(body.clone()))
        .await;
    assert_eq!(s, 204, "{e}");
    let (s, got) = admin.get("/api/v1/tenant/chat-forms").await;
    assert_eq!((s, got), (200, body));
}

/// A visitor who gives `email` (and a name with a card number in it), opens a chat and says something with a
/// card number; the online agent answers and closes. Answers the conversation id.
async fn chat(srv: &TestServer, widget_key: &str, agent: &mut Ws, email: Option<&str>) -> String {
    let (mut v, _) = srv.visitor(widget_key, None).await;
    if let Some(email) = email {
        v.send(json!({"type": "contact.set", "name": format!("Ana {CARD}"), "email": email}))
            .await;
        v.recv_type("contact.saved").await;
    }
    let conv = v.open().await;
    v.say(
        &conv,
        "v1",
        &format!("Hello, my card is {CARD}, refund please"),
    )
    .await;
    let id = conv.clone();
    agent
        .recv_where(move |f| f["type"] == "message" && f["conversation_id"] == id.as_str())
        .await;
    agent
        .say(
            &conv,
            &format!("a-{conv}"),
            "Thanks, the refund is on its way",
        )
        .await;
    agent.close_chat(&mut v, &conv).await;
    conv
}

fn assert_no_card(mail: &Mail) {
    for text in [&mail.data, &mail.decoded()] {
        for shape in [CARD, "4111111111111111", "4111-1111-1111-1111"] {
            assert!(
                !text.contains(shape),
                "a card number reached the sink: {text}"
            );
        }
        assert!(
            cordon_card::find(text).is_empty(),
            "a card number reached the sink: {text}"
        );
    }
}

#[tokio::test]
async fn a_closed_chat_is_mailed_to_the_visitor_once_without_card_numbers() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let sink = SmtpSink::start().await;
        let srv = start(db, &sink).await;
        let fx = srv.fixture("skyway").await;
        set_forms(&srv, "skyway", true).await;
        let (mut agent, _) = srv.online_agent("skyway", "agent").await;
        let conv = chat(
            &srv,
            &fx.tenant.widget_key,
            &mut agent,
            Some("ana@Example.com"),
        )
        .await;

        let mails = sink.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(mails.len(), 1, "{backend}");
        let mail = &mails[0];
        assert_eq!(mail.to, vec!["ana@example.com".to_string()], "{backend}");
        assert_eq!(mail.from, "chat@cordon.test");
        let text = mail.decoded();
        assert!(
            text.contains("Subject: Your chat with skyway Inc"),
            "{text}"
        );
        assert!(text.contains("You: Hello, my card is"), "{backend}: {text}");
        assert!(
            text.contains("agent: Thanks, the refund is on its way"),
            "{backend}: {text}"
        );
        assert!(text.contains("agent closed the chat"), "{text}");
        assert!(text.contains("(times in UTC)"), "{text}");
        assert!(text.contains("text/html"), "an HTML alternative: {text}");
        assert!(
            text.contains(&format!("<transcript.{conv}@cordon.test>")),
            "{text}"
        );
        // The masked card shows as its brand and last four, in the chat and in the visitor's name.
        assert!(text.contains("1111"), "{text}");
        assert_no_card(mail);

        let job = srv
            .store()
            .transcript_job(&fx.tenant.id, &conv)
            .await
            .unwrap()
            .expect("a transcript job");
        assert!(job.sent_at.is_some() && job.failed_at.is_none(), "{job:?}");
        assert_eq!(job.attempts, 1, "{backend}");

        // Closing again changes nothing; a restart on the same database sends nothing more.
        agent
            .send(json!({"type": "conversation.close", "conversation_id": conv}))
            .await;
        assert_eq!(
            agent.recv_type("error").await["code"],
            "conversation_closed"
        );
        let db = srv.stop_keeping_db().await;
        let srv = start(db, &sink).await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(
            sink.mails().len(),
            1,
            "{backend}: a second mail after a restart"
        );
        assert_eq!(sink.attempts(), 1, "{backend}");
        srv.stop().await;
    }
}

#[tokio::test]
async fn nothing_is_mailed_with_transcripts_off_without_a_contact_or_without_smtp() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let sink = SmtpSink::start().await;
        let srv = start(db, &sink).await;
        // Transcripts off (the default, and the forms on): nothing queued.
        let off = srv.fixture("quiet").await;
        set_forms(&srv, "quiet", false).await;
        let (mut agent, _) = srv.online_agent("quiet", "agent").await;
        let c1 = chat(
            &srv,
            &off.tenant.widget_key,
            &mut agent,
            Some("ana@example.com"),
        )
        .await;
        // Transcripts on, but the visitor gave no address: nothing queued.
        let on = srv.fixture("skyway").await;
        set_forms(&srv, "skyway", true).await;
        let (mut agent2, _) = srv.online_agent("skyway", "agent").await;
        let c2 = chat(&srv, &on.tenant.widget_key, &mut agent2, None).await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert!(sink.mails().is_empty(), "{backend}");
        assert_eq!(sink.attempts(), 0);
        for (t, c) in [(&off.tenant.id, &c1), (&on.tenant.id, &c2)] {
            assert_eq!(
                srv.store().transcript_job(t, c).await.unwrap(),
                None,
                "{backend}"
            );
        }
        let db = srv.stop_keeping_db().await;

        // No mail server configured: a tenant with transcripts on and a visitor with an address get nothing.
        let srv = TestServer::start(db).await;
        let (mut agent2, _) = srv.online_agent("skyway", "agent").await;
        let c3 = chat(
            &srv,
            &on.tenant.widget_key,
            &mut agent2,
            Some("ana@example.com"),
        )
        .await;
        assert_eq!(
            srv.store()
                .transcript_job(&on.tenant.id, &c3)
                .await
                .unwrap(),
            None,
            "{backend}"
        );
        assert!(sink.mails().is_empty());
        srv.stop().await;
    }
}

#[tokio::test]
async fn a_refusal_for_now_is_retried_and_a_refusal_for_good_is_given_up() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let sink = SmtpSink::start().await;
        let srv = start(db, &sink).await;
        let fx = srv.fixture("skyway").await;
        set_forms(&srv, "skyway", true).await;
        let (mut agent, _) = srv.online_agent("skyway", "agent").await;

        // Twice 451, then accepted: three attempts, one mail.
        sink.refuse_next(2);
        let conv = chat(
            &srv,
            &fx.tenant.widget_key,
            &mut agent,
            Some("ana@example.com"),
        )
        .await;
        let mails = sink.wait_for(1, Duration::from_secs(15)).await;
        assert_eq!(mails.len(), 1, "{backend}");
        assert_eq!(sink.attempts(), 3, "{backend}");
        assert_no_card(&mails[0]);
        let job = srv
            .store()
            .transcript_job(&fx.tenant.id, &conv)
            .await
            .unwrap()
            .expect("a job");
        assert_eq!((job.attempts, job.sent_at.is_some()), (3, true), "{job:?}");

        // An address the server refuses for good (550): given up at the first attempt; the outbox keeps the
        // code, not the address or the server's text.
        let bounced = chat(
            &srv,
            &fx.tenant.widget_key,
            &mut agent,
            Some("bounce@example.com"),
        )
        .await;
        let start = std::time::Instant::now();
        let job = loop {
            let job = srv
                .store()
                .transcript_job(&fx.tenant.id, &bounced)
                .await
                .unwrap()
                .expect("a job");
            if job.failed_at.is_some() || start.elapsed() > Duration::from_secs(10) {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            job.failed_at.is_some() && job.sent_at.is_none(),
            "{backend}: {job:?}"
        );
        assert_eq!(job.attempts, 1, "{job:?}");
        let why = job.last_error.unwrap_or_default();
        assert!(why.contains("550"), "{why}");
        assert!(
            !why.contains("bounce") && !why.contains("no such user"),
            "{why}"
        );
        assert_eq!(sink.mails().len(), 1, "{backend}");
        srv.stop().await;
    }
}
