package sink

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"
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
	s := start(t, Config{MaxLineLength: 100})
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
