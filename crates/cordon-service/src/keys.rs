//! Tenant keys, unwrapped on demand with the master key and cached in memory.
//!
//! The keys themselves live in the database, wrapped by the master key, so every process on one database uses
//! the same keys. The master key itself is never stored there: only a check value that refuses a wrong one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cordon_crypto::{CryptoError, DataKey, MasterKey, SecretKey, VaultKey};
use cordon_store::{Store, StoreError};

/// Name of the keyring row that proves which master key this database belongs to.
const KEY_CHECK: &str = "master_key_check";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The vault key is wrapped by another key than the one configured (issue 15).
    #[error("{0}")]
    VaultWrapping(&'static str),
}

/// Name of the keyring row holding the wrapped Ed25519 seed that signs audit checkpoints.
const AUDIT_SEED: &str = "audit_signing_seed";

/// An unwrapped data key and when it was last read from the database.
type CachedKey = (Arc<DataKey>, Instant);

#[derive(Debug)]
pub struct Keys {
    master: MasterKey,
    audit_seed: SecretKey,
    /// True when this process created the audit signing key (it logs that key operation).
    pub created_audit_key: bool,
    /// Unwrapped data keys and when each was last read from the database.
    data_keys: RwLock<HashMap<(String, u32), CachedKey>>,
    current: RwLock<HashMap<String, u32>>,
}

/// How long an unwrapped data key is used before the database is asked again whether it still exists: a
/// tenant shredded by any process (the CLI, another node) becomes unreadable everywhere within this time.
pub const KEY_RECHECK: Duration = Duration::from_secs(2);

/// Wrapping contexts bind each wrapped key to its owner and purpose.
pub fn data_key_context(tenant_id: &str, key_id: u32) -> String {
    format!("tenant {tenant_id} data key {key_id}")
}

pub fn identity_secret_context(tenant_id: &str) -> String {
    format!("tenant {tenant_id} identity secret")
}

/// The card vault's key (issue 15): its keyring row and id. Apart from every tenant's data key, so that the
/// vault's scope is one key; the first byte of the row says what wraps it (0: the master key, 1:
/// `CORDON_VAULT_KEY`).
const VAULT_KEY: &str = "vault_key_1";
pub const VAULT_KEY_ID: u32 = 1;

pub fn vault_key_context(key_id: u32) -> String {
    format!("card vault key {key_id}")
}

impl Keys {
    /// The vault key, made on first use: unwrapped with `vault_kek` (`CORDON_VAULT_KEY`) when given, else with
    /// the master key. A database whose vault key another key wraps is refused, with which one it needs.
    pub async fn load_vault_key(
        &self,
        store: &Store,
        vault_kek: Option<&SecretKey>,
    ) -> Result<VaultKey, KeyError> {
        let (tag, wrapper) = match vault_kek {
            Some(k) => (1u8, MasterKey::new(k.clone())),
            None => (0u8, self.master.clone()),
        };
        let context = vault_key_context(VAULT_KEY_ID);
        let mut ours = vec![tag];
        ours.extend(wrapper.wrap(&context, &SecretKey::generate()));
        let stored = store.keyring_init(VAULT_KEY, &ours).await?;
        match stored.first() {
            Some(t) if *t == tag => {}
            Some(1) => {
                return Err(KeyError::VaultWrapping(
                    "the vault key is wrapped by CORDON_VAULT_KEY: set it",
                ))
            }
            Some(_) => {
                return Err(KeyError::VaultWrapping(
                    "the vault key is wrapped by the master key, not by the CORDON_VAULT_KEY given",
                ))
            }
            None => return Err(KeyError::Crypto(CryptoError::Malformed)),
        }
        let key = wrapper
            .unwrap_key(&context, &stored[1..])
            .map_err(|e| match e {
                CryptoError::Authentication => KeyError::VaultWrapping(
                    "CORDON_VAULT_KEY does not match this database's vault key",
                ),
                other => KeyError::Crypto(other),
            })?;
        Ok(VaultKey::new(VAULT_KEY_ID, key))
    }

    /// Bind the master key to the database: the first start stores a check value; later starts must match it.
    pub async fn open(store: &Store, master: SecretKey) -> Result<Keys, KeyError> {
        let master = MasterKey::new(master);
        let stored = store.keyring_init(KEY_CHECK, &master.key_check()).await?;
        master.verify_key_check(&stored)?;
        let fresh = SecretKey::generate();
        let ours = master.wrap(AUDIT_SEED, &fresh);
        let wrapped = store.keyring_init(AUDIT_SEED, &ours).await?;
        let audit_seed = master.unwrap_key(AUDIT_SEED, &wrapped)?;
        Ok(Keys {
            created_audit_key: wrapped == ours,
            audit_seed,
            master,
            data_keys: RwLock::new(HashMap::new()),
            current: RwLock::new(HashMap::new()),
        })
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The seed of the Ed25519 key that signs every log's checkpoints (each log under its own key name).
    pub fn audit_seed(&self) -> &[u8; 32] {
        self.audit_seed.dangerous_bytes()
    }

    /// How a failed login records the name typed: a keyed hash, never the raw string.
    pub fn login_name_hash(&self, tenant: &str, username: &str) -> String {
        let mut v = tenant.as_bytes().to_vec();
        v.push(0);
        v.extend_from_slice(username.as_bytes());
        hex::encode(&self.master.keyed_hash("login name", &v)[..16])
    }

    /// How a throttled client address appears in the audit log: a keyed hash (of the address as the limit
    /// counts it, see `throttle::address_key`), never the address.
    pub fn address_hash(&self, address: std::net::IpAddr) -> String {
        hex::encode(
            &self
                .master
                .keyed_hash("client address", address.to_string().as_bytes())[..16],
        )
    }

    /// The key that seals new messages of a tenant.
    pub async fn current_data_key(
        &self,
        store: &Store,
        tenant_id: &str,
    ) -> Result<Arc<DataKey>, KeyError> {
        let known = self
            .current
            .read()
            .ok()
            .and_then(|m| m.get(tenant_id).copied());
        if let Some(key_id) = known {
            match self.data_key(store, tenant_id, key_id).await {
                Err(KeyError::Store(StoreError::NotFound)) => {
                    // Shredded, or rotated away: forget it and ask the database which key is current.
                    if let Ok(mut m) = self.current.write() {
                        m.remove(tenant_id);
                    }
                }
                other => return other,
            }
        }
        let (key_id, wrapped) = store.current_data_key(tenant_id).await?;
        let key = Arc::new(DataKey::new(
            key_id,
            self.master
                .unwrap_key(&data_key_context(tenant_id, key_id), &wrapped)?,
        ));
        if let Ok(mut m) = self.data_keys.write() {
            m.insert(
                (tenant_id.to_string(), key_id),
                (key.clone(), Instant::now()),
            );
        }
        if let Ok(mut m) = self.current.write() {
            m.insert(tenant_id.to_string(), key_id);
        }
        Ok(key)
    }

    /// A specific key, for opening what it sealed.
    pub async fn data_key(
        &self,
        store: &Store,
        tenant_id: &str,
        key_id: u32,
    ) -> Result<Arc<DataKey>, KeyError> {
        let cached = self
            .data_keys
            .read()
            .ok()
            .and_then(|m| m.get(&(tenant_id.to_string(), key_id)).cloned());
        if let Some((k, read_at)) = cached {
            if read_at.elapsed() < KEY_RECHECK {
                return Ok(k);
            }
        }
        let wrapped = match store.data_key(tenant_id, key_id).await {
            Ok(w) => w,
            Err(e) => {
                if let Ok(mut m) = self.data_keys.write() {
                    m.remove(&(tenant_id.to_string(), key_id));
                }
                return Err(e.into());
            }
        };
        let key = Arc::new(DataKey::new(
            key_id,
            self.master
                .unwrap_key(&data_key_context(tenant_id, key_id), &wrapped)?,
        ));
        if let Ok(mut m) = self.data_keys.write() {
            m.insert(
                (tenant_id.to_string(), key_id),
                (key.clone(), Instant::now()),
            );
        }
        Ok(key)
    }

    /// A new tenant's wrapped data key (id 1) and wrapped identity secret, plus the identity secret in clear
    /// (shown once to whoever created the tenant).
    pub fn new_tenant_keys(&self, tenant_id: &str) -> (Vec<u8>, Vec<u8>, SecretKey) {
        let data = SecretKey::generate();
        let identity = SecretKey::generate();
        (
            self.master.wrap(&data_key_context(tenant_id, 1), &data),
            self.master
                .wrap(&identity_secret_context(tenant_id), &identity),
            identity,
        )
    }

    pub fn identity_secret(&self, tenant_id: &str, wrapped: &[u8]) -> Result<SecretKey, KeyError> {
        Ok(self
            .master
            .unwrap_key(&identity_secret_context(tenant_id), wrapped)?)
    }
}
