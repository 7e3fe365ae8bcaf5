//! Signed widget releases (issue 12): trusting a release key, proposing a release (its manifest signed with a
//! trusted key), the second operator's approval, the releases the server may serve, and tenants' pins.
//!
//! Two people, always: the operator who proposes a release cannot approve it (`self_approval`), and the
//! database decides (one conditional update). Every key trusted, release proposed and approval given is written
//! to the platform's transparency log (the platform audit log, a cordon-ledger Merkle log with signed
//! checkpoints); pins go to the tenant's log. The files themselves are on disk; the binary writes them and the
//! server reads them, checking each against the manifest here.

use cordon_ledger::{NoteSigner, NoteVerifier};
use cordon_release::{Manifest, ReleaseError};
use cordon_store::{Release, ReleaseKey};

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::operators::OperatorPrincipal;
use crate::Service;

/// A release whose signature verified against a trusted key and that a second operator approved: the only
/// kind the server serves.
#[derive(Debug, Clone)]
pub struct LiveRelease {
    pub manifest: Manifest,
    pub record: Release,
}

impl LiveRelease {
    pub fn id(&self) -> &str {
        self.manifest.id()
    }
}

/// A release in a listing, with what its signature check found.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: Release,
    pub manifest: Option<Manifest>,
    /// `None` when the signature verified with a trusted key; otherwise why not.
    pub problem: Option<ReleaseError>,
}

fn refusal(e: ReleaseError) -> Refusal {
    match e {
        ReleaseError::UnknownKey => Refusal::new(
            code::UNKNOWN_RELEASE_KEY,
            "the release is not signed by a trusted release key",
        ),
        ReleaseError::BadSignature => Refusal::new(
            code::BAD_SIGNATURE,
            "the release's signature does not verify",
        ),
        ReleaseError::MissingFile(name) => Refusal::new(
            code::BAD_REQUEST,
            match name {
                "loader.js" => "the release has no loader.js",
                "frame.html" => "the release has no frame.html",
                "frame.js" => "the release has no frame.js",
                _ => "the release has no frame.css",
            },
        ),
        ReleaseError::InvalidId => Refusal::new(
            code::INVALID_ID,
            "a release id is 1-64 of a-z A-Z 0-9 . _ -",
        ),
        ReleaseError::FileTooLarge { .. } => Refusal::invalid("a widget file is larger than 1 MiB"),
        ReleaseError::MalformedKey => Refusal::invalid("malformed release key"),
        _ => Refusal::invalid("malformed release"),
    }
}

/// The release keys the platform trusts.
pub async fn trusted_keys(svc: &Service) -> Result<Vec<NoteVerifier>> {
    let keys = svc.store.release_keys().await?;
    Ok(keys
        .iter()
        .filter_map(|k| cordon_release::verifier(&k.vkey).ok())
        .collect())
}

/// Trust a release key (its verifier key string), as a signed-in operator. Answers the key id and whether it
/// is new. Written to the platform log (`release.key_add`).
pub async fn trust_key(
    svc: &Service,
    who: &OperatorPrincipal,
    vkey: &str,
) -> Result<(String, bool)> {
    let v = cordon_release::verifier(vkey).map_err(refusal)?;
    let key_id = format!("{:08x}", v.key_id());
    let key = ReleaseKey {
        key_id: key_id.clone(),
        vkey: v.to_string(),
        added_by: who.actor(),
        added_at: cordon_store::now_ms(),
    };
    let entry = audit::platform_entry(
        &who.actor(),
        Action::ReleaseKeyAdd,
        &format!("release_key:{key_id}"),
    );
    let added = svc.store.add_release_key(&key, &[entry]).await?;
    Ok((key_id, added))
}

/// Propose a release of `files` (every widget file, by name), signed with `signer`, which must be a trusted
/// release key. Written to the platform log (`release.propose`, with the SHA-256 of the signed note). It is
/// not live until another operator approves it.
pub async fn propose(
    svc: &Service,
    who: &OperatorPrincipal,
    id: Option<&str>,
    files: &[(&str, &[u8])],
    signer: &NoteSigner,
) -> Result<Release> {
    let id = match id {
        Some(id) => id.to_string(),
        None => cordon_crypto::new_id("rel"),
    };
    let manifest = Manifest::build(&id, files).map_err(refusal)?;
    let trusted = trusted_keys(svc).await?;
    let verifier = signer.verifier();
    if !trusted.iter().any(|k| k == &verifier) {
        return Err(refusal(ReleaseError::UnknownKey));
    }
    let note = manifest.sign(signer).map_err(refusal)?;
    let record = Release {
        id: id.clone(),
        key_id: format!("{:08x}", verifier.key_id()),
        note: note.clone(),
        proposed_by: who.operator.id.clone(),
        proposed_at: cordon_store::now_ms(),
        approved_by: None,
        approved_at: None,
    };
    let entry = audit::platform_entry(
        &who.actor(),
        Action::ReleasePropose,
        &format!("release:{id}#note:{}", Manifest::note_digest(&note)),
    );
    svc.store.create_release(&record, &[entry]).await?;
    Ok(record)
}

/// Approve another operator's release. Its signature is checked again against the trusted keys; the
/// proposer approving their own is `self_approval`. Written to the platform log (`release.approve`).
pub async fn approve(svc: &Service, who: &OperatorPrincipal, id: &str) -> Result<LiveRelease> {
    let record = svc.store.release(id).await?;
    let trusted = trusted_keys(svc).await?;
    let (manifest, _) = Manifest::open(&record.note, &trusted).map_err(refusal)?;
    if manifest.id() != record.id {
        return Err(refusal(ReleaseError::Malformed));
    }
    if record.proposed_by == who.operator.id {
        return Err(self_approval());
    }
    let entry = audit::platform_entry(
        &who.actor(),
        Action::ReleaseApprove,
        &format!("release:{id}#note:{}", Manifest::note_digest(&record.note)),
    );
    let record = svc
        .store
        .approve_release(id, &who.operator.id, &[entry])
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::Conflict("self_approval") => self_approval(),
            other => Refusal::from(other),
        })?;
    Ok(LiveRelease { manifest, record })
}

fn self_approval() -> Refusal {
    Refusal::new(
        code::SELF_APPROVAL,
        "a release needs a second operator: you cannot approve your own",
    )
}

/// Every release with the result of its signature check (for `cordon release list`).
pub async fn list(svc: &Service) -> Result<Vec<Listed>> {
    let trusted = trusted_keys(svc).await?;
    Ok(svc
        .store
        .releases()
        .await?
        .into_iter()
        .map(|record| match Manifest::open(&record.note, &trusted) {
            Ok((m, _)) if m.id() == record.id => Listed {
                record,
                manifest: Some(m),
                problem: None,
            },
            Ok(_) => Listed {
                record,
                manifest: None,
                problem: Some(ReleaseError::Malformed),
            },
            Err(e) => Listed {
                manifest: Manifest::peek(&record.note).ok(),
                record,
                problem: Some(e),
            },
        })
        .collect())
}

fn live_of(record: Release, trusted: &[NoteVerifier]) -> Option<LiveRelease> {
    match Manifest::open(&record.note, trusted) {
        Ok((manifest, _)) if manifest.id() == record.id && record.approved_by.is_some() => {
            Some(LiveRelease { manifest, record })
        }
        Ok(_) => {
            tracing::error!(release = %record.id, "release record does not match its manifest: not served");
            None
        }
        Err(e) => {
            tracing::error!(release = %record.id, error = %e, "release refused: not served");
            None
        }
    }
}

/// The releases the server may serve: approved by a second operator, signed by a trusted key. Oldest
/// approval first; the last is the latest. A record that fails its check is left out and logged.
pub async fn live(svc: &Service) -> Result<Vec<LiveRelease>> {
    let trusted = trusted_keys(svc).await?;
    Ok(svc
        .store
        .approved_releases()
        .await?
        .into_iter()
        .filter_map(|r| live_of(r, &trusted))
        .collect())
}

/// The release a tenant is served: its pin, or the latest live release.
pub async fn for_tenant(svc: &Service, tenant_id: &str) -> Result<Option<LiveRelease>> {
    let Some(record) = svc.store.release_for_tenant(tenant_id).await? else {
        return Ok(None);
    };
    let trusted = trusted_keys(svc).await?;
    Ok(live_of(record, &trusted))
}

/// What a tenant's admin sees of releases: its pin and the live releases it may pin.
#[derive(Debug, Clone)]
pub struct TenantReleases {
    pub pinned: Option<String>,
    /// The release its snippet and frame use now.
    pub current: Option<String>,
    pub live: Vec<LiveRelease>,
}

/// The caller's tenant's pin and the live releases (admin).
pub async fn tenant_view(svc: &Service, principal: &Principal) -> Result<TenantReleases> {
    principal.require(Scope::Admin)?;
    let tenant = principal.tenant_id();
    // Every access is audited, reads included (docs/AUDIT.md).
    audit::record_read(svc, principal, Action::TenantRead, "tenant#release").await?;
    Ok(TenantReleases {
        pinned: svc.store.release_pin(tenant).await?,
        current: for_tenant(svc, tenant).await?.map(|r| r.id().to_string()),
        live: live(svc).await?,
    })
}

/// Pin the caller's tenant to a live release, or (`None`) follow the latest. Audited in the tenant's log
/// (`release.pin`). A release that is not approved is `not_found`.
pub async fn pin(svc: &Service, principal: &Principal, release_id: Option<&str>) -> Result<()> {
    principal.require(Scope::Admin)?;
    pin_tenant(svc, principal.tenant_id(), &principal.actor(), release_id).await
}

/// [`pin`] for the CLI (an operator with database access), by tenant id.
pub async fn pin_tenant(
    svc: &Service,
    tenant_id: &str,
    actor: &str,
    release_id: Option<&str>,
) -> Result<()> {
    if let Some(id) = release_id {
        if !cordon_release::valid_id(id) {
            return Err(refusal(ReleaseError::InvalidId));
        }
    }
    let target = match release_id {
        Some(id) => format!("release:{id}"),
        None => "release:latest".to_string(),
    };
    let entry = audit::entry(tenant_id, actor, Action::ReleasePin, &target);
    Ok(svc
        .store
        .set_release_pin(tenant_id, release_id, &[entry])
        .await?)
}
