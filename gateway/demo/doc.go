// Package demo serves the development-mode stand-ins the gateway mounts
// beside the demo content: the demo Pharmacy First's BaRS receiver
// (bars.Demo) and the demo clinical system (clinicalsystem.DemoInbox).
// It owns their Gin handlers and HTML pages, the seeding of the demo
// clinical system's Endpoint and the sending of the demo pharmacy's
// responses. What it needs of the gateway (the body limit, the error
// writer, the store, the outbound allow-list, the log) comes through
// Options and Setup; it does not import the gateway.
package demo
