//! What a tenant's payment processor receives when a token is forwarded: the card and the payment, as JSON, in
//! a buffer zeroed when dropped. The request is signed by the caller (Standard Webhooks headers, the tenant's
//! processor secret) so the processor can tell it came from the vault.

use serde::Serialize;
use zeroize::Zeroizing;

use crate::CardRecord;

/// The payment a token was captured for (from the agent's request).
#[derive(Debug, Clone, Serialize)]
pub struct Payment<'a> {
    pub request_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub description: &'a str,
}

#[derive(Serialize)]
struct Card<'a> {
    number: &'a str,
    exp_month: u32,
    exp_year: u32,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cvv: Option<&'a str>,
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    tenant_id: &'a str,
    token_id: &'a str,
    brand: &'a str,
    last4: &'a str,
    card: Card<'a>,
    payment: &'a Payment<'a>,
    /// What the caller of the forward passed through (an order reference), bounded and card-free.
    reference: &'a str,
}

/// The request body for a forward. `forward_id` identifies this attempt (the `webhook-id` header too).
#[allow(clippy::too_many_arguments)]
pub fn body(
    forward_id: &str,
    tenant_id: &str,
    token_id: &str,
    card: &CardRecord,
    brand: &str,
    cvv: Option<&str>,
    payment: &Payment<'_>,
    reference: &str,
) -> Zeroizing<Vec<u8>> {
    let body = Body {
        id: forward_id,
        kind: "card.forward",
        tenant_id,
        token_id,
        brand,
        last4: card.last4(),
        card: Card {
            number: &card.number,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            name: &card.name,
            cvv,
        },
        payment,
        reference,
    };
    // Strings and integers only: serialising cannot fail.
    Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_processor_gets_the_card_and_the_payment() {
        let card = CardRecord {
            number: "4111111111111111".into(),
            exp_month: 12,
            exp_year: 2030,
            name: "Ada".into(),
        };
        let p = Payment {
            request_id: "pr_x",
            amount_minor: 4900,
            currency: "EUR",
            description: "Change fee",
        };
        let b = body(
            "fw_1",
            "t_1",
            "tok_1",
            &card,
            "Visa",
            Some("123"),
            &p,
            "order-7",
        );
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["card"]["number"], "4111111111111111");
        assert_eq!(v["card"]["cvv"], "123");
        assert_eq!(v["payment"]["amount_minor"], 4900);
        assert_eq!(v["last4"], "1111");
        let b = body("fw_2", "t_1", "tok_1", &card, "Visa", None, &p, "");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert!(v["card"].get("cvv").is_none());
    }
}
