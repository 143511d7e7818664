package dashboard

import (
	"embed"
	"net/http"
)

//go:embed index.html app.js style.css
var files embed.FS

// csp lets the page load its own script and style and call the FHIR API
// of the same origin, nothing else. img-src allows data: for the page's
// empty icon (without one the browser asks for /favicon.ico, which the
// gateway does not serve, and logs the 404 as a console error).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the page: /dashboard, /dashboard/app.js and
// /dashboard/style.css.
func Handler() http.Handler {
	serve := func(name, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := files.ReadFile(name)
			if err != nil {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
			h := w.Header()
			h.Set("Content-Type", contentType)
			h.Set("Content-Security-Policy", csp)
			h.Set("Cache-Control", "no-cache")
			if r.Method == http.MethodHead {
				return
			}
			_, _ = w.Write(b)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /dashboard", serve("index.html", "text/html; charset=utf-8"))
	mux.Handle("GET /dashboard/{$}", serve("index.html", "text/html; charset=utf-8"))
	mux.Handle("GET /dashboard/app.js", serve("app.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET /dashboard/style.css", serve("style.css", "text/css; charset=utf-8"))
	return mux
}
