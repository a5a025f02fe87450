package wire

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/textproto"
	"sync"
	"testing"
)

// The DATA-path and reply-reading benchmarks, each beside the standard
// library's net/textproto doing the same work, so that a ratio comes from one
// run on one machine:
//
//	go test -run=NONE -bench=. -benchmem -count=6 ./wire | tee new.txt
//	benchstat -col /impl new.txt

const (
	benchBodySize  = 64 << 20
	benchChunkSize = 32 << 10 // what io.Copy hands a writer
	benchBufSize   = 64 << 10
)

var (
	benchBodyOnce sync.Once
	benchBodyCRLF []byte
	benchBodyLF   []byte
)

// realisticBody returns about size bytes of 76-column printable text, one
// line in a hundred starting with '.', lines ending in eol.
func realisticBody(size int, eol string) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      ,;:-=()"
	body := make([]byte, 0, size+100)
	line := make([]byte, 76)
	for len(body) < size {
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

func benchBodies() ([]byte, []byte) {
	benchBodyOnce.Do(func() {
		benchBodyCRLF = realisticBody(benchBodySize, "\r\n")
		benchBodyLF = realisticBody(benchBodySize, "\n")
	})
	return benchBodyCRLF, benchBodyLF
}

// writeChunks writes body to w in io.Copy-sized pieces.
func writeChunks(b *testing.B, w io.Writer, body []byte) {
	for p := body; len(p) > 0; {
		n := min(len(p), benchChunkSize)
		if _, err := w.Write(p[:n]); err != nil {
			b.Fatal(err)
		}
		p = p[n:]
	}
}

func BenchmarkDotWriter(b *testing.B) {
	crlf, lf := benchBodies()
	for _, body := range []struct {
		name string
		data []byte
	}{{"crlf", crlf}, {"lf", lf}} {
		// Every implementation must put out exactly what the encoder does
		// once here, checked after every run.
		var encoded countingWriter
		enc := NewDotWriter(&encoded)
		enc.Write(body.data)
		enc.Close()
		want := encoded.n

		// smtpkit's encoder into the two buffers a session would give it.
		for _, sink := range []struct {
			name string
			new  func(io.Writer) (io.Writer, func() error)
		}{
			{"smtpkit", func(w io.Writer) (io.Writer, func() error) {
				bw := bufio.NewWriterSize(w, benchBufSize)
				return bw, bw.Flush
			}},
			{"smtpkit-wire.Writer", func(w io.Writer) (io.Writer, func() error) {
				ww := NewWriter(w)
				return ww, ww.Flush
			}},
		} {
			b.Run("body="+body.name+"/impl="+sink.name, func(b *testing.B) {
				var out countingWriter
				w, flush := sink.new(&out)
				d := NewDotWriter(w)
				b.SetBytes(int64(len(body.data)))
				b.ReportAllocs()
				for b.Loop() {
					out.n = 0
					d.Reset(w)
					writeChunks(b, d, body.data)
					if err := d.Close(); err != nil {
						b.Fatal(err)
					}
					if err := flush(); err != nil || out.n != want {
						b.Fatalf("wrote %d bytes, want %d (flush: %v)", out.n, want, err)
					}
				}
			})
		}
		b.Run("body="+body.name+"/impl=textproto", func(b *testing.B) {
			var out countingWriter
			bw := bufio.NewWriterSize(&out, benchBufSize)
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
	buf := make([]byte, benchChunkSize)
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
			br := bufio.NewReaderSize(src, benchBufSize)
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

// countingWriter discards what it is given and counts it, so that a
// benchmark can check that all of the output was produced.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// onlyReader hides WriterTo so that io.CopyBuffer uses the buffer it is given.
type onlyReader struct{ io.Reader }

func BenchmarkBDATWriter(b *testing.B) {
	crlf, _ := benchBodies()
	bw := bufio.NewWriterSize(io.Discard, benchBufSize)
	w := NewBDATWriter(bw, 0)
	b.SetBytes(int64(len(crlf)))
	b.ReportAllocs()
	for b.Loop() {
		w.Reset(bw, 0)
		writeChunks(b, w, crlf)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
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

// repeatReader returns its bytes over and over, forever: a server that never
// stops replying, with no set-up cost inside the benchmark loop.
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
			r := NewReader(bufio.NewReader(&repeatReader{data: []byte(tc.reply)}))
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
		benchNormCRLF = realisticBody(benchNormBodySize, "\r\n")
		benchNormLF = realisticBody(benchNormBodySize, "\n")
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
				bw := bufio.NewWriterSize(w, benchBufSize)
				return bw, bw.Flush
			}},
			// Where session puts it: in front of the BDAT framing.
			{"bdat", func(w io.Writer) (io.Writer, func() error) {
				bw := bufio.NewWriterSize(w, benchBufSize)
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
				var out countingWriter
				w, finish := sink.new(&out)
				x := NewCRLFWriter(w)
				send := func() {
					x.Reset(w)
					writeChunks(b, x, body.data)
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
					n := min(len(p), benchChunkSize)
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
