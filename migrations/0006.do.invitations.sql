-- Invitations to an org (SPEC §8): at most one pending per org and address (inviting again replaces it, and with it
-- the link); only the token's SHA-256 is stored; accepting deletes the row, which is what makes a link single use.
CREATE TABLE invitations (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id integer NOT NULL CONSTRAINT invitations_org_id_orgs_id_fk REFERENCES orgs (id) ON DELETE CASCADE,
  email varchar(320) NOT NULL,
  role text NOT NULL CONSTRAINT invitations_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  token_hash varchar(64) NOT NULL,
  invited_by integer CONSTRAINT invitations_invited_by_users_id_fk REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  expires_at timestamp with time zone NOT NULL,
  CONSTRAINT invitations_token_hash_key UNIQUE (token_hash),
  CONSTRAINT invitations_org_id_email_key UNIQUE (org_id, email)
);
-- The foreign key to users needs an index so an account deletion does not scan the table.
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);
