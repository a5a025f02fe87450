package command

// What the external tests (package command_test, which import package
// fuzz, which imports command) need of the package's insides.

var (
	CheckMailboxForTest = checkMailbox
	ParseMailboxForTest = parseMailbox
	XtextLen            = xtextLen
	HasPrefixFold       = hasPrefixFold
)

const MaxQuotedAddress = maxQuotedAddress
