package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// distinctIDs pages through every stored record of service (oldest first,
// 1000 per page, over gRPC QueryService.Search) and counts distinct ids.
func distinctIDs(ctx context.Context, grpcAddr, service string, limit time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return 0, fmt.Errorf("connect %s: %w", grpcAddr, err)
	}
	defer func() { _ = conn.Close() }()
	q := sawmillv1.NewQueryServiceClient(conn)
	ids := make(map[string]struct{}, 1<<16)
	cursor := ""
	for page := 0; page < 100_000; page++ { // bound: 100M records
		resp, err := q.Search(ctx, &sawmillv1.SearchRequest{
			Filter: &sawmillv1.Filter{Services: []string{service}}, Limit: 1000, Cursor: cursor, OldestFirst: true})
		if err != nil {
			return 0, fmt.Errorf("search %s page %d: %w", service, page, err)
		}
		for _, e := range resp.GetEntries() {
			ids[e.GetId()] = struct{}{}
		}
		cursor = resp.GetNextCursor()
		if cursor == "" {
			return uint64(len(ids)), nil
		}
	}
	return 0, fmt.Errorf("search %s: more than 100,000 pages", service)
}
