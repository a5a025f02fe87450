package fuzz

import (
	"github.com/smtpkit/smtpkit/wire"
)

// Corpus is where the Seed functions put their inputs: *testing.F is
// one (its Add method). Taking this interface rather than *testing.F
// lets a program write a corpus of its own (a directory for another
// fuzzer, say) with the same inputs. It is not about the binary: rapid
// already imports package testing.
type Corpus interface {
	Add(args ...any)
}

// seedCount is how many inputs each Seed function adds: enough to reach
// every branch of the generators, few enough to run in a second.
const seedCount = 64

// SeedReplies adds reply streams to f, each one []byte: valid replies
// as wire.AppendReply writes them (single and multiline, with and
// without enhanced codes) and HostileReplies' broken ones, in turn. The
// inputs are the same on every run.
//
//	func FuzzReadReply(f *testing.F) {
//		fuzz.SeedReplies(f)
//		f.Fuzz(func(t *testing.T, stream []byte) { ... })
//	}
func SeedReplies(f Corpus) {
	for i := range seedCount {
		if i%2 == 0 {
			f.Add(wire.AppendReply(nil, Reply().Example(i)))
		} else {
			f.Add(HostileReplies().Example(i))
		}
	}
}

// SeedCommands adds command lines to f, each one []byte with its CRLF:
// canonical commands of every verb as command's Append writes them
// (Command), and HostileCommand's that Append takes, in turn. The inputs
// are the same on every run.
func SeedCommands(f Corpus) {
	for i := range 2 * seedCount {
		g := Command()
		if i%2 == 1 {
			g = HostileCommand()
		}
		if line, err := g.Example(i).Append(nil); err == nil {
			f.Add(line)
		}
	}
}

// SeedBodies adds message bodies to f, each one []byte, from Body:
// dot lines, bare CR and LF, NUL, 8-bit octets, long lines and every
// end-of-data lookalike. The inputs are the same on every run.
func SeedBodies(f Corpus) {
	for i := range seedCount {
		f.Add(Body().Example(i))
	}
}
