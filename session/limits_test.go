package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// Tests of Options.Limits that are not about replies: each bound is an
// option with a default, not a hidden constant (issue 22).

func TestLimitsMessageHeaderBytes(t *testing.T) {
	header := "From: alice@example.org\r\nTo: bob@example.org\r\n" +
		strings.Repeat("X-Filler: "+strings.Repeat("x", 70)+"\r\n", 30) + "\r\nbody\r\n"
	srv := newServer(t, smtptest.Config{})

	c := dial(t, srv, &session.Options{Limits: session.Limits{MessageHeaderBytes: 1024}})
	_, err := c.SendMessage(testCtx(t), strings.NewReader(header))
	var he *session.HeaderError
	if !errors.As(err, &he) {
		t.Fatalf("a 2 KB header under a 1 KiB limit: %v, want a *HeaderError", err)
	}
	if len(srv.Messages()) != 0 {
		t.Errorf("the message was sent")
	}

	// The default (1 MiB) takes it.
	c = dial(t, srv, nil)
	if _, err := c.SendMessage(testCtx(t), strings.NewReader(header)); err != nil {
		t.Fatalf("default limit: %v", err)
	}
}

func TestLimitsAuthChallenges(t *testing.T) {
	// A server that challenges for ever.
	endless := func(i int, line string) response.Reply {
		if line == "*" {
			return response.New(501, "5.0.0 cancelled")
		}
		return challengeReply("more")
	}
	for _, tt := range []struct {
		limit, want int // want: challenges answered before the client gives up
	}{
		{0, 16}, // the default
		{3, 3},
	} {
		srv := authServer(t, "X-TEST", false, smtptest.Config{Handler: scriptAuth("X-TEST", endless)})
		c := farClient(t, srv, &session.Options{LocalName: clientName, AllowInsecureAuth: true,
			Limits: session.Limits{AuthChallenges: tt.limit}})
		m := &testMech{name: "X-TEST"}
		err := c.Auth(testCtx(t), m)
		if err == nil || !strings.Contains(err.Error(), "too many AUTH challenges") {
			t.Errorf("limit %d: %v, want the exchange cut off", tt.limit, err)
		}
		if len(m.challenges) != tt.want {
			t.Errorf("limit %d: %d challenges answered, want %d", tt.limit, len(m.challenges), tt.want)
		}
	}
}

func TestLimitsAuthChallengeLength(t *testing.T) {
	// A mechanism of one's own with a challenge over the default 4096
	// octets (a GSSAPI token, say): refused by default, passed on when
	// Limits allow it.
	big := strings.Repeat("k", 6000)
	script := func(i int, line string) response.Reply {
		switch {
		case line == "*":
			return response.New(501, "5.0.0 cancelled")
		case i == 0:
			return challengeReply(big)
		}
		return response.New(235, "2.7.0 ok")
	}
	for _, tt := range []struct {
		limits session.Limits
		ok     bool
	}{
		{session.Limits{}, false},
		{session.Limits{AuthChallengeLength: 8192, ReplyLineLength: 16384}, true},
	} {
		srv := authServer(t, "X-TEST", false, smtptest.Config{Handler: scriptAuth("X-TEST", script)})
		c := farClient(t, srv, &session.Options{LocalName: clientName, AllowInsecureAuth: true, Limits: tt.limits})
		m := &testMech{name: "X-TEST"}
		err := c.Auth(testCtx(t), m)
		if tt.ok {
			if err != nil || len(m.challenges) != 1 || len(m.challenges[0]) != len(big) {
				t.Errorf("limits %+v: %v, %d challenges; want the 6000-octet challenge passed on", tt.limits, err, len(m.challenges))
			}
			continue
		}
		if !errors.Is(err, auth.ErrChallengeTooLong) || len(m.challenges) != 0 {
			t.Errorf("default limits: %v, want ErrChallengeTooLong before the mechanism sees it", err)
		}
	}
}
