module github.com/sawmill-dev/sawmill/examples

go 1.26.0

require github.com/sawmill-dev/sawmill/proto v0.0.0

replace github.com/sawmill-dev/sawmill/proto => ../proto

require (
	github.com/sawmill-dev/sawmill/sdk v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
	go.yaml.in/yaml/v3 v3.0.5
	google.golang.org/grpc v1.85.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/sawmill-dev/sawmill/sdk => ../sdk

// npm installs land in node_modules; some npm packages ship .go files.
ignore node_modules
