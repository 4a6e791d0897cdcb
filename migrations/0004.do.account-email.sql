-- Account email (SPEC §6): verified addresses, single-use email tokens and an outbox of messages to send.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

CREATE TABLE email_tokens (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id integer NOT NULL CONSTRAINT email_tokens_user_id_users_id_fk REFERENCES users (id) ON DELETE CASCADE,
  purpose text NOT NULL CONSTRAINT email_tokens_purpose_check CHECK (purpose IN ('password_reset', 'email_verification', 'email_change')),
  -- SHA-256 (hex) of the token in the link: a database leak yields no usable link.
  token_hash varchar(64) NOT NULL,
  -- The address the token proves: the one it was sent to (the new address for an email change).
  email varchar(320) NOT NULL,
  expires_at timestamp with time zone NOT NULL,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  used_at timestamp with time zone,
  CONSTRAINT email_tokens_token_hash_key UNIQUE (token_hash)
);
-- A new token kills the older ones of its user and purpose.
CREATE INDEX email_tokens_user_id_purpose_idx ON email_tokens (user_id, purpose);

CREATE TABLE mail_outbox (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient varchar(320) NOT NULL,
  subject varchar(255) NOT NULL,
  -- Erased once sent or dead: the body of a link mail holds a live token.
  text_body text,
  html_body text,
  status text NOT NULL DEFAULT 'pending' CONSTRAINT mail_outbox_status_check CHECK (status IN ('pending', 'sent', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  -- When a worker may (re)try: now for a new message, later after a failure, and a lease while one is sending.
  next_attempt_at timestamp with time zone NOT NULL DEFAULT now(),
  last_error text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  sent_at timestamp with time zone
);
-- Workers look for due pending messages only.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status = 'pending';
