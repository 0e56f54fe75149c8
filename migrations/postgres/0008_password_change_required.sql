-- A password someone else chose (generated at creation or at a reset) works only to choose
-- one's own: until then the person's session may do nothing else.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT false;
