package benchmarks

import (
	"bufio"
	"io"
	"net/textproto"
	"testing"

	"github.com/smtpkit/smtpkit/wire"
)

// The codec rows: the DATA encoder and the reply reader, each beside
// net/textproto doing the same work, run the way package wire's own
// benchmarks run them (wire/bench_test.go, same names), so that one
// `go test -bench . ./...` here shows the whole picture. The encoder's
// body is BenchmarkLargeMessage's 8 MiB (wire's is 64 MiB of the same
// text: the MB/s agree).

const (
	codecChunkSize = 32 << 10 // what io.Copy hands a writer
	codecBufSize   = 64 << 10
)

// writeChunks writes body to w in io.Copy-sized pieces.
func writeChunks(b *testing.B, w io.Writer, body []byte) {
	for p := body; len(p) > 0; {
		n := min(len(p), codecChunkSize)
		if _, err := w.Write(p[:n]); err != nil {
			b.Fatal(err)
		}
		p = p[n:]
	}
}

// countingWriter discards what it is given and counts it, so that a
// benchmark can check that all of the output was produced.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func BenchmarkDotWriter(b *testing.B) {
	crlf := largeBody()
	lf := textLines(len(crlf)/78, "\n")
	for _, body := range []struct {
		name string
		data []byte
	}{{"crlf", crlf}, {"lf", lf}} {
		// Both must put out exactly what the encoder does once here.
		var encoded countingWriter
		enc := wire.NewDotWriter(&encoded)
		enc.Write(body.data)
		enc.Close()
		want := encoded.n

		b.Run("body="+body.name+"/impl=smtpkit", func(b *testing.B) {
			var out countingWriter
			bw := bufio.NewWriterSize(&out, codecBufSize)
			d := wire.NewDotWriter(bw)
			b.SetBytes(int64(len(body.data)))
			b.ReportAllocs()
			for b.Loop() {
				out.n = 0
				d.Reset(bw)
				writeChunks(b, d, body.data)
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil || out.n != want {
					b.Fatalf("wrote %d bytes, want %d (flush: %v)", out.n, want, err)
				}
			}
		})
		b.Run("body="+body.name+"/impl=textproto", func(b *testing.B) {
			var out countingWriter
			bw := bufio.NewWriterSize(&out, codecBufSize)
			tw := textproto.NewWriter(bw)
			b.SetBytes(int64(len(body.data)))
			b.ReportAllocs()
			for b.Loop() {
				out.n = 0
				d := tw.DotWriter()
				writeChunks(b, d, body.data)
				if err := d.Close(); err != nil || out.n+int64(bw.Buffered()) != want {
					b.Fatalf("wrote %d bytes, want %d (close: %v)", out.n+int64(bw.Buffered()), want, err)
				}
			}
		})
	}
}

const (
	ehloReply = "250-mx.example.org Hello client.example.org [127.0.0.1]\r\n" +
		"250-PIPELINING\r\n" +
		"250-SIZE 10240000\r\n" +
		"250-VRFY\r\n" +
		"250-ETRN\r\n" +
		"250-STARTTLS\r\n" +
		"250-AUTH PLAIN LOGIN\r\n" +
		"250-ENHANCEDSTATUSCODES\r\n" +
		"250-8BITMIME\r\n" +
		"250 CHUNKING\r\n"
	okReply = "250 2.1.0 Ok\r\n"
)

// repeatReader returns its bytes over and over, forever: a server that
// never stops replying, with no set-up cost inside the benchmark loop.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.data[r.off:])
		n += m
		r.off = (r.off + m) % len(r.data)
	}
	return n, nil
}

func BenchmarkReadReply(b *testing.B) {
	for _, tc := range []struct{ name, reply string }{
		{"ehlo10", ehloReply},
		{"line1", okReply},
	} {
		b.Run("reply="+tc.name+"/impl=smtpkit", func(b *testing.B) {
			r := wire.NewReader(bufio.NewReader(&repeatReader{data: []byte(tc.reply)}))
			b.SetBytes(int64(len(tc.reply)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadReply(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("reply="+tc.name+"/impl=textproto", func(b *testing.B) {
			r := textproto.NewReader(bufio.NewReader(&repeatReader{data: []byte(tc.reply)}))
			b.SetBytes(int64(len(tc.reply)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.ReadResponse(0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
