// Package diskguard keeps the embedded mode from filling its data volume.
//
// A Guard samples the free space of the data directory's filesystem (statfs,
// every Options.Interval, not per batch) and admits a batch only while
//
//	free - admitted since the sample >= reserve + StoreFactor × (queued + batch) + batch
//
// where reserve is the fixed floor (--disk-reserve) and queued the bytes the
// queue holds that the store has still to write. StoreFactor (2) is the room
// the store needs per queued byte: the block itself, its write-ahead-log copy
// until a checkpoint, the batch ids and the counts. So a batch is refused
// before the disk is too full for the store to take everything already
// acknowledged, and the queue drains into the store even when nothing else
// frees space.
//
// A refused batch gets a *pipeline.FullError naming the reason ("disk nearly
// full: 12.0 MiB free on /data, reserve 16.0 MiB"), which ingest answers with
// RESOURCE_EXHAUSTED and RetryInfo. Once refusing, the guard admits again
// only when the free space is a quarter of the floor above the threshold, so
// it does not flap. Err reports the refusal for /readyz, and the guard
// exports sawmill_disk_free_bytes, sawmill_disk_reserve_bytes,
// sawmill_disk_ingest_refused (0/1) and sawmill_disk_refused_batches_total.
//
// The guard watches one filesystem; space taken by other processes counts
// like any other. It does not make space: an operator (or retention) must,
// apart from the space the embedded queue gives back by itself (it deletes
// what it has delivered, the newest segment once the queue is drained), which
// the next sample sees.
package diskguard
