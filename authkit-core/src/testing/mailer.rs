//! [`MemoryMailer`]: captures messages so tests can read links from them.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{EmailKind, Mailer, MailerError, OutgoingEmail};

/// Keeps every message it is given.
#[derive(Debug, Default)]
pub struct MemoryMailer(Mutex<Vec<OutgoingEmail>>);

impl MemoryMailer {
    /// An empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<OutgoingEmail> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The `token` query parameter of the link in the last message of `kind` sent to `to`.
    pub fn last_token(&self, to: &str, kind: EmailKind) -> Option<String> {
        self.messages()
            .iter()
            .rev()
            .find(|m| m.to.as_str() == to && m.kind == kind)
            .and_then(|m| m.link.as_deref())
            .and_then(|link| link.split_once("token="))
            .map(|(_, t)| t.split('&').next().unwrap_or(t).to_owned())
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(email.clone());
        Ok(())
    }
}
