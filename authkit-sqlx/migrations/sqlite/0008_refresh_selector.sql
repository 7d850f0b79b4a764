-- authkit schema, version 8 (SQLite): a session is found by the selector its refresh tokens
-- carry (`refresh_selector`, 16 random bytes drawn at login and kept for the session's life),
-- no longer by the hash of its current token.
--
-- The unique index on `refresh_hash` changed with every refresh: the old hash's entry went and
-- the new one's came, at two random places of an index as large as the sessions table. With
-- a million sessions, those were two more pages written per refresh, to the log and again at
-- the checkpoint. The selector never changes, so a refresh now writes no index of this table.
--
-- Sessions opened before this version have no selector (NULL), and their clients hold tokens
-- without one: those are still found by hash, through a unique index on `refresh_hash` that
-- holds only the sessions without a selector, and their rotations keep that form. New
-- sessions never enter that index. Spent hashes are unchanged (reuse is found by hash).
--
-- SQLite cannot drop a constraint, so the table is rebuilt as in version 7: same columns plus
-- the selector, rows copied in their order, then the index by user and the trigger of version
-- 5 made again unchanged.

DROP TRIGGER authkit_sessions_refresh_spent_trg;

CREATE TABLE authkit_sessions_v8 (
    id               TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    refresh_hash     BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    idle_expires_at  INTEGER NOT NULL,
    revoked_at       INTEGER,
    remember_me      INTEGER NOT NULL DEFAULT 0,
    ip               TEXT,
    user_agent       TEXT,
    authz_version    INTEGER NOT NULL DEFAULT 0,
    refresh_selector BLOB,
    CONSTRAINT authkit_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_sessions_refresh_selector_key UNIQUE (refresh_selector),
    CONSTRAINT authkit_sessions_user_fkey FOREIGN KEY (user_id)
        REFERENCES authkit_users (id) ON DELETE CASCADE,
    CONSTRAINT authkit_sessions_remember_me_check CHECK (remember_me IN (0, 1))
) STRICT;

INSERT INTO authkit_sessions_v8 (id, user_id, refresh_hash, created_at, last_used_at,
    expires_at, idle_expires_at, revoked_at, remember_me, ip, user_agent, authz_version)
SELECT id, user_id, refresh_hash, created_at, last_used_at, expires_at, idle_expires_at,
    revoked_at, remember_me, ip, user_agent, authz_version
FROM authkit_sessions ORDER BY rowid;

DROP TABLE authkit_sessions;

ALTER TABLE authkit_sessions_v8 RENAME TO authkit_sessions;

CREATE INDEX authkit_sessions_user_idx ON authkit_sessions (user_id, id);

CREATE UNIQUE INDEX authkit_sessions_refresh_hash_key ON authkit_sessions (refresh_hash)
WHERE refresh_selector IS NULL;

CREATE TRIGGER authkit_sessions_refresh_spent_trg
AFTER UPDATE OF refresh_hash ON authkit_sessions
FOR EACH ROW WHEN OLD.refresh_hash IS NOT NEW.refresh_hash
BEGIN
    INSERT INTO authkit_spent_refresh_tokens (hash, session_id)
    VALUES (OLD.refresh_hash, OLD.id)
    ON CONFLICT (hash) DO NOTHING;
END;
