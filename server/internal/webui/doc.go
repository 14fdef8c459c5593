// Package webui serves Sawmill's dashboard: the single-page app built from
// server/web (npm run build writes straight into dist/, which is committed
// and embedded, so `go build` never needs Node).
//
// Guarantees: every response carries a strict Content-Security-Policy (no
// inline script or style, no third-party origin, no framing) plus
// nosniff and no-referrer; hashed assets under /assets/ are cached for a
// year as immutable, everything else is revalidated (ETag); paths that are
// not files fall back to index.html so client routes such as /logs/{id}
// load the app; unknown files (a path with an extension) and /api/ paths
// answer 404; only GET and HEAD are served. Text assets are served
// gzip-compressed when the client accepts it.
package webui
