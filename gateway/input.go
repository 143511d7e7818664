package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/signpost-fhir/signpost/fhir"
)

// What a request carries, refused early when it cannot be FHIR.

// checkQueryText refuses a query whose names or values FHIR strings could
// not hold (fhir.CheckText): control characters and invalid UTF-8 would
// otherwise reach the store as search values (PostgreSQL fails on them)
// or operation parameters. Search values from other places (Bundle
// entries, If-None-Exist, conditional references) meet the same rule in
// search.ParseQuery.
func checkQueryText(query map[string][]string) error {
	for k, vs := range query {
		if err := fhir.CheckText(k); err != nil {
			return fhir.Errorf(fhir.CodeInvalid, "a query parameter name cannot be used: %v", err).WithStatus(http.StatusBadRequest)
		}
		for _, v := range vs {
			if err := fhir.CheckText(v); err != nil {
				return fhir.Errorf(fhir.CodeInvalid, "query parameter %s cannot be used: %v", k, err).At(k).WithStatus(http.StatusBadRequest)
			}
		}
	}
	return nil
}

// readBody reads the request's body to its end; nil when it has none.
func readBody(req *request) ([]byte, error) {
	if req.body == nil {
		return nil, nil
	}
	return io.ReadAll(req.body)
}

// bodyReader is a request body whose read failures say what the client
// is told: a body that stops arriving (the server's read timeout) is a
// 408, one that breaks off otherwise a 400. A body over the limit stays
// an *http.MaxBytesError, which writeError answers with 413. Without it
// either failure would be an internal error, a 500.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return n, err
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return n, fhir.Errorf(fhir.CodeTimeout, "the request body did not arrive in time").WithStatus(http.StatusRequestTimeout).Wrap(err)
	}
	return n, fhir.Errorf(fhir.CodeStructure, "the request body could not be read to its end").WithStatus(http.StatusBadRequest).Wrap(err)
}
