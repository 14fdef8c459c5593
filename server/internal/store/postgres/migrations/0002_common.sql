-- Version 2, both modes: the resource fields a filter can match exactly.
-- Batches stored before version 2 keep NULL here: the instance, environment
-- and version filters do not match their records.
ALTER TABLE batches
	ADD COLUMN instance text COLLATE "C",
	ADD COLUMN environment text COLLATE "C",
	ADD COLUMN version text COLLATE "C";
