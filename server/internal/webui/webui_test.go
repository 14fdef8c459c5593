package webui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":           {Data: []byte(`<!doctype html><script type="module" src="/assets/app-abc.js"></script>`)},
		"favicon.svg":          {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"assets/app-abc.js":    {Data: []byte(strings.Repeat("console.log('sawmill');\n", 100))},
		"assets/style-abc.css": {Data: []byte("body{color:red}")},
	}
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestServe(t *testing.T) {
	h, err := newHandler(testFS())
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		method, path string
		code         int
		ctype        string
		cache        string
		bodyHas      string
	}{
		"root is the app":          {"GET", "/", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		"client route":             {"GET", "/logs/01JABC", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		"client route with query":  {"GET", "/search?service=a&q=x", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		"index by name":            {"GET", "/index.html", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		"hashed asset":             {"GET", "/assets/app-abc.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"},
		"css":                      {"GET", "/assets/style-abc.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "color:red"},
		"svg at root":              {"GET", "/favicon.svg", 200, "image/svg+xml", "no-cache", "<svg"},
		"missing asset is 404":     {"GET", "/assets/gone-123.js", 404, "", "no-store", ""},
		"missing file with ext":    {"GET", "/robots.txt", 404, "", "no-store", ""},
		"api is never the app":     {"GET", "/api/v1/nope", 404, "", "no-store", ""},
		"dot segments are cleaned": {"GET", "/x/../assets/app-abc.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"},
		"head":                     {"HEAD", "/", 200, "text/html; charset=utf-8", "no-cache", ""},
		"post is not allowed":      {"POST", "/", 405, "", "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := get(t, h, tc.method, tc.path, nil)
			assert.Equal(t, tc.code, w.Code)
			assert.Equal(t, ContentSecurityPolicy, w.Header().Get("Content-Security-Policy"))
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			if tc.ctype != "" {
				assert.Equal(t, tc.ctype, w.Header().Get("Content-Type"))
			}
			if tc.cache != "" {
				assert.Equal(t, tc.cache, w.Header().Get("Cache-Control"))
			}
			assert.Contains(t, w.Body.String(), tc.bodyHas)
		})
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		assert.NotContains(t, ContentSecurityPolicy, bad)
	}
	assert.Contains(t, ContentSecurityPolicy, "script-src 'self'")
	assert.Contains(t, ContentSecurityPolicy, "frame-ancestors 'none'")
}

func TestGzipAndETag(t *testing.T) {
	h, err := newHandler(testFS())
	require.NoError(t, err)
	w := get(t, h, "GET", "/assets/app-abc.js", map[string]string{"Accept-Encoding": "br, gzip"})
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "gzip", w.Header().Get("Content-Encoding"))
	zr, err := gzip.NewReader(w.Body)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, string(testFS()["assets/app-abc.js"].Data), string(plain))

	w = get(t, h, "GET", "/assets/app-abc.js", map[string]string{"Accept-Encoding": "gzip;q=0"})
	assert.Empty(t, w.Header().Get("Content-Encoding"))
	etag := w.Header().Get("ETag")
	require.NotEmpty(t, etag)

	w = get(t, h, "GET", "/assets/app-abc.js", map[string]string{"If-None-Match": etag})
	assert.Equal(t, http.StatusNotModified, w.Code)
}

func TestAcceptsGzip(t *testing.T) {
	for in, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0.0": false, "br": false, "x-gzip": false,
	} {
		assert.Equal(t, want, acceptsGzip(in), in)
	}
}

func TestNeedsIndex(t *testing.T) {
	_, err := newHandler(fstest.MapFS{"assets/a.js": {Data: []byte("x")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "index.html")
}

// The committed build is embedded and loads.
func TestEmbeddedBuild(t *testing.T) {
	h, err := New()
	require.NoError(t, err)
	w := get(t, h, "GET", "/", nil)
	require.Equal(t, 200, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<div id="app">`)
	assert.NotRegexp(t, `<script>|<script type="module">\S`, body, "no inline scripts")
	for p := range h.files {
		if strings.HasPrefix(p, "/assets/") {
			w := get(t, h, "GET", p, nil)
			assert.Equal(t, 200, w.Code, p)
		}
	}
}
