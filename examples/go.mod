module github.com/sawmill-dev/sawmill/examples

go 1.26.0

require github.com/sawmill-dev/sawmill/proto v0.0.0

replace github.com/sawmill-dev/sawmill/proto => ../proto

require github.com/sawmill-dev/sawmill/sdk v0.0.0

replace github.com/sawmill-dev/sawmill/sdk => ../sdk
