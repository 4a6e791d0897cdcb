-- Every change to a user row is announced, so per-process caches of users (auth) drop it at once,
-- whichever process, instance or tool made the change.
CREATE FUNCTION keel_notify_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keel_user_changed', OLD.id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER users_notify_changed
AFTER UPDATE OR DELETE ON users
FOR EACH ROW EXECUTE FUNCTION keel_notify_user_changed();
