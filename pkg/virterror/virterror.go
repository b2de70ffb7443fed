// Package virterror holds libvirt's error model: the numeric error codes and
// domains that travel in remote_error, and an error type carrying them so
// that every layer can fail the way libvirt's clients expect.
package virterror

import (
	"errors"
	"fmt"
)

// Code is a virErrorNumber.
type Code int32

// Domain is a virErrorDomain (VIR_FROM_*).
type Domain int32

// Error codes (virterror.h). Only the ones this daemon produces are named.
const (
	OK                   Code = 0
	InternalError        Code = 1
	NoMemory             Code = 2
	NoSupport            Code = 3
	NoConnect            Code = 5
	InvalidConn          Code = 6
	InvalidDomain        Code = 7
	InvalidArg           Code = 8
	OperationFailed      Code = 9
	XMLError             Code = 27
	DomExist             Code = 28
	OperationDenied      Code = 29
	ConfSyntax           Code = 33
	XMLDetail            Code = 35
	SystemError          Code = 38
	RPC                  Code = 39
	NoDomain             Code = 42
	AuthFailed           Code = 45
	OperationInvalid     Code = 55
	ConfigUnsupported    Code = 67
	OperationTimeout     Code = 68
	ArgumentUnsupported  Code = 74
	NoDomainMetadata     Code = 80
	OperationUnsupported Code = 84
	NoServer             Code = 95
	NoClient             Code = 96
	DeviceMissing        Code = 99
)

// Error domains.
const (
	FromNone           Domain = 0
	FromRPC            Domain = 7
	FromConf           Domain = 9
	FromRemote         Domain = 13
	FromLXC            Domain = 17
	FromDomain         Domain = 20
	FromDomainSnapshot Domain = 35
	FromStreams        Domain = 38
	FromCgroup         Domain = 54
	FromAdmin          Domain = 62
)

// LevelError is VIR_ERR_ERROR, the only level libvirt puts on the wire.
const LevelError = 2

// templates maps a code to libvirt's message prefix. The detail is appended
// after ": " the way virErrorMsg composes messages, so clients print the
// same "error: ..." lines they print for libvirtd.
var templates = map[Code]string{
	InternalError:        "internal error",
	NoMemory:             "out of memory",
	NoSupport:            "this function is not supported by the connection driver",
	NoConnect:            "no connection driver available for",
	InvalidConn:          "invalid connection pointer in",
	InvalidDomain:        "invalid domain pointer in",
	InvalidArg:           "invalid argument",
	OperationFailed:      "operation failed",
	XMLError:             "XML error",
	DomExist:             "this domain exists already",
	OperationDenied:      "operation forbidden",
	ConfSyntax:           "configuration file syntax error",
	NoDomain:             "Domain not found",
	AuthFailed:           "authentication failed",
	OperationInvalid:     "Requested operation is not valid",
	ConfigUnsupported:    "unsupported configuration",
	OperationTimeout:     "Timed out during operation",
	ArgumentUnsupported:  "argument unsupported",
	NoDomainMetadata:     "metadata not found",
	OperationUnsupported: "Operation not supported",
	NoServer:             "Server not found",
	DeviceMissing:        "device not found",
	NoClient:             "Client not found",
}

// Error is a libvirt error as it is sent to clients.
type Error struct {
	Code    Code
	Domain  Domain
	Message string // full message, e.g. "Domain not found: No domain with matching name 'x'"
	Detail  string // the part after the template (str2 on the wire)
}

func (e *Error) Error() string { return e.Message }

// New builds an error whose message is libvirt's template for code followed
// by the formatted detail.
func New(code Code, dom Domain, format string, args ...any) *Error {
	detail := fmt.Sprintf(format, args...)
	msg := detail
	if t, ok := templates[code]; ok {
		switch {
		case detail == "":
			msg = t
		case code == NoConnect || code == InvalidConn || code == InvalidDomain:
			msg = t + " " + detail
		default:
			msg = t + ": " + detail
		}
	}
	return &Error{Code: code, Domain: dom, Message: msg, Detail: detail}
}

// Raw builds an error whose message is exactly text (libvirt's "%s"
// templates such as XML_DETAIL and RPC).
func Raw(code Code, dom Domain, text string) *Error {
	return &Error{Code: code, Domain: dom, Message: text, Detail: text}
}

// BadFlags is libvirt's virCheckFlags refusal: INVALID_ARG whose message
// carries no template prefix (virReportInvalidArg formats it as is), so
// virsh prints "unsupported flags (0x4) in function F".
func BadFlags(dom Domain, extra uint32, fn string) *Error {
	return Raw(InvalidArg, dom, fmt.Sprintf("unsupported flags (0x%x) in function %s", extra, fn))
}

// From converts any error into a libvirt error. Errors that are not
// already *Error become INTERNAL_ERROR in domain d.
func From(err error, d Domain) *Error {
	if err == nil {
		return nil
	}
	var ve *Error
	if errors.As(err, &ve) {
		return ve
	}
	return New(InternalError, d, "%s", err.Error())
}

// Is reports whether err is a libvirt error with the given code.
func Is(err error, code Code) bool {
	var ve *Error
	return errors.As(err, &ve) && ve.Code == code
}

// ReadOnly is the error libvirt returns when a read-only connection calls a
// mutating API.
func ReadOnly(api string) *Error {
	return New(OperationDenied, FromDomain, "read only access prevents %s", api)
}

// Unsupported is the error for a known API that this driver lacks.
func Unsupported(api string, d Domain) *Error {
	return New(NoSupport, d, "%s", api)
}
