// Command benchtool is run.sh's helper:
//
//	benchtool freeport       prints a free TCP port on 127.0.0.1
//	benchtool targets FILE   reads `go test -bench` output and prints the
//	                         issue's targets: medians, ratios, met or not
//	benchtool table FILE     the same output's medians as a Markdown table,
//	                         README.md's
//
// It is internal to the benchmarks module and not a tool to install.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "freeport":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	case "targets", "table":
		if len(os.Args) != 3 {
			usage()
		}
		f := targets
		if os.Args[1] == "table" {
			f = table
		}
		if err := f(os.Args[2]); err != nil {
			fail(err)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool freeport | benchtool targets FILE | benchtool table FILE")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchtool:", err)
	os.Exit(1)
}

// samples holds every value of one metric of one benchmark.
type samples map[string]map[string][]float64 // name -> unit -> values

var procs = regexp.MustCompile(`-\d+$`)

// order is the benchmarks' names in the order they first appear.
var order []string

func read(file string) (samples, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := samples{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := procs.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		if s[name] == nil {
			s[name] = map[string][]float64{}
		}
		if !seen[name] {
			seen[name] = true
			order = append(order, name)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			s[name][fields[i+1]] = append(s[name][fields[i+1]], v)
		}
	}
	return s, sc.Err()
}

// stat is a metric's median, and its spread as benchstat prints it: the
// largest distance from the median to the extremes, in percent.
func (s samples) stat(name, unit string) (median, spread float64, n int, ok bool) {
	v := slices.Clone(s[name][unit])
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		median = v[len(v)/2]
	} else {
		median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	if median != 0 {
		spread = 100 * max(median-v[0], v[len(v)-1]-median) / median
	}
	return median, spread, len(v), true
}

func targets(file string) error {
	s, err := read(file)
	if err != nil {
		return err
	}
	fmt.Printf("%-62s %14s %14s %8s  %s\n", "ratio (medians of the same run)", "numerator", "denominator", "ratio", "target")
	ratio := func(bench, unit, num, den string, target float64) {
		label := fmt.Sprintf("%s %s: %s / %s", bench, unit, num, den)
		a, as, an, ok1 := s.stat(bench+"/impl="+num, unit)
		b, bs, bn, ok2 := s.stat(bench+"/impl="+den, unit)
		if !ok1 || !ok2 || b == 0 {
			fmt.Printf("%-62s %s\n", label, "(not in this run)")
			return
		}
		r := a / b
		verdict := "(no target)"
		switch {
		case target > 0 && r >= target:
			verdict = fmt.Sprintf("≥ %.2gx: met", target)
		case target > 0:
			verdict = fmt.Sprintf("≥ %.2gx: MISSED, %.0f%% short", target, 100*(1-r/target))
		}
		fmt.Printf("%-62s %14s %14s %7.2fx  %s\n", label, fmtVal(a, as, an), fmtVal(b, bs, bn), r, verdict)
	}
	// The targets of issue 16 (the reply queue), which keep issue 10's.
	ratio("SmallMessages", "msgs/s", "smtpkit", "netsmtp", 20)
	ratio("SmallMessages", "msgs/s", "smtpkit", "gosmtp", 3.5)
	ratio("SmallMessages", "msgs/s", "smtpkit", "raw", 0.8)
	ratio("SmallMessages", "msgs/s", "smtpkit-nopipelining", "netsmtp", 0)
	ratio("LargeMessage", "MB/s", "smtpkit", "netsmtp", 10)
	ratio("LargeMessage", "MB/s", "smtpkit-bdat", "raw", 0.95)
	ratio("LargeMessage", "MB/s", "smtpkit", "raw", 0.7)
	ratio("LargeMessage", "MB/s", "smtpkit", "smtpkit-reader", 1)
	ratio("LargeMessage", "MB/s", "smtpkit-bdat", "smtpkit-bdat-reader", 1)
	ratio("LargeMessage", "MB/s", "smtpkit-bdat", "netsmtp", 0)
	ratio("LargeMessage", "MB/s", "smtpkit-reader", "netsmtp", 0)
	ratio("LargeMessage", "MB/s", "smtpkit-bdat-reader", "raw", 0)
	ratio("LargeMessage", "MB/s", "smtpkit", "gosmtp", 0)
	ratio("ManyRecipients", "msgs/s", "smtpkit", "netsmtp", 0)
	ratio("ManyRecipients", "msgs/s", "smtpkit", "gosmtp", 0)
	ratio("LMTP", "msgs/s", "smtpkit", "gosmtp", 12)
	ratio("LMTP", "msgs/s", "smtpkit-nopipelining", "gosmtp", 0)
	// Issue 20's: the pool from 16 goroutines against one pipelined
	// connection, and the rest for context.
	ratio("Pool", "msgs/s", "pool", "smtpkit", 1.5)
	ratio("Pool", "msgs/s", "pool", "netsmtp", 0)
	ratio("Pool", "msgs/s", "pool", "smtpkit-conns", 0)
	ratio("Pool", "msgs/s", "pool-stream", "smtpkit", 0)
	ratio("PoolSlowServer", "msgs/s", "pool", "smtpkit", 0)
	for _, body := range []string{"crlf", "lf"} {
		ratio("DotWriter/body="+body, "MB/s", "smtpkit", "textproto", 0)
	}
	for _, reply := range []string{"ehlo10", "line1"} {
		ratio("ReadReply/reply="+reply, "ns/op", "textproto", "smtpkit", 0) // time: the inverse ratio
	}
	fmt.Println()
	if a, as, an, ok := s.stat("SmallMessages/impl=smtpkit", "allocs/msg"); ok {
		verdict := "≤ 8: met"
		if a > 8 {
			verdict = "≤ 8: MISSED"
		}
		fmt.Printf("%-62s %14s %24s  %s\n", "SmallMessages allocs/msg: smtpkit", fmtVal(a, as, an), "", verdict)
	}
	return nil
}

func fmtVal(v, spread float64, n int) string {
	var s string
	switch {
	case v >= 1e4:
		s = fmt.Sprintf("%.1fk", v/1e3)
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	default:
		s = fmt.Sprintf("%.3g", v)
	}
	if spread < 0.5 {
		return s
	}
	return fmt.Sprintf("%s ±%.0f%%", s, spread)
}

// fmtTime is fmtVal for nanoseconds.
func fmtTime(ns, spread float64) string {
	var s string
	switch {
	case ns >= 1e6:
		s = fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		s = fmt.Sprintf("%.3g µs", ns/1e3)
	default:
		s = fmt.Sprintf("%.3g ns", ns)
	}
	if spread < 0.5 {
		return s
	}
	return fmt.Sprintf("%s ±%.0f%%", s, spread)
}

// table prints a Markdown table of every benchmark's medians: msgs/s,
// MB/s (decimal, as go test prints it), allocs/msg, or ns/op and
// allocs/op where a benchmark has no messages. ± is the largest distance
// from the median to an extreme, in percent.
func table(file string) error {
	s, err := read(file)
	if err != nil {
		return err
	}
	fmt.Println("| benchmark | impl | msgs/s | MB/s | allocs/msg | time/op |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, name := range order {
		bench, impl := name, ""
		if i := strings.LastIndex(name, "/impl="); i >= 0 {
			bench, impl = name[:i], name[i+len("/impl="):]
		}
		cell := func(unit string) string {
			m, sp, _, ok := s.stat(name, unit)
			if !ok {
				return ""
			}
			return fmtVal(m, sp, 0)
		}
		allocs := cell("allocs/msg")
		if allocs == "" {
			allocs = cell("allocs/op") + " /op"
		}
		time := ""
		if m, sp, _, ok := s.stat(name, "ns/op"); ok && cell("msgs/s") == "" {
			time = fmtTime(m, sp)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", bench, impl, cell("msgs/s"), cell("MB/s"), allocs, time)
	}
	return nil
}
