package session_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// records decodes the JSON records several clients logged to buf.
func records(t *testing.T, buf *testfixture.Buffer) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLoggerRecordsNameServerAndConnection: every record of
// Options.Logger carries the server and an id of the connection, which
// tells two concurrent connections apart.
func TestLoggerRecordsNameServerAndConnection(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	var buf testfixture.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := &session.Options{Logger: logger}
	c1, c2 := dial(t, srv, opts), dial(t, srv, opts)
	for _, c := range []*session.Client{c1, c2} {
		if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
			t.Fatal(err)
		}
	}
	conns := map[string]int{}
	recs := records(t, &buf)
	for _, r := range recs {
		if r["server"] != srv.Addr {
			t.Errorf("record %v: server %v, want %s", r, r["server"], srv.Addr)
		}
		id, _ := r["conn"].(string)
		conns[id]++
	}
	want := map[string]bool{c1.Conn().LocalAddr().String(): true, c2.Conn().LocalAddr().String(): true}
	for id := range conns {
		if !want[id] {
			t.Errorf("conn id %q, want one of the local addresses %v", id, want)
		}
	}
	if len(conns) != 2 {
		t.Errorf("conn ids %v, want two", conns)
	}

	// Over a Unix socket, with no local address to name it by, each
	// Client gets an id of its own.
	sock := filepath.Join(t.TempDir(), "s")
	usrv := newServer(t, smtptest.Config{UnixSocket: sock})
	buf = testfixture.Buffer{}
	u1, u2 := dial(t, usrv, opts), dial(t, usrv, opts)
	u1.Noop(testCtx(t))
	u2.Noop(testCtx(t))
	ids := map[string]bool{}
	for _, r := range records(t, &buf) {
		if r["server"] != sock {
			t.Errorf("record %v: server %v, want %s", r, r["server"], sock)
		}
		id, _ := r["conn"].(string)
		if id == "" || strings.Contains(id, ":") {
			t.Errorf("record %v: conn %q", r, id)
		}
		ids[id] = true
	}
	if len(ids) != 2 {
		t.Errorf("Unix socket conn ids %v; want two", ids)
	}
	if _, ok := u1.Conn().(*net.UnixConn); !ok {
		t.Fatalf("not a Unix socket: %T", u1.Conn())
	}
}
