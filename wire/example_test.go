package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpkit/smtpkit/wire"
)

func ExampleReader_ReadReply() {
	// What a server sends in answer to EHLO and then to a RCPT TO, as it
	// would arrive on the connection.
	conn := strings.NewReader("250-mx.example.org greets client.example.org\r\n" +
		"250-PIPELINING\r\n" +
		"250-ENHANCEDSTATUSCODES\r\n" +
		"250 SIZE 10240000\r\n" +
		"550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n")

	r := wire.NewReader(conn)
	for {
		reply, err := r.ReadReply()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("code %d, enhanced code %q, %d lines:\n", reply.Code, reply.Enhanced, reply.LineCount())
		for line := range reply.AllLines() {
			fmt.Printf("  %s\n", line)
		}
	}
	// Output:
	// code 250, enhanced code "", 4 lines:
	//   mx.example.org greets client.example.org
	//   PIPELINING
	//   ENHANCEDSTATUSCODES
	//   SIZE 10240000
	// code 550, enhanced code "5.1.1", 1 lines:
	//   5.1.1 <nobody@example.org>: Recipient address rejected
}

func ExampleReader_ReadReply_malformed() {
	r := wire.NewReader(strings.NewReader("250-mx.example.org\r\n251 PIPELINING\r\n"))
	_, err := r.ReadReply()

	var pe *wire.ProtocolError
	fmt.Println(errors.As(err, &pe), errors.Is(err, wire.ErrMixedCodes))
	fmt.Println(err)
	// Output:
	// true true
	// wire: reply lines carry different codes: "251 PIPELINING"
}

func ExampleWriter() {
	var conn bytes.Buffer
	w := wire.NewWriter(&conn)

	// A pipelined group (RFC 2920): the lines wait in the buffer and leave
	// together on Flush.
	w.WriteLineString("MAIL FROM:<alice@example.org>")
	w.WriteLineString("RCPT TO:<bob@example.org>")
	w.WriteLineString("DATA")
	fmt.Println(conn.Len(), "bytes sent before Flush")
	if err := w.Flush(); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%q\n", conn.String())

	// An address that tries to smuggle a command is refused, and nothing of
	// it is buffered.
	err := w.WriteLineString("RCPT TO:<eve@example.org>\r\nRSET")
	fmt.Println(err, w.Buffered())
	// Output:
	// 0 bytes sent before Flush
	// "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
	// wire: command line contains CR at offset 25 0
}

func ExampleNewDotWriter() {
	var conn bytes.Buffer
	d := wire.NewDotWriter(&conn)
	// Bare LF line endings, a line that starts with a dot and a last line
	// without an ending.
	io.WriteString(d, "Subject: test\n\n.hidden dot\nlast line")
	if err := d.Close(); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%q\n", conn.String())
	// Output:
	// "Subject: test\r\n\r\n..hidden dot\r\nlast line\r\n.\r\n"
}

func ExampleNewBDATWriter() {
	var conn bytes.Buffer
	// Chunks of 8 octets, to show the framing; real chunks are larger.
	b := wire.NewBDATWriter(&conn, 8)
	io.WriteString(b, "Hello, world!\r\n")
	if err := b.Close(); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%q\n", conn.String())
	fmt.Println(b.Chunks(), "BDAT commands, so", b.Chunks(), "replies to read")
	// Output:
	// "BDAT 8\r\nHello, wBDAT 7 LAST\r\norld!\r\n"
	// 2 BDAT commands, so 2 replies to read
}

func ExampleNewBDATWriter_pipelined() {
	// With CHUNKING (RFC 3030) and PIPELINING (RFC 2920) the whole
	// transaction can leave in one write: the BDATWriter writes into the
	// command Writer, which sends everything on Flush.
	var conn bytes.Buffer
	w := wire.NewWriter(&conn)
	w.WriteLineString("MAIL FROM:<alice@example.org> BODY=BINARYMIME")
	w.WriteLineString("RCPT TO:<bob@example.org>")
	b := wire.NewBDATWriter(w, 0)
	io.WriteString(b, "Subject: hi\r\n\r\nHello\r\n")
	if err := b.Close(); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(conn.Len(), "bytes sent before Flush")
	if err := w.Flush(); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%q\n", conn.String())
	fmt.Println(2+b.Chunks(), "replies to read")
	// Output:
	// 0 bytes sent before Flush
	// "MAIL FROM:<alice@example.org> BODY=BINARYMIME\r\nRCPT TO:<bob@example.org>\r\nBDAT 22 LAST\r\nSubject: hi\r\n\r\nHello\r\n"
	// 3 replies to read
}

func ExampleCRLFWriter() {
	// A body with bare LF endings, a bare CR and no final line ending, sent
	// as BDAT: the line endings become CRLF, the dot stays as it is.
	body := []byte("Subject: hi\n\n.dot\rlast")
	var conn bytes.Buffer
	b := wire.NewBDATWriter(&conn, 0)
	x := wire.NewCRLFWriter(b)
	x.Write(body)
	if err := x.Close(); err != nil { // ends the last line
		fmt.Println("error:", err)
		return
	}
	if err := b.Close(); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%q\n", conn.String())
	fmt.Println(x.Written(), "octets, as measured:", wire.Measure(body))
	// Output:
	// "BDAT 27 LAST\r\nSubject: hi\r\n\r\n.dot\r\nlast\r\n"
	// 27 octets, as measured: 27
}

func ExampleBodyScan() {
	// A body read in pieces, measured before MAIL is sent: its SIZE
	// (RFC 1870), whether it needs 8BITMIME, and whether it can go to a
	// BDATWriter without a CRLFWriter.
	var s wire.BodyScan
	for _, piece := range []string{"Subject: caf\xe9\r", "\n\r\nHello\n"} {
		s.Scan([]byte(piece))
	}
	fmt.Println("octets:", s.Len(), "size:", s.Size())
	fmt.Println("clean:", s.Clean(), "8-bit:", s.EightBit(), "NUL:", s.NUL())
	// Output:
	// octets: 23 size: 24
	// clean: false 8-bit: true NUL: false
}

// A line over the 998-octet limit, folded for DATA the way Postfix does it,
// and refused.
func ExampleDotWriter_SetLongLines() {
	body := strings.Repeat("x", 1000) + "\r\n"
	var out bytes.Buffer
	d := wire.NewDotWriter(&out)
	d.SetLongLines(wire.LongLinesFold)
	d.Write([]byte(body))
	d.Close()
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\r\n"), "\r\n") {
		fmt.Printf("%d octets: %.3q...\n", len(line), line)
	}
	fmt.Println("folded:", d.Folded())

	d.Reset(&out)
	d.SetLongLines(wire.LongLinesRefuse)
	_, err := d.Write([]byte("Subject: hi\r\n\r\n" + body))
	var tooLong *wire.LineTooLongError
	if errors.As(err, &tooLong) {
		fmt.Printf("line %d: %d octets, limit %d\n", tooLong.Line, tooLong.Length, tooLong.Limit)
	}
	// Output:
	// 998 octets: "xxx"...
	// 3 octets: " xx"...
	// 1 octets: "."...
	// folded: 1
	// line 3: 1000 octets, limit 998
}
