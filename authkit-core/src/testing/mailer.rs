//! [`MemoryMailer`]: captures messages so tests can read links from them, and fails on demand
//! so tests can drive the outbox's retries.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{EmailKind, Mailer, MailerError, OutgoingEmail};

#[derive(Debug, Default)]
struct State {
    sent: Vec<OutgoingEmail>,
    attempts: u32,
    /// Failures still to answer: `(count, transient)`.
    failing: Option<(u32, bool)>,
}

/// Keeps every message it is given; [`MemoryMailer::fail_next`] makes it refuse some first.
#[derive(Debug, Default)]
pub struct MemoryMailer(Mutex<State>);

/// Why a [`MemoryMailer`] refused a message.
#[derive(Debug, thiserror::Error)]
#[error("the test mailer was told to fail")]
pub struct InjectedFailure;

impl MemoryMailer {
    /// An empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every message sent so far.
    pub fn messages(&self) -> Vec<OutgoingEmail> {
        self.state().sent.clone()
    }

    /// Calls of [`Mailer::send`] so far, failed ones included.
    pub fn attempts(&self) -> u32 {
        self.state().attempts
    }

    /// Refuses the next `count` messages (`u32::MAX`: until told otherwise) with a transient or
    /// a permanent [`MailerError`]; `count = 0` stops failing.
    pub fn fail_next(&self, count: u32, transient: bool) {
        self.state().failing = (count > 0).then_some((count, transient));
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
        let mut state = self.state();
        state.attempts += 1;
        if let Some((left, transient)) = state.failing {
            state.failing = (left > 1).then_some((left.saturating_sub(1), transient));
            if left == u32::MAX {
                state.failing = Some((left, transient));
            }
            return Err(if transient {
                MailerError::transient(InjectedFailure)
            } else {
                MailerError::permanent(InjectedFailure)
            });
        }
        state.sent.push(email.clone());
        Ok(())
    }
}
