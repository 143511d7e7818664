package navigation

import (
	"context"
	"errors"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
)

// navigateKey marks the context of $navigate's own write of the
// navigation Task (navigateCall).
type navigateKey struct{}

// navigateCall says a write is $navigate's update of the Task, and
// whether the protocol decides (no destination): the Task role rules let
// a request's requester ask for the protocol's decision.
type navigateCall struct {
	automated bool
	// task is the stored version of the Task $navigate read: the commit
	// updates it If-Match that version, so its write check compares with
	// it instead of reading it again.
	task store.Version
}

// actorOf is the write's caller as the navigation rules see it, for the
// stored Task it changes: the owner and clinician roles count only for
// the practice that owns it.
func actorOf(ctx context.Context, stored map[string]any) mapping.Actor {
	p, ok := auth.FromContext(ctx)
	if !ok || p == nil {
		return mapping.Actor{}
	}
	a := mapping.Actor{Issuer: p.Issuer, Subject: p.Subject, Dev: p.Dev}
	if practice := mapping.TaskOwnerODS(stored); practice != "" && p.CanSeePractice(practice) {
		a.Owner = p.HasRole(auth.RoleNavigator)
		a.Clinician = p.HasRole(auth.RoleClinician)
	}
	if c, ok := ctx.Value(navigateKey{}).(navigateCall); ok {
		a.Navigate, a.Automated = true, c.automated
	}
	return a
}

// CheckTask is the write check of navigation and clinician-review Tasks.
// It reads the stored version for the state machine and the Task role
// rules, outside the write's transaction: a concurrent update without
// If-Match is not ordered against it (docs/navigation.md). A create whose
// body carries the id of a stored Task is checked as an update of it (the
// server ignores body ids on create, so this only makes the check
// stricter). A stored Task the caller may not see is not compared with
// (the write is checked as a create): tenancy answers an update of it
// as not found, without saying whether it exists.
func (nav *Service) CheckTask(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	obj := r.Object()
	if !nav.names.IsNavigationTask(obj) && !nav.names.IsReviewTask(obj) && r.ID() == "" {
		return nil, nil
	}
	var stored map[string]any
	if id := r.ID(); id != "" {
		var v store.Version
		var err error
		if c, ok := ctx.Value(navigateKey{}).(navigateCall); ok && c.task.ID == id && c.task.Body != nil {
			v = c.task
		} else {
			v, err = nav.host.Store().Read(ctx, "Task", id)
		}
		switch {
		case err == nil:
			if p, ok := auth.FromContext(ctx); ok && !nav.host.Visible(p, "Task", v.Body) {
				// Checked as new; tenancy answers an update of it as not found.
				break
			}
			if stored, err = decode(v.Body); err != nil {
				return nil, err
			}
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return nil, err
		}
	}
	issues := mapping.CheckNavigationTask(obj, stored, actorOf(ctx, stored), nav.names)
	var forbidden []fhir.Issue
	for _, is := range issues {
		if is.Code == fhir.CodeForbidden && is.Severity == fhir.SeverityError {
			forbidden = append(forbidden, is)
		}
	}
	if len(forbidden) > 0 {
		// Who may make a change is forbidden, not invalid content.
		return nil, (&fhir.Error{Issues: forbidden}).Because(fhir.DetailNotPermitted)
	}
	return issues, nil
}

// CheckProtocol is the write check of PlanDefinitions: a navigation
// protocol must compile, and only an administrator acting for its
// practice may load one.
func (nav *Service) CheckProtocol(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	obj := r.Object()
	issues := mapping.CheckProtocol(obj, nav.names)
	if !nav.names.IsNavigationProtocol(obj) || hasErrors(issues) {
		return issues, nil
	}
	p, _ := auth.FromContext(ctx)
	practice := strings.TrimPrefix(r.ID(), mapping.ProtocolIDPrefix)
	if p == nil || !(p.Dev || (p.HasRole(auth.RoleAdmin) && p.CanSeePractice(practice))) {
		return nil, fhir.Errorf(fhir.CodeForbidden, "only an administrator acting for practice %s may load its navigation protocol", practice)
	}
	return issues, nil
}

func hasErrors(issues []fhir.Issue) bool {
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}

var decode = fhir.DecodeObject
