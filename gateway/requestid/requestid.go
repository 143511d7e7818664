package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// Header is the header the id is forwarded in.
const Header = "X-Request-ID"

// CorrelationHeader is the other header an incoming id is accepted from.
const CorrelationHeader = "X-Correlation-ID"

// MaxLen bounds an accepted id.
const MaxLen = 64

type key struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// FromContext is the id ctx carries, "" for none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// Sanitize returns id when it is safe to log and forward (1 to MaxLen
// characters of A-Z, a-z, 0-9, '-', '.', '_', ':'), else "". The caller
// chooses the id, so anything that could forge a log field or a header is
// refused rather than escaped.
func Sanitize(id string) string {
	if id == "" || len(id) > MaxLen {
		return ""
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':'
		if !ok {
			return ""
		}
	}
	return id
}

// FromHeader is the sanitised id an incoming request names:
// X-Request-ID, else X-Correlation-ID; "" for none usable.
func FromHeader(h http.Header) string {
	if id := Sanitize(h.Get(Header)); id != "" {
		return id
	}
	return Sanitize(h.Get(CorrelationHeader))
}

// New makes a random id (24 hex digits).
func New() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Set puts the id ctx carries on an outbound request, when there is one.
func Set(ctx context.Context, req *http.Request) {
	if id := FromContext(ctx); id != "" {
		req.Header.Set(Header, id)
	}
}

// LogKey is the attribute the id is logged as.
const LogKey = "request_id"

// LogHandler adds request_id to every record logged with a context that
// carries an id, unless the record already has one.
type LogHandler struct{ slog.Handler }

// NewLogHandler wraps h; wrapping a LogHandler again returns it as is.
func NewLogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(LogHandler); ok {
		return h
	}
	return LogHandler{h}
}

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := FromContext(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == LogKey
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String(LogKey, id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{h.Handler.WithGroup(name)}
}
