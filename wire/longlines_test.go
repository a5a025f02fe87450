package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

// refFold is the fold by the book, one octet at a time: a line (ended by
// CR or LF) that reaches MaxMessageLineLength octets and goes on gets CRLF SP, and
// the SP counts as the first octet of the next line.
func refFold(p []byte) []byte {
	var out []byte
	col := 0
	for _, c := range p {
		if c == '\r' || c == '\n' {
			col = 0
		} else {
			if col == wire.MaxMessageLineLength {
				out = append(out, "\r\n "...)
				col = 1
			}
			col++
		}
		out = append(out, c)
	}
	return out
}

// refLongLine returns the number and length of the first line of the
// normalised body longer than MaxMessageLineLength, or 0, 0.
func refLongLine(body []byte) (int64, int) {
	lines := strings.Split(string(refNormalise(body)), "\r\n")
	for i, l := range lines {
		if len(l) > wire.MaxMessageLineLength {
			return int64(i + 1), len(l)
		}
	}
	return 0, 0
}

// maxLineLength returns the longest line of a DATA encoding, a '.' that
// starts a line not counted when it is a stuffed one.
func maxDotLine(out []byte) int {
	longest := 0
	for _, l := range strings.Split(string(out), "\r\n") {
		n := len(l)
		if strings.HasPrefix(l, "..") {
			n-- // the '.' DATA added (RFC 5321 §4.5.3.1.6 does not count it)
		}
		longest = max(longest, n)
	}
	return longest
}

// dotEncodePolicy encodes the parts under policy, returning the output or
// the first error.
func dotEncodePolicy(policy wire.LongLines, parts ...[]byte) ([]byte, int64, error) {
	var buf bytes.Buffer
	d := wire.NewDotWriter(&buf)
	d.SetLongLines(policy)
	for _, p := range parts {
		if n, err := d.Write(p); err != nil {
			return buf.Bytes(), d.Folded(), err
		} else if n != len(p) {
			return nil, 0, fmt.Errorf("Write returned %d of %d", n, len(p))
		}
	}
	err := d.Close()
	return buf.Bytes(), d.Folded(), err
}

// limitPolicy passes the parts through a LineLimitWriter under policy.
func limitPolicy(policy wire.LongLines, parts ...[]byte) ([]byte, int64, error) {
	var buf bytes.Buffer
	l := wire.NewLineLimitWriter(&buf, policy)
	for _, p := range parts {
		if n, err := l.Write(p); err != nil {
			return buf.Bytes(), l.Folded(), err
		} else if n != len(p) {
			return nil, 0, fmt.Errorf("Write returned %d of %d", n, len(p))
		}
	}
	return buf.Bytes(), l.Folded(), nil
}

func scanParts(parts ...[]byte) *wire.LineTooLongError {
	var s wire.BodyScan
	for _, p := range parts {
		s.Scan(p)
	}
	return s.LongLine()
}

// checkRefused checks that err refuses line number line, n octets long,
// of which the encoder may have seen only part.
func checkRefused(tb codecTB, err error, line int64, n int) {
	tb.Helper()
	var le *wire.LineTooLongError
	if !errors.As(err, &le) {
		tb.Fatalf("error %v, want a *LineTooLongError for line %d", err, line)
	}
	if le.Line != line || le.Limit != wire.MaxMessageLineLength || le.Length <= wire.MaxMessageLineLength || le.Length > n {
		tb.Fatalf("%+v, want line %d of %d octets (or at least %d of them seen)", *le, line, n, wire.MaxMessageLineLength+1)
	}
}

// TestLongLinesAroundTheLimit runs lines of 997 to 1,001 octets, after
// each kind of line ending and behind a '.' DATA stuffs, through every
// policy, the body split in two at every offset.
func TestLongLinesAroundTheLimit(t *testing.T) {
	for n := wire.MaxMessageLineLength - 1; n <= wire.MaxMessageLineLength+3; n++ {
		for _, eol := range []string{"\r\n", "\n", "\r"} {
			for _, lead := range []string{"x", "."} {
				long := lead + strings.Repeat("x", n-1)
				body := []byte("first" + eol + long + eol + "last" + eol)
				// The same line last, unended: a stream refused before it ends.
				open := []byte("first" + eol + long)
				name := fmt.Sprintf("n=%d/eol=%q/lead=%q", n, eol, lead)
				t.Run(name, func(t *testing.T) {
					tooLong := n > wire.MaxMessageLineLength
					norm := refNormalise(body)
					for k := 0; k <= len(body); k++ {
						parts := [][]byte{body[:k], body[k:]}
						checkDotPolicies(t, body, parts, tooLong, n)
						normParts := [][]byte{norm[:min(k, len(norm))], norm[min(k, len(norm)):]}
						checkLimitPolicies(t, norm, normParts, tooLong, n)
						if le := scanParts(parts...); tooLong != (le != nil) || le != nil && (le.Line != 2 || le.Length != n) {
							t.Fatalf("split at %d: BodyScan.LongLine() = %+v, want line 2 of %d octets: %v", k, le, n, tooLong)
						}
					}
					for k := 0; k <= len(open); k++ {
						_, _, err := dotEncodePolicy(wire.LongLinesRefuse, open[:k], open[k:])
						if tooLong {
							checkRefused(t, err, 2, n)
						} else if err != nil {
							t.Fatalf("open line split at %d: %v", k, err)
						}
					}
				})
			}
		}
	}
}

func checkDotPolicies(tb codecTB, body []byte, parts [][]byte, tooLong bool, n int) {
	tb.Helper()
	want := refDotEncode(body)
	out, _, err := dotEncodePolicy(wire.LongLinesSend, parts...)
	if err != nil || !bytes.Equal(out, want) {
		tb.Fatalf("send: %q, %v; want %q", out, err, want)
	}
	out, _, err = dotEncodePolicy(wire.LongLinesRefuse, parts...)
	if tooLong {
		checkRefused(tb, err, 2, n)
	} else if err != nil || !bytes.Equal(out, want) {
		tb.Fatalf("refuse: %q, %v; want %q", out, err, want)
	}
	out, folds, err := dotEncodePolicy(wire.LongLinesFold, parts...)
	wantFold := refDotEncode(refFold(body))
	if err != nil || !bytes.Equal(out, wantFold) {
		tb.Fatalf("fold: %q, %v; want %q", out, err, wantFold)
	}
	if l := maxDotLine(out); l > wire.MaxMessageLineLength {
		tb.Fatalf("fold: a line of %d octets", l)
	}
	if (folds > 0) != tooLong {
		tb.Fatalf("fold: Folded() = %d for a line of %d", folds, n)
	}
}

func checkLimitPolicies(tb codecTB, norm []byte, parts [][]byte, tooLong bool, n int) {
	tb.Helper()
	out, _, err := limitPolicy(wire.LongLinesSend, parts...)
	if err != nil || !bytes.Equal(out, norm) {
		tb.Fatalf("LineLimitWriter send: %q, %v; want %q", out, err, norm)
	}
	out, _, err = limitPolicy(wire.LongLinesRefuse, parts...)
	if tooLong {
		checkRefused(tb, err, 2, n)
		// Only what earlier Writes held of the refused line can have
		// gone out, and that is within the limit.
		if first := len("first\r\n"); !bytes.HasPrefix(norm, out) || len(out) > first+wire.MaxMessageLineLength {
			tb.Fatalf("LineLimitWriter refuse: passed on %d octets, more than the limit of the refused line: %.40q", len(out), out)
		}
	} else if err != nil || !bytes.Equal(out, norm) {
		tb.Fatalf("LineLimitWriter refuse: %q, %v; want %q", out, err, norm)
	}
	out, folds, err := limitPolicy(wire.LongLinesFold, parts...)
	if want := refFold(norm); err != nil || !bytes.Equal(out, want) {
		tb.Fatalf("LineLimitWriter fold: %q, %v; want %q", out, err, want)
	}
	if (folds > 0) != tooLong {
		tb.Fatalf("LineLimitWriter fold: Folded() = %d for a line of %d", folds, n)
	}
}

// TestFoldContinuations: a line of 3,000 octets is folded into lines of
// 998, then 998 with the SP, and the rest; the folds are counted.
func TestFoldContinuations(t *testing.T) {
	body := []byte(strings.Repeat("y", 3000) + "\r\n")
	out, folds, err := limitPolicy(wire.LongLinesFold, body)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("y", 998) + "\r\n " + strings.Repeat("y", 997) + "\r\n " + strings.Repeat("y", 997) + "\r\n " + strings.Repeat("y", 8) + "\r\n"
	if string(out) != want || folds != 3 {
		t.Fatalf("got %d folds, %q", folds, out)
	}
}

// TestLongLinesStrings: the policies' names, for flags and traces.
func TestLongLinesStrings(t *testing.T) {
	for p, want := range map[wire.LongLines]string{wire.LongLinesRefuse: "refuse", wire.LongLinesSend: "send", wire.LongLinesFold: "fold", 9: "LongLines(9)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", p, got, want)
		}
	}
	var zero wire.LongLines
	if zero != wire.LongLinesRefuse {
		t.Error("the zero LongLines is not LongLinesRefuse")
	}
}

// TestDotWriterResetKeepsPolicy: Reset starts a new message under the
// same policy, with the line count and the fold count back at zero.
func TestDotWriterResetKeepsPolicy(t *testing.T) {
	var buf bytes.Buffer
	d := wire.NewDotWriter(&buf)
	d.SetLongLines(wire.LongLinesFold)
	d.Write([]byte(strings.Repeat("z", 1000)))
	d.Close()
	if d.Folded() != 1 {
		t.Fatalf("Folded() = %d, want 1", d.Folded())
	}
	d.SetLongLines(wire.LongLinesRefuse)
	d.Reset(&buf)
	if d.Folded() != 0 {
		t.Fatalf("Folded() after Reset = %d", d.Folded())
	}
	d.Write([]byte("a\nb\n"))
	_, err := d.Write([]byte(strings.Repeat("z", 1000)))
	checkRefused(t, err, 3, 1000)
}

// genLineBody draws a body of lines whose lengths cluster around the
// limit, ended by CRLF, LF or CR, some starting with '.', the last one
// sometimes unended. With short set, no line is over the limit.
func genLineBody(short bool) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		hi := 2*wire.MaxMessageLineLength + 10
		if short {
			hi = wire.MaxMessageLineLength
		}
		lines := rapid.IntRange(0, 6).Draw(t, "lines")
		var body []byte
		for i := 0; i < lines; i++ {
			var n int
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 0:
				n = rapid.IntRange(0, 80).Draw(t, "short")
			case 1:
				n = rapid.IntRange(wire.MaxMessageLineLength-3, min(hi, wire.MaxMessageLineLength+3)).Draw(t, "near")
			default:
				n = rapid.IntRange(0, hi).Draw(t, "any")
			}
			line := bytes.Repeat([]byte{rapid.SampledFrom([]byte("ab .\x80\t")).Draw(t, "fill")}, n)
			if n > 0 && rapid.Bool().Draw(t, "dot") {
				line[0] = '.'
			}
			body = append(body, line...)
			if i < lines-1 || rapid.Bool().Draw(t, "ended") {
				body = append(body, rapid.SampledFrom([]string{"\r\n", "\n", "\r"}).Draw(t, "eol")...)
			}
		}
		return body
	})
}

// Folding never leaves a line over the limit, is the reference fold, and
// does not depend on how the body is split.
func TestPropertyFoldWithinLimit(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genLineBody(false).Draw(t, "body")
		parts := splitBodyAt(body, genSplits(len(body)).Draw(t, "splits"))
		checkFold(t, body, parts)
	})
}

func checkFold(tb codecTB, body []byte, parts [][]byte) {
	tb.Helper()
	out, _, err := dotEncodePolicy(wire.LongLinesFold, parts...)
	if err != nil {
		tb.Fatalf("DotWriter fold: %v", err)
	}
	if l := maxDotLine(out); l > wire.MaxMessageLineLength {
		tb.Fatalf("DotWriter fold: a line of %d octets", l)
	}
	if want := refDotEncode(refFold(body)); !bytes.Equal(out, want) {
		tb.Fatalf("DotWriter fold:\n got %q\nwant %q", out, want)
	}
	norm := refNormalise(body)
	normParts := splitBodyAt(norm, partEnds(parts))
	lout, _, err := limitPolicy(wire.LongLinesFold, normParts...)
	if err != nil || !bytes.Equal(lout, refFold(norm)) {
		tb.Fatalf("LineLimitWriter fold: %q, %v", lout, err)
	}
	line, n := refLongLine(body)
	le := scanParts(parts...)
	if line == 0 && le != nil || line != 0 && (le == nil || le.Line != line || le.Length != n) {
		tb.Fatalf("BodyScan.LongLine() = %+v, want line %d of %d", le, line, n)
	}
	_, _, err = dotEncodePolicy(wire.LongLinesRefuse, parts...)
	if line == 0 && err != nil {
		tb.Fatalf("DotWriter refuse: %v", err)
	}
	if line != 0 {
		checkRefused(tb, err, line, n)
	}
}

// partEnds returns the offsets where the parts meet.
func partEnds(parts [][]byte) []int {
	var offs []int
	n := 0
	for _, p := range parts {
		n += len(p)
		offs = append(offs, n)
	}
	return offs
}

// A message whose lines are all within the limit goes out byte for byte
// as it would with no limit, under every policy.
func TestPropertyWithinLimitUnchanged(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genLineBody(true).Draw(t, "body")
		parts := splitBodyAt(body, genSplits(len(body)).Draw(t, "splits"))
		want := refDotEncode(body)
		for _, p := range []wire.LongLines{wire.LongLinesRefuse, wire.LongLinesFold} {
			out, folds, err := dotEncodePolicy(p, parts...)
			if err != nil || folds != 0 || !bytes.Equal(out, want) {
				t.Fatalf("%v: %q, %d folds, %v; want %q", p, out, folds, err, want)
			}
			norm := refNormalise(body)
			lout, _, err := limitPolicy(p, splitBodyAt(norm, partEnds(parts))...)
			if err != nil || !bytes.Equal(lout, norm) {
				t.Fatalf("LineLimitWriter %v: %q, %v", p, lout, err)
			}
		}
		if le := scanParts(parts...); le != nil {
			t.Fatalf("BodyScan.LongLine() = %+v", le)
		}
	})
}

// FuzzFold checks the fold and the refusal on any input, split once.
func FuzzFold(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 999)+"\r\n"), uint16(500))
	f.Add([]byte("."+strings.Repeat("b", 2000)+"\n.\r"), uint16(998))
	f.Add([]byte(strings.Repeat("c", 997)+"\r"+strings.Repeat("d", 1000)), uint16(998))
	f.Add([]byte("short\r\nlines\n"), uint16(3))
	f.Fuzz(func(t *testing.T, body []byte, split uint16) {
		k := min(int(split), len(body))
		checkFold(t, body, [][]byte{body[:k], body[k:]})
	})
}

// TestBodyScanBareCRSplitsLine: 1,201 octets between two LFs are two
// lines when a bare CR stands between them (the CRLF count's measure
// overstates them, and the exact one must not report them), and one too
// long without it; split anywhere.
func TestBodyScanBareCRSplitsLine(t *testing.T) {
	for _, tt := range []struct {
		body string
		line int64
		n    int
	}{
		{"head\r\n" + strings.Repeat("x", 600) + "\r" + strings.Repeat("y", 600) + "\r\nend\r\n", 0, 0},
		{"head\r\n" + strings.Repeat("x", 600) + "." + strings.Repeat("y", 600) + "\r\nend\r\n", 2, 1201},
		{"head\r\n" + strings.Repeat("x", 998) + "\r" + strings.Repeat("y", 999) + "\r\nend\r\n", 3, 999},
	} {
		for k := 0; k <= len(tt.body); k++ {
			le := scanParts([]byte(tt.body[:k]), []byte(tt.body[k:]))
			if tt.line == 0 && le != nil || tt.line != 0 && (le == nil || le.Line != tt.line || le.Length != tt.n) {
				t.Fatalf("split at %d: LongLine() = %+v, want line %d of %d", k, le, tt.line, tt.n)
			}
		}
	}
}
