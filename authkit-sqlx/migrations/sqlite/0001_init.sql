-- authkit schema, version 1 (SQLite).
--
-- Representation (see README.md): ids are UUIDs as lowercase hyphenated TEXT; timestamps are
-- INTEGER microseconds since the Unix epoch (UTC); token hashes and key seeds are BLOB; booleans
-- are INTEGER 0/1; IP addresses are TEXT; audit details are JSON TEXT. Every table is STRICT and
-- prefixed with `authkit_` so that it can live in a host application's database.

CREATE TABLE authkit_users (
    id             TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0,
    display_name   TEXT,
    status         TEXT    NOT NULL DEFAULT 'active',
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_login_at  INTEGER,
    deleted_at     INTEGER,
    CONSTRAINT authkit_users_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_users_email_key UNIQUE (email),
    CONSTRAINT authkit_users_email_verified_check CHECK (email_verified IN (0, 1)),
    CONSTRAINT authkit_users_status_check CHECK (status IN ('active', 'disabled'))
) STRICT;

CREATE TABLE authkit_roles (
    name        TEXT    NOT NULL,
    description TEXT,
    builtin     INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT authkit_roles_pkey PRIMARY KEY (name),
    CONSTRAINT authkit_roles_builtin_check CHECK (builtin IN (0, 1))
) STRICT;

CREATE TABLE authkit_role_permissions (
    role_name  TEXT NOT NULL,
    permission TEXT NOT NULL,
    CONSTRAINT authkit_role_permissions_pkey PRIMARY KEY (role_name, permission),
    CONSTRAINT authkit_role_permissions_role_fkey FOREIGN KEY (role_name)
        REFERENCES authkit_roles (name) ON DELETE CASCADE ON UPDATE CASCADE
) STRICT;

CREATE TABLE authkit_user_roles (
    user_id   TEXT NOT NULL,
    role_name TEXT NOT NULL,
    CONSTRAINT authkit_user_roles_pkey PRIMARY KEY (user_id, role_name),
    CONSTRAINT authkit_user_roles_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE,
    CONSTRAINT authkit_user_roles_role_fkey FOREIGN KEY (role_name)
        REFERENCES authkit_roles (name) ON DELETE CASCADE ON UPDATE CASCADE
) STRICT;

CREATE INDEX authkit_user_roles_role_idx ON authkit_user_roles (role_name);

CREATE TABLE authkit_sessions (
    id              TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    refresh_hash    BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    revoked_at      INTEGER,
    remember_me     INTEGER NOT NULL DEFAULT 0,
    ip              TEXT,
    user_agent      TEXT,
    CONSTRAINT authkit_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_sessions_refresh_hash_key UNIQUE (refresh_hash),
    CONSTRAINT authkit_sessions_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE,
    CONSTRAINT authkit_sessions_remember_me_check CHECK (remember_me IN (0, 1))
) STRICT;

CREATE INDEX authkit_sessions_user_idx ON authkit_sessions (user_id, id);

-- Refresh tokens that were rotated away: presenting one again revokes its session.
CREATE TABLE authkit_spent_refresh_tokens (
    hash       BLOB NOT NULL,
    session_id TEXT NOT NULL,
    CONSTRAINT authkit_spent_refresh_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_spent_refresh_tokens_session_fkey FOREIGN KEY (session_id)
        REFERENCES authkit_sessions (id) ON DELETE CASCADE
) STRICT;

CREATE INDEX authkit_spent_refresh_tokens_session_idx ON authkit_spent_refresh_tokens (session_id);

CREATE TABLE authkit_one_time_tokens (
    hash       BLOB    NOT NULL,
    purpose    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    CONSTRAINT authkit_one_time_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_one_time_tokens_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE,
    CONSTRAINT authkit_one_time_tokens_purpose_check
        CHECK (purpose IN ('verify_email', 'password_reset'))
) STRICT;

CREATE INDEX authkit_one_time_tokens_user_idx ON authkit_one_time_tokens (user_id, purpose);

-- Append-only; deliberately no foreign keys so that the history outlives the accounts.
CREATE TABLE authkit_audit_events (
    id         TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    user_id    TEXT,
    actor_id   TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT    NOT NULL DEFAULT '{}',
    CONSTRAINT authkit_audit_events_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_audit_events_detail_check CHECK (json_valid(detail))
) STRICT;

CREATE INDEX authkit_audit_events_user_idx ON authkit_audit_events (user_id, at DESC, id DESC);

CREATE TABLE authkit_signing_keys (
    kid        TEXT    NOT NULL,
    seed       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT authkit_signing_keys_pkey PRIMARY KEY (kid),
    CONSTRAINT authkit_signing_keys_seed_check CHECK (length(seed) = 32)
) STRICT;

-- Built-in roles: `admin` holds every permission of authkit_core::domain::ALL_PERMISSIONS,
-- `user` (held by every account) none.
INSERT INTO authkit_roles (name, description, builtin) VALUES
    ('admin', 'Every administrative permission', 1),
    ('user', 'Every account', 1);

INSERT INTO authkit_role_permissions (role_name, permission) VALUES
    ('admin', 'audit:read'),
    ('admin', 'roles:read'),
    ('admin', 'roles:write'),
    ('admin', 'users:delete'),
    ('admin', 'users:read'),
    ('admin', 'users:write');
