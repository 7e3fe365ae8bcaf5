//! Operators (the platform's staff), their second factor and their sessions (issue 12). Nothing here reaches a
//! tenant's data: an operator row holds no tenant id.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::{now_ms, Result, Store, StoreError};

/// An operator, without any secret.
#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    pub id: String,
    pub name: String,
    pub disabled: bool,
    pub created_at: i64,
}

/// What a sign-in checks: the password hash and the wrapped TOTP secret. Never serialised.
#[derive(Debug, Clone)]
pub struct OperatorCredentials {
    pub operator: Operator,
    pub password_hash: String,
    pub totp_secret_wrapped: Vec<u8>,
}

/// A new operator: the secrets already hashed or wrapped by the caller.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub id: String,
    pub name: String,
    pub password_hash: String,
    pub totp_secret_wrapped: Vec<u8>,
    /// (code id, argon2 hash of the code's secret part)
    pub recovery_codes: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperatorSession {
    pub id: String,
    pub operator_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

const OPERATOR_COLS: &str = "o.id, o.name, o.disabled, o.created_at";
const SESSION_COLS: &str =
    "s.id, s.operator_id, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at";

fn operator_from_row(r: &AnyRow, at: usize) -> Result<Operator> {
    Ok(Operator {
        id: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        disabled: r.try_get::<i64, _>(at + 2)? != 0,
        created_at: r.try_get(at + 3)?,
    })
}

fn session_from_row(r: &AnyRow, at: usize) -> Result<OperatorSession> {
    Ok(OperatorSession {
        id: r.try_get(at)?,
        operator_id: r.try_get(at + 1)?,
        created_at: r.try_get(at + 2)?,
        last_seen_at: r.try_get(at + 3)?,
        expires_at: r.try_get(at + 4)?,
        revoked_at: r.try_get(at + 5)?,
    })
}

impl Store {
    pub async fn create_operator(&self, o: NewOperator, audit: &[AuditEntry]) -> Result<Operator> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO operators (id, name, password_hash, totp_secret_wrapped, totp_last_step, disabled, \
             created_at) VALUES ($1, $2, $3, $4, 0, 0, $5)",
        )
        .bind(&o.id)
        .bind(&o.name)
        .bind(&o.password_hash)
        .bind(o.totp_secret_wrapped.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if StoreError::is_unique_violation(&e) {
                StoreError::Conflict("an operator with this name already exists")
            } else {
                StoreError::Database(e)
            }
        })?;
        for (code_id, hash) in &o.recovery_codes {
            sqlx::query(
                "INSERT INTO operator_recovery_codes (operator_id, code_id, code_hash) VALUES ($1, $2, $3)",
            )
            .bind(&o.id)
            .bind(code_id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Operator {
            id: o.id,
            name: o.name,
            disabled: false,
            created_at: now,
        })
    }

    pub async fn list_operators(&self) -> Result<Vec<Operator>> {
        let rows = sqlx::query(&format!(
            "SELECT {OPERATOR_COLS} FROM operators o ORDER BY o.name"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| operator_from_row(r, 0)).collect()
    }

    pub async fn operator_by_name(&self, name: &str) -> Result<Option<Operator>> {
        let row = sqlx::query(&format!(
            "SELECT {OPERATOR_COLS} FROM operators o WHERE o.name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| operator_from_row(&r, 0)).transpose()
    }

    pub async fn operator_credentials(&self, name: &str) -> Result<Option<OperatorCredentials>> {
        let row = sqlx::query(&format!(
            "SELECT {OPERATOR_COLS}, o.password_hash, o.totp_secret_wrapped FROM operators o WHERE o.name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(OperatorCredentials {
            operator: operator_from_row(&r, 0)?,
            password_hash: r.try_get(4)?,
            totp_secret_wrapped: r.try_get(5)?,
        }))
    }

    /// Accept TOTP time step `step` for the operator only if it is later than every step accepted before: the
    /// one conditional UPDATE is what makes a replayed code fail on every node, even under a race.
    pub async fn consume_totp_step(&self, operator_id: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE operators SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(operator_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The hash of an unused recovery code, if there is one with this id.
    pub async fn unused_recovery_code(
        &self,
        operator_id: &str,
        code_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT code_hash FROM operator_recovery_codes WHERE operator_id = $1 AND code_id = $2 \
             AND used_at IS NULL",
        )
        .bind(operator_id)
        .bind(code_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Mark a recovery code used; false if it already was (a race between two sign-ins with the same code).
    pub async fn use_recovery_code(&self, operator_id: &str, code_id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE operator_recovery_codes SET used_at = $1 WHERE operator_id = $2 AND code_id = $3 \
             AND used_at IS NULL",
        )
        .bind(now_ms())
        .bind(operator_id)
        .bind(code_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn unused_recovery_codes(&self, operator_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM operator_recovery_codes WHERE operator_id = $1 AND used_at IS NULL",
        )
        .bind(operator_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn create_operator_session(
        &self,
        s: &OperatorSession,
        token_hash: &[u8],
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO operator_sessions (id, token_hash, operator_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(token_hash.to_vec())
        .bind(&s.operator_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A session live right now (not revoked, before its absolute end, not idle longer than `idle_ms`, its
    /// operator enabled), with its operator. Touches `last_seen_at` at most once a minute.
    pub async fn live_operator_session(
        &self,
        token_hash: &[u8],
        idle_ms: i64,
    ) -> Result<Option<(OperatorSession, Operator)>> {
        let now = now_ms();
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLS}, {OPERATOR_COLS} FROM operator_sessions s \
             JOIN operators o ON o.id = s.operator_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3 \
             AND o.disabled = 0"
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .bind(now - idle_ms)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let session = session_from_row(&r, 0)?;
        let operator = operator_from_row(&r, 6)?;
        if now - session.last_seen_at > 60_000 {
            sqlx::query("UPDATE operator_sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&session.id)
                .execute(self.pool())
                .await?;
        }
        Ok(Some((session, operator)))
    }

    /// Sessions of one operator (all of them, when `operator_id` is None), newest first.
    pub async fn operator_sessions(
        &self,
        operator_id: Option<&str>,
    ) -> Result<Vec<OperatorSession>> {
        let rows = match operator_id {
            Some(id) => {
                sqlx::query(&format!(
                    "SELECT {SESSION_COLS} FROM operator_sessions s WHERE s.operator_id = $1 \
                     ORDER BY s.created_at DESC"
                ))
                .bind(id)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {SESSION_COLS} FROM operator_sessions s ORDER BY s.created_at DESC"
                ))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(|r| session_from_row(r, 0)).collect()
    }

    /// Disable an operator and revoke all its sessions, in one transaction (a leaver, a lost second factor).
    /// NotFound if there is no such operator.
    pub async fn disable_operator(&self, name: &str, audit: &[AuditEntry]) -> Result<Operator> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {OPERATOR_COLS} FROM operators o WHERE o.name = $1"
        ))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let mut operator = operator_from_row(&row.ok_or(StoreError::NotFound)?, 0)?;
        let now = now_ms();
        sqlx::query("UPDATE operators SET disabled = 1 WHERE id = $1")
            .bind(&operator.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE operator_sessions SET revoked_at = $1 WHERE operator_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&operator.id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        operator.disabled = true;
        Ok(operator)
    }

    /// Revoke one session (of `operator_id` only, when given). NotFound if there was no live one.
    pub async fn revoke_operator_session(
        &self,
        session_id: &str,
        operator_id: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operator_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ($3 = '' OR operator_id = $3)",
        )
        .bind(now_ms())
        .bind(session_id)
        .bind(operator_id.unwrap_or(""))
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
