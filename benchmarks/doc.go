// Package benchmarks compares smtpkit with other Go SMTP clients, side by
// side in one run against the same in-process server (internal/sink). It
// is a module of its own so that the clients it compares never become
// dependencies of smtpkit.
//
//	go test -run '^$' -bench . -count 8 ./... | tee new.txt && benchstat -col /impl new.txt
package benchmarks
