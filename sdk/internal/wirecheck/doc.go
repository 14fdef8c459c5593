// Package wirecheck holds the rules of the v1 wire contract
// (proto/sawmill/v1/log.proto) that a Sawmill server applies to a LogBatch
// before accepting it, for the SDK's own tests and for sawmilltest. It is
// a copy of the server's rules (the sdk module does not import the server)
// made strict where servers differ: it follows the contract as written, so
// a batch it accepts is accepted by every v1 server. apptest checks that
// against the real binary.
//
// Where it could be looser it takes the strict side: it refuses keys
// starting with "$" other than a
// well-formed {"$bytes":"<padded standard base64>"} marker (log.proto
// reserves them), numbers beyond the range of a double (1e999) and numbers
// with more than 16383 digits after the decimal point.
package wirecheck
