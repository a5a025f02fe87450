package wire

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"sync"
	"testing"

	"github.com/smtpkit/smtpkit/internal/benchfixture"
)

// The DATA-path and reply-reading benchmarks, each beside the standard
// library's net/textproto doing the same work, so that a ratio comes from one
// run on one machine:
//
//	go test -run=NONE -bench=. -benchmem -count=6 ./wire | tee new.txt
//	benchstat -col /impl new.txt

// benchBodySize is the size of the DATA benchmarks' bodies.
const benchBodySize = 64 << 20

var (
	benchBodyOnce sync.Once
	benchBodyCRLF []byte
	benchBodyLF   []byte
)

// benchBodies returns benchBodySize of benchfixture's text with CRLF and
// with LF line ends, made once.
func benchBodies() ([]byte, []byte) {
	benchBodyOnce.Do(func() {
		benchBodyCRLF = benchfixture.TextAtLeast(benchBodySize, "\r\n")
		benchBodyLF = benchfixture.TextAtLeast(benchBodySize, "\n")
	})
	return benchBodyCRLF, benchBodyLF
}

func BenchmarkDotWriter(b *testing.B) {
	crlf, lf := benchBodies()
	for _, body := range []struct {
		name string
		data []byte
	}{{"crlf", crlf}, {"lf", lf}} {
		// Every implementation must put out exactly what the encoder does
		// once here, checked after every run.
		var encoded benchfixture.CountingWriter
		enc := NewDotWriter(&encoded)
		enc.Write(body.data)
		enc.Close()
		want := encoded.N

		// smtpkit's encoder into the two buffers a session would give it.
		for _, sink := range []struct {
			name string
			new  func(io.Writer) (io.Writer, func() error)
		}{
			{"smtpkit", func(w io.Writer) (io.Writer, func() error) {
				bw := bufio.NewWriterSize(w, benchfixture.BufSize)
				return bw, bw.Flush
			}},
			{"smtpkit-wire.Writer", func(w io.Writer) (io.Writer, func() error) {
				ww := NewWriter(w)
				return ww, ww.Flush
			}},
		} {
			b.Run("body="+body.name+"/impl="+sink.name, func(b *testing.B) {
				var out benchfixture.CountingWriter
				w, flush := sink.new(&out)
				d := NewDotWriter(w)
				b.SetBytes(int64(len(body.data)))
				b.ReportAllocs()
				for b.Loop() {
					out.N = 0
					d.Reset(w)
					benchfixture.WriteChunks(b, d, body.data)
					if err := d.Close(); err != nil {
						b.Fatal(err)
					}
					if err := flush(); err != nil || out.N != want {
						b.Fatalf("wrote %d bytes, want %d (flush: %v)", out.N, want, err)
					}
				}
			})
		}
		b.Run("body="+body.name+"/impl=textproto", func(b *testing.B) {
			benchfixture.TextprotoDotWriter(b, body.data, want)
		})
	}
	// The ceiling: moving the same bytes without looking at them.
	b.Run("body=crlf/impl=copy", func(b *testing.B) {
		dst := make([]byte, len(crlf))
		b.SetBytes(int64(len(crlf)))
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, crlf)
		}
	})
}

func BenchmarkDotReader(b *testing.B) {
	crlf, _ := benchBodies()
	var enc bytes.Buffer
	d := NewDotWriter(&enc)
	d.Write(crlf)
	d.Close()
	encoded := enc.Bytes()
	buf := make([]byte, benchfixture.ChunkSize)
	for _, impl := range []struct {
		name string
		new  func(*bufio.Reader) io.Reader
		want int64
	}{
		{"smtpkit", func(br *bufio.Reader) io.Reader { return NewDotReader(br) }, int64(len(crlf))},
		// textproto's DotReader turns CRLF into LF, so it returns one byte
		// less a line.
		{"textproto", func(br *bufio.Reader) io.Reader { return textproto.NewReader(br).DotReader() },
			int64(len(crlf) - bytes.Count(crlf, []byte("\r\n")))},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			src := bytes.NewReader(encoded)
			br := bufio.NewReaderSize(src, benchfixture.BufSize)
			b.SetBytes(int64(len(crlf)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(encoded)
				br.Reset(src)
				if n, err := io.CopyBuffer(io.Discard, onlyReader{impl.new(br)}, buf); err != nil || n != impl.want {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// onlyReader hides WriterTo so that io.CopyBuffer uses the buffer it is given.
type onlyReader struct{ io.Reader }

func BenchmarkBDATWriter(b *testing.B) {
	crlf, _ := benchBodies()
	bw := bufio.NewWriterSize(io.Discard, benchfixture.BufSize)
	w := NewBDATWriter(bw, 0)
	b.SetBytes(int64(len(crlf)))
	b.ReportAllocs()
	for b.Loop() {
		w.Reset(bw, 0)
		benchfixture.WriteChunks(b, w, crlf)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadReply(b *testing.B) {
	benchfixture.ReadReply(b, func(br *bufio.Reader) func() error {
		r := NewReader(br)
		return func() error { _, err := r.ReadReply(); return err }
	})
}

const benchNormBodySize = 1 << 20

var (
	benchNormOnce sync.Once
	benchNormCRLF []byte
	benchNormLF   []byte
)

// benchNormBodies returns 1 MiB of 78-column text with CRLF endings (clean:
// the CRLFWriter's fast path) and the same with bare LF endings (each line
// needs a CR).
func benchNormBodies() []struct {
	name string
	data []byte
} {
	benchNormOnce.Do(func() {
		benchNormCRLF = benchfixture.TextAtLeast(benchNormBodySize, "\r\n")
		benchNormLF = benchfixture.TextAtLeast(benchNormBodySize, "\n")
	})
	return []struct {
		name string
		data []byte
	}{{"crlf", benchNormCRLF}, {"lf", benchNormLF}}
}

func BenchmarkCRLFWriter(b *testing.B) {
	for _, body := range benchNormBodies() {
		want := Measure(body.data)
		for _, sink := range []struct {
			name string
			new  func(io.Writer) (io.Writer, func() error)
		}{
			// A plain writer: every piece is a Write call.
			{"plain", func(w io.Writer) (io.Writer, func() error) { return w, func() error { return nil } }},
			// The session's buffer: added octets go in with WriteByte.
			{"bufio", func(w io.Writer) (io.Writer, func() error) {
				bw := bufio.NewWriterSize(w, benchfixture.BufSize)
				return bw, bw.Flush
			}},
			// Where session puts it: in front of the BDAT framing.
			{"bdat", func(w io.Writer) (io.Writer, func() error) {
				bw := bufio.NewWriterSize(w, benchfixture.BufSize)
				bd := NewBDATWriter(bw, 0)
				return bd, func() error {
					if err := bd.Close(); err != nil {
						return err
					}
					bd.Reset(bw, 0)
					return bw.Flush()
				}
			}},
		} {
			b.Run("body="+body.name+"/sink="+sink.name, func(b *testing.B) {
				var out benchfixture.CountingWriter
				w, finish := sink.new(&out)
				x := NewCRLFWriter(w)
				send := func() {
					x.Reset(w)
					benchfixture.WriteChunks(b, x, body.data)
					if err := x.Close(); err != nil {
						b.Fatal(err)
					}
					if err := finish(); err != nil || x.Written() != want {
						b.Fatalf("wrote %d octets, want %d (%v)", x.Written(), want, err)
					}
				}
				send() // the BDATWriter's chunk buffer grows once, not counted
				b.SetBytes(int64(len(body.data)))
				b.ReportAllocs()
				for b.Loop() {
					send()
				}
			})
		}
	}
}

func BenchmarkBodyScan(b *testing.B) {
	for _, body := range benchNormBodies() {
		want := int64(len(Normalise(body.data)))
		b.Run("body="+body.name, func(b *testing.B) {
			b.SetBytes(int64(len(body.data)))
			b.ReportAllocs()
			for b.Loop() {
				var s BodyScan
				for p := body.data; len(p) > 0; {
					n := min(len(p), benchfixture.ChunkSize)
					s.Scan(p[:n])
					p = p[n:]
				}
				if s.Size() != want {
					b.Fatalf("Size() = %d, want %d", s.Size(), want)
				}
			}
		})
	}
}
