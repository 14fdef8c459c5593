// Package apptest holds process-level tests: they build the real sawmill
// binary, start it on loopback with its own data directory, and talk to it
// over real gRPC and HTTP, as users and operators do. harness_test.go has the
// shared helpers (Build, Start, Push, HTTP queries).
package apptest
