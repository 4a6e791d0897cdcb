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
  IF r::text ~ '[0-9][.eE]' THEN
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
