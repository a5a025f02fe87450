package session

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/smtpkit/smtpkit/response"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		keywords []string
		params   map[string]string
		size     int64
		sizeOK   bool
		mechs    []string
	}{
		{
			name:     "postfix",
			lines:    []string{"mx.example.org", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"},
			keywords: []string{"PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"},
			params:   map[string]string{"SIZE": "10240000", "DSN": ""},
			size:     10240000, sizeOK: true,
		},
		{
			// Postfix's smtp-sink ends its EHLO reply with an empty line.
			name:     "smtp-sink's empty last line",
			lines:    []string{"mx", "PIPELINING", "8BITMIME", ""},
			keywords: []string{"PIPELINING", "8BITMIME"},
			params:   map[string]string{"8BITMIME": ""},
		},
		{
			name:     "lower case keywords and params",
			lines:    []string{"mx", "8bitmime", "size 100", "auth plain login"},
			keywords: []string{"8BITMIME", "SIZE", "AUTH"},
			params:   map[string]string{"size": "100", "Auth": "plain login"},
			size:     100, sizeOK: true,
			mechs: []string{"PLAIN", "LOGIN"},
		},
		{
			name:     "old AUTH= merged into AUTH without duplicates",
			lines:    []string{"mx", "AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN CRAM-MD5"},
			keywords: []string{"AUTH"},
			mechs:    []string{"LOGIN", "PLAIN", "CRAM-MD5"},
		},
		{
			name:     "only AUTH=",
			lines:    []string{"mx", "AUTH=LOGIN"},
			keywords: []string{"AUTH"},
			mechs:    []string{"LOGIN"},
		},
		{
			name:     "smtp-sink's empty last line",
			lines:    []string{"sink", "PIPELINING", ""},
			keywords: []string{"PIPELINING"},
		},
		{
			name:     "SIZE without a limit",
			lines:    []string{"mx", "SIZE"},
			keywords: []string{"SIZE"},
			size:     0, sizeOK: true,
		},
		{
			name:     "junk keywords skipped, first listing wins",
			lines:    []string{"mx", "-BAD", "X_UNDERSCORE", "SIZE 5", "SIZE 9", "  X-EXT  a  b "},
			keywords: []string{"SIZE", "X-EXT"},
			params:   map[string]string{"SIZE": "5", "x-ext": "a  b"},
			size:     5, sizeOK: true,
		},
		{
			name:  "greeting line only",
			lines: []string{"mx.example.org says hi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseExtensions(response.New(250, tt.lines...))
			if diff := cmp.Diff(tt.keywords, e.Keywords(), cmp.Comparer(func(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") })); diff != "" {
				t.Errorf("Keywords (-want +got):\n%s", diff)
			}
			for _, k := range tt.keywords {
				if !e.Has(strings.ToLower(k)) || !e.Has(k) {
					t.Errorf("Has(%q) = false", k)
				}
			}
			if e.Has("NOPE") {
				t.Error("Has(NOPE) = true")
			}
			for k, want := range tt.params {
				if got, ok := e.Param(k); !ok || got != want {
					t.Errorf("Param(%q) = %q, %v; want %q", k, got, ok, want)
				}
			}
			size, ok := e.MaxSize()
			if size != tt.size || ok != tt.sizeOK {
				t.Errorf("MaxSize() = %d, %v; want %d, %v", size, ok, tt.size, tt.sizeOK)
			}
			if diff := cmp.Diff(tt.mechs, e.AuthMechanisms()); diff != "" {
				t.Errorf("AuthMechanisms (-want +got):\n%s", diff)
			}
		})
	}
}
