-- Who dropped a batch, for the sender's list of recent batches: the person signed in (NULL for
-- a batch sent with an API key, whose id is kept already, and for batches from before this).
ALTER TABLE batches ADD COLUMN sender_user_id BIGINT REFERENCES users (id);
