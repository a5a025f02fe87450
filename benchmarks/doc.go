// Package benchmarks compares smtpkit with the other Go SMTP clients,
// net/smtp and github.com/emersion/go-smtp, side by side in one run
// against the same in-process server (internal/sink) over loopback TCP
// (a Unix socket for LMTP). It is a module of its own so that the
// clients it compares never become dependencies of smtpkit.
//
//   - BenchmarkSmallMessages: 1 KiB messages, one recipient, one connection
//   - BenchmarkManyRecipients: one 1 KiB message to 50 recipients
//   - BenchmarkLargeMessage: 8 MiB of text through DATA and BDAT, beside
//     the same octets written raw to the socket
//   - BenchmarkLMTP: 1 KiB messages to 5 recipients over a Unix socket
//   - BenchmarkPool: 1 KiB messages from 16 goroutines through a pool of
//     4 connections, beside one pipelined connection and a connection
//     per goroutine; BenchmarkPoolSlowServer: the same against a server
//     that spends a millisecond on each message
//   - BenchmarkDotWriter, BenchmarkReadReply: package wire's codec rows
//   - TestStreamedMessageHeap: a 256 MiB message streamed from an
//     io.Reader keeps the heap in use under 8 MiB, through DATA and BDAT
//
// Every benchmark checks that the sink got every message, recipient and
// octet. ./run.sh runs it all with -count 6 and prints benchstat's
// tables, the targets' ratios and, when Postfix is installed, smtpkit
// bench beside smtp-source on Postfix's smtp-sink; README.md holds the
// last run.
//
//	go test -run '^$' -bench . -count 6 ./... | tee new.txt && benchstat -col /impl new.txt
package benchmarks
