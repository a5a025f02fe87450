package transport

import (
	"context"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

// TestLoadCertPool: a CA file's certificates become a pool a handshake
// verifies against; files that hold none, or a broken one, or none at
// all, are errors that say which.
func TestLoadCertPool(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tc := testfixture.SelfSigned(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.TLS.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("not really")})

	for _, name := range []string{"ca.pem", "key-and-ca.pem"} {
		data := certPEM
		if name == "key-and-ca.pem" {
			data = append(append([]byte("comment line\n"), keyPEM...), certPEM...)
		}
		pool, err := LoadCertPool(write(name, data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		srv := startTLSServer(t, tc)
		d := Dialer{Timeout: 5 * time.Second}
		addr, _ := ParseAddress(srv.Addr, 0)
		conn, err := d.DialContext(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg := ClientTLSConfig(nil, "127.0.0.1")
		cfg.RootCAs = pool
		tconn, err := StartTLS(context.Background(), conn, cfg)
		if err != nil {
			t.Fatalf("%s: handshake with the pool: %v", name, err)
		}
		tconn.Close()
	}

	for _, tt := range []struct {
		name, path string
		is         error
		text       string
	}{
		{"missing", filepath.Join(dir, "nope.pem"), fs.ErrNotExist, "CA file"},
		{"no certificate", write("key.pem", keyPEM), errNoPEMCertificate, "no PEM CERTIFICATE"},
		{"empty", write("empty.pem", nil), errNoPEMCertificate, "empty.pem"},
		{"broken certificate", write("broken.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})), nil, "certificate 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := LoadCertPool(tt.path)
			if err == nil || pool != nil {
				t.Fatalf("LoadCertPool = %v, %v", pool, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("message %q lacks %q", err, tt.text)
			}
			if !strings.HasPrefix(err.Error(), "transport: CA file") {
				t.Errorf("message %q", err)
			}
		})
	}
}
