package lmtp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

const testFrom = "sender@example.net"

const testBody = "From: sender@example.net\r\nSubject: lmtp\r\n\r\nhello\r\n.dot line\r\n"

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// server starts smtptest in LMTP mode and closes it when the test ends.
func server(t *testing.T, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	cfg.LMTP = true
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// dial connects an LMTP client to addr and closes it when the test ends.
func dial(t *testing.T, ctx context.Context, addr string, opts session.Options) *lmtp.Client {
	t.Helper()
	if opts.LocalName == "" {
		opts.LocalName = "client.example.org"
	}
	c, err := lmtp.Dial(ctx, addr, &opts)
	if err != nil {
		t.Fatalf("lmtp.Dial(%q): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func outcomes(rs []session.RecipientResult) []lmtp.Outcome {
	out := make([]lmtp.Outcome, len(rs))
	for i, r := range rs {
		out[i] = lmtp.OutcomeOf(r)
	}
	return out
}

func addrs(rs []session.RecipientResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Address
	}
	return out
}

func dataCodes(rs []session.RecipientResult) []response.Code {
	out := make([]response.Code, len(rs))
	for i, r := range rs {
		out[i] = r.Data.Code
	}
	return out
}

// without returns smtptest's default extensions without those named.
func without(names ...string) []string {
	var out []string
	for _, e := range smtptest.DefaultExtensions() {
		if !slices.Contains(names, e) {
			out = append(out, e)
		}
	}
	return out
}

// mode is one way the session package can carry an LMTP transaction.
type mode struct {
	name string
	exts []string // nil: smtptest's defaults (PIPELINING and CHUNKING among them)
	opts session.Options
	body string // "" means testBody
	// data is the verb that carries the message: "BDAT" or "DATA".
	data string
}

var modes = []mode{
	{name: "pipelining+chunking", data: "BDAT"},
	{name: "pipelining, no chunking", exts: without("CHUNKING"), data: "DATA"},
	{name: "DisableChunking", opts: session.Options{DisableChunking: true}, data: "DATA"},
	{name: "no pipelining, no chunking", exts: without("PIPELINING", "CHUNKING"), data: "DATA"},
	{name: "DisablePipelining", opts: session.Options{DisablePipelining: true}, data: "DATA"},
	// Without PIPELINING, BDAT is used only for a BINARYMIME body: the
	// unpipelined chunked path (sendChunked).
	{name: "chunking, no pipelining, BINARYMIME", exts: append(without("PIPELINING"), "BINARYMIME"),
		body: "Subject: binary\r\n\r\nnul \x00 here\r\n", data: "BDAT"},
}

func (m mode) msg() string {
	if m.body != "" {
		return m.body
	}
	return testBody
}

// pipelined says whether the client writes the envelope without waiting.
func (m mode) pipelined() bool {
	return !m.opts.DisablePipelining && (m.exts == nil || slices.Contains(m.exts, "PIPELINING"))
}

// wantCommands checks the server's command lines against prefixes, in
// order, with nothing else.
func wantCommands(t *testing.T, srv *smtptest.Server, prefixes ...string) {
	t.Helper()
	got := srv.Commands()
	ok := len(got) == len(prefixes)
	for i := 0; ok && i < len(got); i++ {
		ok = strings.HasPrefix(got[i], prefixes[i])
	}
	if !ok {
		t.Errorf("commands:\n  %s\nwant prefixes:\n  %s", strings.Join(got, "\n  "), strings.Join(prefixes, "\n  "))
	}
}

func TestAllDelivered(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := server(t, smtptest.Config{Extensions: m.exts})
			c := dial(t, ctx, srv.Addr, m.opts)
			to := []string{"a@example.org", "b@example.org", "c@example.org"}
			res, err := c.Send(ctx, testFrom, to, strings.NewReader(m.msg()))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := addrs(res.Recipients); !slices.Equal(got, to) {
				t.Fatalf("recipients %v, want %v", got, to)
			}
			for _, r := range res.Recipients {
				if !r.Accepted || r.Reply.Code != 250 || r.Data.Code != 250 || lmtp.OutcomeOf(r) != lmtp.Delivered {
					t.Errorf("%s: %+v, outcome %v; want accepted, RCPT 250, Data 250, delivered", r.Address, r, lmtp.OutcomeOf(r))
				}
				if want := "<" + r.Address + "> OK"; !strings.Contains(r.Data.Text, want) {
					t.Errorf("%s: Data %q is not the reply for it (want %q in it)", r.Address, r.Data.Text, want)
				}
			}
			if res.Data != res.Recipients[2].Data {
				t.Errorf("Result.Data = %v, want the last recipient's reply %v", res.Data, res.Recipients[2].Data)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 || !slices.Equal(msgs[0].To, to) || string(msgs[0].Data) != m.msg() {
				t.Fatalf("messages: %+v", msgs)
			}
			if msgs[0].Chunked != (m.data == "BDAT") {
				t.Errorf("message chunked = %v, want %v (sent with %s)", msgs[0].Chunked, !msgs[0].Chunked, m.data)
			}
			wantCmds := []string{"LHLO client.example.org", "MAIL FROM:<sender@example.net>",
				"RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>", m.data}
			wantCommands(t, srv, wantCmds...)
			// The session goes on.
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP after the transaction: %v", err)
			}
			if _, err := c.Quit(ctx); err != nil {
				t.Errorf("Quit: %v", err)
			}
		})
	}
}

// mixedConfig refuses r@ at RCPT and, after the data, gives b@ a 452
// and c@ a 550.
func mixedConfig(exts []string) smtptest.Config {
	return smtptest.Config{Extensions: exts, Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<r@", Reply: response.New(550, "5.1.1 No such user")},
		{Verb: smtptest.EndOfData, Match: "<b@", Reply: response.New(452, "4.2.2 Mailbox full")},
		{Verb: smtptest.EndOfData, Match: "<c@", Reply: response.New(550, "5.2.2 Over quota for good")},
	}}
}

var mixedTo = []string{"r@example.org", "a@example.org", "b@example.org", "c@example.org"}

func checkMixed(t *testing.T, res *session.Result) {
	t.Helper()
	if got := addrs(res.Recipients); !slices.Equal(got, mixedTo) {
		t.Fatalf("recipients %v, want %v", got, mixedTo)
	}
	want := []lmtp.Outcome{lmtp.Refused, lmtp.Delivered, lmtp.TemporaryFailure, lmtp.PermanentFailure}
	if got := outcomes(res.Recipients); !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if got, want := dataCodes(res.Recipients), []response.Code{0, 250, 452, 550}; !slices.Equal(got, want) {
		t.Errorf("Data codes %v, want %v", got, want)
	}
	r := res.Recipients
	if r[0].Accepted || r[0].Reply.Code != 550 || r[0].Reply.Enhanced.String() != "5.1.1" {
		t.Errorf("r@: %+v, want refused at RCPT with 550 5.1.1", r[0])
	}
	if r[2].Data.Enhanced.String() != "4.2.2" || r[3].Data.Enhanced.String() != "5.2.2" {
		t.Errorf("enhanced codes %v, %v; want 4.2.2, 5.2.2", r[2].Data.Enhanced, r[3].Data.Enhanced)
	}
	if refused := res.Refused(); len(refused) != 1 || refused[0].Address != "r@example.org" {
		t.Errorf("Refused() = %+v, want only r@", refused)
	}
	if res.Data != r[3].Data {
		t.Errorf("Result.Data = %v, want the last reply %v", res.Data, r[3].Data)
	}
}

func TestMixedOutcomes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := server(t, mixedConfig(m.exts))
			c := dial(t, ctx, srv.Addr, m.opts)
			res, err := c.Send(ctx, testFrom, mixedTo, strings.NewReader(m.msg()))
			if err != nil {
				t.Fatalf("Send: %v, want nil (partial delivery is no error)", err)
			}
			checkMixed(t, res)
			msgs := srv.Messages()
			if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"a@example.org"}) || string(msgs[0].Data) != m.msg() {
				t.Errorf("messages: %+v", msgs)
			}
			wantCommands(t, srv, "LHLO ", "MAIL FROM:<sender@example.net>",
				"RCPT TO:<r@", "RCPT TO:<a@", "RCPT TO:<b@", "RCPT TO:<c@", m.data)
			// Nothing is left unread: the next command gets its own reply.
			if r, err := c.Noop(ctx); err != nil || r.Code != 250 || !strings.Contains(r.Text, "OK") {
				t.Errorf("NOOP after the transaction = %v, %v", r, err)
			}
		})
	}
}

func TestTotalFailure(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := server(t, smtptest.Config{Extensions: m.exts, Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<r@", Reply: response.New(550, "5.1.1 No such user")},
				{Verb: smtptest.EndOfData, Match: "<x@", Reply: response.New(452, "4.2.2 Mailbox full")},
				{Verb: smtptest.EndOfData, Match: "<y@", Reply: response.New(451, "4.3.0 Try later")},
				{Verb: smtptest.EndOfData, Match: "<p@", Reply: response.New(554, "5.3.0 Broken")},
			}})
			c := dial(t, ctx, srv.Addr, m.opts)

			// Every accepted recipient fails temporarily.
			res, err := c.Send(ctx, testFrom, []string{"x@example.org", "r@example.org", "y@example.org"}, strings.NewReader(m.msg()))
			var de *lmtp.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Send = %v, %v; want a *lmtp.DeliveryError", res, err)
			}
			if res != nil {
				t.Errorf("result %+v returned with the error", res)
			}
			if de.Result == nil {
				t.Fatal("DeliveryError without a Result")
			}
			want := []lmtp.Outcome{lmtp.TemporaryFailure, lmtp.Refused, lmtp.TemporaryFailure}
			if got := outcomes(de.Result.Recipients); !slices.Equal(got, want) {
				t.Errorf("outcomes %v, want %v", got, want)
			}
			if got := dataCodes(de.Result.Recipients); !slices.Equal(got, []response.Code{452, 0, 451}) {
				t.Errorf("Data codes %v", got)
			}
			var re *response.Error
			if !errors.As(err, &re) || re.Code() != 452 || !re.Temporary() || re.Permanent() {
				t.Errorf("errors.As(*response.Error) = %v (%v); want the first failure, 452, temporary", re, err)
			}
			for _, s := range []string{"x@example.org", "y@example.org", "452", "451"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
			if strings.Contains(err.Error(), "r@example.org") {
				t.Errorf("error %q names the recipient refused at RCPT", err)
			}
			if msgs := srv.Messages(); len(msgs) != 0 {
				t.Errorf("messages recorded: %+v", msgs)
			}

			// A permanent failure first: the error unwraps to it.
			_, err = c.Send(ctx, testFrom, []string{"p@example.org", "x@example.org"}, strings.NewReader(m.msg()))
			if !errors.As(err, &de) || !errors.As(err, &re) || re.Code() != 554 || !re.Permanent() || re.Temporary() {
				t.Errorf("second Send: %v; want a *DeliveryError unwrapping to 554, permanent", err)
			}

			// The client is still usable and the server holds no
			// transaction: the next message goes through alone.
			res, err = c.Send(ctx, testFrom, []string{"z@example.org"}, strings.NewReader(m.msg()))
			if err != nil || res.Recipients[0].Data.Code != 250 {
				t.Fatalf("Send after the failures: %+v, %v", res, err)
			}
			if msgs := srv.Messages(); len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"z@example.org"}) {
				t.Errorf("messages: %+v", msgs)
			}
		})
	}
}

// scripted is a tiny LMTP server for what smtptest cannot do: it
// answers the envelope (550 for a recipient starting with "r"), reads the
// message (DATA or BDAT), sends answer per-recipient replies and closes
// the connection.
type scripted struct {
	Addr   string
	exts   []string
	answer int
	lines  chan []string // the lines of the first connection, once it ends
}

func startScripted(t *testing.T, exts []string, answer int) *scripted {
	t.Helper()
	s := &scripted{exts: exts, answer: answer, lines: make(chan []string, 1)}
	s.Addr = testfixture.Serve(t, func(_ *testfixture.Server, nc net.Conn) {
		select {
		case s.lines <- s.serve(nc):
		default: // a connection after the first
		}
	}).Addr
	return s
}

func (s *scripted) serve(nc net.Conn) []string {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	var seen, accepted []string
	say := func(lines ...string) {
		io.WriteString(nc, strings.Join(lines, "\r\n")+"\r\n")
	}
	say("220 scripted LMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return seen
		}
		line = strings.TrimRight(line, "\r\n")
		seen = append(seen, line)
		verb, arg, _ := strings.Cut(line, " ")
		dataDone := false
		switch strings.ToUpper(verb) {
		case "LHLO":
			replies := []string{"250-scripted"}
			for _, e := range s.exts {
				replies = append(replies, "250-"+e)
			}
			replies[len(replies)-1] = "250 " + replies[len(replies)-1][4:]
			say(replies...)
		case "MAIL":
			say("250 2.1.0 OK")
		case "RCPT":
			if strings.HasPrefix(strings.ToLower(arg), "to:<r") {
				say("550 5.1.1 No such user")
				continue
			}
			accepted = append(accepted, arg)
			say("250 2.1.5 OK")
		case "DATA":
			say("354 go ahead")
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return seen
				}
				if l == ".\r\n" {
					break
				}
			}
			dataDone = true
		case "BDAT":
			f := strings.Fields(arg)
			n, _ := strconv.Atoi(f[0])
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return seen
			}
			if len(f) < 2 {
				say("250 2.0.0 chunk OK")
				continue
			}
			dataDone = true
		case "QUIT":
			say("221 bye")
			return seen
		default:
			say("500 5.5.1 what?")
		}
		if dataDone {
			for i := 0; i < s.answer && i < len(accepted); i++ {
				say("250 2.0.0 " + accepted[i] + " Saved")
			}
			return seen // and close: the others are never answered
		}
	}
}

func TestMissingReplies(t *testing.T) {
	for _, m := range []struct {
		name string
		exts []string
		data string
	}{
		{"no pipelining", nil, "DATA"},
		{"pipelining", []string{"PIPELINING"}, "DATA"},
		{"pipelining+chunking", []string{"PIPELINING", "CHUNKING"}, "BDAT"},
	} {
		for _, answer := range []int{1, 0} {
			t.Run(fmt.Sprintf("%s/%d answered", m.name, answer), func(t *testing.T) {
				ctx := testCtx(t)
				srv := startScripted(t, m.exts, answer)
				c := dial(t, ctx, srv.Addr, session.Options{})
				to := []string{"a@example.org", "r@example.org", "b@example.org", "c@example.org"}
				res, err := c.Send(ctx, testFrom, to, strings.NewReader(testBody))
				var ue *lmtp.UnansweredError
				if !errors.As(err, &ue) {
					t.Fatalf("Send = %+v, %v; want a *lmtp.UnansweredError", res, err)
				}
				if res != nil {
					t.Errorf("a result came with the error: %+v", res)
				}
				wantMissing := []string{"a@example.org", "b@example.org", "c@example.org"}[answer:]
				if !slices.Equal(ue.Recipients, wantMissing) {
					t.Errorf("unanswered %v, want %v", ue.Recipients, wantMissing)
				}
				if ue.Err == nil || !errors.Is(err, session.ErrServerDisconnected) {
					t.Errorf("Err = %v; want the disconnection (session.ErrServerDisconnected)", ue.Err)
				}
				for _, a := range wantMissing {
					if !strings.Contains(err.Error(), a) {
						t.Errorf("error %q does not name %s", err, a)
					}
				}
				if ue.Result == nil {
					t.Fatal("UnansweredError without a Result")
				}
				want := []lmtp.Outcome{lmtp.Delivered, lmtp.Refused, lmtp.Unknown, lmtp.Unknown}
				if answer == 0 {
					want[0] = lmtp.Unknown
				}
				if got := outcomes(ue.Result.Recipients); !slices.Equal(got, want) {
					t.Errorf("outcomes %v, want %v", got, want)
				}
				for _, r := range ue.Result.Recipients {
					if slices.Contains(ue.Recipients, r.Address) && (r.Data.Positive() || lmtp.OutcomeOf(r) == lmtp.Delivered) {
						t.Errorf("unanswered %s reported delivered: %+v", r.Address, r)
					}
				}
				var lines []string
				select {
				case lines = <-srv.lines:
				case <-ctx.Done():
					t.Fatal("scripted server did not finish")
				}
				if len(lines) == 0 || !strings.HasPrefix(lines[0], "LHLO ") || !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, m.data) }) {
					t.Errorf("scripted server saw %q", lines)
				}
				// The connection is gone, and the Client says so.
				if _, err := c.Noop(ctx); err == nil {
					t.Error("NOOP after the disconnection succeeded")
				}
			})
		}
	}
}

func TestUnixSocket(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	srv := server(t, smtptest.Config{UnixSocket: path, Extensions: append(smtptest.DefaultExtensions(), "STARTTLS")})
	c := dial(t, ctx, path, session.Options{})
	res, err := c.Send(ctx, testFrom, []string{"a@example.org", "b@example.org"}, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(res.Recipients); !slices.Equal(got, []lmtp.Outcome{lmtp.Delivered, lmtp.Delivered}) {
		t.Errorf("outcomes %v", got)
	}
	if _, ok := c.TLS(); ok {
		t.Error("TLS on over the Unix socket in opportunistic mode")
	}
	if !c.Extensions().Has("STARTTLS") {
		t.Error("server did not offer STARTTLS: the test proves nothing")
	}
	for _, l := range srv.Commands() {
		if strings.HasPrefix(strings.ToUpper(l), "STARTTLS") {
			t.Errorf("STARTTLS attempted over a Unix socket: %v", srv.Commands())
		}
	}
	wantCommands(t, srv, "LHLO ", "MAIL ", "RCPT ", "RCPT ", "BDAT ")
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].TLS || string(msgs[0].Data) != testBody {
		t.Errorf("messages: %+v", msgs)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}
}

// With TLSRequired, the documented exception: STARTTLS over the socket.
func TestUnixSocketTLSRequired(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	srv := server(t, smtptest.Config{UnixSocket: path, Extensions: append(smtptest.DefaultExtensions(), "STARTTLS")})
	cfg := srv.ClientTLSConfig()
	cfg.ServerName = "localhost"
	c := dial(t, ctx, path, session.Options{TLS: session.TLSRequired, TLSConfig: cfg})
	if _, err := c.Send(ctx, testFrom, []string{"a@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.TLS(); !ok {
		t.Error("not on TLS with TLSRequired")
	}
	wantCommands(t, srv, "LHLO ", "STARTTLS", "LHLO ", "MAIL ", "RCPT ", "BDAT ")
	if msgs := srv.Messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Errorf("messages: %+v", msgs)
	}
}

func TestCommandSequences(t *testing.T) {
	// The exact lines, each mode: with PIPELINING the envelope and the
	// message go in one write, and the replies come in the same order.
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := server(t, mixedConfig(m.exts))
			c := dial(t, ctx, srv.Addr, m.opts)
			body := m.msg()
			if _, err := c.Send(ctx, testFrom, mixedTo, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			cmds := srv.Commands()
			if len(cmds) != 7 {
				t.Fatalf("commands %q", cmds)
			}
			wantMail := "MAIL FROM:<sender@example.net>"
			if m.exts == nil || slices.Contains(m.exts, "SIZE 10485760") {
				wantMail += " SIZE=" + strconv.Itoa(len(body))
			}
			if strings.Contains(body, "\x00") {
				wantMail += " BODY=BINARYMIME"
			}
			want := []string{"LHLO client.example.org", wantMail,
				"RCPT TO:<r@example.org>", "RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>"}
			if m.data == "BDAT" {
				want = append(want, "BDAT "+strconv.Itoa(len(body))+" LAST")
			} else {
				want = append(want, "DATA")
			}
			// SIZE and BODY order is the client's; compare as sets of words.
			for i := range want {
				if !slices.Equal(sorted(cmds[i]), sorted(want[i])) {
					t.Errorf("command %d = %q, want %q", i, cmds[i], want[i])
				}
			}
			// Pipelined: the envelope arrived in one read; not pipelined,
			// one read per command.
			reads := srv.Reads()
			var mailRead []byte
			for _, r := range reads {
				if strings.HasPrefix(string(r.Data), "MAIL ") {
					mailRead = r.Data
				}
			}
			if mailRead == nil {
				t.Fatalf("no read starts with MAIL: %+v", reads)
			}
			hasRcpts := strings.Contains(string(mailRead), "RCPT TO:<c@")
			if m.pipelined() != hasRcpts {
				t.Errorf("pipelined=%v, but the read with MAIL is %q", m.pipelined(), mailRead)
			}
		})
	}
}

func mailbox(s string) command.Mailbox {
	m, err := command.ParseMailbox(s)
	if err != nil {
		panic(err)
	}
	return m
}

func sorted(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func TestSendStreamMixed(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv := server(t, mixedConfig(m.exts))
			c := dial(t, ctx, srv.Addr, m.opts)
			mk := func(to ...string) *session.Message {
				env := session.Envelope{From: mailbox(testFrom)}
				for _, a := range to {
					env.To = append(env.To, mailbox(a))
				}
				return &session.Message{Envelope: env, Body: strings.NewReader(m.msg())}
			}
			msgs := []*session.Message{
				mk(mixedTo...),                       // mixed: partial success
				mk("c@example.org"),                  // its only recipient fails: *DeliveryError
				mk("a@example.org", "b@example.org"), // delivered and temporary failure
				mk("r@example.org"),                  // refused at RCPT
				mk("a@example.org"),                  // delivered
			}
			var results []*session.Result
			var errs []error
			for res, err := range c.SendStream(ctx, slices.Values(msgs)) {
				results = append(results, res)
				errs = append(errs, err)
			}
			if len(results) != len(msgs) {
				t.Fatalf("%d results for %d messages: %v", len(results), len(msgs), errs)
			}
			if errs[0] != nil {
				t.Fatalf("message 1: %v", errs[0])
			}
			checkMixed(t, results[0])
			var de *lmtp.DeliveryError
			if !errors.As(errs[1], &de) || lmtp.OutcomeOf(de.Result.Recipients[0]) != lmtp.PermanentFailure || de.Result.Recipients[0].Data.Code != 550 {
				t.Errorf("message 2: %v; want a *DeliveryError with c@ failed 550", errs[1])
			}
			if errs[2] != nil {
				t.Fatalf("message 3: %v", errs[2])
			}
			if got := outcomes(results[2].Recipients); !slices.Equal(got, []lmtp.Outcome{lmtp.Delivered, lmtp.TemporaryFailure}) {
				t.Errorf("message 3 outcomes %v", got)
			}
			if got := dataCodes(results[2].Recipients); !slices.Equal(got, []response.Code{250, 452}) {
				t.Errorf("message 3 Data codes %v", got)
			}
			var rr *session.RecipientsRefusedError
			if !errors.As(errs[3], &rr) {
				t.Errorf("message 4: %v; want *RecipientsRefusedError", errs[3])
			}
			if errs[4] != nil || len(results[4].Recipients) != 1 || lmtp.OutcomeOf(results[4].Recipients[0]) != lmtp.Delivered {
				t.Errorf("message 5: %+v, %v", results[4], errs[4])
			}
			got := srv.Messages()
			if len(got) != 3 || !slices.Equal(got[0].To, []string{"a@example.org"}) ||
				!slices.Equal(got[1].To, []string{"a@example.org"}) || !slices.Equal(got[2].To, []string{"a@example.org"}) {
				t.Errorf("server messages: %+v", got)
			}
			if r, err := c.Noop(ctx); err != nil || r.Code != 250 {
				t.Errorf("NOOP after the stream: %v, %v", r, err)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	ctx := testCtx(t)
	srv := server(t, smtptest.Config{
		Extensions: append(smtptest.DefaultExtensions(), "AUTH PLAIN"),
		Users:      map[string]string{"alice": "s3cret"},
	})
	c := dial(t, ctx, srv.Addr, session.Options{})
	if err := c.Login(ctx, "alice", "s3cret"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	res, err := c.Send(ctx, testFrom, []string{"a@example.org"}, strings.NewReader(testBody))
	if err != nil || lmtp.OutcomeOf(res.Recipients[0]) != lmtp.Delivered {
		t.Fatalf("Send: %+v, %v", res, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].AuthUser != "alice" {
		t.Errorf("messages: %+v", msgs)
	}
	wantCommands(t, srv, "LHLO ", "AUTH PLAIN ", "MAIL ", "RCPT ", "BDAT ")
}

func TestNoDefaultPort(t *testing.T) {
	ctx := testCtx(t)
	for _, addr := range []string{"127.0.0.1", "localhost", "[::1]"} {
		c, err := lmtp.Dial(ctx, addr, nil)
		var ce *session.ConnectError
		if c != nil || !errors.As(err, &ce) {
			t.Errorf("Dial(%q) = %v, %v; want a *session.ConnectError", addr, c, err)
			continue
		}
		var ae *transport.AddressError
		if !errors.As(err, &ae) {
			t.Errorf("Dial(%q): %v; want it to be about the address (*transport.AddressError), not a dial", addr, err)
		}
	}
	// Options saying SMTP or implicit TLS do not bring a default port.
	_, err := lmtp.Dial(ctx, "127.0.0.1", &session.Options{TLS: session.TLSImplicit})
	var ce *session.ConnectError
	if !errors.As(err, &ce) {
		t.Errorf("Dial with TLSImplicit: %v; want a *session.ConnectError", err)
	}
}

func TestHeloIsStateErrorAndLHLOSent(t *testing.T) {
	ctx := testCtx(t)
	srv := server(t, smtptest.Config{})
	c := dial(t, ctx, srv.Addr, session.Options{})
	r, err := c.Helo(ctx)
	var se *session.StateError
	if !errors.As(err, &se) || !errors.Is(err, session.ErrBadSequence) || r.Code != 0 {
		t.Fatalf("Helo = %v, %v; want a *session.StateError", r, err)
	}
	if err := c.Hello(ctx); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	cmds := srv.Commands()
	if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "LHLO ") {
		t.Errorf("commands %q; want only LHLO (Helo sends nothing)", cmds)
	}
	if !c.ESMTP() || !c.Extensions().Has("PIPELINING") {
		t.Errorf("LHLO's extensions not recorded: %v", c.Extensions().Keywords())
	}
	if r, err := c.Ehlo(ctx); err != nil || r.Code != 250 {
		t.Errorf("Ehlo (LHLO) again: %v, %v", r, err)
	}
	if cmds := srv.Commands(); len(cmds) != 2 || !strings.HasPrefix(cmds[1], "LHLO ") {
		t.Errorf("Ehlo in LMTP sent %q, want LHLO", cmds)
	}
}

// LMTP has no HELO: a refused LHLO is the error, with no fallback.
func TestLHLORefusedNoFallback(t *testing.T) {
	for _, code := range []response.Code{500, 502} {
		t.Run(strconv.Itoa(int(code)), func(t *testing.T) {
			ctx := testCtx(t)
			srv := server(t, smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "LHLO", Reply: response.New(code, "5.5.1 no")},
			}})
			c := dial(t, ctx, srv.Addr, session.Options{})
			_, err := c.Send(ctx, testFrom, []string{"a@example.org"}, strings.NewReader(testBody))
			var he *session.HelloError
			if !errors.As(err, &he) || he.Command != "LHLO" || he.Reply.Code != code {
				t.Errorf("Send: %v; want a *HelloError for LHLO", err)
			}
			if cmds := srv.Commands(); len(cmds) != 1 || !strings.HasPrefix(cmds[0], "LHLO ") {
				t.Errorf("commands %q; want LHLO alone", cmds)
			}
		})
	}
}

func TestNewClient(t *testing.T) {
	ctx := testCtx(t)
	srv := server(t, mixedConfig(nil))
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := lmtp.NewClient(ctx, nc, &session.Options{LocalName: "client.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Send(ctx, testFrom, mixedTo, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	checkMixed(t, res)
	if cmds := srv.Commands(); len(cmds) == 0 || cmds[0] != "LHLO client.example.org" {
		t.Errorf("commands %q", cmds)
	}
}

// The caller's Options are not changed by Dial setting LMTP.
func TestOptionsNotModified(t *testing.T) {
	ctx := testCtx(t)
	srv := server(t, smtptest.Config{})
	opts := &session.Options{LocalName: "client.example.org"}
	c, err := lmtp.Dial(ctx, srv.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if opts.LMTP {
		t.Error("Dial set LMTP in the caller's Options")
	}
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[lmtp.Outcome]string{
		lmtp.Refused: "refused", lmtp.Delivered: "delivered", lmtp.TemporaryFailure: "temporary failure",
		lmtp.PermanentFailure: "permanent failure", lmtp.Unknown: "unknown", lmtp.Outcome(99): "Outcome(?)",
	} {
		if got := o.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(o), got, want)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tt := range []struct {
		r    session.RecipientResult
		want lmtp.Outcome
	}{
		{session.RecipientResult{Accepted: false, Reply: response.New(550, "no")}, lmtp.Refused},
		{session.RecipientResult{Accepted: true}, lmtp.Unknown},
		{session.RecipientResult{Accepted: true, Data: response.New(250, "ok")}, lmtp.Delivered},
		{session.RecipientResult{Accepted: true, Data: response.New(452, "full")}, lmtp.TemporaryFailure},
		{session.RecipientResult{Accepted: true, Data: response.New(554, "no")}, lmtp.PermanentFailure},
	} {
		if got := lmtp.OutcomeOf(tt.r); got != tt.want {
			t.Errorf("OutcomeOf(%+v) = %v, want %v", tt.r, got, tt.want)
		}
	}
}

// The Client embeds *session.Client, so Mail, Rcpt and Data are there
// too. After Data's writer is closed, the session must not be left with
// the other recipients' replies unread (they would answer the next
// commands).
func TestLowLevelDataPerRecipientReplies(t *testing.T) {
	ctx := testCtx(t)
	srv := server(t, mixedConfig(nil))
	c := dial(t, ctx, srv.Addr, session.Options{})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mail(ctx, command.Mail{From: mailbox(testFrom)}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"a@example.org", "b@example.org"} {
		if _, err := c.Rcpt(ctx, command.Rcpt{To: mailbox(a)}); err != nil {
			t.Fatal(err)
		}
	}
	dw, err := c.Data(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(dw, testBody)
	closeErr := dw.Close()
	r, err := c.Noop(ctx)
	if err != nil || r.Code != 250 || !strings.Contains(r.Text, "2.0.0 OK") {
		t.Errorf("after DataWriter.Close (%v, reply %v), NOOP got %v, %v: the reply of another recipient, not NOOP's (the per-recipient replies are not all read)", closeErr, dw.Reply(), r, err)
	}
}

// Failures before the message are SMTP's, on every path, and leave the
// session usable.
func TestEnvelopeFailures(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testCtx(t)
			overrides := []smtptest.Override{
				{Verb: "MAIL", Match: "<bad@", Reply: response.New(550, "5.7.1 Sender refused")},
				{Verb: "RCPT", Match: "<r@", Reply: response.New(550, "5.1.1 No such user")},
			}
			if m.data == "DATA" {
				overrides = append(overrides, smtptest.Override{Verb: "DATA", Nth: 1, Reply: response.New(554, "5.3.0 No data today")})
			}
			srv := server(t, smtptest.Config{Extensions: m.exts, Overrides: overrides})
			c := dial(t, ctx, srv.Addr, m.opts)
			send := func(from string, to ...string) (*session.Result, error) {
				return c.Send(ctx, from, to, strings.NewReader(m.msg()))
			}

			// First, so that DATA's override (Nth: 1) meets this DATA
			// whether or not the refused transactions below pipeline one.
			if m.data == "DATA" {
				_, err := send(testFrom, "a@example.org", "b@example.org")
				var de *session.DataError
				if !errors.As(err, &de) || de.Command != "DATA" || de.Reply.Code != 554 {
					t.Errorf("DATA refused: %v", err)
				}
			}
			_, err := send("bad@example.net", "a@example.org")
			var sr *session.SenderRefusedError
			if !errors.As(err, &sr) || sr.Reply.Code != 550 {
				t.Errorf("refused sender: %v", err)
			}
			_, err = send(testFrom, "r@example.org")
			var rr *session.RecipientsRefusedError
			if !errors.As(err, &rr) {
				t.Errorf("every recipient refused: %v", err)
			}
			res, err := send(testFrom, "a@example.org", "b@example.org")
			if err != nil || !slices.Equal(outcomes(res.Recipients), []lmtp.Outcome{lmtp.Delivered, lmtp.Delivered}) {
				t.Fatalf("Send after the failures: %+v, %v", res, err)
			}
			if msgs := srv.Messages(); len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"a@example.org", "b@example.org"}) {
				t.Errorf("messages: %+v", msgs)
			}
		})
	}
}

// A server that breaks while the per-recipient replies are due: every
// recipient without its reply is unanswered, never delivered.
func TestBrokenPerRecipientReplies(t *testing.T) {
	to := []string{"a@example.org", "b@example.org", "c@example.org"}
	for _, tt := range []struct {
		name    string
		cfg     smtptest.Config
		opts    session.Options
		missing []string
		is      func(error) bool
	}{
		{"closed at the first", smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt(smtptest.EndOfData)}},
			session.Options{}, to, func(err error) bool { return errors.Is(err, session.ErrServerDisconnected) }},
		{"stalled", smtptest.Config{Faults: []smtptest.Fault{smtptest.StallAt(smtptest.EndOfData, 0)}},
			session.Options{Timeouts: session.Timeouts{DataEnd: 200 * time.Millisecond}}, to,
			func(err error) bool { var te *session.TimeoutError; return errors.As(err, &te) }},
		{"354 for the second", smtptest.Config{Overrides: []smtptest.Override{
			{Verb: smtptest.EndOfData, Match: "<b@", Reply: response.New(354, "what?")}}},
			session.Options{}, to[1:], func(err error) bool { var ue *session.UnexpectedReplyError; return errors.As(err, &ue) }},
		{"garbage for the first", smtptest.Config{Faults: []smtptest.Fault{smtptest.GarbageAt(smtptest.EndOfData, []byte("hello\r\n"))}},
			session.Options{}, to, func(err error) bool { return err != nil }},
	} {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				ctx := testCtx(t)
				cfg := tt.cfg
				cfg.Extensions = m.exts
				srv := server(t, cfg)
				opts := tt.opts
				opts.DisableChunking, opts.DisablePipelining = m.opts.DisableChunking, m.opts.DisablePipelining
				c := dial(t, ctx, srv.Addr, opts)
				res, err := c.Send(ctx, testFrom, to, strings.NewReader(m.msg()))
				var ue *lmtp.UnansweredError
				if !errors.As(err, &ue) {
					t.Fatalf("Send = %+v, %v; want *lmtp.UnansweredError", res, err)
				}
				if !slices.Equal(ue.Recipients, tt.missing) {
					t.Errorf("unanswered %v, want %v", ue.Recipients, tt.missing)
				}
				if !tt.is(ue.Err) {
					t.Errorf("Err = %v (%T)", ue.Err, ue.Err)
				}
				for _, r := range ue.Result.Recipients {
					if slices.Contains(tt.missing, r.Address) && lmtp.OutcomeOf(r) != lmtp.Unknown {
						t.Errorf("%s: outcome %v, want unknown", r.Address, lmtp.OutcomeOf(r))
					}
				}
				if _, err := c.Noop(ctx); err == nil {
					t.Error("session still in use after the per-recipient replies broke off")
				}
			})
		}
	}
}
