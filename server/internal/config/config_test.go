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
}

func TestParseEnvAndFlags(t *testing.T) {
	c, err := Parse([]string{"--grpc-addr", "127.0.0.1:9000", "--token", "a"},
		env(map[string]string{
			"SAWMILL_GRPC_ADDR":   "127.0.0.1:1", // the flag wins
			"SAWMILL_HTTP_ADDR":   "127.0.0.1:9001",
			"SAWMILL_RETENTION":   "72h",
			"SAWMILL_RECENT_SIZE": "10",
			"SAWMILL_TOKENS":      "b, c",
		}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9000", c.GRPCAddr)
	assert.Equal(t, "127.0.0.1:9001", c.HTTPAddr)
	assert.Equal(t, 72*time.Hour, c.Retention)
	assert.Equal(t, 10, c.RecentSize)
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
