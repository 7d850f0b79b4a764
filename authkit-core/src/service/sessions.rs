//! Sessions: issuing token pairs, refresh rotation with reuse detection, logout.

use serde_json::json;
use time::OffsetDateTime;

use crate::AuthKit;
use crate::domain::{
    AuditKind, Audited, NewSession, OpaqueToken, RefreshAudit, RefreshRotation, RefreshSelector,
    RefreshedSession, RotateOutcome, Session, SessionId, SessionOwner, TokenHash, User, UserId,
    UserStatus, new_v7,
};
use crate::error::{Error, Result};
use crate::jwt::AccessClaims;
use crate::metrics::{self, RefreshOutcome};
use crate::service::{Principal, RequestContext};

/// How long an ended session is kept by default before [`AuthKit::purge_sessions`] deletes it
/// with its spent refresh hashes (7 days; [`crate::AuthConfig::session_retention`]). Meanwhile
/// a refresh token of it still reports reuse (`refresh_token_already_used`) and the session
/// still shows in the user's data export.
pub const SESSION_RETENTION: time::Duration = time::Duration::days(7);

/// An access token and a refresh token, as login and refresh return them.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The signed access JWT.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The new refresh token (opaque, single use).
    pub refresh_token: OpaqueToken,
    /// Seconds until the refresh token expires (the session's idle or absolute expiry).
    pub refresh_expires_in: i64,
    /// The session.
    pub session_id: SessionId,
    /// The user.
    pub user: User,
}

impl AuthKit {
    /// Deletes the sessions that ended more than [`crate::AuthConfig::session_retention`]
    /// ([`SESSION_RETENTION`] by default) before `now` (revoked, or past their absolute or
    /// idle expiry), with their spent refresh hashes
    /// ([`crate::ports::SessionStore::purge_sessions`]); returns how many. Without it every
    /// refresh token ever rotated stays in the database. The email worker
    /// ([`AuthKit::run_email_worker`]) runs it every hour; a host that runs no worker can call
    /// it on its own schedule.
    pub async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        Ok(self
            .inner
            .store
            .purge_sessions(now - self.inner.config.session_retention)
            .await?)
    }

    /// Opens a session for `user` (a successful login) and records its `login_ok` event, which
    /// the store writes with the session when it can.
    pub(crate) async fn open_session(
        &self,
        ctx: &RequestContext,
        user: UserId,
        remember_me: bool,
    ) -> Result<TokenPair> {
        let config = &self.inner.config;
        let now = self.inner.clock.now();
        let selector = RefreshSelector::generate()?;
        let refresh = OpaqueToken::refresh(selector)?;
        let absolute = if remember_me {
            config.session_absolute_ttl
        } else {
            config.session_short_ttl
        };
        let expires_at = now + absolute;
        let id = SessionId::new_v7(now);
        let event = self.audit_event(
            ctx,
            AuditKind::LoginOk,
            Some(user),
            Some(user),
            json!({ "session_id": id.to_string() }),
        );
        let Audited {
            value: (session, owner),
            audited,
        } = self
            .inner
            .store
            .create_session_with_owner(
                &NewSession {
                    id,
                    user_id: user,
                    refresh_hash: refresh.hash(),
                    refresh_selector: Some(selector),
                    now,
                    expires_at,
                    idle_expires_at: (now + config.session_idle_ttl).min(expires_at),
                    remember_me,
                    ip: ctx.ip,
                    user_agent: ctx.user_agent_truncated(),
                },
                &event,
            )
            .await?;
        self.record_unless_audited(AuditKind::LoginOk, event, audited)
            .await;
        // The token carries the owner as the session's transaction saw it: roles changed while
        // the password was checked count. An account disabled or deleted meanwhile, whose
        // transaction revoked its sessions before this one existed, gets none.
        let SessionOwner { user, permissions } = owner;
        if user.deleted_at.is_some() || user.status != UserStatus::Active {
            self.inner
                .store
                .revoke_session(user.id, session.id, now)
                .await?;
            let (reason, error) = if user.deleted_at.is_some() {
                ("account_deleted", Error::InvalidCredentials)
            } else {
                ("account_disabled", Error::AccountDisabled)
            };
            self.refuse_login(ctx, user.id, reason).await;
            return Err(error);
        }
        self.token_pair(user, permissions, &session, refresh, now)
    }

    /// Signs an access token for `user` with `perms` in `session`, beside the new `refresh`.
    fn token_pair(
        &self,
        user: User,
        perms: Vec<String>,
        session: &Session,
        refresh: OpaqueToken,
        now: OffsetDateTime,
    ) -> Result<TokenPair> {
        let ttl = self.inner.config.access_token_ttl;
        let iat = now.unix_timestamp();
        let claims = AccessClaims {
            iss: self.inner.config.issuer.clone(),
            aud: self.inner.config.audience.clone(),
            sub: user.id.to_string(),
            sid: session.id.to_string(),
            jti: crate::domain::new_v7(now).to_string(),
            iat,
            nbf: iat,
            exp: iat + ttl.whole_seconds(),
            email_verified: user.email_verified,
            roles: user.roles.clone(),
            perms,
            av: session.authz_version,
        };
        let access_token = self.inner.tokens.sign(&claims).map_err(Error::internal)?;
        let refresh_expires_at = session.idle_expires_at.min(session.expires_at);
        Ok(TokenPair {
            access_token,
            expires_in: ttl.whole_seconds(),
            refresh_token: refresh,
            refresh_expires_in: (refresh_expires_at - now).whole_seconds().max(0),
            session_id: session.id,
            user,
        })
    }

    /// Exchanges a refresh token for a new pair. The presented token is spent in one atomic
    /// step; presenting a spent token again, or any token with the session's selector but not
    /// its current secret, revokes its whole session (reuse detection).
    /// Any refusal is `InvalidToken`.
    pub async fn refresh(&self, ctx: &RequestContext, refresh_token: &str) -> Result<TokenPair> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            metrics::refresh(RefreshOutcome::Failed);
            return Err(Error::InvalidToken);
        }
        let now = self.inner.clock.now();
        // A session keeps its selector: the next token carries the presented one. A token
        // without one (a session opened before selectors) is followed by one of its form.
        let selector = RefreshSelector::of(refresh_token);
        let next = match selector {
            Some(selector) => OpaqueToken::refresh(selector)?,
            None => OpaqueToken::generate()?,
        };
        let audit = RefreshAudit {
            id: new_v7(now),
            at: now,
            ip: ctx.ip,
            user_agent: ctx.user_agent_truncated(),
        };
        let RefreshedSession {
            outcome,
            owner,
            audited,
        } = self
            .inner
            .store
            .rotate_refresh_audited(
                &RefreshRotation {
                    selector,
                    presented: TokenHash::of(refresh_token),
                    next: next.hash(),
                    now,
                    idle_expires_at: now + self.inner.config.session_idle_ttl,
                },
                &audit,
            )
            .await?;
        let session = match outcome {
            RotateOutcome::Rotated(session) => session,
            RotateOutcome::Reused {
                session_id,
                user_id,
            } => {
                metrics::refresh(RefreshOutcome::Reused);
                self.audit(
                    ctx,
                    AuditKind::RefreshReuse,
                    Some(user_id),
                    json!({ "session_id": session_id.to_string() }),
                )
                .await;
                return Err(Error::InvalidToken);
            }
            RotateOutcome::Invalid => {
                metrics::refresh(RefreshOutcome::Failed);
                return Err(Error::InvalidToken);
            }
        };
        // The refresh happened: its event is recorded even when the owner turns out to be gone
        // (disabled or deleted right after the rotation, which their transactions would
        // otherwise have prevented by revoking the session).
        let event = audit.event(session.id, session.user_id);
        self.record_unless_audited(AuditKind::Refresh, event, audited)
            .await;
        let (user, perms) = match owner {
            Some(SessionOwner { user, permissions })
                if user.deleted_at.is_none() && user.status == UserStatus::Active =>
            {
                (user, permissions)
            }
            _ => {
                self.inner
                    .store
                    .revoke_session(session.user_id, session.id, now)
                    .await?;
                metrics::refresh(RefreshOutcome::Failed);
                return Err(Error::InvalidToken);
            }
        };
        let pair = self.token_pair(user, perms, &session, next, now)?;
        metrics::refresh(RefreshOutcome::Ok);
        Ok(pair)
    }

    /// Ends the principal's session: its refresh token and access tokens stop working at once.
    pub async fn logout(&self, ctx: &RequestContext, principal: &Principal) -> Result<()> {
        let now = self.inner.clock.now();
        self.inner
            .store
            .revoke_session(principal.user_id, principal.session_id, now)
            .await?;
        self.audit(
            ctx,
            AuditKind::Logout,
            Some(principal.user_id),
            json!({ "session_id": principal.session_id.to_string() }),
        )
        .await;
        Ok(())
    }
}

impl AuthKit {
    /// The principal's live sessions, newest first.
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<Session>> {
        let now = self.inner.clock.now();
        let mut sessions = self.inner.store.sessions_of(principal.user_id).await?;
        sessions.retain(|s| s.is_live(now));
        Ok(sessions)
    }

    /// Revokes one of the principal's sessions; `NotFound` for an unknown, already revoked or
    /// another user's session.
    pub async fn revoke_own_session(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        id: SessionId,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        if !self
            .inner
            .store
            .revoke_session(principal.user_id, id, now)
            .await?
        {
            return Err(Error::NotFound);
        }
        self.audit(
            ctx,
            AuditKind::SessionRevoked,
            Some(principal.user_id),
            json!({ "session_id": id.to_string() }),
        )
        .await;
        Ok(())
    }

    /// Revokes every session of the principal, the calling one included ("log out
    /// everywhere").
    pub async fn revoke_all_own_sessions(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        let n = self
            .inner
            .store
            .revoke_all_sessions(principal.user_id, now)
            .await?;
        self.audit(
            ctx,
            AuditKind::AllSessionsRevoked,
            Some(principal.user_id),
            json!({ "revoked": n }),
        )
        .await;
        Ok(())
    }
}
