//! Operators: the platform's staff (issue 12). Each is a named account for one person, never shared, with a
//! password and a required second factor (RFC 6238 TOTP, or a one-time recovery code), and short sessions that
//! are listed and revocable. Sign-in backs off per account and per address (the `throttle` limits agents use)
//! and every attempt is audited in the platform log.
//!
//! An operator is a platform principal, and deliberately not an [`access::Principal`](crate::access::Principal):
//! no tenant use case takes an [`OperatorPrincipal`], so an operator has no standing access to any tenant's data
//! (the type system refuses it before any check has to).

use std::net::IpAddr;

use cordon_crypto::SecretKey;
use cordon_store::{NewOperator, Operator, OperatorCredentials, OperatorSession, PLATFORM_LOG};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};

use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::management::{validate_password, validate_username};
use crate::throttle::{self, Kind};
use crate::Service;

/// An operator session ends 12 h after sign-in, whatever happens.
pub const SESSION_ABSOLUTE_MS: i64 = 12 * 3600 * 1000;
/// ... and after 30 min without a request.
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;
/// RFC 6238 parameters every authenticator app accepts: SHA-1, 6 digits, 30 s steps.
const TOTP_STEP_SECS: u64 = 30;
const TOTP_DIGITS: usize = 6;
/// Steps either side of now that are accepted, for clock drift (RFC 6238 §5.2 recommends at most one).
const TOTP_SKEW_STEPS: u64 = 1;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The issuer shown in authenticator apps.
const ISSUER: &str = "Cordon";

/// A signed-in operator. Not a tenant principal: see the module documentation.
#[derive(Debug, Clone)]
pub struct OperatorPrincipal {
    pub session_id: String,
    pub operator: Operator,
}

impl OperatorPrincipal {
    /// The audit actor: ids only.
    pub fn actor(&self) -> String {
        actor_of(&self.operator.id)
    }
}

fn actor_of(operator_id: &str) -> String {
    format!("operator:{operator_id}")
}

/// An operator just created, with the secrets shown this once and never again: the TOTP secret as an otpauth
/// URI (for the authenticator app) and the recovery codes. Only a wrapped secret and argon2 hashes are stored.
#[derive(Debug)]
pub struct Enrolled {
    pub operator: Operator,
    pub otpauth_uri: String,
    /// The secret in base32, for apps that take it typed.
    pub totp_secret_base32: String,
    pub recovery_codes: Vec<String>,
}

/// The second factor given at sign-in.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactor<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
}

impl<'a> SecondFactor<'a> {
    /// Six digits are a TOTP code; anything else is taken as a recovery code.
    pub fn parse(given: &'a str) -> Option<SecondFactor<'a>> {
        let given = given.trim();
        if given.is_empty() {
            None
        } else if given.len() == TOTP_DIGITS && given.bytes().all(|b| b.is_ascii_digit()) {
            Some(SecondFactor::Totp(given))
        } else {
            Some(SecondFactor::RecoveryCode(given))
        }
    }
}

/// A session begun: the bearer token (shown once) and when it ends at the latest.
#[derive(Debug)]
pub struct SignedIn {
    pub operator: Operator,
    pub session_id: String,
    pub token: String,
    pub expires_at: i64,
}

fn totp_context(operator_id: &str) -> String {
    format!("operator-totp:{operator_id}")
}

pub(crate) fn totp_for(secret: &[u8], account: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        1,
        TOTP_STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.to_string()),
        account.to_string(),
    )
    // Only a secret under 128 bits or a name with ':' is refused; ours are 256 bits and validated names.
    .map_err(|_| Refusal::internal("TOTP parameters refused"))
}

/// The time step a code matches, within the skew, if any. Compared in constant time.
pub fn matching_step(totp: &TOTP, code: &str, now_secs: u64) -> Option<u64> {
    let current = now_secs / TOTP_STEP_SECS;
    let mut found = None;
    for step in current.saturating_sub(TOTP_SKEW_STEPS)..=current + TOTP_SKEW_STEPS {
        let expected = totp.generate(step * TOTP_STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// A recovery code: a clear id (so one argon2 check per attempt) and a secret part, `xxxxxx-xxxxxxxxxxxxxxxx`.
fn new_recovery_code() -> (String, String) {
    let bytes = SecretKey::generate();
    let b = bytes.dangerous_bytes();
    let id = hex::encode(&b[0..3]);
    let secret = hex::encode(&b[3..11]);
    (format!("{id}-{secret}"), id)
}

fn hash_secret(secret: &str) -> Result<String> {
    cordon_crypto::hash_password(secret).map_err(|_| Refusal::internal("could not hash a secret"))
}

/// Create a named operator (the CLI's `operator create`, run with database access by whoever onboards staff).
pub async fn create(svc: &Service, name: &str, password: &str, actor: &str) -> Result<Enrolled> {
    validate_username(name)?;
    validate_password(password)?;
    if svc.store.operator_by_name(name).await?.is_some() {
        return Err(Refusal::new(
            code::CONFLICT,
            "an operator with this name already exists",
        ));
    }
    let id = cordon_crypto::new_id("op");
    let secret = SecretKey::generate();
    let totp = totp_for(secret.dangerous_bytes(), name)?;
    let wrapped = svc.keys.master().wrap(&totp_context(&id), &secret);
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut stored = Vec::with_capacity(RECOVERY_CODES);
    let password = password.to_string();
    // Argon2 eleven times is slow on purpose: off the async threads.
    let (password_hash, codes) = tokio::task::spawn_blocking(move || {
        let mut codes = Vec::new();
        for _ in 0..RECOVERY_CODES {
            let (code, code_id) = new_recovery_code();
            let hash = hash_secret(&code);
            codes.push((code, code_id, hash));
        }
        (hash_secret(&password), codes)
    })
    .await
    .map_err(|_| Refusal::internal("hashing task failed"))?;
    for (code, code_id, hash) in codes {
        stored.push((code_id, hash?));
        shown.push(code);
    }
    let operator = svc
        .store
        .create_operator(
            NewOperator {
                id: id.clone(),
                name: name.to_string(),
                password_hash: password_hash?,
                totp_secret_wrapped: wrapped,
                recovery_codes: stored,
            },
            &[audit::platform_entry(
                actor,
                Action::OperatorCreate,
                &actor_of(&id),
            )],
        )
        .await?;
    Ok(Enrolled {
        operator,
        otpauth_uri: totp.get_url(),
        totp_secret_base32: totp.get_secret_base32(),
        recovery_codes: shown,
    })
}

pub async fn list(svc: &Service, actor: &str) -> Result<Vec<Operator>> {
    let operators = svc.store.list_operators().await?;
    audit::record(
        svc,
        vec![audit::platform_entry(
            actor,
            Action::OperatorsList,
            "operators",
        )],
    )
    .await?;
    Ok(operators)
}

fn bad_credentials() -> Refusal {
    // One answer for a wrong name, password or code: which one was wrong is in the audit log, not the reply.
    Refusal::new(code::BAD_CREDENTIALS, "wrong name, password or code")
}

/// Why a sign-in failed, as the audit entry's target says it (fixed words, never what was typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    NoSecondFactor,
    Password,
    Totp,
    TotpReplayed,
    RecoveryCode,
}

impl Failure {
    fn label(self) -> &'static str {
        match self {
            Failure::NoSecondFactor => "second_factor_missing",
            Failure::Password => "password",
            Failure::Totp => "totp",
            Failure::TotpReplayed => "totp_replayed",
            Failure::RecoveryCode => "recovery_code",
        }
    }
}

async fn verify_secret(given: &str, hash: Option<String>) -> bool {
    let given = given.to_string();
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => cordon_crypto::verify_password(&given, &hash),
        None => {
            cordon_crypto::verify_password(&given, cordon_crypto::dummy_password_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Check the second factor of an operator whose password was right. A TOTP code is accepted once: its time step
/// must be later than the last one accepted (RFC 6238 §5.2), decided in the database.
async fn check_second_factor(
    svc: &Service,
    creds: &OperatorCredentials,
    factor: SecondFactor<'_>,
    now_secs: u64,
) -> Result<std::result::Result<Option<Action>, Failure>> {
    let operator = &creds.operator;
    match factor {
        SecondFactor::Totp(code) => {
            let secret = svc
                .keys
                .master()
                .unwrap_key(&totp_context(&operator.id), &creds.totp_secret_wrapped)
                .map_err(|_| Refusal::internal("an operator's TOTP secret does not unwrap"))?;
            let totp = totp_for(secret.dangerous_bytes(), &operator.name)?;
            let Some(step) = matching_step(&totp, code, now_secs) else {
                return Ok(Err(Failure::Totp));
            };
            let step = i64::try_from(step).map_err(|_| Refusal::internal("time step"))?;
            if svc.store.consume_totp_step(&operator.id, step).await? {
                Ok(Ok(None))
            } else {
                Ok(Err(Failure::TotpReplayed))
            }
        }
        SecondFactor::RecoveryCode(code) => {
            let code_id = code.split_once('-').map_or("", |(id, _)| id);
            let hash = if code_id.len() == 6 && code_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                svc.store
                    .unused_recovery_code(&operator.id, &code_id.to_ascii_lowercase())
                    .await?
            } else {
                None
            };
            let known = hash.is_some();
            let ok = verify_secret(&code.to_ascii_lowercase(), hash).await;
            if ok
                && known
                && svc
                    .store
                    .use_recovery_code(&operator.id, &code_id.to_ascii_lowercase())
                    .await?
            {
                Ok(Ok(Some(Action::OperatorRecoveryCodeUse)))
            } else {
                Ok(Err(Failure::RecoveryCode))
            }
        }
    }
}

pub(crate) fn now_secs() -> u64 {
    u64::try_from(cordon_store::now_ms() / 1000).unwrap_or(0)
}

/// Sign an operator in with name, password and second factor. The address limit is checked before anything is
/// looked up, the account's before the password; a missing second factor is refused before the password is
/// tested, so it reveals nothing and tests nothing, but it is audited like any failed sign-in.
pub async fn sign_in(
    svc: &Service,
    name: &str,
    password: &str,
    second_factor: Option<&str>,
    peer: IpAddr,
) -> Result<SignedIn> {
    sign_in_at(svc, name, password, second_factor, peer, now_secs()).await
}

/// [`sign_in`] at a given time (seconds since the epoch), for tests of the TOTP window.
pub async fn sign_in_at(
    svc: &Service,
    name: &str,
    password: &str,
    second_factor: Option<&str>,
    peer: IpAddr,
    now_secs: u64,
) -> Result<SignedIn> {
    let throttles = &svc.throttle;
    let address = throttle::address_key(peer);
    let by_address = throttles
        .login_address
        .begin(address)
        .map_err(|wait| throttles.refuse(svc, Kind::LoginAddress, wait))?;
    let creds = if validate_username(name).is_ok() {
        svc.store.operator_credentials(name).await?
    } else {
        None
    };
    // Operators share the agents' limiters under labels of their own: a keyed hash of the name typed when it
    // names nobody (what is typed as a name is often a password).
    let account = match &creds {
        Some(c) => actor_of(&c.operator.id),
        None => format!(
            "name:{}",
            svc.keys
                .login_name_hash(PLATFORM_LOG, &format!("operator/{name}"))
        ),
    };
    let by_account = throttles
        .login_account
        .begin(account.clone())
        .map_err(|wait| throttles.refuse(svc, Kind::LoginAccount, wait))?;

    let factor = second_factor.and_then(SecondFactor::parse);
    let outcome: std::result::Result<Option<Action>, Failure> = match factor {
        None => Err(Failure::NoSecondFactor),
        Some(factor) => {
            let hash = creds.as_ref().map(|c| c.password_hash.clone());
            let password_ok = verify_secret(password, hash).await;
            match &creds {
                Some(c) if password_ok && !c.operator.disabled => {
                    check_second_factor(svc, c, factor, now_secs).await?
                }
                _ => Err(Failure::Password),
            }
        }
    };
    let extra = match outcome {
        Ok(extra) => extra,
        Err(failure) => {
            svc.metrics.error(code::BAD_CREDENTIALS);
            let mut entries = vec![audit::platform_entry(
                &account,
                Action::OperatorLoginFailure,
                &format!("operator_session#{}", failure.label()),
            )];
            if failure == Failure::NoSecondFactor {
                // Nothing was tested: the attempt does not count against the account or the address.
                drop(by_account);
                drop(by_address);
                audit::record(svc, entries).await?;
                return Err(Refusal::new(
                    code::SECOND_FACTOR_REQUIRED,
                    "operators sign in with a TOTP code or a recovery code",
                ));
            }
            if let Some(backoff) = by_account.failed() {
                entries.push(throttles.began_entry(
                    Kind::LoginAccount,
                    PLATFORM_LOG,
                    &account,
                    backoff,
                ));
            }
            if let Some(backoff) = by_address.failed() {
                let subject = format!("addr:{}", svc.keys.address_hash(address));
                entries.push(throttles.began_entry(
                    Kind::LoginAddress,
                    PLATFORM_LOG,
                    &subject,
                    backoff,
                ));
            }
            audit::record(svc, entries).await?;
            return Err(bad_credentials());
        }
    };
    let Some(creds) = creds else {
        // Unreachable: a success needs credentials; answer as a failure rather than panic.
        return Err(bad_credentials());
    };
    by_account.succeeded_and_forgive();
    by_address.succeeded();
    let operator = creds.operator;
    let (token, hash) = cordon_crypto::new_token("co");
    let now = cordon_store::now_ms();
    let session = OperatorSession {
        id: cordon_crypto::new_id("os"),
        operator_id: operator.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + SESSION_ABSOLUTE_MS,
        revoked_at: None,
    };
    let actor = actor_of(&operator.id);
    let target = format!("operator_session:{}", session.id);
    let mut entries = Vec::new();
    if let Some(action) = extra {
        entries.push(audit::platform_entry(&actor, action, &target));
    }
    entries.push(audit::platform_entry(
        &actor,
        Action::OperatorLoginSuccess,
        &target,
    ));
    svc.store
        .create_operator_session(&session, &hash, &entries)
        .await?;
    Ok(SignedIn {
        operator,
        session_id: session.id,
        token,
        expires_at: session.expires_at,
    })
}

/// The operator behind a bearer token `co_…`, while its session is live (12 h absolute, 30 min idle). Unknown,
/// ended or revoked tokens count against the caller's address like unknown API keys (the same limit): while the
/// address backs off, no token from it is looked up.
pub async fn principal_for_session(
    svc: &Service,
    token: &str,
    peer: Option<IpAddr>,
) -> Result<OperatorPrincipal> {
    let address = throttle::client_address(peer);
    let throttles = &svc.throttle;
    let limiter = &throttles.api_key_address;
    if let Err(wait) = limiter.check(&address) {
        return Err(throttles.refuse(svc, Kind::ApiKeyAddress, wait));
    }
    let hash = cordon_crypto::hash_token(token);
    match svc
        .store
        .live_operator_session(&hash, SESSION_IDLE_MS)
        .await?
    {
        Some((session, operator)) => Ok(OperatorPrincipal {
            session_id: session.id,
            operator,
        }),
        None => {
            if let Some(backoff) = limiter.fail(address) {
                let subject = format!("addr:{}", svc.keys.address_hash(address));
                throttles
                    .began(svc, Kind::ApiKeyAddress, PLATFORM_LOG, &subject, backoff)
                    .await?;
            }
            Err(Refusal::unauthenticated())
        }
    }
}

/// Whether a session is live now (for listings).
pub fn is_live(s: &OperatorSession, now_ms: i64) -> bool {
    s.revoked_at.is_none() && s.expires_at > now_ms && s.last_seen_at > now_ms - SESSION_IDLE_MS
}

/// The caller's own sessions.
pub async fn own_sessions(svc: &Service, who: &OperatorPrincipal) -> Result<Vec<OperatorSession>> {
    let sessions = svc.store.operator_sessions(Some(&who.operator.id)).await?;
    audit::record(
        svc,
        vec![audit::platform_entry(
            &who.actor(),
            Action::OperatorSessionsList,
            &who.actor(),
        )],
    )
    .await?;
    Ok(sessions)
}

/// One operator's sessions (all operators' when `name` is None), for the CLI.
pub async fn sessions(
    svc: &Service,
    name: Option<&str>,
    actor: &str,
) -> Result<Vec<OperatorSession>> {
    let id = match name {
        Some(name) => Some(
            svc.store
                .operator_by_name(name)
                .await?
                .ok_or_else(Refusal::not_found)?
                .id,
        ),
        None => None,
    };
    let sessions = svc.store.operator_sessions(id.as_deref()).await?;
    let target = id.as_deref().map_or("operators".to_string(), actor_of);
    audit::record(
        svc,
        vec![audit::platform_entry(
            actor,
            Action::OperatorSessionsList,
            &target,
        )],
    )
    .await?;
    Ok(sessions)
}

/// Revoke one of the caller's own sessions (signing out is revoking the current one).
pub async fn revoke_own_session(
    svc: &Service,
    who: &OperatorPrincipal,
    session_id: &str,
) -> Result<()> {
    svc.store
        .revoke_operator_session(
            session_id,
            Some(&who.operator.id),
            &[audit::platform_entry(
                &who.actor(),
                Action::OperatorSessionRevoke,
                &format!("operator_session:{session_id}"),
            )],
        )
        .await?;
    Ok(())
}

/// Disable an operator (the CLI, for a leaver or a lost second factor): it cannot sign in, and every session it
/// has ends at once. Its grants stay in the record; none can be used, since using one needs a live session.
pub async fn disable(svc: &Service, name: &str, actor: &str) -> Result<Operator> {
    validate_username(name)?;
    let Some(found) = svc.store.operator_by_name(name).await? else {
        return Err(Refusal::not_found());
    };
    Ok(svc
        .store
        .disable_operator(
            name,
            &[audit::platform_entry(
                actor,
                Action::OperatorDisable,
                &actor_of(&found.id),
            )],
        )
        .await?)
}

/// Revoke any operator session (the CLI, for a lost laptop or a leaver).
pub async fn revoke_session(svc: &Service, session_id: &str, actor: &str) -> Result<()> {
    svc.store
        .revoke_operator_session(
            session_id,
            None,
            &[audit::platform_entry(
                actor,
                Action::OperatorSessionRevoke,
                &format!("operator_session:{session_id}"),
            )],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors_match_in_the_window_only() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", 8 digits there; 6 digits are its last six.
        let totp = TOTP::new(
            Algorithm::SHA1,
            6,
            1,
            30,
            b"12345678901234567890".to_vec(),
            Some("Cordon".into()),
            "t".into(),
        )
        .unwrap();
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(totp.generate(1111111109), "081804");
        assert_eq!(
            matching_step(&totp, "081804", 1111111109),
            Some(1111111109 / 30)
        );
        assert_eq!(
            matching_step(&totp, "081804", 1111111109 + 30),
            Some(1111111109 / 30),
            "one step of drift is accepted"
        );
        assert_eq!(
            matching_step(&totp, "081804", 1111111109 + 90),
            None,
            "three are not"
        );
        assert_eq!(matching_step(&totp, "000000", 1111111109), None);
    }

    #[test]
    fn second_factors_are_told_apart() {
        assert!(matches!(
            SecondFactor::parse("123456"),
            Some(SecondFactor::Totp(_))
        ));
        assert!(matches!(
            SecondFactor::parse(" a1b2c3-0011223344556677 "),
            Some(SecondFactor::RecoveryCode(_))
        ));
        assert!(SecondFactor::parse("  ").is_none());
    }

    #[test]
    fn recovery_codes_have_a_clear_id_and_a_secret() {
        let (code, id) = new_recovery_code();
        assert_eq!(code.len(), 6 + 1 + 16);
        assert!(code.starts_with(&format!("{id}-")));
    }
}
