package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/gateway/htmlpage"
)

// DocsURL is where the documentation lives: the repository's docs folder.
const DocsURL = htmlpage.DocsURL

// ReadmeURL is the repository's front page (what Signpost is, the tour).
const ReadmeURL = htmlpage.ReadmeURL

// homePage is GET / (and HEAD /): where to go from here.
func (s *Server) homePage() http.Handler {
	dashboard := false
	for _, pg := range s.pages {
		for _, p := range pg.paths {
			dashboard = dashboard || p == "/dashboard"
		}
	}
	inbox := ""
	if s.demoInbox != nil {
		inbox = DemoClinicalSystemPath
	}
	return htmlpage.Home(htmlpage.HomeOptions{Base: s.opts.PublicBase, Dashboard: dashboard, DemoInbox: inbox, Dev: s.DevelopmentMode()})
}
