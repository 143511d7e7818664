package carerecord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The cache is one Observation per patient and practice, under an id
// derived from both (hashed: NHS numbers do not belong in URLs and logs),
// overwritten at each refresh; its history keeps earlier answers. Every
// refresh writes a Provenance naming the record as the source, in the same
// transaction.

// Performer is the display of the cached Observation's performer, which the
// gateway's stored need-group reader reports as the source.
const Performer = "Shared care record"

// cacheID is the cached Observation's id for a patient at a practice.
func (c *Client) cacheID(nhs, practice string) string {
	h := sha256.Sum256([]byte(c.base + "\x00" + practice + "\x00" + nhs))
	return "care-record-need-group-" + hex.EncodeToString(h[:20])
}

// practiceSystem is the system of the practice security labels the gateway
// puts on patient data (tenancy).
func (c *Client) practiceSystem() string { return c.term.URL("CodeSystem", "practice") }

// cached is the cached need group, Known only when younger than MaxAge.
func (c *Client) cached(ctx context.Context, patient mapping.PatientRef, practice string) (mapping.NeedGroup, error) {
	id := c.cacheID(patient.NHSNumber, practice)
	v, err := c.st.Read(ctx, "Observation", id)
	var fe *fhir.Error
	if errors.As(err, &fe) && (fe.Code() == fhir.CodeNotFound || fe.Code() == fhir.CodeDeleted) {
		return mapping.NeedGroup{}, nil
	}
	if err != nil {
		return mapping.NeedGroup{}, err
	}
	var obs struct {
		Status    string `json:"status"`
		Issued    string `json:"issued"`
		Effective string `json:"effectiveDateTime"`
		Value     struct {
			Coding []struct{ System, Code string }
		} `json:"valueCodeableConcept"`
	}
	if err := json.Unmarshal(v.Body, &obs); err != nil {
		return mapping.NeedGroup{}, err
	}
	fetched, err := time.Parse(time.RFC3339Nano, obs.Issued)
	if err != nil || obs.Status != "final" || c.cfg.Now().Sub(fetched) > c.cfg.MaxAge {
		return mapping.NeedGroup{}, nil // stale: ask the record
	}
	png := c.term.URL("CodeSystem", snomed.PatientNeedGroup)
	for _, cd := range obs.Value.Coding {
		if cd.System == png && mapping.NeedGroupLevel(cd.Code) != mapping.NeedUnknown {
			return mapping.NeedGroup{Known: true, Code: cd.Code, Date: firstDate(obs.Effective), Source: c.base,
				Observation: "Observation/" + id}, nil
		}
	}
	return mapping.NeedGroup{}, nil
}

// store writes the need group found in the record, with its Provenance,
// and returns the Observation's reference.
func (c *Client) store(ctx context.Context, patient mapping.PatientRef, practice string, rec *record, code string) (string, error) {
	id := c.cacheID(patient.NHSNumber, practice)
	now := c.cfg.Now().UTC()
	png := c.term.LocalCoding(snomed.PatientNeedGroup, code)
	subject := patient.ReferenceJSON()
	obs := map[string]any{
		"resourceType": "Observation",
		"id":           id,
		"meta":         map[string]any{"source": c.base},
		"status":       "final",
		"code":         map[string]any{"text": "Patient need group"},
		"subject":      subject,
		"issued":       now.Format(time.RFC3339Nano),
		"performer":    []any{map[string]any{"display": Performer}},
		"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{
			"system": png.System, "code": png.Code, "display": png.Display}}},
		"derivedFrom": []any{map[string]any{"reference": rec.source, "display": "The shared care record's entry the need group was mapped from"}},
		"note": []any{map[string]any{"text": "Pulled from the shared care record " + c.base + " (" + rec.source + ") and mapped through ConceptMap " +
			c.cfg.ConceptMap + "; refreshed when older than " + c.cfg.MaxAge.String() + "."}},
	}
	if !rec.date.IsZero() {
		obs["effectiveDateTime"] = rec.date.Format(time.RFC3339)
	}
	if practice != "" {
		obs["meta"].(map[string]any)["security"] = []any{map[string]any{"system": c.practiceSystem(), "code": practice}}
	}
	r, err := fhir.ResourceFromObject(obs)
	if err != nil {
		return "", err
	}
	var ref string
	err = c.st.Transaction(ctx, func(tx store.Tx) error {
		w, err := tx.Update(ctx, r, store.Precondition{})
		if err != nil {
			return err
		}
		ref = "Observation/" + id
		prov := map[string]any{
			"resourceType": "Provenance",
			"id":           uuid.NewString(),
			"target":       []any{map[string]any{"reference": ref + "/_history/" + strconv.FormatInt(w.Version.VersionID, 10)}},
			"recorded":     now.Format(time.RFC3339Nano),
			"activity": map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "UPDATE", "display": "revise"}}},
			"agent": []any{map[string]any{
				"type": map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler", "display": "Assembler"}}},
				"who": map[string]any{"display": "Signpost, from the shared care record " + c.base},
			}},
			"entity": []any{map[string]any{"role": "source", "what": map[string]any{"reference": rec.source, "display": Performer + " " + c.base}}},
		}
		if practice != "" {
			prov["meta"] = map[string]any{"security": []any{map[string]any{"system": c.practiceSystem(), "code": practice}}}
		}
		pr, err := fhir.ResourceFromObject(prov)
		if err != nil {
			return err
		}
		_, err = tx.Create(ctx, pr)
		return err
	})
	if err != nil {
		return "", err
	}
	return ref, nil
}

// findings are the need-group findings (severe mental illness, palliative
// care, learning disability, frailty registers) among the patient's active
// Conditions stored at the practice: safety rule 3 reads them beside the
// need group, as the gateway's default source does, so configuring the
// record must not lose them.
func (c *Client) findings(ctx context.Context, patient mapping.PatientRef, practice string) ([]string, error) {
	if patient.Reference == "" {
		return nil, nil
	}
	lists := mapping.DefaultSafetyLists(nil)
	codes := make([]string, 0, len(lists.ComplexFindings))
	for code := range lists.ComplexFindings {
		codes = append(codes, snomed.System+"|"+code)
	}
	sort.Strings(codes)
	q, err := search.ParseQuery("Condition", url.Values{"subject": {patient.Reference}, "code": {strings.Join(codes, ",")},
		"_security": {c.practiceSystem() + "|" + practice}}, true)
	if err != nil {
		return nil, err
	}
	page, err := c.st.Search(ctx, q, store.PageRequest{Count: 50})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range page.Matches {
		var cond struct {
			ClinicalStatus *struct {
				Coding []struct{ Code string }
			} `json:"clinicalStatus"`
			Code struct {
				Coding []struct{ System, Code string }
			} `json:"code"`
		}
		if err := json.Unmarshal(v.Body, &cond); err != nil {
			return nil, err
		}
		active := cond.ClinicalStatus == nil
		if cond.ClinicalStatus != nil {
			for _, cd := range cond.ClinicalStatus.Coding {
				active = active || cd.Code == "active" || cd.Code == "recurrence" || cd.Code == "relapse"
			}
		}
		if !active {
			continue
		}
		for _, cd := range cond.Code.Coding {
			if cd.System == snomed.System && lists.ComplexFindings[cd.Code] != "" {
				out = append(out, cd.Code)
			}
		}
	}
	return out, nil
}
