-- Organizations (SPEC §8): an org, and who belongs to it with which role. Invitations come in their own migration.
CREATE TABLE orgs (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name varchar(100) NOT NULL,
  slug varchar(40) NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone,
  CONSTRAINT orgs_slug_key UNIQUE (slug)
);

-- A surrogate id: drizzle-kit's schema diff (test/migrations.test.ts) cannot read a composite primary key back.
CREATE TABLE memberships (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id integer NOT NULL CONSTRAINT memberships_org_id_orgs_id_fk REFERENCES orgs (id) ON DELETE CASCADE,
  user_id integer NOT NULL CONSTRAINT memberships_user_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CONSTRAINT memberships_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone,
  CONSTRAINT memberships_org_id_user_id_key UNIQUE (org_id, user_id)
);
-- "My orgs", and the orgs an account deletion must look at.
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

-- Every change to a membership (role change, removal, and the cascade of an org's deletion) is announced, so
-- per-process caches of roles drop it at once, whichever process made the change (as users do, migration 0002).
CREATE FUNCTION keel_notify_membership_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keel_membership_changed', OLD.org_id::text || ':' || OLD.user_id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER memberships_notify_changed
AFTER UPDATE OR DELETE ON memberships
FOR EACH ROW EXECUTE FUNCTION keel_notify_membership_changed();
