package wire_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/wire"
)

// readMessage reads r to its end with a fixed buffer, so that it allocates
// nothing of its own.
func readMessage(r io.Reader, buf []byte) (string, error) {
	var got []byte
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return string(got), nil
		}
		if err != nil {
			return string(got), err
		}
	}
}

func TestDotReaderReset(t *testing.T) {
	const stream = "..first\r\n.\r\nsecond\r\n.\r\nQUIT\r\n"
	br := bufio.NewReader(strings.NewReader(stream))
	d := wire.NewDotReader(br)
	d.SetMaxDataLineLength(10)
	buf := make([]byte, 64)
	if got, err := readMessage(d, buf); err != nil || got != ".first\r\n" {
		t.Fatalf("first message = %q, %v", got, err)
	}
	d.Reset(br)
	if got, err := readMessage(d, buf); err != nil || got != "second\r\n" {
		t.Fatalf("second message after Reset = %q, %v", got, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "QUIT\r\n" {
		t.Errorf("after the second message the stream holds %q, want %q", rest, "QUIT\r\n")
	}
	// The line limit survives Reset.
	d.Reset(strings.NewReader("0123456789abc\r\n.\r\n"))
	if _, err := readMessage(d, buf); !errors.Is(err, wire.ErrLineTooLong) {
		t.Errorf("after Reset, an over-long line gave %v, want ErrLineTooLong", err)
	}
}

func TestDotReaderResetAllocs(t *testing.T) {
	src := strings.NewReader("a\r\n..b\r\n.\r\n")
	br := bufio.NewReader(src)
	d := wire.NewDotReader(br)
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset("a\r\n..b\r\n.\r\n")
		br.Reset(src)
		d.Reset(br)
		for {
			_, err := d.Read(buf)
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Reset and reading a message allocate %v times, want 0", allocs)
	}
}

func TestBDATReaderReset(t *testing.T) {
	const stream = "BDAT 3 LAST\r\nabcBDAT 2\r\ndeBDAT 1 LAST\r\nfQUIT\r\n"
	br := bufio.NewReader(strings.NewReader(stream))
	b := wire.NewBDATReader(br)
	var chunks []int64
	b.OnChunk(func(size int64, last bool) error {
		chunks = append(chunks, size)
		return nil
	})
	buf := make([]byte, 64)
	if got, err := readMessage(b, buf); err != nil || got != "abc" {
		t.Fatalf("first message = %q, %v", got, err)
	}
	b.Reset(br)
	if got, err := readMessage(b, buf); err != nil || got != "def" {
		t.Fatalf("second message after Reset = %q, %v", got, err)
	}
	if want := []int64{3, 2, 1}; len(chunks) != len(want) || chunks[0] != 3 || chunks[1] != 2 || chunks[2] != 1 {
		t.Errorf("OnChunk saw %v, want %v: the hook must survive Reset", chunks, want)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "QUIT\r\n" {
		t.Errorf("after the second message the stream holds %q, want %q", rest, "QUIT\r\n")
	}
	// The chunk limit survives Reset.
	b.SetMaxChunkSize(2)
	b.Reset(strings.NewReader("BDAT 3 LAST\r\nabc"))
	if _, err := readMessage(b, buf); !errors.Is(err, wire.ErrChunkTooLarge) {
		t.Errorf("after Reset, a 3-octet chunk over a limit of 2 gave %v, want ErrChunkTooLarge", err)
	}
}
