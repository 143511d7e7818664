// Package dashboard is the success-measures page the gateway serves at
// /dashboard: static HTML, CSS and JavaScript embedded in the binary (no
// build step), which calls Measure/$evaluate-measure from the browser
// with the user's access token and shows the figures.
package dashboard
