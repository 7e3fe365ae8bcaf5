//! The card vault's two socket frames (issue 15): an agent's `payment.request`, a visitor's `payment.open`.
//! Each calls one use case (`cordon_service::payments`) and writes its answer; neither ever carries a card.

use cordon_service::code;
use cordon_service::payments;
use cordon_service::protocol::ServerFrame;

use super::{Conn, Exit};

impl Conn {
    pub(super) async fn on_payment_request(
        &mut self,
        conversation_id: String,
        amount_minor: i64,
        currency: String,
        description: String,
    ) -> Result<(), Exit> {
        let Some(agent) = self.chatting_agent() else {
            return self
                .send_error(code::FORBIDDEN, "only agents ask for payments", None)
                .await;
        };
        let svc = self.state.service.clone();
        match payments::request_payment(
            &svc,
            &agent,
            &conversation_id,
            amount_minor,
            &currency,
            &description,
        )
        .await
        {
            Ok(request) => self.send(&ServerFrame::PaymentRequested { request }).await,
            Err(r) => self.refuse(r, None).await,
        }
    }

    pub(super) async fn on_payment_open(&mut self, request_id: String) -> Result<(), Exit> {
        let (tenant_id, visitor_id) =
            match self.visitor_ids("only the conversation's visitor opens the card form") {
                Ok(ids) => ids,
                Err((c, m)) => return self.send_error(c, m, None).await,
            };
        let svc = self.state.service.clone();
        match payments::open_form(&svc, &tenant_id, &visitor_id, &request_id).await {
            Ok(form) => self.send(&ServerFrame::PaymentForm(form)).await,
            Err(r) => self.refuse(r, None).await,
        }
    }
}
