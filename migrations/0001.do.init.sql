-- Accounts, owned items and hashed refresh tokens.
CREATE TABLE users (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email varchar(320) NOT NULL,
  hashed_password text NOT NULL,
  full_name varchar(255),
  is_active boolean NOT NULL DEFAULT true,
  is_superuser boolean NOT NULL DEFAULT false,
  token_version integer NOT NULL DEFAULT 0,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE items (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name varchar(255) NOT NULL,
  description varchar(1000),
  is_active boolean NOT NULL DEFAULT true,
  owner_id integer NOT NULL CONSTRAINT items_owner_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone
);
-- Every item query is scoped to its owner, then ordered with id as the tie-breaker.
CREATE INDEX items_owner_id_id_idx ON items (owner_id, id);
CREATE INDEX items_owner_id_name_id_idx ON items (owner_id, name, id);
CREATE INDEX items_owner_id_created_at_id_idx ON items (owner_id, created_at, id);

CREATE TABLE refresh_tokens (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id integer NOT NULL CONSTRAINT refresh_tokens_user_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  family_id uuid NOT NULL,
  token_hash varchar(64) NOT NULL,
  expires_at timestamp with time zone NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  rotated_at timestamp with time zone,
  revoked_at timestamp with time zone,
  CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
