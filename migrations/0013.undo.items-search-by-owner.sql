CREATE INDEX items_name_trgm_idx ON items USING gin (name gin_trgm_ops);
DROP INDEX items_owner_id_name_trgm_idx;
