-- Variants of the event write for bench/events-trigger/run.sh (issue 22), created on a scratch database that has
-- Keel's migrations applied. Everything here is disabled; run.sh enables one trigger per variant. Never run on a
-- database that matters: it adds triggers to items and two copies of the events table.

-- 0011's function without the regex check (what the decimal detection costs).
CREATE FUNCTION bench_ev_noregex() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  INSERT INTO events (type, resource, row_id, owner_id, org_id, data)
  VALUES (TG_TABLE_NAME || CASE TG_OP WHEN 'INSERT' THEN '.created' WHEN 'UPDATE' THEN '.updated' ELSE '.deleted' END,
    TG_TABLE_NAME, (r ->> 'id')::integer, (r ->> 'owner_id')::integer, (r ->> 'org_id')::integer, r);
  RETURN NULL;
END; $$;
-- Decimal columns named by the trigger's arguments (the generator knows them) instead of the regex on the row's text.
CREATE FUNCTION bench_ev_argv() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  IF TG_NARGS > 0 THEN
    SELECT jsonb_object_agg(key, CASE WHEN key = ANY(TG_ARGV) AND jsonb_typeof(value) = 'number' THEN to_jsonb(value #>> '{}') ELSE value END)
      INTO r FROM jsonb_each(r);
  END IF;
  INSERT INTO events (type, resource, row_id, owner_id, org_id, data)
  VALUES (TG_TABLE_NAME || CASE TG_OP WHEN 'INSERT' THEN '.created' WHEN 'UPDATE' THEN '.updated' ELSE '.deleted' END,
    TG_TABLE_NAME, (r ->> 'id')::integer, (r ->> 'owner_id')::integer, (r ->> 'org_id')::integer, r);
  RETURN NULL;
END; $$;
-- A trigger that does nothing: the price of calling a plpgsql row trigger at all.
CREATE FUNCTION bench_ev_empty() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;
-- An events table without the created_at index (retention would go by id range).
CREATE TABLE bench_events_noidx (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE bench_events_noidx ADD PRIMARY KEY (id);
CREATE FUNCTION bench_ev_noidx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  IF r::text ~ '": -?[0-9]+[.eE]' THEN
    SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' AND value::text ~ '[.eE]' THEN to_jsonb(value #>> '{}') ELSE value END) INTO r FROM jsonb_each(r);
  END IF;
  INSERT INTO bench_events_noidx (type, resource, row_id, owner_id, org_id, data)
  VALUES (TG_TABLE_NAME || CASE TG_OP WHEN 'INSERT' THEN '.created' WHEN 'UPDATE' THEN '.updated' ELSE '.deleted' END,
    TG_TABLE_NAME, (r ->> 'id')::integer, (r ->> 'owner_id')::integer, (r ->> 'org_id')::integer, r);
  RETURN NULL;
END; $$;
-- data as json (text, no jsonb build) for the CTE variant.
CREATE TABLE bench_events_json (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE bench_events_json ADD PRIMARY KEY (id);
ALTER TABLE bench_events_json ALTER COLUMN data TYPE json;
CREATE INDEX ON bench_events_json (created_at);
-- A statement-level trigger with a transition table (insert only: enough for POST).
CREATE FUNCTION bench_ev_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, resource, row_id, owner_id, org_id, data)
  SELECT TG_TABLE_NAME || '.created', TG_TABLE_NAME, n.id, n.owner_id, NULL, to_jsonb(n) FROM new_rows n;
  RETURN NULL;
END; $$;

CREATE TRIGGER bench_noregex AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION bench_ev_noregex();
CREATE TRIGGER bench_argv AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION bench_ev_argv();
CREATE TRIGGER bench_empty AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION bench_ev_empty();
CREATE TRIGGER bench_noidx AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION bench_ev_noidx();
CREATE TRIGGER bench_stmt AFTER INSERT ON items REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_ev_stmt();
-- The CTE design's guards: the row trigger kept for writes outside the core's statement (which writes its own event).
-- depth: only writes made by other triggers (cascades, ON DELETE SET NULL); a direct psql write would be no event.
CREATE TRIGGER bench_guard_depth AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW
  WHEN (pg_trigger_depth() > 0) EXECUTE FUNCTION keel_record_event();
-- marker: also direct writes; only the core's statements (starting with the marker) are skipped at depth 0.
CREATE TRIGGER bench_guard_marker AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW
  WHEN (pg_trigger_depth() > 0 OR current_query() NOT LIKE '/* keel-event */%') EXECUTE FUNCTION keel_record_event();
ALTER TABLE items DISABLE TRIGGER USER;
ALTER TABLE items ENABLE TRIGGER items_record_event;
INSERT INTO users (email, hashed_password) VALUES ('events-trigger-bench@example.com', 'x');
