// Package conf reads libvirt's configuration-file grammar: the one used by
// virtlxcd.conf, lxc.conf and every other /etc/libvirt/*.conf. Files that
// libvirt accepts parse to the same values here, and files it rejects fail
// with the same "configuration file syntax error: FILE:LINE: ..." messages,
// so an administrator's existing configuration carries over unchanged.
//
// Where libvirt's parser is looser or odder, this one differs on purpose,
// accepting a superset of what libvirt accepts:
//   - comments are allowed inside lists, between items;
//   - a file of blank lines only is empty rather than "expecting a name";
//   - an integer that overflows 64 bits is "number out of range" where
//     libvirt silently wraps it.
package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"syscall"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// MaxFileSize is libvirt's sanity limit on a configuration file (10 MiB).
const MaxFileSize = 10 << 20

// maxDepth bounds list nesting. libvirt recurses without a limit; a bound
// keeps a hostile file from exhausting the stack.
const maxDepth = 100

// Kind is the type of a value. libvirt has no booleans: they are the
// unsigned integers 0 and 1.
type Kind int

const (
	KindString   Kind = iota + 1
	KindUnsigned      // an integer written without a leading '-'
	KindSigned        // an integer written with a leading '-'
	KindList
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindUnsigned:
		return "unsigned long"
	case KindSigned:
		return "long"
	case KindList:
		return "list"
	}
	return "unknown"
}

// Value is one parsed value.
type Value struct {
	Kind Kind
	Str  string  // KindString
	Uint uint64  // KindUnsigned
	Int  int64   // KindSigned
	List []Value // KindList
}

// Entry is one "name = value" statement.
type Entry struct {
	Name  string
	Value Value
	Line  int // line of the name, 1-based
}

// File is a parsed configuration file.
type File struct {
	Name    string // used in error messages
	Entries []Entry
	first   map[string]int // name -> index of its first entry
}

// Parse parses data. filename only appears in error messages.
func Parse(filename string, data []byte) (*File, error) {
	p := &parser{name: filename, data: data}
	f := &File{Name: filename, first: map[string]int{}}
	for {
		p.skip(true, false)
		if p.eof() {
			break
		}
		if p.cur() == '#' {
			p.skipComment()
			continue
		}
		e, err := p.statement()
		if err != nil {
			return nil, err
		}
		if _, dup := f.first[e.Name]; !dup {
			// libvirt's lookup walks the entries from the top, so the
			// first assignment of a name is the one that counts.
			f.first[e.Name] = len(f.Entries)
		}
		f.Entries = append(f.Entries, e)
		if err := p.separator(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// ParseFile reads and parses the file at path, refusing files larger than
// MaxFileSize like libvirt does.
func ParseFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fileError("Failed to open file '%s'", path, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fileError("Failed to read file '%s'", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fileError("Failed to read file '%s'", path, syscall.EFBIG)
	}
	return Parse(path, data)
}

// FileError is a failure to read a configuration file. Its text is
// libvirt's ("Failed to open file '/x': No such file or directory") and it
// unwraps to the system error, so callers can test for fs.ErrNotExist.
type FileError struct {
	Path string
	Msg  string // the part before ": <system error>"
	Err  error
}

func (e *FileError) Error() string { return e.Msg + ": " + strerror(e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

func fileError(format, path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &FileError{Path: path, Msg: fmt.Sprintf(format, path), Err: err}
}

// strerror renders an errno the way glibc's strerror does: Go's texts are
// the same words without the leading capital.
func strerror(err error) string {
	s := err.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Keys returns the distinct names assigned in the file, in the order of
// their first assignment.
func (f *File) Keys() []string {
	keys := make([]string, 0, len(f.first))
	for i, e := range f.Entries {
		if f.first[e.Name] == i {
			keys = append(keys, e.Name)
		}
	}
	return keys
}

// Lookup returns the value that counts for key (its first assignment).
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.first[key]
	if !ok {
		return Value{}, false
	}
	return f.Entries[i].Value, true
}

// Line returns the line where key is first assigned, or 0 if it is not.
func (f *File) Line(key string) int {
	i, ok := f.first[key]
	if !ok {
		return 0
	}
	return f.Entries[i].Line
}

type parser struct {
	name string
	data []byte
	pos  int
}

func (p *parser) eof() bool { return p.pos >= len(p.data) }

// cur returns the current byte, or 0 at the end (libvirt reads the NUL
// terminator there, and no rule accepts NUL).
func (p *parser) cur() byte {
	if p.eof() {
		return 0
	}
	return p.data[p.pos]
}

func isBlank(c byte) bool  { return c == ' ' || c == '\t' }
func isEOL(c byte) bool    { return c == '\n' || c == '\r' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// skip moves past blanks, and also line ends when eol is set, and also
// comments when comments is set (only inside lists).
func (p *parser) skip(eol, comments bool) {
	for !p.eof() {
		c := p.cur()
		switch {
		case isBlank(c), eol && isEOL(c):
			p.pos++
		case comments && c == '#':
			p.skipComment()
		default:
			return
		}
	}
}

func (p *parser) skipComment() {
	for !p.eof() && !isEOL(p.cur()) {
		p.pos++
	}
}

// errorf reports a syntax error at the current position. The line is the
// number of newlines consumed so far plus one, which is what libvirt counts.
func (p *parser) errorf(msg string) error {
	line := 1 + bytes.Count(p.data[:p.pos], []byte{'\n'})
	return virterror.New(virterror.ConfSyntax, virterror.FromConf, "%s:%d: %s", p.name, line, msg)
}

func (p *parser) statement() (Entry, error) {
	line := 1 + bytes.Count(p.data[:p.pos], []byte{'\n'})
	if !isLetter(p.cur()) {
		return Entry{}, p.errorf("expecting a name")
	}
	start := p.pos
	for !p.eof() && (isLetter(p.cur()) || isDigit(p.cur()) || p.cur() == '_') {
		p.pos++
	}
	name := string(p.data[start:p.pos])
	p.skip(false, false)
	if p.cur() != '=' {
		return Entry{}, p.errorf("expecting an assignment")
	}
	p.pos++
	p.skip(false, false)
	v, err := p.value(0)
	if err != nil {
		return Entry{}, err
	}
	p.skip(false, false)
	if p.cur() == '#' {
		p.skipComment()
	}
	return Entry{Name: name, Value: v, Line: line}, nil
}

func (p *parser) separator() error {
	p.skip(false, false)
	switch {
	case p.eof(), isEOL(p.cur()):
		return nil
	case p.cur() == ';':
		p.pos++
		return nil
	}
	return p.errorf("expecting a separator")
}

func (p *parser) value(depth int) (Value, error) {
	p.skip(false, false)
	if p.eof() {
		return Value{}, p.errorf("expecting a value")
	}
	switch c := p.cur(); {
	case c == '"' || c == '\'':
		s, err := p.str()
		return Value{Kind: KindString, Str: s}, err
	case c == '[':
		return p.list(depth)
	case isDigit(c) || c == '-' || c == '+':
		return p.number()
	}
	return Value{}, p.errorf("expecting a value")
}

func (p *parser) str() (string, error) {
	// libvirt only looks for a triple quote when at least seven bytes
	// are left; closer to the end, `""` is an empty string.
	if len(p.data)-p.pos > 6 && bytes.HasPrefix(p.data[p.pos:], []byte(`"""`)) {
		p.pos += 3
		end := bytes.Index(p.data[p.pos:], []byte(`"""`))
		if end < 0 {
			// libvirt's scan for the closing quotes stops two bytes
			// short of the end, and so does its line count.
			p.pos = max(p.pos, len(p.data)-2)
			return "", p.errorf("unterminated string")
		}
		s := string(p.data[p.pos : p.pos+end])
		p.pos += end + 3
		return s, nil
	}
	quote := p.cur()
	p.pos++
	start := p.pos
	for !p.eof() && p.cur() != quote && !isEOL(p.cur()) {
		p.pos++
	}
	if p.cur() != quote {
		return "", p.errorf("unterminated string")
	}
	s := string(p.data[start:p.pos])
	p.pos++
	return s, nil
}

func (p *parser) list(depth int) (Value, error) {
	if depth >= maxDepth {
		return Value{}, p.errorf("lists nested too deeply")
	}
	p.pos++ // '['
	v := Value{Kind: KindList, List: []Value{}}
	p.skip(true, true)
	if !p.eof() && p.cur() != ']' {
		item, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v.List = append(v.List, item)
		p.skip(true, true)
	}
	for !p.eof() && p.cur() != ']' {
		if p.cur() != ',' {
			return Value{}, p.errorf("expecting a separator in list")
		}
		p.pos++
		p.skip(true, true)
		if p.cur() == ']' {
			break
		}
		item, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v.List = append(v.List, item)
		p.skip(true, true)
	}
	if p.cur() != ']' {
		return Value{}, p.errorf("list is not closed with ]")
	}
	p.pos++
	return v, nil
}

func (p *parser) number() (Value, error) {
	neg := p.cur() == '-'
	if neg || p.cur() == '+' {
		p.pos++
	}
	if !isDigit(p.cur()) {
		return Value{}, p.errorf("unterminated number")
	}
	var n uint64
	overflow := false
	for !p.eof() && isDigit(p.cur()) {
		d := uint64(p.cur() - '0')
		if n > (math.MaxUint64-d)/10 {
			overflow = true
		}
		n = n*10 + d
		p.pos++
	}
	// libvirt lets the accumulator wrap silently; a value that does not
	// fit is refused here rather than replaced by a different number.
	switch {
	case overflow, neg && n > 1<<63:
		return Value{}, p.errorf("number out of range")
	case neg:
		return Value{Kind: KindSigned, Int: int64(-n)}, nil
	}
	return Value{Kind: KindUnsigned, Uint: n}, nil
}
