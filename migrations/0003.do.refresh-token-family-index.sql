-- Logout revokes a whole family: find it by index.
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
