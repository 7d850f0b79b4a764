//! Email: what authkit sends, and how it gets there without ever being lost.
//!
//! Every email is written to the outbox ([`crate::ports::OutboxStore`]) in the same transaction
//! as the change or one-time token it announces, and nothing is sent while a request waits. A
//! worker ([`crate::AuthKit::run_email_worker`]) claims due messages, renders them with the
//! [`EmailTemplates`] in the recipient's language, and hands them to the
//! [`crate::ports::Mailer`]; a failure is retried with exponential backoff and, after
//! [`crate::config::OutboxConfig::max_attempts`], the message is abandoned (an operator can queue
//! it again). A reset or verification requested by address is looked up by the worker, so the
//! request itself costs the same whether the account exists or not.
//!
//! Links are built from [`crate::AuthConfig::public_url`], never from a request's Host header.

mod compose;
mod templates;
mod worker;

pub(crate) use compose::Content;
pub use templates::{EmailTemplates, RenderContext, RenderedEmail, TemplateError};
pub use worker::DeliveryReport;
