-- Events (SPEC §11): every create, update and delete of a resource row, written by a trigger in the transaction of
-- the change, so an event exists exactly when its change committed. See docs/events.md.
CREATE TABLE events (
  -- The SSE id and resume position. Ids are taken before commit: readers deliver only below a safe horizon
  -- (src/modules/events/events.horizon.ts), so an id that commits late is never skipped.
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type text NOT NULL,
  resource text NOT NULL,
  row_id integer NOT NULL,
  -- No foreign keys: the events of a cascade (an account's rows deleted with it) are written while the owner goes.
  owner_id integer,
  org_id integer,
  data jsonb NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now()
);
-- Retention clean-up (EVENT_RETENTION_HOURS).
CREATE INDEX events_created_at_idx ON events (created_at);

-- The row as the API answers it: to_jsonb keeps a numeric's scale ("12.50") but a JSON reader would not, so a
-- top-level number with a point or an exponent (only numeric columns print one) becomes a string, as decimals are
-- answered. Timestamps are turned into the API's ISO form when delivered (events.shape.ts).
CREATE FUNCTION keel_record_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN
    r := to_jsonb(OLD);
  ELSE
    r := to_jsonb(NEW);
  END IF;
  IF r::text ~ '[0-9][.eE]' THEN
    SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' AND value::text ~ '[.eE]' THEN to_jsonb(value #>> '{}') ELSE value END)
      INTO r FROM jsonb_each(r);
  END IF;
  INSERT INTO events (type, resource, row_id, owner_id, org_id, data)
  VALUES (
    TG_TABLE_NAME || CASE TG_OP WHEN 'INSERT' THEN '.created' WHEN 'UPDATE' THEN '.updated' ELSE '.deleted' END,
    TG_TABLE_NAME, (r ->> 'id')::integer, (r ->> 'owner_id')::integer, (r ->> 'org_id')::integer, r
  );
  -- One payload for all: a transaction's notifications collapse into one, and readers read the log anyway.
  PERFORM pg_notify('keel_events', '');
  RETURN NULL;
END;
$$;

CREATE TRIGGER items_record_event
AFTER INSERT OR UPDATE OR DELETE ON items
FOR EACH ROW EXECUTE FUNCTION keel_record_event();

-- One-time tickets for EventSource (which cannot send headers): 60 s, single use, stored as SHA-256.
CREATE TABLE event_tickets (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash varchar(64) NOT NULL,
  user_id integer NOT NULL CONSTRAINT event_tickets_user_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  token_version integer NOT NULL,
  expires_at timestamp with time zone NOT NULL,
  CONSTRAINT event_tickets_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX event_tickets_expires_at_idx ON event_tickets (expires_at);

-- Webhook endpoints: a user's, or an org's (exactly one of the two).
CREATE TABLE webhook_endpoints (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_id integer CONSTRAINT webhook_endpoints_owner_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  org_id integer CONSTRAINT webhook_endpoints_org_id_orgs_id_fk REFERENCES orgs (id) ON DELETE CASCADE,
  url text NOT NULL,
  types text[] NOT NULL,
  -- The HMAC key must be usable to sign, so it cannot be stored hashed; it is shown to the client only once.
  secret text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  consecutive_failures integer NOT NULL DEFAULT 0,
  disabled_reason text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone,
  CONSTRAINT webhook_endpoints_scope_check CHECK ((owner_id IS NULL) <> (org_id IS NULL))
);
CREATE INDEX webhook_endpoints_owner_id_id_idx ON webhook_endpoints (owner_id, id);
CREATE INDEX webhook_endpoints_org_id_id_idx ON webhook_endpoints (org_id, id);

-- The delivery outbox: one row per (endpoint, event), sent with retries (the mail outbox's pattern).
CREATE TABLE webhook_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  endpoint_id integer NOT NULL CONSTRAINT webhook_deliveries_endpoint_id_webhook_endpoints_id_fk REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id bigint NOT NULL,
  event_type text NOT NULL,
  -- The event as it was: events are kept EVENT_RETENTION_HOURS, a delivery may be retried longer.
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamp with time zone NOT NULL DEFAULT now(),
  response_status integer,
  last_error text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  finished_at timestamp with time zone,
  CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed'))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_id_id_idx ON webhook_deliveries (endpoint_id, id);

-- How far the events have been turned into deliveries: one row, advanced under FOR UPDATE by one instance at a time.
CREATE TABLE webhook_fanout (
  id integer PRIMARY KEY,
  position bigint NOT NULL,
  CONSTRAINT webhook_fanout_singleton_check CHECK (id = 1)
);
INSERT INTO webhook_fanout (id, position) VALUES (1, 0);
