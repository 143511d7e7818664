package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// The rules below are the parts of the Store contract that do not depend on
// the database. Both implementations call them, so a 412, a malformed query
// or a version's timestamp reads the same whichever store is behind the
// gateway.

// CheckResource reports a resource a store cannot write: it must carry a
// resource type and a valid id (the caller assigns ids).
func CheckResource(r *fhir.Resource) error {
	if r == nil {
		return fhir.Errorf(fhir.CodeRequired, "no resource to store")
	}
	if r.Type() == "" {
		return fhir.Errorf(fhir.CodeRequired, "the resource has no resourceType").At("resourceType")
	}
	if !fhir.ValidID(r.ID()) {
		return fhir.Errorf(fhir.CodeRequired, "%s needs a valid id to be stored", r.Type()).At(r.Type() + ".id")
	}
	return nil
}

// CheckPrecondition decides an If-Match against the current version
// (0 when the resource has never existed). A mismatch is a conflict the
// gateway answers with 412. An If-Match on a resource that does not exist
// cannot match anything, so it is a 412 too (RFC 9110 13.1.1), not an
// update as create.
func CheckPrecondition(typ, id string, pre Precondition, current int64) error {
	switch {
	case pre.IfMatch == 0:
		return nil
	case pre.IfMatch < 0:
		return fhir.Errorf(fhir.CodeInvalid, "If-Match version %d is not a version number", pre.IfMatch).Because(fhir.DetailMalformed)
	case current == 0:
		return fhir.Errorf(fhir.CodeConflict, "%s/%s does not exist, so If-Match version %d cannot match", typ, id, pre.IfMatch).Because(fhir.DetailPreconditionFailed)
	case pre.IfMatch != current:
		return fhir.VersionConflict(typ, id, strconv.FormatInt(pre.IfMatch, 10), strconv.FormatInt(current, 10))
	}
	return nil
}

// Now is the time a store stamps on a new version: the gateway host's
// clock (so a create can be one round trip with its body already stamped),
// UTC, truncated to the microseconds both databases keep.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NextTime is the LastUpdated of a resource's next version: now, but always
// at least a microsecond after the previous version's, so a resource's
// versions keep their order in _history and _since even when the wall clock
// steps back or another gateway host's clock runs behind. (Across different
// resources the order is only as good as the hosts' clock synchronisation.)
func NextTime(now, prev time.Time) time.Time {
	if now.After(prev) {
		return now
	}
	return prev.Add(time.Microsecond)
}

// Validate reports a query no store can answer.
func (q HistoryQuery) Validate() error {
	switch {
	case q.ID != "" && q.Type == "":
		return fhir.Errorf(fhir.CodeInvalid, "instance history needs a resource type")
	case q.Count < 0:
		return fhir.Errorf(fhir.CodeInvalid, "_count must not be negative").At("_count")
	case q.Offset < 0:
		return fhir.Errorf(fhir.CodeInvalid, "_offset must not be negative").At("_offset")
	}
	return nil
}

// StampNext stamps r as the version after cur (an update of it) and
// encodes it, unless r's content is cur's: then nothing is to be written,
// the result is cur, Unchanged, and r is left stamped as cur. The
// encoding is canonical, so the same content encodes to the same bytes;
// r is encoded once either way (fhir.Resource.StampUpdate).
func StampNext(r *fhir.Resource, cur Version) (WriteResult, error) {
	next := Version{Type: cur.Type, ID: cur.ID, VersionID: cur.VersionID + 1,
		LastUpdated: NextTime(Now(), cur.LastUpdated), Method: MethodUpdate}
	if cur.Deleted || cur.Body == nil {
		body, err := Stamp(r, next.VersionID, next.LastUpdated)
		next.Body = body
		return WriteResult{Version: next}, err
	}
	body, same, err := r.StampUpdate(cur.VersionID, cur.LastUpdated, cur.Body, next.VersionID, next.LastUpdated)
	switch {
	case err != nil:
		return WriteResult{}, fmt.Errorf("encode %s/%s: %w", r.Type(), r.ID(), err)
	case same:
		return WriteResult{Unchanged: true, Version: cur}, nil
	}
	next.Body = body
	return WriteResult{Version: next}, nil
}

// Stamp sets r's server-owned elements and encodes it; the bytes returned
// are the bytes a store keeps.
func Stamp(r *fhir.Resource, version int64, at time.Time) ([]byte, error) {
	r.Stamp(r.ID(), version, at)
	body, err := r.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", r.Type(), r.ID(), err)
	}
	return body, nil
}

// Head is what a write needs to know about a resource's current version,
// as both stores read it (under the write's lock).
type Head struct {
	Version     int64
	LastUpdated time.Time
	Deleted     bool
	Method      string
	// Body is the current version's stored bytes (nil when deleted), to
	// recognise an update that changes nothing.
	Body []byte
}

// Current is the head as the Version it is.
func (h Head) Current(typ, id string) Version {
	return Version{Type: typ, ID: id, VersionID: h.Version, LastUpdated: h.LastUpdated,
		Method: Method(h.Method), Deleted: h.Deleted, Body: h.Body}
}

// Internal wraps an error that is not the client's, naming the store
// ("postgres", "sqlite"); fhir errors are kept as they are.
func Internal(storeName string, err error, format string, args ...any) error {
	if _, ok := fhir.AsError(err); ok {
		return err
	}
	return fmt.Errorf(storeName+": "+format+": %w", append(args, err)...)
}
