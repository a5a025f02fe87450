package pool_test

import (
	"context"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/smtptest"
)

// The pool reports what the server announced on its newest connection,
// and nothing before it has opened one.
func TestPoolExtensions(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Extensions: append(smtptest.DefaultExtensions(), "LIMITS MAILMAX=7 RCPTMAX=3"),
	})
	p, _ := newPool(t, srv, pool.Options{})
	if ext, ok := p.Extensions(); ok || ext.Len() != 0 {
		t.Fatalf("before any connection: Extensions() = %v, %v", ext.Keywords(), ok)
	}
	if _, err := p.Send(context.Background(), "a@example.org", []string{"b@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	ext, ok := p.Extensions()
	if !ok || !ext.Has("PIPELINING") || ext.Limits().MailMax != 7 || ext.Limits().RcptMax != 3 {
		t.Errorf("Extensions() = %v, %v; limits %+v", ext.Keywords(), ok, ext.Limits())
	}
	closePool(t, p)
}
