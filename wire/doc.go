// Package wire is the SMTP codec: it reads server replies, writes command
// lines, and frames message data for DATA (dot-stuffing, RFC 5321 §4.5.2) and
// BDAT (chunking, RFC 3030), in both directions.
//
// It works on io.Reader, io.Writer and bufio only and never on a net.Conn:
// deadlines and cancellation belong to the caller, who owns the connection.
// Every read is bounded: a reply line, the lines of one reply, the bytes of
// one reply, a data line and a BDAT chunk header each have a limit with a
// documented default that a setter changes, and a peer that goes past one
// gets a [*ProtocolError], never an unbounded buffer.
//
// Errors come in two kinds, as in net/textproto: malformed or oversized input
// from the peer is a [*ProtocolError] (errors.Is tells which kind: for
// example [ErrLineTooLong]); a line the caller asked to write that would break
// the framing is a [*LineError]. A well-formed 4yz or 5yz reply is not an
// error here: [Reader.ReadReply] returns it, and response.Reply.Err turns it
// into one where the caller wants that. A message line longer than
// [MaxMessageLineLength] is the caller's own: the encoders send it, refuse it with a
// [*LineTooLongError] or fold it, as their [LongLines] policy says.
package wire
