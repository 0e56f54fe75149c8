-- A transfer's message is sealed under its data key (version, nonce, ciphertext, tag), so it
-- is never plain at rest and is shredded with the file. `message` keeps only the plain text of
-- rows written before this migration, until the server seals them at start and clears it.
ALTER TABLE transfers ADD COLUMN message_sealed BLOB;
-- Each start looks for messages still plain; once they are sealed this finds none at once.
CREATE INDEX transfers_plain_message ON transfers (seq) WHERE message IS NOT NULL;
