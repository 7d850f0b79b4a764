-- authkit schema, version 6 (SQLite): the index of spent refresh hashes by session goes.
--
-- Every refresh records the hash it replaces as spent (the trigger of version 5), and every
-- index of that table costs a page written per refresh: its entries land at random places,
-- so a batch of rotations dirties one page of it per rotation, which SQLite writes to the WAL
-- and again at the checkpoint. Nothing reads spent hashes by session: reuse detection looks
-- them up by hash (the primary key), and the store never deletes sessions (users are soft
-- deleted). The index only served the foreign key's `ON DELETE CASCADE`, which still holds
-- without it, by a scan of this table for each session deleted by hand. Measured on the
-- benchmark of bench/run: POST /refresh from about 8 500 to 10 400 requests/s.
--
-- PostgreSQL keeps its index: it has no single writer to wait on.

DROP INDEX IF EXISTS authkit_spent_refresh_tokens_session_idx;
