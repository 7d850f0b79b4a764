-- authkit schema, version 9 (SQLite): a refresh of a session with a selector no longer records
-- the hash it replaces. A token with a selector names its session, so a presented hash that is
-- not that session's current one is reuse, whatever it is (`rotate_refresh`): an earlier token
-- of the session, or one made up with its selector. Only the sessions without a selector
-- (opened before version 8), found by the hash itself, still need their spent hashes to tell
-- reuse from an unknown token.
--
-- Each recorded hash went to a random place of the spent hashes' primary key: one more page
-- written per refresh, to the log and again at the checkpoint.
--
-- Hashes already recorded for sessions with a selector are no longer read. They go with their
-- sessions (the purge's sweep of spent hashes whose session is gone), not in this migration,
-- which would otherwise hold the database for as long as the table is large.

DROP TRIGGER authkit_sessions_refresh_spent_trg;

CREATE TRIGGER authkit_sessions_refresh_spent_trg
AFTER UPDATE OF refresh_hash ON authkit_sessions
FOR EACH ROW WHEN OLD.refresh_selector IS NULL AND OLD.refresh_hash IS NOT NEW.refresh_hash
BEGIN
    INSERT INTO authkit_spent_refresh_tokens (hash, session_id)
    VALUES (OLD.refresh_hash, OLD.id)
    ON CONFLICT (hash) DO NOTHING;
END;
