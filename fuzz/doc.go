// Package fuzz is for testing SMTP and LMTP software with generated
// input: clients (this module's, or yours) against generated server
// behaviour, and servers against generated client sessions. It gives
// rapid generators (pgregory.net/rapid) of everything SMTP is made of,
// seeds for native Go fuzzing drawn from them, and the oracles that say
// whether what came back is right, as exported checks any harness can
// reuse. The smtpkit command's "fuzz" subcommand is built on it.
//
// # Generators
//
// Each generator says in its documentation what it covers. Canonical
// values are ones package command's Append accepts and Parse gives back
// field for field; hostile ones are what a parser or a server must refuse
// cleanly.
//
//   - Addresses: Mailbox (Dot-string and quoted local parts, UTF-8, IDN
//     U-labels, address literals, at the length limits), LocalPart,
//     Domain, IDNDomain, AddressLiteral, PastedAddress (as users paste
//     them: display names, comments, brackets).
//   - Commands: MailParams, RcptParams, Mail, Rcpt, and Command for every
//     verb.
//   - Hostile input: Hostile(g) mutates what g draws (CR, LF, NUL and
//     controls inserted, cut short, over-long, case-folded, white space);
//     HostileCommand, HostileAddress, HostileReplies.
//   - Server output: Reply (single and multiline, enhanced codes);
//     ServerScript (a server's answers to a client, transaction by
//     transaction: 2yz, 4yz, 5yz, a 421 and a close, a close without a
//     reply, a reply nobody asked for).
//   - Message data: Body (dot lines, bare CR and LF, NUL, 8-bit octets,
//     long lines, every end-of-data lookalike), and Normalise, what a
//     server must store for a body sent through the DATA encoder.
//   - Client sessions: Session, valid for a server's state machine
//     (EHLO, transactions with DATA or BDAT, pipelined groups, RSET and
//     NOOP, STARTTLS, AUTH, QUIT), hostile when Features.Hostile says so.
//
// In a property test, draw from them as from any rapid generator:
//
//	rapid.Check(t, func(t *rapid.T) {
//		m := fuzz.Mailbox(true).Draw(t, "mailbox")
//		// ... send to m, parse m, store m ...
//	})
//
// # Native fuzzing
//
// SeedReplies, SeedCommands and SeedBodies add inputs drawn from the
// generators to a *testing.F (or any Corpus), so that go test -fuzz
// starts from inputs that reach deep into a parser:
//
//	func FuzzParseReply(f *testing.F) {
//		fuzz.SeedReplies(f)
//		f.Fuzz(func(t *testing.T, stream []byte) { ... })
//	}
//
// # Oracles
//
//   - CheckReplies: a reply stream parses strictly (RFC 5321 §4.2).
//   - CheckGroup and Plausible: a pipelined group got exactly one reply
//     per command, each one its command can have (RFC 2920).
//   - Implied and Outcome.Diff: a client's outcome for a message equals
//     what the server's replies imply (the rule that catches a client
//     that reads a reply for the wrong command). A ServerScript's Answer
//     says what a scripted server sends; its log of Exchanges is what
//     Implied reads.
//   - CheckStored: a message a server stored equals Normalise of the body
//     that was sent.
//
// Each returns a *Finding whose Kind says what was wrong.
//
// # Fuzzing a live server
//
// A Driver plays a ClientSession against a server over one connection
// and applies the oracles to what comes back: replies that do not parse,
// a wrong number of replies to a group, a hang, a connection dropped
// without a 421, a message stored other than it was sent. Inside
// rapid.Check, rapid shrinks a failing session to a minimal one:
//
//	d := &fuzz.Driver{Dial: dial, Timeout: 2 * time.Second}
//	rapid.Check(t, func(t *rapid.T) {
//		s := fuzz.Session(fuzz.Features{Pipelining: true}).Draw(t, "session")
//		if err := d.Run(ctx, s); err != nil {
//			t.Fatal(err)
//		}
//	})
//
// smtpkit fuzz does this against a server named on its command line.
package fuzz
