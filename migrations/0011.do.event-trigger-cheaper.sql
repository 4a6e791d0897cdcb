-- The event trigger (0009, 0010) looked for numbers with a decimal point with `r::text ~ '[0-9][.eE]'`, which every
-- row matches: its timestamps print fractional seconds ("…:41:10.456+00:00"). So every write took the slow path, a
-- jsonb_each/jsonb_object_agg rebuild of the row, for nothing unless the table has a decimal column. A JSON number
-- with a point is only ever printed after a key (jsonb's text form writes '": ' before a value), so the check now
-- looks for that; a string holding such text only costs the slow path, which is exact either way.
-- Measured with bench/events-cost.ts (docs/events.md, *What an event costs a write*).
CREATE OR REPLACE FUNCTION keel_record_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN
    r := to_jsonb(OLD);
  ELSE
    r := to_jsonb(NEW);
  END IF;
  IF r::text ~ '": -?[0-9]+[.eE]' THEN
    SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' AND value::text ~ '[.eE]' THEN to_jsonb(value #>> '{}') ELSE value END)
      INTO r FROM jsonb_each(r);
  END IF;
  INSERT INTO events (type, resource, row_id, owner_id, org_id, data)
  VALUES (
    TG_TABLE_NAME || CASE TG_OP WHEN 'INSERT' THEN '.created' WHEN 'UPDATE' THEN '.updated' ELSE '.deleted' END,
    TG_TABLE_NAME, (r ->> 'id')::integer, (r ->> 'owner_id')::integer, (r ->> 'org_id')::integer, r
  );
  RETURN NULL;
END;
$$;
