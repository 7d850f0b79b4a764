-- authkit schema, version 7 (SQLite): spent refresh hashes no longer reference their session
-- by a foreign key, so that ended sessions can be purged (`SessionStore::purge_sessions`).
--
-- Without the index that version 6 dropped, the foreign key made SQLite scan this whole table
-- for every session deleted (to find, or rule out, the rows to cascade to): a purge of n
-- sessions would read it n times. The index cannot come back either: it cost about a fifth of
-- the refresh throughput (version 6). The purge now deletes the sessions, then sweeps this
-- table by rowid in slices for hashes whose session is gone (`sqlite::sessions`).
--
-- SQLite cannot drop a constraint, so the table is rebuilt: same columns, same primary key,
-- rows copied in their order. The trigger of version 5 is dropped first and made again
-- unchanged (a trigger naming a table that is dropped and renamed is not kept up to date).

DROP TRIGGER authkit_sessions_refresh_spent_trg;

CREATE TABLE authkit_spent_refresh_tokens_v7 (
    hash       BLOB NOT NULL,
    session_id TEXT NOT NULL,
    CONSTRAINT authkit_spent_refresh_tokens_pkey PRIMARY KEY (hash)
) STRICT;

INSERT INTO authkit_spent_refresh_tokens_v7 (hash, session_id)
SELECT hash, session_id FROM authkit_spent_refresh_tokens ORDER BY rowid;

DROP TABLE authkit_spent_refresh_tokens;

ALTER TABLE authkit_spent_refresh_tokens_v7 RENAME TO authkit_spent_refresh_tokens;

CREATE TRIGGER authkit_sessions_refresh_spent_trg
AFTER UPDATE OF refresh_hash ON authkit_sessions
FOR EACH ROW WHEN OLD.refresh_hash IS NOT NEW.refresh_hash
BEGIN
    INSERT INTO authkit_spent_refresh_tokens (hash, session_id)
    VALUES (OLD.refresh_hash, OLD.id)
    ON CONFLICT (hash) DO NOTHING;
END;
