//! A short-lived cache of tenants by widget key, for `hello` (issue 13).
//!
//! Every visitor's `hello` names its tenant by widget key, and in a storm (thousands of new visitors a minute)
//! that lookup was a database read per session for a row that almost never changes. Entries live for
//! [`TENANT_CACHE_TTL`]; any change to a tenant made through this store clears the cache at once, and a change
//! made by another node (or a management command in another process) is seen here within the TTL, the same bound
//! as the data-key recheck (a shredded tenant's keys are re-read at least every 2 s). Unknown widget keys are not
//! cached: a flood of made-up keys must not fill memory, and each one is a cheap indexed miss.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::directory::Tenant;

/// How long a cached tenant is trusted without reading it again.
pub const TENANT_CACHE_TTL: Duration = Duration::from_secs(1);
/// Past this many cached tenants, the cache starts over (there are far fewer tenants than this in practice).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct TenantCache {
    by_widget_key: Mutex<HashMap<String, (Instant, Tenant)>>,
}

impl TenantCache {
    pub(crate) fn get(&self, widget_key: &str) -> Option<Tenant> {
        let map = self.by_widget_key.lock().ok()?;
        match map.get(widget_key) {
            Some((at, tenant)) if at.elapsed() < TENANT_CACHE_TTL => Some(tenant.clone()),
            _ => None,
        }
    }

    pub(crate) fn put(&self, tenant: &Tenant, read_at: Instant) {
        if let Ok(mut map) = self.by_widget_key.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(tenant.widget_key.clone(), (read_at, tenant.clone()));
        }
    }

    /// Forget everything: a tenant changed.
    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.by_widget_key.lock() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(key: &str) -> Tenant {
        Tenant {
            id: "t_1".into(),
            slug: "s".into(),
            display_name: "S".into(),
            widget_key: key.into(),
            allowed_origins: vec![],
            verify_identity: false,
            identity_secret_wrapped: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn entries_expire_and_clear() {
        let cache = TenantCache::default();
        cache.put(&tenant("wk_a"), Instant::now());
        assert!(cache.get("wk_a").is_some());
        assert!(cache.get("wk_b").is_none());
        cache.clear();
        assert!(cache.get("wk_a").is_none());
        let stale = Instant::now()
            .checked_sub(TENANT_CACHE_TTL + Duration::from_millis(1))
            .unwrap();
        cache.put(&tenant("wk_a"), stale);
        assert!(
            cache.get("wk_a").is_none(),
            "an entry older than the TTL is read again"
        );
    }
}
