-- SPEC §9 for items: `q`'s trigram index led by the owner (btree_gin), so a term finds that owner's candidates
-- only; the name-only index of 0008 found every owner's and re-checked them all in the heap (docs/scale.md).
-- The extension stays on rollback, like pg_trgm in 0008: generated resources' search indexes use it too.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX items_owner_id_name_trgm_idx ON items USING gin (owner_id, name gin_trgm_ops);
DROP INDEX items_name_trgm_idx;
