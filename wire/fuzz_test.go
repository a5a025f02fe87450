package wire_test

// Fuzz targets for the reply reader and the DATA and BDAT codecs. Each is
// seeded with f.Add below and with the files in testdata/fuzz/<FuzzName>/
// (encoder outputs, real servers' replies, the smuggling sequences); run one
// with
//
//	go test -run=NONE -fuzz=^FuzzDotEncode$ -fuzztime=20s ./wire
//
// A crash the fuzzer finds stays in testdata/fuzz and, once understood,
// becomes a named test next to the others.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// postfixEHLO is what Postfix 3.x answers to EHLO.
const postfixEHLO = "250-mx.example.org\r\n" +
	"250-PIPELINING\r\n" +
	"250-SIZE 10240000\r\n" +
	"250-VRFY\r\n" +
	"250-ETRN\r\n" +
	"250-STARTTLS\r\n" +
	"250-ENHANCEDSTATUSCODES\r\n" +
	"250-8BITMIME\r\n" +
	"250-DSN\r\n" +
	"250-SMTPUTF8\r\n" +
	"250 CHUNKING\r\n"

// replySeeds are server output, real and ugly.
var replySeeds = []string{
	"220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n",
	postfixEHLO,
	"220 mx.example.org ESMTP\r\n" + postfixEHLO + "250 2.1.0 Ok\r\n",
	"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
	"550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table\r\n",
	"421 4.7.0 mx.example.org Error: too many connections from 192.0.2.1\r\n",
	"554-mx.example.org\r\n554-5.7.1 Your IP is listed\r\n554 5.7.1 See https://example.org/rbl\r\n",
	"334 VXNlcm5hbWU6\r\n",
	"220 2.0.0 Ready to start TLS\r\n250 injected\r\n",
	"250\r\n",
	"250 \r\n",
	"250-\r\n250 \r\n",
	"250-a\n250 b\n",
	"250-a\r\n250\r\n250 b\r\n",
	"250-a\r\n251 b\r\n",
	"250-a\r\nxyz\r\n250 b\r\n",
	"199 informational\r\n",
	"600 out of range\r\n",
	"250 unterminated",
	"250-unterminated reply\r\n",
	"250 a\rb\r\n",
	"250 a\r\r\n",
	"250 \x00\xff\r\n",
	"25\r\n",
	"2500\r\n",
	"250x\r\n",
	"\r\n",
	"",
	"250 " + strings.Repeat("x", 9000) + "\r\n",
	// At the default line limit and one over it.
	replyLine(" ", wire.DefaultMaxReplyLineLength),
	replyLine(" ", wire.DefaultMaxReplyLineLength+1),
	// At the small limits FuzzReadReply sets (40 octets a line, 3 lines,
	// 100 octets) and one over each.
	replyLine(" ", 40),
	replyLine(" ", 41),
	replyLine("-", 10) + replyLine("-", 10) + replyLine(" ", 10),
	replyLine("-", 10) + replyLine("-", 10) + replyLine("-", 10) + replyLine(" ", 10),
	replyLine("-", 34) + replyLine("-", 33) + replyLine(" ", 33),
	replyLine("-", 35) + replyLine("-", 33) + replyLine(" ", 33),
}

// replyLine returns a reply line with code 250 and separator sep that is n
// octets long, CRLF included.
func replyLine(sep string, n int) string {
	return "250" + sep + strings.Repeat("x", n-6) + "\r\n"
}

// dotSeeds are message bodies for the DATA codec.
var dotSeeds = []string{
	"",
	"a",
	".",
	"..",
	"\r",
	"\n",
	"\r\n",
	"Subject: hello\r\n\r\n.leading dot\r\n..two\r\n",
	"a\n.\nb",
	"a\n.\r\nb",
	"a\r\n.\nb",
	"a\r.\rb",
	"a\r\n.\r\nMAIL FROM:<attacker@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nforged\r\n",
	"a\r\r\n\n\r.\r",
	"\x00\xff.\r\n.",
}

// readRepliesUntilErr reads replies from r until an error, and fails when
// there are more than limit of them (a reader that makes no progress).
func readRepliesUntilErr(r *wire.Reader, limit int) ([]response.Reply, error) {
	var replies []response.Reply
	for range limit {
		reply, err := r.ReadReply()
		if err != nil {
			return replies, err
		}
		replies = append(replies, reply)
	}
	return replies, errors.New("more replies than bytes")
}

// encodedReplies are replies written by wire.AppendReply: the seeds the
// encoder produces, as a server sends them.
var encodedReplies = []response.Reply{
	response.New(220, "mx.example.org ESMTP"),
	response.New(250, "mx.example.org greets client.example.org", "PIPELINING", "SIZE 10485760", "8BITMIME",
		"SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH SCRAM-SHA-256 PLAIN"),
	response.New(354, "End data with <CR><LF>.<CR><LF>"),
	response.New(421, "4.7.0 mx.example.org Too many connections"),
	response.New(550, "5.1.1 <nobody@example.org>: no such user", "5.1.1 see https://example.org/"),
	response.New(250),
	response.New(250, "", ""),
	response.New(250, "ab", "trailing CR"),
	response.New(334, ""),
}

// allReplySeeds returns the replySeeds and the encodedReplies, each alone
// and all of them in one stream.
func allReplySeeds() [][]byte {
	var seeds [][]byte
	for _, s := range replySeeds {
		seeds = append(seeds, []byte(s))
	}
	var all []byte
	for _, r := range encodedReplies {
		seeds = append(seeds, wire.AppendReply(nil, r))
		all = wire.AppendReply(all, r)
	}
	return append(seeds, all)
}

func FuzzReadReply(f *testing.F) {
	for _, s := range allReplySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		replies, err := readRepliesUntilErr(wire.NewReader(bytes.NewReader(data)), len(data)+1)
		var pe *wire.ProtocolError
		if err != io.EOF && !errors.As(err, &pe) {
			t.Fatalf("ReadReply(%q) ended with %T %v, want io.EOF or a *ProtocolError", data, err, err)
		}
		textBytes := 0
		for _, reply := range replies {
			lines := reply.Lines()
			if reply.Code < 200 || reply.Code > 599 || len(lines) == 0 || reply.LineCount() != len(lines) {
				t.Fatalf("ReadReply(%q) returned %#v", data, reply)
			}
			for _, line := range lines {
				textBytes += len(line)
				if strings.ContainsRune(line, '\n') {
					t.Fatalf("ReadReply(%q) returned a line with LF: %q", data, line)
				}
			}
			// The reply written back reads as the same reply. Writing back
			// can add octets (CRLF for LF, "250 " for "250"), so the limits
			// are raised.
			enc := wire.AppendReply(nil, reply)
			r := wire.NewReader(bytes.NewReader(enc))
			r.SetMaxReplyLineLength(1 << 20)
			r.SetMaxReplyBytes(1 << 24)
			again, err := r.ReadReply()
			if err != nil || again != reply {
				t.Fatalf("reply %#v written back as %q reads as %#v, %v", reply, enc, again, err)
			}
			if _, err := r.ReadReply(); err != io.EOF {
				t.Fatalf("reply %#v written back as %q: after it %v, want io.EOF", reply, enc, err)
			}
		}
		if textBytes > len(data) {
			t.Fatalf("ReadReply(%q) returned %d octets of text", data, textBytes)
		}

		// How the bytes arrive does not change the replies: a tiny read
		// buffer (every line is a long line) and a source that gives one
		// byte per Read (no reply is ever whole in the buffer).
		sources := map[string]*wire.Reader{
			"16-byte buffer": wire.NewReader(bufio.NewReaderSize(bytes.NewReader(data), 16)),
			"one byte":       wire.NewReader(iotest.OneByteReader(bytes.NewReader(data))),
		}
		for name, r := range sources {
			got, gotErr := readRepliesUntilErr(r, len(data)+1)
			if !reflect.DeepEqual(got, replies) {
				t.Fatalf("ReadReply(%q) with %s: %#v, %v; want %#v, %v", data, name, got, gotErr, replies, err)
			}
			if (gotErr == io.EOF) != (err == io.EOF) {
				t.Fatalf("ReadReply(%q) with %s ended with %v, want %v", data, name, gotErr, err)
			}
		}

		// Small limits hold, and do not depend on how the bytes arrive either.
		const maxLine, maxLines, maxBytes = 40, 3, 100
		var first []response.Reply
		for i, src := range []io.Reader{
			bytes.NewReader(data),
			bufio.NewReaderSize(bytes.NewReader(data), 16),
			iotest.OneByteReader(bytes.NewReader(data)),
		} {
			r := wire.NewReader(src)
			r.SetMaxReplyLineLength(maxLine)
			r.SetMaxReplyLines(maxLines)
			r.SetMaxReplyBytes(maxBytes)
			small, _ := readRepliesUntilErr(r, len(data)+1)
			if i == 0 {
				first = small
			} else if !reflect.DeepEqual(small, first) {
				t.Fatalf("ReadReply(%q) with small limits, source %d: %#v; with the whole input in the buffer: %#v", data, i, small, first)
			}
			for _, reply := range small {
				size := 0
				for _, line := range reply.Lines() {
					// The shortest a line can be on the wire: code, separator, LF.
					if len(line)+5 > maxLine {
						t.Fatalf("ReadReply(%q) with line limit %d returned the line %q", data, maxLine, line)
					}
					size += len(line) + 5
				}
				if reply.LineCount() > maxLines || size > maxBytes {
					t.Fatalf("ReadReply(%q) with limits %d lines, %d octets returned %#v", data, maxLines, maxBytes, reply)
				}
			}
		}
	})
}

// FuzzReadReplyTextproto reads the same bytes with wire.Reader and with
// net/textproto, and fails when both accept the first reply but disagree on
// it. wire is the stricter of the two (no 1yz or 6yz codes, no mixed codes,
// no unterminated last line, bounded lines): where only textproto accepts,
// there is nothing to compare.
func FuzzReadReplyTextproto(f *testing.F) {
	for _, s := range allReplySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		wr := wire.NewReader(src)
		reply, werr := wr.ReadReply()
		code, message, terr := textproto.NewReader(bufio.NewReader(bytes.NewReader(data))).ReadResponse(0)
		if werr != nil || terr != nil {
			return
		}
		// A known difference, where wire follows RFC 5321 §4.2 and
		// textproto does not: a last line of the code alone ("250", no
		// space) ends the reply, but textproto wants a separator, takes the
		// line for text and reads on. When that last line is the first
		// line, textproto fails; when it follows "250-" lines, both may
		// succeed on different spans.
		consumed := data[:len(data)-src.Len()-wr.Buffered()]
		if reply.LineCount() > 1 && len(lastWireLine(consumed)) == 3 {
			return
		}
		if code != int(reply.Code) || message != reply.Text {
			t.Fatalf("on %q wire reads %d %q and textproto reads %d %q", data, reply.Code, reply.Text, code, message)
		}
	})
}

// lastWireLine returns the last line of b without its line ending (LF and one
// CR before it).
func lastWireLine(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return b
}

func FuzzDotEncode(f *testing.F) {
	for i, s := range dotSeeds {
		f.Add([]byte(s), i)
	}
	f.Add([]byte("a\r"), 2)
	f.Add([]byte("a\r\n.\r\n"), 3)
	f.Fuzz(func(t *testing.T, body []byte, split int) {
		whole := dotEncode(t, body)
		if want := refDotEncode(body); !bytes.Equal(whole, want) {
			t.Fatalf("encode(%q) = %q, want %q", body, whole, want)
		}
		// (a) decode(encode(body)) == normalise(body)
		dec, rest, err := dotDecode(whole)
		if err != nil || len(rest) != 0 {
			t.Fatalf("decode(encode(%q)): %v, rest %q", body, err, rest)
		}
		if want := refNormalise(body); !bytes.Equal(dec, want) {
			t.Fatalf("decode(encode(%q)) = %q, want %q", body, dec, want)
		}
		// (b) the split does not matter: at one point, and in pieces.
		u := uint(split)
		at := int(u % uint(len(body)+1))
		if got := dotEncode(t, body[:at], body[at:]); !bytes.Equal(got, whole) {
			t.Fatalf("encode(%q) split at %d = %q, want %q", body, at, got, whole)
		}
		piece := int(u%7) + 1
		var pieces [][]byte
		for p := body; len(p) > 0; p = p[min(piece, len(p)):] {
			pieces = append(pieces, p[:min(piece, len(p))])
		}
		if got := dotEncode(t, pieces...); !bytes.Equal(got, whole) {
			t.Fatalf("encode(%q) in pieces of %d = %q, want %q", body, piece, got, whole)
		}
		// The same through the caller's small bufio.Writer, from a
		// DotWriter Reset in the middle of another message.
		var under bytes.Buffer
		bw := bufio.NewWriterSize(&under, 16)
		d := wire.NewDotWriter(io.Discard)
		d.Write([]byte("abandoned\r"))
		d.Reset(bw)
		for _, p := range pieces {
			if n, err := d.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", p, n, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if !bytes.Equal(under.Bytes(), whole) {
			t.Fatalf("encode(%q) through a bufio.Writer after Reset = %q, want %q", body, under.Bytes(), whole)
		}
		// (c) the output's structure.
		if err := checkDotOutput(whole, len(body) == 0); err != nil {
			t.Fatalf("encode(%q) = %q: %v", body, whole, err)
		}
	})
}

func FuzzDotDecode(f *testing.F) {
	for _, s := range dotSeeds {
		f.Add([]byte(s))
		f.Add(refDotEncode([]byte(s)))
	}
	f.Add([]byte("a\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("a\n.\nb\r\n.\r\n"))
	f.Add([]byte("a\r\n.\nb\r\n.\r\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		ref := refDotDecode(stream)
		for _, limit := range []int{0, 3, 7, 16, 80} {
			effective := max(limit, 3)
			if limit == 0 {
				effective = wire.DefaultMaxDataLineLength
			}
			for _, oneByte := range []bool{false, true} {
				got, rest, err := dotRead(string(stream), oneByte, limit)
				if len(got) > len(stream) {
					t.Fatalf("decode(%q) returned %d octets", stream, len(got))
				}
				switch {
				case ref.maxLine > effective:
					if !errors.Is(err, wire.ErrLineTooLong) {
						t.Fatalf("decode(%q) with limit %d (oneByte=%v): %v, want ErrLineTooLong", stream, limit, oneByte, err)
					}
				case !ref.complete:
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("decode(%q) with limit %d (oneByte=%v): %v, want io.ErrUnexpectedEOF", stream, limit, oneByte, err)
					}
				default:
					if err != nil || !bytes.Equal(got, ref.data) || rest != string(ref.rest) {
						t.Fatalf("decode(%q) with limit %d (oneByte=%v) = %q, %v, rest %q; want %q, rest %q",
							stream, limit, oneByte, got, err, rest, ref.data, ref.rest)
					}
				}
				if err != nil {
					var pe *wire.ProtocolError
					if !errors.As(err, &pe) {
						t.Fatalf("decode(%q): error %T %v is not a *ProtocolError", stream, err, err)
					}
					if !bytes.HasPrefix(ref.data, got) {
						t.Fatalf("decode(%q) with limit %d (oneByte=%v) returned %q before %v, not a prefix of %q",
							stream, limit, oneByte, got, err, ref.data)
					}
				}
			}
		}
		// (e)
		if len(stream) < 1<<16 {
			checkDotDecodeArbitrary(t, stream)
		}
	})
}

func FuzzBDAT(f *testing.F) {
	for i, s := range dotSeeds {
		f.Add([]byte(s), i)
	}
	f.Add([]byte("BDAT 3\r\nabcBDAT 0\r\nBDAT 2 LAST\r\nde"), 3)
	f.Add([]byte("bdat 1 last\r\nxQUIT\r\n"), 1)
	f.Add([]byte("BDAT 1 LASTX\r\nx"), 1)
	f.Add([]byte("BDAT 5 LAST\r\nabc"), 4)
	f.Fuzz(func(t *testing.T, body []byte, chunkSize int) {
		size := int(uint(chunkSize)%64) + 1
		// (d) on body as the message.
		checkBDAT(t, body, size, splitBodyAt(body, []int{len(body) / 3, len(body)/2 + 1}))
		var pieces [][]byte
		for p := body; len(p) > 0; p = p[min(size+1, len(p)):] {
			pieces = append(pieces, p[:min(size+1, len(p))])
		}
		checkBDAT(t, body, size, pieces)

		// body as a chunk stream from a peer, with the default limit and
		// with a small one.
		for _, maxChunk := range []int64{wire.DefaultMaxChunkSize, int64(size)} {
			refData, refRest, refChunks, ok := refBDATDecode(body, maxChunk)
			br := bufio.NewReader(bytes.NewReader(body))
			r := wire.NewBDATReader(br)
			r.SetMaxChunkSize(maxChunk)
			var chunks []refChunk
			r.OnChunk(func(size int64, last bool) error {
				chunks = append(chunks, refChunk{size, last})
				return nil
			})
			got, err := io.ReadAll(r)
			if ok {
				rest, _ := io.ReadAll(br)
				if err != nil || !bytes.Equal(got, refData) || !bytes.Equal(rest, refRest) || !reflect.DeepEqual(chunks, refChunks) {
					t.Fatalf("BDATReader(%q, max %d) = %q, %v, rest %q, chunks %v; want %q, rest %q, chunks %v",
						body, maxChunk, got, err, rest, chunks, refData, refRest, refChunks)
				}
				continue
			}
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("BDATReader(%q, max %d) = %q, %v; want a *ProtocolError", body, maxChunk, got, err)
			}
			if !bytes.HasPrefix(refData, got) {
				t.Fatalf("BDATReader(%q, max %d) returned %q before %v, not a prefix of %q", body, maxChunk, got, err, refData)
			}
		}
	})
}

// FuzzCRLFWriter checks the BDAT line-ending writer and the body measurement
// against Normalise: the CRLFWriter's output and Written count, BodyScan's
// Size, Clean, EightBit and NUL, and Measure, with the body in one write, cut
// at one point, and in small pieces; and the DATA encoding un-stuffed.
func FuzzCRLFWriter(f *testing.F) {
	for i, s := range dotSeeds {
		f.Add([]byte(s), i)
	}
	f.Add([]byte("a\r"), 1)                          // CR at the cut
	f.Add([]byte("a\r\nb"), 2)                       // CRLF cut in two
	f.Add([]byte("\r\r\n\n\r"), 1)                   // every kind of ending
	f.Add([]byte("caf\xe9\x00\r\n"), 4)              // 8-bit and NUL
	f.Add([]byte(strings.Repeat("x", 40)+"\xe9"), 7) // past the 32-octet loop
	f.Fuzz(func(t *testing.T, body []byte, split int) {
		u := uint(split)
		at := int(u % uint(len(body)+1))
		piece := int(u%7) + 1
		var pieces [][]byte
		for p := body; len(p) > 0; p = p[min(piece, len(p)):] {
			pieces = append(pieces, p[:min(piece, len(p))])
		}
		for _, parts := range [][][]byte{{body}, {body[:at], body[at:]}, pieces} {
			checkNormalisation(t, body, parts)
		}
		checkDotNormalises(t, body, pieces)
	})
}
