// Package hardening owns the gateway's protective HTTP middleware: the
// security headers sent with every response and the limit on the size of
// a request's line and header fields (431). Each is a Gin middleware
// built from its settings; the gateway installs them on its engine.
package hardening
