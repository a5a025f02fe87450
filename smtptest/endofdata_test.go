package smtptest

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// bareLF are the endings of a server that reads a bare LF as a line end
// (Postfix with smtpd_forbid_bare_newline = no).
var bareLF = []string{"\n.\n", "\n.\r\n"}

// smuggled is a second transaction, written after a lookalike ending.
const smuggled = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n"

// sendData opens a transaction, sends body after the 354 and returns the
// client, ready to read what follows.
func sendData(t *testing.T, s *Server, body string) *client {
	t.Helper()
	c := start(t, s)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("DATA", "354")
	c.send(body)
	return c
}

func TestEndOfDataVerdicts(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     Config
		body    string
		replies []string // after the 354, before QUIT's 221
		closed  bool     // the server closed the connection after them
		datas   []string // Data of the messages recorded
	}{
		{"strict: LF.LF is data", Config{}, "a\n.\n" + smuggled,
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\n.\n" + strings.TrimSuffix(smuggled, ".\r\n")}},
		{"strict with BareNewlineData set explicitly", Config{BareNewline: BareNewlineData, DataEndings: []string{}}, "a\r\n..b\r\n.\r\n",
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\r\n.b\r\n"}},
		{"bare LF: LF.LF ends the data", Config{DataEndings: bareLF}, "a\n.\n" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"a\n", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"bare LF: CRLF.LF ends the data", Config{DataEndings: bareLF}, "a\r\n.\n" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"a\r\n", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"bare LF: LF.CRLF ends the data", Config{DataEndings: bareLF}, "a\n.\r\n" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"a\n", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"bare LF: CR.CR is data", Config{DataEndings: bareLF}, "a\r.\r" + smuggled,
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\r.\r" + strings.TrimSuffix(smuggled, ".\r\n")}},
		{"bare LF: a stuffed dot after LF is data", Config{DataEndings: bareLF}, "a\n..\nb\r\n.\r\n",
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\n..\nb\r\n"}},
		{"bare CR: CR.CR ends the data", Config{DataEndings: []string{"\r.\r"}}, "a\r.\r" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"a\r", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"NUL before the dot ends the data", Config{DataEndings: []string{"\n\x00.\n"}}, "a\n\x00.\n" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"a\n", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"an ending at the very start", Config{DataEndings: bareLF}, ".\n" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"reject: LF.LF refused at the real end", Config{BareNewline: BareNewlineReject}, "a\n.\n" + smuggled,
			[]string{"550 5.5.2 Error: bare <CR> or <LF> received"}, false, nil},
		{"reject: bare CR refused", Config{BareNewline: BareNewlineReject}, "a\rb\r\n.\r\n",
			[]string{"550 5.5.2"}, false, nil},
		{"reject: CRLF only is accepted", Config{BareNewline: BareNewlineReject}, "a\r\nb\r\n.\r\n",
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\r\nb\r\n"}},
		{"reject with bare-LF endings: refused, then the smuggled one answered", Config{BareNewline: BareNewlineReject, DataEndings: bareLF}, "a\n.\n" + smuggled,
			[]string{"550 5.5.2", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"Subject: smuggled\r\n\r\nhi\r\n"}},
		{"disconnect: LF.LF closes", Config{BareNewline: BareNewlineDisconnect}, "a\n.\n" + smuggled,
			[]string{"521 5.5.2 smtptest.localhost Error: bare <CR> or <LF> received"}, true, nil},
		{"disconnect: CR.CR closes", Config{BareNewline: BareNewlineDisconnect}, "a\r.\r" + smuggled,
			[]string{"521 5.5.2"}, true, nil},
		{"disconnect: a CR at the end of the data is bare", Config{BareNewline: BareNewlineDisconnect, DataEndings: []string{"\r\n.\r"}}, "a\r\n.\rQUIT\r\n",
			[]string{"521 5.5.2"}, true, nil},
		{"disconnect: CRLF only is accepted", Config{BareNewline: BareNewlineDisconnect}, "a\r\n.\r\n",
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\r\n"}},
		{"CRLF.CR: the strict ending is longer, so it wins", Config{DataEndings: []string{"\r\n.\r"}}, "a\r\n.\r\n",
			[]string{"250 2.0.0 OK queued"}, false, []string{"a\r\n"}},
		{"CRLF.CR ends the data before other bytes", Config{DataEndings: []string{"\r\n.\r"}}, "a\r\n.\r" + smuggled,
			[]string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"}, false,
			[]string{"a\r\n", "Subject: smuggled\r\n\r\nhi\r\n"}},
		{"size limit with endings", Config{DataEndings: bareLF, MaxMessageSize: 4}, "abcdefgh\n.\n",
			[]string{"552 5.3.4 Message too big"}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			c := sendData(t, s, tt.body)
			for _, want := range tt.replies {
				c.expect(want)
			}
			if tt.closed {
				c.expectClosed()
			} else {
				c.cmd("QUIT", "221")
			}
			s.Close()
			msgs := s.Messages()
			var datas []string
			for _, m := range msgs {
				datas = append(datas, string(m.Data))
			}
			if fmt.Sprintf("%q", datas) != fmt.Sprintf("%q", tt.datas) {
				t.Errorf("messages' data %q, want %q", datas, tt.datas)
			}
		})
	}
}

// TestEndOfDataRawIsWhatCarriedTheData checks Raw: everything after the 354
// through the ending that was taken, not a byte of what follows.
func TestEndOfDataRawIsWhatCarriedTheData(t *testing.T) {
	s := newServer(t, Config{DataEndings: bareLF})
	c := sendData(t, s, "x\r\n..y\n.\r\nNOOP\r\n")
	c.expect("250 2.0.0 OK queued")
	c.expect("250 2.0.0 OK")
	c.cmd("QUIT", "221")
	s.Close()
	m := s.Messages()
	if len(m) != 1 || string(m[0].Raw) != "x\r\n..y\n.\r\n" || string(m[0].Data) != "x\r\n.y\n" {
		t.Fatalf("messages %+v, want Raw %q, Data %q", m, "x\r\n..y\n.\r\n", "x\r\n.y\n")
	}
}

// TestEndOfDataByteAtATime sends the data one octet per write, so that
// endings and bare CRs are split across reads.
func TestEndOfDataByteAtATime(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		body string
		want []string
	}{
		{"strict ending with a CRLF.CR emulation", Config{DataEndings: []string{"\r\n.\r"}}, "a\r\n.\r\nNOOP\r\n", []string{"250 2.0.0 OK queued", "250 2.0.0 OK"}},
		{"LF.LF", Config{DataEndings: bareLF}, "a\n.\nNOOP\r\n", []string{"250 2.0.0 OK queued", "250 2.0.0 OK"}},
		{"CRLF then reject", Config{BareNewline: BareNewlineReject}, "a\r\nb\r\n.\r\nNOOP\r\n", []string{"250 2.0.0 OK queued", "250 2.0.0 OK"}},
		{"a CR then LF is no bare CR", Config{BareNewline: BareNewlineDisconnect}, "a\r\n.\r\nNOOP\r\n", []string{"250 2.0.0 OK queued", "250 2.0.0 OK"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			c := sendData(t, s, "")
			for i := range len(tt.body) {
				c.send(tt.body[i : i+1])
				time.Sleep(time.Millisecond)
			}
			for _, want := range tt.want {
				c.expect(want)
			}
			c.cmd("QUIT", "221")
		})
	}
}

// TestEndOfDataWaitsWithinDataTimeout: bytes that may still become an
// ending are waited for only until DataTimeout.
func TestEndOfDataWaitsWithinDataTimeout(t *testing.T) {
	s := newServer(t, Config{DataEndings: []string{"\r\n.\r"}, DataTimeout: 200 * time.Millisecond})
	c := sendData(t, s, "a\r\n.")
	c.expect("421 4.4.2")
	c.expectClosed()
}

// TestEndOfDataLMTPReject: in LMTP mode a refused message gets one reply
// per accepted recipient.
func TestEndOfDataLMTPReject(t *testing.T) {
	s := newServer(t, Config{LMTP: true, BareNewline: BareNewlineReject})
	c := start(t, s)
	c.cmd("LHLO client.example", "250")
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("RCPT TO:<c@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("a\nb\r\n.\r\n")
	c.expect("550 5.5.2")
	c.expect("550 5.5.2")
	c.cmd("NOOP", "250")
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("%d messages recorded, want none", n)
	}
}

// TestEndOfDataOverride: an Override of EndOfData still applies to a
// message ended by a lookalike.
func TestEndOfDataOverride(t *testing.T) {
	s := newServer(t, Config{DataEndings: bareLF, Overrides: []Override{{Verb: EndOfData, Nth: 1, Reply: response.New(554, "5.6.0 no")}}})
	c := sendData(t, s, "a\n.\n"+smuggled)
	for _, want := range []string{"554 5.6.0 no", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 OK queued"} {
		c.expect(want)
	}
	c.cmd("QUIT", "221")
}

func TestDataEndingsTooLongPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewServer accepted an ending longer than MaxDataEnding")
		}
	}()
	s := NewServer(Config{DataEndings: []string{strings.Repeat("\n", MaxDataEnding+1)}})
	s.Close()
}

func TestFindEnding(t *testing.T) {
	endings := [][]byte{[]byte("\r\n.\r\n"), []byte("\r\n.\r"), []byte("\n.\n")}
	for _, tt := range []struct {
		buf               string
		from              int
		start, end, next_ int
	}{
		{"ab", 0, 0, 0, 2},
		{"ab\r\n.", 0, 0, 0, 2},      // may still become either CRLF ending
		{"ab\r\n.\r", 0, 0, 0, 2},    // CRLF.CR matched, CRLF.CRLF may follow
		{"ab\r\n.\rx", 0, 2, 6, 2},   // CRLF.CR
		{"ab\r\n.\r\nx", 0, 2, 7, 2}, // the longest wins
		{"a\n.\nb", 0, 1, 4, 1},
		{"\r\n.x", 0, 0, 0, 4},
		{"\r\n.\r\n", 3, 0, 0, 3}, // "\r\n" may start an ending
	} {
		start, end, next := findEnding([]byte(tt.buf), tt.from, 2, endings)
		if start != tt.start || end != tt.end || next != tt.next_ {
			t.Errorf("findEnding(%q, %d) = %d, %d, %d; want %d, %d, %d", tt.buf, tt.from, start, end, next, tt.start, tt.end, tt.next_)
		}
	}
}

// TestEndingInsideTheLineStart is the regression test of a crash the
// fuzzer found: an ending ("\r") that fits in the line end standing for
// the start of the data matched there, before any octet was read, and
// the message was cut out of bounds.
func TestEndingInsideTheLineStart(t *testing.T) {
	for _, ending := range []string{"\r", "\r\n", "\n"} {
		s := newServer(t, Config{DataEndings: []string{ending}})
		c := sendData(t, s, "b\r\n.\r\nNOOP\r\n")
		c.expect("250 2.0.0 OK queued")
		for {
			if r := c.reply(); r.Code == response.CodeOK && r.Text == "2.0.0 OK" {
				break // NOOP's: what came between answered the rest of the data
			}
		}
		c.cmd("QUIT", "221")
		s.Close()
		if m := s.Messages(); len(m) != 1 || !strings.HasPrefix(string(m[0].Raw), "b") {
			t.Errorf("ending %q: messages %+v, want one starting with the data", ending, m)
		}
	}
	if _, end, _ := findEnding([]byte("\r\nb"), 0, 2, [][]byte{[]byte("\r")}); end != 0 {
		t.Errorf("findEnding matched %q inside the line start", "\r")
	}
}

// TestEndingAfterALoneDot is the regression test of a crash the fuzzer
// found: data that is only "." before an ending (here "0") was decoded as
// an empty message, and cut short of nothing.
func TestEndingAfterALoneDot(t *testing.T) {
	s := newServer(t, Config{DataEndings: []string{"0"}})
	c := sendData(t, s, ".0\r\nNOOP\r\n")
	c.expect("250 2.0.0 OK queued")
	c.expect("500")          // the CRLF after the ending, as a command line
	c.expect("250 2.0.0 OK") // NOOP's
	c.cmd("QUIT", "221")
	s.Close()
	if m := s.Messages(); len(m) != 1 || len(m[0].Data) != 0 || string(m[0].Raw) != ".0" {
		t.Errorf("messages %+v, want one with no data, Raw \".0\"", m)
	}
}

func TestFindBare(t *testing.T) {
	for _, tt := range []struct {
		buf   string
		final bool
		next  int
		found bool
	}{
		{"\r\nab\r\n", false, 6, false},
		{"\r\na\nb", false, 5, true},
		{"\r\na\rb", false, 5, true},
		{"\r\na\r", false, 3, false},
		{"\r\na\r", true, 4, true},
	} {
		next, found := findBare([]byte(tt.buf), 2, tt.final)
		if next != tt.next || found != tt.found {
			t.Errorf("findBare(%q, %v) = %d, %v; want %d, %v", tt.buf, tt.final, next, found, tt.next, tt.found)
		}
	}
}

func TestBareNewlineString(t *testing.T) {
	for b, want := range map[BareNewline]string{BareNewlineData: "BareNewlineData", BareNewlineReject: "BareNewlineReject", BareNewlineDisconnect: "BareNewlineDisconnect", 7: "BareNewline(7)"} {
		if got := b.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(b), got, want)
		}
	}
}

// FuzzEmulatedEndOfData sends arbitrary data after DATA to three servers:
// the strict one (wire.DotReader), one that refuses bare CR and LF (read
// by the emulation, with only <CRLF>.<CRLF> ending the data), and one
// that also ends the data at a fuzzed lookalike. All must answer with
// well-formed replies and end; the second must record exactly the
// messages of the first that hold no bare CR or LF, with the same Data and
// Raw.
func FuzzEmulatedEndOfData(f *testing.F) {
	for _, s := range []string{"a\r\n..b\r\nc", "", ".", "\r\n.\r", "x\n.\ny", "a\r.\rb", "a\n\x00.\n", "a\r\n.\r\nNOOP\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nz"} {
		f.Add(s, "\n.\n")
		f.Add(s, "\r.\r")
	}
	f.Fuzz(func(t *testing.T, body, ending string) {
		if ending == "" || len(ending) > MaxDataEnding {
			ending = "\n.\n"
		}
		input := "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + body + "\r\n.\r\nQUIT\r\n"
		strict := NewServer(Config{})
		defer strict.Close()
		refusing := NewServer(Config{BareNewline: BareNewlineReject})
		defer refusing.Close()
		lookalike := NewServer(Config{DataEndings: []string{ending}})
		defer lookalike.Close()
		for _, s := range []*Server{strict, refusing, lookalike} {
			talk(t, s, input)
			s.Close()
		}
		var want []Message
		for _, m := range strict.Messages() {
			if _, bare := findBare(append([]byte("\r\n"), m.Raw...), 2, true); !bare {
				want = append(want, m)
			}
		}
		got := refusing.Messages()
		if len(got) != len(want) {
			t.Fatalf("%d messages recorded, want %d", len(got), len(want))
		}
		for i := range got {
			if string(got[i].Data) != string(want[i].Data) || string(got[i].Raw) != string(want[i].Raw) {
				t.Errorf("message %d: Data %q Raw %q, want %q %q", i, got[i].Data, got[i].Raw, want[i].Data, want[i].Raw)
			}
		}
	})
}

// talk sends input to s, closes its sending side and reads every reply
// until the server closes the connection: they must be well-formed and
// come within 5 s.
func talk(t *testing.T, s *Server, input string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		conn.Write([]byte(input))
		conn.(*net.TCPConn).CloseWrite()
	}()
	r := wire.NewReader(conn)
	for {
		_, err := r.ReadReply()
		if err == io.EOF || err != nil && strings.Contains(err.Error(), "connection reset") {
			return
		}
		if err != nil {
			t.Fatalf("reading replies: %v", err)
		}
	}
}
