//! Refresh tokens through `AuthKit`: the selector a session's tokens carry, and sessions opened
//! before selectors existed (tokens of 43 characters, found by hash), on `MemoryStore`.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod common;

use std::sync::Arc;

use authkit_core::domain::{Email, NewSession, OpaqueToken, Password, RefreshSelector, SessionId};
use authkit_core::ports::{AuditStore, Clock, SessionStore};
use authkit_core::service::{LoginInput, RequestContext, TokenPair};
use authkit_core::testing::{ManualClock, MemoryStore, fast_hasher};
use authkit_core::{AuthKit, Error};
use time::Duration;

use common::{PASSWORD, register};

struct Kit {
    kit: AuthKit,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
}

fn kit() -> Kit {
    let clock = Arc::new(ManualClock::starting_now());
    let store = Arc::new(MemoryStore::new());
    let kit = common::builder(store.clone(), clock.clone())
        .hasher(fast_hasher())
        .build()
        .unwrap();
    Kit { kit, store, clock }
}

/// Two logins of the registered `email`: two sessions of one user.
async fn two_logins(kit: &AuthKit, email: &str) -> (TokenPair, TokenPair) {
    let login = || LoginInput {
        email: Email::parse(email).unwrap(),
        password: Password::new(PASSWORD),
        remember_me: false,
    };
    let ctx = RequestContext::default();
    let first = kit.login(&ctx, login()).await.unwrap();
    let second = kit.login(&ctx, login()).await.unwrap();
    (first, second)
}

/// A login's refresh token carries a selector of its own, and every rotation keeps it.
#[tokio::test]
async fn a_session_keeps_its_selector_across_rotations() {
    let k = kit();
    register(&k.kit, "ada@example.com").await;
    let ctx = RequestContext::default();
    let (first, other) = two_logins(&k.kit, "ada@example.com").await;
    let selector = RefreshSelector::of(first.refresh_token.expose()).expect("a selector");
    assert_ne!(
        RefreshSelector::of(other.refresh_token.expose()),
        Some(selector),
        "each session draws its own"
    );
    let second = k
        .kit
        .refresh(&ctx, first.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(
        RefreshSelector::of(second.refresh_token.expose()),
        Some(selector)
    );
    assert_ne!(second.refresh_token.expose(), first.refresh_token.expose());
    let third = k
        .kit
        .refresh(&ctx, second.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(
        RefreshSelector::of(third.refresh_token.expose()),
        Some(selector)
    );
}

/// A token made up with a session's selector and another secret is refused and taken for reuse
/// (whoever has the selector has held a token of the session): the session is revoked, its
/// current token refused after it, and the event recorded as `refresh_reuse`. The user's other
/// session keeps working.
#[tokio::test]
async fn a_token_made_up_with_a_sessions_selector_revokes_that_session() {
    let k = kit();
    let user = register(&k.kit, "ada@example.com").await;
    let ctx = RequestContext::default();
    let (target, other) = two_logins(&k.kit, "ada@example.com").await;
    let selector = RefreshSelector::of(target.refresh_token.expose()).expect("a selector");
    let made_up = OpaqueToken::refresh(selector).unwrap();
    assert!(matches!(
        k.kit.refresh(&ctx, made_up.expose()).await,
        Err(Error::InvalidToken)
    ));
    let revoked = k.store.session(target.session_id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(k.clock.now()), "the session ended");
    assert!(matches!(
        k.kit.refresh(&ctx, target.refresh_token.expose()).await,
        Err(Error::InvalidToken)
    ));
    let events = k.store.audit_of_user(user, 10).await.unwrap();
    let reuse: Vec<_> = events
        .iter()
        .filter(|e| e.event == "refresh_reuse")
        .map(|e| e.detail["session_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(reuse, [Some(target.session_id.to_string())]);
    let next = k
        .kit
        .refresh(&ctx, other.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(next.session_id, other.session_id, "the other session lives");
}

/// A session without selector (as one opened before selectors existed, whose client holds a
/// 43-character token) refreshes, gets tokens of the same form, and reuse of its spent token
/// revokes it.
#[tokio::test]
async fn a_session_without_selector_refreshes_by_hash() {
    let k = kit();
    let user = register(&k.kit, "old@example.com").await;
    let now = k.clock.now();
    let token = OpaqueToken::generate().unwrap();
    assert_eq!(token.expose().len(), 43);
    let session = k
        .store
        .create_session(&NewSession {
            id: SessionId::new_v7(now),
            user_id: user,
            refresh_hash: token.hash(),
            refresh_selector: None,
            now,
            expires_at: now + Duration::days(30),
            idle_expires_at: now + Duration::days(14),
            remember_me: true,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
    let ctx = RequestContext::default();
    let next = k.kit.refresh(&ctx, token.expose()).await.unwrap();
    assert_eq!(next.session_id, session.id);
    assert_eq!(next.refresh_token.expose().len(), 43, "the form is kept");
    let after = k
        .kit
        .refresh(&ctx, next.refresh_token.expose())
        .await
        .unwrap();
    assert!(matches!(
        k.kit.refresh(&ctx, token.expose()).await,
        Err(Error::InvalidToken)
    ));
    assert!(
        k.store
            .session(session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "reuse revoked the session"
    );
    assert!(matches!(
        k.kit.refresh(&ctx, after.refresh_token.expose()).await,
        Err(Error::InvalidToken)
    ));
}
