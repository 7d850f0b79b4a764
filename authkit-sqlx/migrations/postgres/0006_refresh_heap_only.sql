-- authkit schema, version 6 (PostgreSQL): a refresh of a session with a selector changes no
-- indexed column, so PostgreSQL can write the session's new row version on the same page
-- without a new entry in any index (a heap-only tuple, "HOT").
--
-- Version 5 kept a partial unique index on `refresh_hash` for the sessions without a selector.
-- A partial index still names the column, and an UPDATE that changes a column some index names
-- is never heap-only: every refresh added an entry to each of the table's indexes (primary key,
-- selector, user), at random places in a large table. The hash of a session without a selector
-- is now also in `legacy_hash`, a column PostgreSQL computes (NULL for a session with a
-- selector, so a refresh leaves it unchanged), and that column is indexed instead.
--
-- Each page of the table keeps 10 % free for the new row versions (a full page sends the new
-- version to another page, with new index entries). The ALTER rewrites the table once.

ALTER TABLE authkit_sessions SET (fillfactor = 90);

ALTER TABLE authkit_sessions
    ADD COLUMN legacy_hash bytea
    GENERATED ALWAYS AS (CASE WHEN refresh_selector IS NULL THEN refresh_hash END) STORED;

DROP INDEX authkit_sessions_refresh_hash_key;

CREATE UNIQUE INDEX authkit_sessions_legacy_hash_key ON authkit_sessions (legacy_hash)
WHERE legacy_hash IS NOT NULL;
