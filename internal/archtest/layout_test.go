package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/signpost-fhir/signpost"

// packages maps each package directory of the module (relative, with
// slashes) to the imports of its non-test files.
func packages(t *testing.T) map[string]map[string]bool {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if out[rel] == nil {
			out[rel] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[rel][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("found %d packages: the walk missed the module", len(out))
	}
	return out
}

// barsImports are the Signpost packages outside fhir/ that bars may
// import: what it needs of the gateway and navigation comes through its
// own interfaces (bars.Host, bars.Navigator).
var barsImports = map[string]bool{"auth": true, "mapping": true, "snomed": true,
	"gateway/clinicalsystem": true, "gateway/requestid": true}

func under(dir, prefix string) bool { return dir == prefix || strings.HasPrefix(dir, prefix+"/") }

// allowedImports lists, for packages split out of the gateway, the only
// Signpost packages each may import (each entry also admits the
// packages under it): none above it, none of the gateway's own.
var allowedImports = map[string][]string{
	"delivery":     {"auth", "fhir", "gateway/clinicalsystem", "gateway/requestid"},
	"terminology":  {"snomed", "mapping", "fhir"},
	"gateway/demo": {"bars", "fhir", "snomed", "gateway/clinicalsystem", "gateway/htmlpage", "gateway/negotiate", "gateway/requestid"},
	"access":       {"auth", "fhir"},
}

// noHTTP are packages below the gateway that know nothing of HTTP.
var noHTTP = []string{"delivery", "terminology", "directory", "fhir/interaction", "access"}

// TestLayout: the rules of docs/architecture.md that a newcomer relies on
// to find code by folder, and that keep HTTP at the edge.
func TestLayout(t *testing.T) {
	pkgs := packages(t)
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		if dir == "." {
			continue
		}
		if _, err := os.Stat(filepath.Join("../..", dir, "doc.go")); err != nil {
			t.Errorf("%s has no doc.go saying what it owns", dir)
		}
		for imp := range pkgs[dir] {
			local, ours := strings.CutPrefix(imp, module+"/")
			if allowed, ok := allowedImports[dir]; ok && ours && !slices.ContainsFunc(allowed, func(a string) bool { return under(local, a) }) {
				t.Errorf("%s imports %s: it may import only %s", dir, local, strings.Join(allowed, ", "))
			}
			if (imp == "net/http" || strings.HasPrefix(imp, "net/http/")) && slices.Contains(noHTTP, dir) {
				t.Errorf("%s imports %s: packages below the gateway know nothing of HTTP", dir, imp)
			}
			switch {
			case strings.HasPrefix(imp, "github.com/gin-gonic/gin") && !under(dir, "gateway"):
				t.Errorf("%s imports Gin: only the gateway does", dir)
			case ours && local == "gateway" && !under(dir, "cmd"):
				t.Errorf("%s imports the gateway: only the commands do", dir)
			case strings.HasPrefix(imp, "github.com/jackc/pgx") && !under(dir, "fhir/store/postgres") && !under(dir, "internal") && !under(dir, "cmd"):
				t.Errorf("%s imports pgx: only the PostgreSQL store does", dir)
			case imp == "net/http" && under(dir, "fhir/interaction"):
				t.Errorf("%s imports net/http: the interaction engine knows nothing of HTTP", dir)
			case imp == "net/http" && under(dir, "fhir/capability"):
				t.Errorf("%s imports net/http: the CapabilityStatement is generated from a description, not from routes", dir)
			case ours && under(dir, "fhir/capability") && local != "fhir" && local != "fhir/search" && local != "fhir/spec":
				t.Errorf("%s imports %s: fhir/capability imports only fhir, fhir/search and fhir/spec", dir, local)
			case ours && under(dir, "fhir") && !under(local, "fhir"):
				t.Errorf("%s imports %s: fhir/ imports no Signpost package outside it", dir, local)
			case ours && (under(dir, "mapping") || under(dir, "snomed")) && !under(local, "fhir") && !under(local, "mapping") && !under(local, "snomed"):
				t.Errorf("%s imports %s: the domain imports only fhir, mapping and snomed", dir, local)
			case imp == "net/http" && (under(dir, "tenancy") || under(dir, "audit")):
				t.Errorf("%s imports net/http: tenancy and audit know nothing of HTTP", dir)
			case ours && under(dir, "tenancy") && (under(local, "audit") || under(local, "gateway")):
				t.Errorf("%s imports %s: tenancy sits below audit and the gateway", dir, local)
			case ours && under(dir, "audit") && under(local, "gateway"):
				t.Errorf("%s imports %s: audit sits below the gateway", dir, local)
			case under(dir, "bars") && imp == "net/http":
				t.Errorf("%s imports net/http: BaRS knows nothing of HTTP, the gateway translates", dir)
			case ours && under(dir, "bars") && !barsImports[local] && !under(local, "fhir"):
				t.Errorf("%s imports %s: bars imports only fhir, auth, mapping, snomed and the gateway's clinicalsystem and requestid", dir, local)
			case under(dir, "gateway/ratelimit") && imp == "net/http":
				t.Errorf("%s imports net/http: the rate limiter knows nothing of HTTP (the gateway answers 429)", dir)
			case under(dir, "navigation") && imp == "net/http":
				t.Errorf("%s imports net/http: navigation knows nothing of HTTP (the gateway serves it)", dir)
			case ours && under(dir, "navigation") && !under(local, "navigation") && !under(local, "fhir") && !under(local, "mapping") && !under(local, "snomed") && local != "auth" && local != "directory" && local != "internal/vcache":
				t.Errorf("%s imports %s: navigation imports only fhir, mapping, snomed, auth, directory and internal/vcache", dir, local)
			}
		}
	}
}
