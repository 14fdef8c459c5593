package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "1", "EMPTY": ""}
	tests := []struct {
		in, want, err string
	}{
		{"x=${A}", "x=1", ""},
		{"x=$A", "x=1", ""},
		{"x=${B:-def}", "x=def", ""},
		{"x=${EMPTY:-def}", "x=def", ""},
		{"x=${EMPTY-def}", "x=", ""},
		{"x=${B-def}", "x=def", ""},
		{"x=$${A}", "x=${A}", ""},
		{"x=${A:?need A}", "x=1", ""},
		{"x=${B:?need B}", "", "B is required: need B"},
		{"x=${EMPTY:?need it}", "", "EMPTY is required"},
	}
	for _, tt := range tests {
		got, err := interpolate(tt.in, env)
		if tt.err != "" {
			require.Error(t, err, tt.in)
			assert.Contains(t, err.Error(), tt.err)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestDockerignore(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".dockerignore")
	require.NoError(t, os.WriteFile(p, []byte("# comment\n.git\n**/node_modules\n.env\n.env.*\n!.env.example\nserver/web\n/docs\n*.md\n"), 0o600))
	d := loadDockerignore(t, p)
	for path, want := range map[string]bool{
		".git":                             true,
		".git/config":                      true,
		"node_modules":                     true,
		"node-transport/node_modules/x/y":  true,
		".env":                             true,
		".env.local":                       true,
		".env.example":                     false,
		"server/web/src/main.ts":           true,
		"server/webui/index.html":          false,
		"server/internal/webui/dist/a.js":  false,
		"docs/deployment.md":               true,
		"README.md":                        true,
		"examples/orders/README.md":        false, // *.md matches the root only
		"examples/orders/main.go":          false,
		"examples/payments/src/app.js":     false,
		"examples/payments/node_modules/w": true,
	} {
		assert.Equal(t, want, d.excluded(path), path)
	}
}

func TestParseDockerfile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Dockerfile")
	require.NoError(t, os.WriteFile(p, []byte(`# syntax=docker/dockerfile:1.7
ARG IMG=golang:1.26.8-bookworm
FROM ${IMG} AS build
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN go build \
    # a comment inside a continuation
    -o /out/x ./cmd/x

FROM scratch
ENV A=1 \
    B="two"
USER 65532:65532
EXPOSE 7070 7080
`), 0o600))
	df := parseDockerfile(t, p)
	assert.Equal(t, []string{"build", ""}, df.Stages)
	assert.Equal(t, "golang:1.26.8-bookworm", df.Args["IMG"])
	assert.Equal(t, map[string]string{"A": "1", "B": "two"}, df.env())
	assert.Equal(t, "0", envOf(df, 0)["CGO_ENABLED"])
	runs := df.all("RUN")
	require.Len(t, runs, 1)
	assert.Equal(t, 5, runs[0].Line)
	assert.Contains(t, runs[0].Args, "go build")
	assert.Contains(t, runs[0].Args, "-o /out/x ./cmd/x")
	assert.NotContains(t, runs[0].Args, "comment")
	assert.Equal(t, "65532:65532", df.final("USER")[0].Args)
	assert.Empty(t, df.final("RUN"), "the RUN belongs to the build stage")
}

func TestParseHelp(t *testing.T) {
	help := "Usage: sawmill [flags]\n\nFlags:\n" +
		"  -grpc-addr string\n    \tgRPC listen address (default \":7070\")\n" +
		"  -http-addr string\n    \tHTTP listen address (default \":7080\")\n" +
		"  -data-dir string\n    \tdirectory (default \"./sawmill-data\")\n" +
		"  -pprof\n    \tserve profiles\n" +
		"  -token value\n    \tbearer token (repeatable; SAWMILL_TOKENS takes a comma-separated list)\n" +
		"  -version\n    \tprint the version and exit\n"
	info := serverInfo{EnvVars: map[string]bool{}, Defaults: map[string]string{}}
	require.NoError(t, parseHelp(help, &info))
	assert.Equal(t, map[string]bool{"SAWMILL_GRPC_ADDR": true, "SAWMILL_HTTP_ADDR": true, "SAWMILL_DATA_DIR": true,
		"SAWMILL_PPROF": true, "SAWMILL_TOKENS": true}, info.EnvVars)
	assert.Equal(t, ":7070", info.Defaults["grpc-addr"])
	assert.Equal(t, "", info.Defaults["pprof"])

	require.Error(t, parseHelp("garbage", &serverInfo{EnvVars: map[string]bool{}, Defaults: map[string]string{}}),
		"a help text it cannot read fails instead of accepting nothing")
}
