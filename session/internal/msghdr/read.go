package msghdr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxHeaderBytes is the bound [Read] puts on the header block when
// given 0: 1 MiB. Servers refuse far smaller headers (Postfix's
// header_size_limit is 100 KiB, Sendmail's MaxHeadersLength 32 KiB), so no
// message a server would take is turned away, while a stream with no empty
// line cannot make Read hold more than this.
const DefaultMaxHeaderBytes = 1 << 20

// Envelope is the sender and recipients taken from the header.
type Envelope struct {
	// From is the sender's addr-spec, "alice@example.org": the first
	// address of the sender field. It is "" when that field holds no
	// address ("Sender:", "From: <>", "From: undisclosed:;"); whether to
	// send that as the null reverse-path is the caller's decision.
	From string
	// To is every recipient's addr-spec, in the order the addresses stand
	// in the header block, each once (the first kept; compared exactly, as
	// returned). Empty addresses ("<>") and groups with no member are
	// left out.
	To []string
}

// Read reads the header block of an RFC 5322 message from r, at most
// maxBytes of it (0 or less: [DefaultMaxHeaderBytes]), and returns the
// envelope and the header to transmit.
//
// Lines are split as the DATA and BDAT encoders will send them (see
// wire.Normalise): CRLF, a bare LF and a bare CR each end a line, so a
// field that follows a bare CR is a field here as it is on the wire, and
// a bare CR on a line of its own is the empty line.
//
// The header is the header block exactly as read (the same bytes, the same
// line endings, CRLF, bare LF or bare CR, the folding kept) less every Bcc
// and Resent-Bcc field with its continuation lines, followed by the empty
// line that ended the block. One octet may be added: when a bare CR ends
// the line before a field removed and a bare LF is the empty line after
// it, the CR becomes a CRLF, so that the two do not join into one line
// ending and the empty line stays; the header sent is the same once
// normalised. Read leaves r at the first byte of the body, having
// read nothing of it, so the message to send is the header followed by the
// rest of r. A message that ends before any empty line is all header; its
// header then has no empty line at the end (and its last line may have no
// line ending).
//
// The bound counts the whole block, the empty line that ends it included.
// Field names are matched without regard to case. A line that starts with
// a space or a tab continues the field before it; any other line must be
// "name:" (the name printable ASCII, obsolete white space before the colon
// allowed) or the empty line, so an mbox "From " line is malformed.
//
// The envelope: with exactly one Resent-Date field, the sender is the
// first Resent-Sender field if there is one, else the first Resent-From;
// the recipients are in the Resent-To, Resent-Cc and Resent-Bcc fields.
// With no Resent-Date, the sender is the first Sender field if there is
// one, else the first From, and the recipients are in To, Cc and Bcc. A
// sender field with several addresses gives its first (RFC 5322 wants a
// Sender field then, and a Sender holds one). Display names, comments,
// groups, quoted local parts, UTF-8 (RFC 6532) and the obsolete syntax of
// RFC 5322 §4.4 are understood; an addr-spec is returned with its local
// part quoted only when it is not a dot-atom, as net/mail writes it.
//
// Errors. A read error, an [*Error] of kind [ErrHeaderTooLarge] or
// [ErrMalformed], or the error of r other than io.EOF (wrapped), comes
// with no header; r is then somewhere in the message. An envelope error,
// an [*EnvelopeError] holding [ErrMultipleResent], [ErrNoSender],
// [ErrNoRecipients] or [ErrBadAddress], comes with the whole header and r
// at the body, and with the half of the envelope that could be taken.
//
// Where this departs from Python's send_message (as Python 3.11 behaves):
// every To, Cc and Bcc field counts, not only the first of each (Python
// drops the addresses of a second Bcc altogether, though it removes the
// field); the recipients are in header order and each once (Python: To,
// then Bcc, then Cc, duplicates kept); empty addresses and empty groups
// are left out (Python sends RCPT TO:<>); a missing sender field is an
// error (Python sends MAIL FROM:<None>) and an empty one gives "" (Python
// raises IndexError); more than one Resent-Date is an envelope error, so
// a caller with an envelope of its own can still send; a line that is not
// a field is an error (Python takes it for the start of the body and
// sends the fields after it as body text); an address that is not RFC 5322
// (no "@domain", an unquoted comma in a display name) is an error where
// Python guesses ("alice", "Smith"); a local part that is not a dot-atom
// comes back quoted, "a..b"@example.org, where Python passes a..b@... on
// as written (package command refuses it unquoted). And the header keeps
// its bytes, where Python writes the message out again.
func Read(r *bufio.Reader, maxBytes int) (Envelope, []byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxHeaderBytes
	}
	h := header{cur: -1}
	if err := h.read(r, maxBytes); err != nil {
		return Envelope{}, nil, err
	}
	env, err := h.envelope()
	return env, h.transmit(), err // in this order: transmit overwrites h.raw
}

// kind is what a field is to the envelope; kOther for every field this
// package has no use for.
type kind uint8

const (
	kOther kind = iota
	kFrom
	kSender
	kTo
	kCc
	kBcc
	kResentDate
	kResentFrom
	kResentSender
	kResentTo
	kResentCc
	kResentBcc
)

var kindNames = [...]string{
	kFrom:         "From",
	kSender:       "Sender",
	kTo:           "To",
	kCc:           "Cc",
	kBcc:          "Bcc",
	kResentDate:   "Resent-Date",
	kResentFrom:   "Resent-From",
	kResentSender: "Resent-Sender",
	kResentTo:     "Resent-To",
	kResentCc:     "Resent-Cc",
	kResentBcc:    "Resent-Bcc",
}

// classify returns the kind of a field name.
func classify(name []byte) kind {
	for k := kFrom; k <= kResentBcc; k++ {
		if equalFoldASCII(name, kindNames[k]) {
			return k
		}
	}
	return kOther
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// field is one field of interest: its kind, where it is in the block.
type field struct {
	kind  kind
	line  int // its first line, from 1
	start int // offset of its first byte in header.raw
	name  int // offset just after its name
	value int // offset just after the colon
	end   int // offset just after its last line
}

// header is the header block as read.
type header struct {
	raw     []byte
	fields  []field // the fields of a kind other than kOther, in order
	cur     int     // index in fields of the field being read; -1 for none or a kOther one
	inField bool    // a field has begun: a continuation line is allowed
	lines   int     // lines read
}

// read reads the header block into h.raw, up to and including the empty
// line that ends it, and notes the fields of interest.
func (h *header) read(r *bufio.Reader, max int) error {
	for {
		start := len(h.raw)
		err := h.readLine(r, max)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		line := h.raw[start:]
		if len(line) == 0 { // the end of the input, at the start of a line
			h.endField(start)
			return nil
		}
		h.lines++
		if err == nil && len(trimEOL(line)) == 0 {
			// "\r\n", "\n" or a bare "\r": the empty line that ends the block.
			h.endField(start)
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !h.inField {
				return &Error{Line: h.lines, Err: ErrMalformed,
					Detail: "continuation line with no field before it: " + excerpt(line)}
			}
		} else {
			h.endField(start)
			if err := h.beginField(line, start); err != nil {
				return err
			}
		}
		if err != nil { // io.EOF after a last line with no line ending
			h.endField(len(h.raw))
			return nil
		}
	}
}

// readLine appends the next line of r to h.raw, its line ending included,
// splitting lines exactly as the DATA and BDAT encoders will send them
// (wire.Normalise): CRLF, a bare LF and a bare CR each end a line. So
// "X: y\rBcc: h@x" is two fields here, as it is two lines on the wire.
// Telling a bare CR from the CR of a CRLF takes a look at the octet after
// it, which is left in r when it is not an LF: readLine never reads past
// the line. It returns io.EOF when r ends before a line ending (having
// appended what there was of the line), an *Error past max, or the error
// of r wrapped.
func (h *header) readLine(r *bufio.Reader, max int) error {
	for {
		n := r.Buffered()
		if n == 0 {
			if _, err := r.Peek(1); err != nil {
				return h.readErr(err)
			}
			n = r.Buffered()
		}
		buf, _ := r.Peek(n)
		i := bytes.IndexAny(buf, "\r\n")
		if i >= 0 {
			n = i + 1
		}
		if len(h.raw)+n > max {
			return h.tooLarge(max)
		}
		h.raw = append(h.raw, buf[:n]...)
		r.Discard(n)
		if i < 0 {
			continue
		}
		if buf[i] == '\r' {
			next, err := r.Peek(1)
			switch {
			case len(next) == 1 && next[0] == '\n':
				if len(h.raw)+1 > max {
					return h.tooLarge(max)
				}
				h.raw = append(h.raw, '\n')
				r.Discard(1)
			case err != nil && !errors.Is(err, io.EOF):
				return h.readErr(err)
			}
		}
		return nil
	}
}

func (h *header) tooLarge(max int) error {
	return &Error{Line: h.lines + 1, Err: ErrHeaderTooLarge, Detail: fmt.Sprintf("more than %d bytes", max)}
}

// readErr is io.EOF as it is, and any other error of r wrapped.
func (h *header) readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("msghdr: reading the header: %w", err)
}

// beginField checks the first line of a field, which starts at offset
// start, and notes the field if it is of interest.
func (h *header) beginField(line []byte, start int) error {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return &Error{Line: h.lines, Err: ErrMalformed, Detail: "no colon: " + excerpt(line)}
	}
	name := line[:colon]
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1] // obs-optional: WSP before the colon
	}
	if len(name) == 0 {
		return &Error{Line: h.lines, Err: ErrMalformed, Detail: "empty field name: " + excerpt(line)}
	}
	for _, c := range name {
		if c < '!' || c > '~' {
			return &Error{Line: h.lines, Err: ErrMalformed, Detail: "field name not printable ASCII: " + excerpt(line)}
		}
	}
	h.inField = true
	k := classify(name)
	if k == kOther {
		return nil
	}
	h.fields = append(h.fields, field{
		kind: k, line: h.lines,
		start: start, name: start + len(name), value: start + colon + 1, end: -1,
	})
	h.cur = len(h.fields) - 1
	return nil
}

// endField ends the field being read, if it is of interest, at offset end.
func (h *header) endField(end int) {
	if h.cur >= 0 {
		h.fields[h.cur].end = end
		h.cur = -1
	}
}

// transmit returns the block less its Bcc and Resent-Bcc fields. It
// compacts h.raw in place: each kept span moves down, never up.
func (h *header) transmit() []byte {
	if h.raw == nil {
		return []byte{} // an empty header, but a header: not a read error's nil
	}
	out := h.raw[:0]
	next := 0 // the first byte not yet kept or dropped
	for _, f := range h.fields {
		if f.kind == kBcc || f.kind == kResentBcc {
			out = append(out, h.raw[next:f.start]...)
			next = f.end
			if len(out) > 0 && out[len(out)-1] == '\r' && next < len(h.raw) && h.raw[next] == '\n' {
				// A bare CR ended the line before the field and a bare
				// LF, the empty line, follows it: side by side they
				// would be one CRLF, and the empty line, the end of
				// the header, would be gone. Make the CR a CRLF, which
				// is what the encoder sends it as. The field dropped
				// is longer than the octet added, so out still trails
				// next.
				out = append(out, '\n')
			}
		}
	}
	out = append(out, h.raw[next:]...)
	return slices.Clip(out)
}

// nameOf returns the field's name as written.
func (h *header) nameOf(f field) string { return string(h.raw[f.start:f.name]) }

// valueOf returns the field's value unfolded: without the line endings
// of its lines (RFC 5322 §2.2.3), the white space that began each
// continuation line kept. Every CR and LF in a field is part of a line
// ending, as readLine splits lines, so unfolding drops them all.
func (h *header) valueOf(f field) string {
	v := h.raw[f.value:f.end]
	b := make([]byte, 0, len(v))
	for len(v) > 0 {
		i := bytes.IndexAny(v, "\r\n")
		if i < 0 {
			b = append(b, v...)
			break
		}
		b = append(b, v[:i]...)
		v = v[i+1:]
	}
	return string(b)
}

// trimEOL drops a final line ending: "\r\n", "\n" or a bare "\r".
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// envelope takes the envelope from the fields, as the package doc says.
func (h *header) envelope() (Envelope, error) {
	var resentDates []field
	for _, f := range h.fields {
		if f.kind == kResentDate {
			resentDates = append(resentDates, f)
		}
	}
	if len(resentDates) > 1 {
		second := resentDates[1]
		e := &Error{Line: second.line, Field: h.nameOf(second), Err: ErrMultipleResent,
			Detail: fmt.Sprintf("%d Resent-Date fields", len(resentDates))}
		return Envelope{}, &EnvelopeError{Sender: e, Recipients: e}
	}
	sender, from, rcpt := kSender, kFrom, [3]kind{kTo, kCc, kBcc}
	if len(resentDates) == 1 {
		sender, from, rcpt = kResentSender, kResentFrom, [3]kind{kResentTo, kResentCc, kResentBcc}
	}

	var env Envelope
	var ee EnvelopeError

	f, ok := h.first(sender)
	if !ok {
		f, ok = h.first(from)
	}
	if !ok {
		ee.Sender = &Error{Err: ErrNoSender, Detail: "no " + kindNames[sender] + " or " + kindNames[from] + " field"}
	} else if addrs, err := parseAddressList(h.valueOf(f)); err != nil {
		ee.Sender = &Error{Line: f.line, Field: h.nameOf(f), Err: ErrBadAddress, Detail: err.Error()}
	} else if len(addrs) > 0 {
		env.From = addrs[0]
	}

	seen := make(map[string]bool)
	for _, f := range h.fields {
		if f.kind != rcpt[0] && f.kind != rcpt[1] && f.kind != rcpt[2] {
			continue
		}
		addrs, err := parseAddressList(h.valueOf(f))
		if err != nil {
			ee.Recipients = &Error{Line: f.line, Field: h.nameOf(f), Err: ErrBadAddress, Detail: err.Error()}
			env.To = nil
			break
		}
		for _, a := range addrs {
			if a != "" && !seen[a] {
				seen[a] = true
				env.To = append(env.To, a)
			}
		}
	}
	if ee.Recipients == nil && len(env.To) == 0 {
		ee.Recipients = &Error{Err: ErrNoRecipients,
			Detail: "no address in " + kindNames[rcpt[0]] + ", " + kindNames[rcpt[1]] + " or " + kindNames[rcpt[2]]}
	}
	if ee.Sender != nil || ee.Recipients != nil {
		return env, &ee
	}
	return env, nil
}

// first returns the first field of kind k.
func (h *header) first(k kind) (field, bool) {
	for _, f := range h.fields {
		if f.kind == k {
			return f, true
		}
	}
	return field{}, false
}
