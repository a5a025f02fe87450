package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDialErrorSaysDialOnce: the *net.OpError of a failed dial does not
// repeat the "dial tcp host:port" of the DialError around it, nor does a
// dial cut short by the context.
func TestDialErrorSaysDialOnce(t *testing.T) {
	ln := listen(t)
	addrText := ln.Addr().String()
	ln.Close()
	addr, err := ParseAddress(addrText, 0)
	if err != nil {
		t.Fatal(err)
	}
	var d Dialer
	_, err = d.DialContext(context.Background(), addr)
	var de *DialError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	msg := err.Error()
	if strings.Count(msg, "dial") != 1 || strings.Count(msg, addrText) != 1 || !strings.Contains(msg, "connection refused") {
		t.Errorf("message %q", msg)
	}

	// A dial the context's deadline ended: 192.0.2.1 (TEST-NET-1) does
	// not answer, or the network says it is unreachable.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = d.DialContext(ctx, Address{Host: "192.0.2.1", Port: 25})
	if err == nil || strings.Count(err.Error(), "dial") != 1 {
		t.Errorf("timed-out dial: %v", err)
	}
}
