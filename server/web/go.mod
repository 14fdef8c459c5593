// This module only fences server/web off from the server module, whose
// ./... would otherwise walk into node_modules (some npm packages ship .go
// files). The end-to-end tests' Go helper is its own module, e2e/pusher.
module github.com/sawmill-dev/sawmill/server/web

go 1.26.0
