package msghdr

import (
	"bufio"
	"strings"
	"testing"
)

// BenchmarkRead reads the header of a typical message: a dozen fields, a
// folded To, a Bcc to cut.
func BenchmarkRead(b *testing.B) {
	msg := "Return-Path: <alice@example.org>\r\n" +
		"Received: from mail.example.org (mail.example.org [192.0.2.1])\r\n\tby mx.example.com with ESMTPS id 4XyZ; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"From: Alice Example <alice@example.org>\r\n" +
		"To: Bob <bob@example.com>, \"Smith, Carol\" <carol@example.com>,\r\n dave@example.net\r\n" +
		"Cc: team: erin@example.org, frank@example.org;\r\n" +
		"Bcc: grace@example.org\r\n" +
		"Subject: =?utf-8?q?Quarterly_r=C3=A9sum=C3=A9?=\r\n" +
		"Message-ID: <20240101000000.12345@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		strings.Repeat("A line of the body.\r\n", 50)
	r := strings.NewReader(msg)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(msg)
		br.Reset(r)
		env, _, err := Read(br, 0)
		if err != nil || len(env.To) != 6 {
			b.Fatal(env, err)
		}
	}
}
