package gateway

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/bars"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/demo"
)

// The development-mode stand-ins (package demo): the demo Pharmacy First's
// BaRS receiver (bars.Demo) and the demo clinical system
// (clinicalsystem.DemoInbox). The gateway serves their routes (Handler).
// With a token issuer nothing of this is served or seeded.

// DemoPharmacyBaRSPath is where the demo Pharmacy First's receiver listens.
const DemoPharmacyBaRSPath = bars.DemoPath

// DemoPharmacyBaRSEndpointID is the id of its seeded Endpoint.
const DemoPharmacyBaRSEndpointID = bars.DemoEndpointID

// The demo receiver's rules.
const (
	DemoBaRSAccept   = bars.DemoAccept
	DemoBaRSTurnAway = bars.DemoTurnAway
)

// DemoBaRSOptions configure the demo receiver (demo.PharmacyOptions).
type DemoBaRSOptions = demo.PharmacyOptions

// ServeDemoPharmacyBaRS serves the demo Pharmacy First's BaRS receiver and
// connects the demo HealthcareService to it. Development mode only, after
// the demo content is seeded; call before Handler.
func (s *Server) ServeDemoPharmacyBaRS(ctx context.Context, opts DemoBaRSOptions) error {
	if !s.DevelopmentMode() {
		return errors.New("the demo BaRS receiver is served in development mode only")
	}
	d, err := s.barsService().ServeDemo(ctx, opts.Bars())
	if err != nil {
		return err
	}
	s.demoBaRS = d
	return nil
}

// DemoClinicalSystemPath is where the demo clinical system listens.
const DemoClinicalSystemPath = demo.ClinicalSystemPath

// DemoEndpointID is the id of the demo clinical system's Endpoint.
const DemoEndpointID = clinicalsystem.DemoEndpointID

type demoInbox = clinicalsystem.DemoInbox

// ServeDemoClinicalSystem serves the demo clinical system and seeds its
// Endpoint with address (the inbox's URL as the delivery workers reach
// it, e.g. http://127.0.0.1:8080/demo/clinical-system). Deliveries to it
// go through the outbound allow-list like any other. Development mode
// only; call before Handler.
func (s *Server) ServeDemoClinicalSystem(ctx context.Context, address string) error {
	if !s.DevelopmentMode() {
		return errors.New("the demo clinical system is served in development mode only")
	}
	if err := demo.SeedClinicalSystem(ctx, address, demo.Setup{Store: s.store, NoteSeeded: s.NoteSeeded, Allowed: s.allowedEndpoints().Allows, Log: s.log}); err != nil {
		return err
	}
	s.demoInbox = clinicalsystem.NewDemoInbox(s.opts.Now)
	return nil
}

// mountDemo serves the demo stand-ins that were set up.
func (s *Server) mountDemo(e *gin.Engine) {
	o := demo.Options{MaxBodyBytes: s.opts.MaxBodyBytes, WriteError: s.writeError}
	if s.demoInbox != nil {
		h := demo.ClinicalSystem{Inbox: s.demoInbox, Options: o}
		e.GET(DemoClinicalSystemPath, h.Show)
		e.HEAD(DemoClinicalSystemPath, h.Show)
		e.POST(DemoClinicalSystemPath, h.Receive)
	}
	if s.demoBaRS != nil {
		h := demo.Pharmacy{Demo: s.demoBaRS, Options: o}
		e.GET(DemoPharmacyBaRSPath, h.Show)
		e.HEAD(DemoPharmacyBaRSPath, h.Show)
		e.POST(DemoPharmacyBaRSPath+"/$process-message", h.Receive)
	}
}
