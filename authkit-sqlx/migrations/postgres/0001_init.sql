-- authkit schema, version 1 (PostgreSQL).
--
-- Native types: uuid, timestamptz (microsecond precision), bytea, boolean, inet, jsonb. Every
-- table is prefixed with `authkit_` so that it can live in a host application's database; the
-- constraint names are stable because the store classifies conflicts by them.

CREATE TABLE authkit_users (
    id             uuid        NOT NULL,
    email          text        NOT NULL,
    email_verified boolean     NOT NULL DEFAULT false,
    display_name   text,
    status         text        NOT NULL DEFAULT 'active',
    password_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    last_login_at  timestamptz,
    deleted_at     timestamptz,
    CONSTRAINT authkit_users_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_users_email_key UNIQUE (email),
    CONSTRAINT authkit_users_status_check CHECK (status IN ('active', 'disabled'))
);

CREATE TABLE authkit_roles (
    name        text    NOT NULL,
    description text,
    builtin     boolean NOT NULL DEFAULT false,
    CONSTRAINT authkit_roles_pkey PRIMARY KEY (name)
);

CREATE TABLE authkit_role_permissions (
    role_name  text NOT NULL,
    permission text NOT NULL,
    CONSTRAINT authkit_role_permissions_pkey PRIMARY KEY (role_name, permission),
    CONSTRAINT authkit_role_permissions_role_fkey FOREIGN KEY (role_name)
        REFERENCES authkit_roles (name) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE authkit_user_roles (
    user_id   uuid NOT NULL,
    role_name text NOT NULL,
    CONSTRAINT authkit_user_roles_pkey PRIMARY KEY (user_id, role_name),
    CONSTRAINT authkit_user_roles_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE,
    CONSTRAINT authkit_user_roles_role_fkey FOREIGN KEY (role_name)
        REFERENCES authkit_roles (name) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE INDEX authkit_user_roles_role_idx ON authkit_user_roles (role_name);

CREATE TABLE authkit_sessions (
    id              uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    refresh_hash    bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    revoked_at      timestamptz,
    remember_me     boolean     NOT NULL DEFAULT false,
    ip              inet,
    user_agent      text,
    CONSTRAINT authkit_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_sessions_refresh_hash_key UNIQUE (refresh_hash),
    CONSTRAINT authkit_sessions_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE
);

CREATE INDEX authkit_sessions_user_idx ON authkit_sessions (user_id, id);

-- Refresh tokens that were rotated away: presenting one again revokes its session.
CREATE TABLE authkit_spent_refresh_tokens (
    hash       bytea NOT NULL,
    session_id uuid  NOT NULL,
    CONSTRAINT authkit_spent_refresh_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_spent_refresh_tokens_session_fkey FOREIGN KEY (session_id)
        REFERENCES authkit_sessions (id) ON DELETE CASCADE
);

CREATE INDEX authkit_spent_refresh_tokens_session_idx ON authkit_spent_refresh_tokens (session_id);

CREATE TABLE authkit_one_time_tokens (
    hash       bytea       NOT NULL,
    purpose    text        NOT NULL,
    user_id    uuid        NOT NULL,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT authkit_one_time_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_one_time_tokens_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE,
    CONSTRAINT authkit_one_time_tokens_purpose_check
        CHECK (purpose IN ('verify_email', 'password_reset'))
);

CREATE INDEX authkit_one_time_tokens_user_idx ON authkit_one_time_tokens (user_id, purpose);

-- Append-only; deliberately no foreign keys so that the history outlives the accounts.
CREATE TABLE authkit_audit_events (
    id         uuid        NOT NULL,
    at         timestamptz NOT NULL,
    event      text        NOT NULL,
    user_id    uuid,
    actor_id   uuid,
    ip         inet,
    user_agent text,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT authkit_audit_events_pkey PRIMARY KEY (id)
);

CREATE INDEX authkit_audit_events_user_idx ON authkit_audit_events (user_id, at DESC, id DESC);

CREATE TABLE authkit_signing_keys (
    kid        text        NOT NULL,
    seed       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT authkit_signing_keys_pkey PRIMARY KEY (kid),
    CONSTRAINT authkit_signing_keys_seed_check CHECK (octet_length(seed) = 32)
);

-- Built-in roles: `admin` holds every permission of authkit_core::domain::ALL_PERMISSIONS,
-- `user` (held by every account) none.
INSERT INTO authkit_roles (name, description, builtin) VALUES
    ('admin', 'Every administrative permission', true),
    ('user', 'Every account', true);

INSERT INTO authkit_role_permissions (role_name, permission) VALUES
    ('admin', 'audit:read'),
    ('admin', 'roles:read'),
    ('admin', 'roles:write'),
    ('admin', 'users:delete'),
    ('admin', 'users:read'),
    ('admin', 'users:write');
