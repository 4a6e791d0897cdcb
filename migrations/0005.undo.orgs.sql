DROP TABLE memberships;
DROP FUNCTION keel_notify_membership_changed();
DROP TABLE orgs;
