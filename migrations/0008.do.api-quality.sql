-- SPEC §9 for items: a trigram index behind `q` (ILIKE '%…%' on name).
-- The extension stays on rollback: generated resources' search indexes may use it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX items_name_trgm_idx ON items USING gin (name gin_trgm_ops);
-- The row version behind ETag / If-Match: every update bumps it (a plain column survives dump and restore).
ALTER TABLE items ADD COLUMN version integer NOT NULL DEFAULT 1;
-- Idempotency-Key: each create's answer, per caller, for 24 h, committed with the row it answers for.
CREATE TABLE idempotency_keys (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id integer NOT NULL CONSTRAINT idempotency_keys_user_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  key_hash varchar(64) NOT NULL,
  fingerprint varchar(64) NOT NULL,
  status integer NOT NULL,
  location text,
  etag text,
  body text NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  expires_at timestamp with time zone NOT NULL,
  CONSTRAINT idempotency_keys_user_id_key_hash_key UNIQUE (user_id, key_hash)
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
