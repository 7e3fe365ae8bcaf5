//! The security code, held in this process's memory only: at most [`CVV_TTL`], handed out once, zeroed when
//! it leaves. Never sealed, never stored, never logged (PCI DSS 3.3.1.2 forbids keeping it after
//! authorisation; we keep it only until the first use of the token or the time runs out).
//!
//! In a cluster the code stays on the node that captured it: a forward handled by another node goes without it
//! (docs/PAYMENTS.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How long a security code is held: 15 minutes at most.
pub const CVV_TTL: Duration = Duration::from_secs(15 * 60);
/// Most codes held at once; beyond it the oldest go first, so a flood of captures cannot grow memory.
pub const MAX_HELD: usize = 50_000;

/// Security codes by token id.
#[derive(Default)]
pub struct CvvHold {
    held: Mutex<HashMap<String, (Zeroizing<String>, Instant)>>,
}

impl std::fmt::Debug for CvvHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CvvHold(***)")
    }
}

impl CvvHold {
    /// Hold `cvv` for `token_id` from `now`.
    pub fn put(&self, token_id: &str, cvv: Zeroizing<String>, now: Instant) {
        // A poisoned lock means a panic elsewhere while holding it; the codes are then dropped, not used.
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        held.retain(|_, (_, at)| now.saturating_duration_since(*at) < CVV_TTL);
        while held.len() >= MAX_HELD {
            let oldest = held
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    held.remove(&k);
                }
                None => break,
            }
        }
        held.insert(token_id.to_string(), (cvv, now));
    }

    /// The code for `token_id`, removed: the first use takes it, a second finds none. `None` after the hold
    /// time, too.
    pub fn take(&self, token_id: &str, now: Instant) -> Option<Zeroizing<String>> {
        let mut held = self.held.lock().ok()?;
        let (cvv, at) = held.remove(token_id)?;
        (now.saturating_duration_since(at) < CVV_TTL).then_some(cvv)
    }

    /// Is a code held for `token_id` (and not yet past its time)? Looks only; takes nothing.
    pub fn is_held(&self, token_id: &str, now: Instant) -> bool {
        self.held.lock().is_ok_and(|h| {
            h.get(token_id)
                .is_some_and(|(_, at)| now.saturating_duration_since(*at) < CVV_TTL)
        })
    }

    /// Drop every code whose time is up (called now and then, so none outlives its time in memory).
    pub fn sweep(&self, now: Instant) {
        if let Ok(mut held) = self.held.lock() {
            held.retain(|_, (_, at)| now.saturating_duration_since(*at) < CVV_TTL);
        }
    }

    /// How many codes are held (for tests and `/metrics`).
    pub fn len(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_once_and_never_after_fifteen_minutes() {
        let hold = CvvHold::default();
        let t0 = Instant::now();
        hold.put("tok_a", Zeroizing::new("123".into()), t0);
        hold.put("tok_b", Zeroizing::new("456".into()), t0);
        assert_eq!(
            hold.take("tok_a", t0).as_deref().map(String::as_str),
            Some("123")
        );
        assert!(hold.take("tok_a", t0).is_none(), "dropped after first use");
        let late = t0 + CVV_TTL;
        assert!(hold.take("tok_b", late).is_none(), "not after 15 minutes");
        hold.put("tok_c", Zeroizing::new("789".into()), t0);
        hold.sweep(t0 + CVV_TTL + Duration::from_secs(1));
        assert!(hold.is_empty());
        assert!(!format!("{hold:?}").contains("789"));
    }
}
