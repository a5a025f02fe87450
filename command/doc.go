// Package command builds, checks and parses SMTP, ESMTP and LMTP command
// lines: the verbs of RFC 5321 and RFC 2033, the MAIL and RCPT parameters
// of the extensions (SIZE, BODY, SMTPUTF8, DSN's RET, ENVID, NOTIFY and
// ORCPT, AUTH=, REQUIRETLS, MT-PRIORITY, BY), addresses with their
// internationalised forms (RFC 6531), and xtext.
//
// Each command is a plain value whose Append method writes its wire form,
// CRLF included, to a caller's buffer:
//
//	buf, err = command.Mail{From: from, Params: command.MailParams{Size: n}}.Append(buf)
//
// Append checks every argument first and returns a typed [*Error] naming
// it; CR, LF and NUL never reach the buffer, so no argument can smuggle in a
// second command. Nothing is allocated when the buffer has room.
//
// [Parse] is the other direction, for servers, proxies and test servers:
// a line becomes the same values, strictly by default, leniently with
// [Parser]. Parse gives back what Append wrote, with the changes Append
// makes on the way documented where they happen: U-labels sent as A-labels
// outside SMTPUTF8, an ORCPT's type filled in, SIZE=0 left out. [Raw] is
// sent as given and may hold what Parse refuses.
//
// Addresses come in as [ParseMailbox] reads them, the addr-spec alone
// ("bob@example.org"), or as [ParseAddress] reads what users paste into a
// To field ("Bob <bob@example.org>", "bob@example.org (Bob)"), the display
// name and comments dropped; [MailboxFromAddress] and [Mailbox.MailAddress]
// bridge net/mail. An address they refuse is an [*AddressError] that names
// it, the offset where the trouble starts and the reason:
//
//	command: address "bob@example..org": at offset 12: two dots in a row in the domain
//
// The package does no I/O; package session writes the lines.
package command
