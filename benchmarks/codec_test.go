package benchmarks

import (
	"bufio"
	"net/textproto"
	"testing"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/wire"
)

// The codec rows: the DATA encoder and the reply reader, each beside
// net/textproto doing the same work, run the way package wire's own
// benchmarks run them (wire/bench_test.go, same names), so that one
// `go test -bench . ./...` here shows the whole picture. The encoder's
// body is BenchmarkLargeMessage's 8 MiB (wire's is 64 MiB of the same
// text, both from internal/testfixture: the MB/s agree).

func BenchmarkDotWriter(b *testing.B) {
	crlf := largeBody()
	lf := testfixture.Text(len(crlf)/78, "\n")
	for _, body := range []struct {
		name string
		data []byte
	}{{"crlf", crlf}, {"lf", lf}} {
		// Both must put out exactly what the encoder does once here.
		var encoded testfixture.CountingWriter
		enc := wire.NewDotWriter(&encoded)
		enc.Write(body.data)
		enc.Close()
		want := encoded.N

		b.Run("body="+body.name+"/impl=smtpkit", func(b *testing.B) {
			var out testfixture.CountingWriter
			bw := bufio.NewWriterSize(&out, testfixture.BufSize)
			d := wire.NewDotWriter(bw)
			b.SetBytes(int64(len(body.data)))
			b.ReportAllocs()
			for b.Loop() {
				out.N = 0
				d.Reset(bw)
				testfixture.WriteChunks(b, d, body.data)
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil || out.N != want {
					b.Fatalf("wrote %d bytes, want %d (flush: %v)", out.N, want, err)
				}
			}
		})
		b.Run("body="+body.name+"/impl=textproto", func(b *testing.B) {
			var out testfixture.CountingWriter
			bw := bufio.NewWriterSize(&out, testfixture.BufSize)
			tw := textproto.NewWriter(bw)
			b.SetBytes(int64(len(body.data)))
			b.ReportAllocs()
			for b.Loop() {
				out.N = 0
				d := tw.DotWriter()
				testfixture.WriteChunks(b, d, body.data)
				if err := d.Close(); err != nil || out.N+int64(bw.Buffered()) != want {
					b.Fatalf("wrote %d bytes, want %d (close: %v)", out.N+int64(bw.Buffered()), want, err)
				}
			}
		})
	}
}

func BenchmarkReadReply(b *testing.B) {
	for _, tc := range []struct{ name, reply string }{
		{"ehlo10", testfixture.EHLOReply},
		{"line1", testfixture.OKReply},
	} {
		b.Run("reply="+tc.name+"/impl=smtpkit", func(b *testing.B) {
			r := wire.NewReader(bufio.NewReader(&testfixture.RepeatReader{Data: []byte(tc.reply)}))
			b.SetBytes(int64(len(tc.reply)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadReply(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("reply="+tc.name+"/impl=textproto", func(b *testing.B) {
			r := textproto.NewReader(bufio.NewReader(&testfixture.RepeatReader{Data: []byte(tc.reply)}))
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
