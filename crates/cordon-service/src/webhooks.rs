//! Webhooks (issue 16): a tenant's endpoints, signed requests, and the deliverer that drains the outbox.
//!
//! - **At least once.** Each event's outbox rows are committed with the event itself (triggers, migration 0009).
//!   The deliverer claims due rows under a lease, sends them, and settles each; a node that dies mid-send loses
//!   its lease and another node (or itself, restarted) sends again. Receivers deduplicate by `webhook-id`.
//! - **Signed.** Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
//!   of id.timestamp.body>`; the secret (`whsec_…`) is shown once, at creation, and kept wrapped by the master
//!   key.
//! - **No card numbers, no visitor text beyond the redacted message.** A message event's text is the stored,
//!   already-redacted text, opened within the tenant when the request is built.
//! - **SSRF.** An endpoint's host must resolve only to public addresses, checked at creation and again before
//!   every request, and the request goes to the address that was checked (no second lookup for an attacker's
//!   DNS to change). Redirects are not followed. `allow_private_targets` lifts the address rule (tests, or an
//!   operator whose receivers are internal).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use cordon_crypto::SecretKey;
use cordon_store::{ClaimedDelivery, NewWebhookEndpoint, WEBHOOK_EVENTS};
use serde_json::json;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::Service;

pub use cordon_store::{DeliveryState, WebhookDelivery, WebhookEndpoint};

/// How webhooks are sent (the operator's configuration).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow endpoints on loopback, private, link-local and other non-public addresses.
    pub allow_private_targets: bool,
    /// Attempts before a delivery goes to the dead letters.
    pub max_attempts: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_targets: false,
            max_attempts: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Wait before attempt n + 1 after n failures: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, then 4 h.
pub fn backoff(failures: u32) -> Duration {
    const STEPS: [u64; 8] = [5, 30, 120, 600, 1800, 3600, 7200, 14400];
    let i = (failures.max(1) as usize - 1).min(STEPS.len() - 1);
    Duration::from_secs(STEPS[i])
}

/// Most endpoints per tenant.
const MAX_ENDPOINTS: i64 = 20;
/// Rows claimed per round, and how long a claim holds.
const CLAIM_BATCH: i64 = 32;
const LEASE_MS: i64 = 60_000;
/// Most bytes of a receiver's answer kept as its error text.
const ERROR_CHARS: usize = 200;

fn secret_context(tenant_id: &str, endpoint_id: &str) -> String {
    format!("tenant {tenant_id} webhook {endpoint_id} secret")
}

/// Is this address one a webhook may never reach without the operator's leave? Loopback, private (RFC 1918,
/// ULA), link-local (cloud metadata at 169.254.169.254 among them), CGNAT, unspecified, multicast, broadcast,
/// documentation and benchmarking ranges, and IPv4 hidden in IPv6 (mapped, NAT64).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, CGNAT
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, protocol assignments
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
                || (s[0] == 0x64 && s[1] == 0xff9b) // 64:ff9b::/96, NAT64
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)
            // IPv4-compatible
        }
    }
}

/// A parsed endpoint URL: scheme, host and port, and the path to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

/// Check an endpoint URL's shape: `https://host[:port]/path` (or `http://` when private targets are allowed,
/// which is for receivers on the operator's own network), no credentials in it, at most 2,000 characters.
pub fn parse_target(url: &str, allow_private: bool) -> Result<Target> {
    let bad = |m: &'static str| Refusal::new(code::BAD_REQUEST, m);
    if url.len() > 2000 {
        return Err(bad("the URL is longer than 2,000 characters"));
    }
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad("a webhook URL starts with https://"));
    };
    if !https && !allow_private {
        return Err(bad("a webhook URL starts with https://"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("a webhook URL carries no user name or password"));
    }
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad("a webhook URL has no spaces or control characters"));
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or(bad("malformed IPv6 address in the URL"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("malformed port in the URL"))?,
            None if after.is_empty() => default_port,
            None => return Err(bad("malformed URL")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| bad("malformed port in the URL"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err(bad("a webhook URL names a host"));
    }
    Ok(Target {
        https,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// Resolve the target and check every address; answers the address to connect to.
pub async fn resolve_target(target: &Target, allow_private: bool) -> Result<SocketAddr> {
    let refused = || {
        Refusal::new(
            code::FORBIDDEN,
            "the webhook URL leads to a loopback, private or otherwise non-public address",
        )
    };
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|_| Refusal::new(code::BAD_REQUEST, "the webhook host does not resolve"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refusal::new(
            code::BAD_REQUEST,
            "the webhook host does not resolve",
        ));
    }
    // Every address, not only the first: a name with one public and one private address is refused, or a
    // client library's fallback would reach the private one.
    if !allow_private && addrs.iter().any(|a| is_non_public(a.ip())) {
        return Err(refused());
    }
    Ok(addrs[0])
}

fn check_events(events: &[String]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Ok(WEBHOOK_EVENTS.iter().map(|e| e.to_string()).collect());
    }
    let mut out = Vec::new();
    for e in events {
        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(Refusal::new(
                code::BAD_REQUEST,
                "unknown webhook event (see WEBHOOK_EVENTS in docs/WEBHOOKS.md)",
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Debug)]
pub struct CreatedEndpoint {
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of the 32-byte secret.
    pub secret: String,
}

fn admin_of(principal: &Principal) -> Result<&str> {
    principal.require(Scope::Admin)?;
    Ok(principal.tenant_id())
}

/// Add an endpoint (tenant admin). The URL is checked against SSRF now and before every request.
pub async fn create_endpoint(
    svc: &Service,
    principal: &Principal,
    url: &str,
    events: &[String],
    description: &str,
) -> Result<CreatedEndpoint> {
    let tenant_id = admin_of(principal)?;
    let allow_private = svc.settings.webhooks.allow_private_targets;
    let target = parse_target(url, allow_private)?;
    resolve_target(&target, allow_private).await?;
    let events = check_events(events)?;
    if description.chars().count() > 200 {
        return Err(Refusal::invalid(
            "the description is longer than 200 characters",
        ));
    }
    if !cordon_card::find(description).is_empty() || !cordon_card::find(url).is_empty() {
        return Err(Refusal::invalid(
            "a webhook's URL and description may not hold a card number",
        ));
    }
    if svc.store.webhook_endpoint_count(tenant_id).await? >= MAX_ENDPOINTS {
        return Err(Refusal::new(
            code::CONFLICT,
            "a tenant has at most 20 webhook endpoints",
        ));
    }
    let id = cordon_crypto::new_id("we");
    let secret = SecretKey::generate();
    let wrapped = svc
        .keys
        .master()
        .wrap(&secret_context(tenant_id, &id), &secret);
    let entry = audit::entry(
        tenant_id,
        &principal.actor(),
        Action::WebhookCreate,
        &format!("webhook:{id}"),
    );
    let endpoint = svc
        .store
        .create_webhook_endpoint(
            &NewWebhookEndpoint {
                id: id.clone(),
                tenant_id: tenant_id.to_string(),
                url: url.to_string(),
                secret_wrapped: wrapped,
                events,
                description: description.to_string(),
                created_by: principal.actor(),
            },
            &[entry],
        )
        .await?;
    Ok(CreatedEndpoint {
        endpoint,
        secret: format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(secret.dangerous_bytes())
        ),
    })
}

pub async fn list_endpoints(svc: &Service, principal: &Principal) -> Result<Vec<WebhookEndpoint>> {
    let tenant_id = admin_of(principal)?;
    let list = svc.store.webhook_endpoints(tenant_id).await?;
    let entry = audit::entry(
        tenant_id,
        &principal.actor(),
        Action::WebhooksList,
        "webhooks",
    );
    svc.store.append_audit_batch(&[entry]).await?;
    Ok(list)
}

pub async fn delete_endpoint(
    svc: &Service,
    principal: &Principal,
    endpoint_id: &str,
) -> Result<()> {
    let tenant_id = admin_of(principal)?;
    let entry = audit::entry(
        tenant_id,
        &principal.actor(),
        Action::WebhookDelete,
        &format!("webhook:{endpoint_id}"),
    );
    Ok(svc
        .store
        .delete_webhook_endpoint(tenant_id, endpoint_id, &[entry])
        .await?)
}

pub async fn list_deliveries(
    svc: &Service,
    principal: &Principal,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<WebhookDelivery>> {
    let tenant_id = admin_of(principal)?;
    let state = match state {
        None => None,
        Some(s) => Some(DeliveryState::parse(s).ok_or(Refusal::new(
            code::BAD_REQUEST,
            "state is pending, delivered or dead",
        ))?),
    };
    let list = svc
        .store
        .webhook_deliveries(tenant_id, state, limit)
        .await?;
    let entry = audit::entry(
        tenant_id,
        &principal.actor(),
        Action::WebhookDeliveriesList,
        "webhook_deliveries",
    );
    svc.store.append_audit_batch(&[entry]).await?;
    Ok(list)
}

/// Send a dead (or delivered) delivery again, with a fresh retry budget.
pub async fn redeliver(svc: &Service, principal: &Principal, delivery_id: &str) -> Result<()> {
    let tenant_id = admin_of(principal)?;
    let entry = audit::entry(
        tenant_id,
        &principal.actor(),
        Action::WebhookRedeliver,
        &format!("webhook_delivery:{delivery_id}"),
    );
    svc.store
        .redeliver_webhook(tenant_id, delivery_id, &[entry])
        .await?;
    svc.webhook_wake.notify_one();
    Ok(())
}

// ---- the deliverer ------------------------------------------------------------------------------------------

/// The request body of a delivery: `{"id", "type", "timestamp", "tenant_id", "data"}`; a message event's data
/// gains the stored (redacted) text.
async fn body(svc: &Service, d: &WebhookDelivery) -> std::result::Result<Vec<u8>, String> {
    let mut data: serde_json::Value =
        serde_json::from_str(&d.data).map_err(|_| "malformed event data".to_string())?;
    if let (Some(conv), Some(seq)) = (&d.conversation_id, d.seq) {
        let found = svc
            .store
            .message_at(&d.tenant_id, conv, seq)
            .await
            .map_err(|_| "could not read the message".to_string())?;
        let Some(m) = found else {
            return Err("the message is gone".into());
        };
        let mut names = crate::conversations::Names::default();
        let view = crate::messages::message_view(svc, &mut names, &d.tenant_id, &m)
            .await
            .map_err(|_| "the message could not be opened".to_string())?;
        data["text"] = json!(view.text);
        data["created_at"] = json!(view.created_at);
    }
    let body = json!({
        "id": d.id,
        "type": d.event,
        "timestamp": d.created_at,
        "tenant_id": d.tenant_id,
        "data": data,
    });
    serde_json::to_vec(&body).map_err(|_| "could not encode the event".to_string())
}

/// How one attempt ended.
enum Attempt {
    Delivered(u16),
    Failed(Option<u16>, String),
}

async fn attempt(svc: &Service, c: &ClaimedDelivery) -> Attempt {
    let settings = &svc.settings.webhooks;
    let d = &c.delivery;
    let target = match parse_target(&c.url, settings.allow_private_targets) {
        Ok(t) => t,
        Err(r) => return Attempt::Failed(None, r.message.to_string()),
    };
    // Checked again now: a name's addresses may have changed since the endpoint was created.
    let addr = match resolve_target(&target, settings.allow_private_targets).await {
        Ok(a) => a,
        Err(r) => return Attempt::Failed(None, r.message.to_string()),
    };
    let body = match body(svc, d).await {
        Ok(b) => b,
        Err(e) => return Attempt::Failed(None, e),
    };
    let secret = match svc.keys.master().unwrap_key(
        &secret_context(&d.tenant_id, &d.endpoint_id),
        &c.secret_wrapped,
    ) {
        Ok(s) => s,
        Err(_) => return Attempt::Failed(None, "the endpoint's secret cannot be opened".into()),
    };
    let ts = cordon_store::now_ms() / 1000;
    let signature = cordon_crypto::webhook_signature(secret.dangerous_bytes(), &d.id, ts, &body);
    // The checked address, pinned: the client does not look the name up again.
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .resolve(&target.host, addr)
        .user_agent(concat!("Cordon-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(_) => return Attempt::Failed(None, "could not build the HTTP client".into()),
    };
    let sent = client
        .post(&c.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Attempt::Delivered(resp.status().as_u16()),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let why = if resp.status().is_redirection() {
                "redirects are not followed".to_string()
            } else {
                let text = resp.text().await.unwrap_or_default();
                let text: String = text.chars().take(ERROR_CHARS).collect();
                format!("HTTP {status}: {text}")
            };
            Attempt::Failed(Some(status), why)
        }
        Err(e) if e.is_timeout() => Attempt::Failed(None, "timed out".into()),
        Err(e) if e.is_connect() => Attempt::Failed(None, "could not connect".into()),
        Err(_) => Attempt::Failed(None, "the request failed".into()),
    }
}

/// One round: claim what is due, send it (a few at a time), settle each. Answers how many were claimed.
pub async fn deliver_due(svc: &Service) -> Result<usize> {
    let mut claimed = svc
        .store
        .claim_webhook_deliveries(CLAIM_BATCH, LEASE_MS)
        .await?;
    let n = claimed.len();
    // One endpoint's deliveries go one after another, oldest event first, so a receiver sees them in order
    // while nothing fails (a retry comes later, out of order: each body carries its event's time); different
    // endpoints are sent to at once.
    claimed.sort_by(|a, b| {
        (&a.delivery.endpoint_id, a.delivery.created_at)
            .cmp(&(&b.delivery.endpoint_id, b.delivery.created_at))
    });
    let mut by_endpoint: Vec<Vec<ClaimedDelivery>> = Vec::new();
    for c in claimed {
        match by_endpoint.last_mut() {
            Some(group) if group[0].delivery.endpoint_id == c.delivery.endpoint_id => group.push(c),
            _ => by_endpoint.push(vec![c]),
        }
    }
    use futures_util::StreamExt as _;
    futures_util::stream::iter(by_endpoint.into_iter().map(|group| async move {
        for c in group {
            let outcome = attempt(svc, &c).await;
            settle(svc, &c, outcome).await;
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<()>>()
    .await;
    Ok(n)
}

/// Record one attempt's outcome: delivered, or failed with the next try (or the dead letters).
async fn settle(svc: &Service, c: &ClaimedDelivery, outcome: Attempt) {
    let max_attempts = i64::from(svc.settings.webhooks.max_attempts.max(1));
    let d = &c.delivery;
    let settled = match outcome {
        Attempt::Delivered(status) => {
            svc.metrics.webhooks_delivered.inc();
            svc.store.webhook_delivered(&d.id, i64::from(status)).await
        }
        Attempt::Failed(status, why) => {
            svc.metrics.webhooks_failed.inc();
            let failures = d.attempts + 1;
            let retry_at = (failures < max_attempts)
                .then(|| cordon_store::now_ms() + backoff(failures as u32).as_millis() as i64);
            tracing::info!(delivery = %d.id, endpoint = %d.endpoint_id, attempt = failures,
                dead = retry_at.is_none(), error = %why, "webhook delivery failed");
            svc.store
                .webhook_failed(&d.id, status.map(i64::from), &why, retry_at)
                .await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, delivery = %d.id, "could not record a webhook attempt");
    }
}

/// The deliverer of one process: a round every second (at once after a redelivery), more rounds at once while
/// rounds come back full.
pub fn spawn_deliverer(svc: Service) {
    tokio::spawn(async move {
        loop {
            match deliver_due(&svc).await {
                Ok(n) if n as i64 >= CLAIM_BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook round failed"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), svc.webhook_wake.notified()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "8.8.8.8",
        ] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_for_shape() {
        assert_eq!(
            parse_target("https://hooks.example.com/cordon", false).unwrap(),
            Target {
                https: true,
                host: "hooks.example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_target("http://127.0.0.1:9000/x", true).unwrap().port,
            9000
        );
        assert_eq!(
            parse_target("https://[::1]:8443/", true).unwrap().host,
            "::1"
        );
        for bad in [
            "http://hooks.example.com/",
            "ftp://x/",
            "https://user:pw@hooks.example.com/",
            "https:///path",
            "https://host:99999/",
            "https://host/a b",
        ] {
            assert!(parse_target(bad, false).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn names_and_literals_that_reach_private_addresses_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://localhost/",
            "https://[::1]/",
            "https://169.254.169.254/",
        ] {
            let t = parse_target(url, false).unwrap();
            assert!(resolve_target(&t, false).await.is_err(), "{url}");
            assert!(resolve_target(&t, true).await.is_ok(), "{url}");
        }
    }

    #[test]
    fn backoff_grows_and_stops_growing() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(30));
        assert_eq!(backoff(8), Duration::from_secs(14400));
        assert_eq!(backoff(50), Duration::from_secs(14400));
    }
}
