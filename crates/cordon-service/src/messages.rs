//! The message path, once for every sender: check → redact (with the split-card hold-back for visitors) → seal →
//! durable append → publish. Both sockets and the system messages go through it, so every path gets the same
//! guarantees; the text is checked once and redacted once on each.

use std::sync::Arc;

use cordon_crypto::MessagePlace;
use cordon_store::{
    AppendOutcome, AppendRequest, CardMention, CardMentionSource, SenderKind, StoredMessage,
};

use crate::conversations::Names;
use crate::error::{code, Refusal, Result};
use crate::hub::{Event, Topic};
use crate::protocol::{MessageView, Party, ServerFrame};
use crate::Service;

/// Who writes: a visitor, an agent or the system, in one tenant.
#[derive(Debug, Clone)]
pub struct Sender {
    pub tenant_id: String,
    pub kind: SenderKind,
    pub id: String,
    pub name: String,
}

impl Sender {
    pub fn system(tenant_id: &str) -> Sender {
        Sender {
            tenant_id: tenant_id.to_string(),
            kind: SenderKind::System,
            id: "system".into(),
            name: "Cordon".into(),
        }
    }

    /// How clients see the sender.
    pub fn party(&self) -> Party {
        party(self.kind, &self.id, &self.name)
    }
}

/// A message as its sender typed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Draft {
    pub conversation_id: String,
    pub client_msg_id: String,
    pub text: String,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the text: diagnostics carry no message content.
        f.debug_struct("Draft")
            .field("conversation_id", &self.conversation_id)
            .field("client_msg_id", &self.client_msg_id)
            .finish_non_exhaustive()
    }
}

/// A message accepted and durable.
#[derive(Debug, Clone)]
pub struct Sent {
    pub outcome: AppendOutcome,
    /// How many card numbers were masked in it (a piece of a split card counts as one).
    pub cards: usize,
}

/// Check a message text against the limits (on what the client typed, before masking).
pub fn check_text(text: &str, max_chars: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Refusal::new(code::TEXT_EMPTY, "message text is empty"));
    }
    if text.chars().count() > max_chars {
        return Err(Refusal::new(
            code::TEXT_TOO_LONG,
            format!("message text exceeds {max_chars} characters"),
        ));
    }
    Ok(())
}

pub fn party(kind: SenderKind, id: &str, name: &str) -> Party {
    Party {
        kind: kind.as_str(),
        id: id.to_string(),
        name: name.to_string(),
    }
}

/// Send one message: check, redact, seal, commit, publish. The ack (the returned `Sent`) exists only once the
/// message is committed.
pub async fn send(svc: &Service, sender: &Sender, draft: &Draft) -> Result<Sent> {
    check_text(&draft.text, svc.settings.max_text_chars)?;
    send_checked(svc, sender, draft).await
}

/// Send a message whose text was checked already (a visitor's, checked before the hold-back saw it).
pub async fn send_checked(svc: &Service, sender: &Sender, draft: &Draft) -> Result<Sent> {
    let redaction = cordon_card::redact(&draft.text);
    let cards = redaction.findings.len();
    let mentions = mentions_shown(&redaction.text, &redaction.findings);
    record_mentions(svc, sender, draft, mentions).await?;
    let prepared = prepare(
        svc,
        sender,
        draft,
        Arc::from(redaction.text.as_ref()),
        cards,
    )
    .await?;
    store(svc, prepared).await
}

/// Store messages the hold-back released (checked when they arrived, masked by the hold-back) together, so they
/// share one group commit rather than waiting for one commit each. Results are in the order given.
pub async fn send_released(
    svc: &Service,
    sender: &Sender,
    released: &[Release],
) -> Vec<Result<Sent>> {
    // Prepared one by one (that may read the tenant's key), then stored together: `store` queues for the group
    // commit at its first poll, so futures polled in order are committed in order.
    let mut prepared = Vec::with_capacity(released.len());
    for r in released {
        // Recorded before the append, like a single message's (see `record_mentions`).
        if let Err(refusal) = record_mentions(svc, sender, &r.draft, r.mentions.clone()).await {
            prepared.push(Err(refusal));
            continue;
        }
        // The hold-back's own redaction counted the cards; the store's counter sees only single-message ones.
        prepared.push(prepare(svc, sender, &r.draft, Arc::from(r.draft.text.as_str()), 0).await);
    }
    let results = futures_util::future::join_all(prepared.into_iter().map(|p| async move {
        match p {
            Ok(p) => store(svc, p).await,
            Err(refusal) => Err(refusal),
        }
    }))
    .await;
    results
        .into_iter()
        .zip(released)
        .map(|(result, r)| {
            result.map(|mut sent| {
                sent.cards += r.cards;
                sent
            })
        })
        .collect()
}

/// The cards a masked text shows as `[Brand •••• 1234]`, as (brand, last four). A card split across messages
/// has a finding in each piece but its mask only in the last, so it is recorded once, with that message.
fn mentions_shown(masked: &str, findings: &[cordon_card::Finding]) -> Vec<(&'static str, String)> {
    findings
        .iter()
        .filter(|f| masked.contains(&cordon_card::mask(f.brand, &f.last4)))
        .map(|f| (f.brand.name(), f.last4.clone()))
        .collect()
}

/// Record the card numbers masked in a message (brand and last four each, nothing more: `CardMention::new`
/// and the table's CHECKs refuse anything else) before the message is appended: a number typed into the chat
/// was exposed to whatever code ran there even if the message then fails to store. A separate write from the
/// append, because the group-commit writer batches appends alone; a retry with the same client id adds nothing.
async fn record_mentions(
    svc: &Service,
    sender: &Sender,
    draft: &Draft,
    mentions: Vec<(&'static str, String)>,
) -> Result<()> {
    if mentions.is_empty() {
        return Ok(());
    }
    let mut checked = Vec::with_capacity(mentions.len());
    for (brand, last4) in &mentions {
        checked.push(CardMention::new(brand, last4)?);
    }
    svc.store
        .record_card_mentions(
            CardMentionSource {
                tenant_id: sender.tenant_id.clone(),
                conversation_id: draft.conversation_id.clone(),
                sender_kind: sender.kind,
                sender_id: sender.id.clone(),
                client_msg_id: draft.client_msg_id.clone(),
            },
            checked,
        )
        .await?;
    Ok(())
}

/// A message checked, redacted and ready to seal: everything before the store.
struct Prepared {
    request: AppendRequest,
    masked: Arc<str>,
    cards: usize,
    sender: Party,
}

async fn prepare(
    svc: &Service,
    sender: &Sender,
    draft: &Draft,
    masked: Arc<str>,
    cards: usize,
) -> Result<Prepared> {
    let tenant_id = &sender.tenant_id;
    let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
    let (t, c, body) = (
        tenant_id.to_string(),
        draft.conversation_id.clone(),
        masked.clone(),
    );
    let seal = Box::new(move |seq: i64| {
        key.seal_message(
            MessagePlace {
                tenant_id: &t,
                conversation_id: &c,
                seq,
            },
            &body,
        )
    });
    Ok(Prepared {
        request: AppendRequest {
            tenant_id: tenant_id.to_string(),
            conversation_id: draft.conversation_id.clone(),
            sender_kind: sender.kind,
            sender_id: sender.id.clone(),
            client_msg_id: draft.client_msg_id.clone(),
            seal,
        },
        masked,
        cards,
        sender: sender.party(),
    })
}

/// Append a prepared message (durable when this returns) and publish it.
async fn store(svc: &Service, m: Prepared) -> Result<Sent> {
    let conversation_id = m.request.conversation_id.clone();
    let tenant_id = m.request.tenant_id.clone();
    let client_msg_id = m.request.client_msg_id.clone();
    let started = std::time::Instant::now();
    let outcome = svc.store.append_message(m.request).await?;
    svc.metrics.observe_commit(started.elapsed());
    if !outcome.duplicate {
        svc.metrics.messages_total.inc();
        svc.metrics.cards_redacted.add(m.cards as u64);
        let frame = ServerFrame::Message(MessageView {
            conversation_id: conversation_id.clone(),
            seq: outcome.seq,
            sender: m.sender,
            client_msg_id,
            text: m.masked.to_string(),
            created_at: outcome.created_at,
        });
        svc.hub.publish(
            &Topic::Conversation(tenant_id, conversation_id.clone()),
            Event::Message {
                conversation_id: Arc::from(conversation_id.as_str()),
                seq: outcome.seq,
                frame: Arc::from(frame.to_json()),
            },
        );
    }
    Ok(Sent {
        outcome,
        cards: m.cards,
    })
}

/// A system message in a conversation's history (agent joined, conversation closed, ...).
pub async fn system_message(svc: &Service, tenant_id: &str, conversation_id: &str, text: &str) {
    let draft = Draft {
        conversation_id: conversation_id.to_string(),
        client_msg_id: cordon_crypto::new_id("sys"),
        text: text.to_string(),
    };
    if let Err(r) = send(svc, &Sender::system(tenant_id), &draft).await {
        if r.code != code::CONVERSATION_CLOSED {
            tracing::warn!(code = r.code, "system message not stored");
        }
    }
}

// ---- the split-card hold-back (docs/CARD-REDACTION.md, "Split across messages") -------------------------

/// A held message released: its text masked over the pieces held with it, and whether a card was masked in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub draft: Draft,
    pub cards: usize,
    /// The cards whose mask this piece shows, as (brand, last four), recorded as card mentions.
    pub mentions: Vec<(&'static str, String)>,
}

/// What to do with a visitor's message, once the hold-back has seen it.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// A resend of a message being held: it is acknowledged when released.
    Resend,
    /// Store `release` (in order, together), then `single` on its own, if there is one (a message that is not a
    /// fragment; the hold-back did not mask it). A fragment held now appears in neither.
    Go {
        release: Vec<Release>,
        single: Option<Draft>,
    },
}

/// The hold-back of one visitor connection: a pure state machine over the fragments it holds. A visitor message
/// made only of digit groups that could begin a card waits, unacknowledged, for the next one; what to release
/// and what to keep is `cordon_card::hold_decision`. A zip-sized start (5 digits, at most 6 in all) is delivered
/// at once but remembered as *shown*, so that what completes a card with it is masked. The caller keeps the
/// time: it calls `release_all` when the fragment window passes.
#[derive(Debug, Default)]
pub struct HoldBack {
    /// Delivered already, as typed, and still part of the sequence (`cordon_card::HoldDecision::shown`).
    shown: Vec<Draft>,
    held: Vec<Draft>,
    /// Conversations this connection has written in, newest last (a few): in those, its own sequence is the one
    /// to follow, not the history ([`HoldBack::resume`]).
    written_in: Vec<String>,
}

/// How many conversations a hold-back remembers having written in (a visitor has one or two open at a time).
const WRITTEN_IN_MAX: usize = 8;

impl HoldBack {
    /// Is anything held or remembered (so a deadline is running: the window ends the sequence)?
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty() || !self.shown.is_empty()
    }

    /// A new connection goes on with a sequence an earlier one began: `shown` are the visitor's pieces delivered
    /// already that end the conversation's history ([`recent_fragments`]), oldest first. Without them a card
    /// typed as a zip-sized start, a reconnect, then the rest would reach the agent whole, in two messages.
    /// Only when nothing is held or remembered: this connection's own sequence is newer than any history.
    pub fn resume(&mut self, shown: Vec<Draft>) {
        if !self.is_holding() {
            self.shown = shown;
        }
    }

    /// Whether `draft` may go on with a sequence an earlier connection began, so that the caller should read the
    /// history and [`HoldBack::resume`] first: a fragment, in a conversation this connection has not written in,
    /// while nothing is held or remembered.
    pub fn may_resume(&self, draft: &Draft) -> bool {
        !self.is_holding()
            && !self.written_in.contains(&draft.conversation_id)
            && cordon_card::is_fragment(&draft.text)
    }

    /// A visitor message (its text already checked) arrives.
    pub fn offer(&mut self, draft: Draft) -> Offer {
        if !self.written_in.contains(&draft.conversation_id) {
            if self.written_in.len() == WRITTEN_IN_MAX {
                self.written_in.remove(0);
            }
            self.written_in.push(draft.conversation_id.clone());
        }
        let same = |h: &Draft| {
            h.client_msg_id == draft.client_msg_id && h.conversation_id == draft.conversation_id
        };
        if self.held.iter().any(same) {
            return Offer::Resend;
        }
        if self.shown.iter().any(same) {
            // Stored and acknowledged already: the store answers a resend with the first ack.
            return Offer::Go {
                release: Vec::new(),
                single: Some(draft),
            };
        }
        // Pieces are joined within one conversation only.
        let mut release = if self
            .shown
            .first()
            .or(self.held.first())
            .is_some_and(|h| h.conversation_id != draft.conversation_id)
        {
            self.release_all()
        } else {
            Vec::new()
        };
        if !cordon_card::is_fragment(&draft.text) {
            release.extend(self.release_all());
            return Offer::Go {
                release,
                single: Some(draft),
            };
        }
        self.held.push(draft);
        release.extend(self.settle());
        Offer::Go {
            release,
            single: None,
        }
    }

    /// Release what can no longer be part of a card, masking any card the held fragments form together.
    fn settle(&mut self) -> Vec<Release> {
        let (masked, shown) = {
            let shown: Vec<&str> = self.shown.iter().map(|h| h.text.as_str()).collect();
            let held: Vec<&str> = self.held.iter().map(|h| h.text.as_str()).collect();
            let d = cordon_card::hold_decision(&shown, &held);
            let masked: Vec<Masked> = d.release.into_iter().map(Masked::from).collect();
            (masked, d.shown)
        };
        let out: Vec<Draft> = self.held.drain(..masked.len()).collect();
        // The newest `shown` of the pieces delivered (before, and now) stay part of the sequence.
        self.shown.extend(out.iter().cloned());
        let done = self.shown.len().saturating_sub(shown);
        self.shown.drain(..done);
        Self::releases(out, masked)
    }

    /// The sequence ended (the window passed, or it was interrupted): release every held fragment, masking any
    /// card they form together.
    pub fn release_all(&mut self) -> Vec<Release> {
        let shown = std::mem::take(&mut self.shown);
        if self.held.is_empty() {
            return Vec::new();
        }
        let held = std::mem::take(&mut self.held);
        let masked: Vec<Masked> = {
            let shown: Vec<&str> = shown.iter().map(|h| h.text.as_str()).collect();
            let texts: Vec<&str> = held.iter().map(|h| h.text.as_str()).collect();
            cordon_card::release_held(&shown, &texts)
                .into_iter()
                .map(Masked::from)
                .collect()
        };
        Self::releases(held, masked)
    }

    fn releases(held: Vec<Draft>, masked: Vec<Masked>) -> Vec<Release> {
        held.into_iter()
            .zip(masked)
            .map(|(mut draft, m)| {
                draft.text = m.text;
                Release {
                    draft,
                    cards: m.cards,
                    mentions: m.mentions,
                }
            })
            .collect()
    }
}

/// One held piece after masking: its text, whether a card was masked in it, the cards it shows.
struct Masked {
    text: String,
    cards: usize,
    mentions: Vec<(&'static str, String)>,
}

impl From<cordon_card::Redaction<'_>> for Masked {
    fn from(r: cordon_card::Redaction<'_>) -> Self {
        let mentions = mentions_shown(&r.text, &r.findings);
        Masked {
            cards: r.findings.len().min(1),
            mentions,
            text: r.text.into_owned(),
        }
    }
}

/// The visitor's own pieces of a card sequence that end a conversation's history, oldest first: each a fragment
/// (`cordon_card::is_fragment`), the newest sent within `window_ms` of `now_ms` and each within `window_ms` of
/// the next, as the hold-back of one connection would still remember them ([`HoldBack::resume`]). Messages of
/// others in between are passed over, as they are by a connection's hold-back; a visitor message that is no
/// fragment ends the sequence. Only messages this visitor sent count, so another's conversation yields nothing.
pub async fn recent_fragments(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
    conversation_id: &str,
    now_ms: i64,
    window_ms: i64,
) -> Result<Vec<Draft>> {
    // A sequence holds at most MAX_FRAGMENTS pieces; a few more rows leave room for agents' replies between.
    let limit = 2 * cordon_card::MAX_FRAGMENTS as i64;
    let rows = svc
        .store
        .latest_messages(tenant_id, conversation_id, limit)
        .await?;
    let mut pieces = Vec::new();
    let mut after = now_ms;
    for m in &rows {
        if m.sender_kind != SenderKind::Visitor {
            continue;
        }
        if m.sender_id != visitor_id || after - m.created_at > window_ms {
            break;
        }
        let text = open_text(svc, tenant_id, m).await?;
        if !cordon_card::is_fragment(&text) || pieces.len() == cordon_card::MAX_FRAGMENTS {
            break;
        }
        after = m.created_at;
        pieces.push(Draft {
            conversation_id: m.conversation_id.clone(),
            client_msg_id: m.client_msg_id.clone(),
            text,
        });
    }
    pieces.reverse();
    Ok(pieces)
}

/// A stored message's text, opened with the tenant's data key.
async fn open_text(svc: &Service, tenant_id: &str, m: &StoredMessage) -> Result<String> {
    let key_id = cordon_crypto::sealed_key_id(&m.body).map_err(|e| {
        tracing::error!(error = %e, "sealed message malformed");
        Refusal::new(code::INTERNAL, "internal error")
    })?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    key.open_message(
        MessagePlace {
            tenant_id,
            conversation_id: &m.conversation_id,
            seq: m.seq,
        },
        &m.body,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "message failed to open");
        Refusal::new(code::INTERNAL, "internal error")
    })
}

/// Open a stored message for a reader of this tenant.
pub async fn message_view(
    svc: &Service,
    names: &mut Names,
    tenant_id: &str,
    m: &StoredMessage,
) -> Result<MessageView> {
    let text = open_text(svc, tenant_id, m).await?;
    let sender = match m.sender_kind {
        SenderKind::Agent => {
            let name = names.agent(svc, tenant_id, &m.sender_id).await;
            party(SenderKind::Agent, &m.sender_id, &name)
        }
        SenderKind::Visitor => party(SenderKind::Visitor, &m.sender_id, "Visitor"),
        SenderKind::System => party(SenderKind::System, "system", "Cordon"),
    };
    Ok(MessageView {
        conversation_id: m.conversation_id.clone(),
        seq: m.seq,
        sender,
        client_msg_id: m.client_msg_id.clone(),
        text,
        created_at: m.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(conversation: &str, id: &str, text: &str) -> Draft {
        Draft {
            conversation_id: conversation.into(),
            client_msg_id: id.into(),
            text: text.into(),
        }
    }

    fn go(offer: Offer) -> (Vec<Release>, Option<Draft>) {
        match offer {
            Offer::Go { release, single } => (release, single),
            Offer::Resend => panic!("not a resend"),
        }
    }

    #[test]
    fn plain_text_goes_straight_through() {
        let mut hb = HoldBack::default();
        let (release, single) = go(hb.offer(draft("c", "m1", "hello there")));
        assert!(release.is_empty());
        assert_eq!(single, Some(draft("c", "m1", "hello there")));
        assert!(!hb.is_holding());
    }

    #[test]
    fn a_card_in_pieces_is_held_then_masked_together() {
        let mut hb = HoldBack::default();
        for (i, piece) in ["4111", "1111", "1111"].iter().enumerate() {
            let (release, single) = go(hb.offer(draft("c", &format!("m{i}"), piece)));
            assert!(release.is_empty() && single.is_none(), "piece {i} is held");
        }
        assert!(hb.is_holding());
        let released = hb.release_all();
        assert!(!hb.is_holding());
        let texts: Vec<&str> = released.iter().map(|r| r.draft.text.as_str()).collect();
        assert_eq!(released.len(), 3);
        // Three pieces are not a whole card yet; the window passing releases them as they are.
        assert!(released.iter().all(|r| r.cards == 0), "{texts:?}");

        // A Mastercard is complete at 16 digits and cannot grow: its last piece releases it, masked.
        let (release, single) = go(hb.offer(draft("c", "n0", "5555 5555")));
        assert!(
            release.is_empty() && single.is_none(),
            "the first piece is held"
        );
        let (release, single) = go(hb.offer(draft("c", "n1", "5555 4444")));
        assert!(single.is_none());
        assert_eq!(release.len(), 2);
        assert!(
            release.iter().all(|r| r.cards == 1),
            "every piece is masked"
        );
        for r in &release {
            assert!(!r.draft.text.contains("5555 5555"), "{:?}", r.draft.text);
        }
        assert_eq!(release[0].draft.client_msg_id, "n0", "released in order");
    }

    #[test]
    fn a_resend_of_a_held_piece_waits_for_its_release() {
        let mut hb = HoldBack::default();
        go(hb.offer(draft("c", "m1", "4111")));
        assert_eq!(hb.offer(draft("c", "m1", "4111")), Offer::Resend);
        assert_eq!(hb.release_all().len(), 1, "held once");
    }

    #[test]
    fn a_zip_sized_start_is_delivered_and_the_card_it_begins_is_masked() {
        let mut hb = HoldBack::default();
        // Five digits go at once, as typed, and are remembered.
        let (release, single) = go(hb.offer(draft("c", "z1", "41111")));
        assert!(single.is_none());
        assert_eq!(release.len(), 1);
        assert_eq!(
            (release[0].draft.text.as_str(), release[0].cards),
            ("41111", 0)
        );
        assert!(hb.is_holding(), "remembered until the window passes");
        // A resend of it is stored (the store answers with the first ack), not joined again.
        let (release, single) = go(hb.offer(draft("c", "z1", "41111")));
        assert!(release.is_empty());
        assert_eq!(single, Some(draft("c", "z1", "41111")));
        // The rest of a Visa (which may still grow to 19 digits) is held, then masked.
        let (release, single) = go(hb.offer(draft("c", "z2", "11111111111")));
        assert!(release.is_empty() && single.is_none(), "the rest is held");
        let released = hb.release_all();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].draft.text, "[Visa •••• 1111]");
        assert_eq!(released[0].cards, 1);
        assert!(!hb.is_holding());
        // The window passing with only a shown piece ends the sequence: a later piece starts afresh.
        go(hb.offer(draft("c", "z3", "30301")));
        assert!(hb.release_all().is_empty());
        assert!(!hb.is_holding());
    }

    #[test]
    fn a_new_connection_resumes_the_sequence_an_earlier_one_began() {
        // The zip-sized start was delivered on the connection before; this one starts from the history.
        let mut hb = HoldBack::default();
        let rest = draft("c", "z2", "11111111111");
        assert!(hb.may_resume(&rest));
        assert!(!hb.may_resume(&draft("c", "t", "thanks")), "no fragment");
        hb.resume(vec![draft("c", "z1", "41111")]);
        let (release, single) = go(hb.offer(rest.clone()));
        assert!(release.is_empty() && single.is_none(), "the rest is held");
        let released = hb.release_all();
        assert_eq!(released[0].draft.text, "[Visa •••• 1111]");
        // Once this connection has written in the conversation, its own sequence is the one followed.
        assert!(!hb.may_resume(&draft("c", "z3", "4111")));
        assert!(hb.may_resume(&draft("other", "z3", "4111")));
        // A resend of the delivered start (its ack was lost with the old connection) is stored, not joined again.
        let mut hb = HoldBack::default();
        hb.resume(vec![draft("c", "z1", "41111")]);
        let (release, single) = go(hb.offer(draft("c", "z1", "41111")));
        assert!(release.is_empty());
        assert_eq!(single, Some(draft("c", "z1", "41111")));
        // Something held already is newer than any history.
        let mut hb = HoldBack::default();
        go(hb.offer(draft("d", "m1", "4111")));
        hb.resume(vec![draft("d", "old", "5555")]);
        assert_eq!(hb.release_all()[0].draft.text, "4111");
    }

    #[test]
    fn pieces_are_joined_within_one_conversation_only() {
        let mut hb = HoldBack::default();
        go(hb.offer(draft("a", "m1", "4111")));
        let (release, single) = go(hb.offer(draft("b", "m2", "4111")));
        assert!(single.is_none());
        assert_eq!(release.len(), 1);
        assert_eq!(release[0].draft.conversation_id, "a");
        assert!(hb.is_holding(), "b's piece is held");
    }
}
