// Package htmlpage owns the gateway's own small HTML pages: their shared
// inline stylesheet, the Content-Security-Policy that allows it alone,
// the writer that sends a page with that policy and no caching, and the
// home page (GET /). The demo pages' content stays with their handlers.
package htmlpage
