package benchmarks

import (
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/benchmarks/internal/sink"
	"github.com/smtpkit/smtpkit/internal/benchfixture"
	"github.com/smtpkit/smtpkit/session"
)

// heapMessageSize is the size of TestStreamedMessageHeap's message: 256
// MiB, rounded down to whole 78-octet lines.
const heapMessageSize = (256 << 20) / 78 * 78

// heapLimit is what the heap in use may reach while it is sent.
const heapLimit = 8 << 20

// textReader generates a message of size octets on the fly: 76-column
// lines ending in CRLF, one in a hundred starting with a dot, from one
// block of a hundred lines read over and over. It has no Len or Size
// method, so a client cannot know its size beforehand, and it holds
// nothing but that block (7,800 octets).
type textReader struct {
	block []byte
	off   int
	left  int64
}

func newTextReader(size int64) *textReader {
	return &textReader{block: benchfixture.Text(100, "\r\n"), left: size}
}

func (r *textReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.block[r.off:])
		n += m
		r.off = (r.off + m) % len(r.block)
	}
	r.left -= int64(n)
	return n, nil
}

// TestStreamedMessageHeap sends one 256 MiB message, generated as it is
// read, through DATA and through BDAT to the in-process sink (which keeps
// none of it), and samples the heap from another goroutine all the while:
// the heap in use, client, sink and test together, must stay under 8 MiB.
// The heap is flat in the message's size, or a 256 MiB message would
// show it.
func TestStreamedMessageHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 512 MiB")
	}
	for _, tc := range []struct {
		name string
		opts session.Options
	}{
		{"path=data", session.Options{DisableChunking: true}},
		{"path=bdat", session.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSink(t, sink.Config{})
			c := dialSmtpkit(t, srv.Addr(), tc.opts)
			_, to := recipients(t, 1)
			env := session.Envelope{From: senderMailbox(), To: to}
			body := newTextReader(heapMessageSize)

			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			var (
				stop     = make(chan struct{})
				wg       sync.WaitGroup
				samples  int
				maxInuse uint64
				maxAlloc uint64
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ms runtime.MemStats
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					runtime.ReadMemStats(&ms)
					samples++
					maxInuse = max(maxInuse, ms.HeapInuse)
					maxAlloc = max(maxAlloc, ms.HeapAlloc)
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			start := time.Now()
			res, err := c.SendEnvelope(ctx, &env, body)
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Refused()) > 0 {
				t.Fatalf("refused: %v", res.Refused())
			}
			if _, err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
			if srv.Messages() != 1 || srv.Octets() != heapMessageSize {
				t.Fatalf("sink got %d messages, %d octets; want 1, %d", srv.Messages(), srv.Octets(), heapMessageSize)
			}
			const mib = 1 << 20
			t.Logf("%s: %.0f MiB in %v; heap before: in use %.2f MiB, allocated %.2f MiB; during (max of %d samples): in use %.2f MiB, allocated %.2f MiB",
				tc.name, float64(heapMessageSize)/mib, elapsed.Round(time.Millisecond), float64(base.HeapInuse)/mib, float64(base.HeapAlloc)/mib,
				samples, float64(maxInuse)/mib, float64(maxAlloc)/mib)
			if samples < 10 {
				t.Errorf("only %d heap samples: the send was too quick to watch", samples)
			}
			if maxInuse >= heapLimit {
				t.Errorf("heap in use reached %.2f MiB sending a %.0f MiB message, want under %d MiB",
					float64(maxInuse)/mib, float64(heapMessageSize)/mib, heapLimit/mib)
			}
		})
	}
}
