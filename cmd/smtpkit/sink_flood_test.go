package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/wire"
)

// floodSize is how hard TestSinkFlood floods and what it allows: the
// numbers of issue 17, and under -race (raceEnabled, set by a build tag in
// race_test.go) big messages of 5 MB instead of 50 and twice the time for
// the legitimate client, since the race-built sink is several times slower,
// and 400 MB of RSS, since the race detector's shadow memory counts in it.
type floodSize struct {
	idle      int   // connections opened and left idle
	blank     int   // connections that send blank lines and never read
	big       int   // connections that each send bigBytes of data
	bigBytes  int64 // past the 1 MB --max-size
	maxRSS    int64 // octets
	maxCPU    time.Duration
	legitTime time.Duration // for the legitimate client to get through
}

var flood = map[bool]floodSize{
	false: {idle: 1000, blank: 100, big: 20, bigBytes: 50 << 20, maxRSS: 200 << 20, maxCPU: 40 * time.Second, legitTime: 10 * time.Second},
	true:  {idle: 1000, blank: 100, big: 20, bigBytes: 5 << 20, maxRSS: 400 << 20, maxCPU: 90 * time.Second, legitTime: 20 * time.Second},
}[raceEnabled]

// TestSinkFlood runs `smtpkit sink --max-connections 200 --idle-timeout
// 2s` in a process limited to 256 descriptors under three floods at once
// (connections left idle, connections that send blank lines and never
// read, connections that send 50 MB past --max-size), and checks that it
// does not crash or spin, that its memory stays bounded, and that a
// legitimate client, retrying on 421, gets a message through in time.
func TestSinkFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a sink for about 20 s")
	}
	raiseNoFile(t, flood.idle+flood.blank+flood.big+200)
	const maxSize = 1 << 20
	p := startLimitedSink(t, 256, "--max-connections", "200", "--idle-timeout", "2s",
		"--max-size", strconv.Itoa(maxSize), "--hostname", "sink.example")
	if got := p.limit(t, "Max open files"); got != "256" {
		t.Fatalf("the sink's descriptor limit is %s, want 256", got)
	}

	// Sample the sink's RSS and watch that it stays alive.
	var peakRSS atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := p.rss(); err == nil {
				raise(&peakRSS, rss)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	var idleOpen, blankSent, bigTooBig, bigOther atomic.Int64
	var idleConns []net.Conn
	var idleMu sync.Mutex

	// 1. Connections opened one every millisecond and left idle until the
	// end.
	idleDialled := make(chan struct{})
	wg.Go(func() {
		defer close(idleDialled)
		d := net.Dialer{Timeout: 5 * time.Second}
		for range flood.idle {
			nc, err := d.Dial("tcp", p.Addr)
			if err == nil {
				idleOpen.Add(1)
				idleMu.Lock()
				idleConns = append(idleConns, nc)
				idleMu.Unlock()
			}
			time.Sleep(time.Millisecond)
		}
	})
	// 2. Connections that send blank lines as fast as they can and never
	// read, for at most 8 MB or 8 s each.
	blankLines := bytes.Repeat([]byte("\r\n"), 32<<10)
	for range flood.blank {
		wg.Go(func() {
			nc, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
			if err != nil {
				return
			}
			defer nc.Close()
			nc.SetWriteDeadline(time.Now().Add(8 * time.Second))
			for sent := 0; sent < 8<<20; {
				n, err := nc.Write(blankLines)
				sent += n
				blankSent.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
	}
	// 3. Connections that each send a message of bigBytes past --max-size,
	// retrying on 421 every 100 ms, for at most 40 s in all.
	for range flood.big {
		wg.Go(func() {
			until := time.Now().Add(40 * time.Second)
			for time.Now().Before(until) {
				r, err := sendBig(p.Addr, flood.bigBytes, until)
				switch {
				case err == nil && r.Code == response.CodeExceededStorage:
					bigTooBig.Add(1)
					return
				case err == nil && r.Code != response.CodeServiceNotAvailable:
					t.Errorf("a message of %d octets over a %d-octet limit got %v", flood.bigBytes, maxSize, r)
					bigOther.Add(1)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			bigOther.Add(1)
		})
	}

	// The legitimate client, once every idle connection is open (a sink
	// that never closes them would have it wait behind them for ever),
	// retrying on 421 or a connection error.
	<-idleDialled
	legitStart := time.Now()
	var tries int
	var lastErr error
	var through time.Duration
	for time.Since(legitStart) < flood.legitTime {
		tries++
		tryStart := time.Now()
		lastErr = sendLegit(p.Addr)
		t.Logf("try %d at %v: %v after %v", tries, tryStart.Sub(start).Round(time.Millisecond), lastErr, time.Since(tryStart).Round(time.Millisecond))
		if lastErr == nil {
			through = time.Since(legitStart)
			break
		}
		if !retryableUnderFlood(lastErr) {
			t.Fatalf("legitimate client: %v", lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if through == 0 {
		t.Errorf("the legitimate client did not get through in %v (%d tries): %v", flood.legitTime, tries, lastErr)
	} else {
		select {
		case l := <-p.lines:
			if !strings.Contains(l, " from=<legit@example.org> to=<bob@example.org> ") {
				t.Errorf("sink printed %q", l)
			}
		case <-time.After(10 * time.Second):
			t.Error("the sink printed no line for the legitimate message")
		}
	}

	wg.Wait()
	floodTime := time.Since(start)
	idleMu.Lock()
	for _, nc := range idleConns {
		nc.Close()
	}
	idleMu.Unlock()

	// Once the floods are over the sink must be idle: no spinning.
	time.Sleep(500 * time.Millisecond)
	cpuBefore := p.cpu(t)
	time.Sleep(2 * time.Second)
	idleCPU := p.cpu(t) - cpuBefore
	close(stopSampling)
	<-sampled
	totalCPU := p.cpu(t)

	t.Logf("legitimate client, from %v into the floods: through after %v (%d tries); floods over after %v",
		legitStart.Sub(start).Round(time.Millisecond), through.Round(time.Millisecond), tries, floodTime.Round(time.Millisecond))
	t.Logf("idle connections opened: %d of %d; blank lines sent: %d octets by %d connections; big messages refused with 552: %d of %d",
		idleOpen.Load(), flood.idle, blankSent.Load(), flood.blank, bigTooBig.Load(), flood.big)
	t.Logf("sink peak RSS %.1f MB (limit %d MB); CPU %v in all, %v in 2 s once idle",
		float64(peakRSS.Load())/(1<<20), flood.maxRSS>>20, totalCPU, idleCPU)

	if rss := peakRSS.Load(); rss > flood.maxRSS {
		t.Errorf("the sink's RSS reached %d MB, want under %d MB", rss>>20, flood.maxRSS>>20)
	}
	if totalCPU > flood.maxCPU {
		t.Errorf("the sink used %v of CPU, want under %v", totalCPU, flood.maxCPU)
	}
	if idleCPU > 200*time.Millisecond {
		t.Errorf("the sink used %v of CPU in 2 s with no client: it spins", idleCPU)
	}
	if bigTooBig.Load() == 0 {
		t.Error("no big message got through to its 552: the data flood never ran")
	}
	if code := p.stop(); code != exitOK {
		t.Errorf("sink exit status %d after SIGTERM:\n%s", code, p.Stderr())
	}
	stderr := p.Stderr()
	for _, bad := range []string{"panic", "fatal error", "DATA RACE"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("sink stderr has %q:\n%s", bad, stderr)
		}
	}
	if !strings.Contains(stderr, "refused over --max-connections") {
		t.Errorf("the sink refused no connection:\n%s", stderr)
	}
	t.Logf("sink: %s", strings.ReplaceAll(strings.TrimSpace(stderr), "\n", "; "))
}

// raiseNoFile raises the test process's descriptor limit to its hard
// limit, and skips the test when that is below need.
func raiseNoFile(t *testing.T, need int) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("setrlimit: %v", err)
		}
	}
	if lim.Cur < uint64(need) {
		t.Skipf("the flood needs %d descriptors; the hard limit is %d", need, lim.Max)
	}
}

// startLimitedSink runs the sink through sh with "ulimit -n n" (the soft
// and the hard limit, so that the Go runtime cannot raise it) and waits
// until it listens. The process is the sink itself (sh execs it).
func startLimitedSink(t *testing.T, n int, args ...string) *sinkProc {
	t.Helper()
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, n)
	return runSink(t, exec.Command("sh", append([]string{"-c", script, binary, "sink", "--listen", "127.0.0.1:0"}, args...)...))
}

// limit returns the soft limit named in /proc/PID/limits.
func (p *sinkProc) limit(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// rss returns the sink's resident set size (VmRSS).
func (p *sinkProc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// clockTicks is the unit of the CPU times in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go runs on.
const clockTicks = 100

// cpu returns the CPU time (user and system) the sink has used.
func (p *sinkProc) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("the sink is gone: %v", err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func raise(p *atomic.Int64, n int64) {
	for {
		old := p.Load()
		if n <= old || p.CompareAndSwap(old, n) {
			return
		}
	}
}

// sendBig sends one message of n octets of data after DATA and returns
// the reply to its end (or the 421 that refused the connection).
func sendBig(addr string, n int64, until time.Time) (response.Reply, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return response.Reply{}, err
	}
	defer nc.Close()
	nc.SetDeadline(until)
	r := wire.NewReader(nc)
	greeting, err := r.ReadReply()
	if err != nil || greeting.Code != response.CodeServiceReady {
		return greeting, err
	}
	io.WriteString(nc, "EHLO flood.example\r\nMAIL FROM:<flood@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
	for range 4 {
		if reply, err := r.ReadReply(); err != nil || reply.Code >= 400 {
			return reply, err
		}
	}
	w := bufio.NewWriterSize(nc, 64<<10)
	line := []byte(strings.Repeat("x", 998) + "\r\n")
	for sent := int64(0); sent < n; sent += int64(len(line)) {
		if _, err := w.Write(line); err != nil {
			return response.Reply{}, err
		}
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return response.Reply{}, err
	}
	return r.ReadReply()
}

// sendLegit sends one message with the session package.
func sendLegit(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := session.Dial(ctx, addr, &session.Options{LocalName: "legit.example"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Send(ctx, "legit@example.org", []string{"bob@example.org"},
		strings.NewReader("Subject: through the flood\r\n\r\nhello\r\n"))
	if err != nil {
		return err
	}
	c.Quit(ctx) // the message is through, whatever becomes of QUIT
	return nil
}

// retryableUnderFlood reports whether err is a 421 or a connection failure, which a
// sender meets under a flood and answers by trying again.
func retryableUnderFlood(err error) bool {
	var re *response.Error
	if errors.As(err, &re) {
		return re.Code() == response.CodeServiceNotAvailable
	}
	return true
}
