//! The visitor's `file.ticket` frame (issue 20): the ticket its frame sends to the widget origin's file routes.
//! The rules are the service's (`cordon_service::files`).

use cordon_service::code;
use cordon_service::files;
use cordon_service::protocol::ServerFrame;

use super::{Conn, Exit, Role};

impl Conn {
    pub(super) async fn on_file_ticket(&mut self) -> Result<(), Exit> {
        let (tenant, visitor_id, expires) = match &self.role {
            Role::Visitor(v) => match (&v.tenant, &v.visitor) {
                (Some(t), Some(vis)) => (t.clone(), vis.id.clone(), v.identity_expires),
                _ => {
                    return self
                        .send_error(code::NOT_AUTHENTICATED, "send a valid hello first", None)
                        .await
                }
            },
            Role::Agent(_) => {
                return self
                    .send_error(
                        code::FORBIDDEN,
                        "agents send files with their session at the console",
                        None,
                    )
                    .await
            }
        };
        let svc = self.state.service.clone();
        match files::issue_ticket(&svc, &tenant, &visitor_id, expires).await {
            Ok(t) => self.send(&ServerFrame::FileTicket(t)).await,
            Err(r) => self.refuse(r, None).await,
        }
    }
}
