// Package benchfixture is what the codec benchmarks share: package wire's
// own and the benchmarks module's (which runs wire's rows beside
// net/textproto, net/smtp and go-smtp) take their message bodies, replies,
// buffer sizes and net/textproto baselines from here, so that both measure
// the same bytes the same way and cannot drift apart.
package benchfixture

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

const (
	// ChunkSize is what io.Copy hands a writer: the size of the writes
	// [WriteChunks] makes.
	ChunkSize = 32 << 10
	// BufSize is the size of the bufio buffers the benchmarks put around
	// their sinks and sources.
	BufSize = 64 << 10
	// TextLineLength is the length of a line of [Text], without its end.
	TextLineLength = 76
)

// Text returns n lines of [TextLineLength] columns of printable ASCII
// (letters, digits, spaces, punctuation), one line in a hundred starting
// with '.', each ending in eol: a realistic body for the DATA path. The
// generator's seed is fixed, so the same n and eol give the same bytes in
// every run and every package.
func Text(n int, eol string) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      ,;:-=()"
	body := make([]byte, 0, n*(TextLineLength+len(eol)))
	line := make([]byte, TextLineLength)
	for range n {
		for i := range line {
			line[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(100) == 0 {
			line[0] = '.'
		}
		body = append(body, line...)
		body = append(body, eol...)
	}
	return body
}

// TextAtLeast is [Text] in as few lines as make at least size octets.
func TextAtLeast(size int, eol string) []byte {
	n := TextLineLength + len(eol)
	return Text((size+n-1)/n, eol)
}

// WriteChunks writes body to w in [ChunkSize] pieces, as io.Copy would,
// failing b on a write error.
func WriteChunks(b testing.TB, w io.Writer, body []byte) {
	for p := body; len(p) > 0; {
		n := min(len(p), ChunkSize)
		if _, err := w.Write(p[:n]); err != nil {
			b.Fatalf("write: %v", err)
		}
		p = p[n:]
	}
}

// CountingWriter discards what it is given and counts it, so that a
// benchmark can check that all of the output was produced.
type CountingWriter struct{ N int64 }

// Write counts p.
func (c *CountingWriter) Write(p []byte) (int, error) {
	c.N += int64(len(p))
	return len(p), nil
}

// RepeatReader returns Data over and over, forever, without allocating: a
// server that never stops replying, with no set-up cost inside a
// benchmark's loop.
type RepeatReader struct {
	Data []byte
	off  int
}

// Read fills p from Data, wrapping around at its end.
func (r *RepeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.Data[r.off:])
		n += m
		r.off = (r.off + m) % len(r.Data)
	}
	return n, nil
}

// The replies the reply-reading benchmarks read: a ten-line EHLO reply
// (Postfix's extensions) and a one-line reply to MAIL.
const (
	EHLOReply = "250-mx.example.org Hello client.example.org [127.0.0.1]\r\n" +
		"250-PIPELINING\r\n" +
		"250-SIZE 10240000\r\n" +
		"250-VRFY\r\n" +
		"250-ETRN\r\n" +
		"250-STARTTLS\r\n" +
		"250-AUTH PLAIN LOGIN\r\n" +
		"250-ENHANCEDSTATUSCODES\r\n" +
		"250-8BITMIME\r\n" +
		"250 CHUNKING\r\n"
	OKReply = "250 2.1.0 Ok\r\n"
)

// TextprotoDotWriter is the net/textproto row of the DATA encoder
// benchmark: body through textproto's DotWriter into a [BufSize] buffer, in
// [ChunkSize] writes; each run must put out want octets.
func TextprotoDotWriter(b *testing.B, body []byte, want int64) {
	var out CountingWriter
	bw := bufio.NewWriterSize(&out, BufSize)
	tw := textproto.NewWriter(bw)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out.N = 0
		d := tw.DotWriter()
		WriteChunks(b, d, body)
		if err := d.Close(); err != nil || out.N+int64(bw.Buffered()) != want {
			b.Fatalf("wrote %d bytes, want %d (close: %v)", out.N+int64(bw.Buffered()), want, err)
		}
	}
}

// ReadReply runs the reply-reading benchmark's rows: for [EHLOReply]
// ("ehlo10") and [OKReply] ("line1"), "reply=NAME/impl=smtpkit" reads the
// reply over and over with the read function newReader makes over an
// endless repetition of it, and "reply=NAME/impl=textproto" does the same
// with net/textproto's ReadResponse.
func ReadReply(b *testing.B, newReader func(*bufio.Reader) (read func() error)) {
	for _, tc := range []struct{ name, reply string }{
		{"ehlo10", EHLOReply},
		{"line1", OKReply},
	} {
		b.Run("reply="+tc.name+"/impl=smtpkit", func(b *testing.B) {
			read := newReader(bufio.NewReader(&RepeatReader{Data: []byte(tc.reply)}))
			readAll(b, len(tc.reply), read)
		})
		b.Run("reply="+tc.name+"/impl=textproto", func(b *testing.B) {
			r := textproto.NewReader(bufio.NewReader(&RepeatReader{Data: []byte(tc.reply)}))
			readAll(b, len(tc.reply), func() error { _, _, err := r.ReadResponse(0); return err })
		})
	}
}

// readAll runs read in b's loop, size octets each.
func readAll(b *testing.B, size int, read func() error) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := read(); err != nil {
			b.Fatal(err)
		}
	}
}
