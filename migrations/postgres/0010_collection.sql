-- The collection report counts each sender's files on one channel: the rows it reads, in the
-- order it groups them, and no others.
CREATE INDEX transfers_channel_sender ON transfers (channel, sender_org_id, created_at)
    WHERE has_file AND state <> 'withdrawn' AND quarantine_code IS NULL;

-- A mailbox listed since a time starts from the transfers created since, so a job that polls
-- for what is new reads only what is new, however large the mailbox.
CREATE INDEX transfers_created ON transfers (created_at);
