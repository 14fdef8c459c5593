// Package apptest holds the SDK's integration tests: they build the real
// sawmill binary from this repository (go build ./server/cmd/sawmill, in
// the directory holding go.work), start it on loopback with free ports and
// a temporary --data-dir, push logs through the SDK (zap, slog, the
// client) and read them back through the HTTP query API. When the server
// module is missing or does not build, the tests skip with the reason.
// The SDK module never imports the server module: the binary is the only
// link. The package has no non-test code besides this file.
package apptest
