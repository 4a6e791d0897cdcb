DROP TABLE refresh_tokens;
DROP TABLE items;
DROP TABLE users;
