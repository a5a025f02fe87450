package sink

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/fuzz"
	smtpwire "github.com/smtpkit/smtpkit/wire"
)

func start(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dial connects and reads the greeting.
func dial(t *testing.T, s *Sink) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting %q, %v", line, err)
	}
	return c, br
}

// replies reads n reply lines (single-line replies) and returns their codes.
func replies(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var codes []string
	for len(codes) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %v: %v", codes, err)
		}
		if len(line) >= 4 && line[3] == ' ' {
			codes = append(codes, line[:3])
		}
	}
	return codes
}

func TestNetSMTP(t *testing.T) {
	s := start(t, Config{})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "CHUNKING", "8BITMIME"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not offered", ext)
		}
	}
	body := "Subject: hi\r\n\r\n.leading dot\r\n..two\r\n.\r\nlast\r\n"
	for i := 0; i < 3; i++ {
		if err := c.Mail("a@example.org"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@example.org"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("c@example.org"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if got := s.Messages(); got != 3 {
		t.Errorf("Messages = %d, want 3", got)
	}
	if got, want := s.Octets(), int64(3*len(body)); got != want {
		t.Errorf("Octets = %d, want %d", got, want)
	}
	if got := s.Refused(); got != 0 {
		t.Errorf("Refused = %d", got)
	}
}

// TestPipelinedGroupOneWrite: a group sent in one write is answered in
// one write, which arrives whole in one read on loopback.
func TestPipelinedGroupOneWrite(t *testing.T) {
	s := start(t, Config{})
	c, br := dial(t, s)
	group := "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabcRSET\r\nmail from:<>\r\nrcpt to:<g@h>\r\nbdat 0 last\r\nNOOP\r\n"
	if _, err := io.WriteString(c, group); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := br.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "250-sink.invalid\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n" +
		strings.Repeat("250 OK\r\n", 10)
	if got := string(buf[:n]); got != want {
		t.Fatalf("first read %q, want %q", got, want)
	}
	if s.Messages() != 2 || s.Octets() != 8 || s.Refused() != 0 {
		t.Errorf("messages %d octets %d refused %d, want 2, 8, 0", s.Messages(), s.Octets(), s.Refused())
	}
}

func TestDataPipelined(t *testing.T) {
	s := start(t, Config{})
	c, br := dial(t, s)
	// DATA's 354 goes out at once when nothing follows it.
	io.WriteString(c, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
	replies(t, br, 4)
	// Message, end of data and the next transaction in one write.
	io.WriteString(c, "..x\r\nplain\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
	if got := strings.Join(replies(t, br, 4), " "); got != "250 250 250 354" {
		t.Fatalf("replies %s", got)
	}
	// A line longer than the read buffer, with a dot after its middle,
	// is message data, not the end.
	long := strings.Repeat("a", readBufSize+10) + ".\r\n"
	io.WriteString(c, long+".\r\nQUIT\r\n")
	if got := strings.Join(replies(t, br, 2), " "); got != "250 221" {
		t.Fatalf("replies %s", got)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after QUIT: %v, want EOF", err)
	}
	if got, want := s.Octets(), int64(len(".x\r\nplain\r\n")+len(long)); s.Messages() != 2 || got != want {
		t.Errorf("messages %d octets %d, want 2, %d", s.Messages(), got, want)
	}
}

func TestRefusals(t *testing.T) {
	s := start(t, Config{MaxCommandLineLength: 100})
	c, br := dial(t, s)
	cmds := []struct{ line, code string }{
		{"RCPT TO:<a@b>", "503"}, // no MAIL
		{"DATA", "503"},
		{"MAIL TO:<a@b>", "501"},
		{"MAIL FROM:<a@b>", "250"},
		{"MAIL FROM:<a@b>", "503"}, // nested
		{"DATA", "503"},            // no RCPT
		{"XYZZY", "500"},
		{"VRFY a", "502"},
		{"NOOP " + strings.Repeat("x", 200), "500"},   // too long
		{"NOOP " + strings.Repeat("x", 70000), "500"}, // longer than the buffer
		{"BDAT x", "501"},
		{"BDAT 3 FIRST", "501"},
		{"NOOP", "250"},
	}
	var all bytes.Buffer
	for _, c := range cmds {
		all.WriteString(c.line + "\r\n")
	}
	go c.Write(all.Bytes())
	got := replies(t, br, len(cmds))
	for i, c := range cmds {
		if got[i] != c.code {
			t.Errorf("%.20q: %s, want %s", c.line, got[i], c.code)
		}
	}
	if got, want := s.Refused(), int64(len(cmds)-2); got != want {
		t.Errorf("Refused = %d, want %d", got, want)
	}
	if s.Messages() != 0 {
		t.Errorf("Messages = %d", s.Messages())
	}
}

func TestWithoutExtensions(t *testing.T) {
	s := start(t, Config{NoPipelining: true, NoChunking: true, Hostname: "h.example"})
	c, br := dial(t, s)
	io.WriteString(c, "EHLO x\r\n")
	var ehlo []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		ehlo = append(ehlo, line)
		if line[3] == ' ' {
			break
		}
	}
	if got, want := strings.Join(ehlo, ""), "250-h.example\r\n250 8BITMIME\r\n"; got != want {
		t.Errorf("EHLO reply %q, want %q", got, want)
	}
	// BDAT is refused, and its octets are skipped rather than taken for
	// commands.
	io.WriteString(c, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
	if got := strings.Join(replies(t, br, 4), " "); got != "250 250 502 250" {
		t.Fatalf("replies %s", got)
	}
	if s.Messages() != 0 {
		t.Errorf("Messages = %d", s.Messages())
	}
}

// TestCloseWaits: Close ends open sessions and returns once they are gone.
func TestCloseWaits(t *testing.T) {
	s, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	io.WriteString(conns[0], "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\npartial")
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("reading to the end: %v", err)
		}
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Error("still accepting after Close")
	}
	if s.Messages() != 0 {
		t.Errorf("Messages = %d: a message without its end was counted", s.Messages())
	}
}

// TestNoAllocsPerMessage: the sink's steady state allocates nothing, so a
// benchmark's allocations per message are the client's.
func TestNoAllocsPerMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-free but slow-ish")
	}
	s := start(t, Config{})
	c, br := dial(t, s)
	var group bytes.Buffer
	const perRun = 50
	for i := 0; i < perRun; i++ {
		group.WriteString("MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<b@example.org>\r\nBDAT 1024 LAST\r\n")
		group.Write(bytes.Repeat([]byte("x"), 1024))
		group.WriteString("RSET\r\n")
	}
	want := perRun * 4 * len(replyOK)
	buf := make([]byte, want)
	run := func() {
		if _, err := c.Write(group.Bytes()); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
	}
	run() // warm up
	allocs := testing.AllocsPerRun(20, run)
	if allocs > 5 { // a few for the runtime's own work, none per message
		t.Errorf("%.1f allocations per %d messages", allocs, perRun)
	}
	if got := s.Messages(); got != 21*perRun+perRun {
		// AllocsPerRun runs once more than asked, to warm up.
		t.Errorf("Messages = %d, want %d", got, 22*perRun)
	}
}

// chunkReader hands out its data a few octets at a time, so that every
// split of a message across reads is tried.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rng.IntN(7))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestReadDataSplits: whatever the reads look like, the sink finds the
// end of data, removes exactly the stuffed dots and leaves what follows.
// The bodies are package fuzz's (dot lines, every end-of-data lookalike,
// bare CR and LF), encoded by wire.DotWriter; the sink must count the
// message as fuzz.Normalise has it.
func TestReadDataSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	bodies := fuzz.Body()
	for i := range 2000 {
		body := bodies.Example(i)
		msg := fuzz.Normalise(body)
		var enc bytes.Buffer
		dw := smtpwire.NewDotWriter(&enc)
		dw.Write(body)
		dw.Close()
		wire := append(enc.Bytes(), "NEXT"...)
		ss := &session{br: bufio.NewReaderSize(&chunkReader{data: wire, rng: rng}, 16)}
		if err := ss.readData(); err != nil {
			t.Fatalf("%d: %q: %v", i, wire, err)
		}
		if ss.octets != int64(len(msg)) {
			t.Fatalf("%d: %q: %d octets, want %d", i, wire, ss.octets, len(msg))
		}
		if rest, _ := io.ReadAll(ss.br); string(rest) != "NEXT" {
			t.Fatalf("%d: %q: left %q", i, wire, rest)
		}
	}
}

func TestLMTPUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	s := start(t, Config{LMTP: true, Unix: path})
	if s.Addr() != path {
		t.Fatalf("Addr = %q, want %q", s.Addr(), path)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); line != "220 sink.invalid LMTP sink\r\n" {
		t.Fatalf("greeting %q", line)
	}
	// EHLO and HELO are SMTP's: refused. LHLO gets the extensions.
	io.WriteString(c, "EHLO x\r\nHELO x\r\nLHLO x\r\n")
	if got := strings.Join(replies(t, br, 3), " "); got != "500 500 250" {
		t.Fatalf("replies %s", got)
	}
	// DATA: one reply per recipient; BDAT LAST too.
	io.WriteString(c, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\n")
	replies(t, br, 5)
	io.WriteString(c, "..hi\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nBDAT 4\r\nabcdBDAT 2 LAST\r\nef")
	// Three for the first message's recipients; MAIL, two RCPTs, the
	// first chunk, and two for the second's.
	if got := strings.Join(replies(t, br, 3+6), " "); got != "250 250 250 250 250 250 250 250 250" {
		t.Fatalf("replies %s", got)
	}
	io.WriteString(c, "NOOP\r\nQUIT\r\n")
	if got := strings.Join(replies(t, br, 2), " "); got != "250 221" {
		t.Fatalf("replies %s", got)
	}
	if s.Messages() != 2 || s.Recipients() != 5 || s.Octets() != int64(len(".hi\r\n")+6) || s.Refused() != 2 {
		t.Errorf("messages %d recipients %d octets %d refused %d, want 2, 5, %d, 2",
			s.Messages(), s.Recipients(), s.Octets(), s.Refused(), len(".hi\r\n")+6)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

// TestSMTPRefusesLHLO: LHLO is LMTP's only.
func TestSMTPRefusesLHLO(t *testing.T) {
	s := start(t, Config{})
	c, br := dial(t, s)
	io.WriteString(c, "LHLO x\r\n")
	if got := strings.Join(replies(t, br, 1), " "); got != "500" {
		t.Fatalf("replies %s", got)
	}
}

// TestLargeMessages: megabytes of DATA with dot lines, and of BDAT, are
// counted octet for octet, with many recipients.
func TestLargeMessages(t *testing.T) {
	s := start(t, Config{})
	c, br := dial(t, s)
	var msg bytes.Buffer
	for i := 0; msg.Len() < 3<<20; i++ {
		if i%100 == 0 {
			msg.WriteString(".")
		}
		msg.WriteString(strings.Repeat("x", 75) + "\r\n")
	}
	stuffed := append([]byte("."), bytes.ReplaceAll(msg.Bytes(), []byte("\n."), []byte("\n.."))...) // it starts with a dot
	var env bytes.Buffer
	env.WriteString("EHLO x\r\nMAIL FROM:<a@b>\r\n")
	for i := range 100 {
		fmt.Fprintf(&env, "RCPT TO:<r%d@example.org>\r\n", i)
	}
	go func() {
		c.Write(env.Bytes())
		io.WriteString(c, "DATA\r\n")
		c.Write(stuffed)
		io.WriteString(c, ".\r\n")
		c.Write(env.Bytes()[len("EHLO x\r\n"):])
		fmt.Fprintf(c, "BDAT %d LAST\r\n", msg.Len())
		c.Write(msg.Bytes())
		io.WriteString(c, "QUIT\r\n")
	}()
	if got := replies(t, br, 1+1+100+1+1+1+100+1+1); got[len(got)-1] != "221" {
		t.Fatalf("replies %v", got)
	}
	if s.Messages() != 2 || s.Recipients() != 200 || s.Octets() != 2*int64(msg.Len()) || s.Refused() != 0 {
		t.Errorf("messages %d recipients %d octets %d refused %d, want 2, 200, %d, 0",
			s.Messages(), s.Recipients(), s.Octets(), s.Refused(), 2*msg.Len())
	}
}

// TestNoAllocsPerMessageDataLMTP: DATA with dot-unstuffing, several
// recipients and LMTP's reply per recipient allocate nothing either.
func TestNoAllocsPerMessageDataLMTP(t *testing.T) {
	if testing.Short() {
		t.Skip("timing-free but slow-ish")
	}
	s := start(t, Config{LMTP: true, Unix: filepath.Join(t.TempDir(), "s")})
	c, err := net.Dial("unix", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "LHLO x\r\n")
	replies(t, br, 2)
	var group bytes.Buffer
	const perRun, rcpts = 50, 5
	body := strings.Repeat(".a dot line\r\nplain line\r\n", 40)
	stuffed := strings.ReplaceAll(body, ".a", "..a")
	for range perRun {
		group.WriteString("MAIL FROM:<a@example.org>\r\n")
		for range rcpts {
			group.WriteString("RCPT TO:<b@example.org>\r\n")
		}
		group.WriteString("DATA\r\n")
		group.WriteString(stuffed)
		group.WriteString(".\r\n")
	}
	// Per message: MAIL, RCPTs, 354, and a reply per recipient.
	want := perRun * ((1+rcpts+rcpts)*len(replyOK) + len(replyStartData))
	buf := make([]byte, want)
	run := func() {
		go c.Write(group.Bytes())
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
	}
	run()
	allocs := testing.AllocsPerRun(20, run)
	// The goroutine writing costs a few; the sink none per message.
	if allocs > 10 {
		t.Errorf("%.1f allocations per %d messages", allocs, perRun)
	}
	if got := s.Messages(); got != 22*perRun {
		t.Errorf("Messages = %d, want %d", got, 22*perRun)
	}
	if got, want := s.Octets(), int64(22*perRun*len(body)); got != want {
		t.Errorf("Octets = %d, want %d", got, want)
	}
	if s.Recipients() != 22*perRun*rcpts || s.Refused() != 0 {
		t.Errorf("Recipients = %d, Refused = %d", s.Recipients(), s.Refused())
	}
}
