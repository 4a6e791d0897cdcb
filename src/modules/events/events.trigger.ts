/**
 * The statement that makes a resource table write its events (migration 0009's `keel_record_event`): every
 * generated resource's migration carries it, so each create, update and delete is logged in its own transaction.
 */
export const eventTriggerSql = (table: string) =>
  `CREATE TRIGGER ${table}_record_event AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION keel_record_event();`
