module github.com/smtpkit/smtpkit/benchmarks

go 1.26.0

require (
	github.com/emersion/go-smtp v0.25.1
	github.com/smtpkit/smtpkit v0.0.0-00010101000000-000000000000
)

require (
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)

replace github.com/smtpkit/smtpkit => ..
