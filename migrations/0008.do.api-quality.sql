-- SPEC §9 for items: a trigram index behind `q` (ILIKE '%…%' on name).
-- The extension stays on rollback: generated resources' search indexes may use it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX items_name_trgm_idx ON items USING gin (name gin_trgm_ops);
-- The row version behind ETag / If-Match: every update bumps it (a plain column survives dump and restore).
ALTER TABLE items ADD COLUMN version integer NOT NULL DEFAULT 1;
