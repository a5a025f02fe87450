// Package smtptest runs an SMTP, ESMTP or LMTP server inside a test
// process, on 127.0.0.1 or a Unix socket, as net/http/httptest does for
// HTTP: a tool for testing mail clients, including your own.
//
// A Server speaks RFC 5321 with the extensions it is told to announce
// (PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, ENHANCEDSTATUSCODES, CHUNKING,
// STARTTLS, AUTH), parses every command strictly with package command, and
// records what it received: every command line, and every message it
// accepted with its envelope, its decoded data and the exact bytes that
// carried it.
//
//	srv := smtptest.NewServer(smtptest.Config{
//		Overrides: []smtptest.Override{
//			{Verb: "RCPT", Match: "bob@", Reply: response.New(response.CodeMailboxUnavailable, "5.1.1 No such user")},
//		},
//		Faults: []smtptest.Fault{smtptest.Latency(10 * time.Millisecond)},
//	})
//	defer srv.Close()
//
//	// ... point the client under test at srv.Addr ...
//
//	msgs := srv.Messages()
//	if len(msgs) != 1 || string(msgs[0].Data) != want {
//		t.Errorf(...)
//	}
//
// A test scripts the server in three ways. Config chooses what it announces
// and allows (extensions, size limit, users, TLS). An [Override] replaces
// the reply to a command (every time, the n-th time, or when the line
// contains some text), and a [Config.Handler] can answer any command line
// with code. A [Fault] breaks the connection on purpose: it closes it, stalls,
// splits or delays replies, sends garbage or a reply that never ends.
//
// # Default replies
//
// With ENHANCEDSTATUSCODES announced (it is in [DefaultExtensions]), replies
// other than the greeting, EHLO/HELO, 354 and 334 carry an RFC 3463 code;
// without it they carry none. The texts are:
//
//	220 <Hostname> ESMTP smtptest                (greeting; "LMTP" with Config.LMTP)
//	250-<Hostname> greets <domain>               (EHLO/LHLO, then one line per extension)
//	250 <Hostname> greets <domain>               (HELO)
//	250 2.1.0 OK                                 (MAIL)
//	250 2.1.5 OK                                 (RCPT)
//	354 End data with <CR><LF>.<CR><LF>          (DATA)
//	250 2.0.0 OK queued                          (end of data, BDAT LAST)
//	250 2.0.0 <n> octets received                (BDAT without LAST)
//	250 2.1.5 <address> OK                       (LMTP, one per recipient after the data)
//	250 2.0.0 OK                                 (RSET, NOOP)
//	252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery
//	502 5.5.1 EXPN not supported
//	214 2.0.0 smtptest: see RFC 5321
//	221 2.0.0 <Hostname> closing connection      (QUIT)
//	220 2.0.0 Ready to start TLS                 (STARTTLS)
//	334 <base64 challenge>                       (AUTH)
//	235 2.7.0 Authentication successful
//	535 5.7.8 Authentication credentials invalid
//
// and the refusals:
//
//	500 5.5.2 Line too long                      (over Config.MaxCommandLineLength)
//	500 5.5.2 Syntax error, command unrecognized (a line that has no valid verb)
//	500 5.5.2 Syntax error: <parser's error>     (a control character, bare LF or invalid UTF-8 in the line)
//	500 5.5.1 Command unrecognized               (a well-formed verb the server does not know)
//	501 5.5.4 Syntax error: <parser's error>     (a known verb with bad arguments)
//	502 5.5.1 Command not implemented            (EHLO with DisableEHLO, STARTTLS or AUTH not offered, BDAT without CHUNKING)
//	503 5.5.1 Send EHLO or HELO first            ("LHLO" in LMTP mode)
//	503 5.5.1 Nested MAIL command
//	503 5.5.1 Need MAIL before RCPT              (and "before DATA", "before BDAT")
//	503 5.5.1 DATA mixed with BDAT               (and "RCPT after BDAT")
//	503 5.5.0 Previous data chunk failed, issue RSET first (every BDAT after a refused chunk)
//	503 5.5.1 BINARYMIME requires BDAT
//	503 5.5.1 Already authenticated              (and "AUTH not permitted during a mail transaction")
//	503 5.5.1 No SMTP service here               (every command but QUIT after a 5yz greeting)
//	504 5.5.4 Unrecognized authentication type
//	501 5.0.0 Authentication canceled            (a "*" answer to 334)
//	501 5.5.2 Cannot decode response             (an answer to 334 that is not base64, or "=")
//	501 5.5.2 Malformed authentication exchange  (the mechanism cannot parse the client's message)
//	500 5.5.6 Authentication exchange line is too long (over Config.MaxAuthLineLength)
//	530 5.7.0 Must issue a STARTTLS command first (Config.RequireTLS)
//	530 5.7.0 Authentication required            (Config.RequireAuth)
//	421 4.7.0 <Hostname> Too many messages in this connection (MAIL past Config.MaxMessagesPerConnection)
//	421 4.7.0 <Hostname> Too many connections    (on connection, past Config.MaxConnections)
//	421 4.4.2 <Hostname> Timeout, closing connection (Config.CommandTimeout or DataTimeout ran out)
//	452 4.5.3 Too many recipients                (RCPT past Config.MaxRecipients)
//	552 5.3.4 Message size exceeds fixed maximum message size (SIZE= over the limit)
//	552 5.3.4 Message too big                    (data over the limit)
//	553 5.6.7 Non-ASCII address requires SMTPUTF8
//	554 5.5.1 No valid recipients                (DATA or BDAT without an accepted RCPT)
//	555 5.5.4 <KEYWORD> parameter not supported  (a MAIL or RCPT parameter whose extension is not announced)
//	550 5.5.2 Error: bare <CR> or <LF> received  (Config.BareNewline: BareNewlineReject)
//	521 5.5.2 <Hostname> Error: bare <CR> or <LF> received (BareNewlineDisconnect; then the server closes)
//
// A 4yz or 5yz greeting other than 421 keeps the connection open and
// answers every command but QUIT with 503.
//
// # Refused BDAT chunks
//
// The octets of a BDAT chunk are read whatever the reply, since the client
// sends them right after the command line (RFC 3030 §2); those of a line
// "BDAT n" followed by anything but "LAST" are skipped too. Only an
// accepted chunk is part of the message. A chunk refused in a mail
// transaction with 4yz or 5yz, by the server (no accepted recipient, the
// size limit, the syntax) or by the Handler or an Override, fails the
// transaction, which RFC 3030 §2 has the client consider failed: every
// later BDAT in it, LAST or not, is read and answered
//
//	503 5.5.0 Previous data chunk failed, issue RSET first
//
// once, also in LMTP mode, and records nothing. The transaction stays open
// until RSET, or EHLO, HELO, LHLO or STARTTLS: MAIL gets "Nested MAIL
// command", RCPT "RCPT after BDAT", DATA "DATA mixed with BDAT". The 503,
// its single reply and the open transaction are what Dovecot's LMTP server
// does (Dovecot 2.3.19; it still accepts RCPT, which Postfix refuses after
// BDAT as this server does). Postfix 3.7 answers "551 5.0.0 Discarded n
// bytes after earlier error" instead, and ends the transaction with the
// BDAT LAST. A BDAT LAST over the size limit, on the other hand, is the
// refusal of the message: its 552 is the end-of-data reply (one per
// accepted recipient in LMTP mode) and the transaction is over, as after
// DATA.
//
// # Closing
//
// After a 421 reply, whatever it answers (the greeting, a command, the end
// of data, one recipient's reply in LMTP) and wherever it comes from (the
// server's own limit, an Override, the Handler), the server sends what it
// has queued and closes the connection, as RFC 5321 §3.8 has servers do:
// it reads and answers nothing after the 421, so commands a client
// pipelined behind it get no reply. The same goes after the 221 to QUIT.
// The server then closes its sending side (after a TLS close_notify) and
// discards, unread, what the client still sends until the client closes
// its side, for a second at most: closing a socket with unread input
// would reset the connection, and the reset could destroy the last reply
// before the client reads it.
//
// # A server that faces hostile clients
//
// A Server can run for long in front of clients it does not control, as
// smtpkit sink does, with Config.NoRecord and limits set. What bounds a
// client, and what a connection holds:
//
//   - Connections: Config.MaxConnections at once; past it, 421 and close.
//     When Accept fails (out of descriptors: EMFILE, ENFILE), the server
//     waits before it tries again, twice as long each time up to a second,
//     as net/http's Server does.
//   - Time: Config.CommandTimeout for each command line and AUTH answer
//     (however slowly it trickles in) and for each write of replies,
//     Config.DataTimeout for a message's data, Config.TLSHandshakeTimeout
//     for a handshake. The defaults are RFC 5321's (§4.5.3.2) 5 and 10
//     minutes, and a minute.
//   - Replies: at most MaxUnsentReplies octets (plus one reply) wait to
//     be sent; past that the server writes before it reads on, so a client
//     that never reads stops being read, and then CommandTimeout closes it.
//   - Lines: a command line is read into the 16 KiB read buffer and kept
//     only up to Config.MaxCommandLineLength octets; a longer one is read and dropped.
//   - Message data: read through a streaming decoder and kept once, as
//     received (Raw). Data shares Raw's memory unless the client stuffed
//     dots; only then is it a second copy, made at the end of the data.
//     Data past the size limit (Config.MaxMessageSize, or the SIZE
//     extension's) is read and dropped as it arrives: a connection holds
//     at most the limit as received (which dot-stuffing can make a third
//     larger, plus a read buffer; a growing buffer is briefly there twice
//     when append moves it), and the decoded copy. A message handed to
//     OnMessage lives as long as OnMessage keeps it. With no size limit
//     (no SIZE line, or SIZE 0) nothing bounds a message.
//   - The envelope: Config.MaxRecipients recipients per transaction (no
//     limit by default).
//
// Without NoRecord, the server keeps every message and command line for
// the test to read: that grows with what clients send, by design.
//
// # Concurrency
//
// A Server handles each connection on its own goroutine; Close ends them
// all and waits for them. Its recording methods may be called at any time
// from any goroutine; what a connection did is complete once the client has
// read the reply that followed it, or after Close.
package smtptest
