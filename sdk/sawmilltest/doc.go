// Package sawmilltest provides an in-memory Sawmill ingest server for unit
// tests of code that logs through the Sawmill SDK.
//
// The server speaks real gRPC on a loopback port (127.0.0.1, a free port),
// implements both Push and PushStream, stores each batch id once like the
// real server (a retried batch is answered "duplicate"), validates batches
// against the rules of log.proto (InvalidArgument with field violations),
// and can be told to fail the next N batches with a code (and a retry
// hint), to hold its answers, or to require a bearer token. It keeps
// everything in memory: use it for tests, never in production.
package sawmilltest
