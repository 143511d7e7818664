package sqlsearch

// Tenancy (search.Query.Tenancy): what a search reaches through
// references — the targets a chained parameter tests, the resources a _has
// tests, the resources _include and _revinclude bring in — is limited to
// resources outside the tenancy's types, or carrying one of its security
// labels (their _security index rows). An include that cannot reach a
// resource does not iterate from it either.

// labelled is the condition that the resource named by the columns
// typCol and idCol carries one of the tenancy's labels.
func (b *builder) labelled(typCol, idCol string) expr {
	t := b.tenancy
	if len(t.Codes) == 0 {
		return never
	}
	return cat(ex("EXISTS (SELECT 1 FROM idx_token sec WHERE sec.res_type = "+typCol+" AND sec.res_id = "+idCol+
		" AND sec.param = '_security' AND sec.system = ? AND ", t.System), inList("sec.code", t.Codes), ex(")"))
}

// reachable is the tenancy condition on a resource of one of types (typCol
// and idCol name it); always true without a tenancy or when none of types
// is under it.
func (b *builder) reachable(types []string, typCol, idCol string) expr {
	t := b.tenancy
	if t == nil {
		return always
	}
	all, any := true, false
	for _, typ := range types {
		if t.Applies(typ) {
			any = true
		} else {
			all = false
		}
	}
	switch {
	case !any:
		return always
	case all:
		return b.labelled(typCol, idCol)
	}
	return or(cat(ex("NOT "), paren(inList(typCol, t.Types))), b.labelled(typCol, idCol))
}
