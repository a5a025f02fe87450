package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/smtptest"
)

// maildir stores messages as files in a maildir: written in tmp, then
// renamed into new, so that a reader never sees half a message.
type maildir struct {
	dir  string
	host string
	pid  int
	seq  atomic.Int64
}

func newMaildir(dir string) (*maildir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("--maildir: %w", err)
		}
	}
	host, _ := os.Hostname()
	// '/' and ':' cannot be in a maildir file name (':' starts the info).
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	if host == "" {
		host = "localhost"
	}
	return &maildir{dir: dir, host: host, pid: os.Getpid()}, nil
}

// store writes m with Return-Path and Delivered-To fields and LF line
// endings, and returns the file's path.
func (md *maildir) store(m smtptest.Message) (string, error) {
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, md.pid, md.seq.Add(1), md.host)
	var b bytes.Buffer
	b.Grow(len(m.Data) + 128)
	fmt.Fprintf(&b, "Return-Path: <%s>\n", m.From)
	for _, to := range m.To {
		fmt.Fprintf(&b, "Delivered-To: %s\n", to)
	}
	b.Write(bytes.ReplaceAll(m.Data, []byte("\r\n"), []byte("\n")))
	if b.Len() > 0 && b.Bytes()[b.Len()-1] != '\n' {
		b.WriteByte('\n')
	}
	tmp := filepath.Join(md.dir, "tmp", name)
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return "", err
	}
	final := filepath.Join(md.dir, "new", name)
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return final, nil
}
