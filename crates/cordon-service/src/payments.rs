//! Payments through the card vault (issue 15, docs/PAYMENTS.md): an agent asks for a payment, the visitor types
//! the card into the vault's own form, the conversation shows only `Visa •••• 1111 saved`, and a `payments`
//! key forwards the token to the tenant's processor (or, where the tenant allows it, detokenizes).
//!
//! - **Where the card goes.** The vault form (its own origin) posts the card to [`save_card`]; it is checked
//!   (cordon-vault), sealed under the vault key with tenant and token id bound, and stored with its request
//!   closed, in one transaction with the audit entry. The CVV stays in this process's memory (at most 15 min,
//!   taken by the first use). Chat, agents, logs, webhooks and the API see brand and last four only.
//! - **Who may ask.** An agent assigned to the conversation requests; only the conversation's visitor gets the
//!   form (a 256-bit capability, hash stored, 15 minutes, one use); only a `payments` scope uses a token, in
//!   its own tenant, rate-limited per caller, each use audited before the card leaves.
//! - **SSRF.** The processor URL passes the webhook rules (`webhooks::parse_target`/`resolve_target`), at
//!   save and before every forward, to the address checked; redirects are not followed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_crypto::{SecretKey, VaultKey};
use cordon_store::{NewVaultToken, PaymentRequest, PaymentSettings, PaymentState, VaultToken};
use cordon_vault::card::{self, YearMonth};
use cordon_vault::{ids, CardInput, CardRecord, CvvHold, VaultError};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::conversations::{self, Viewer};
use crate::error::{code, Refusal, Result};
use crate::webhooks::{parse_target, resolve_target};
use crate::Service;

/// How the vault is configured (the operator's flags).
#[derive(Clone)]
pub struct PaymentConfig {
    /// The vault's public origin (`--vault-url`); `None`: no vault, payment requests are refused.
    pub vault_origin: Option<String>,
    /// `CORDON_VAULT_KEY`: wraps the vault key instead of the master key.
    pub vault_kek: Option<SecretKey>,
    /// Allow processor URLs on loopback and private addresses (`--payments-allow-private`; tests).
    pub allow_private_processors: bool,
    /// Uses of tokens (forwards and detokenizations) per caller per minute.
    pub uses_per_minute: u32,
    /// How long a payment request stays payable.
    pub request_ttl: Duration,
    /// Per-request timeout towards the processor.
    pub processor_timeout: Duration,
}

impl std::fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("vault_origin", &self.vault_origin)
            .field("vault_kek", &self.vault_kek.as_ref().map(|_| "***"))
            .field("allow_private_processors", &self.allow_private_processors)
            .finish_non_exhaustive()
    }
}

impl Default for PaymentConfig {
    fn default() -> Self {
        PaymentConfig {
            vault_origin: None,
            vault_kek: None,
            allow_private_processors: false,
            uses_per_minute: 30,
            request_ttl: Duration::from_secs(3600),
            processor_timeout: Duration::from_secs(15),
        }
    }
}

/// A form capability lives this long (and never past its request).
const FORM_TTL_MS: i64 = 15 * 60 * 1000;
/// Longest description of a payment.
const MAX_DESCRIPTION_CHARS: usize = 200;
/// Largest amount, in minor units (10 million in major units).
const MAX_AMOUNT_MINOR: i64 = 1_000_000_000;
/// Longest reference a forward passes through.
const MAX_REFERENCE_CHARS: usize = 100;
/// Most characters of a processor's answer handed back (redacted).
const MAX_PROCESSOR_ANSWER: usize = 2000;

/// What the service keeps for the vault in one process: the key (loaded once), the CVVs, the use limiter.
#[derive(Debug, Default)]
pub struct VaultState {
    key: tokio::sync::OnceCell<Arc<VaultKey>>,
    cvv: CvvHold,
    uses: Mutex<HashMap<String, (f64, Instant)>>,
}

impl VaultState {
    /// How many CVVs this process holds (for tests and `/metrics`).
    pub fn cvvs_held(&self) -> usize {
        self.cvv.len()
    }
}

fn unavailable() -> Refusal {
    Refusal::new(
        code::PAYMENTS_UNAVAILABLE,
        "payments are not enabled on this server (no vault origin is configured)",
    )
}

/// The vault key, loaded (or made) on first use.
async fn vault_key(svc: &Service) -> Result<Arc<VaultKey>> {
    let cfg = &svc.settings.payments;
    svc.vault
        .key
        .get_or_try_init(|| async {
            svc.keys
                .load_vault_key(&svc.store, cfg.vault_kek.as_ref())
                .await
                .map(Arc::new)
        })
        .await
        .cloned()
        .map_err(Refusal::from)
}

/// Load the vault key now (at start-up), so a wrong `CORDON_VAULT_KEY` stops the server with its reason.
pub async fn open_vault(svc: &Service) -> std::result::Result<(), String> {
    if svc.settings.payments.vault_origin.is_none() {
        return Ok(());
    }
    svc.vault
        .key
        .get_or_try_init(|| async {
            svc.keys
                .load_vault_key(&svc.store, svc.settings.payments.vault_kek.as_ref())
                .await
                .map(Arc::new)
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Drop expired CVVs every minute, so none outlives its 15 minutes in memory by more than that.
pub fn spawn_sweeper(svc: Service) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            svc.vault.cvv.sweep(Instant::now());
        }
    });
}

/// One use of a token by `caller`: a token bucket of `uses_per_minute`, refilled continuously.
fn spend_use(svc: &Service, caller: &str) -> Result<()> {
    let per_min = f64::from(svc.settings.payments.uses_per_minute.max(1));
    let now = Instant::now();
    let Ok(mut uses) = svc.vault.uses.lock() else {
        return Err(Refusal::internal("payment limiter lock poisoned"));
    };
    if uses.len() > 100_000 {
        uses.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(120));
    }
    let (tokens, at) = uses.entry(caller.to_string()).or_insert((per_min, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_min / 60.0).min(per_min);
    *at = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        Ok(())
    } else {
        let wait = ((1.0 - *tokens) * 60.0 / per_min).ceil().max(1.0) as u64;
        Err(Refusal::rate_limited(
            "too many uses of card tokens; wait and retry",
            wait,
        ))
    }
}

// ---- pure checks -------------------------------------------------------------------------------------------

/// Currencies without minor units (ISO 4217 exponent 0), for display.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// `EUR 49.00`, `JPY 4900`.
pub fn format_amount(amount_minor: i64, currency: &str) -> String {
    if ZERO_DECIMAL.contains(&currency) {
        format!("{currency} {amount_minor}")
    } else {
        format!(
            "{currency} {}.{:02}",
            amount_minor / 100,
            amount_minor % 100
        )
    }
}

/// Check what the agent typed: an amount in minor units, a three-letter currency, a short description with
/// no card number (it is shown to the visitor and stored with the request).
pub fn check_request(amount_minor: i64, currency: &str, description: &str) -> Result<()> {
    if !(1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
        return Err(Refusal::invalid(
            "the amount is in minor units (cents), from 1 to 1,000,000,000",
        ));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal::invalid(
            "the currency is an ISO 4217 code such as EUR",
        ));
    }
    let chars = description.trim().chars().count();
    if chars == 0 || chars > MAX_DESCRIPTION_CHARS {
        return Err(Refusal::invalid("the description is 1 to 200 characters"));
    }
    if description.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "the description has no control characters",
        ));
    }
    if !cordon_card::find(description).is_empty() {
        return Err(Refusal::invalid(
            "the description may not hold a card number",
        ));
    }
    Ok(())
}

/// The system message that carries a request into the conversation. The widget recognises it by this shape
/// (a system message, never one a person wrote) and asks for the form with the id.
pub fn requested_text(r: &PaymentRequest) -> String {
    format!(
        "Payment requested ({}): {} for {}",
        r.id,
        format_amount(r.amount_minor, &r.currency),
        r.description.trim()
    )
}

/// The system message once the card is in the vault: brand and last four, the token id.
pub fn saved_text(label: &str, token_id: &str, request_id: &str) -> String {
    format!("{label} saved (token {token_id}, payment {request_id})")
}

fn vault_refusal(e: VaultError) -> Refusal {
    let message = match e {
        VaultError::CardNumber => "the card number is not a valid card number",
        VaultError::Expiry => "the expiry date is not a valid month in the future",
        VaultError::Name => "enter the name as it is on the card (letters only)",
        VaultError::Cvv => "the security code is 3 digits (4 on American Express)",
        VaultError::Malformed => return Refusal::internal("a sealed card record is malformed"),
    };
    Refusal::new(code::CARD_INVALID, message)
}

// ---- the request, the form, the card -----------------------------------------------------------------------

/// A payment request as both sides and the API see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentRequestView {
    pub id: String,
    pub conversation_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// E.g. `EUR 49.00`.
    pub amount: String,
    pub description: String,
    /// `open`, `saved` or `cancelled`.
    pub state: &'static str,
    pub token_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<&PaymentRequest> for PaymentRequestView {
    fn from(r: &PaymentRequest) -> Self {
        PaymentRequestView {
            id: r.id.clone(),
            conversation_id: r.conversation_id.clone(),
            amount_minor: r.amount_minor,
            currency: r.currency.clone(),
            amount: format_amount(r.amount_minor, &r.currency),
            description: r.description.clone(),
            state: match r.state {
                PaymentState::Open => "open",
                PaymentState::Saved => "saved",
                PaymentState::Cancelled => "cancelled",
            },
            token_id: r.token_id.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// The agent assigned to a conversation asks its visitor for a payment. The request is stored (audited
/// `payment.request`) and announced in the conversation by a system message both sides see.
pub async fn request_payment(
    svc: &Service,
    agent: &cordon_store::Agent,
    conversation_id: &str,
    amount_minor: i64,
    currency: &str,
    description: &str,
) -> Result<PaymentRequestView> {
    if svc.settings.payments.vault_origin.is_none() {
        return Err(unavailable());
    }
    let conv = conversations::participant(svc, Viewer::Agent(agent), conversation_id).await?;
    if conv.state == cordon_store::ConversationState::Closed {
        return Err(Refusal::new(
            code::CONVERSATION_CLOSED,
            "the conversation is closed",
        ));
    }
    check_request(amount_minor, currency, description)?;
    let now = cordon_store::now_ms();
    let request = PaymentRequest {
        id: ids::new_request_id(),
        tenant_id: agent.tenant_id.clone(),
        conversation_id: conv.id.clone(),
        visitor_id: conv.visitor_id.clone(),
        requested_by: format!("agent:{}", agent.id),
        amount_minor,
        currency: currency.to_string(),
        description: description.trim().to_string(),
        state: PaymentState::Open,
        form_token_hash: None,
        form_expires_at: None,
        token_id: None,
        created_at: now,
        expires_at: now + svc.settings.payments.request_ttl.as_millis() as i64,
        completed_at: None,
    };
    let entry = audit::entry(
        &agent.tenant_id,
        &format!("agent:{}", agent.id),
        Action::PaymentRequest,
        &format!("payment_request:{}", request.id),
    );
    svc.store.create_payment_request(&request, &[entry]).await?;
    crate::messages::system_message(svc, &agent.tenant_id, &conv.id, &requested_text(&request))
        .await;
    Ok(PaymentRequestView::from(&request))
}

/// The vault form for one request, as handed to the visitor: its URL carries the capability in the fragment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentForm {
    pub request: PaymentRequestView,
    /// `VAULT/v/form/<request id>#<capability>`: the widget frames it as it is.
    pub url: String,
    /// The vault's origin, for the frame's checks of messages from it.
    pub vault_origin: String,
    pub form_expires_at: i64,
}

/// The conversation's visitor asks for the form of an open request. Each call makes a new capability (a
/// reloaded widget asks again) and the old one stops working. Audited `payment.form_open`.
pub async fn open_form(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
    request_id: &str,
) -> Result<PaymentForm> {
    let vault_origin = svc
        .settings
        .payments
        .vault_origin
        .clone()
        .ok_or_else(unavailable)?;
    let not_found = || Refusal::new(code::NOT_FOUND, "no such payment request");
    if !ids::is_request_id(request_id) {
        return Err(not_found());
    }
    let r = svc
        .store
        .payment_request(tenant_id, request_id)
        .await?
        .filter(|r| r.visitor_id == visitor_id)
        .ok_or_else(not_found)?;
    let now = cordon_store::now_ms();
    if r.state != PaymentState::Open || r.expires_at <= now {
        return Err(Refusal::new(
            code::PAYMENT_NOT_OPEN,
            "this payment request was paid, cancelled or has expired",
        ));
    }
    let (token, hash) = ids::new_form_token();
    let expires = (now + FORM_TTL_MS).min(r.expires_at);
    let entry = audit::entry(
        tenant_id,
        &format!("visitor:{visitor_id}"),
        Action::PaymentFormOpen,
        &format!("payment_request:{request_id}"),
    );
    svc.store
        .set_payment_form(tenant_id, request_id, &hash, expires, &[entry])
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::NotFound => Refusal::new(
                code::PAYMENT_NOT_OPEN,
                "this payment request was paid, cancelled or has expired",
            ),
            other => other.into(),
        })?;
    Ok(PaymentForm {
        url: format!("{vault_origin}/v/form/{request_id}#{token}"),
        vault_origin,
        request: PaymentRequestView::from(&r),
        form_expires_at: expires,
    })
}

/// What the vault form page shows about its request (no capability needed: it names amount and description
/// only, and the page is framed by the widget alone). The tenant's allowed origins are for its
/// `frame-ancestors`.
#[derive(Debug, Clone)]
pub struct FormPage {
    pub request: PaymentRequestView,
    pub tenant_name: String,
    pub allowed_origins: Vec<String>,
}

pub async fn form_page(svc: &Service, request_id: &str) -> Result<FormPage> {
    let not_found = || Refusal::new(code::NOT_FOUND, "no such payment request");
    if !ids::is_request_id(request_id) {
        return Err(not_found());
    }
    let r = svc
        .store
        .payment_request_by_id(request_id)
        .await?
        .ok_or_else(not_found)?;
    let tenant = svc.store.tenant(&r.tenant_id).await?;
    Ok(FormPage {
        request: PaymentRequestView::from(&r),
        tenant_name: tenant.display_name,
        allowed_origins: tenant.allowed_origins,
    })
}

/// What the vault form learns back: the masked card and the token id. Nothing else of the card.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SavedCard {
    pub token_id: String,
    pub request_id: String,
    pub brand: String,
    pub last4: String,
    /// `Visa •••• 1111`
    pub label: String,
}

/// The vault form posts the card: checked, sealed, stored with the request closed (audited `card.tokenize`,
/// by the visitor), the CVV held in memory; then both sides see `Visa •••• 1111 saved` in the conversation.
/// A wrong or used capability and an unknown request answer alike (`not_found`).
pub async fn save_card(
    svc: &Service,
    request_id: &str,
    form_token: &str,
    input: &CardInput,
) -> Result<SavedCard> {
    if svc.settings.payments.vault_origin.is_none() {
        return Err(unavailable());
    }
    let not_found = || {
        Refusal::new(
            code::NOT_FOUND,
            "no such payment form (it may have expired)",
        )
    };
    if !ids::is_request_id(request_id) || !ids::is_form_token(form_token) {
        return Err(not_found());
    }
    let r = svc
        .store
        .payment_request_by_id(request_id)
        .await?
        .ok_or_else(not_found)?;
    let now = cordon_store::now_ms();
    let stored_hash = r.form_token_hash.clone().unwrap_or_default();
    if r.state != PaymentState::Open
        || !ids::form_token_matches(form_token, &stored_hash)
        || r.form_expires_at.is_none_or(|t| t <= now)
    {
        return Err(not_found());
    }
    let mut valid = card::validate(input, YearMonth::from_unix_ms(now)).map_err(vault_refusal)?;
    let key = vault_key(svc).await?;
    let token_id = ids::new_token_id();
    let plaintext = valid.record().to_plaintext();
    let sealed = key.seal_card(&r.tenant_id, &token_id, &plaintext);
    drop(plaintext);
    let entry = audit::entry(
        &r.tenant_id,
        &format!("visitor:{}", r.visitor_id),
        Action::CardTokenize,
        &format!("token:{token_id}"),
    );
    svc.store
        .save_vault_token(
            &NewVaultToken {
                id: token_id.clone(),
                tenant_id: r.tenant_id.clone(),
                request_id: r.id.clone(),
                brand: valid.brand.name().to_string(),
                last4: valid.last4.clone(),
                exp_month: i64::from(valid.exp_month),
                exp_year: i64::from(valid.exp_year),
                key_id: i64::from(key.key_id),
                sealed,
            },
            &stored_hash,
            &[entry],
        )
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::Conflict(_) => not_found(),
            other => other.into(),
        })?;
    if let Some(cvv) = valid.take_cvv() {
        svc.vault.cvv.put(&token_id, cvv, Instant::now());
    }
    let label = valid.label();
    crate::messages::system_message(
        svc,
        &r.tenant_id,
        &r.conversation_id,
        &saved_text(&label, &token_id, &r.id),
    )
    .await;
    Ok(SavedCard {
        token_id,
        request_id: r.id,
        brand: valid.brand.name().to_string(),
        last4: valid.last4.clone(),
        label,
    })
}

// ---- tokens, for a `payments` caller ----------------------------------------------------------------------

/// A token as the API shows it: never the number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub conversation_id: String,
    pub request_id: String,
    pub visitor_id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub created_at: i64,
    /// Forwards and detokenizations so far.
    pub uses: i64,
    pub last_used_at: Option<i64>,
    /// Is the security code still held (in this process, for the next use)?
    pub cvv_held: bool,
}

fn token_view(svc: &Service, t: &VaultToken) -> TokenView {
    TokenView {
        id: t.id.clone(),
        conversation_id: t.conversation_id.clone(),
        request_id: t.request_id.clone(),
        visitor_id: t.visitor_id.clone(),
        brand: t.brand.clone(),
        last4: t.last4.clone(),
        exp_month: t.exp_month,
        exp_year: t.exp_year,
        created_at: t.created_at,
        uses: t.forward_count,
        last_used_at: t.last_used_at,
        cvv_held: svc.vault.cvv.is_held(&t.id, Instant::now()),
    }
}

fn payments_of(principal: &Principal) -> Result<&str> {
    principal.require(Scope::Payments)?;
    Ok(principal.tenant_id())
}

fn no_token() -> Refusal {
    Refusal::new(code::NOT_FOUND, "no such card token")
}

/// The tenant's tokens, newest first (of one conversation when given). Audited `payment_tokens.list`.
pub async fn list_tokens(
    svc: &Service,
    principal: &Principal,
    conversation_id: Option<&str>,
) -> Result<Vec<TokenView>> {
    let tenant_id = payments_of(principal)?;
    if let Some(c) = conversation_id {
        if !crate::protocol::valid_client_id(c) {
            return Err(Refusal::new(code::INVALID_ID, "malformed conversation id"));
        }
    }
    let list = svc
        .store
        .vault_tokens(tenant_id, conversation_id, 200)
        .await?;
    audit::record_read(svc, principal, Action::PaymentTokensList, "payment_tokens").await?;
    Ok(list.iter().map(|t| token_view(svc, t)).collect())
}

/// One token (its request too). Audited `payment_token.read`.
pub async fn token(svc: &Service, principal: &Principal, token_id: &str) -> Result<TokenView> {
    let tenant_id = payments_of(principal)?;
    if !ids::is_token_id(token_id) {
        return Err(no_token());
    }
    let t = svc
        .store
        .vault_token(tenant_id, token_id)
        .await?
        .ok_or_else(no_token)?;
    audit::record_read(
        svc,
        principal,
        Action::PaymentTokenRead,
        &format!("token:{token_id}"),
    )
    .await?;
    Ok(token_view(svc, &t))
}

/// A token and its opened card, with its use counted and audited first.
async fn use_token(
    svc: &Service,
    principal: &Principal,
    token_id: &str,
    action: Action,
) -> Result<(VaultToken, CardRecord, PaymentRequest)> {
    let tenant_id = payments_of(principal)?;
    if !ids::is_token_id(token_id) {
        return Err(no_token());
    }
    spend_use(svc, &principal.actor())?;
    let t = svc
        .store
        .vault_token(tenant_id, token_id)
        .await?
        .ok_or_else(no_token)?;
    let request = svc
        .store
        .payment_request(tenant_id, &t.request_id)
        .await?
        .ok_or_else(|| Refusal::internal("a token's payment request is missing"))?;
    let key = vault_key(svc).await?;
    let plain = key
        .open_card(tenant_id, token_id, &t.sealed)
        .map_err(|_| Refusal::internal("a sealed card failed to open"))?;
    let record = CardRecord::from_plaintext(&plain).map_err(vault_refusal)?;
    drop(plain);
    let entry = audit::by(principal, action, &format!("token:{token_id}"));
    svc.store
        .record_token_use(tenant_id, token_id, &[entry])
        .await?;
    Ok((t, record, request))
}

/// What the processor answered to a forward. Its body is handed back redacted (a processor that echoes the
/// number does not put it into the caller's logs through us).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForwardResult {
    /// This forward's id (the `webhook-id` header the processor received).
    pub forward_id: String,
    pub token_id: String,
    /// The processor's HTTP status.
    pub status: u16,
    /// Up to 2,000 characters of its answer, card numbers masked.
    pub response: String,
    /// Whether the security code went with it (held, and not used before).
    pub cvv_sent: bool,
}

/// Forward a token's card to the tenant's processor (a `payments` caller, rate-limited, audited
/// `card.forward` before the request is sent). The request is signed (Standard Webhooks headers with the
/// processor secret) and goes only to the address checked against SSRF.
pub async fn forward(
    svc: &Service,
    principal: &Principal,
    token_id: &str,
    reference: &str,
) -> Result<ForwardResult> {
    let tenant_id = payments_of(principal)?.to_string();
    if reference.chars().count() > MAX_REFERENCE_CHARS
        || reference.chars().any(char::is_control)
        || !cordon_card::find(reference).is_empty()
    {
        return Err(Refusal::invalid(
            "the reference is at most 100 characters, with no card number",
        ));
    }
    // An unknown token is `not_found` before anything else is said about the tenant's set-up.
    if !ids::is_token_id(token_id) || svc.store.vault_token(&tenant_id, token_id).await?.is_none() {
        return Err(no_token());
    }
    let settings = svc.store.payment_settings(&tenant_id).await?;
    let (Some(url), Some(secret_wrapped)) = (
        settings.processor_url.clone(),
        settings.processor_secret_wrapped.clone(),
    ) else {
        return Err(Refusal::new(
            code::PAYMENTS_NOT_CONFIGURED,
            "set the tenant's payment processor URL first",
        ));
    };
    let allow_private = svc.settings.payments.allow_private_processors;
    let target = parse_target(&url, allow_private)?;
    let addr = resolve_target(&target, allow_private).await?;
    let secret = svc
        .keys
        .master()
        .unwrap_key(&processor_secret_context(&tenant_id), &secret_wrapped)
        .map_err(|_| Refusal::internal("the processor secret cannot be opened"))?;
    let (t, record, request) = use_token(svc, principal, token_id, Action::CardForward).await?;
    let cvv = svc.vault.cvv.take(token_id, Instant::now());
    let forward_id = cordon_crypto::new_id("fw");
    let payment = cordon_vault::forward::Payment {
        request_id: &request.id,
        amount_minor: request.amount_minor,
        currency: &request.currency,
        description: &request.description,
    };
    let body = cordon_vault::forward::body(
        &forward_id,
        &tenant_id,
        token_id,
        &record,
        &t.brand,
        cvv.as_deref().map(String::as_str),
        &payment,
        reference,
    );
    drop(record);
    let ts = cordon_store::now_ms() / 1000;
    let signature =
        cordon_crypto::webhook_signature(secret.dangerous_bytes(), &forward_id, ts, &body);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(svc.settings.payments.processor_timeout)
        .resolve(&target.host, addr)
        .user_agent(concat!("Cordon-Vault/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| Refusal::internal("could not build the HTTP client"))?;
    let sent = client
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", &forward_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    drop(body);
    let failed = |m: &'static str| Refusal::new(code::PROCESSOR_FAILED, m);
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Err(failed("the payment processor did not answer in time"))
        }
        Err(_) => return Err(failed("the payment processor could not be reached")),
    };
    let status = resp.status();
    if status.is_redirection() {
        return Err(failed(
            "the payment processor redirected; redirects are not followed",
        ));
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(MAX_PROCESSOR_ANSWER).collect();
    let response = cordon_card::redact(&text).text.into_owned();
    Ok(ForwardResult {
        forward_id,
        token_id: token_id.to_string(),
        status: status.as_u16(),
        response,
        cvv_sent: cvv.is_some(),
    })
}

/// A detokenized card: for tenants who enabled it and hold `payments`. Takes the CVV if still held.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Detokenized {
    pub token_id: String,
    pub brand: String,
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub name: String,
    pub cvv: Option<String>,
}

impl std::fmt::Debug for Detokenized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detokenized")
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

/// Detokenize (a `payments` caller of a tenant that enabled it; rate-limited; audited `card.detokenize`
/// before the number is returned).
pub async fn detokenize(
    svc: &Service,
    principal: &Principal,
    token_id: &str,
) -> Result<Detokenized> {
    let tenant_id = payments_of(principal)?;
    if !ids::is_token_id(token_id) || svc.store.vault_token(tenant_id, token_id).await?.is_none() {
        return Err(no_token());
    }
    if !svc
        .store
        .payment_settings(tenant_id)
        .await?
        .detokenize_enabled
    {
        return Err(Refusal::new(
            code::DETOKENIZE_DISABLED,
            "this tenant does not allow detokenization; forward the token to its processor instead",
        ));
    }
    let (t, record, _) = use_token(svc, principal, token_id, Action::CardDetokenize).await?;
    let cvv: Option<Zeroizing<String>> = svc.vault.cvv.take(token_id, Instant::now());
    Ok(Detokenized {
        token_id: t.id.clone(),
        brand: t.brand.clone(),
        number: record.number.clone(),
        exp_month: record.exp_month,
        exp_year: record.exp_year,
        name: record.name.clone(),
        cvv: cvv.as_deref().cloned(),
    })
}

// ---- settings (tenant admin) ------------------------------------------------------------------------------

fn processor_secret_context(tenant_id: &str) -> String {
    format!("tenant {tenant_id} payment processor secret")
}

/// A tenant's payment settings as the admin pages see them; the secret only once, when it was made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub processor_url: Option<String>,
    pub detokenize_enabled: bool,
    /// Is this server's vault on? (`--vault-url`)
    pub vault_enabled: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
    /// `whsec_…`: shown once, when the processor URL is set or changed; the processor checks forwards with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processor_secret: Option<String>,
}

fn settings_view(svc: &Service, s: &PaymentSettings, secret: Option<String>) -> SettingsView {
    SettingsView {
        processor_url: s.processor_url.clone(),
        detokenize_enabled: s.detokenize_enabled,
        vault_enabled: svc.settings.payments.vault_origin.is_some(),
        updated_by: s.updated_by.clone(),
        updated_at: s.updated_at,
        processor_secret: secret,
    }
}

/// Read the settings (tenant admin; audited `payments.settings.read`).
pub async fn settings(svc: &Service, principal: &Principal) -> Result<SettingsView> {
    principal.require(Scope::Admin)?;
    let s = svc.store.payment_settings(principal.tenant_id()).await?;
    audit::record_read(
        svc,
        principal,
        Action::PaymentSettingsRead,
        "payment_settings",
    )
    .await?;
    Ok(settings_view(svc, &s, None))
}

/// Set the processor URL (checked against SSRF; `None` removes it) and the detokenize switch. A new URL gets a
/// new signing secret, shown this once. Turning detokenization on needs an admin signed in at the console: a
/// leaked admin key must not open the vault. Audited `payments.settings.update`.
pub async fn set_settings(
    svc: &Service,
    principal: &Principal,
    processor_url: Option<&str>,
    detokenize_enabled: bool,
) -> Result<SettingsView> {
    principal.require(Scope::Admin)?;
    let tenant_id = principal.tenant_id();
    let before = svc.store.payment_settings(tenant_id).await?;
    if detokenize_enabled
        && !before.detokenize_enabled
        && !matches!(principal, Principal::Agent { .. })
    {
        return Err(Refusal::new(
            code::SESSION_REQUIRED,
            "turning detokenization on needs a tenant admin signed in at the console, not an API key",
        ));
    }
    let entry = audit::by(principal, Action::PaymentSettingsUpdate, "payment_settings");
    apply_settings(
        svc,
        tenant_id,
        &principal.actor(),
        &before,
        processor_url,
        detokenize_enabled,
        false,
        entry,
    )
    .await
}

/// The operator sets a tenant's processor URL (`cordon demo` points each demo tenant at its store's demo
/// processor), with a fresh secret, keeping the detokenize switch as it is. Audited in the tenant's log.
pub async fn set_processor_as_operator(
    svc: &Service,
    operator: &str,
    tenant_id: &str,
    processor_url: &str,
) -> Result<SettingsView> {
    let before = svc.store.payment_settings(tenant_id).await?;
    let entry = audit::entry(
        tenant_id,
        operator,
        Action::PaymentSettingsUpdate,
        "payment_settings",
    );
    let keep = before.detokenize_enabled;
    apply_settings(
        svc,
        tenant_id,
        operator,
        &before,
        Some(processor_url),
        keep,
        true,
        entry,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn apply_settings(
    svc: &Service,
    tenant_id: &str,
    actor: &str,
    before: &PaymentSettings,
    processor_url: Option<&str>,
    detokenize_enabled: bool,
    new_secret: bool,
    entry: cordon_store::AuditEntry,
) -> Result<SettingsView> {
    let processor_url = processor_url.map(str::trim).filter(|u| !u.is_empty());
    let mut shown = None;
    let mut next = PaymentSettings {
        processor_url: processor_url.map(str::to_string),
        processor_secret_wrapped: before.processor_secret_wrapped.clone(),
        detokenize_enabled,
        ..Default::default()
    };
    match processor_url {
        Some(url) => {
            let allow_private = svc.settings.payments.allow_private_processors;
            let target = parse_target(url, allow_private)?;
            resolve_target(&target, allow_private).await?;
            if !cordon_card::find(url).is_empty() {
                return Err(Refusal::invalid("the URL may not hold a card number"));
            }
            if new_secret
                || before.processor_url.as_deref() != Some(url)
                || next.processor_secret_wrapped.is_none()
            {
                let secret = SecretKey::generate();
                next.processor_secret_wrapped = Some(
                    svc.keys
                        .master()
                        .wrap(&processor_secret_context(tenant_id), &secret),
                );
                shown = Some(format!(
                    "whsec_{}",
                    cordon_crypto::b64(secret.dangerous_bytes())
                ));
            }
        }
        None => next.processor_secret_wrapped = None,
    }
    svc.store
        .set_payment_settings(tenant_id, &next, actor, &[entry])
        .await?;
    let saved = svc.store.payment_settings(tenant_id).await?;
    Ok(settings_view(svc, &saved, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_display_in_major_units() {
        assert_eq!(format_amount(4900, "EUR"), "EUR 49.00");
        assert_eq!(format_amount(5, "USD"), "USD 0.05");
        assert_eq!(format_amount(4900, "JPY"), "JPY 4900");
    }

    #[test]
    fn requests_are_checked() {
        assert!(check_request(4900, "EUR", "Change fee").is_ok());
        for (a, c, d) in [
            (0, "EUR", "x"),
            (MAX_AMOUNT_MINOR + 1, "EUR", "x"),
            (1, "eur", "x"),
            (1, "EURO", "x"),
            (1, "EUR", " "),
            (1, "EUR", "card 4111 1111 1111 1111"),
            (1, "EUR", "a\u{7}b"),
        ] {
            let r = check_request(a, c, d).unwrap_err();
            assert_eq!(r.code, code::BAD_REQUEST);
            assert!(!r.message.contains("4111"));
        }
        assert!(check_request(1, "EUR", &"x".repeat(201)).is_err());
    }

    #[test]
    fn the_messages_hold_no_number() {
        let saved = saved_text("Visa •••• 1111", "tok_abc", "pr_def");
        assert_eq!(
            saved,
            "Visa •••• 1111 saved (token tok_abc, payment pr_def)"
        );
        assert!(cordon_card::find(&saved).is_empty());
    }
}
