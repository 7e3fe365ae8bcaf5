//! Transcript emails (issue 20, item 2): when a chat ends, its transcript mailed to the address the visitor gave
//! in a pre-chat or offline form, if the tenant turned transcripts on and the operator configured a mail server
//! (mail.rs). docs/TRANSCRIPT_EMAIL.md says what leaves Cordon and why.
//!
//! - **Durable, at most one per conversation.** The close queues a row in its own transaction (store:
//!   transcripts.rs), keyed by the conversation; a second close changes nothing and queues nothing. The sender
//!   claims due rows under a lease, composes, sends and settles each. A node that dies between the server's
//!   "250 OK" and the settle sends again after the lease (the Message-ID is the same, so a mail system can tell
//!   the two apart); nothing else sends twice.
//! - **Composed at send time** from what is stored: the visitor-visible messages in order (the visitor's, the
//!   agents' under their display names, the service's notes such as "… closed the chat"), UTC times, the
//!   tenant's display name in the subject. Internal notes, tags and priority are other tables and never read
//!   here; a file is listed by its (card-masked) name, never its contents.
//! - **No card numbers.** Every text is already masked before storage; each is run through
//!   `cordon_card::redact` again here, as is the visitor's name, and the HTML part escapes everything.
//! - **Nothing personal in logs.** Logs and the outbox's error column carry the conversation id, the attempt and
//!   the SMTP reply code, never an address, a name, the server's reply text or the password. Sent and given-up
//!   transcripts are audited (`transcript.emailed`, `transcript.email_failed`, target `conversation:<id>`).

use std::time::{Duration, SystemTime};

use cordon_store::{SenderKind, TranscriptJob};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::audit::{self, Action};
use crate::mail::{MailSettings, SmtpTls};
use crate::Service;

/// Rows claimed per round, and how long a claim holds (longer than one SMTP conversation's timeout).
const CLAIM_BATCH: i64 = 16;
const LEASE_MS: i64 = 120_000;
/// Most messages one transcript lists; a longer chat says where it was cut.
const MAX_MESSAGES: usize = 2000;
const PAGE: i64 = 500;

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub at_ms: i64,
    /// "You", the agent's display name, or the tenant's name for the service's own notes.
    pub who: String,
    pub text: String,
}

/// A composed transcript, before it becomes a MIME message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub tenant_name: String,
    pub conversation_id: String,
    pub started_ms: i64,
    pub lines: Vec<Line>,
    /// The chat had more messages than one transcript lists.
    pub truncated: bool,
}

/// Masked again, and stripped of control characters other than the line break (defence in depth: the stored
/// text is masked already).
fn clean(s: &str) -> String {
    cordon_card::redact(s)
        .text
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

/// `[file f_…] name (type, size)` (files.rs) reads as `Attachment: name (type, size)`; the file itself is not
/// attached.
fn message_text(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("[file ") {
        if let Some((id, after)) = rest.split_once("] ") {
            if id.starts_with("f_") && !id.contains(' ') {
                return format!("Attachment: {after}");
            }
        }
    }
    text.to_string()
}

/// `2026-05-01 14:03:09` (UTC) from milliseconds since the epoch.
pub fn utc(ms: i64) -> String {
    cordon_impact::time::format_seconds_readable(ms)
}

/// Text for the HTML part: the shared escape, and a line break for each newline of a message.
fn escape_html(s: &str) -> String {
    cordon_impact::render::html_escape(s).replace('\n', "<br>")
}

impl Transcript {
    pub fn subject(&self) -> String {
        let name: String = self
            .tenant_name
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        format!("Your chat with {name}")
    }

    pub fn plain(&self) -> String {
        let mut out = format!(
            "Your chat with {} on {} (times in UTC).\n\n",
            self.tenant_name,
            utc(self.started_ms)
        );
        for l in &self.lines {
            out.push_str(&format!("[{}] {}: {}\n", utc(l.at_ms), l.who, l.text));
        }
        if self.truncated {
            out.push_str(&format!(
                "\n(The chat went on; this transcript lists its first {MAX_MESSAGES} messages.)\n"
            ));
        }
        out.push_str(&format!(
            "\n--\nYou receive this because you gave this address in the chat with {}. Card numbers are masked. \
             Reference: {}\n",
            self.tenant_name, self.conversation_id
        ));
        out
    }

    pub fn html(&self) -> String {
        let name = escape_html(&self.tenant_name);
        let mut out = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Your chat with {name} on {} \
             (times in UTC).</p><table cellpadding=\"4\">",
            utc(self.started_ms)
        );
        for l in &self.lines {
            out.push_str(&format!(
                "<tr><td style=\"color:#666;white-space:nowrap\">{}</td><td><b>{}</b></td><td>{}</td></tr>",
                utc(l.at_ms),
                escape_html(&l.who),
                escape_html(&l.text)
            ));
        }
        out.push_str("</table>");
        if self.truncated {
            out.push_str(&format!(
                "<p>(The chat went on; this transcript lists its first {MAX_MESSAGES} messages.)</p>"
            ));
        }
        out.push_str(&format!(
            "<p style=\"color:#666\">You receive this because you gave this address in the chat with {name}. \
             Card numbers are masked. Reference: {}</p></body></html>",
            escape_html(&self.conversation_id)
        ));
        out
    }
}

/// Why one attempt did not send: `permanent` gives up at once (an address the server refuses, a message it
/// will never take, the chat's data gone); otherwise it is tried again later. `why` is for the outbox and the
/// log: a fixed phrase and the SMTP code, never the server's text (which may quote the address).
#[derive(Debug)]
struct Failure {
    permanent: bool,
    why: String,
}

impl Failure {
    fn permanent(why: impl Into<String>) -> Self {
        Failure {
            permanent: true,
            why: why.into(),
        }
    }
    fn transient(why: impl Into<String>) -> Self {
        Failure {
            permanent: false,
            why: why.into(),
        }
    }
}

/// Compose the conversation's transcript from what is stored.
async fn compose(svc: &Service, job: &TranscriptJob) -> Result<Transcript, Failure> {
    let tenant = svc
        .store
        .tenant(&job.tenant_id)
        .await
        .map_err(|_| Failure::permanent("the tenant is gone"))?;
    let conv = svc
        .store
        .conversation(&job.tenant_id, &job.conversation_id)
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::NotFound => Failure::permanent("the conversation is gone"),
            _ => Failure::transient("could not read the conversation"),
        })?;
    let tenant_name = clean(&tenant.display_name);
    let mut names = crate::conversations::Names::default();
    let mut lines = Vec::new();
    let mut after = 0;
    let mut truncated = false;
    'pages: loop {
        let page = svc
            .store
            .messages_after(&job.tenant_id, &job.conversation_id, after, PAGE)
            .await
            .map_err(|_| Failure::transient("could not read the messages"))?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for m in &page {
            if lines.len() >= MAX_MESSAGES {
                truncated = true;
                break 'pages;
            }
            let view = crate::messages::message_view(svc, &mut names, &job.tenant_id, m)
                .await
                .map_err(|_| Failure::permanent("a message could not be opened"))?;
            let who = match m.sender_kind {
                SenderKind::Visitor => "You".to_string(),
                SenderKind::Agent => clean(&view.sender.name),
                SenderKind::System => tenant_name.clone(),
            };
            lines.push(Line {
                at_ms: m.created_at,
                who,
                text: clean(&message_text(&view.text)),
            });
        }
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    Ok(Transcript {
        tenant_name,
        conversation_id: job.conversation_id.clone(),
        started_ms: conv.created_at,
        lines,
        truncated,
    })
}

fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_string()
}

/// The MIME message: From the operator's address, To the visitor's, plain text and an HTML alternative.
fn message(
    settings: &MailSettings,
    to_email: &str,
    to_name: Option<&str>,
    t: &Transcript,
) -> Result<Message, Failure> {
    let from: Mailbox = settings
        .from
        .as_deref()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| Failure::permanent("the From address is not configured"))?;
    let address = to_email
        .parse()
        .map_err(|_| Failure::permanent("the visitor's address is not valid for mail"))?;
    let to = Mailbox::new(to_name.map(clean), address);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(t.subject())
        // The same id on every attempt: a mail system can tell a resend after a crash from a second mail.
        .message_id(Some(format!(
            "<transcript.{}@{}>",
            t.conversation_id,
            domain_of(&from)
        )))
        .date(SystemTime::now())
        .multipart(MultiPart::alternative_plain_html(t.plain(), t.html()))
        .map_err(|_| Failure::permanent("the message could not be built"))
}

/// The transport to the operator's server (built per round: it holds the credentials only while it runs).
fn transport(settings: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, Failure> {
    let server = settings
        .smtp
        .as_ref()
        .ok_or_else(|| Failure::transient("no mail server is configured"))?;
    let tls_params = || {
        TlsParameters::new(server.host.clone())
            .map_err(|_| Failure::transient("could not set up TLS for the mail server"))
    };
    let tls = match server.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(tls_params()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_params()?),
    };
    let hello = settings
        .from
        .as_deref()
        .and_then(|f| f.parse::<Mailbox>().ok())
        .map(|m| ClientId::Domain(domain_of(&m)))
        .unwrap_or_default();
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.clone())
        .port(server.port)
        .tls(tls)
        .hello_name(hello)
        .timeout(Some(settings.timeout));
    if let Some((user, pass)) = server.credentials() {
        builder = builder.credentials(Credentials::new(user, pass));
    }
    Ok(builder.build())
}

/// What an SMTP error says, without the server's text.
fn smtp_failure(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string());
    let phrase = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_tls() {
        "TLS failed".to_string()
    } else if let Some(code) = &code {
        format!("the mail server answered {code}")
    } else if e.is_transient() {
        "the mail server refused for now".to_string()
    } else if e.is_permanent() {
        "the mail server refused".to_string()
    } else {
        "could not reach the mail server".to_string()
    };
    Failure {
        permanent: e.is_permanent(),
        why: phrase,
    }
}

async fn attempt(
    svc: &Service,
    smtp: &AsyncSmtpTransport<Tokio1Executor>,
    job: &TranscriptJob,
) -> Result<(), Failure> {
    let settings = &svc.settings.mail;
    // The address is opened now, not kept in the outbox: a visitor who is deleted before the send is not sent to.
    let contact = crate::contact::contact(svc, &job.tenant_id, &job.visitor_id)
        .await
        .map_err(|_| Failure::transient("could not open the visitor's contact"))?
        .ok_or_else(|| Failure::permanent("the visitor's contact is gone"))?;
    let transcript = compose(svc, job).await?;
    let mail = message(
        settings,
        &contact.email,
        contact.name.as_deref(),
        &transcript,
    )?;
    smtp.send(mail).await.map_err(|e| smtp_failure(&e))?;
    Ok(())
}

async fn settle(svc: &Service, job: &TranscriptJob, outcome: Result<(), Failure>) {
    let target = format!("conversation:{}", job.conversation_id);
    let failures = job.attempts + 1;
    let settled = match outcome {
        Ok(()) => {
            tracing::info!(conversation = %job.conversation_id, attempt = failures, "transcript emailed");
            let entry = audit::entry(
                &job.tenant_id,
                audit::SYSTEM_ACTOR,
                Action::TranscriptEmailed,
                &target,
            );
            svc.store
                .transcript_sent(&job.tenant_id, &job.conversation_id, &[entry])
                .await
        }
        Err(f) => {
            let max = i64::from(svc.settings.mail.max_attempts.max(1));
            let retry_at = (!f.permanent && failures < max).then(|| {
                cordon_store::now_ms()
                    + svc.settings.mail.backoff(failures as u32).as_millis() as i64
            });
            tracing::info!(conversation = %job.conversation_id, attempt = failures,
                given_up = retry_at.is_none(), error = %f.why, "transcript email failed");
            let entries = if retry_at.is_none() {
                vec![audit::entry(
                    &job.tenant_id,
                    audit::SYSTEM_ACTOR,
                    Action::TranscriptEmailFailed,
                    &target,
                )]
            } else {
                Vec::new()
            };
            svc.store
                .transcript_failed(
                    &job.tenant_id,
                    &job.conversation_id,
                    &f.why,
                    retry_at,
                    &entries,
                )
                .await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, conversation = %job.conversation_id, "could not record a transcript attempt");
    }
}

/// One round: claim what is due, send each (one SMTP conversation at a time), settle each. Answers how many
/// were claimed.
pub async fn send_due(svc: &Service) -> crate::error::Result<usize> {
    let jobs = svc.store.claim_transcripts(CLAIM_BATCH, LEASE_MS).await?;
    if jobs.is_empty() {
        return Ok(0);
    }
    let smtp = transport(&svc.settings.mail);
    for job in &jobs {
        let outcome = match &smtp {
            Ok(t) => attempt(svc, t, job).await,
            Err(f) => Err(Failure::transient(f.why.clone())),
        };
        settle(svc, job, outcome).await;
    }
    Ok(jobs.len())
}

/// The sender of one process, when mail is configured: a round every second (at once after a close), more
/// rounds at once while rounds come back full.
pub fn spawn_sender(svc: Service) {
    if !svc.settings.mail.enabled() {
        return;
    }
    tokio::spawn(async move {
        loop {
            match send_due(&svc).await {
                Ok(n) if n as i64 >= CLAIM_BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "transcript round failed"),
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(1), svc.transcript_wake.notified()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            tenant_name: "Skyway <Air> & Co".into(),
            conversation_id: "c_1".into(),
            started_ms: 0,
            lines: vec![
                Line {
                    at_ms: 1_000,
                    who: "You".into(),
                    text: clean("my card 4111 1111 1111 1111 <b>"),
                },
                Line {
                    at_ms: 61_000,
                    who: "Ana".into(),
                    text: clean(&message_text(
                        "[file f_abc] receipt.pdf (application/pdf, 2.0 KB)",
                    )),
                },
            ],
            truncated: false,
        }
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_709_210_096_000), "2024-02-29 12:34:56");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn the_transcript_holds_no_card_and_escapes_html() {
        let t = sample();
        let plain = t.plain();
        let html = t.html();
        for body in [&plain, &html] {
            assert!(!body.contains("4111 1111 1111 1111"), "{body}");
            assert!(cordon_card::find(body).is_empty(), "{body}");
        }
        assert!(
            plain.contains("[1970-01-01 00:00:01] You: my card"),
            "{plain}"
        );
        assert!(plain.contains("Ana: Attachment: receipt.pdf"), "{plain}");
        // The visitor's markup is text; only the transcript's own tags are tags.
        assert!(html.contains("1111] &lt;b&gt;</td>"), "{html}");
        assert!(html.contains("Skyway &lt;Air&gt; &amp; Co"), "{html}");
        assert_eq!(t.subject(), "Your chat with Skyway <Air> & Co");
    }

    #[test]
    fn a_message_is_built_for_the_visitor() {
        let mut settings = MailSettings::default();
        settings
            .configure(
                Some("smtp://127.0.0.1:2525"),
                Some("Chat <chat@cordon.example>"),
            )
            .unwrap();
        let m = message(&settings, "ana@example.com", Some("Ana"), &sample()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("To: Ana <ana@example.com>"), "{raw}");
        assert!(
            raw.contains("Message-ID: <transcript.c_1@cordon.example>"),
            "{raw}"
        );
        assert!(message(&settings, "not an address", None, &sample()).is_err());
    }
}
