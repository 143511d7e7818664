package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is everything the gateway is told at start-up. Each field comes
// from an environment variable, which a flag of the same meaning
// overrides; secrets also have a _FILE variant.
type config struct {
	Addr            string
	DataDir         string
	DatabaseURL     string
	PublicURL       string
	MaxBodyBytes    int64
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string
	// CanonicalBase is the base of the local code systems' URLs.
	CanonicalBase string
	// SnomedRF2Dir, when set, replaces the shipped SNOMED CT subset with
	// a deployment's RF2 Snapshot subset.
	SnomedRF2Dir  string
	SnomedVersion string
}

// errUsage marks configuration errors: one line on stderr, exit code 2.
var errUsage = errors.New("invalid configuration")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// loadConfig reads the environment, then the flags in args.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("signpost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("SIGNPOST_ADDR", "127.0.0.1:8080"), "listen address (SIGNPOST_ADDR)")
	data := fs.String("data", env("SIGNPOST_DATA", "./data"), "folder of the embedded store (SIGNPOST_DATA)")
	dbURL := fs.String("database-url", "", "postgres:// URL; switches to PostgreSQL (DATABASE_URL, DATABASE_URL_FILE)")
	public := fs.String("public-url", env("SIGNPOST_PUBLIC_URL", ""), "FHIR base URL as clients see it (SIGNPOST_PUBLIC_URL); default derived from each request")
	maxBody := fs.String("max-body-bytes", env("SIGNPOST_MAX_BODY_BYTES", "10485760"), "largest request body accepted (SIGNPOST_MAX_BODY_BYTES)")
	reqTimeout := fs.String("request-timeout", env("SIGNPOST_REQUEST_TIMEOUT", "30s"), "deadline of every request (SIGNPOST_REQUEST_TIMEOUT)")
	shutTimeout := fs.String("shutdown-timeout", env("SIGNPOST_SHUTDOWN_TIMEOUT", "20s"), "time in-flight requests get to finish on SIGTERM (SIGNPOST_SHUTDOWN_TIMEOUT)")
	level := fs.String("log-level", env("SIGNPOST_LOG_LEVEL", "info"), "debug, info, warn or error (SIGNPOST_LOG_LEVEL)")
	format := fs.String("log-format", env("SIGNPOST_LOG_FORMAT", "json"), "json or text (SIGNPOST_LOG_FORMAT)")
	canonical := fs.String("canonical-base", env("SIGNPOST_CANONICAL_BASE", "https://signpost.example/fhir"), "base URL of the local code systems (SIGNPOST_CANONICAL_BASE)")
	rf2 := fs.String("snomed-rf2", env("SIGNPOST_SNOMED_RF2", ""), "folder of an RF2 Snapshot subset replacing the shipped SNOMED CT concepts (SIGNPOST_SNOMED_RF2)")
	sctVersion := fs.String("snomed-version", env("SIGNPOST_SNOMED_VERSION", ""), "edition/version URI of that RF2 subset (SIGNPOST_SNOMED_VERSION)")
	if err := fs.Parse(args); err != nil {
		return config{}, usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return config{}, usageErr("unexpected argument %q", fs.Arg(0))
	}
	var c config
	c.Addr = *addr
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		return c, usageErr("SIGNPOST_ADDR %q is not host:port", c.Addr)
	}
	c.DataDir = *data
	if strings.TrimSpace(c.DataDir) == "" {
		return c, usageErr("SIGNPOST_DATA is empty")
	}
	var err error
	if c.DatabaseURL, err = secret(*dbURL, "DATABASE_URL", getenv); err != nil {
		return c, err
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// Never echo the URL: it may hold a password.
			return c, usageErr("DATABASE_URL must be a postgres:// or postgresql:// URL")
		}
	}
	c.PublicURL = strings.TrimRight(*public, "/")
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, usageErr("SIGNPOST_PUBLIC_URL %q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(*maxBody, 10, 64); err != nil || c.MaxBodyBytes < 1024 {
		return c, usageErr("SIGNPOST_MAX_BODY_BYTES %q must be an integer of at least 1024", *maxBody)
	}
	if c.RequestTimeout, err = positiveDuration("SIGNPOST_REQUEST_TIMEOUT", *reqTimeout); err != nil {
		return c, err
	}
	if c.ShutdownTimeout, err = positiveDuration("SIGNPOST_SHUTDOWN_TIMEOUT", *shutTimeout); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, usageErr("SIGNPOST_LOG_LEVEL %q must be debug, info, warn or error", *level)
	}
	c.CanonicalBase = strings.TrimRight(*canonical, "/")
	if u, err := url.Parse(c.CanonicalBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, usageErr("SIGNPOST_CANONICAL_BASE %q is not an http(s) URL", c.CanonicalBase)
	}
	c.SnomedRF2Dir, c.SnomedVersion = *rf2, *sctVersion
	if c.SnomedRF2Dir != "" {
		if fi, err := os.Stat(c.SnomedRF2Dir); err != nil || !fi.IsDir() {
			return c, usageErr("SIGNPOST_SNOMED_RF2 %q is not a folder", c.SnomedRF2Dir)
		}
	}
	c.LogFormat = *format
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, usageErr("SIGNPOST_LOG_FORMAT %q must be json or text", c.LogFormat)
	}
	return c, nil
}

// secret reads a flag value, else NAME, else the file NAME_FILE names.
func secret(flagValue, name string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	v, file := getenv(name), getenv(name+"_FILE")
	if v != "" && file != "" {
		return "", usageErr("set %s or %s_FILE, not both", name, name)
	}
	if file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usageErr("%s_FILE: %v", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func positiveDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usageErr("%s %q must be a positive duration such as 30s", name, v)
	}
	return d, nil
}
