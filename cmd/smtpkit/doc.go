// Command smtpkit is a mail-server toolbox in one binary, built on the
// smtpkit packages: what swaks, smtp-source and smtp-sink are to Postfix
// users.
//
//	smtpkit send  --to ADDR [--server ADDR] ...   send one message and show what happened
//	smtpkit probe --server ADDR ...                what a server offers: extensions, TLS, AUTH, SIZE
//	smtpkit sink  [--listen ADDR] ...              a server that accepts (or refuses) everything
//	smtpkit bench --server ADDR --messages N ...   a load generator, with latency percentiles
//	smtpkit smuggle --server ADDR --from A --to B  whether the server ends data at a lookalike of <CRLF>.<CRLF>
//	smtpkit fuzz  --server ADDR [--duration 60s]   drive a server with generated sessions, report what it gets wrong
//	smtpkit help  [CMD]                            each command's flags
//
// With no --server, send starts an embedded sink on 127.0.0.1, sends to
// it, and prints the transcript and what the sink received, so
//
//	go run ./cmd/smtpkit send --to you@example.org
//
// works on a machine with nothing but Go installed.
//
// send --mx delivers to the recipients' domains instead, as an MTA does:
// their MX hosts in preference order, with the TLS policy each domain
// publishes (DANE through the --dns resolver's DNSSEC answers, else
// MTA-STS, else opportunistic STARTTLS; package deliver), one line per
// recipient with the MX host, the policy applied and the reply. It connects
// only to loopback addresses unless --allow-remote is given.
//
// sink is package smtptest's server as a standalone process: on --listen
// (host:port, or a Unix socket when the address starts with "/"), with
// STARTTLS on the certificate of --tls-cert and --tls-key when they are
// given, in LMTP mode with --lmtp, refusing the recipients that match a
// --refuse glob. It prints one line per message, stores it in a maildir
// with --maildir, and keeps nothing in memory once that is done, so it can
// run for as long as a load test needs. It bounds what a client can hold:
// connections at once (--max-connections, default 100), the wait for a
// command (--idle-timeout) and for message data (--data-timeout),
// recipients per message (--max-recipients) and the message size
// (--max-size).
//
// smuggle tells whether a server can be used for SMTP smuggling: for each
// lookalike of <CRLF>.<CRLF> (LF.LF, CRLF.LF, CR.CR, ..., and each with a
// NUL or a space before the dot) it sends a message that hides a second
// transaction behind the lookalike, then QUIT, and counts the replies up
// to QUIT's 221: one reply to the end of the data means the lookalike was
// data (kept-as-data), more mean the server answered the hidden commands
// (ends-data), a 4yz or 5yz alone means it refused the message (refused).
// With --maildir or --check the stored messages must agree. It scans only
// loopback addresses and Unix sockets unless --allow-remote is given, and
// exits 3 when a lookalike ends the data, 1 when a verdict could not be
// reached, 0 otherwise; --json writes
//
//	{"server": "127.0.0.1:25", "variants": [{"name": "LF.LF", "bytes": "\n.\n",
//	  "verdict": "ends-data", "evidence": "5 replies where ..."}, ...]}
//
// fuzz drives a server with generated client sessions (package fuzz):
// transactions with DATA or BDAT, pipelined groups when offered, RSET,
// NOOP, VRFY, STARTTLS, AUTH, and hostile variants (mutated command lines,
// message data with bare CR, bare LF and every end-of-data lookalike). It
// reports a reply that does not parse or that its command cannot have, a
// pipelined group answered with too few replies or with replies nobody
// asked for, a hang past --timeout, a connection closed without a 421,
// and with --maildir or --check a message stored other than it was sent;
// each finding with its seed and a minimal session (shrunk by rapid) in a
// JSON file under --out, which "smtpkit fuzz replay FILE" plays again. It
// fuzzes only loopback addresses and Unix sockets unless --allow-remote
// is given, and exits 3 when it found something, 1 when the run failed,
// 0 otherwise.
//
// send and bench take --from and --to as users paste them from a To field
// ("Bob <bob@example.org>", "bob@example.org (Bob)"); the envelope and the
// built header get the bare mailbox. A list or a group is a usage error.
//
// Flags follow the standard flag package: --name value or --name=value
// (a single dash works too), boolean flags as --name or --name=false.
//
// # Exit status
//
// send: 0 when every recipient accepted the message (and, with --lmtp, it
// was delivered to every one); 3 when some recipients refused it or, with
// --lmtp, it was delivered to some only; 1 when it was not accepted at all
// (connection, TLS, authentication, sender, recipients or data refused);
// 2 for a usage error. bench uses the same codes for its messages (3: some
// failed or unknown), probe exits 0 when the server greeted and answered EHLO or
// LHLO, and sink exits 0 after SIGINT or SIGTERM (1 when it cannot listen
// or could not store a message). Errors are one line on standard error,
// naming what failed and quoting the server's reply when there was one.
//
// # What peers sent
//
// Whatever a server or a client sent that smtpkit prints (replies,
// extensions, certificate names, addresses, the trace) has what is not
// printable written as Go escapes: "\x1b", "\r", "\u202e", "\xff" for a
// byte that is not UTF-8. No escape sequence, bare CR or bidi control from
// a peer reaches the terminal. In --json output the values are the text
// as sent, with such characters as JSON \u escapes. CR, LF and NUL in a
// flag whose value goes into a header field or a command (--subject,
// --from, --to, --helo, ...) are a usage error.
//
// # JSON
//
// send, probe and bench take --json and then write one JSON object to
// standard output, and nothing else. For send it is
//
//	{"server": "127.0.0.1:25",
//	 "recipients": [{"address": "bob@example.org", "accepted": true,
//	                 "code": 250, "enhanced": "2.1.5", "message": "OK"}],
//	 "data": {"code": 250, "enhanced": "2.0.0", "message": "OK queued"},
//	 "error": null}
//
// where each recipient's code, enhanced code and message are the reply to
// its RCPT, and data is the reply that decided the message: the one after
// its end, or the refusal of DATA or BDAT (null when the transaction did
// not get that far). A refused message keeps every recipient's RCPT reply.
// With --lmtp each recipient also has its own "data" object: its delivery
// reply (null when it was refused at RCPT), and the top-level data is the
// last of them. A code of 0 means no reply was read. The object is written
// on failure too, with what is known, and its "error" says what went
// wrong: the line standard error shows, without "smtpkit send: ", and null
// only when the exit status is 0 (so a recipient's code 0 with an error
// is a session that ended before its RCPT, never a refusal). bench's
// object has the same "error" (null when every message was accepted);
// probe's is "" when the probe succeeded. Every command writes its JSON
// the same way: "<", ">" and "&" as they are (no HTML escaping), what is
// not printable as \u escapes (see above).
package main
