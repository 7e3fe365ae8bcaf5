//! Back-off for failed credential checks: sign-in per account and per address, API keys and visitor tokens per
//! address.
//!
//! Each key (an account, a client address) may fail a few times for free; the failure that reaches the limit
//! begins a back-off, and each further failure after a back-off has run out begins one twice as long, up to a
//! cap. While a key is backing off, its attempts are refused before any credential is checked (`429` with
//! `Retry-After`), so a refused attempt neither tests a guess nor lengthens the back-off: nothing locks an
//! account for longer than the cap, and the real user can sign in as soon as a back-off ends. A success
//! forgives an account's failures; an address is forgiven only by time (`forget_after` without a failure).
//!
//! Attempts are counted when they begin, not only when they fail, so that a hundred parallel requests cannot all
//! pass the check before the first failure is recorded: once the next failure would begin a back-off, a key
//! gets one attempt at a time.
//!
//! State is in memory, per process: with several nodes each node keeps its own counts (docs/PROTOCOL.md §15.1).
//! Memory is bounded: each limiter holds at most `max_entries` keys, dropping forgotten ones first and then the
//! least significant (fewest failures, not backing off, oldest).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use cordon_store::AuditEntry;

use crate::error::{code, ApiError, ApiResult};
use crate::pipeline::Refusal;
use crate::AppState;

/// How one limiter counts failures and backs off. Part of [`crate::Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The failure that brings a key's count to this begins its first back-off (1 = the first failure does).
    pub failures_before_backoff: u32,
    /// The first back-off; each later one is twice the previous.
    pub first_backoff: Duration,
    /// No back-off is longer than this.
    pub max_backoff: Duration,
    /// A key with no failure and no back-off for this long starts over.
    pub forget_after: Duration,
    /// Most keys held at once.
    pub max_entries: usize,
}

impl Policy {
    /// The back-off that the `failures`-th failure begins, if any.
    fn backoff_for(&self, failures: u32) -> Option<Duration> {
        let free = self.failures_before_backoff.max(1);
        if failures < free {
            return None;
        }
        // 2^20 s is far beyond any sensible cap; bounding the exponent keeps the multiplication finite.
        let doublings = (failures - free).min(20);
        let backoff = self
            .first_backoff
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_backoff);
        Some(backoff.min(self.max_backoff))
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Attempts begun and not yet finished.
    pending: u32,
    blocked_until: Option<Instant>,
    last_activity: Instant,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Entry {
            failures: 0,
            pending: 0,
            blocked_until: None,
            last_activity: now,
        }
    }

    fn blocked_at(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// No failure, back-off or attempt left: nothing worth keeping.
    fn idle(&self) -> bool {
        self.failures == 0 && self.pending == 0 && self.blocked_until.is_none()
    }

    /// Whether the key has been quiet long enough to start over.
    fn stale(&self, policy: &Policy, now: Instant) -> bool {
        if self.pending > 0 || self.blocked_at(now).is_some() {
            return false;
        }
        let quiet_since = self
            .blocked_until
            .map_or(self.last_activity, |u| u.max(self.last_activity));
        now.saturating_duration_since(quiet_since) >= policy.forget_after
    }
}

/// One family of keys (accounts, or addresses) under one policy.
#[derive(Debug)]
pub struct Limiter<K> {
    policy: Policy,
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(policy: Policy) -> Self {
        Limiter {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Entry>> {
        // The map holds plain counters, each update complete before the lock is released: a panic elsewhere
        // cannot leave it half-changed, so a poisoned lock is safe to keep using.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Begin an attempt for `key`, or say how long to wait.
    pub fn begin(&self, key: K) -> Result<Attempt<'_, K>, Duration> {
        self.begin_at(key, Instant::now())
    }

    pub fn begin_at(&self, key: K, now: Instant) -> Result<Attempt<'_, K>, Duration> {
        let mut map = self.lock();
        if !map.contains_key(&key) {
            self.make_room(&mut map, now);
        }
        let entry = map.entry(key.clone()).or_insert_with(|| Entry::new(now));
        if entry.stale(&self.policy, now) {
            *entry = Entry::new(now);
        }
        if let Some(wait) = entry.blocked_at(now) {
            return Err(wait);
        }
        entry.blocked_until = None;
        // Once one more failure would begin a back-off, attempts go one at a time.
        let next_would_back_off =
            entry.failures + entry.pending + 1 >= self.policy.failures_before_backoff;
        if next_would_back_off && entry.pending > 0 {
            return Err(self.policy.first_backoff);
        }
        entry.pending += 1;
        entry.last_activity = now;
        Ok(Attempt {
            limiter: self,
            key: Some(key),
        })
    }

    /// How long `key` must still wait, if it is backing off. For limits whose attempts are not counted while
    /// in flight (see [`Limiter::fail_at`]).
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.lock().get(key).and_then(|e| e.blocked_at(now)) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Record a failure of `key` that was not begun with [`Limiter::begin`]: for secrets too long to guess (API
    /// keys, visitor tokens), where the limit is there to stop a flood of look-ups rather than a race of
    /// guesses, and where a busy client's valid requests must not queue behind each other. Returns the back-off
    /// this failure began, if any.
    pub fn fail(&self, key: K) -> Option<Duration> {
        self.fail_at(key, Instant::now())
    }

    pub fn fail_at(&self, key: K, now: Instant) -> Option<Duration> {
        let mut map = self.lock();
        if !map.contains_key(&key) {
            self.make_room(&mut map, now);
        }
        let entry = map.entry(key).or_insert_with(|| Entry::new(now));
        if entry.stale(&self.policy, now) {
            *entry = Entry::new(now);
        }
        Self::count_failure(&self.policy, entry, now)
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn count_failure(policy: &Policy, entry: &mut Entry, now: Instant) -> Option<Duration> {
        entry.last_activity = now;
        // Another attempt that ran alongside this one may already have begun the back-off.
        if entry.blocked_at(now).is_some() {
            return None;
        }
        entry.failures = entry.failures.saturating_add(1);
        let backoff = policy.backoff_for(entry.failures)?;
        entry.blocked_until = Some(now + backoff);
        Some(backoff)
    }

    fn finish(&self, key: &K, outcome: Outcome, now: Instant) -> Option<Duration> {
        let mut map = self.lock();
        // An entry evicted while its attempt ran comes back with that attempt's failure only.
        let entry = map.entry(key.clone()).or_insert_with(|| Entry {
            pending: 1,
            ..Entry::new(now)
        });
        entry.pending = entry.pending.saturating_sub(1);
        let mut began = None;
        match outcome {
            Outcome::Failed => began = Self::count_failure(&self.policy, entry, now),
            Outcome::Forgiven => {
                entry.failures = 0;
                entry.blocked_until = None;
            }
            Outcome::Neutral => {}
        }
        if entry.idle() {
            map.remove(key);
        }
        began
    }

    /// Keep the map under `max_entries`: drop forgotten keys, then the least significant tenth.
    fn make_room(&self, map: &mut HashMap<K, Entry>, now: Instant) {
        let cap = self.policy.max_entries.max(1);
        if map.len() < cap {
            return;
        }
        map.retain(|_, e| !e.stale(&self.policy, now));
        if map.len() < cap {
            return;
        }
        let mut ranked: Vec<(bool, u32, Instant, K)> = map
            .iter()
            .filter(|(_, e)| e.pending == 0)
            .map(|(k, e)| {
                (
                    e.blocked_at(now).is_some(),
                    e.failures,
                    e.last_activity,
                    k.clone(),
                )
            })
            .collect();
        let evict = (cap / 10).max(1).min(ranked.len());
        if evict == 0 {
            return;
        }
        ranked.select_nth_unstable_by(evict - 1, |a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        for (_, _, _, key) in ranked.into_iter().take(evict) {
            map.remove(&key);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Failed,
    /// Success that clears the key's failures (an account whose password was right).
    Forgiven,
    /// Success that leaves the count alone (an address: one good sign-in must not buy more guesses).
    Neutral,
}

/// An attempt in progress. Dropped unfinished (the client went away before the check ended), it counts as
/// neither failure nor success: the client learned nothing.
#[derive(Debug)]
pub struct Attempt<'a, K: Hash + Eq + Clone> {
    limiter: &'a Limiter<K>,
    key: Option<K>,
}

impl<K: Hash + Eq + Clone> Attempt<'_, K> {
    /// The credential was wrong. Returns the back-off this failure began, if it began one.
    pub fn failed(self) -> Option<Duration> {
        self.failed_at(Instant::now())
    }

    pub fn failed_at(mut self, now: Instant) -> Option<Duration> {
        let key = self.key.take()?;
        self.limiter.finish(&key, Outcome::Failed, now)
    }

    /// The credential was right: forget the key's failures.
    pub fn succeeded_and_forgive(mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.finish(&key, Outcome::Forgiven, Instant::now());
        }
    }

    /// The credential was right; the key's failures still count.
    pub fn succeeded(mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.finish(&key, Outcome::Neutral, Instant::now());
        }
    }
}

impl<K: Hash + Eq + Clone> Drop for Attempt<'_, K> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.finish(&key, Outcome::Neutral, Instant::now());
        }
    }
}

/// The address a limit counts: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64, since one host usually
/// holds a whole /64 and could otherwise step through it.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The address limits count for a request: its TCP peer. Without one (a router served without connect info, as
/// in some tests), every such request shares one key, so the limit still holds.
pub fn client_address(peer: Option<IpAddr>) -> IpAddr {
    address_key(peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
}

/// Which limit refused or began a back-off; the label of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginAccount,
    LoginAddress,
    ApiKeyAddress,
    VisitorTokenAddress,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::LoginAccount,
        Kind::LoginAddress,
        Kind::ApiKeyAddress,
        Kind::VisitorTokenAddress,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::LoginAccount => "login_account",
            Kind::LoginAddress => "login_address",
            Kind::ApiKeyAddress => "api_key_address",
            Kind::VisitorTokenAddress => "visitor_token_address",
        }
    }

    /// The audit action recorded when a back-off of this kind begins.
    fn action(self) -> &'static str {
        match self {
            Kind::LoginAccount | Kind::LoginAddress => "login.throttled",
            Kind::ApiKeyAddress => "apikey.throttled",
            Kind::VisitorTokenAddress => "visitor_token.throttled",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Every limiter of one process, with its counters.
#[derive(Debug)]
pub struct Throttles {
    pub login_account: Limiter<String>,
    pub login_address: Limiter<IpAddr>,
    pub api_key_address: Limiter<IpAddr>,
    pub visitor_token_address: Limiter<IpAddr>,
    backoffs: [AtomicU64; 4],
    refused: [AtomicU64; 4],
}

impl Throttles {
    pub fn new(limits: &crate::Limits) -> Self {
        Throttles {
            login_account: Limiter::new(limits.login_per_account),
            login_address: Limiter::new(limits.login_per_address),
            api_key_address: Limiter::new(limits.api_key_per_address),
            visitor_token_address: Limiter::new(limits.visitor_token_per_address),
            backoffs: Default::default(),
            refused: Default::default(),
        }
    }

    /// Count a refused attempt and build its answer: `429 rate_limited` with `Retry-After`.
    pub fn refuse(&self, state: &AppState, kind: Kind, wait: Duration) -> ApiError {
        self.refused[kind.index()].fetch_add(1, Ordering::Relaxed);
        state.metrics.error(code::RATE_LIMITED);
        let secs = retry_after_secs(wait);
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            format!("too many failed attempts; try again in {secs} s"),
        );
        err.retry_after_secs = Some(secs);
        err
    }

    /// A back-off of `kind` began: count it and record it, durably, in `log_id`'s audit log (a tenant id, or the
    /// platform log). `subject` names what backs off by id or keyed hash, never by anything typed.
    pub async fn began(
        &self,
        state: &AppState,
        kind: Kind,
        log_id: &str,
        subject: &str,
        backoff: Duration,
    ) -> ApiResult<()> {
        let entry = self.began_entry(kind, log_id, subject, backoff);
        crate::audit::record(state, vec![entry]).await
    }

    /// Count a back-off that began and build its audit entry, for a caller that records it with others.
    pub fn began_entry(
        &self,
        kind: Kind,
        log_id: &str,
        subject: &str,
        backoff: Duration,
    ) -> AuditEntry {
        self.backoffs[kind.index()].fetch_add(1, Ordering::Relaxed);
        let target = format!("{subject}#backoff={}s", retry_after_secs(backoff));
        crate::audit::entry(log_id, "system", kind.action(), &target)
    }

    /// Prometheus text for `/metrics`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "# HELP cordon_throttle_backoffs_total Back-offs begun after failed credential checks, by limit.\n# TYPE cordon_throttle_backoffs_total counter");
        for kind in Kind::ALL {
            let n = self.backoffs[kind.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "cordon_throttle_backoffs_total{{limit=\"{}\"}} {n}",
                kind.label()
            );
        }
        let _ = writeln!(out, "# HELP cordon_throttle_refused_total Attempts refused during a back-off (429 rate_limited), by limit.\n# TYPE cordon_throttle_refused_total counter");
        for kind in Kind::ALL {
            let n = self.refused[kind.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "cordon_throttle_refused_total{{limit=\"{}\"}} {n}",
                kind.label()
            );
        }
    }
}

/// The limit on unknown visitor tokens, as the visitor `hello` applies it (the socket answers with an `error`
/// frame, not an HTTP status).
#[derive(Debug)]
pub struct VisitorTokenLimit<'a> {
    state: &'a AppState,
    address: IpAddr,
}

impl<'a> VisitorTokenLimit<'a> {
    pub fn new(state: &'a AppState, peer: Option<IpAddr>) -> Self {
        VisitorTokenLimit {
            state,
            address: client_address(peer),
        }
    }

    /// Before the token is looked up: refused while the address backs off.
    pub fn check(&self) -> Result<(), Refusal> {
        let throttles = &self.state.throttle;
        throttles.visitor_token_address.check(&self.address).map_err(|wait| {
            throttles.refused[Kind::VisitorTokenAddress.index()].fetch_add(1, Ordering::Relaxed);
            Refusal::new(
                code::RATE_LIMITED,
                format!(
                    "too many unknown visitor tokens from your address; try again in {} s, or send hello without one",
                    retry_after_secs(wait)
                ),
            )
        })
    }

    /// The token matched no visitor of `tenant_id`: count it, and audit a back-off it begins in that tenant's log.
    pub async fn unknown(&self, tenant_id: &str) -> Result<(), Refusal> {
        let throttles = &self.state.throttle;
        let Some(backoff) = throttles.visitor_token_address.fail(self.address) else {
            return Ok(());
        };
        let subject = format!("addr:{}", self.state.keys.address_hash(self.address));
        throttles
            .began(
                self.state,
                Kind::VisitorTokenAddress,
                tenant_id,
                &subject,
                backoff,
            )
            .await
            .map_err(|e| Refusal::new(e.code, e.message))
    }
}

/// Whole seconds for `Retry-After`, rounded up so that a client waiting that long is let in.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(free: u32) -> Policy {
        Policy {
            failures_before_backoff: free,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            forget_after: Duration::from_secs(60),
            max_entries: 100,
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn back_off_begins_at_the_limit_and_doubles_to_the_cap() {
        let l = Limiter::new(policy(3));
        let t = Instant::now();
        assert_eq!(l.begin_at("a", t).unwrap().failed_at(t), None);
        assert_eq!(l.begin_at("a", t).unwrap().failed_at(t), None);
        assert_eq!(l.begin_at("a", t).unwrap().failed_at(t), Some(secs(1)));
        assert_eq!(l.begin_at("a", t).unwrap_err(), secs(1));
        let mut now = t;
        let mut seen = Vec::new();
        for _ in 0..6 {
            now += l.check_at(&"a", now).unwrap_err();
            seen.push(l.begin_at("a", now).unwrap().failed_at(now).unwrap());
        }
        assert_eq!(seen, [2, 4, 8, 8, 8, 8].map(secs), "doubling, capped");
    }

    #[test]
    fn refused_attempts_do_not_lengthen_the_back_off() {
        let l = Limiter::new(policy(1));
        let t = Instant::now();
        assert_eq!(l.begin_at("a", t).unwrap().failed_at(t), Some(secs(1)));
        for ms in [0, 200, 900] {
            let at = t + Duration::from_millis(ms);
            assert!(l.begin_at("a", at).is_err());
        }
        assert!(l.begin_at("a", t + secs(1)).is_ok(), "free once it ends");
    }

    #[test]
    fn success_forgives_an_account_but_not_an_address() {
        let account = Limiter::new(policy(2));
        let address = Limiter::new(policy(2));
        let t = Instant::now();
        account.begin_at("sam", t).unwrap().failed_at(t);
        address.begin_at("ip", t).unwrap().failed_at(t);
        account.begin_at("sam", t).unwrap().succeeded_and_forgive();
        address.begin_at("ip", t).unwrap().succeeded();
        assert_eq!(account.begin_at("sam", t).unwrap().failed_at(t), None);
        assert_eq!(
            address.begin_at("ip", t).unwrap().failed_at(t),
            Some(secs(1))
        );
        assert!(account.len() == 1 && address.len() == 1);
    }

    #[test]
    fn the_account_and_the_address_are_counted_apart() {
        // An attacker on address X pushes sam's account into back-off; sam's own address Y is untouched, and
        // sam signs in from Y once the account's back-off (capped) ends.
        let account = Limiter::new(policy(3));
        let address = Limiter::new(policy(10));
        let t = Instant::now();
        let mut began = None;
        for _ in 0..3 {
            let by_addr = address.begin_at("X", t).unwrap();
            began = account.begin_at("sam", t).unwrap().failed_at(t);
            by_addr.failed_at(t);
        }
        assert_eq!(began, Some(secs(1)));
        assert!(address.check_at(&"Y", t).is_ok());
        assert!(
            address.check_at(&"X", t).is_ok(),
            "X is under its own limit"
        );
        assert!(account.begin_at("sam", t).is_err(), "the account backs off");
        let later = t + secs(1);
        let _from_y = address.begin_at("Y", later).unwrap();
        account
            .begin_at("sam", later)
            .unwrap()
            .succeeded_and_forgive();
        assert!(account.is_empty(), "forgiven and dropped");
    }

    #[test]
    fn parallel_attempts_cannot_all_pass_before_the_first_failure() {
        let l = Limiter::new(policy(3));
        let t = Instant::now();
        let first = l.begin_at("a", t).unwrap();
        let second = l.begin_at("a", t).unwrap();
        assert!(
            l.begin_at("a", t).is_err(),
            "the third would reach the limit: one at a time"
        );
        drop(first);
        drop(second);
        let third = l.begin_at("a", t).unwrap();
        assert_eq!(third.failed_at(t), None);
    }

    #[test]
    fn failures_recorded_without_an_attempt_back_off_too() {
        let l = Limiter::new(policy(2));
        let t = Instant::now();
        assert!(l.check_at(&"ip", t).is_ok());
        assert_eq!(l.fail_at("ip", t), None);
        assert_eq!(l.fail_at("ip", t), Some(secs(1)));
        assert_eq!(l.fail_at("ip", t), None, "a back-off begins once");
        assert_eq!(l.check_at(&"ip", t), Err(secs(1)));
        assert!(l.check_at(&"ip", t + secs(1)).is_ok());
    }

    #[test]
    fn an_abandoned_attempt_counts_for_nothing() {
        let l = Limiter::new(policy(1));
        let t = Instant::now();
        drop(l.begin_at("a", t).unwrap());
        assert!(l.is_empty());
        assert!(l.begin_at("a", t).is_ok());
    }

    #[test]
    fn quiet_keys_are_forgotten() {
        let l = Limiter::new(policy(2));
        let t = Instant::now();
        l.begin_at("a", t).unwrap().failed_at(t);
        assert_eq!(
            l.begin_at("a", t + secs(59))
                .unwrap()
                .failed_at(t + secs(59)),
            Some(secs(1))
        );
        // Forgetting counts from the end of the back-off, so waiting one out does not also reset the count.
        let after = t + secs(59) + secs(1) + secs(60);
        assert_eq!(l.begin_at("a", after).unwrap().failed_at(after), None);
    }

    #[test]
    fn memory_is_bounded_and_back_offs_are_kept_longest() {
        let mut p = policy(1);
        p.max_entries = 50;
        let l = Limiter::new(p);
        let t = Instant::now();
        l.begin_at(u32::MAX, t).unwrap().failed_at(t);
        let mut p2 = policy(3);
        p2.max_entries = 50;
        let many = Limiter::new(p2);
        for i in 0..10_000u32 {
            many.begin_at(i, t).unwrap().failed_at(t);
            assert!(many.len() <= 50);
        }
        for i in 0..10_000u32 {
            l.begin_at(i, t).map(|a| a.failed_at(t)).ok();
            assert!(l.len() <= 50);
        }
        // Everything is backing off now; the oldest back-offs go first, and the map stays bounded.
        assert!(l.len() <= 50);
    }

    #[test]
    fn addresses_are_counted_by_host_and_v6_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(secs(900)), 900);
    }
}
