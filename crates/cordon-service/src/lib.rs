//! Cordon's use cases, each written once and free of any transport.
//!
//! The HTTP API, the two WebSockets and the `cordon` command line all call these functions; none of them touches
//! the store, and this crate knows nothing of HTTP, sockets or terminals. A use case takes the [`Service`] (the
//! store, the keys, the hub), the caller's [`access::Principal`] where there is one, and plain values; it answers
//! with a value or a [`Refusal`].
//!
//! - [`visitors`]: widget key, identity proof, visitor token → visitor, session records.
//! - [`agents`]: sign-in with its back-off, sessions, status.
//! - [`conversations`]: open, accept, transfer, close, who may see what, views, history reads.
//! - [`messages`]: check → redact (and the split-card hold-back) → seal → commit → publish.
//! - [`management`]: tenants, agents and API keys, for the API and the CLI alike.
//! - [`operators`]: the platform's staff, with TOTP and short sessions; no standing access to tenants.
//! - [`releases`]: signed widget releases, two-operator approval, tenants' pins.
//! - [`audit`]: every audited [`audit::Action`], entries, the checkpointer, reads of the log.
//! - [`webhooks`]: endpoints, signed requests and the deliverer that drains the durable outbox.
//! - [`transcripts`]: a chat's transcript mailed to the visitor when it ends ([`mail`]: the SMTP server).
//! - [`hub`]: live fan-out, one node or many; [`cluster`]: its NATS uplink; [`keys`]: tenant keys.
#![forbid(unsafe_code)]

pub mod access;
pub mod agents;
pub mod audit;
pub mod availability;
pub mod canned;
pub mod cluster;
pub mod contact;
pub mod conversations;
pub mod error;
pub mod files;
pub mod grants;
pub mod hub;
pub mod impact;
pub mod keys;
pub mod lifecycle;
pub mod mail;
pub mod management;
pub mod messages;
pub mod metrics;
pub mod mfa;
pub mod notes;
pub mod operators;
pub mod payments;
pub mod protocol;
pub mod ratings;
pub mod reads;
pub mod releases;
pub mod reports;
pub mod search;
pub mod throttle;
pub mod transcripts;
pub mod transparency;
pub mod visitor_profile;
pub mod visitors;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

/// The store handle and its configuration, for what constructs a [`Service`] (the binary's start-up, tests):
/// only this crate calls the store.
pub use cordon_store::{Store, StoreConfig};
pub use error::{code, Refusal};

/// The records the use cases answer with, as the store defines them. Transports read them; only this crate
/// reads or writes them in storage.
pub mod model {
    pub use cordon_store::{
        is_sha384_hex, now_ms, Agent, AgentRole, AgentStatus, ApiKey, Backend, Conversation,
        ConversationFilter, ConversationState, ExposureQuery, OperatorGrant, Release, Retention,
        SenderKind, StoreConfig, StoredMessage, Tenant, Visitor, VisitorSessionRecord,
        PLATFORM_LOG,
    };
}

/// What the use cases need to know of the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This process's name in session records and the signer lease.
    pub node_id: String,
    /// Longest message text, in characters.
    pub max_text_chars: usize,
    /// Agent sessions: idle and absolute lifetimes.
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Back-off for failed sign-ins, API keys and visitor tokens.
    pub throttle: throttle::Policies,
    /// How webhooks are sent.
    pub webhooks: webhooks::WebhookSettings,
    /// The card vault (issue 15): its origin, its key's wrapper, the processor rules.
    pub payments: payments::PaymentConfig,
    /// The largest file a visitor or an agent may send (issue 20), in bytes.
    pub max_file_bytes: usize,
    /// Outgoing mail (issue 20): the SMTP server transcripts are sent through, if any.
    pub mail: mail::MailSettings,
}

/// Everything the use cases share in one process: the store, the keys, the hub, the counters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    store: Store,
    keys: Arc<keys::Keys>,
    hub: Arc<hub::Hub>,
    metrics: Arc<metrics::Metrics>,
    throttle: Arc<throttle::Throttles>,
    settings: Arc<Settings>,
    /// Wakes the webhook deliverer (a redelivery asked for now).
    webhook_wake: Arc<tokio::sync::Notify>,
    /// Wakes the transcript sender (a chat closed with a transcript queued).
    transcript_wake: Arc<tokio::sync::Notify>,
    /// The card vault's key, CVVs and use limiter in this process.
    vault: Arc<payments::VaultState>,
    /// Agents online and the wait, per tenant, for visitors' `welcome` (issue 20), a few seconds old at most.
    availability: Arc<availability::Cache>,
}

/// Why the service could not start on a database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("could not open the database: {0}")]
    Store(#[from] cordon_store::StoreError),
    #[error("the master key does not match this database")]
    WrongMasterKey,
    #[error("could not load keys: {0}")]
    Keys(keys::KeyError),
}

impl Service {
    /// Open the database (applying migrations), bind the master key to it, and log the audit signing key's
    /// creation when this process made it.
    pub async fn open(
        config: &StoreConfig,
        master: cordon_crypto::SecretKey,
        settings: Settings,
    ) -> Result<Service, OpenError> {
        let store = Store::open(config).await?;
        let keys = match keys::Keys::open(&store, master).await {
            Ok(k) => k,
            Err(keys::KeyError::Crypto(cordon_crypto::CryptoError::WrongMasterKey)) => {
                store.close().await;
                return Err(OpenError::WrongMasterKey);
            }
            Err(e) => {
                store.close().await;
                return Err(OpenError::Keys(e));
            }
        };
        if keys.created_audit_key {
            store
                .append_audit_batch(&[audit::platform_entry(
                    audit::SYSTEM_ACTOR,
                    audit::Action::KeyCreate,
                    "audit_signing_key",
                )])
                .await?;
        }
        Ok(Service::new(store, keys, settings))
    }

    /// A service over a store already open, with its keys.
    pub fn new(store: Store, keys: keys::Keys, settings: Settings) -> Service {
        Service {
            store,
            keys: Arc::new(keys),
            hub: Arc::new(hub::Hub::default()),
            metrics: Arc::new(metrics::Metrics::default()),
            throttle: Arc::new(throttle::Throttles::new(&settings.throttle)),
            settings: Arc::new(settings),
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            transcript_wake: Arc::new(tokio::sync::Notify::new()),
            vault: Arc::new(payments::VaultState::default()),
            availability: Arc::new(availability::Cache::default()),
        }
    }

    /// The same service with other settings (the CLI opens the database before it knows the server's
    /// configuration). Call it before the service is used: the back-off state starts afresh.
    pub fn with_settings(self, settings: Settings) -> Service {
        Service {
            throttle: Arc::new(throttle::Throttles::new(&settings.throttle)),
            settings: Arc::new(settings),
            ..self
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn hub(&self) -> &hub::Hub {
        &self.hub
    }

    /// The counters `/metrics` shows; transports count their own events (connections, errors) here too.
    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.metrics
    }

    /// Can the database answer? (`/readyz`)
    pub async fn ready(&self) -> bool {
        self.store.ping().await
    }

    /// Is the broker connected? (Always, without one.) New sockets and `/readyz` wait for it.
    pub fn broker_ready(&self) -> bool {
        self.hub.ready()
    }

    /// Which database engine the store runs on (for the start-up log).
    pub fn backend(&self) -> model::Backend {
        self.store.backend()
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, Refusal> {
        Ok(cordon_store::schema_version(&self.store).await?)
    }

    /// Close the database cleanly (flushes the writer).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Start the background work of one process: the checkpoint signer (while it holds the lease), the
    /// webhook deliverer, the transcript sender (when mail is configured) and the retention purge.
    pub fn spawn_background(&self) {
        audit::spawn_checkpointer(self.clone());
        webhooks::spawn_deliverer(self.clone());
        transcripts::spawn_sender(self.clone());
        lifecycle::spawn_purger(self.clone());
        payments::spawn_sweeper(self.clone());
    }

    /// The vault's state in this process (CVVs held), for tests and `/metrics`.
    pub fn vault(&self) -> &payments::VaultState {
        &self.vault
    }

    /// The store itself and the keys, for tests that look behind the use cases.
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Store {
        &self.store
    }

    #[cfg(feature = "testing")]
    pub fn keys(&self) -> &keys::Keys {
        &self.keys
    }
}
