-- A password someone else chose (generated at creation or at a reset) works only to choose
-- one's own: until then the person's session may do nothing else.
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0 CHECK (password_change_required IN (0, 1));
