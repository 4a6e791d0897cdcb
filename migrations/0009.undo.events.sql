DROP TABLE webhook_fanout;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE event_tickets;
DROP TRIGGER items_record_event ON items;
DROP FUNCTION keel_record_event();
DROP TABLE events;
