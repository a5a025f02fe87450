package smtptest

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

const previousChunkFailed = "503 5.5.0 Previous data chunk failed, issue RSET first"

// TestBDATRefusedChunk: a refused chunk is read but is not part of the
// message, and it fails the transaction: every later BDAT in it, LAST or
// not, gets 503 5.5.0 (as Dovecot answers), nothing is recorded, and the
// transaction stays open until RSET. Everything is sent in one write, so
// the replies must come one per command, in order.
func TestBDATRefusedChunk(t *testing.T) {
	r452 := response.New(452, "4.3.1 No room")
	tests := []struct {
		name string
		cfg  Config
		// chunks are sent after MAIL and RCPT, with want their replies.
		chunks string
		want   []string
	}{
		{"Override refuses the first chunk", Config{Overrides: []Override{{Verb: "BDAT", Nth: 1, Reply: r452}}},
			"BDAT 3\r\nabcBDAT 3\r\ndefBDAT 3 LAST\r\nghi",
			[]string{"452 4.3.1 No room", previousChunkFailed, previousChunkFailed}},
		{"Override refuses a middle chunk", Config{Overrides: []Override{{Verb: "BDAT", Nth: 2, Reply: response.New(554, "5.6.0 No")}}},
			"BDAT 3\r\nabcBDAT 3\r\ndefBDAT 3 LAST\r\nghi",
			[]string{"250 2.0.0 3 octets received", "554 5.6.0 No", previousChunkFailed}},
		{"Handler refuses a chunk", Config{Handler: func(_ *ConnState, line string, _ command.Command) (response.Reply, bool) {
			return r452, line == "BDAT 3"
		}},
			"BDAT 3\r\nabcBDAT 0\r\nBDAT 3 LAST\r\nghi",
			[]string{"452 4.3.1", previousChunkFailed, previousChunkFailed}},
		{"over the size limit", Config{MaxMessageSize: 5},
			"BDAT 3\r\nabcBDAT 3\r\ndefBDAT 0 LAST\r\n",
			[]string{"250 2.0.0 3 octets received", "552 5.3.4 Message too big", previousChunkFailed}},
		{"no recipients", Config{Overrides: []Override{{Verb: "RCPT", Match: "<bob@", Reply: response.New(550, "5.1.1 No")}}},
			"BDAT 3\r\nabcBDAT 3 LAST\r\ndef",
			[]string{"554 5.5.1 No valid recipients", previousChunkFailed}},
		{"bad end marker", Config{},
			// The size parsed: its octets are skipped, not read as commands.
			"BDAT 5 BOGUS\r\nNOOP\rBDAT 3 LAST\r\nabc",
			[]string{"501 5.5.4 Syntax error: BDAT end-marker", previousChunkFailed}},
		{"bad chunk size", Config{},
			// No size: what follows is read as commands, as in Dovecot.
			"BDAT 3\r\nabcBDAT x\r\nBDAT 3 LAST\r\nabc",
			[]string{"250 2.0.0 3 octets received", "501 5.5.4 Syntax error: BDAT chunk-size", previousChunkFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			c := start(t, s)
			c.cmd("EHLO client.example", "250 ")
			c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n" + tt.chunks +
				"MAIL FROM:<alice@example.org>\r\nRSET\r\n" +
				"MAIL FROM:<carol@example.org>\r\nRCPT TO:<dave@example.net>\r\nBDAT 4 LAST\r\nnext")
			c.expect("250 2.1.0")
			c.expect("")
			for _, want := range tt.want {
				c.expect(want)
			}
			c.expect("503 5.5.1 Nested MAIL command") // the transaction is still open
			c.expect("250 2.0.0 OK")                  // RSET
			c.expect("250 2.1.0")
			c.expect("250 2.1.5")
			c.expect("250 2.0.0 OK queued")
			c.cmd("NOOP", "250")
			msgs := s.Messages()
			if len(msgs) != 1 || msgs[0].From != "carol@example.org" || string(msgs[0].Data) != "next" {
				t.Errorf("messages %+v, want only the second transaction's, \"next\"", msgs)
			}
		})
	}
}

// TestBDATFailedTransactionLMTP: in LMTP the BDAT LAST of a transaction
// that a refused chunk failed gets one reply, not one per recipient (as
// Dovecot answers).
func TestBDATFailedTransactionLMTP(t *testing.T) {
	s := newServer(t, Config{LMTP: true, Overrides: []Override{{Verb: "BDAT", Nth: 1, Reply: response.New(452, "4.3.1 No room")}}})
	c := start(t, s)
	c.cmd("LHLO client.example", "250 ")
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n" +
		"BDAT 3\r\nabcBDAT 3 LAST\r\ndefNOOP\r\n")
	for _, want := range []string{"250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.3.1", previousChunkFailed, "250 2.0.0 OK"} {
		c.expect(want)
	}
	c.cmd("RSET", "250")
	if msgs := s.Messages(); len(msgs) != 0 {
		t.Errorf("messages %+v", msgs)
	}
}

// TestBDATLastRepliesLMTP: in LMTP, whatever answers BDAT LAST, the client
// gets one reply per accepted recipient (RFC 2033 §4.2), except after a
// failed chunk (above) and for a 421, which closes the connection.
func TestBDATLastRepliesLMTP(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		data     string // after MAIL and the RCPTs of b@ and c@ (d@ is refused)
		want     []string
		messages int
	}{
		{"over the size limit", Config{MaxMessageSize: 4},
			"BDAT 5 LAST\r\nhello",
			[]string{"552 5.3.4 Message too big", "552 5.3.4 Message too big"}, 0},
		{"over the size limit at the last of two chunks", Config{MaxMessageSize: 4},
			"BDAT 2\r\nheBDAT 3 LAST\r\nllo",
			[]string{"250 2.0.0 2 octets received", "552 5.3.4 Message too big", "552 5.3.4 Message too big"}, 0},
		{"DATA over the size limit", Config{MaxMessageSize: 4},
			"DATA\r\nhello\r\n.\r\n",
			[]string{"354", "552 5.3.4 Message too big", "552 5.3.4 Message too big"}, 0},
		{"Override refuses", Config{Overrides: []Override{{Verb: "BDAT", Reply: response.New(451, "4.3.0 Not now")}}},
			"BDAT 5 LAST\r\nhello",
			[]string{"451 4.3.0 Not now", "451 4.3.0 Not now"}, 0},
		{"Handler accepts", Config{Handler: func(_ *ConnState, line string, _ command.Command) (response.Reply, bool) {
			return response.New(250, "2.0.0 Handled"), strings.HasPrefix(line, "BDAT")
		}},
			"BDAT 5 LAST\r\nhello",
			[]string{"250 2.0.0 Handled", "250 2.0.0 Handled"}, 1},
		{"EndOfData Override for one recipient", Config{Overrides: []Override{{Verb: EndOfData, Match: "<c@", Reply: response.New(452, "4.2.2 Full")}}},
			"BDAT 5 LAST\r\nhello",
			[]string{"250 2.1.5 <b@example.org> OK", "452 4.2.2 Full"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.LMTP = true
			tt.cfg.Overrides = append(tt.cfg.Overrides, Override{Verb: "RCPT", Match: "<d@", Reply: response.New(550, "5.1.1 No")})
			s := newServer(t, tt.cfg)
			c := start(t, s)
			c.cmd("LHLO client.example", "250 ")
			c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<d@example.org>\r\nRCPT TO:<c@example.org>\r\n" +
				tt.data + "NOOP\r\n")
			c.expect("250 2.1.0")
			c.expect("250 2.1.5")
			c.expect("550 5.1.1")
			c.expect("250 2.1.5")
			for _, want := range tt.want {
				c.expect(want)
			}
			c.expect("250 2.0.0 OK") // NOOP: nothing more came before it
			c.cmd("MAIL FROM:<a@example.org>", "250")
			if got := len(s.Messages()); got != tt.messages {
				t.Errorf("%d messages, want %d", got, tt.messages)
			}
		})
	}
}
