// Package diskq is Sawmill's embedded durable queue: an append-only,
// segmented log on local disk between ingest and the embedded store.
//
// Guarantees:
//
//   - Publish returns nil only after the batch is written and fsynced.
//     Concurrent publishers share one write and one fsync (group commit): a
//     single committer goroutine takes every pending batch, writes them with
//     one write call, fsyncs once and then releases all their waiters.
//   - Run hands batches to a pipeline.Consumer in publish order and
//     acknowledges them only after the Consumer returned nil. Delivery is
//     at-least-once: after a crash (or a Shutdown with a delivery that did
//     not succeed) every unacknowledged batch is delivered again; batches
//     acknowledged less than ~100 ms before a crash may be delivered again
//     too, which the store tolerates because it is idempotent by batch id.
//   - A Consumer error marked pipeline.Permanent dead-letters the batch: it
//     is written (fsynced) to dir/dead-letter/ with a reason header before it
//     is acknowledged, so nothing is dropped silently. A Permanent error on a
//     delivery of several batches first re-delivers them one at a time, so
//     only the batches that fail on their own are dead-lettered. Any other
//     error is retried with exponential backoff and jitter.
//   - A failed commit (for example ENOSPC) fails every Publish of its group
//     with an error wrapping pipeline.ErrUnavailable and leaves the segments
//     holding exactly the committed frames: what the commit wrote is cut off
//     again, and the active segment is kept for the next commit, so a full
//     disk creates no segment per failed commit (at most one empty segment,
//     when a roll-over failed). The queue does not watch free space itself:
//     the embedded server puts internal/diskguard in front of Publish.
//   - Memory is bounded: the bytes waiting on disk by Options.MaxBytes
//     (Publish beyond it returns a *pipeline.FullError), the cache of decoded
//     batches handed to Run without reading them back by Options.MemoryBytes,
//     a delivery by Options.MaxDelivery batches and ~32k records.
//
// On-disk layout of dir:
//
//	00000000000000000001.seg  segments, frames [u32 len][u32 CRC-32C][LogBatch]
//	ack                       acknowledged position (segment id, offset)
//	LOCK                      flock held while the queue is open (unix)
//	dead-letter/              one file per dead-lettered delivery
//
// Integers are little endian. Open validates every unacknowledged frame: a
// torn or corrupt tail of the last segment is truncated; a corrupt frame
// inside an older segment ends that segment (the rest is skipped, logged and
// counted in Stats.CorruptSegments) and never stops the queue.
//
// The ack position is written at most every 100 ms and on Shutdown, without
// an fsync, by overwriting the 20-byte ack file in place (only the first one
// is created through a temporary file and a rename). Overwriting needs no new
// disk space, so acknowledging, and deleting the delivered segments behind
// the position, works on a full disk; Open needs no new space either when the
// queue already has a segment. If the newest position is lost or torn in a
// power failure (its CRC then fails), an older or no position is used and
// some acknowledged batches are delivered again, which is harmless because
// the store skips batch ids it already has. Segments behind the acknowledged
// position are deleted after the position is written.
//
// The last segment takes the appends, so it is not behind the position even
// when all of it is delivered. When Run has had nothing to deliver for a
// second and every frame of the last segment is acknowledged (the queue is
// drained, no publish under way), the queue reclaims that segment's space
// instead of keeping up to Options.SegmentBytes of delivered frames until the
// next roll-over: Run writes the position (the end of the segment), the
// committer goroutine rolls over to a new, empty segment between two group
// commits (a publish arriving meanwhile waits for that one file creation and
// goes to the new segment; publishes never wait for it otherwise), the
// position moves to the new segment's start and is written, and then the old
// segment is deleted and Run's file of it closed, so the next statfs sees the
// space. A crash of the process at any step leaves a queue that Open recovers without
// delivering a delivered batch again or losing an undelivered one: before the
// new position is written, the old segment has nothing after the old
// position and the new one holds only batches published after the reclaim;
// afterwards, Open deletes the old segment as being behind the position. If
// the new segment cannot be created (no space for a file), the delivered one
// is kept and the reclaim is retried later. Stats.Reclaimed counts reclaims.
package diskq
