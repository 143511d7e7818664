package negotiate

import (
	"mime"
	"net/http"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// FHIRJSON is the media type of the gateway's FHIR answers.
const FHIRJSON = "application/fhir+json; charset=utf-8"

// jsonTypes are the media types served; XML is not.
var jsonTypes = map[string]bool{
	"application/fhir+json": true,
	"application/json+fhir": true, // DSTU2-era clients still send it
	"application/json":      true,
}

// formatAliases are the _format values that mean JSON.
var formatAliases = map[string]bool{"json": true, "application/json": true, "application/fhir+json": true, "application/json+fhir": true}

// Response picks the response media type from _format or Accept; a
// format that is not JSON is 406.
func Response(r *http.Request) (string, error) {
	if f := r.URL.Query().Get("_format"); f != "" {
		// An unencoded "+" (_format=application/fhir+json) arrives as a
		// space; no media type holds one, so it is read back as "+".
		if mt, params, ok := strings.Cut(f, ";"); ok {
			f = strings.ReplaceAll(strings.TrimSpace(mt), " ", "+") + ";" + params
		} else {
			f = strings.ReplaceAll(strings.TrimSpace(f), " ", "+")
		}
		mt, params, err := mime.ParseMediaType(f)
		if err != nil {
			mt = strings.ToLower(f)
		}
		if !formatAliases[mt] {
			return "", fhir.Errorf(fhir.CodeNotSupported, "_format %q is not served; use json", f).WithStatus(http.StatusNotAcceptable)
		}
		if v, ok := params["fhirversion"]; ok && !ServedVersion(v) {
			return "", fhir.Errorf(fhir.CodeNotSupported, "fhirVersion %q is not served; this server speaks FHIR 4.0 (R4)", v).WithStatus(http.StatusNotAcceptable)
		}
		return FHIRJSON, nil
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return FHIRJSON, nil
	}
	plainJSON := false
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if params["q"] == "0" {
				continue
			}
			if v, ok := params["fhirversion"]; ok && !ServedVersion(v) {
				// R4 2.1.0.17.1: a version the server does not speak
				// is not acceptable.
				continue
			}
			switch {
			case mt == "application/fhir+json" || mt == "application/json+fhir" || mt == "*/*" || mt == "application/*":
				return FHIRJSON, nil
			case mt == "application/json":
				plainJSON = true
			}
		}
	}
	if plainJSON {
		return "application/json; charset=utf-8", nil
	}
	return "", fhir.Errorf(fhir.CodeNotSupported, "none of the accepted formats is served; use application/fhir+json").WithStatus(http.StatusNotAcceptable)
}

// ServedVersion reports whether a fhirVersion media type parameter names
// R4: "4.0" as R4 writes it, or a 4.0 patch release such as "4.0.1".
func ServedVersion(v string) bool {
	return v == "4.0" || strings.HasPrefix(v, "4.0.")
}

// BodyKind is what a route expects a request body to be.
type BodyKind int

const (
	// BodyFHIR is a FHIR JSON resource (create, update, Bundles,
	// operations).
	BodyFHIR BodyKind = iota
	// BodyForm is application/x-www-form-urlencoded search parameters
	// (POST [type]/_search).
	BodyForm
	// BodyPatch is a JSON Patch (application/json-patch+json) or a
	// FHIRPath Patch Parameters resource (FHIR JSON).
	BodyPatch
)

// FormType is the media type of search parameters in a body.
const FormType = "application/x-www-form-urlencoded"

// ContentType refuses bodies the route cannot read (415) and returns
// the media type sent. A missing Content-Type is taken as what the route
// expects: many clients omit it, and the body is parsed strictly anyway.
func ContentType(r *http.Request, kind BodyKind) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	ok := err == nil
	if ok {
		switch kind {
		case BodyForm:
			ok = mt == FormType
		case BodyPatch:
			ok = mt == interaction.JSONPatchType || jsonTypes[mt]
		case BodyFHIR:
			ok = jsonTypes[mt]
		}
	}
	if !ok {
		want := "application/fhir+json"
		switch kind {
		case BodyForm:
			want = FormType
		case BodyPatch:
			want = interaction.JSONPatchType + " (JSON Patch) or application/fhir+json (FHIRPath Patch)"
		}
		return "", fhir.Errorf(fhir.CodeNotSupported, "Content-Type %q is not served here; send %s", ct, want).WithStatus(http.StatusUnsupportedMediaType)
	}
	if v, ok := params["fhirversion"]; ok && !ServedVersion(v) {
		return "", fhir.Errorf(fhir.CodeNotSupported, "fhirVersion %q is not served; this server reads FHIR 4.0 (R4)", v).WithStatus(http.StatusUnsupportedMediaType)
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		return "", fhir.Errorf(fhir.CodeNotSupported, "charset %q is not served; FHIR JSON is UTF-8", cs).WithStatus(http.StatusUnsupportedMediaType)
	}
	return mt, nil
}
