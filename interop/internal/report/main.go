// Command report turns the output of
//
//	go test -json -run '^TestMatrix$' ./interop/
//
// (on standard input) into the interop results table, and writes it into
// a README between the lines <!-- matrix:begin --> and <!-- matrix:end -->.
// interop/report runs it; see interop/README.md.
//
// Rows are the cases (TestMatrix/CASE), columns the peers
// (TestMatrix/CASE/PEER), both in the order the tests ran. A cell is
// "pass", "FAIL", "not offered" (the subtest skipped saying "not offered:
// ...": the peer does not offer what the case needs) or "n/a" (no such
// subtest: the case does not apply to the peer). A subtest skipped for any
// other reason (SMTPKIT_INTEROP=off) means the suite did not run: report
// then fails without writing, as it does when there are no results.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

const (
	beginMarker = "<!-- matrix:begin -->"
	endMarker   = "<!-- matrix:end -->"
)

// event is a line of test2json output.
type event struct {
	Action string
	Test   string
	Output string
}

// Cell values.
const (
	pass       = "pass"
	fail       = "**FAIL**"
	notOffered = "not offered"
	notApplied = "n/a"
)

// matrix is the results of one run.
type matrix struct {
	cases, peers []string
	cells        map[[2]string]string // {case, peer} -> cell
	skipped      []string             // subtests skipped, not as "not offered"
	failed       int
}

// parse reads test2json events. Lines that are not JSON (what interop/run
// or apt-get print on the same stream) are ignored.
func parse(r io.Reader) (*matrix, error) {
	m := &matrix{cells: map[[2]string]string{}}
	output := map[string]*strings.Builder{}
	result := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			continue
		}
		parts := strings.Split(e.Test, "/")
		if parts[0] != "TestMatrix" {
			continue
		}
		if len(parts) == 2 && e.Action == "run" && !slices.Contains(m.cases, parts[1]) {
			m.cases = append(m.cases, parts[1])
		}
		if len(parts) != 3 {
			continue
		}
		switch e.Action {
		case "run":
			if !slices.Contains(m.peers, parts[2]) {
				m.peers = append(m.peers, parts[2])
			}
			result[e.Test] = "started"
		case "output":
			b := output[e.Test]
			if b == nil {
				b = new(strings.Builder)
				output[e.Test] = b
			}
			b.WriteString(e.Output)
		case "pass", "fail", "skip":
			result[e.Test] = e.Action
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(result) == 0 {
		return nil, errors.New("no TestMatrix/CASE/PEER results in the input")
	}
	for name, r := range result {
		parts := strings.Split(name, "/")
		cell := fail // "started": no result, the test binary died
		switch r {
		case "pass":
			cell = pass
		case "skip":
			cell = notOffered
			if out := output[name]; out == nil || !strings.Contains(out.String(), "not offered: ") {
				m.skipped = append(m.skipped, name)
			}
		}
		if cell == fail {
			m.failed++
		}
		m.cells[[2]string{parts[1], parts[2]}] = cell
	}
	slices.Sort(m.skipped)
	return m, nil
}

// table is the matrix as a markdown table.
func (m *matrix) table() string {
	var b strings.Builder
	b.WriteString("| case |")
	for _, p := range m.peers {
		fmt.Fprintf(&b, " %s |", p)
	}
	b.WriteString("\n| --- |")
	for range m.peers {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, c := range m.cases {
		fmt.Fprintf(&b, "| %s |", c)
		for _, p := range m.peers {
			cell, ok := m.cells[[2]string{c, p}]
			if !ok {
				cell = notApplied
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// replace puts table between the markers in readme.
func replace(readme, table string) (string, error) {
	i := strings.Index(readme, beginMarker)
	j := strings.Index(readme, endMarker)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %s ... %s in the README", beginMarker, endMarker)
	}
	i += len(beginMarker)
	return readme[:i] + "\n" + table + readme[j:], nil
}

func main() {
	readme := flag.String("readme", "", "the README to rewrite (empty: print the table only)")
	flag.Parse()
	m, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if len(m.skipped) > 0 {
		fmt.Fprintf(os.Stderr, "report: %d subtests skipped for another reason than \"not offered\" (the suite did not run?), e.g. %s; README not written\n", len(m.skipped), m.skipped[0])
		os.Exit(1)
	}
	t := m.table()
	fmt.Print(t)
	if *readme != "" {
		old, err := os.ReadFile(*readme)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		updated, err := replace(string(old), t)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		if updated != string(old) {
			if err := os.WriteFile(*readme, []byte(updated), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "report:", err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "report: table written to %s\n", *readme)
	}
	if m.failed > 0 {
		fmt.Fprintf(os.Stderr, "report: %d cells failed\n", m.failed)
		os.Exit(1)
	}
}
