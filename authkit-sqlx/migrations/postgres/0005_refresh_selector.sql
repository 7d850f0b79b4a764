-- authkit schema, version 5 (PostgreSQL): a session is found by the selector its refresh tokens
-- carry (`refresh_selector`, 16 random bytes drawn at login and kept for the session's life),
-- no longer by the hash of its current token.
--
-- The unique index on `refresh_hash` took a new entry, at a random place, with every refresh.
-- The selector never changes, so the entries a refresh adds (each update writes a new row
-- version) now land beside the old version's, in every index of the table.
--
-- Sessions opened before this version have no selector (NULL), and their clients hold tokens
-- without one: those are still found by hash, through a unique index on `refresh_hash` that
-- holds only the sessions without a selector, and their rotations keep that form. New
-- sessions never enter that index. Spent hashes are unchanged (reuse is found by hash).

ALTER TABLE authkit_sessions ADD COLUMN refresh_selector bytea;

ALTER TABLE authkit_sessions
    ADD CONSTRAINT authkit_sessions_refresh_selector_key UNIQUE (refresh_selector);

ALTER TABLE authkit_sessions DROP CONSTRAINT authkit_sessions_refresh_hash_key;

CREATE UNIQUE INDEX authkit_sessions_refresh_hash_key ON authkit_sessions (refresh_hash)
WHERE refresh_selector IS NULL;
