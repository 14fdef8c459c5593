// Package postgres is Sawmill's production store: PostgreSQL 15+, with
// TimescaleDB when the extension is available (github.com/jackc/pgx/v5).
//
// Layout. One row per log record in the table logs (time in unix ns, service,
// batch id, index in the batch, severity, body, attributes as JSON text,
// trace and span id, logger and error type for the exact filters, and the
// rest of the record as protobuf), and one row per stored batch in the
// table batches (id, service, time range, record count, resource, and its
// instance, environment and version for the exact filters). Rows stored
// before schema version 2 have those filter columns empty, so the exact
// filters do not match them (their records read back whole). Entry ids,
// ordering by (time, batch id, index) and cursors are the ones of package
// store, so the embedded and the production store answer alike (storetest).
//
// Modes. With TimescaleDB, logs is a hypertable on time (1 h chunks),
// compressed after an hour (segment by service; the policy runs every 30
// minutes), expired by an hourly retention policy, and a continuous
// aggregate of counts per minute by service and level backs the stats API
// when a query fits it (minute-multiple steps, no text or attribute
// filter). The aggregate's chunks are hours too, so retention drops the same
// hours from both. Records stored more than a minute after their timestamp
// reach aggregate-backed stats at the next refresh (every minute); search
// and count see them at once. Without it, logs is a natively
// range-partitioned table with one partition per UTC day, created on demand
// before a write, and retention drops whole partitions. The mode is chosen
// once, when the schema is created, recorded in the database, and logged.
//
// Guarantees:
//   - Schema migrations are versioned, embedded, and applied at Open under a
//     PostgreSQL advisory lock, so replicas starting together apply each
//     version once.
//   - WriteBatches stores each batch exactly once: its id is inserted into
//     batches (ON CONFLICT DO NOTHING, which waits for a concurrent writer of
//     the same id) in the same transaction as its records, which are bulk
//     loaded with COPY. A batch whose id is already stored is skipped.
//   - Every record validation accepts is stored. PostgreSQL's text and jsonb
//     cannot hold NUL, so NUL (U+0000) in the body and the escape \u0000 in
//     attribute strings and keys are stored, and read back, as U+FFFD; a
//     filter value (text, attribute key or value) gets the same
//     replacement, so filtering on what was logged still matches. Every
//     other field is kept in protobuf columns and read back exactly. A
//     filter value no stored string can equal (invalid UTF-8, a service
//     name with NUL) matches nothing rather than failing the query.
//   - A write PostgreSQL refuses for its data (SQLSTATE class 22 data
//     exception, 23 integrity violation except 23514, 54 program limit
//     exceeded) wraps store.ErrUnstorable, with the SQLSTATE in the
//     message: the queue dead-letters the batch that fails alone. Any other
//     error (connection, disk full, locks) is retried.
//   - One retention pass (DeleteBefore) runs at a time across replicas
//     (advisory lock); the others wait for it.
//   - Every value of a filter reaches PostgreSQL as a bound parameter.
//   - Text search does not cost the ingest rate: there is no per-row text
//     index on the partition being written. A text condition is a
//     lower(body) LIKE scan bounded by the other conditions (time, service,
//     severity use btree indexes); in the partitioned mode, with the pg_trgm
//     extension, a trigram index is built behind ingest on each day
//     partition once its day is over (see Maintain), so searches of older
//     days use it. See docs/production.md for the figures.
//   - A trace search reads a partial btree index on trace_id (rows with a
//     trace id only) in the partitioned mode; it is kept at ingest, where it
//     costs COPY about a quarter of its rate here (docs/production.md), as
//     trace searches are mostly of the last minutes. TimescaleDB mode has no
//     trace index: compressed chunks are scanned by segment.
//   - Attributes are stored as text, not jsonb: parsing jsonb at ingest
//     halved COPY here. Attribute filters cast to jsonb at query time. They
//     match like jsonattr.Equal except that numbers compare in jsonb's
//     canonical spelling (1e3 equals 1000) and, for duplicate keys, the last
//     one wins.
package postgres
