package response

import "strconv"

// Code is a three-digit SMTP reply code (RFC 5321 §4.2). Its first digit is
// the reply's [Class].
type Code int

// The reply codes RFC 5321 §4.2.2 and §4.2.3 name, plus the ones the
// extensions smtpkit implements add (RFC 4954 AUTH, RFC 3207 STARTTLS,
// RFC 7504 null MX, RFC 8689 REQUIRETLS use the generic codes below).
const (
	CodeSystemStatus            Code = 211 // System status, or system help reply
	CodeHelp                    Code = 214 // Help message
	CodeServiceReady            Code = 220 // <domain> Service ready
	CodeServiceClosing          Code = 221 // <domain> Service closing transmission channel
	CodeAuthSucceeded           Code = 235 // Authentication successful (RFC 4954)
	CodeOK                      Code = 250 // Requested mail action okay, completed
	CodeUserNotLocalWillForward Code = 251 // User not local; will forward to <forward-path>
	CodeCannotVerify            Code = 252 // Cannot VRFY user, but will accept message and attempt delivery
	CodeAuthContinue            Code = 334 // Server challenge (RFC 4954)
	CodeStartMailInput          Code = 354 // Start mail input; end with <CRLF>.<CRLF>
	CodeServiceNotAvailable     Code = 421 // <domain> Service not available, closing transmission channel
	CodePasswordTransition      Code = 432 // A password transition is needed (RFC 4954)
	CodeMailboxBusy             Code = 450 // Requested mail action not taken: mailbox unavailable
	CodeLocalError              Code = 451 // Requested action aborted: local error in processing
	CodeInsufficientStorage     Code = 452 // Requested action not taken: insufficient system storage
	CodeTempAuthFailure         Code = 454 // Temporary authentication failure (RFC 4954); TLS not available (RFC 3207)
	CodeParamsNotAccommodated   Code = 455 // Server unable to accommodate parameters
	CodeSyntaxError             Code = 500 // Syntax error, command unrecognized
	CodeParamSyntaxError        Code = 501 // Syntax error in parameters or arguments
	CodeNotImplemented          Code = 502 // Command not implemented
	CodeBadSequence             Code = 503 // Bad sequence of commands
	CodeParamNotImplemented     Code = 504 // Command parameter not implemented
	CodeNoMailHere              Code = 521 // Host does not accept mail (RFC 7504)
	CodeEncryptionNeeded        Code = 523 // Encryption needed (RFC 5248 registry)
	CodeAuthRequired            Code = 530 // Authentication required (RFC 4954)
	CodeAuthTooWeak             Code = 534 // Authentication mechanism is too weak (RFC 4954)
	CodeAuthInvalid             Code = 535 // Authentication credentials invalid (RFC 4954)
	CodeEncryptionRequired      Code = 538 // Encryption required for requested authentication mechanism (RFC 4954)
	CodeMailboxUnavailable      Code = 550 // Requested action not taken: mailbox unavailable
	CodeUserNotLocal            Code = 551 // User not local; please try <forward-path>
	CodeExceededStorage         Code = 552 // Requested mail action aborted: exceeded storage allocation
	CodeMailboxNameNotAllowed   Code = 553 // Requested action not taken: mailbox name not allowed
	CodeTransactionFailed       Code = 554 // Transaction failed (or, as a greeting, no SMTP service here)
	CodeParamsNotRecognized     Code = 555 // MAIL FROM/RCPT TO parameters not recognized or not implemented
	CodeNoMailAtDomain          Code = 556 // Domain does not accept mail (RFC 7504)
)

var codeNames = map[Code]string{
	CodeSystemStatus:            "system status",
	CodeHelp:                    "help",
	CodeServiceReady:            "service ready",
	CodeServiceClosing:          "service closing",
	CodeAuthSucceeded:           "authentication succeeded",
	CodeOK:                      "ok",
	CodeUserNotLocalWillForward: "user not local, will forward",
	CodeCannotVerify:            "cannot verify",
	CodeAuthContinue:            "authentication challenge",
	CodeStartMailInput:          "start mail input",
	CodeServiceNotAvailable:     "service not available",
	CodePasswordTransition:      "password transition needed",
	CodeMailboxBusy:             "mailbox busy or unavailable",
	CodeLocalError:              "local error in processing",
	CodeInsufficientStorage:     "insufficient system storage",
	CodeTempAuthFailure:         "temporary authentication failure",
	CodeParamsNotAccommodated:   "parameters not accommodated",
	CodeSyntaxError:             "syntax error",
	CodeParamSyntaxError:        "syntax error in parameters",
	CodeNotImplemented:          "command not implemented",
	CodeBadSequence:             "bad sequence of commands",
	CodeParamNotImplemented:     "parameter not implemented",
	CodeNoMailHere:              "host does not accept mail",
	CodeEncryptionNeeded:        "encryption needed",
	CodeAuthRequired:            "authentication required",
	CodeAuthTooWeak:             "authentication mechanism too weak",
	CodeAuthInvalid:             "authentication credentials invalid",
	CodeEncryptionRequired:      "encryption required for authentication mechanism",
	CodeMailboxUnavailable:      "mailbox unavailable",
	CodeUserNotLocal:            "user not local",
	CodeExceededStorage:         "exceeded storage allocation",
	CodeMailboxNameNotAllowed:   "mailbox name not allowed",
	CodeTransactionFailed:       "transaction failed",
	CodeParamsNotRecognized:     "parameters not recognized",
	CodeNoMailAtDomain:          "domain does not accept mail",
}

// String returns the code's digits and, for a code RFC 5321 or an extension
// names, a short description: "550 (mailbox unavailable)". Unknown codes print
// as their digits alone.
func (c Code) String() string {
	if name, ok := codeNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + name + ")"
	}
	return strconv.Itoa(int(c))
}

// Class returns the code's first digit as a [Class].
func (c Code) Class() Class { return Class(c / 100) }

// Class is the first digit of a reply code (RFC 5321 §4.2.1): what the server
// thinks of the command.
type Class int

// The reply classes of RFC 5321 §4.2.1. SMTP does not use 1yz.
const (
	ClassPositiveCompletion   Class = 2 // the action was completed
	ClassPositiveIntermediate Class = 3 // go on: send the data, the next SASL response
	ClassTransientNegative    Class = 4 // not done now; the same command may succeed later
	ClassPermanentNegative    Class = 5 // not done; repeating the command will not help
)

var classNames = [...]string{
	ClassPositiveCompletion:   "positive completion",
	ClassPositiveIntermediate: "positive intermediate",
	ClassTransientNegative:    "transient negative",
	ClassPermanentNegative:    "permanent negative",
}

// String names the class, or prints "class N" for a digit RFC 5321 does not define.
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) && classNames[c] != "" {
		return classNames[c]
	}
	return "class " + strconv.Itoa(int(c))
}
