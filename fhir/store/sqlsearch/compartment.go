package sqlsearch

import "github.com/signpost-fhir/signpost/fhir/search"

// compartment is the condition of search.Compartment on resources r of
// typ: an index row of one of its reference parameters pointing at the
// compartment's resource on this server, or r being that resource (Self).
// Without Self the reference rows can drive the search.
func (b *builder) compartment(typ string, c *search.Compartment) part {
	if len(c.Params) == 0 {
		if c.Self && typ == c.Type {
			return part{e: ex("r.id = ?", c.ID)}
		}
		return part{e: ex("1 = 0")}
	}
	row := and(ex("c.res_type = ?", typ), inList("c.param", c.Params), ex("c.target_type = ? AND c.target_id = ?", c.Type, c.ID), b.local("c"))
	in := cat(ex("r.id IN (SELECT c.res_id FROM idx_reference c WHERE "), row, ex(")"))
	if c.Self && typ == c.Type {
		return part{e: paren(cat(ex("r.id = ? OR ", c.ID), in))}
	}
	return part{
		e:      in,
		driver: ptr(cat(ex("SELECT DISTINCT c.res_id AS id, c.res_type AS type, c.res_date_low AS dl, c.res_date_high AS dh FROM idx_reference c WHERE "), row)),
		rank:   1,
		dates:  true,
	}
}
