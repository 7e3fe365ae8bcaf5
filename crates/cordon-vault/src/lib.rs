//! The card vault (issue 15): everything that touches a full card number, in one crate, so that the PCI scope
//! is visible in the tree (docs/PAYMENTS.md).
//!
//! - [`card`]: what the vault form sends, checked (Luhn and brand from cordon-card, expiry, name), and the
//!   record that is sealed under the vault key (cordon-crypto's `VaultKey`, bound to tenant and token id).
//! - [`cvv`]: the security code, held in memory only, at most 15 minutes, handed out once.
//! - [`ids`]: token and payment-request ids (random; no hash of the card anywhere), form capabilities.
//! - [`form`]: the vault page's Content-Security-Policy and the IIN table its live check reads.
//! - [`forward`]: the request a processor receives when a token is forwarded.
//!
//! Pure: no I/O, no clocks it does not get passed (except the CVV hold's `Instant`s), no logging. Nothing here
//! formats a card number into an error or a `Debug` string.
#![forbid(unsafe_code)]

pub mod card;
pub mod cvv;
pub mod form;
pub mod forward;
pub mod ids;

/// Why the vault refused card input. Messages are fixed and never quote what was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the card number is not a valid card number")]
    CardNumber,
    #[error("the expiry date is not a valid month in the future")]
    Expiry,
    #[error("the name on the card is empty, too long, or holds characters a name does not")]
    Name,
    #[error("the security code is 3 or 4 digits")]
    Cvv,
    #[error("a sealed card record is malformed")]
    Malformed,
}

pub use card::{CardInput, CardRecord, ValidCard};
pub use cvv::CvvHold;
