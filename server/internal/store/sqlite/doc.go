// Package sqlite is Sawmill's embedded store: one SQLite file (modernc.org/sqlite,
// pure Go, WAL) that needs no other software.
//
// It is designed for bursts, not for a demo. Indexing every row at ingest
// caps SQLite at ~100k rows/s with one index and ~16k/s with FTS5 on this
// class of machine, below the 300k logs/s Sawmill must absorb. So, as columnar
// log stores do, records are written as blocks: each write turns the batches
// of one service into one row holding the records S2-compressed, plus small
// metadata that lets queries skip blocks without opening them — the service,
// the time range, per-level counts, the highest severity, a bloom filter of
// the lower-cased message trigrams and words and the top-level attribute
// pairs, and (table block_fields) a bloom filter sized from the distinct
// trace ids, span ids, loggers, error types and resource fields of the
// block. Per-second counts per service and level are kept in their own table
// for the stats API, with per-minute and per-hour rollups (rollup.go) that
// answer a step that is a multiple of them. A query picks candidate blocks by metadata, tests the
// bloom filters of its conditions, decodes only what is left and filters
// records in Go. Blocks written before block_fields existed (schema 3) have
// no fields bloom and are scanned for those conditions. See BenchmarkWrite,
// BenchmarkSearch, BenchmarkSearchScale and BenchmarkTraceSearch.
//
// The filter never changes an answer, only how many blocks are opened: a
// block it lets through is searched record by record. It is sized from the
// number of distinct items the block holds (filter.go): ~1% false positives
// for any message shape up to ~840,000 distinct items a block (8,192 random
// 1 KB messages just fit), at most 1 MiB a block. Beyond that it leaves the
// trigrams out (then a text without a whole word, such as a bare id, is not
// pruned in that block), then uses fewer bits an item, and a block with
// more than ~2 million distinct words and attributes (8,192 random 4 KB
// messages) has no filter and is always opened. A whole word prunes only
// where the search text shows it delimited on both sides ("order 123456 "
// probes the word 123456; "123456" alone may be part of a longer word, so
// only its trigrams are probed). Blocks written before schema version 2
// keep their older, record-count-sized filter (filterV1) and are read with
// it; the blob's length tells the two apart.
//
// Writes are idempotent by batch id: the ids of stored batches are recorded
// in the same transaction as their records, and a batch id seen before is
// skipped. Commits use synchronous=FULL, so a committed write survives a power
// loss, which the queue in front of the store relies on before it drops what
// it holds.
package sqlite
