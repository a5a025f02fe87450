package benchmarks

import (
	"bufio"
	"testing"

	"github.com/smtpkit/smtpkit/internal/benchfixture"
	"github.com/smtpkit/smtpkit/wire"
)

// The codec rows: the DATA encoder and the reply reader, each beside
// net/textproto doing the same work, run the way package wire's own
// benchmarks run them (wire/bench_test.go, same names), so that one
// `go test -bench . ./...` here shows the whole picture. The encoder's
// body is BenchmarkLargeMessage's 8 MiB (wire's is 64 MiB of the same
// text, both from internal/benchfixture: the MB/s agree).

func BenchmarkDotWriter(b *testing.B) {
	crlf := largeBody()
	lf := benchfixture.Text(len(crlf)/78, "\n")
	for _, body := range []struct {
		name string
		data []byte
	}{{"crlf", crlf}, {"lf", lf}} {
		// Both must put out exactly what the encoder does once here.
		var encoded benchfixture.CountingWriter
		enc := wire.NewDotWriter(&encoded)
		enc.Write(body.data)
		enc.Close()
		want := encoded.N

		b.Run("body="+body.name+"/impl=smtpkit", func(b *testing.B) {
			var out benchfixture.CountingWriter
			bw := bufio.NewWriterSize(&out, benchfixture.BufSize)
			d := wire.NewDotWriter(bw)
			b.SetBytes(int64(len(body.data)))
			b.ReportAllocs()
			for b.Loop() {
				out.N = 0
				d.Reset(bw)
				benchfixture.WriteChunks(b, d, body.data)
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil || out.N != want {
					b.Fatalf("wrote %d bytes, want %d (flush: %v)", out.N, want, err)
				}
			}
		})
		b.Run("body="+body.name+"/impl=textproto", func(b *testing.B) {
			benchfixture.TextprotoDotWriter(b, body.data, want)
		})
	}
}

func BenchmarkReadReply(b *testing.B) {
	benchfixture.ReadReply(b, func(br *bufio.Reader) func() error {
		r := wire.NewReader(br)
		return func() error { _, err := r.ReadReply(); return err }
	})
}
