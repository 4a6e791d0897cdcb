DROP TRIGGER users_notify_changed ON users;
DROP FUNCTION keel_notify_user_changed();
