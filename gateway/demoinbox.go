package gateway

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/snomed"
)

// The demo clinical system (clinicalsystem.DemoInbox): in development
// mode the gateway serves a stand-in for a practice's clinical system, so
// that a committed decision about the demo practice is seen arriving
// rather than dead-lettered.
//
//	POST /demo/clinical-system   receives an outcome Bundle (what the delivery workers send)
//	GET  /demo/clinical-system   shows what arrived, newest first (HTML)
//
// The Endpoint demo-clinical-system (address: this inbox, on the address
// the gateway listens on) is seeded beside the demo content; the demo
// practice's Organization (testdata/protocols/demo-directory.json) lists
// it. Deliveries to it go through the outbound allow-list like any other:
// development mode's default list (loopback) allows it; a list set with
// SIGNPOST_OUTBOUND_ENDPOINTS must name it. With a token issuer nothing
// of this is served or seeded.

// DemoClinicalSystemPath is where the demo clinical system listens.
const DemoClinicalSystemPath = "/demo/clinical-system"

// DemoEndpointID is the id of the demo clinical system's Endpoint.
const DemoEndpointID = clinicalsystem.DemoEndpointID

type demoInbox = clinicalsystem.DemoInbox

// ServeDemoClinicalSystem serves the demo clinical system and seeds its
// Endpoint with address (the inbox's URL as the delivery workers reach
// it, e.g. http://127.0.0.1:8080/demo/clinical-system). Development mode
// only; call before Handler.
func (s *Server) ServeDemoClinicalSystem(ctx context.Context, address string) error {
	if !s.DevelopmentMode() {
		return errors.New("the demo clinical system is served in development mode only")
	}
	ep, err := clinicalsystem.DemoEndpoint(address)
	if err != nil {
		return err
	}
	if err := snomed.MarkShipped(ep, "demo"); err != nil {
		return err
	}
	seeded, err := snomed.SeedResources(ctx, s.store, []*fhir.Resource{ep})
	if err != nil {
		return fmt.Errorf("demo clinical system: %w", err)
	}
	s.NoteSeeded(ctx, "demo resource", seeded)
	if !s.endpointAllowed(address) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "the demo clinical system is not on the outbound allow-list (SIGNPOST_OUTBOUND_ENDPOINTS): outcomes for the demo practice will be dead letters",
			slog.String("address", address))
	}
	s.demoInbox = clinicalsystem.NewDemoInbox(s.opts.Now)
	return nil
}

// endpointAllowed tells whether the outbound allow-list allows url.
func (s *Server) endpointAllowed(url string) bool {
	if s.subscriptionEndpoints == nil {
		return LoopbackSubscriptionEndpoints().Allows(url)
	}
	return s.subscriptionEndpoints.Allows(url)
}

// demoReceive is POST /demo/clinical-system: a transaction Bundle,
// answered like a FHIR server would (a transaction-response).
func (s *Server) demoReceive(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes))
	if err != nil {
		s.writeError(c, err)
		return
	}
	out, err := s.demoInbox.Receive(body, c.GetHeader("X-Request-Id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(http.StatusOK, fhirJSON, out)
}

// demoShow is GET /demo/clinical-system.
func (s *Server) demoShow(c *gin.Context) {
	page, err := s.demoInbox.Page(template.CSS(pageStyle))
	if err != nil {
		s.writeError(c, err)
		return
	}
	htmlPage(c.Writer, c.Request, http.StatusOK, page)
}
