package config

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ":7070", c.GRPCAddr)
	assert.Equal(t, ":7080", c.HTTPAddr)
	assert.Equal(t, "./sawmill-data", c.DataDir)
	assert.Equal(t, 7*24*time.Hour, c.Retention)
	assert.Equal(t, 50, c.RecentSize)
	assert.Empty(t, c.Tokens)
	assert.EqualValues(t, 256<<20, c.DiskReserve)
}

func TestParseEnvAndFlags(t *testing.T) {
	c, err := Parse([]string{"--grpc-addr", "127.0.0.1:9000", "--token", "a"},
		env(map[string]string{
			"SAWMILL_GRPC_ADDR":    "127.0.0.1:1", // the flag wins
			"SAWMILL_HTTP_ADDR":    "127.0.0.1:9001",
			"SAWMILL_RETENTION":    "72h",
			"SAWMILL_RECENT_SIZE":  "10",
			"SAWMILL_TOKENS":       "b, c",
			"SAWMILL_DISK_RESERVE": "4194304",
		}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9000", c.GRPCAddr)
	assert.Equal(t, "127.0.0.1:9001", c.HTTPAddr)
	assert.Equal(t, 72*time.Hour, c.Retention)
	assert.Equal(t, 10, c.RecentSize)
	assert.EqualValues(t, 4<<20, c.DiskReserve)
	assert.Equal(t, []string{"a"}, c.Tokens, "--token on the command line wins over SAWMILL_TOKENS")

	c, err = Parse(nil, env(map[string]string{"SAWMILL_TOKENS": "b, c"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c"}, c.Tokens)
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad addr":         {args: []string{"--grpc-addr", "nope"}, want: "--grpc-addr"},
		"same addrs":       {args: []string{"--grpc-addr", ":1", "--http-addr", ":1"}, want: "both"},
		"bad env duration": {env: map[string]string{"SAWMILL_RETENTION": "forever"}, want: "SAWMILL_RETENTION"},
		"short retention":  {args: []string{"--retention", "1s"}, want: "--retention"},
		"recent size":      {args: []string{"--recent-size", "0"}, want: "--recent-size"},
		"log level":        {args: []string{"--log-level", "loud"}, want: "--log-level"},
		"disk reserve":     {args: []string{"--disk-reserve", "1000"}, want: "--disk-reserve 1000: want at least 1 MiB"},
		"stray argument":   {args: []string{"serve"}, want: "unexpected argument"},
		"unknown flag":     {args: []string{"--nope"}, want: "not defined"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestEnvVars(t *testing.T) {
	vars := EnvVars()
	assert.Contains(t, vars, "SAWMILL_GRPC_ADDR")
	assert.Contains(t, vars, "SAWMILL_TOKENS")
	assert.Contains(t, vars, "SAWMILL_DATA_DIR")
	assert.NotContains(t, vars, "SAWMILL_VERSION")
}

func TestUIToken(t *testing.T) {
	c, err := Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, c.UIToken, "open by default")

	c, err = Parse(nil, env(map[string]string{"SAWMILL_UI_TOKEN": "s3cret"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "s3cret", c.UIToken)

	c, err = Parse([]string{"--ui-token", "flag"}, env(map[string]string{"SAWMILL_UI_TOKEN": "env"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "flag", c.UIToken, "the flag wins over SAWMILL_UI_TOKEN")

	_, err = Parse([]string{"--ui-token", "two words"}, env(nil), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--ui-token")

	assert.Contains(t, EnvVars(), "SAWMILL_UI_TOKEN")
}

func TestProductionFlags(t *testing.T) {
	c, err := Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.False(t, c.Production.Enabled(), "embedded by default")
	assert.Equal(t, "quorum", c.Production.AMQPQueueType)
	assert.Equal(t, 200, c.Production.AMQPPrefetch)

	c, err = Parse([]string{"--amqp-queue-type", "classic", "--amqp-prefetch", "50"}, env(map[string]string{
		"SAWMILL_AMQP_URL":      "amqp://guest:guest@127.0.0.1:5672/",
		"SAWMILL_DATABASE_URL":  "postgres://postgres@127.0.0.1:5432/logs",
		"SAWMILL_TIMESCALEDB":   "off",
		"SAWMILL_AMQP_PREFETCH": "300", // the flag wins
	}), io.Discard)
	require.NoError(t, err)
	assert.True(t, c.Production.Enabled())
	assert.Equal(t, "amqp://guest:guest@127.0.0.1:5672/", c.Production.AMQPURL)
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/logs", c.Production.DatabaseURL)
	assert.Equal(t, "classic", c.Production.AMQPQueueType)
	assert.Equal(t, 50, c.Production.AMQPPrefetch, "classic queues take any prefetch")
	assert.Equal(t, "off", c.Production.TimescaleDB)

	c, err = Parse([]string{"--database-url", "host=127.0.0.1 user=postgres dbname=logs"}, env(nil), io.Discard)
	require.NoError(t, err, "PostgreSQL without a broker, DSN form")
	assert.Equal(t, "host=127.0.0.1 user=postgres dbname=logs", c.Production.DatabaseURL)

	for _, v := range []string{"SAWMILL_AMQP_URL", "SAWMILL_DATABASE_URL", "SAWMILL_AMQP_QUEUE_TYPE", "SAWMILL_AMQP_PREFETCH", "SAWMILL_AMQP_CONSUMERS", "SAWMILL_TIMESCALEDB", "SAWMILL_DATABASE_MAX_CONNS"} {
		assert.Contains(t, EnvVars(), v)
	}
}

func TestProductionFlagErrors(t *testing.T) {
	db := "--database-url=postgres://127.0.0.1/logs"
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"broker without store": {args: []string{"--amqp-url", "amqp://127.0.0.1/"}, want: "--amqp-url needs --database-url"},
		"bad amqp scheme":      {args: []string{db, "--amqp-url", "http://127.0.0.1/"}, want: "--amqp-url: want amqp://"},
		"bad database url":     {args: []string{"--database-url", "mysql://x/y"}, want: "--database-url: want postgres://"},
		"queue type":           {args: []string{db, "--amqp-queue-type", "stream"}, want: "--amqp-queue-type"},
		"quorum prefetch":      {args: []string{db, "--amqp-prefetch", "10"}, want: "quorum queues need at least 100"},
		"prefetch range":       {args: []string{db, "--amqp-queue-type", "classic", "--amqp-prefetch", "0"}, want: "--amqp-prefetch 0"},
		"consumers":            {args: []string{db, "--amqp-consumers", "0"}, want: "--amqp-consumers"},
		"timescaledb":          {args: []string{db, "--timescaledb", "yes"}, want: "--timescaledb"},
		"conns":                {args: []string{db, "--database-max-conns", "1"}, want: "--database-max-conns"},
		"write batches":        {args: []string{db, "--store-write-batches", "0"}, want: "--store-write-batches"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.args, env(nil), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
