//! Authenticating bearer tokens: [`Principal`] and [`AuthKit::authenticate_bearer`].

use crate::AuthKit;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::domain::{Session, SessionId, User, UserId};
use crate::error::{Error, Result};
use crate::jwt::AccessClaims;

/// An authenticated caller: the claims of a verified access token whose session is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (`sub`).
    pub user_id: UserId,
    /// The session (`sid`).
    pub session_id: SessionId,
    /// Whether the email was verified when the token was issued.
    pub email_verified: bool,
    /// Role names.
    pub roles: Vec<String>,
    /// Permissions granted by the roles.
    pub perms: Vec<String>,
}

impl Principal {
    /// Succeeds when the principal holds `permission`; otherwise `Error::Forbidden` (403).
    pub fn require(&self, permission: &str) -> Result<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                permission: permission.to_owned(),
            })
        }
    }

    /// Whether the principal holds `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.perms.iter().any(|p| p == permission)
    }
}

impl AuthKit {
    /// Authenticates an `Authorization` header value (`Bearer <jwt>`): verifies the token
    /// (signature, `typ`, `iss`, `aud`, `exp`, `nbf`) and checks that its session is live, so
    /// that logout and revocation take effect at once. Any failure is `Error::Unauthorized`.
    pub async fn authenticate_bearer(&self, authorization: Option<&str>) -> Result<Principal> {
        self.authenticate_token(bearer_token(authorization)?).await
    }

    /// Authenticates a raw access token (see [`AuthKit::authenticate_bearer`]).
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal> {
        let (now, claims, session_id) = self.verify_access_token(token)?;
        let session = self
            .inner
            .store
            .session(session_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        principal(&claims, &session, now)
    }

    /// [`AuthKit::authenticate_bearer`] and [`AuthKit::current_user`] in one store read
    /// ([`SessionStore::session_and_user`]): what `GET /users/me` does.
    ///
    /// [`SessionStore::session_and_user`]: crate::ports::SessionStore::session_and_user
    pub async fn authenticate_bearer_user(
        &self,
        authorization: Option<&str>,
    ) -> Result<(Principal, User)> {
        let (now, claims, session_id) = self.verify_access_token(bearer_token(authorization)?)?;
        let (session, user) = self
            .inner
            .store
            .session_and_user(session_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let principal = principal(&claims, &session, now)?;
        if user.id != principal.user_id || user.deleted_at.is_some() {
            return Err(Error::Unauthorized);
        }
        Ok((principal, user))
    }

    /// The principal's user as stored now. A deleted user is `Unauthorized`.
    pub async fn current_user(&self, principal: &Principal) -> Result<User> {
        match self.inner.store.user_by_id(principal.user_id).await? {
            Some(user) if user.deleted_at.is_none() => Ok(user),
            _ => Err(Error::Unauthorized),
        }
    }

    /// The clock's now, the claims of a token that verifies at that time (a token seen before
    /// skips its signature check: [`crate::jwt::TokenCodec::verify_cached`]), and its session id.
    fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<(OffsetDateTime, Arc<AccessClaims>, SessionId)> {
        let now = self.inner.clock.now();
        let claims = self.inner.tokens.verify_cached(token, now).map_err(|e| {
            tracing::debug!(target: "authkit::auth", reason = %e, "access token refused");
            Error::Unauthorized
        })?;
        let session_id: SessionId = claims.sid.parse().map_err(|_| Error::Unauthorized)?;
        Ok((now, claims, session_id))
    }
}

/// The token of a `Bearer` authorization header value (the scheme in any case).
fn bearer_token(authorization: Option<&str>) -> Result<&str> {
    let header = authorization.ok_or(Error::Unauthorized)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(Error::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::Unauthorized);
    }
    Ok(token.trim())
}

/// The principal of verified `claims` whose `session` was read after verification: refused
/// unless the session is the token's user's, live at `now`, and of the token's authorization
/// version (a role change since the token was issued refuses it at once; the client refreshes
/// and gets a token with the current roles).
fn principal(claims: &AccessClaims, session: &Session, now: OffsetDateTime) -> Result<Principal> {
    let user_id: UserId = claims.sub.parse().map_err(|_| Error::Unauthorized)?;
    if session.user_id != user_id || !session.is_live(now) || session.authz_version != claims.av {
        return Err(Error::Unauthorized);
    }
    Ok(Principal {
        user_id,
        session_id: session.id,
        email_verified: claims.email_verified,
        roles: claims.roles.clone(),
        perms: claims.perms.clone(),
    })
}
