package auth

func badInput(mech, reason string) error {
	return &ProtocolError{Mechanism: mech, Reason: reason, Err: ErrBadInput}
}

func errReused(mech string) error {
	return &ProtocolError{Mechanism: mech, Reason: "a Mechanism serves one exchange; make a new one"}
}
