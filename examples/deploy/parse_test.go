package deploy

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// repoRoot is the monorepo root, seen from examples/deploy.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.work"))
	require.NoError(t, err, "want the monorepo root (with go.work) two levels up")
	return root
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd   string // upper case: FROM, RUN, ...
	Args  string // the rest of the line
	Stage int    // index of the build stage it belongs to
	Line  int
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	Path   string
	Instrs []instruction
	Stages []string          // stage names ("" when unnamed), in order
	Args   map[string]string // ARG defaults declared before the first FROM
}

// parseDockerfile reads a Dockerfile the way BuildKit's parser splits it:
// comments and parser directives dropped, "\" continuations joined (comment
// lines inside a continuation skipped).
func parseDockerfile(t testing.TB, p string) dockerfile {
	t.Helper()
	f, err := os.Open(p)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	df := dockerfile{Path: p, Args: map[string]string{}}
	sc := bufio.NewScanner(f)
	var cur strings.Builder
	start, n, stage := 0, 0, -1
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			stage++
			name := ""
			if f := strings.Fields(in.Args); len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			df.Stages = append(df.Stages, name)
		}
		in.Stage = stage
		if in.Cmd == "ARG" && stage < 0 {
			k, v, _ := strings.Cut(in.Args, "=")
			df.Args[k] = v
		}
		df.Instrs = append(df.Instrs, in)
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	require.NoError(t, sc.Err())
	flush()
	require.NotEmpty(t, df.Stages, "%s: no FROM", p)
	return df
}

// final returns the instructions of the last stage (the runtime image).
func (d dockerfile) final(cmd string) []instruction {
	var out []instruction
	for _, in := range d.Instrs {
		if in.Stage == len(d.Stages)-1 && in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// all returns every instruction cmd of any stage.
func (d dockerfile) all(cmd string) []instruction {
	var out []instruction
	for _, in := range d.Instrs {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// env returns the ENV values of the final stage ("K=V K2=V2" form).
func (d dockerfile) env() map[string]string {
	out := map[string]string{}
	for _, in := range d.final("ENV") {
		for _, kv := range strings.Fields(in.Args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				out[k] = strings.Trim(v, `"`)
			}
		}
	}
	return out
}

// jsonArgs reads an exec-form instruction argument (["a", "b"]).
func jsonArgs(t testing.TB, s string) []string {
	t.Helper()
	var out []string
	require.NoError(t, yaml.Unmarshal([]byte(s), &out), "want exec form [\"cmd\", \"arg\"], got %s", s)
	return out
}

// compose is the part of the compose file the checks read.
type compose struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image         string            `yaml:"image"`
	Build         *composeBuild     `yaml:"build"`
	User          string            `yaml:"user"`
	ContainerName string            `yaml:"container_name"`
	Environment   map[string]string `yaml:"environment"`
	Ports         []string          `yaml:"ports"`
	DependsOn     map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Deploy *struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	ReadOnly bool `yaml:"read_only"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

// loadCompose reads docker-compose.yml after interpolating ${...} with env
// the way Compose does (${X}, ${X:-default}, ${X-default}, ${X:?error},
// $$ for a literal $). A ${X:?} variable env lacks fails the test.
func loadCompose(t testing.TB, p string, env map[string]string) compose {
	t.Helper()
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	text, err := interpolate(string(raw), env)
	require.NoError(t, err, p)
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(false)
	require.NoError(t, dec.Decode(&c), "%s: parse", p)
	return c
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

func interpolate(s string, env map[string]string) (string, error) {
	var errs []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := varRef.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		if name == "" {
			name = g[4]
		}
		v, set := env[name]
		empty := !set || (strings.HasPrefix(op, ":") && v == "")
		switch {
		case (op == ":-" && empty) || (op == "-" && !set):
			return arg
		case (op == ":?" && empty) || (op == "?" && !set):
			errs = append(errs, fmt.Sprintf("%s is required: %s", name, arg))
			return ""
		}
		return v
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("interpolate: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// loadDotEnv reads KEY=VALUE lines (comments and blank lines skipped).
func loadDotEnv(t testing.TB, p string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	out := map[string]string{}
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s:%d: want KEY=VALUE, got %q", p, i+1, line)
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// dockerignore matches paths against .dockerignore patterns (Go's
// filepath.Match syntax plus "**", "!" exceptions, last match wins; a
// pattern matching a directory excludes what is under it).
type dockerignore struct {
	pats []ignorePat
}

type ignorePat struct {
	re     *regexp.Regexp
	except bool
}

func loadDockerignore(t testing.TB, p string) dockerignore {
	t.Helper()
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	var d dockerignore
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		except := strings.HasPrefix(line, "!")
		line = path.Clean(strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/"))
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		d.pats = append(d.pats, ignorePat{re: regexp.MustCompile(re.String()), except: except})
	}
	return d
}

// excluded reports whether rel (slash-separated, relative to the context)
// is left out of the build context.
func (d dockerignore) excluded(rel string) bool {
	rel = path.Clean(rel)
	out := false
	for _, p := range d.pats {
		// A path is excluded when it or one of its parent directories matches.
		for q := rel; ; q = path.Dir(q) {
			if p.re.MatchString(q) {
				out = !p.except
				break
			}
			if q == "." || q == "/" || !strings.Contains(q, "/") {
				break
			}
		}
	}
	return out
}
