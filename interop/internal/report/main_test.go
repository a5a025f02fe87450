package main

import (
	"strings"
	"testing"
)

func TestParseAndTable(t *testing.T) {
	in := `interop: postfix: started (127.0.0.1:10025, 127.0.0.1:10465)
{"Action":"run","Test":"TestMatrix"}
{"Action":"run","Test":"TestMatrix/ehlo"}
{"Action":"run","Test":"TestMatrix/ehlo/a"}
{"Action":"run","Test":"TestMatrix/ehlo/b"}
{"Action":"pass","Test":"TestMatrix/ehlo/a"}
{"Action":"output","Test":"TestMatrix/ehlo/b","Output":"    x_test.go:1: not offered: X (b's EHLO lists Y)\n"}
{"Action":"skip","Test":"TestMatrix/ehlo/b"}
{"Action":"run","Test":"TestMatrix/lmtp"}
{"Action":"run","Test":"TestMatrix/lmtp/b"}
{"Action":"run","Test":"TestMatrix/lmtp/b/sub"}
{"Action":"fail","Test":"TestMatrix/lmtp/b/sub"}
{"Action":"fail","Test":"TestMatrix/lmtp/b"}
{"Action":"run","Test":"TestOther/x/y"}
{"Action":"pass","Test":"TestOther/x/y"}
`
	m, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "| case | a | b |\n| --- | --- | --- |\n| ehlo | pass | not offered |\n| lmtp | n/a | **FAIL** |\n"
	if got := m.table(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if m.failed != 1 || len(m.skipped) != 0 {
		t.Errorf("failed %d, skipped %v", m.failed, m.skipped)
	}

	off := `{"Action":"run","Test":"TestMatrix/ehlo"}
{"Action":"run","Test":"TestMatrix/ehlo/a"}
{"Action":"output","Test":"TestMatrix/ehlo/a","Output":"SMTPKIT_INTEROP=off: real-server suite skipped\n"}
{"Action":"skip","Test":"TestMatrix/ehlo/a"}
`
	if m, err := parse(strings.NewReader(off)); err != nil || len(m.skipped) != 1 {
		t.Errorf("a skip that is not 'not offered': %v, %v", m, err)
	}
	if _, err := parse(strings.NewReader("FAIL build failed\n")); err == nil {
		t.Error("no results: no error")
	}
}

func TestReplace(t *testing.T) {
	got, err := replace("a\n<!-- matrix:begin -->\nold\n<!-- matrix:end -->\nb\n", "| t |\n")
	if err != nil || got != "a\n<!-- matrix:begin -->\n| t |\n<!-- matrix:end -->\nb\n" {
		t.Errorf("%q, %v", got, err)
	}
	if _, err := replace("no markers", "x"); err == nil {
		t.Error("no markers: no error")
	}
}
