//! Search of history by words in messages (issue 20, item 4), without weakening the sealing of bodies at rest.
//!
//! The design (docs/PERFORMANCE.md, "Search of history"): no index. A search opens, within the caller's tenant,
//! the messages of its most recent conversations, newest conversation first, up to a fixed budget
//! ([`MAX_SCANNED_CONVERSATIONS`], [`MAX_SCANNED_MESSAGES`]), and matches the words there, in memory. Nothing is
//! written for it: the database never holds a word, a hash of a word or a position, so it leaks nothing at rest
//! that the sealed bodies did not; the cost is paid per search (a bounded read and decryption), and older history
//! than the budget is not searched (the answer says when the budget was reached).
//!
//! Words: Unicode letters and digits, lowercased; a message matches when each word of the query begins a word of
//! the message. Card masks (`[Visa •••• 1111]`) are taken out before matching, so no search finds a masked card
//! by its last four, and a query holding a card number is refused before anything is read (it would otherwise be
//! a card number typed into a search box, kept in no log but still sent).

use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::conversations::{conversation_view, Names};
use crate::error::{Refusal, Result};
use crate::protocol::ConversationView;
use crate::Service;

/// The most recent conversations a search opens.
pub const MAX_SCANNED_CONVERSATIONS: i64 = 500;
/// The most messages a search opens, over all of them.
pub const MAX_SCANNED_MESSAGES: usize = 20_000;
/// Most words in a query, and the longest query.
pub const MAX_QUERY_WORDS: usize = 8;
pub const MAX_QUERY_CHARS: usize = 200;
/// Most hits one search answers.
pub const MAX_HITS: usize = 50;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    pub conversation: ConversationView,
    pub seq: i64,
    /// `visitor`, `agent` or `system`.
    pub sender_kind: String,
    /// The message text around the first word found (card numbers were masked before it was stored).
    pub snippet: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    /// Newest conversation first, then by seq.
    pub hits: Vec<SearchHit>,
    /// How many messages were opened.
    pub scanned_messages: usize,
    /// How many conversations were opened.
    pub scanned_conversations: usize,
    /// The budget ran out (older history was not searched) or the hit limit was reached.
    pub truncated: bool,
}

/// The words of a text: runs of letters and digits, lowercased, card masks left out.
pub fn words(text: &str) -> Vec<String> {
    let unmasked = strip_masks(text);
    unmasked
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The text without card masks (`[Brand •••• 1234]`).
fn strip_masks(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('•') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        match from.find(']') {
            Some(end) if from[..end].contains(" •••• ") => {
                out.push(' ');
                rest = &from[end + 1..];
            }
            _ => {
                out.push('[');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The query's words, checked.
pub fn query_words(q: &str) -> Result<Vec<String>> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Refusal::invalid("a search is at most 200 characters"));
    }
    if !cordon_card::find(q).is_empty() {
        return Err(Refusal::invalid(
            "search for words, not card numbers: card numbers are never stored",
        ));
    }
    let mut w = words(q);
    w.dedup();
    if w.is_empty() {
        return Err(Refusal::invalid("search for at least one word"));
    }
    if w.len() > MAX_QUERY_WORDS {
        return Err(Refusal::invalid("a search is at most 8 words"));
    }
    Ok(w)
}

/// Does every query word begin some word of the text?
pub fn matches(query: &[String], text_words: &[String]) -> bool {
    query
        .iter()
        .all(|q| text_words.iter().any(|w| w.starts_with(q.as_str())))
}

/// Up to 160 characters of `text` around the first place a query word begins a word.
pub fn snippet(text: &str, query: &[String]) -> String {
    let lower = text.to_lowercase();
    // Lowercasing can change byte lengths; only use the position when the two line up.
    let at = if lower.len() == text.len() {
        query
            .iter()
            .filter_map(|q| lower.find(q.as_str()))
            .min()
            .unwrap_or(0)
    } else {
        0
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let idx = chars.iter().position(|(b, _)| *b >= at).unwrap_or(0);
    let start = idx.saturating_sub(60);
    let end = (start + 160).min(chars.len());
    let mut s: String = chars[start..end].iter().map(|(_, c)| *c).collect();
    if start > 0 {
        s.insert(0, '…');
    }
    if end < chars.len() {
        s.push('…');
    }
    s
}

/// Search the tenant's recent history for messages holding every word of `q` (`conversations:read`; audited
/// `messages.search`, with no word of the query in the entry).
pub async fn search(
    svc: &Service,
    principal: &Principal,
    q: &str,
    limit: usize,
) -> Result<SearchResults> {
    principal.require(Scope::ConversationsRead)?;
    let query = query_words(q)?;
    let limit = limit.clamp(1, MAX_HITS);
    audit::record_read(
        svc,
        principal,
        Action::MessagesSearch,
        "conversations:search",
    )
    .await?;
    let tenant_id = principal.tenant_id();
    let filter = cordon_store::ConversationFilter {
        limit: MAX_SCANNED_CONVERSATIONS,
        ..Default::default()
    };
    let convs = svc.store.list_conversations(tenant_id, &filter).await?;
    let mut names = Names::default();
    let mut hits = Vec::new();
    let mut scanned = 0usize;
    let mut scanned_convs = 0usize;
    let mut truncated = convs.len() as i64 == MAX_SCANNED_CONVERSATIONS;
    'convs: for c in &convs {
        scanned_convs += 1;
        let mut after = 0;
        let mut view: Option<ConversationView> = None;
        loop {
            let page = svc
                .store
                .messages_after(tenant_id, &c.id, after, 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for m in &page {
                if scanned >= MAX_SCANNED_MESSAGES {
                    truncated = true;
                    break 'convs;
                }
                scanned += 1;
                let v = crate::messages::message_view(svc, &mut names, tenant_id, m).await?;
                if !matches(&query, &words(&v.text)) {
                    continue;
                }
                let conversation = match &view {
                    Some(v) => v.clone(),
                    None => {
                        let v = conversation_view(svc, &mut names, c).await;
                        view = Some(v.clone());
                        v
                    }
                };
                hits.push(SearchHit {
                    conversation,
                    seq: v.seq,
                    sender_kind: v.sender.kind.to_string(),
                    snippet: snippet(&v.text, &query),
                    created_at: v.created_at,
                });
                if hits.len() >= limit {
                    truncated = true;
                    break 'convs;
                }
            }
            if (page.len() as i64) < 1000 {
                break;
            }
        }
    }
    Ok(SearchResults {
        hits,
        scanned_messages: scanned,
        scanned_conversations: scanned_convs,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_masks_and_matching() {
        let w = words("My REFUND for order #A-1234, card [Visa •••• 1111] please");
        assert!(w.contains(&"refund".to_string()) && w.contains(&"1234".to_string()));
        assert!(!w.contains(&"1111".to_string()), "{w:?}");
        assert!(!w.contains(&"visa".to_string()), "{w:?}");
        let q = query_words("refund ORDER").unwrap();
        assert!(matches(&q, &w));
        assert!(matches(&query_words("refu").unwrap(), &w));
        assert!(!matches(&query_words("refund shipping").unwrap(), &w));
        assert!(!matches(&query_words("1111").unwrap(), &w));
        assert!(query_words("4111 1111 1111 1111").is_err());
        assert!(query_words("  ,, ").is_err());
        let nine: Vec<String> = (0..9).map(|i| format!("w{i}")).collect();
        assert!(query_words(&nine.join(" ")).is_err());
        assert_eq!(words("Ünïcode straße"), vec!["ünïcode", "straße"]);
        assert_eq!(strip_masks("a [b] c"), "a [b] c");
    }

    #[test]
    fn snippets_are_short_and_centred() {
        let text = format!(
            "{} the refund is on its way {}",
            "x".repeat(300),
            "y".repeat(300)
        );
        let s = snippet(&text, &["refund".to_string()]);
        assert!(s.contains("refund") && s.chars().count() <= 162, "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert_eq!(snippet("short", &["zzz".to_string()]), "short");
    }
}
