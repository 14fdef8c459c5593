package deploy

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example services: compose service name -> Dockerfile.
var exampleServices = map[string]string{
	"orders":   "examples/orders/Dockerfile",
	"users":    "examples/users/Dockerfile",
	"payments": "examples/payments/Dockerfile",
}

// stack is everything the static checks read.
type stack struct {
	root        string
	env         map[string]string // .env.example
	compose     compose
	dockerfiles map[string]dockerfile // repo-relative path -> parsed
	ignore      dockerignore
}

func loadStack(t *testing.T) stack {
	t.Helper()
	root := repoRoot(t)
	s := stack{root: root, env: loadDotEnv(t, filepath.Join(root, ".env.example")), dockerfiles: map[string]dockerfile{}}
	s.compose = loadCompose(t, filepath.Join(root, "docker-compose.yml"), s.env)
	s.ignore = loadDockerignore(t, filepath.Join(root, ".dockerignore"))
	for _, p := range append([]string{"server/Dockerfile"}, slices.Sorted(mapValues(exampleServices))...) {
		s.dockerfiles[p] = parseDockerfile(t, filepath.Join(root, p))
	}
	return s
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// port returns the port of a "host:port" or ":port" address.
func port(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "address %q", addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, "address %q", addr)
	return n
}

// probeURL returns the URL a health check command requests: httpprobe's
// argument, or the URL inside a node -e "fetch('...')" one-liner.
func probeURL(t testing.TB, test []string) *url.URL {
	t.Helper()
	re := regexp.MustCompile(`https?://[^\s'"()]+`)
	for _, a := range test {
		if m := re.FindString(a); m != "" {
			u, err := url.Parse(m)
			require.NoError(t, err)
			return u
		}
	}
	t.Fatalf("health check %q requests no http:// URL", test)
	return nil
}

func TestEverySawmillVariableExists(t *testing.T) {
	s := loadStack(t)
	srv := sawmillServer(t)
	known := slices.Sorted(func(yield func(string) bool) {
		for k := range srv.EnvVars {
			if !yield(k) {
				return
			}
		}
	})
	files := []string{"docker-compose.yml", ".env.example", "docs/deployment.md", "scripts/stack-local.sh",
		"examples/orders/README.md", "examples/users/README.md", "examples/payments/README.md"}
	for p := range s.dockerfiles {
		files = append(files, p)
	}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(s.root, f))
		require.NoError(t, err)
		for _, v := range envNameRe.FindAllString(string(raw), -1) {
			assert.Contains(t, known, v, "%s uses %s, which `sawmill --help` does not list", f, v)
		}
	}
	// The server reads nothing but SAWMILL_* variables: any other key in its
	// environment would be silently ignored.
	for k := range s.compose.Services["sawmill"].Environment {
		assert.Contains(t, known, k, "docker-compose.yml: sawmill's environment sets %s, which the server does not read", k)
	}
	for k := range s.dockerfiles["server/Dockerfile"].env() {
		assert.Contains(t, known, k, "server/Dockerfile: ENV %s is not a server variable", k)
	}
	// Production mode in compose: both the queue and the store are set.
	env := s.compose.Services["sawmill"].Environment
	assert.True(t, strings.HasPrefix(env["SAWMILL_AMQP_URL"], "amqp://"), "SAWMILL_AMQP_URL = %q", env["SAWMILL_AMQP_URL"])
	assert.True(t, strings.HasPrefix(env["SAWMILL_DATABASE_URL"], "postgres://"), "SAWMILL_DATABASE_URL = %q", env["SAWMILL_DATABASE_URL"])
}

func TestPortsMatchServerDefaults(t *testing.T) {
	s := loadStack(t)
	srv := sawmillServer(t)
	grpcPort, httpPort := port(t, srv.Defaults["grpc-addr"]), port(t, srv.Defaults["http-addr"])
	require.NotEqual(t, grpcPort, httpPort)

	df := s.dockerfiles["server/Dockerfile"]
	var exposed []int
	for _, in := range df.final("EXPOSE") {
		for _, f := range strings.Fields(in.Args) {
			n, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
			require.NoError(t, err, "EXPOSE %s", in.Args)
			exposed = append(exposed, n)
		}
	}
	sort.Ints(exposed)
	assert.Equal(t, []int{grpcPort, httpPort}, exposed, "server/Dockerfile EXPOSE")
	denv := df.env()
	assert.Equal(t, grpcPort, port(t, denv["SAWMILL_GRPC_ADDR"]), "server/Dockerfile ENV SAWMILL_GRPC_ADDR")
	assert.Equal(t, httpPort, port(t, denv["SAWMILL_HTTP_ADDR"]), "server/Dockerfile ENV SAWMILL_HTTP_ADDR")

	sv := s.compose.Services["sawmill"]
	for k, want := range map[string]int{"SAWMILL_GRPC_ADDR": grpcPort, "SAWMILL_HTTP_ADDR": httpPort} {
		if v, ok := sv.Environment[k]; ok {
			assert.Equal(t, want, port(t, v), "docker-compose.yml sawmill %s", k)
		}
	}
	var published []int
	for _, p := range sv.Ports {
		published = append(published, containerPort(t, p))
	}
	sort.Ints(published)
	assert.Equal(t, []int{grpcPort, httpPort}, published, "docker-compose.yml: sawmill publishes its gRPC and HTTP ports")

	// The example services reach sawmill at its gRPC port, and each other
	// at the ports they listen on.
	listen := map[string]int{}
	for name := range exampleServices {
		svc := s.compose.Services[name]
		require.NotNil(t, svc.Environment, "docker-compose.yml: service %s", name)
		ep := svc.Environment["LOG_ENDPOINT"]
		host, _, err := net.SplitHostPort(ep)
		require.NoError(t, err, "%s LOG_ENDPOINT %q", name, ep)
		assert.Equal(t, "sawmill", host, "%s LOG_ENDPOINT", name)
		assert.Equal(t, grpcPort, port(t, ep), "%s LOG_ENDPOINT", name)
		listen[name] = port(t, svc.Environment["HTTP_ADDR"])
		require.Len(t, svc.Ports, 1, "%s ports", name)
		assert.Equal(t, listen[name], containerPort(t, svc.Ports[0]), "%s: published port = HTTP_ADDR port", name)
		edf := s.dockerfiles[exampleServices[name]]
		assert.Equal(t, listen[name], port(t, edf.env()["HTTP_ADDR"]), "%s Dockerfile ENV HTTP_ADDR", name)
		assert.Equal(t, []string{strconv.Itoa(listen[name])}, strings.Fields(edf.final("EXPOSE")[0].Args), "%s Dockerfile EXPOSE", name)
	}
	for k, target := range map[string]string{"USERS_URL": "users", "PAYMENTS_URL": "payments"} {
		u, err := url.Parse(s.compose.Services["orders"].Environment[k])
		require.NoError(t, err)
		assert.Equal(t, target, u.Hostname(), "orders %s", k)
		assert.Equal(t, strconv.Itoa(listen[target]), u.Port(), "orders %s", k)
	}
}

// containerPort reads the container side of a compose port mapping
// ("127.0.0.1:7070-7071:7070", "8081:8081", "7070").
func containerPort(t testing.TB, mapping string) int {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(mapping, "/tcp"), ":")
	n, err := strconv.Atoi(parts[len(parts)-1])
	require.NoError(t, err, "port mapping %q", mapping)
	return n
}

var versionTag = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)+([-.][0-9A-Za-z.-]+)?$`)

// pinned reports whether an image reference names a version: a digest, or
// a tag starting with a dotted version (1.26.8-bookworm, 4.1.0-management).
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return false // no tag: means latest
	}
	return versionTag.MatchString(ref[i+1:])
}

func TestImagesArePinned(t *testing.T) {
	s := loadStack(t)
	for name, svc := range s.compose.Services {
		require.NotEmpty(t, svc.Image, "docker-compose.yml: service %s has no image", name)
		assert.True(t, pinned(svc.Image), "docker-compose.yml: service %s image %q is not pinned to a version", name, svc.Image)
	}
	for p, df := range s.dockerfiles {
		stages := map[string]bool{}
		for _, in := range df.all("FROM") {
			f := strings.Fields(in.Args)
			ref := f[0]
			for k, v := range df.Args {
				ref = strings.ReplaceAll(ref, "${"+k+"}", v)
			}
			switch {
			case stages[ref]:
			case ref == "scratch":
			default:
				assert.True(t, pinned(ref), "%s:%d: FROM %s is not pinned to a version", p, in.Line, ref)
			}
			if len(f) == 3 {
				stages[f[2]] = true
			}
		}
	}
	for _, ref := range []string{"golang", "golang:latest", "node:22-slim", "example.com:5000/img", "rabbitmq:management"} {
		assert.False(t, pinned(ref), ref)
	}
}

func TestRuntimeUsersAreNotRoot(t *testing.T) {
	s := loadStack(t)
	for p, df := range s.dockerfiles {
		users := df.final("USER")
		if !assert.NotEmpty(t, users, "%s: the runtime stage sets no USER (it would run as root)", p) {
			continue
		}
		u := strings.SplitN(users[len(users)-1].Args, ":", 2)[0]
		assert.NotContains(t, []string{"root", "0", ""}, u, "%s: runtime USER %s", p, users[len(users)-1].Args)
		if u == "node" {
			assert.Contains(t, df.Args["NODE_IMAGE"], "node:", "%s: USER node exists in the official node images", p)
		}
	}
	// Images built here: no compose override back to root.
	for name, svc := range s.compose.Services {
		if svc.Build != nil {
			assert.NotContains(t, []string{"root", "0", "0:0"}, svc.User, "service %s", name)
		}
	}
}

func TestHealthChecksHitRealEndpoints(t *testing.T) {
	s := loadStack(t)
	srv := sawmillServer(t)
	httpPort := port(t, srv.Defaults["http-addr"])

	// Every service has a health check, and every depends_on waits on one.
	for name, svc := range s.compose.Services {
		if assert.NotNil(t, svc.Healthcheck, "docker-compose.yml: service %s has no healthcheck", name) {
			assert.NotEmpty(t, svc.Healthcheck.Test, "service %s", name)
		}
		for dep, c := range svc.DependsOn {
			assert.Contains(t, s.compose.Services, dep, "service %s depends on unknown %s", name, dep)
			assert.Equal(t, "service_healthy", c.Condition, "service %s waits for %s to be healthy", name, dep)
		}
	}
	sv := s.compose.Services["sawmill"]
	for _, dep := range []string{"rabbitmq", "timescaledb"} {
		assert.Contains(t, sv.DependsOn, dep, "sawmill starts after %s", dep)
	}
	for name := range exampleServices {
		assert.Contains(t, s.compose.Services[name].DependsOn, "sawmill", "%s starts after sawmill", name)
	}

	// sawmill's checks: compose's and the image's, on the default HTTP port,
	// on paths the real binary answers 200 once ready.
	var paths []string
	checks := [][]string{sv.Healthcheck.Test}
	for _, in := range s.dockerfiles["server/Dockerfile"].final("HEALTHCHECK") {
		_, cmd, ok := strings.Cut(in.Args, "CMD ")
		require.True(t, ok, "server/Dockerfile HEALTHCHECK %s", in.Args)
		checks = append(checks, jsonArgs(t, cmd))
	}
	require.Len(t, checks, 2, "server/Dockerfile has a HEALTHCHECK")
	for _, c := range checks {
		u := probeURL(t, c)
		assert.Equal(t, "127.0.0.1", u.Hostname(), "health check %q", c)
		assert.Equal(t, strconv.Itoa(httpPort), u.Port(), "health check %q", c)
		assert.Contains(t, []string{"/healthz", "/readyz"}, u.Path, "health check %q", c)
		argv := c
		if argv[0] == "CMD" {
			argv = argv[1:]
		}
		assert.Equal(t, "/usr/local/bin/httpprobe", argv[0], "health check %q runs the image's httpprobe", c)
		paths = append(paths, u.Path)
	}
	run := startServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range append(paths, "/healthz", "/readyz") {
		// The dashboard answers unknown paths with its page (200): the
		// health endpoints are told apart by their JSON status.
		code, body := httpGet(ctx, "http://"+run.HTTP+p)
		assert.Equal(t, http.StatusOK, code, "GET %s: %s", p, body)
		assert.Regexp(t, `^\{"status":"(ok|ready)"\}`, body, "GET %s answers the health endpoint's JSON", p)
	}

	// The examples: compose's and the image's checks agree on the port the
	// service listens on and on its /healthz.
	for name, p := range exampleServices {
		svc := s.compose.Services[name]
		u := probeURL(t, svc.Healthcheck.Test)
		want := strconv.Itoa(port(t, svc.Environment["HTTP_ADDR"]))
		assert.Equal(t, want, u.Port(), "%s compose health check", name)
		assert.Equal(t, "/healthz", u.Path, "%s compose health check", name)
		hc := s.dockerfiles[p].final("HEALTHCHECK")
		if assert.Len(t, hc, 1, "%s has a HEALTHCHECK", p) {
			_, cmd, _ := strings.Cut(hc[0].Args, "CMD ")
			iu := probeURL(t, jsonArgs(t, cmd))
			assert.Equal(t, want, iu.Port(), "%s HEALTHCHECK", p)
			assert.Equal(t, "/healthz", iu.Path, "%s HEALTHCHECK", p)
		}
	}
}

func TestVersionAndCommitReachTheBinary(t *testing.T) {
	srv := sawmillServer(t)
	// Built with server/Dockerfile's own -ldflags: a typo in -X main.version
	// would silently leave "dev".
	assert.Equal(t, "sawmill "+testVersion+" (commit "+testCommit+")", srv.Version)
	run := startServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body := httpGet(ctx, "http://"+run.HTTP+"/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `sawmill_build_info\{[^}]*commit="`+testCommit+`"[^}]*version="`+regexp.QuoteMeta(testVersion)+`"[^}]*\} 1`, body)
}

func TestServerImage(t *testing.T) {
	s := loadStack(t)
	df := s.dockerfiles["server/Dockerfile"]
	require.GreaterOrEqual(t, len(df.Stages), 2, "multi-stage")

	var build string
	for _, in := range df.all("RUN") {
		if strings.Contains(in.Args, "./server/cmd/sawmill") {
			build = in.Args
		}
	}
	assert.Contains(t, build, "-trimpath")
	assert.Contains(t, build, "-s -w")
	assert.Equal(t, "0", envOf(df, 0)["CGO_ENABLED"], "the build stage sets CGO_ENABLED=0 (a static binary for an empty base)")

	env := df.env()
	vols := df.final("VOLUME")
	require.Len(t, vols, 1)
	assert.Equal(t, []string{env["SAWMILL_DATA_DIR"]}, jsonArgs(t, vols[0].Args), "the data directory is the declared volume")

	labels := strings.Join(func() []string {
		var out []string
		for _, in := range df.final("LABEL") {
			out = append(out, in.Args)
		}
		return out
	}(), " ")
	for _, l := range []string{"title", "description", "version", "revision", "created", "source", "licenses"} {
		assert.Contains(t, labels, "org.opencontainers.image."+l+"=", "OCI label %s", l)
	}
	ep := df.final("ENTRYPOINT")
	require.Len(t, ep, 1)
	assert.Equal(t, []string{"/usr/local/bin/sawmill"}, jsonArgs(t, ep[0].Args), "no arguments: configuration only through SAWMILL_*")
	assert.Empty(t, df.final("CMD"), "no CMD arguments: configuration only through SAWMILL_*")
}

// envOf returns the ENV values set in one stage.
func envOf(df dockerfile, stage int) map[string]string {
	out := map[string]string{}
	for _, in := range df.Instrs {
		if in.Stage == stage && in.Cmd == "ENV" {
			for _, kv := range strings.Fields(in.Args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					out[k] = v
				}
			}
		}
	}
	return out
}

func TestComposeStack(t *testing.T) {
	s := loadStack(t)
	require.ElementsMatch(t, []string{"rabbitmq", "timescaledb", "sawmill", "orders", "users", "payments"},
		slices.Collect(func(yield func(string) bool) {
			for k := range s.compose.Services {
				if !yield(k) {
					return
				}
			}
		}))
	sv := s.compose.Services["sawmill"]
	require.NotNil(t, sv.Deploy)
	assert.GreaterOrEqual(t, sv.Deploy.Replicas, 2, "sawmill runs at least two replicas")
	assert.Empty(t, sv.ContainerName, "container_name would stop compose from running replicas")
	for _, p := range sv.Ports {
		// Each replica needs a host port of its own.
		parts := strings.Split(p, ":")
		require.GreaterOrEqual(t, len(parts), 2, "sawmill publishes %q with a host port range", p)
		lo, hi, isRange := strings.Cut(parts[len(parts)-2], "-")
		require.True(t, isRange, "sawmill port %q: want a host range, one port per replica", p)
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		assert.GreaterOrEqual(t, b-a+1, sv.Deploy.Replicas, "sawmill port range %q covers every replica", p)
	}
	assert.True(t, strings.HasPrefix(s.compose.Services["rabbitmq"].Image, "rabbitmq:") && strings.HasSuffix(s.compose.Services["rabbitmq"].Image, "-management"),
		"RabbitMQ with the management plugin")
	ts := s.compose.Services["timescaledb"].Image
	assert.Regexp(t, `^timescale/timescaledb:.*-pg1[67]$`, ts, "official TimescaleDB image on PostgreSQL 16 or 17")

	// Built images: context is the repository root, the Dockerfile exists,
	// and every file it copies is in the build context.
	for name, svc := range s.compose.Services {
		if svc.Build == nil {
			continue
		}
		assert.Equal(t, ".", svc.Build.Context, "service %s builds from the repository root (go.work, proto/)", name)
		_, known := s.dockerfiles[svc.Build.Dockerfile]
		assert.True(t, known, "service %s builds %s", name, svc.Build.Dockerfile)
	}
	for p, df := range s.dockerfiles {
		for _, in := range df.all("COPY") {
			if strings.Contains(in.Args, "--from=") {
				continue
			}
			f := strings.Fields(in.Args)
			for _, src := range f[:len(f)-1] {
				if strings.HasPrefix(src, "--") {
					continue
				}
				_, err := os.Stat(filepath.Join(s.root, src))
				assert.NoError(t, err, "%s:%d: COPY %s", p, in.Line, src)
				assert.False(t, s.ignore.excluded(strings.TrimSuffix(src, "/")), "%s:%d: COPY %s is excluded by .dockerignore", p, in.Line, src)
			}
		}
	}
	for _, must := range []string{".git", "node_modules", "node-transport/node_modules", "server/web/node_modules", ".env", "sawmill-data"} {
		assert.True(t, s.ignore.excluded(must), ".dockerignore leaves out %s", must)
	}
	assert.False(t, s.ignore.excluded("server/internal/webui/dist/index.html"), "the embedded dashboard build is in the context")
}

func TestNoSecretsCommitted(t *testing.T) {
	s := loadStack(t)
	for k, v := range s.env {
		if regexp.MustCompile(`PASSWORD|TOKEN|SECRET`).MatchString(k) {
			assert.Equal(t, "change-me", v, ".env.example %s must be a placeholder", k)
		}
	}
	raw, err := os.ReadFile(filepath.Join(s.root, "docker-compose.yml"))
	require.NoError(t, err)
	// Credentials only by reference to .env.
	for _, line := range strings.Split(string(raw), "\n") {
		if m := regexp.MustCompile(`^\s*(\w*(PASSWORD|PASS|TOKENS?|TOKEN))\s*:\s*(.*)$`).FindStringSubmatch(line); m != nil {
			assert.True(t, strings.HasPrefix(strings.TrimSpace(m[3]), "${"), "docker-compose.yml: %s is set literally", m[1])
		}
	}
}
