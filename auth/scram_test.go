package auth

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

// scramVector is a published SCRAM exchange for user "user", password
// "pencil", without channel binding.
type scramVector struct {
	mech        string
	clientNonce string
	serverNonce string // the part the server appends
	salt        string // base64
	clientFirst string
	serverFirst string
	clientFinal string
	serverFinal string
}

var scramVectors = []scramVector{
	{
		// RFC 5802 §5.
		mech:        "SCRAM-SHA-1",
		clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
		serverNonce: "3rfcNHYJY1ZVvWVs7j",
		salt:        "QSXCR+Q6sek8bf92",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		// RFC 7677 §3.
		mech:        "SCRAM-SHA-256",
		clientNonce: "rOprNGfwEbeRWgbNEkqO",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

// scramClientFor returns the client of a mechanism name, with its nonce
// fixed when nonce is not empty.
func scramClientFor(t testing.TB, mech, user, pass, nonce string) *scramClient {
	t.Helper()
	var m Mechanism
	switch mech {
	case "SCRAM-SHA-1":
		m = SCRAMSHA1(user, pass)
	case "SCRAM-SHA-256":
		m = SCRAMSHA256(user, pass)
	case "SCRAM-SHA-1-PLUS":
		m = SCRAMSHA1Plus(user, pass)
	case "SCRAM-SHA-256-PLUS":
		m = SCRAMSHA256Plus(user, pass)
	default:
		t.Fatalf("no client for %s", mech)
	}
	c := m.(*scramClient)
	c.nonce = nonce
	return c
}

func scramServerFor(t testing.TB, mech string, cfg ServerConfig) *scramServer {
	t.Helper()
	if cfg.Password == nil {
		cfg.Password = scramPasswords("user", "pencil")
	}
	s, err := NewServer(mech, cfg)
	if err != nil {
		t.Fatalf("NewServer(%s): %v", mech, err)
	}
	return s.(*scramServer)
}

// scramPasswords is a ServerConfig.Password with one user.
func scramPasswords(user, pass string) func(string) (string, bool) {
	return func(u string) (string, bool) {
		if u == user {
			return pass, true
		}
		return "", false
	}
}

func TestSCRAMClientRFCVectors(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.mech, func(t *testing.T) {
			c := scramClientFor(t, v.mech, "user", "pencil", v.clientNonce)
			mech, ir, err := c.Start()
			if err != nil || mech != v.mech || string(ir) != v.clientFirst {
				t.Fatalf("Start = %q, %q, %v; want %q, %q", mech, ir, err, v.mech, v.clientFirst)
			}
			resp, err := c.Next([]byte(v.serverFirst))
			if err != nil || string(resp) != v.clientFinal {
				t.Fatalf("client-final = %q, %v\nwant %q", resp, err, v.clientFinal)
			}
			if c.ServerVerified() {
				t.Fatal("verified before server-final")
			}
			resp, err = c.Next([]byte(v.serverFinal))
			if err != nil || resp == nil || len(resp) != 0 {
				t.Fatalf("after server-final = %q (nil %v), %v; want an empty response", resp, resp == nil, err)
			}
			if !c.ServerVerified() {
				t.Fatal("server not verified after a good server-final")
			}
			if _, err := c.Next([]byte(v.serverFinal)); !errors.Is(err, ErrUnexpectedChallenge) {
				t.Fatalf("challenge after the end: %v, want ErrUnexpectedChallenge", err)
			}
		})
	}
}

func TestSCRAMServerRFCVectors(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.mech, func(t *testing.T) {
			s := scramServerFor(t, v.mech, ServerConfig{})
			salt, err := base64.StdEncoding.DecodeString(v.salt)
			if err != nil {
				t.Fatal(err)
			}
			s.salt, s.nonce = salt, v.serverNonce
			ch, done, err := s.Next([]byte(v.clientFirst))
			if err != nil || done || string(ch) != v.serverFirst {
				t.Fatalf("server-first = %q, %v, %v\nwant %q", ch, done, err, v.serverFirst)
			}
			ch, done, err = s.Next([]byte(v.clientFinal))
			if err != nil || !done || string(ch) != v.serverFinal {
				t.Fatalf("server-final = %q, %v, %v\nwant %q", ch, done, err, v.serverFinal)
			}
			if s.Identity() != "user" {
				t.Fatalf("Identity = %q", s.Identity())
			}
			if _, done, err := s.Next([]byte(v.clientFinal)); !done || err == nil {
				t.Fatalf("response after the end: done %v, err %v", done, err)
			}
		})
	}
}

// scramOutcome is how an in-memory exchange ended.
type scramOutcome struct {
	clientErr error
	serverErr error
	final     string // the challenge the server sent with done, if any
}

// scramRun runs an exchange in memory the way an SMTP session would: the
// server's last challenge goes to the client, and a server success counts
// only once the client has verified the server.
func scramRun(t testing.TB, m Mechanism, s Server) scramOutcome {
	t.Helper()
	var out scramOutcome
	_, resp, err := m.Start()
	if err != nil {
		out.clientErr = err
		return out
	}
	for range 10 {
		ch, done, err := s.Next(resp)
		if done {
			out.serverErr, out.final = err, string(ch)
			if ch != nil {
				if _, cerr := m.Next(ch); cerr != nil {
					out.clientErr = cerr
				}
			}
			if err == nil && out.clientErr == nil && !m.(ServerVerifier).ServerVerified() {
				out.clientErr = errors.New("server succeeded without proving itself")
			}
			return out
		}
		resp, err = m.Next(ch)
		if err != nil {
			out.clientErr = err
			return out
		}
	}
	t.Fatal("exchange did not end in 10 steps")
	return out
}

func TestSCRAMRoundTrip(t *testing.T) {
	for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			s := scramServerFor(t, mech, ServerConfig{})
			out := scramRun(t, scramClientFor(t, mech, "user", "pencil", ""), s)
			if out.clientErr != nil || out.serverErr != nil {
				t.Fatalf("client %v, server %v", out.clientErr, out.serverErr)
			}
			if s.Identity() != "user" || !strings.HasPrefix(out.final, "v=") {
				t.Fatalf("identity %q, server-final %q", s.Identity(), out.final)
			}
			if len(s.salt) != scramSaltLen {
				t.Fatalf("salt of %d octets", len(s.salt))
			}
		})
	}
}

// Without an initial response the server asks for client-first with an
// empty challenge.
func TestSCRAMServerNoInitialResponse(t *testing.T) {
	s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{})
	ch, done, err := s.Next(nil)
	if err != nil || done || ch == nil || len(ch) != 0 {
		t.Fatalf("Next(nil) = %q (nil %v), %v, %v; want an empty challenge", ch, ch == nil, done, err)
	}
	c := scramClientFor(t, "SCRAM-SHA-256", "user", "pencil", "")
	_, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if ch, done, err = s.Next(ir); err != nil || done || !strings.HasPrefix(string(ch), "r=") {
		t.Fatalf("server-first after asking: %q, %v, %v", ch, done, err)
	}

	// "=" is an empty initial response, not client-first.
	s = scramServerFor(t, "SCRAM-SHA-256", ServerConfig{})
	if _, done, err := s.Next([]byte{}); !done || err == nil {
		t.Fatalf("empty initial response: done %v, err %v", done, err)
	}
}

func TestSCRAMGS2Header(t *testing.T) {
	cb := ChannelBinding{Type: "tls-exporter", Data: []byte("0123456789abcdef0123456789abcdef")}
	for _, tt := range []struct {
		name       string
		mech       string
		cb         *ChannelBinding
		offersPlus bool
		want       string // initial response prefix
		err        error
	}{
		{name: "no TLS", mech: "SCRAM-SHA-256", want: "n,,n="},
		{name: "TLS, server offers no PLUS", mech: "SCRAM-SHA-256", cb: &cb, want: "y,,n="},
		{name: "TLS, server offers PLUS", mech: "SCRAM-SHA-256", cb: &cb, offersPlus: true, want: "n,,n="},
		{name: "TLS without binding data", mech: "SCRAM-SHA-1", cb: &ChannelBinding{Type: "tls-unique"}, want: "n,,n="},
		{name: "PLUS", mech: "SCRAM-SHA-256-PLUS", cb: &cb, offersPlus: true, want: "p=tls-exporter,,n="},
		{name: "PLUS tls-unique", mech: "SCRAM-SHA-1-PLUS", cb: &ChannelBinding{Type: "tls-unique", Data: []byte{1, 2, 3}}, offersPlus: true, want: "p=tls-unique,,n="},
		{name: "PLUS without binding", mech: "SCRAM-SHA-256-PLUS", err: ErrNoChannelBinding},
		{name: "PLUS with empty binding", mech: "SCRAM-SHA-1-PLUS", cb: &ChannelBinding{Type: "tls-exporter"}, err: ErrNoChannelBinding},
		{name: "PLUS with a bad type", mech: "SCRAM-SHA-256-PLUS", cb: &ChannelBinding{Type: "tls unique,", Data: []byte{1}}, err: ErrBadInput},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := scramClientFor(t, tt.mech, "user", "pencil", "")
			if tt.cb != nil {
				var binder ChannelBinder = c
				binder.SetChannelBinding(*tt.cb, tt.offersPlus)
			}
			mech, ir, err := c.Start()
			if tt.err != nil {
				if !errors.Is(err, tt.err) || ir != nil {
					t.Fatalf("Start = %q, %v; want %v", ir, err, tt.err)
				}
				return
			}
			if err != nil || mech != tt.mech || !strings.HasPrefix(string(ir), tt.want) {
				t.Fatalf("Start = %q, %q, %v; want %s and a message starting %q", mech, ir, err, tt.mech, tt.want)
			}
			// c= carries the gs2 header, and for PLUS the binding data.
			resp, err := c.Next([]byte("r=" + c.nonce + "x,s=QSXCR+Q6sek8bf92,i=4096"))
			if err != nil {
				t.Fatal(err)
			}
			wantC := []byte(c.gs2)
			if c.plus {
				wantC = append(wantC, tt.cb.Data...)
			}
			if prefix := "c=" + base64.StdEncoding.EncodeToString(wantC) + ","; !strings.HasPrefix(string(resp), prefix) {
				t.Fatalf("client-final %q, want it to start %q", resp, prefix)
			}
		})
	}
}

func TestSCRAMClientMisc(t *testing.T) {
	c := SCRAMSHA256("user", "pencil")
	if RevealsSecret(c) {
		t.Fatal("SCRAM reveals the secret")
	}
	if _, ok := c.(ChannelBinder); !ok {
		t.Fatal("not a ChannelBinder")
	}
	if _, err := c.Next([]byte("r=x,s=QSXCR+Q6sek8bf92,i=4096")); !errors.Is(err, ErrUnexpectedChallenge) {
		t.Fatalf("Next before Start: %v", err)
	}
	if _, _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Start(); err == nil {
		t.Fatal("second Start accepted")
	}
	for _, tt := range []struct{ user, pass string }{
		{"", "pencil"},
		{"\u00AD", "pencil"},     // empty after SASLprep
		{"us\x00er", "pencil"},   // NUL
		{"user", "pen\u0007cil"}, // control character
		{"user", "\u0627a"},      // bidi
		{"\xff", "pencil"},       // not UTF-8
	} {
		_, ir, err := SCRAMSHA1(tt.user, tt.pass).Start()
		if !errors.Is(err, ErrBadInput) || ir != nil {
			t.Errorf("Start(%+q, %+q) = %q, %v; want ErrBadInput", tt.user, tt.pass, ir, err)
		}
	}
	// Nonces are fresh: 24 random octets in base64.
	a, b := scramClientFor(t, "SCRAM-SHA-1", "u", "p", ""), scramClientFor(t, "SCRAM-SHA-1", "u", "p", "")
	a.Start()
	b.Start()
	if a.nonce == b.nonce || len(a.nonce) != 32 || !scramPrintable(a.nonce) {
		t.Fatalf("nonces %q and %q", a.nonce, b.nonce)
	}
}

// scramStarted returns a SCRAM-SHA-1 client that has sent client-first with
// the RFC 5802 nonce.
func scramStarted(t testing.TB) *scramClient {
	t.Helper()
	c := scramClientFor(t, "SCRAM-SHA-1", "user", "pencil", scramVectors[0].clientNonce)
	if _, _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSCRAMClientRejectsServerFirst(t *testing.T) {
	const n = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
	const s = ",s=QSXCR+Q6sek8bf92"
	for _, tt := range []struct {
		name, msg string
		err       error // nil: any *ProtocolError
	}{
		{name: "empty", msg: ""},
		{name: "mandatory extension", msg: "m=foo," + n + s + ",i=4096"},
		{name: "mandatory extension later", msg: n + s + ",i=4096,m=foo"},
		{name: "nonce not extended", msg: "r=fyko+d2lbbFgONRv9qkxdawL" + s + ",i=4096"},
		{name: "nonce replaced", msg: "r=Xyko+d2lbbFgONRv9qkxdawL3rfc" + s + ",i=4096"},
		{name: "nonce prefix only", msg: "r=fyko" + s + ",i=4096"},
		{name: "nonce not printable", msg: n + "\x7f" + s + ",i=4096"},
		{name: "nonce with space", msg: n + " x" + s + ",i=4096"},
		{name: "order", msg: "s=QSXCR+Q6sek8bf92," + n + ",i=4096"},
		{name: "no salt", msg: n + ",i=4096"},
		{name: "empty salt", msg: n + ",s=,i=4096"},
		{name: "salt not base64", msg: n + ",s=QSXCR+Q6sek8bf9,i=4096"},
		{name: "salt with newline", msg: n + ",s=QSXC\nR+Q6sek8bf92,i=4096"},
		{name: "salt with bad padding bits", msg: n + ",s=QR==,i=4096"},
		{name: "salt URL alphabet", msg: n + ",s=QSXCR-Q6sek8bf92,i=4096"},
		{name: "no iterations", msg: n + s},
		{name: "empty iterations", msg: n + s + ",i="},
		{name: "zero iterations", msg: n + s + ",i=0"},
		{name: "negative iterations", msg: n + s + ",i=-1"},
		{name: "leading zero", msg: n + s + ",i=04096"},
		{name: "plus sign", msg: n + s + ",i=+4096"},
		{name: "trailing junk", msg: n + s + ",i=4096x"},
		{name: "space", msg: n + s + ",i= 4096"},
		{name: "exponent", msg: n + s + ",i=1e6"},
		{name: "malformed extension", msg: n + s + ",i=4096,junk"},
		{name: "extension without value", msg: n + s + ",i=4096,x="},
		{name: "trailing comma", msg: n + s + ",i=4096,"},
		{name: "NUL in extension", msg: n + s + ",i=4096,x=a\x00b"},
		{name: "not UTF-8", msg: n + s + ",i=4096,x=\xff"},
		{name: "server-final instead", msg: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{name: "too long", msg: n + s + ",i=4096,x=" + strings.Repeat("a", MaxChallengeLength), err: ErrChallengeTooLong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := scramStarted(t)
			resp, err := c.Next([]byte(tt.msg))
			var pe *ProtocolError
			if resp != nil || !errors.As(err, &pe) || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Next(%q) = %q, %v; want a *ProtocolError %v", tt.msg, resp, err, tt.err)
			}
			if _, err := c.Next([]byte(scramVectors[0].serverFirst)); !errors.Is(err, ErrUnexpectedChallenge) {
				t.Fatalf("Next after a failure: %v, want ErrUnexpectedChallenge", err)
			}
		})
	}
	// Unknown optional extensions are ignored.
	c := scramStarted(t)
	if resp, err := c.Next([]byte(scramVectors[0].serverFirst + ",x=whatever,Y=ü=")); err != nil || !strings.HasPrefix(string(resp), "c=biws,") {
		t.Fatalf("extensions: %q, %v", resp, err)
	}
}

// A hostile iteration count is refused before any work is done.
func TestSCRAMClientIterationLimit(t *testing.T) {
	for _, i := range []string{"1048577", "2147483647", "2147483648", "9223372036854775807", "99999999999999999999999999", strings.Repeat("9", 4000)} {
		c := scramStarted(t)
		msg := "r=" + c.nonce + "x,s=QSXCR+Q6sek8bf92,i=" + i
		start := time.Now()
		_, err := c.Next([]byte(msg))
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("i=%.20s: %v, want a *ProtocolError", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("i=%.20s took %v", i, d)
		}
	}
	for _, tt := range []struct {
		s  string
		n  int
		ok bool
	}{
		{"1", 1, true}, {"4096", 4096, true}, {"1048576", 1 << 20, true}, {"1048577", 0, false},
		{"9999999", 0, false}, {"10000000", 0, false}, {"0", 0, false}, {"", 0, false},
	} {
		n, ok := scramPositive(tt.s, scramMaxIterations)
		if ok != tt.ok || ok && n != tt.n {
			t.Errorf("scramPositive(%q) = %d, %v", tt.s, n, ok)
		}
	}
}

// TestSCRAMRefusesLowIterations: a server-first message announcing fewer
// than DefaultSCRAMMinIterations (a STARTTLS-stripping server's i=1, which
// makes the client's proof as cheap to crack as an unsalted hash) fails
// with *SCRAMIterationError, before any client-final message exists, and
// ends the exchange; 4096 is accepted; SetMinIterations moves the line
// both ways.
func TestSCRAMRefusesLowIterations(t *testing.T) {
	tests := []struct {
		name string
		min  int // 0: not set
		iter int
		ok   bool
	}{
		{name: "i=1", iter: 1},
		{name: "i=2", iter: 2},
		{name: "i=4095", iter: 4095},
		{name: "i=4096", iter: 4096, ok: true},
		{name: "i=600000", iter: 600000, ok: true},
		{name: "SetMinIterations(1) i=1", min: 1, iter: 1, ok: true},
		{name: "SetMinIterations(-5) i=1", min: -5, iter: 1, ok: true},
		{name: "SetMinIterations(1000) i=999", min: 1000, iter: 999},
		{name: "SetMinIterations(1000) i=1000", min: 1000, iter: 1000, ok: true},
		{name: "SetMinIterations(10000) i=4096", min: 10000, iter: 4096},
		{name: "SetMinIterations(10000) i=10000", min: 10000, iter: 10000, ok: true},
	}
	for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
		for _, tt := range tests {
			t.Run(mech+" "+tt.name, func(t *testing.T) {
				c := scramClientFor(t, mech, "user", "pencil", "client-nonce")
				var m Mechanism = c
				if tt.min != 0 {
					m.(IterationLimiter).SetMinIterations(tt.min)
				}
				if _, _, err := m.Start(); err != nil {
					t.Fatal(err)
				}
				first := fmt.Sprintf("r=client-nonce-server,s=QSXCR+Q6sek8bf92,i=%d", tt.iter)
				resp, err := m.Next([]byte(first))
				if tt.ok {
					if err != nil || !strings.HasPrefix(string(resp), "c=biws,r=client-nonce-server,p=") {
						t.Fatalf("Next(%q) = %q, %v; want client-final", first, resp, err)
					}
					return
				}
				var ie *SCRAMIterationError
				if !errors.As(err, &ie) || resp != nil {
					t.Fatalf("Next(%q) = %q, %v; want no response and a *SCRAMIterationError", first, resp, err)
				}
				wantMin := cmp.Or(tt.min, DefaultSCRAMMinIterations)
				if ie.Mechanism != mech || ie.Iterations != tt.iter || ie.Min != wantMin {
					t.Errorf("error %+v, want {%s %d %d}", *ie, mech, tt.iter, wantMin)
				}
				if c.serverSig != nil {
					t.Error("the proof was computed")
				}
				if _, err := m.Next([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")); !errors.Is(err, ErrUnexpectedChallenge) {
					t.Errorf("Next after the refusal: %v, want ErrUnexpectedChallenge", err)
				}
			})
		}
	}
	// Against a real server announcing i=1: refused, and the server never
	// sees a client-final message.
	s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{SCRAMIterations: 1})
	out := scramRun(t, SCRAMSHA256("user", "pencil"), s)
	var ie *SCRAMIterationError
	if !errors.As(out.clientErr, &ie) || out.serverErr != nil || out.final != "" {
		t.Fatalf("i=1 server: client %v, server %v, final %q; want *SCRAMIterationError", out.clientErr, out.serverErr, out.final)
	}
	// The servers here announce the minimum by default.
	out = scramRun(t, SCRAMSHA256("user", "pencil"), scramServerFor(t, "SCRAM-SHA-256", ServerConfig{}))
	if out.clientErr != nil || out.serverErr != nil {
		t.Fatalf("default server: client %v, server %v", out.clientErr, out.serverErr)
	}
}

func TestSCRAMClientServerFinal(t *testing.T) {
	v := scramVectors[0]
	for _, tt := range []struct {
		name, msg string
		check     func(error) bool
	}{
		{"empty", "", scramIsProtocolError},
		{"unknown attribute", "x=1", scramIsProtocolError},
		{"empty error", "e=", scramIsProtocolError},
		{"signature not base64", "v=rmF9pqV8S7suAoZWja4dJRkFsKQ", scramIsProtocolError},
		{"signature with newline", "v=rmF9pqV8S7suAoZW\nja4dJRkFsKQ=", scramIsProtocolError},
		{"malformed extension", v.serverFinal + ",junk", scramIsProtocolError},
		{"mandatory extension", v.serverFinal + ",m=x", scramIsProtocolError},
		{"too long", v.serverFinal + ",x=" + strings.Repeat("a", MaxChallengeLength), func(err error) bool { return errors.Is(err, ErrChallengeTooLong) }},
		{"empty signature", "v=", func(err error) bool { return errors.Is(err, ErrServerSignature) }},
		{"wrong signature", "v=" + base64.StdEncoding.EncodeToString(make([]byte, 20)), func(err error) bool { return errors.Is(err, ErrServerSignature) }},
		{"truncated signature", "v=rmF9pqV8S7suAoZWja4dJRkF", func(err error) bool { return errors.Is(err, ErrServerSignature) }},
		{"SHA-256 vector's signature", scramVectors[1].serverFinal, func(err error) bool { return errors.Is(err, ErrServerSignature) }},
		{"invalid-proof", "e=invalid-proof", scramIsSCRAMError("invalid-proof")},
		{"error with extension", "e=other-error,x=y", scramIsSCRAMError("other-error")},
		{"error with control character", "e=bad\x1bvalue", scramIsSCRAMError("bad\x1bvalue")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := scramStarted(t)
			if _, err := c.Next([]byte(v.serverFirst)); err != nil {
				t.Fatal(err)
			}
			resp, err := c.Next([]byte(tt.msg))
			if resp != nil || !tt.check(err) {
				t.Fatalf("Next(%q) = %q, %v", tt.msg, resp, err)
			}
			if c.ServerVerified() {
				t.Fatal("verified after a failure")
			}
			if _, err := c.Next([]byte(v.serverFinal)); !errors.Is(err, ErrUnexpectedChallenge) {
				t.Fatalf("Next after a failure: %v, want ErrUnexpectedChallenge", err)
			}
		})
	}
	// Optional extensions after v= are ignored.
	c := scramStarted(t)
	c.Next([]byte(v.serverFirst))
	if resp, err := c.Next([]byte(v.serverFinal + ",x=1")); err != nil || len(resp) != 0 || !c.ServerVerified() {
		t.Fatalf("v= with an extension: %q, %v", resp, err)
	}
	// The error message escapes what the server sent.
	if s := (&SCRAMError{Value: "bad\x1b[31m"}).Error(); strings.Contains(s, "\x1b") {
		t.Fatalf("SCRAMError.Error() = %q", s)
	}
}

func scramIsProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

func scramIsSCRAMError(value string) func(error) bool {
	return func(err error) bool {
		var se *SCRAMError
		return errors.As(err, &se) && se.Value == value
	}
}

// A server that does not know the password cannot make the client accept
// it: neither a made-up signature nor one replayed from another exchange.
func TestSCRAMClientRefusesForgedServerFinal(t *testing.T) {
	// A real exchange, whose server-final an attacker records.
	s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{})
	out := scramRun(t, scramClientFor(t, "SCRAM-SHA-256", "user", "pencil", ""), s)
	if out.clientErr != nil || out.serverErr != nil {
		t.Fatalf("client %v, server %v", out.clientErr, out.serverErr)
	}
	recorded := out.final

	// The attacker plays server, with the same salt but a fresh nonce.
	for _, forged := range []string{recorded, "v=" + base64.StdEncoding.EncodeToString(make([]byte, 32))} {
		c := scramClientFor(t, "SCRAM-SHA-256", "user", "pencil", "")
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		first := "r=" + c.nonce + "attacker,s=" + base64.StdEncoding.EncodeToString(s.salt) + ",i=4096"
		if _, err := c.Next([]byte(first)); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next([]byte(forged))
		if !errors.Is(err, ErrServerSignature) || resp != nil || c.ServerVerified() {
			t.Fatalf("forged %q: %q, %v, verified %v", forged, resp, err, c.ServerVerified())
		}
	}
}

func TestSCRAMWrongPasswordAndUnknownUser(t *testing.T) {
	for _, tt := range []struct{ name, user, pass string }{
		{"wrong password", "user", "pencil2"},
		{"unknown user", "nobody", "pencil"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{})
			c := scramClientFor(t, "SCRAM-SHA-256", tt.user, tt.pass, "")
			_, ir, _ := c.Start()
			first, done, err := s.Next(ir)
			// An unknown user gets a server-first like anyone else.
			if err != nil || done || !strings.Contains(string(first), ",i=4096") || len(s.salt) != scramSaltLen {
				t.Fatalf("server-first %q, %v, %v", first, done, err)
			}
			final, err := c.Next(first)
			if err != nil {
				t.Fatal(err)
			}
			ch, done, err := s.Next(final)
			if !done || !errors.Is(err, ErrInvalidCredentials) || string(ch) != "e=invalid-proof" {
				t.Fatalf("server: %q, %v, %v; want e=invalid-proof and ErrInvalidCredentials", ch, done, err)
			}
			if s.Identity() != "" {
				t.Fatalf("Identity %q after a failure", s.Identity())
			}
			if _, err := c.Next(ch); !scramIsSCRAMError("invalid-proof")(err) {
				t.Fatalf("client: %v, want SCRAMError invalid-proof", err)
			}
		})
	}
}

// A stored password that SASLprep refuses can never be used: the server
// treats the user as unknown.
func TestSCRAMServerStoredPasswordRefused(t *testing.T) {
	s := scramServerFor(t, "SCRAM-SHA-1", ServerConfig{Password: scramPasswords("user", "pen\x00cil")})
	out := scramRun(t, scramClientFor(t, "SCRAM-SHA-1", "user", "pen\x00cil", ""), s)
	if !errors.Is(out.clientErr, ErrBadInput) {
		t.Fatalf("client with a NUL password: %v", out.clientErr)
	}
	s = scramServerFor(t, "SCRAM-SHA-1", ServerConfig{Password: scramPasswords("user", "a\U0003FFFDb")})
	out = scramRun(t, scramClientFor(t, "SCRAM-SHA-1", "user", "a\U0003FFFDb", ""), s)
	if !errors.Is(out.serverErr, ErrInvalidCredentials) {
		t.Fatalf("unassigned code point in a stored password: server %v", out.serverErr)
	}
}

func TestSCRAMSASLprepPasswords(t *testing.T) {
	for _, tt := range []struct{ name, client, stored string }{
		{"soft hyphen", "I\u00ADX", "IX"},
		{"roman numeral", "\u2168", "IX"},
		{"decomposed umlaut", "pa\u0308ssw\u00F6rd", "p\u00E4ssw\u006F\u0308rd"},
		{"vulgar fraction", "\u00BD", "1\u20442"},
		{"acute accent", "x\u00B4", "x \u0301"},
		{"no-break space", "pass\u00A0word", "pass word"},
		{"ideographic space", "密码\u3000密码", "密码 密码"},
		{"right-to-left", "\u05E1\u05D9\u05E1\u05DE\u05D4", "\u05E1\u05D9\u05E1\u05DE\u05D4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{Password: scramPasswords("Jürgen", tt.stored)})
			// The user name is prepared too: a decomposed ü finds "Jürgen".
			out := scramRun(t, scramClientFor(t, "SCRAM-SHA-256", "Ju\u0308rgen", tt.client, ""), s)
			if out.clientErr != nil || out.serverErr != nil {
				t.Fatalf("client %v, server %v", out.clientErr, out.serverErr)
			}
			if s.Identity() != "Jürgen" {
				t.Fatalf("Identity %q", s.Identity())
			}
		})
	}
}

func TestSCRAMUserNameEscaping(t *testing.T) {
	const user = "a,b=c,=2C"
	var seen string
	s := scramServerFor(t, "SCRAM-SHA-1", ServerConfig{Password: func(u string) (string, bool) {
		seen = u
		return "pencil", u == user
	}})
	c := scramClientFor(t, "SCRAM-SHA-1", user, "pencil", "")
	_, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if want := "n,,n=a=2Cb=3Dc=2C=3D2C,r="; !strings.HasPrefix(string(ir), want) {
		t.Fatalf("client-first %q, want it to start %q", ir, want)
	}
	c = scramClientFor(t, "SCRAM-SHA-1", user, "pencil", "")
	if out := scramRun(t, c, s); out.clientErr != nil || out.serverErr != nil {
		t.Fatalf("client %v, server %v", out.clientErr, out.serverErr)
	}
	if seen != user || s.Identity() != user {
		t.Fatalf("server looked up %q, identity %q; want %q", seen, s.Identity(), user)
	}

	for _, tt := range []struct {
		name  string
		bare  string
		ok    bool
		ident string
	}{
		{"lower-case escapes", "n=a=2cb=3dc,r=abc", true, "a,b=c"},
		{"bad escape", "n=a=2Xb,r=abc", false, ""},
		{"lone equals", "n=a=,r=abc", false, ""},
		{"short escape", "n=a=2,r=abc", false, ""},
		{"empty name", "n=,r=abc", false, ""},
		{"NUL", "n=a\x00b,r=abc", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			s := scramServerFor(t, "SCRAM-SHA-1", ServerConfig{Password: func(u string) (string, bool) { seen = u; return "", false }})
			_, done, err := s.Next([]byte("n,," + tt.bare))
			if tt.ok != (err == nil && !done) || tt.ok && seen != tt.ident {
				t.Fatalf("done %v, err %v, looked up %q", done, err, seen)
			}
		})
	}
}

func TestSCRAMServerRejectsClientFirst(t *testing.T) {
	cb := ChannelBinding{Type: "tls-exporter", Data: []byte("binding")}
	for _, tt := range []struct {
		name string
		mech string
		cb   ChannelBinding
		msg  string
	}{
		{"no gs2 header", "SCRAM-SHA-256", ChannelBinding{}, "n=user,r=abc"},
		{"bad flag", "SCRAM-SHA-256", ChannelBinding{}, "x,,n=user,r=abc"},
		{"upper-case flag", "SCRAM-SHA-256", ChannelBinding{}, "N,,n=user,r=abc"},
		{"p without name", "SCRAM-SHA-256-PLUS", cb, "p=,,n=user,r=abc"},
		{"bad authzid", "SCRAM-SHA-256", ChannelBinding{}, "n,x=user,n=user,r=abc"},
		{"other authzid", "SCRAM-SHA-256", ChannelBinding{}, "n,a=admin,n=user,r=abc"},
		{"mandatory extension", "SCRAM-SHA-256", ChannelBinding{}, "n,,m=ext,n=user,r=abc"},
		{"mandatory extension later", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=user,r=abc,m=ext"},
		{"no nonce", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=user"},
		{"empty nonce", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=user,r="},
		{"nonce with space", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=user,r=a b"},
		{"order", "SCRAM-SHA-256", ChannelBinding{}, "n,,r=abc,n=user"},
		{"user refused by SASLprep", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=us\u0007er,r=abc"},
		{"not UTF-8", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=us\xffer,r=abc"},
		{"PLUS without binding", "SCRAM-SHA-256-PLUS", cb, "n,,n=user,r=abc"},
		{"PLUS with y", "SCRAM-SHA-256-PLUS", cb, "y,,n=user,r=abc"},
		{"p with a plain mechanism", "SCRAM-SHA-256", cb, "p=tls-exporter,,n=user,r=abc"},
		{"too long", "SCRAM-SHA-256", ChannelBinding{}, "n,,n=user,r=" + strings.Repeat("a", MaxChallengeLength)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scramServerFor(t, tt.mech, ServerConfig{ChannelBinding: tt.cb})
			ch, done, err := s.Next([]byte(tt.msg))
			if !done || ch != nil || !scramIsProtocolError(err) {
				t.Fatalf("Next(%q) = %q, %v, %v; want done with a *ProtocolError", tt.msg, ch, done, err)
			}
			if _, done, err := s.Next([]byte(tt.msg)); !done || err == nil {
				t.Fatal("Next after a failure succeeded")
			}
		})
	}
	// The user itself as authzid is fine.
	s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{})
	if _, done, err := s.Next([]byte("n,a=user,n=user,r=abc,x=ext")); done || err != nil {
		t.Fatalf("authzid = user: %v, %v", done, err)
	}
}

func TestSCRAMServerRejectsClientFinal(t *testing.T) {
	v := scramVectors[0]
	proof := v.clientFinal[strings.LastIndex(v.clientFinal, ",p="):]
	withoutProof := strings.TrimSuffix(v.clientFinal, proof)
	for _, tt := range []struct{ name, msg, e string }{
		{"no proof", withoutProof, "invalid-encoding"},
		{"short proof", withoutProof + ",p=v0X8v3Bz2T0CJGbJ", "invalid-encoding"},
		{"proof not base64", withoutProof + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", "invalid-encoding"},
		{"no nonce", "c=biws" + proof, "invalid-encoding"},
		{"order", "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,c=biws" + proof, "invalid-encoding"},
		{"c not base64", "c=biw,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j" + proof, "invalid-encoding"},
		{"malformed extension", withoutProof + ",junk" + proof, "invalid-encoding"},
		{"mandatory extension", withoutProof + ",m=x" + proof, "extensions-not-supported"},
		{"binding flag changed", "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j" + proof, "channel-bindings-dont-match"},
		{"other nonce", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7J" + proof, "other-error"},
		{"client nonce only", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL" + proof, "other-error"},
		{"proof of another message", withoutProof + ",x=1" + proof, "invalid-proof"},
		{"flipped proof", withoutProof + ",p=w0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "invalid-proof"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scramServerFor(t, "SCRAM-SHA-1", ServerConfig{})
			s.salt, _ = base64.StdEncoding.DecodeString(v.salt)
			s.nonce = v.serverNonce
			if _, _, err := s.Next([]byte(v.clientFirst)); err != nil {
				t.Fatal(err)
			}
			ch, done, err := s.Next([]byte(tt.msg))
			if !done || err == nil || string(ch) != "e="+tt.e {
				t.Fatalf("Next(%q) = %q, %v, %v; want e=%s", tt.msg, ch, done, err, tt.e)
			}
			if s.Identity() != "" {
				t.Fatalf("Identity %q after a failure", s.Identity())
			}
		})
	}
}

// Every prefix of a server message fails cleanly, or, when the prefix is
// itself a well-formed message (an iteration count cut short), is
// answered; nothing panics.
func TestSCRAMTruncatedServerMessages(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.mech, func(t *testing.T) {
			for i := range len(v.serverFirst) {
				prefix := v.serverFirst[:i]
				c := scramClientFor(t, v.mech, "user", "pencil", v.clientNonce)
				c.maxIter = 4096
				c.Start()
				resp, err := c.Next([]byte(prefix))
				complete := strings.Contains(prefix, ",i=") && !strings.HasSuffix(prefix, ",i=")
				switch {
				case err != nil && resp != nil:
					t.Fatalf("server-first prefix %q: both %q and %v", prefix, resp, err)
				case err == nil && !complete:
					t.Fatalf("server-first prefix %q accepted: %q", prefix, resp)
				}
			}
			for i := range len(v.serverFinal) {
				prefix := v.serverFinal[:i]
				c := scramClientFor(t, v.mech, "user", "pencil", v.clientNonce)
				c.Start()
				if _, err := c.Next([]byte(v.serverFirst)); err != nil {
					t.Fatal(err)
				}
				resp, err := c.Next([]byte(prefix))
				if err == nil || resp != nil || c.ServerVerified() {
					t.Fatalf("server-final prefix %q: %q, %v", prefix, resp, err)
				}
			}
		})
	}
}

// Every prefix of a client message is refused, or is itself a well-formed
// client-first (a shorter nonce); nothing panics.
func TestSCRAMTruncatedClientMessages(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.mech, func(t *testing.T) {
			for i := range len(v.clientFirst) {
				prefix := v.clientFirst[:i]
				s := scramServerFor(t, v.mech, ServerConfig{})
				ch, done, err := s.Next([]byte(prefix))
				complete := strings.HasPrefix(prefix, "n,,n=user,r=") && len(prefix) > len("n,,n=user,r=")
				if complete != (err == nil && !done && ch != nil) {
					t.Fatalf("client-first prefix %q: %q, %v, %v", prefix, ch, done, err)
				}
			}
			for i := range len(v.clientFinal) {
				prefix := v.clientFinal[:i]
				s := scramServerFor(t, v.mech, ServerConfig{})
				s.salt, _ = base64.StdEncoding.DecodeString(v.salt)
				s.nonce = v.serverNonce
				if _, _, err := s.Next([]byte(v.clientFirst)); err != nil {
					t.Fatal(err)
				}
				ch, done, err := s.Next([]byte(prefix))
				if !done || err == nil || !strings.HasPrefix(string(ch), "e=") || s.Identity() != "" {
					t.Fatalf("client-final prefix %q: %q, %v, %v", prefix, ch, done, err)
				}
			}
		})
	}
}

func TestSCRAMNewServer(t *testing.T) {
	pw := scramPasswords("user", "pencil")
	for _, mech := range []string{"SCRAM-SHA-1-PLUS", "scram-sha-256-plus"} {
		if _, err := NewServer(mech, ServerConfig{Password: pw}); !errors.Is(err, ErrNoChannelBinding) {
			t.Errorf("%s without a binding: %v, want ErrNoChannelBinding", mech, err)
		}
	}
	if _, err := NewServer("SCRAM-SHA-256-PLUS", ServerConfig{Password: pw, ChannelBinding: ChannelBinding{Type: "bad type", Data: []byte{1}}}); err == nil {
		t.Error("invalid channel-binding type accepted")
	}
	if _, err := newSCRAMServer("SCRAM-MD5", ServerConfig{Password: pw}); err == nil {
		t.Error("SCRAM-MD5 accepted")
	}
	s := scramServerFor(t, "scram-sha-1", ServerConfig{SCRAMIterations: 10000})
	ch, _, err := s.Next([]byte("n,,n=user,r=abc"))
	if err != nil || !strings.HasSuffix(string(ch), ",i=10000") || s.mech != "SCRAM-SHA-1" {
		t.Fatalf("server-first %q, %v", ch, err)
	}
}

// scramTLSPair returns the two ends of a TLS connection over loopback,
// handshake done, with TLS at most maxVersion.
func scramTLSPair(t testing.TB, maxVersion uint16) (client, server *tls.Conn) {
	t.Helper()
	cert := testfixture.SelfSigned(t, "localhost")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		conn *tls.Conn
		err  error
	}
	ch := make(chan accepted, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		raw.SetDeadline(time.Now().Add(30 * time.Second))
		conn := tls.Server(raw, &tls.Config{
			Certificates: []tls.Certificate{cert.TLS},
			MaxVersion:   maxVersion,
		})
		err = conn.Handshake()
		ch <- accepted{conn, err}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	client = tls.Client(raw, cert.ClientConfig("localhost"))
	t.Cleanup(func() { client.Close() })
	cerr := client.Handshake()
	a := <-ch
	if a.conn != nil {
		t.Cleanup(func() { a.conn.Close() })
	}
	if cerr != nil || a.err != nil {
		t.Fatalf("TLS handshake: client %v, server %v", cerr, a.err)
	}
	return client, a.conn
}

// scramBinding is ChannelBindingFor of one end of a connection.
func scramBinding(t testing.TB, c *tls.Conn) ChannelBinding {
	t.Helper()
	cs := c.ConnectionState()
	cb, err := ChannelBindingFor(&cs)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

var errSCRAMCancelled = errors.New("client cancelled the exchange")

// scramServe runs the server side of an exchange over conn, in the shape
// of SMTP AUTH: lines of base64 from the client ("*" cancels), "334
// <base64>" challenges and a "235" or "535" outcome from the server.
func scramServe(conn net.Conn, s Server) error {
	r := bufio.NewReader(conn)
	read := func() ([]byte, bool, error) {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, false, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "*" {
			return nil, true, nil
		}
		b, err := base64.StdEncoding.DecodeString(line)
		return b, false, err
	}
	resp, cancelled, err := read()
	for {
		if err != nil {
			return err
		}
		if cancelled {
			fmt.Fprint(conn, "501\n")
			return errSCRAMCancelled
		}
		ch, done, serr := s.Next(resp)
		if done {
			if ch != nil {
				fmt.Fprintf(conn, "334 %s\n", base64.StdEncoding.EncodeToString(ch))
				if _, _, err := read(); err != nil {
					return err
				}
			}
			if serr != nil {
				fmt.Fprint(conn, "535\n")
				return serr
			}
			fmt.Fprint(conn, "235\n")
			return nil
		}
		fmt.Fprintf(conn, "334 %s\n", base64.StdEncoding.EncodeToString(ch))
		resp, cancelled, err = read()
	}
}

// scramDrive runs the client side of an exchange over conn (see
// scramServe), as a session would.
func scramDrive(conn net.Conn, m Mechanism) error {
	r := bufio.NewReader(conn)
	_, ir, err := m.Start()
	if err != nil {
		return err
	}
	fmt.Fprintf(conn, "%s\n", base64.StdEncoding.EncodeToString(ir))
	var failed error
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "235":
			if failed != nil {
				return failed
			}
			if !m.(ServerVerifier).ServerVerified() {
				return errors.New("235 without the server's proof")
			}
			return nil
		case strings.HasPrefix(line, "334 "):
			ch, err := base64.StdEncoding.DecodeString(line[4:])
			if err != nil {
				return err
			}
			resp, err := m.Next(ch)
			if err != nil {
				failed = err
				if resp == nil {
					fmt.Fprint(conn, "*\n")
					continue
				}
			}
			fmt.Fprintf(conn, "%s\n", base64.StdEncoding.EncodeToString(resp))
		default:
			if failed != nil {
				return failed
			}
			return fmt.Errorf("server refused: %s", line)
		}
	}
}

// scramOverConn runs m against s over the two ends of a connection and
// returns what each side saw.
func scramOverConn(client, server net.Conn, m Mechanism, s Server) (clientErr, serverErr error) {
	done := make(chan error, 1)
	go func() { done <- scramServe(server, s) }()
	clientErr = scramDrive(client, m)
	return clientErr, <-done
}

func TestSCRAMPlusOverTLS(t *testing.T) {
	for _, v := range []struct {
		name       string
		maxVersion uint16
		cbType     string
	}{
		{"TLS 1.3", tls.VersionTLS13, "tls-exporter"},
		{"TLS 1.2", tls.VersionTLS12, "tls-unique"},
	} {
		for _, mech := range []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"} {
			t.Run(v.name+"/"+mech, func(t *testing.T) {
				client, server := scramTLSPair(t, v.maxVersion)
				ccb, scb := scramBinding(t, client), scramBinding(t, server)
				if ccb.Type != v.cbType || scb.Type != v.cbType || string(ccb.Data) != string(scb.Data) || len(ccb.Data) == 0 {
					t.Fatalf("bindings %s %x and %s %x", ccb.Type, ccb.Data, scb.Type, scb.Data)
				}
				s := scramServerFor(t, mech, ServerConfig{ChannelBinding: scb})
				c := scramClientFor(t, mech, "user", "pencil", "")
				c.SetChannelBinding(ccb, true)
				cerr, serr := scramOverConn(client, server, c, s)
				if cerr != nil || serr != nil {
					t.Fatalf("client %v, server %v", cerr, serr)
				}
				if s.Identity() != "user" || c.gs2 != "p="+v.cbType+",," {
					t.Fatalf("identity %q, gs2 header %q", s.Identity(), c.gs2)
				}
			})
		}
	}
}

// A man in the middle terminates TLS on both sides: the client's binding
// is to its connection with the attacker, the server's to its own.
func TestSCRAMPlusBindingMismatch(t *testing.T) {
	client13, server13 := scramTLSPair(t, tls.VersionTLS13)
	other13, _ := scramTLSPair(t, tls.VersionTLS13)
	client12, _ := scramTLSPair(t, tls.VersionTLS12)
	for _, tt := range []struct {
		name      string
		clientCB  ChannelBinding
		wantValue string
	}{
		{"other connection", scramBinding(t, other13), "channel-bindings-dont-match"},
		{"other type", scramBinding(t, client12), "unsupported-channel-binding-type"},
		{"forged data", ChannelBinding{Type: "tls-exporter", Data: make([]byte, 32)}, "channel-bindings-dont-match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scramServerFor(t, "SCRAM-SHA-256-PLUS", ServerConfig{ChannelBinding: scramBinding(t, server13)})
			c := scramClientFor(t, "SCRAM-SHA-256-PLUS", "user", "pencil", "")
			c.SetChannelBinding(tt.clientCB, true)
			cerr, serr := scramOverConn(client13, server13, c, s)
			if !scramIsSCRAMError(tt.wantValue)(cerr) || !scramIsProtocolError(serr) {
				t.Fatalf("client %v, server %v; want e=%s", cerr, serr, tt.wantValue)
			}
			if s.Identity() != "" || c.ServerVerified() {
				t.Fatal("mismatched binding authenticated someone")
			}
		})
	}
}

// A man in the middle strips -PLUS from the server's mechanisms: the client,
// which could bind, says "y", and the server, which offers -PLUS, refuses.
func TestSCRAMDowngrade(t *testing.T) {
	client, server := scramTLSPair(t, tls.VersionTLS13)
	ccb, scb := scramBinding(t, client), scramBinding(t, server)
	for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			s := scramServerFor(t, mech, ServerConfig{ChannelBinding: scb})
			c := scramClientFor(t, mech, "user", "pencil", "")
			c.SetChannelBinding(ccb, false) // the attacker hid -PLUS
			cerr, serr := scramOverConn(client, server, c, s)
			if !scramIsSCRAMError("server-does-support-channel-binding")(cerr) || !scramIsProtocolError(serr) || c.gs2 != "y,," {
				t.Fatalf("client %v, server %v, gs2 %q", cerr, serr, c.gs2)
			}
			if s.Identity() != "" {
				t.Fatal("downgraded exchange authenticated")
			}
		})
	}
	// Without a downgrade each combination works: "y" to a server that
	// cannot bind, "n" when the caller picks plain SCRAM though -PLUS is
	// offered.
	for _, tt := range []struct {
		name       string
		serverCB   ChannelBinding
		offersPlus bool
		gs2        string
	}{
		{"server cannot bind", ChannelBinding{}, false, "y,,"},
		{"caller chose plain SCRAM", scb, true, "n,,"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{ChannelBinding: tt.serverCB})
			c := scramClientFor(t, "SCRAM-SHA-256", "user", "pencil", "")
			c.SetChannelBinding(ccb, tt.offersPlus)
			cerr, serr := scramOverConn(client, server, c, s)
			if cerr != nil || serr != nil || c.gs2 != tt.gs2 {
				t.Fatalf("client %v, server %v, gs2 %q", cerr, serr, c.gs2)
			}
		})
	}
}

// Over a connection, a wrong password fails on both sides, and a forged
// success is refused by the client.
func TestSCRAMWrongPasswordOverConn(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	s := scramServerFor(t, "SCRAM-SHA-256", ServerConfig{})
	cerr, serr := scramOverConn(client, server, SCRAMSHA256("user", "crayon"), s)
	if !errors.Is(serr, ErrInvalidCredentials) || !scramIsSCRAMError("invalid-proof")(cerr) {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
}
