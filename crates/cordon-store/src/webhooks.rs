//! Webhooks (issue 16): a tenant's endpoints and the outbox of deliveries.
//!
//! Outbox rows are written by triggers in the same statement as the event (migration 0009), so this module only
//! reads, claims and settles them. Every query that a tenant's principal reaches takes the tenant id; the
//! deliverer's claim is the one query across tenants, and each row it returns carries its own tenant.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::{now_ms, Backend, Result, Store, StoreError};

/// The events an endpoint can subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "conversation.created",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.closed",
    "message.created",
    "visitor_request.completed",
    "operator_access.break_glass_requested",
    "operator_access.break_glass_approved",
];

/// Queue `event` for every enabled endpoint of the tenant that subscribes to it, inside the caller's transaction
/// (for events that no trigger writes: a visitor request).
pub(crate) async fn enqueue_event(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    tenant_id: &str,
    event: &str,
    data: &serde_json::Value,
) -> Result<()> {
    let id = match backend {
        Backend::Sqlite => "'wh_' || lower(hex(randomblob(12)))",
        Backend::Postgres => "'wh_' || replace(gen_random_uuid()::text, '-', '')",
    };
    let now = now_ms();
    sqlx::query(&format!(
        "INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, data, created_at, next_attempt_at) \
         SELECT {id}, $1, e.id, $2, $3, $4, $4 FROM webhook_endpoints e \
         WHERE e.tenant_id = $1 AND e.enabled = 1 AND e.events LIKE $5"
    ))
    .bind(tenant_id)
    .bind(event)
    .bind(data.to_string())
    .bind(now)
    .bind(format!("% {event} %"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A new endpoint; `secret_wrapped` is the signing secret wrapped by the master key (never stored in clear).
pub struct NewWebhookEndpoint {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub secret_wrapped: Vec<u8>,
    pub events: Vec<String>,
    pub description: String,
    pub created_by: String,
}

impl std::fmt::Debug for NewWebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhookEndpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet; `next_attempt_at` says when it is tried (again).
    Pending,
    Delivered,
    /// Given up after the last retry (the dead-letter view); a tenant admin can redeliver it.
    Dead,
}

impl DeliveryState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }

    fn condition(self) -> &'static str {
        match self {
            Self::Pending => "o.delivered_at IS NULL AND o.dead_at IS NULL",
            Self::Delivered => "o.delivered_at IS NOT NULL",
            Self::Dead => "o.dead_at IS NOT NULL",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookDelivery {
    pub id: String,
    pub tenant_id: String,
    pub endpoint_id: String,
    pub event: String,
    pub conversation_id: Option<String>,
    pub seq: Option<i64>,
    /// The event's data (JSON text); never visitor text.
    pub data: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub dead_at: Option<i64>,
    pub state: DeliveryState,
}

/// A claimed delivery with what the deliverer needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret_wrapped: Vec<u8>,
}

const ENDPOINT_COLS: &str =
    "id, tenant_id, url, events, enabled, description, created_by, created_at";
const DELIVERY_COLS: &str = "o.id, o.tenant_id, o.endpoint_id, o.event, o.conversation_id, o.seq, o.data, \
     o.created_at, o.attempts, o.next_attempt_at, o.last_status, o.last_error, o.delivered_at, o.dead_at";

/// `events` as stored: each type with a space before and after, so a trigger finds ` type ` with one search.
fn events_column(events: &[String]) -> String {
    let mut s = String::from(" ");
    for e in events {
        s.push_str(e);
        s.push(' ');
    }
    s
}

fn endpoint_from_row(r: &AnyRow) -> Result<WebhookEndpoint> {
    let events: String = r.try_get(3)?;
    Ok(WebhookEndpoint {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        url: r.try_get(2)?,
        events: events.split_whitespace().map(str::to_string).collect(),
        enabled: r.try_get::<i64, _>(4)? != 0,
        description: r.try_get(5)?,
        created_by: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<WebhookDelivery> {
    let delivered_at: Option<i64> = r.try_get(12)?;
    let dead_at: Option<i64> = r.try_get(13)?;
    let state = match (delivered_at, dead_at) {
        (Some(_), _) => DeliveryState::Delivered,
        (None, Some(_)) => DeliveryState::Dead,
        (None, None) => DeliveryState::Pending,
    };
    Ok(WebhookDelivery {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        endpoint_id: r.try_get(2)?,
        event: r.try_get(3)?,
        conversation_id: r.try_get(4)?,
        seq: r.try_get(5)?,
        data: r.try_get(6)?,
        created_at: r.try_get(7)?,
        attempts: r.try_get(8)?,
        next_attempt_at: r.try_get(9)?,
        last_status: r.try_get(10)?,
        last_error: r.try_get(11)?,
        delivered_at,
        dead_at,
        state,
    })
}

impl Store {
    pub async fn create_webhook_endpoint(
        &self,
        e: &NewWebhookEndpoint,
        audit: &[AuditEntry],
    ) -> Result<WebhookEndpoint> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, secret_wrapped, events, enabled, description, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(&e.tenant_id)
        .bind(&e.url)
        .bind(&e.secret_wrapped)
        .bind(events_column(&e.events))
        .bind(&e.description)
        .bind(&e.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(WebhookEndpoint {
            id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            enabled: true,
            description: e.description.clone(),
            created_by: e.created_by.clone(),
            created_at: now,
        })
    }

    pub async fn webhook_endpoints(&self, tenant_id: &str) -> Result<Vec<WebhookEndpoint>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id"
        ))
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    /// How many endpoints the tenant has (a tenant may have at most a few).
    pub async fn webhook_endpoint_count(&self, tenant_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Delete an endpoint of the tenant and its undelivered rows (NotFound for another tenant's id).
    pub async fn delete_webhook_endpoint(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM webhook_outbox WHERE tenant_id = $1 AND endpoint_id = $2")
            .bind(tenant_id)
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's deliveries, newest first, optionally in one state.
    pub async fn webhook_deliveries(
        &self,
        tenant_id: &str,
        state: Option<DeliveryState>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        let filter = state
            .map(|s| format!(" AND {}", s.condition()))
            .unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM webhook_outbox o WHERE o.tenant_id = $1{filter} \
             ORDER BY o.created_at DESC, o.id DESC LIMIT $2"
        ))
        .bind(tenant_id)
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Claim up to `limit` due deliveries for `lease_ms` (another node skips them meanwhile; a node that dies
    /// holding them loses the lease, and they are sent again: at least once). Oldest due first.
    pub async fn claim_webhook_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = now_ms();
        // A read first: the claim is a write, and on SQLite a write every second, even one that changes nothing,
        // takes the database's write lock from under the message writer (its commits then wait on the busy
        // handler; measured: p99 at 500 msg/s 6 -> 36 ms). Nothing is due most of the time.
        let due = sqlx::query(
            "SELECT 1 FROM webhook_outbox WHERE delivered_at IS NULL AND dead_at IS NULL \
             AND next_attempt_at <= $1 AND claimed_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // PostgreSQL: SKIP LOCKED so two nodes never claim one row; the outer recheck of claimed_until covers a
        // row whose claim committed between the subquery's snapshot and the update. SQLite has one writer.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let claimed: Vec<String> = {
            let rows = sqlx::query(&format!(
                "UPDATE webhook_outbox SET claimed_until = $1 \
                 WHERE id IN (SELECT id FROM webhook_outbox \
                              WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $2 \
                              AND claimed_until <= $2 ORDER BY next_attempt_at LIMIT $3{lock}) \
                 AND claimed_until <= $2 RETURNING id"
            ))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit.clamp(1, 1000))
            .fetch_all(self.pool())
            .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<_, _>>()?
        };
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // One read for the whole claim. A row whose endpoint was deleted after the claim is simply not found.
        let list: Vec<String> = (1..=claimed.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT {DELIVERY_COLS}, e.url, e.secret_wrapped FROM webhook_outbox o \
             JOIN webhook_endpoints e ON e.id = o.endpoint_id AND e.tenant_id = o.tenant_id \
             WHERE o.id IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in &claimed {
            q = q.bind(id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(ClaimedDelivery {
                delivery: delivery_from_row(row)?,
                url: row.try_get(14)?,
                secret_wrapped: row.try_get(15)?,
            });
        }
        Ok(out)
    }

    /// Record a successful delivery.
    pub async fn webhook_delivered(&self, id: &str, status: i64) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE webhook_outbox SET delivered_at = $1, attempts = attempts + 1, last_status = $2, \
             last_error = NULL, claimed_until = 0 WHERE id = $3",
        )
        .bind(now)
        .bind(status)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Record a failed attempt: retry at `retry_at`, or (None) give up: the row goes to the dead letters.
    pub async fn webhook_failed(
        &self,
        id: &str,
        status: Option<i64>,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_status = $1, last_error = $2, \
             next_attempt_at = COALESCE($3, next_attempt_at), dead_at = CASE WHEN $4 = 1 THEN $5 ELSE NULL END, \
             claimed_until = 0 WHERE id = $6",
        )
        .bind(status)
        .bind(error)
        .bind(retry_at)
        .bind(i64::from(retry_at.is_none()))
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Send a dead (or delivered) delivery again from now, with a fresh retry budget. NotFound for another
    /// tenant's id; Conflict when it is still pending (it will be tried anyway).
    pub async fn redeliver_webhook(
        &self,
        tenant_id: &str,
        delivery_id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_outbox SET dead_at = NULL, delivered_at = NULL, attempts = 0, next_attempt_at = $1, \
             claimed_until = 0 WHERE tenant_id = $2 AND id = $3 \
             AND (dead_at IS NOT NULL OR delivered_at IS NOT NULL)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let found =
                sqlx::query("SELECT 1 FROM webhook_outbox WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(delivery_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match found {
                Some(_) => StoreError::Conflict("the delivery is still pending"),
                None => StoreError::NotFound,
            });
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
