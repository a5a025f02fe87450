package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/smtptest"
)

// binary is the smtpkit command, built once for all the tests: they run
// it as a user would, with os/exec, and look at its exit status and
// output. Under -race the binary is built with -race too, so that the
// race detector watches the code under test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smtpkit-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "smtpkit")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building smtpkit:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// raceEnv stops a -race binary from sleeping a second before it exits.
const raceEnv = "GORACE=atexit_sleep_ms=0"

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// smtpkit runs the binary with args and stdin (nil: /dev/null) and waits
// for it, at most a minute.
func smtpkit(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return smtpkitEnv(t, nil, stdin, args...)
}

func smtpkitEnv(t *testing.T, env []string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), append(env, raceEnv)...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("smtpkit %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	if strings.Contains(r.stderr, "DATA RACE") {
		t.Errorf("smtpkit %s: data race:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// want checks the exit status, showing the output when it is wrong.
func (r result) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// oneErrorLine checks that standard error is exactly one line holding
// each of parts.
func (r result) oneErrorLine(t *testing.T, parts ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Fatalf("stderr is %d lines, want one:\n%s", len(lines), r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(lines[0], p) {
			t.Errorf("error line %q does not contain %q", lines[0], p)
		}
	}
}

func newServer(t *testing.T, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	s := smtptest.NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// writeCA writes the server's certificate as PEM, for --ca.
func writeCA(t *testing.T, s *smtptest.Server) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// writeCert makes a self-signed certificate for 127.0.0.1 and localhost,
// with cn its subject's CommonName, and writes it and its key as PEM
// files, for the sink's --tls-cert.
func writeCert(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	c, err := testfixture.NewCertificate(pkix.Name{CommonName: cn}, "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return c.WritePEM(t)
}

// decode parses a --json output into generic maps, to check the exact
// set of keys.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, s)
	}
	return v
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("%s has keys %v, want %v", what, got, want)
	}
}

// sinkProc is `smtpkit sink` running as a subprocess.
type sinkProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	Addr string

	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	lines  chan string // stdout lines as they come
	done   chan struct{}
	code   int
}

var listening = regexp.MustCompile(`listening on (\S+)`)

// startSink runs the sink on a free port and waits until it listens.
func startSink(t *testing.T, args ...string) *sinkProc {
	t.Helper()
	return runSink(t, exec.Command(binary, append([]string{"sink", "--listen", "127.0.0.1:0"}, args...)...))
}

// runSink starts cmd, a sink listening on "127.0.0.1:0", collects its
// output and waits until it says where it listens.
func runSink(t *testing.T, cmd *exec.Cmd) *sinkProc {
	t.Helper()
	p := &sinkProc{t: t, cmd: cmd, lines: make(chan string, 10000), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), raceEnv)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	})
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
	})
	go func() {
		wg.Wait()
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.Addr = <-addr:
	case <-p.done:
		t.Fatalf("sink exited: %s", p.Stderr())
	case <-time.After(30 * time.Second):
		t.Fatalf("sink did not listen: %s", p.Stderr())
	}
	return p
}

func (p *sinkProc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *sinkProc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// waitLines waits for n message lines on the sink's standard output.
func (p *sinkProc) waitLines(n int) []string {
	p.t.Helper()
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case l := <-p.lines:
			got = append(got, l)
		case <-timeout:
			p.t.Fatalf("%d message lines from the sink, want %d:\n%s", len(got), n, strings.Join(got, "\n"))
		}
	}
	return got
}

// stop sends SIGTERM and waits for the sink to exit; it returns the exit
// status.
func (p *sinkProc) stop() int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("sink did not exit after SIGTERM:\n%s", p.Stderr())
	}
	if strings.Contains(p.Stderr(), "DATA RACE") {
		p.t.Errorf("sink: data race:\n%s", p.Stderr())
	}
	return p.code
}
