// examples/payments is a Node project, not Go. This file only keeps its
// node_modules out of the examples Go module: some npm packages ship .go
// files (flatted does), which `go vet ./...` and staticcheck would check.
module github.com/sawmill-dev/sawmill/examples/payments

go 1.26.0
