module github.com/sawmill-dev/sawmill/server

go 1.26.0

require github.com/sawmill-dev/sawmill/proto v0.0.0

replace github.com/sawmill-dev/sawmill/proto => ../proto
