DROP TABLE idempotency_keys;
ALTER TABLE items DROP COLUMN version;
DROP INDEX items_name_trgm_idx;
