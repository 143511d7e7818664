package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
)

// registerMatchSearch declares the matching search on HealthcareService
// (directory.Service.Search): HealthcareService?eligible-age=34&...
func (s *Server) registerMatchSearch(dir *directory.Service) error {
	cs := &customSearch{typ: "HealthcareService", controls: []string{directory.ExplainParam},
		run: func(ctx context.Context, tx store.Tx, base string, sr *searchRequest) ([]byte, error) {
			return dir.Search(ctx, tx, base, directory.SearchRequest{Own: sr.own, Query: sr.q, Cursor: sr.page.Cursor,
				Count: sr.page.Count, Total: sr.page.Total, Understood: sr.understood, Subset: sr.subset.apply, MaxCount: maxSearchCount})
		}}
	for _, p := range mapping.MatchSearchParams {
		cs.params = append(cs.params, customSearchParam{
			code: p.Code, definition: dir.D.SearchParameterURL(p.Code),
			typ: search.ParamType(p.Type), documentation: p.Description,
		})
	}
	return s.registerCustomSearch(cs)
}
