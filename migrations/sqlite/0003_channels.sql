-- Channels: a short message from the sender beside the file, and replies linked to their request.
ALTER TABLE transfers ADD COLUMN message TEXT;
ALTER TABLE transfers ADD COLUMN reply_to_seq INTEGER REFERENCES transfers (seq);
CREATE INDEX transfers_reply_to ON transfers (reply_to_seq) WHERE reply_to_seq IS NOT NULL;
