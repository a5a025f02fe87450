package wire

import (
	"bufio"
	"io"
	"strconv"
)

// DefaultChunkSize is a [BDATWriter]'s default chunk size. Larger chunks mean
// fewer BDAT replies to wait for; the writer's buffer grows to it only as a
// message needs.
const DefaultChunkSize = 1 << 20

// BDATWriter frames a message for CHUNKING (RFC 3030 §2): it writes
//
//	BDAT <size>\r\n<size octets>
//
// for each full chunk and "BDAT <size> LAST\r\n<size octets>" for the last on
// Close. The data is sent as is: no stuffing, no line-ending changes, so
// binary content (BODY=BINARYMIME) passes unchanged.
//
// Every chunk but the last has exactly the chunk size and the last has
// between 1 and the chunk size octets (0 only for an empty message), so the
// output does not depend on how the input is split across Write calls. The
// server answers every BDAT command; [BDATWriter.Chunks] tells the caller how
// many replies to read, and the function set with [BDATWriter.OnChunk] runs
// after each chunk, for a caller that must read each reply before sending the
// next chunk.
type BDATWriter struct {
	bw      bufferedWriter
	own     *bufio.Writer
	size    int
	buf     []byte // the chunk being filled, at most size octets
	chunks  int
	header  [32]byte
	onChunk func(size int, last bool) error
	err     error
}

// NewBDATWriter returns a BDATWriter on w with chunks of chunkSize octets
// (DefaultChunkSize when chunkSize <= 0). As with [NewDotWriter], a buffered
// writer is written into and left for the caller to flush; any other writer
// gets a buffer that Close flushes.
func NewBDATWriter(w io.Writer, chunkSize int) *BDATWriter {
	b := new(BDATWriter)
	b.Reset(w, chunkSize)
	return b
}

// Reset starts a new message on w, reusing the writer's buffers and keeping
// its OnChunk function.
func (b *BDATWriter) Reset(w io.Writer, chunkSize int) {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	b.bw, b.own = ownBuffer(w, b.own)
	b.size = chunkSize
	b.buf = b.buf[:0]
	b.chunks = 0
	b.err = nil
}

// Chunks returns how many BDAT commands have been written so far.
func (b *BDATWriter) Chunks() int { return b.chunks }

// OnChunk sets a function called after each chunk (header and octets) has
// been written to the underlying writer, with the chunk's size and whether it
// was the LAST one. An error it returns stops the writer: it is returned by
// the Write or Close that emitted the chunk, and every later call returns it
// too.
//
// A client that may not pipeline the chunks (no PIPELINING, RFC 2920; or
// LMTP) reads each chunk's reply (RFC 3030 §2) before it sends the next: that
// is this function's job. The buffer a BDATWriter makes for a plain writer is
// flushed before the call; the caller's buffered writer ([*Writer],
// *bufio.Writer) is not, and a function that waits for a reply must flush it
// first. Reset keeps the function; nil removes it.
func (b *BDATWriter) OnChunk(f func(size int, last bool) error) { b.onChunk = f }

// Write adds p to the message. A chunk goes out once it is full and more data
// follows it; a full chunk's worth of p goes out without being copied.
func (b *BDATWriter) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) <= b.size-len(b.buf) {
		// The common small Write (a CRLFWriter hands over a line at a
		// time): it fits in the chunk being filled.
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	n := len(p)
	for len(p) > 0 {
		if len(b.buf) == b.size {
			err := b.emit(b.buf, false)
			b.buf = b.buf[:0]
			if err != nil {
				return n - len(p), err
			}
		}
		if len(b.buf) == 0 && len(p) > b.size {
			sent, err := b.emitChunk(p[:b.size], false)
			if sent {
				p = p[b.size:]
			}
			if err != nil {
				return n - len(p), err
			}
			continue
		}
		m := min(b.size-len(b.buf), len(p))
		b.buf = append(b.buf, p[:m]...)
		p = p[m:]
	}
	return n, nil
}

// Close writes the last chunk with LAST. It flushes only a buffer the
// BDATWriter made itself and does not close the underlying writer.
func (b *BDATWriter) Close() error {
	if b.err != nil {
		return b.err
	}
	if err := b.emit(b.buf, true); err != nil {
		return err
	}
	if err := flushOwn(b.bw, b.own); err != nil {
		b.err = err
		return err
	}
	b.err = ErrClosed
	return nil
}

func (b *BDATWriter) emit(chunk []byte, last bool) error {
	_, err := b.emitChunk(chunk, last)
	return err
}

// emitChunk writes one chunk and calls the OnChunk function. sent says
// whether the chunk went out, which it did when only that function failed.
// Any error is kept for every later call.
func (b *BDATWriter) emitChunk(chunk []byte, last bool) (sent bool, err error) {
	h := append(b.header[:0], "BDAT "...)
	h = strconv.AppendInt(h, int64(len(chunk)), 10)
	if last {
		h = append(h, " LAST"...)
	}
	h = append(h, '\r', '\n')
	_, err = b.bw.Write(h)
	if err == nil {
		_, err = b.bw.Write(chunk)
	}
	if err == nil && b.onChunk != nil {
		// "Written to the underlying writer": out of a buffer of our own,
		// which the function cannot reach.
		err = flushOwn(b.bw, b.own)
	}
	if err != nil {
		b.err = err
		return false, err
	}
	b.chunks++
	if b.onChunk != nil {
		if err := b.onChunk(len(chunk), last); err != nil {
			b.err = err
			return true, err
		}
	}
	return true, nil
}

// Default limits of a [BDATReader].
const (
	DefaultMaxChunkSize   = 64 << 20 // octets in one chunk
	maxChunkHeaderLength  = 512      // RFC 5321 §4.5.3.1.4: a command line
	minChunkHeaderLength  = len("BDAT 0\r\n")
	chunkHeaderLastLength = len(" LAST")
)

// BDATReader decodes a BDAT chunk stream as a server receives it: it reads
// each "BDAT <size> [LAST]" command line and returns the chunks' octets, one
// after the other, and io.EOF after the LAST chunk.
//
// A server answers every chunk; the function set with [BDATReader.OnChunk]
// runs after each one's octets have all been read, which is the moment to
// write that reply. Command lines are checked strictly (RFC 3030 §2: "BDAT"
// SP chunk-size [SP "LAST"] CRLF, case-insensitive words) and bounded; a chunk
// larger than the limit is refused before any of it is read.
type BDATReader struct {
	br        *bufio.Reader
	maxChunk  int64
	remaining int64 // octets left in the current chunk
	size      int64
	last      bool
	inChunk   bool
	onChunk   func(size int64, last bool) error
	err       error
}

// NewBDATReader returns a BDATReader on r, positioned at a BDAT command line.
// As with [NewDotReader], pass the session's *bufio.Reader.
func NewBDATReader(r io.Reader) *BDATReader {
	b := &BDATReader{maxChunk: DefaultMaxChunkSize}
	b.Reset(r)
	return b
}

// Reset makes the BDATReader read a new message from r, as NewBDATReader
// does, keeping its chunk limit and its OnChunk function.
func (b *BDATReader) Reset(r io.Reader) {
	*b = BDATReader{br: bufferedReader(r), maxChunk: b.maxChunk, onChunk: b.onChunk}
}

// SetMaxChunkSize sets the largest chunk accepted (at least 1).
func (b *BDATReader) SetMaxChunkSize(n int64) { b.maxChunk = max(n, 1) }

// OnChunk sets a function to run after each chunk is read; an error it
// returns ends the stream and is returned by Read.
func (b *BDATReader) OnChunk(f func(size int64, last bool) error) { b.onChunk = f }

// Read reads the message octets.
func (b *BDATReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && b.err == nil {
		if !b.inChunk {
			if n > 0 {
				break // do not wait for the next chunk with data in hand
			}
			b.err = b.readHeader()
			continue
		}
		if b.remaining == 0 {
			b.finishChunk()
			continue
		}
		want := int(min(int64(len(p)-n), b.remaining))
		m, err := b.br.Read(p[n : n+want])
		n += m
		b.remaining -= int64(m)
		if err == io.EOF {
			err = protocolError(io.ErrUnexpectedEOF, nil, 0)
		}
		if err != nil {
			b.err = err
		}
		if m > 0 && b.remaining > 0 {
			break // return what a single read gave, as io.Reader should
		}
	}
	if n > 0 && b.err != io.EOF {
		return n, nil // an error waits for the next call
	}
	return n, b.err
}

func (b *BDATReader) finishChunk() {
	b.inChunk = false
	if b.onChunk != nil {
		if err := b.onChunk(b.size, b.last); err != nil {
			b.err = err
			return
		}
	}
	if b.last {
		b.err = io.EOF
	}
}

// readHeader reads and checks one BDAT command line.
func (b *BDATReader) readHeader() error {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		switch err {
		case bufio.ErrBufferFull:
			return protocolError(ErrMalformedChunk, line, maxChunkHeaderLength)
		case io.EOF:
			return protocolError(io.ErrUnexpectedEOF, line, 0)
		}
		return err
	}
	if len(line) > maxChunkHeaderLength {
		return protocolError(ErrMalformedChunk, line, maxChunkHeaderLength)
	}
	size, last, ok := parseChunkHeader(line)
	if !ok {
		return protocolError(ErrMalformedChunk, line, 0)
	}
	if size > b.maxChunk {
		return protocolError(ErrChunkTooLarge, line, b.maxChunk)
	}
	b.inChunk, b.size, b.remaining, b.last = true, size, size, last
	return nil
}

// parseChunkHeader parses "BDAT" SP 1*DIGIT [SP "LAST"] CRLF. ok is false for
// anything else, including a size that does not fit in an int64.
func parseChunkHeader(line []byte) (size int64, last bool, ok bool) {
	if len(line) < minChunkHeaderLength || line[len(line)-2] != '\r' {
		return 0, false, false
	}
	line = line[:len(line)-2]
	if !equalFoldASCII(line[:5], "BDAT ") {
		return 0, false, false
	}
	digits := line[5:]
	if n := len(digits); n > chunkHeaderLastLength && equalFoldASCII(digits[n-chunkHeaderLastLength:], " LAST") {
		digits, last = digits[:n-chunkHeaderLastLength], true
	}
	if len(digits) == 0 || len(digits) > 18 { // 18 digits always fit in an int64
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		size = size*10 + int64(c-'0')
	}
	return size, last, true
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
