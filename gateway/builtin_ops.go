package gateway

// builtinOperation routes the operations the gateway serves itself on
// every type, before the registered ones: $validate (validate_op.go) and
// Patient/[id]/$everything (everything.go). ok is false for any other.
func (s *Server) builtinOperation(req *request, level OperationLevel, name string) (h handlerFunc, ok bool, err error) {
	switch {
	case name == "validate" && level != SystemLevel:
		h, err = s.validateRoute(req, level)
		return h, true, err
	case name == "everything" && level == InstanceLevel && req.typ == "Patient":
		h, err = s.everythingRoute(req)
		return h, true, err
	}
	return nil, false, nil
}
