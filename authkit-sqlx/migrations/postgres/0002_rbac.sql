-- authkit schema, version 2 (PostgreSQL): roles administration, authorization versions, admin
-- listings.
--
-- `authkit_roles` already has `description` and `builtin` (version 1).

-- Raised whenever the owner's roles, or the permissions of one of them, change; access tokens
-- carry it and are refused once it moved.
ALTER TABLE authkit_sessions
    ADD COLUMN authz_version bigint NOT NULL DEFAULT 0;

-- list_users(role): an index range scan on (role, user id) in id order. It also serves every
-- lookup by role alone, so the role-only index of version 1 goes.
CREATE INDEX authkit_user_roles_role_user_idx ON authkit_user_roles (role_name, user_id);
DROP INDEX authkit_user_roles_role_idx;

-- list_users: the live listing walks the primary key; these keep the other filters on an index
-- range scan in id order. Soft-deleted users are few: a partial index.
CREATE INDEX authkit_users_deleted_idx ON authkit_users (id) WHERE deleted_at IS NOT NULL;
CREATE INDEX authkit_users_status_idx ON authkit_users (status, id);
CREATE INDEX authkit_users_verified_idx ON authkit_users (email_verified, id);
-- `email_contains` (a substring) has no index: it filters the rows walked in id order, so its
-- cost grows with the users skipped before a page fills. (A pg_trgm GIN index would need an
-- extension that a host database may not allow; add one yourself if you need it.)

-- list_audit: newest first by id, alone or per user or per event name (the primary key serves
-- the unfiltered listing).
CREATE INDEX authkit_audit_events_user_id_idx ON authkit_audit_events (user_id, id);
CREATE INDEX authkit_audit_events_event_idx ON authkit_audit_events (event, id);
