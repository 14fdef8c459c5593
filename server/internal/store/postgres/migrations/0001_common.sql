-- Version 1, both modes: stored batches (exactly-once writes, resources,
-- per-service totals) and the attribute matcher.
CREATE TABLE batches (
	id       text COLLATE "C" PRIMARY KEY,
	service  text COLLATE "C" NOT NULL,
	min_time bigint NOT NULL,
	max_time bigint NOT NULL,
	records  integer NOT NULL,
	resource bytea NOT NULL
);
CREATE INDEX batches_max_time ON batches (max_time);
CREATE INDEX batches_min_time ON batches (min_time);

-- sawmill_attr_eq is jsonattr.Equal in SQL: the top-level key, or for a
-- dotted key without one the nested path; a string compares unescaped,
-- any other value by its jsonb text.
CREATE FUNCTION sawmill_attr_eq(doc text, key text, path text[], want text) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT CASE WHEN v IS NULL THEN false ELSE coalesce(v #>> '{}', 'null') = want END
	FROM (SELECT CASE WHEN j ? key THEN j -> key WHEN cardinality(path) > 1 THEN j #> path END AS v
		FROM (SELECT NULLIF(doc, '')::jsonb AS j) a) b
	$$;
