// Package rabbitmq is Sawmill's production queue: a pipeline.Queue on a
// RabbitMQ broker (github.com/rabbitmq/amqp091-go), shared by any number of
// stateless sawmill replicas.
//
// Topology, declared by every replica on every (re)connection:
//
//	exchange  <name>               fanout, durable: one message per ingest batch
//	queue     <queue>              durable quorum queue (or classic v2), bound to
//	                               the exchange, consumed by every replica's
//	                               storage writers (competing consumers)
//	queue     <queue>.dead-letter  durable, same type: undecodable messages and
//	                               batches the store refuses for good
//	queue     (server-named)       exclusive to one replica, bound to the
//	                               exchange, feeding its live tail (Observer);
//	                               bounded (drop-head) so a slow replica cannot
//	                               fill the broker
//
// Guarantees:
//   - One AMQP message per batch: the protobuf LogBatch, persistent, with the
//     batch id as message id. Publish returns nil only after the broker
//     confirmed the message (publisher confirms; quorum queues confirm once
//     a majority stored it). Many publishes are in flight at once on a few
//     confirm-mode channels; a confirm is awaited per batch, never one at a
//     time per channel.
//   - While the broker is away (connection lost, reconnecting) Publish fails
//     at once with an error wrapping pipeline.ErrUnavailable, and while the
//     broker blocks publishers (a memory or disk alarm) with a
//     *pipeline.FullError naming the alarm ("broker blocked publishing: low
//     on memory"): nothing is buffered in memory. A publish waiting for its
//     confirm when the broker starts blocking fails the same way at once
//     (the broker may still store it; a retry of the batch id is stored
//     once). Blocked reports the alarm for readiness checks. A publish whose
//     confirm is lost with the connection also fails Unavailable; the client
//     retries the same batch id and the store skips a duplicate.
//   - Run consumes with manual acknowledgements and a prefetch window
//     (Options.Prefetch, >= 100 for quorum queues), hands several messages at
//     once to the Consumer, and acknowledges them only after it returned nil
//     (after the database commit). A failing Consumer is retried with backoff
//     while the messages stay unacknowledged; if the replica dies they are
//     delivered to another one.
//   - A message that cannot be decoded, or that the Consumer rejects with a
//     pipeline.Permanent error on its own, is published (confirmed) to the
//     dead-letter queue with the reason in the header x-sawmill-reason
//     before it is acknowledged: never dropped silently; DeadLettered counts
//     them.
//   - The connection is re-established with exponential backoff and jitter;
//     the topology is re-declared and consumers resume.
//   - Every replica's Observer sees every replica's batches (best effort:
//     a replica's live queue drops its oldest messages beyond
//     Options.LiveMaxBytes, and what arrives while it is disconnected is lost
//     for the live view only; after a reconnection an Observer that is a
//     pipeline.GapObserver is told the time range it may have missed).
//
// Depth reports the backlog this replica can see: its publishes awaiting a
// confirm, the storage queue's ready messages (BrokerDepth, every
// replica's, polled every 2 s) and the deliveries its own consumers
// received and have not acknowledged (Unacked: prefetched or being stored;
// AMQP does not tell a replica the others'). Unconfirmed is what it still
// owes its clients, all a graceful stop waits for.
package rabbitmq
