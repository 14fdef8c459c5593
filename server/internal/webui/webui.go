package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// ContentSecurityPolicy is sent with every response. Log content is
// attacker-controlled; the app renders it as text, and this policy is the
// second line: no inline scripts, no eval, nothing from other origins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded asset, ready to serve.
type file struct {
	name  string
	body  []byte
	gz    []byte // nil when compression does not pay
	ctype string
	etag  string
}

// Handler serves the embedded dashboard.
type Handler struct {
	files map[string]*file // by URL path, "/index.html"
	index *file
}

var _ http.Handler = (*Handler)(nil)

// New loads the embedded build. It fails when the build is missing
// (run `npm run build` in server/web).
func New() (*Handler, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, fmt.Errorf("webui: open embedded build: %w", err)
	}
	return newHandler(sub)
}

func newHandler(fsys fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		f := &file{name: p, body: b, ctype: contentType(p)}
		sum := sha256.Sum256(b)
		f.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
		if compressible(f.ctype) && len(b) > 512 {
			if gz := gzipBytes(b); len(gz) < len(b)*9/10 {
				f.gz = gz
			}
		}
		h.files["/"+p] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("webui: load embedded build: %w", err)
	}
	h.index = h.files["/index.html"]
	if h.index == nil {
		return nil, fmt.Errorf("webui: the embedded build has no index.html (run `npm run build` in server/web)")
	}
	return h, nil
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".map":
		return "application/json; charset=utf-8"
	case ".webmanifest":
		return "application/manifest+json"
	case ".woff2":
		return "font/woff2"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // level is valid
	_, _ = zw.Write(b)                                       // writes to memory do not fail
	_ = zw.Close()
	return buf.Bytes()
}

// ServeHTTP serves a file, or index.html for client routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	f := h.files[p]
	switch {
	case f != nil:
		if strings.HasPrefix(p, "/assets/") {
			hd.Set("Cache-Control", "public, max-age=31536000, immutable") // names carry a content hash
		} else {
			hd.Set("Cache-Control", "no-cache")
		}
	case p == "/api" || strings.HasPrefix(p, "/api/") || path.Ext(p) != "":
		hd.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	default: // a client route: /, /tail, /logs/{id}, ...
		f = h.index
		hd.Set("Cache-Control", "no-cache")
	}
	h.serve(w, r, f)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	body := f.body
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			hd.Set("Content-Encoding", "gzip")
			hd.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-gz"`)
			body = f.gz
		}
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body)) // ETag, no Last-Modified
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip
// ("gzip", "gzip;q=0.5"; not "gzip;q=0").
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		for _, prm := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(prm), "=")
			if strings.EqualFold(k, "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}
