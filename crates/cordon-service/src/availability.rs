//! What a visitor sees before the first message (issue 20, item 2): how many agents are online and about how long
//! the wait is. Counted from the tenant's agents and queue and its recent chats, at most once every few seconds
//! per tenant in each process (a storm of visitors' `hello`s reads a cached answer), and sent in the visitor's
//! `welcome`. Counts and a duration only: no agent's name or id.
//!
//! The estimate (docs/PROTOCOL.md 7.1):
//! - no agent online: none (the widget offers to leave a message);
//! - an online agent has room: the median first-response time of the tenant's chats of the last 24 hours
//!   (none when there were none);
//! - every online agent is full: the chats ahead in the queue plus this one, times the median handle time of the
//!   last 24 hours, shared among the online agents (none without a handled chat to measure).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Result;
use crate::reports::{self, Timing};
use crate::Service;

/// How long one tenant's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// The recent chats the estimate is measured over.
const WINDOW_MS: i64 = 24 * 3_600_000;
/// At most this many recent chats are read for it.
const WINDOW_ROWS: i64 = 500;
/// Tenants whose answers one process keeps (the oldest go first beyond it).
const MAX_TENANTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Availability {
    /// Agents (and admins who take chats) online now.
    pub agents_online: i64,
    /// About how long until an agent answers, in seconds; absent when there is no estimate (see above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_estimate_secs: Option<i64>,
    /// The tenant's forms (contact.rs): ask name, email and a question before the first message; ask an email
    /// while no agent is online.
    pub prechat_form: bool,
    pub offline_form: bool,
}

/// Answers per tenant, each with when it was counted.
#[derive(Debug, Default)]
pub struct Cache {
    by_tenant: Mutex<HashMap<String, (Instant, Availability)>>,
}

impl Cache {
    fn get(&self, tenant_id: &str) -> Option<Availability> {
        let map = self.by_tenant.lock().ok()?;
        map.get(tenant_id)
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, a)| *a)
    }

    fn put(&self, tenant_id: &str, a: Availability) {
        if let Ok(mut map) = self.by_tenant.lock() {
            if map.len() >= MAX_TENANTS {
                map.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
            }
            map.insert(tenant_id.to_string(), (Instant::now(), a));
        }
    }
}

/// The estimate from the counts and the recent timings (pure, for the tests).
pub fn estimate(
    online: i64,
    with_room: i64,
    queued: i64,
    first_response: &Timing,
    handle: &Timing,
) -> Option<i64> {
    if online <= 0 {
        return None;
    }
    if with_room > 0 {
        return first_response.median_ms.map(|ms| (ms + 999) / 1000);
    }
    handle
        .median_ms
        .map(|ms| ((queued + 1) * ms / online + 999) / 1000)
}

/// The tenant's availability now (cached for a few seconds).
pub async fn for_tenant(svc: &Service, tenant_id: &str) -> Result<Availability> {
    if let Some(a) = svc.availability.get(tenant_id) {
        return Ok(a);
    }
    let s = svc.store.staffing(tenant_id).await?;
    let wait_estimate_secs = if s.online > 0 {
        let now = cordon_store::now_ms();
        let rows = svc
            .store
            .report_rows(tenant_id, now - WINDOW_MS, now + 1, WINDOW_ROWS)
            .await?;
        let (first, handle) = reports::recent_timings(&rows);
        estimate(s.online, s.with_room, s.queued, &first, &handle)
    } else {
        None
    };
    let forms = svc.store.chat_forms(tenant_id).await?;
    let a = Availability {
        agents_online: s.online,
        wait_estimate_secs,
        prechat_form: forms.prechat,
        offline_form: forms.offline,
    };
    svc.availability.put(tenant_id, a);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(median: Option<i64>) -> Timing {
        Timing {
            median_ms: median,
            ..Timing::default()
        }
    }

    #[test]
    fn the_estimate_follows_the_rules() {
        assert_eq!(estimate(0, 0, 3, &t(Some(30_000)), &t(Some(600_000))), None);
        assert_eq!(
            estimate(2, 1, 0, &t(Some(30_500)), &t(Some(600_000))),
            Some(31)
        );
        assert_eq!(estimate(2, 1, 0, &t(None), &t(Some(600_000))), None);
        // Two full agents, three waiting ahead: four chats of 10 minutes shared by two: 20 minutes.
        assert_eq!(
            estimate(2, 0, 3, &t(Some(30_000)), &t(Some(600_000))),
            Some(1200)
        );
        assert_eq!(estimate(1, 0, 0, &t(None), &t(None)), None);
    }
}
