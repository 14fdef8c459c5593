package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPostgresOf(t *testing.T) {
	keep := postgresOf("sawmill_bench_1_2")
	for cmdline, want := range map[string]bool{
		"postgres: 15/main: postgres sawmill_bench_1_2 127.0.0.1(37546) COPY":       true,
		"postgres: 15/main: autovacuum worker sawmill_bench_1_2":                    true,
		"postgres: 15/main: checkpointer ":                                          true,
		"postgres: 15/main: walwriter ":                                             true,
		"/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c x":   true,
		"postgres: 15/main: postgres other_db 127.0.0.1(37548) idle":                false,
		"postgres: 15/main: postgres sawmill_bench_1_23 127.0.0.1(1) idle":          false,
		"postgres: 15/main: autovacuum worker other_db":                             false,
		"postgres: 15/main: parallel worker for PID 18372 ":                         false,
		"postgres: 15/main: TimescaleDB Background Worker Scheduler for database 1": false,
	} {
		assert.Equal(t, want, keep(cmdline), cmdline)
	}
}
