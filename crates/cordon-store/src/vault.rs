//! The card vault's rows (issue 15): a tenant's payment settings, payment requests, and tokens with their
//! sealed cards. Sealing and opening happen in the service with the vault key; this module only ever sees
//! ciphertext. Every query takes the tenant id, except [`Store::payment_request_by_id`], which the vault form
//! needs before it knows the tenant (the row it returns carries the tenant, and the caller must still present
//! the request's form capability).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::{now_ms, Result, Store, StoreError};

/// A tenant's payment settings. The processor secret is wrapped; absent settings are all `None`/off.
#[derive(Clone, Default)]
pub struct PaymentSettings {
    pub processor_url: Option<String>,
    pub processor_secret_wrapped: Option<Vec<u8>>,
    pub detokenize_enabled: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

impl std::fmt::Debug for PaymentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentSettings")
            .field("processor_url", &self.processor_url)
            .field("detokenize_enabled", &self.detokenize_enabled)
            .finish_non_exhaustive()
    }
}

/// Where a payment request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentState {
    Open,
    Saved,
    Cancelled,
}

impl PaymentState {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "open" => Ok(Self::Open),
            "saved" => Ok(Self::Saved),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(StoreError::Corrupt("unknown payment request state")),
        }
    }
}

/// A payment an agent asked for in a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentRequest {
    pub id: String,
    pub tenant_id: String,
    pub conversation_id: String,
    pub visitor_id: String,
    pub requested_by: String,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    pub state: PaymentState,
    #[serde(skip)]
    pub form_token_hash: Option<Vec<u8>>,
    #[serde(skip)]
    pub form_expires_at: Option<i64>,
    pub token_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

/// A token and what may be shown of its card (brand, last four, expiry). `sealed` is the vault key's
/// ciphertext, never serialised.
#[derive(Clone, Serialize)]
pub struct VaultToken {
    pub id: String,
    pub tenant_id: String,
    pub visitor_id: String,
    pub conversation_id: String,
    pub request_id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    #[serde(skip)]
    pub key_id: i64,
    #[serde(skip)]
    pub sealed: Vec<u8>,
    pub created_at: i64,
    pub forward_count: i64,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for VaultToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultToken")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("brand", &self.brand)
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

const REQUEST_COLS: &str = "id, tenant_id, conversation_id, visitor_id, requested_by, amount_minor, currency, \
     description, state, form_token_hash, form_expires_at, token_id, created_at, expires_at, completed_at";
const TOKEN_COLS: &str =
    "id, tenant_id, visitor_id, conversation_id, request_id, brand, last4, exp_month, \
     exp_year, key_id, sealed, created_at, forward_count, last_used_at";

fn request_from_row(r: &AnyRow) -> Result<PaymentRequest> {
    let state: String = r.try_get(8)?;
    Ok(PaymentRequest {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        conversation_id: r.try_get(2)?,
        visitor_id: r.try_get(3)?,
        requested_by: r.try_get(4)?,
        amount_minor: r.try_get(5)?,
        currency: r.try_get(6)?,
        description: r.try_get(7)?,
        state: PaymentState::parse(&state)?,
        form_token_hash: r.try_get(9)?,
        form_expires_at: r.try_get(10)?,
        token_id: r.try_get(11)?,
        created_at: r.try_get(12)?,
        expires_at: r.try_get(13)?,
        completed_at: r.try_get(14)?,
    })
}

fn token_from_row(r: &AnyRow) -> Result<VaultToken> {
    Ok(VaultToken {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        visitor_id: r.try_get(2)?,
        conversation_id: r.try_get(3)?,
        request_id: r.try_get(4)?,
        brand: r.try_get(5)?,
        last4: r.try_get(6)?,
        exp_month: r.try_get(7)?,
        exp_year: r.try_get(8)?,
        key_id: r.try_get(9)?,
        sealed: r.try_get(10)?,
        created_at: r.try_get(11)?,
        forward_count: r.try_get(12)?,
        last_used_at: r.try_get(13)?,
    })
}

/// A new token: the sealed card and what may be shown of it.
pub struct NewVaultToken {
    pub id: String,
    pub tenant_id: String,
    pub request_id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub key_id: i64,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for NewVaultToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewVaultToken")
            .field("id", &self.id)
            .field("brand", &self.brand)
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub async fn payment_settings(&self, tenant_id: &str) -> Result<PaymentSettings> {
        let row = sqlx::query(
            "SELECT processor_url, processor_secret_wrapped, detokenize_enabled, updated_by, updated_at \
             FROM payment_settings WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => PaymentSettings {
                processor_url: r.try_get(0)?,
                processor_secret_wrapped: r.try_get(1)?,
                detokenize_enabled: r.try_get::<i64, _>(2)? != 0,
                updated_by: r.try_get(3)?,
                updated_at: r.try_get(4)?,
            },
            None => PaymentSettings::default(),
        })
    }

    /// Replace a tenant's payment settings, with `audit` in the same transaction.
    pub async fn set_payment_settings(
        &self,
        tenant_id: &str,
        settings: &PaymentSettings,
        updated_by: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO payment_settings (tenant_id, processor_url, processor_secret_wrapped, detokenize_enabled, \
             updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id) DO UPDATE SET processor_url = excluded.processor_url, \
             processor_secret_wrapped = excluded.processor_secret_wrapped, \
             detokenize_enabled = excluded.detokenize_enabled, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(settings.processor_url.clone())
        .bind(settings.processor_secret_wrapped.clone())
        .bind(i64::from(settings.detokenize_enabled))
        .bind(updated_by)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a new payment request (state `open`), with `audit` in the same transaction.
    pub async fn create_payment_request(
        &self,
        r: &PaymentRequest,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO payment_requests ({REQUEST_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, 'open', NULL, NULL, NULL, $9, $10, NULL)"
        ))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.conversation_id)
        .bind(&r.visitor_id)
        .bind(&r.requested_by)
        .bind(r.amount_minor)
        .bind(&r.currency)
        .bind(&r.description)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A payment request by id alone, for the vault form (which learns the tenant from it).
    pub async fn payment_request_by_id(&self, id: &str) -> Result<Option<PaymentRequest>> {
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLS} FROM payment_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    pub async fn payment_request(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<PaymentRequest>> {
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLS} FROM payment_requests WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Give an open request a new form capability (its hash), replacing any earlier one. `NotFound` unless the
    /// request is open and not expired.
    pub async fn set_payment_form(
        &self,
        tenant_id: &str,
        id: &str,
        form_token_hash: &[u8],
        form_expires_at: i64,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE payment_requests SET form_token_hash = $3, form_expires_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'open' AND expires_at > $5",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(form_token_hash.to_vec())
        .bind(form_expires_at)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Store a token and close its request as `saved`, in one transaction with `audit`. The request must still
    /// be open with the form capability whose hash is given (so two submissions of one form cannot both
    /// save): otherwise `Conflict`.
    pub async fn save_vault_token(
        &self,
        token: &NewVaultToken,
        form_token_hash: &[u8],
        audit: &[AuditEntry],
    ) -> Result<VaultToken> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE payment_requests SET state = 'saved', token_id = $3, completed_at = $4, \
             form_token_hash = NULL, form_expires_at = NULL \
             WHERE tenant_id = $1 AND id = $2 AND state = 'open' AND form_token_hash = $5 \
             AND form_expires_at > $4",
        )
        .bind(&token.tenant_id)
        .bind(&token.request_id)
        .bind(&token.id)
        .bind(now)
        .bind(form_token_hash.to_vec())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the payment request is no longer open",
            ));
        }
        sqlx::query(&format!(
            "INSERT INTO vault_tokens ({TOKEN_COLS}) \
             SELECT $1, $2, visitor_id, conversation_id, $3, $4, $5, $6, $7, $8, $9, $10, 0, NULL \
             FROM payment_requests WHERE tenant_id = $2 AND id = $3"
        ))
        .bind(&token.id)
        .bind(&token.tenant_id)
        .bind(&token.request_id)
        .bind(&token.brand)
        .bind(&token.last4)
        .bind(token.exp_month)
        .bind(token.exp_year)
        .bind(token.key_id)
        .bind(token.sealed.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM vault_tokens WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(&token.tenant_id)
        .bind(&token.id)
        .fetch_one(&mut *tx)
        .await?;
        let saved = token_from_row(&row)?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Cancel an open request (the agent changed their mind), with `audit`. `NotFound` unless open.
    pub async fn cancel_payment_request(
        &self,
        tenant_id: &str,
        id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE payment_requests SET state = 'cancelled', completed_at = $3, form_token_hash = NULL, \
             form_expires_at = NULL WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One token of a tenant, sealed card included.
    pub async fn vault_token(&self, tenant_id: &str, id: &str) -> Result<Option<VaultToken>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM vault_tokens WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// A tenant's tokens, newest first; of one conversation when given.
    pub async fn vault_tokens(
        &self,
        tenant_id: &str,
        conversation_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<VaultToken>> {
        let rows = match conversation_id {
            Some(c) => {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLS} FROM vault_tokens WHERE tenant_id = $1 AND conversation_id = $2 \
                     ORDER BY created_at DESC, id LIMIT $3"
                ))
                .bind(tenant_id)
                .bind(c)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLS} FROM vault_tokens WHERE tenant_id = $1 \
                     ORDER BY created_at DESC, id LIMIT $2"
                ))
                .bind(tenant_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(token_from_row).collect()
    }

    /// Count a use of a token (a forward or a detokenization), with `audit` in the same transaction: the use is
    /// on the record before the card leaves.
    pub async fn record_token_use(
        &self,
        tenant_id: &str,
        id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE vault_tokens SET forward_count = forward_count + 1, last_used_at = $3 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    async fn stores() -> Vec<(testing::TestDatabase, Store)> {
        let mut out = Vec::new();
        let mut dbs = vec![testing::sqlite()];
        if let Some(server) = testing::postgres_server() {
            dbs.push(testing::postgres(&server).await);
        }
        for db in dbs {
            let store = Store::open(&crate::StoreConfig::new(db.url.clone()))
                .await
                .unwrap();
            out.push((db, store));
        }
        out
    }

    async fn tenant(store: &Store, slug: &str) -> String {
        let id = format!("t_{slug}");
        sqlx::query(
            "INSERT INTO tenants (id, slug, display_name, widget_key, allowed_origins, identity_secret, created_at) \
             VALUES ($1, $2, $2, $3, '[]', $4, 0)",
        )
        .bind(&id)
        .bind(slug)
        .bind(format!("wk_{slug}"))
        .bind(vec![0u8; 8])
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query("INSERT INTO tenant_keys (tenant_id, key_id, wrapped, created_at) VALUES ($1, 1, $2, 0)")
            .bind(&id)
            .bind(vec![0u8; 8])
            .execute(store.pool())
            .await
            .unwrap();
        id
    }

    fn request(tenant_id: &str, id: &str) -> PaymentRequest {
        PaymentRequest {
            id: id.into(),
            tenant_id: tenant_id.into(),
            conversation_id: "c_1".into(),
            visitor_id: "v_1".into(),
            requested_by: "agent:a_1".into(),
            amount_minor: 4900,
            currency: "EUR".into(),
            description: "Change fee".into(),
            state: PaymentState::Open,
            form_token_hash: None,
            form_expires_at: None,
            token_id: None,
            created_at: now_ms(),
            expires_at: now_ms() + 3_600_000,
            completed_at: None,
        }
    }

    fn token(tenant_id: &str, request_id: &str, id: &str) -> NewVaultToken {
        NewVaultToken {
            id: id.into(),
            tenant_id: tenant_id.into(),
            request_id: request_id.into(),
            brand: "Visa".into(),
            last4: "1111".into(),
            exp_month: 12,
            exp_year: 2030,
            key_id: 1,
            sealed: vec![1, 2, 3],
        }
    }

    #[tokio::test]
    async fn a_request_saves_one_token_only_with_its_form_and_within_its_tenant() {
        for (_db, store) in stores().await {
            let a = tenant(&store, "alpha").await;
            let b = tenant(&store, "beta").await;
            store
                .create_payment_request(&request(&a, "pr_1"), &[])
                .await
                .unwrap();
            assert!(store.payment_request(&b, "pr_1").await.unwrap().is_none());
            assert_eq!(
                store
                    .payment_request_by_id("pr_1")
                    .await
                    .unwrap()
                    .unwrap()
                    .tenant_id,
                a
            );
            // No form yet: nothing saves.
            assert!(matches!(
                store
                    .save_vault_token(&token(&a, "pr_1", "tok_1"), &[9; 32], &[])
                    .await,
                Err(StoreError::Conflict(_))
            ));
            // Another tenant cannot give it a form.
            assert!(matches!(
                store
                    .set_payment_form(&b, "pr_1", &[7; 32], now_ms() + 60_000, &[])
                    .await,
                Err(StoreError::NotFound)
            ));
            store
                .set_payment_form(&a, "pr_1", &[7; 32], now_ms() + 60_000, &[])
                .await
                .unwrap();
            assert!(matches!(
                store
                    .save_vault_token(&token(&a, "pr_1", "tok_1"), &[8; 32], &[])
                    .await,
                Err(StoreError::Conflict(_))
            ));
            let saved = store
                .save_vault_token(&token(&a, "pr_1", "tok_1"), &[7; 32], &[])
                .await
                .unwrap();
            assert_eq!(
                (saved.visitor_id.as_str(), saved.conversation_id.as_str()),
                ("v_1", "c_1")
            );
            // The same form again: refused, the first token stands alone.
            assert!(matches!(
                store
                    .save_vault_token(&token(&a, "pr_1", "tok_2"), &[7; 32], &[])
                    .await,
                Err(StoreError::Conflict(_))
            ));
            let req = store.payment_request(&a, "pr_1").await.unwrap().unwrap();
            assert_eq!(req.state, PaymentState::Saved);
            assert_eq!(req.token_id.as_deref(), Some("tok_1"));
            assert!(req.form_token_hash.is_none());
            assert!(store.vault_token(&b, "tok_1").await.unwrap().is_none());
            assert_eq!(
                store
                    .vault_token(&a, "tok_1")
                    .await
                    .unwrap()
                    .unwrap()
                    .sealed,
                vec![1, 2, 3]
            );
            assert_eq!(
                store.vault_tokens(&a, Some("c_1"), 10).await.unwrap().len(),
                1
            );
            assert!(store.vault_tokens(&b, None, 10).await.unwrap().is_empty());
            assert!(matches!(
                store.record_token_use(&b, "tok_1", &[]).await,
                Err(StoreError::NotFound)
            ));
            store.record_token_use(&a, "tok_1", &[]).await.unwrap();
            assert_eq!(
                store
                    .vault_token(&a, "tok_1")
                    .await
                    .unwrap()
                    .unwrap()
                    .forward_count,
                1
            );
            // A cancelled request takes no form and no token.
            store
                .create_payment_request(&request(&a, "pr_2"), &[])
                .await
                .unwrap();
            store.cancel_payment_request(&a, "pr_2", &[]).await.unwrap();
            assert!(store
                .set_payment_form(&a, "pr_2", &[1; 32], now_ms() + 60_000, &[])
                .await
                .is_err());
            // Shredding the tenant's keys takes its cards and requests, and only its own.
            store
                .create_payment_request(&request(&b, "pr_3"), &[])
                .await
                .unwrap();
            store.shred_tenant_keys(&a, &[]).await.unwrap();
            assert!(store.vault_token(&a, "tok_1").await.unwrap().is_none());
            assert!(store.payment_request(&a, "pr_1").await.unwrap().is_none());
            assert!(store.payment_request(&b, "pr_3").await.unwrap().is_some());
            store.close().await;
        }
    }

    #[tokio::test]
    async fn settings_round_trip_per_tenant() {
        for (_db, store) in stores().await {
            let a = tenant(&store, "alpha").await;
            let b = tenant(&store, "beta").await;
            assert!(store
                .payment_settings(&a)
                .await
                .unwrap()
                .processor_url
                .is_none());
            let s = PaymentSettings {
                processor_url: Some("https://pay.example/charge".into()),
                processor_secret_wrapped: Some(vec![5; 40]),
                detokenize_enabled: true,
                ..Default::default()
            };
            store
                .set_payment_settings(&a, &s, "agent:a_1", &[])
                .await
                .unwrap();
            let got = store.payment_settings(&a).await.unwrap();
            assert_eq!(
                got.processor_url.as_deref(),
                Some("https://pay.example/charge")
            );
            assert!(got.detokenize_enabled);
            assert_eq!(got.updated_by.as_deref(), Some("agent:a_1"));
            assert!(!store.payment_settings(&b).await.unwrap().detokenize_enabled);
            store.close().await;
        }
    }
}
