// Package domxml turns libvirt domain XML into validated definitions for
// the LXC driver: it parses with libvirt.org/go/libvirtxml, reports errors
// with libvirt's codes, fills in the values libvirt fills in at define time,
// formats active and inactive XML and derives the container spec the
// runtime executes.
package domxml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// docName is what libvirt calls the document in XML error positions.
const docName = "(domain_definition)"

// Parse reads a <domain> document. Syntax errors come back as libvirt's
// XML_DETAIL errors with the line, so that virsh prints the position;
// structural errors (wrong root, values that are not numbers) as
// XML_ERROR.
func Parse(text string) (*libvirtxml.Domain, error) {
	if strings.TrimSpace(text) == "" {
		return nil, syntaxErrorAt(text, 1, 0, "Document is empty")
	}
	if err := checkRoot(text); err != nil {
		return nil, err
	}
	d := &libvirtxml.Domain{}
	if err := d.Unmarshal(text); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, syntaxError(text, se.Line, se.Msg)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, syntaxErrorAt(text, strings.Count(text, "\n")+1, len(text), "Premature end of data")
		}
		return nil, virterror.New(virterror.XMLError, virterror.FromDomain, "%s", err.Error())
	}
	if d.Metadata != nil {
		d.Metadata.XML = compactMetadata(d.Metadata.XML)
	}
	return d, nil
}

// checkRoot walks the document once before it is decoded, to report a
// wrong root element and syntax errors the way libxml2 words them for
// libvirt (with the line of the element left open or mismatched), instead
// of encoding/xml's wording.
func checkRoot(text string) error {
	type open struct {
		name string
		line int
	}
	dec := xml.NewDecoder(strings.NewReader(text))
	var stack []open
	var scalar strings.Builder // text of a top-level size element
	for {
		line, _ := dec.InputPos()
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if !errors.As(err, &se) && err != io.EOF {
				return syntaxErrorAt(text, line, off, err.Error())
			}
			end, _ := dec.InputPos()
			at := int(dec.InputOffset())
			switch {
			case (err == io.EOF || se.Msg == "unexpected EOF") && len(stack) > 0:
				top := stack[len(stack)-1]
				return syntaxErrorAt(text, end, len(text), fmt.Sprintf("Premature end of data in tag %s line %d", top.name, top.line))
			case strings.HasPrefix(se.Msg, "element <") && strings.Contains(se.Msg, "> closed by </") && len(stack) > 0:
				closing := strings.TrimSuffix(se.Msg[strings.Index(se.Msg, "</")+2:], ">")
				top := stack[len(stack)-1]
				return syntaxErrorAt(text, se.Line, at, fmt.Sprintf("Opening and ending tag mismatch: %s line %d and %s", top.name, top.line, closing))
			}
			msg, cur := libxml2Wording(se.Msg, text, at)
			return syntaxErrorAt(text, se.Line, cur, msg)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && t.Name.Local != "domain" {
				return virterror.New(virterror.XMLError, virterror.FromDomain,
					"expecting root element of 'domain', not '%s'", t.Name.Local)
			}
			startLine, _ := dec.InputPos()
			stack = append(stack, open{name: qualified(t.Name), line: startLine})
			scalar.Reset()
		case xml.CharData:
			if len(stack) == 0 && len(strings.TrimSpace(string(t))) > 0 {
				lead := len(t) - len(strings.TrimLeft(string(t), " \t\r\n"))
				return syntaxErrorAt(text, line+strings.Count(string(t[:lead]), "\n"), off+lead, "Start tag expected, '<' not found")
			}
			scalar.Write(t)
		case xml.EndElement:
			if len(stack) == 2 && sizeElements[t.Name.Local] {
				v := strings.TrimSpace(scalar.String())
				if _, err := strconv.ParseUint(v, 10, 64); err != nil {
					return virterror.New(virterror.XMLError, virterror.FromDomain,
						"Invalid value '%s' for element or attribute './%s[1]'", v, t.Name.Local)
				}
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// sizeElements are the top-level elements libvirt reads as scaled
// integers, naming the XPath in its error.
var sizeElements = map[string]bool{"memory": true, "currentMemory": true, "maxMemory": true}

// libxml2Wording turns encoding/xml's message into libxml2's where they
// name the same fault, with where libxml2's cursor stands (encoding/xml
// stops at "at").
func libxml2Wording(msg, text string, at int) (string, int) {
	if at > len(text) {
		at = len(text)
	}
	afterOpen := strings.LastIndexByte(text[:at], '<') + 1
	switch {
	case msg == "unescaped < inside quoted string":
		return "Unescaped '<' not allowed in attributes values", at - 1
	case strings.HasPrefix(msg, "unquoted or missing attribute value"):
		return "AttValue: \" or ' expected", at - 1
	case strings.HasPrefix(msg, "expected element name after <"), strings.HasPrefix(msg, "invalid XML name"):
		return "StartTag: invalid element name", afterOpen
	}
	return msg, at
}

// qualified spells an element name as it appeared, prefix included
// (encoding/xml reports the prefix in Space when no namespace is bound).
func qualified(n xml.Name) string {
	if n.Space == "" || strings.Contains(n.Space, "/") || strings.Contains(n.Space, ":") {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// syntaxError shapes a parser error like libxml2's report that libvirt
// passes on: position, message, the offending line and a marker.
func syntaxError(text string, line int, msg string) error {
	lines := strings.Split(text, "\n")
	src := "(null)"
	if line >= 1 && line <= len(lines) {
		src = strings.TrimRight(lines[line-1], "\r")
	}
	return virterror.Raw(virterror.XMLDetail, virterror.FromDomain,
		fmt.Sprintf("%s:%d: %s\n%s\n^", docName, line, msg, src))
}

// syntaxErrorAt is syntaxError with libvirt's context for a parser cursor
// at byte offset cur: the line the cursor is on (after stepping back over
// line ends), "(null)" when that line is empty, and a marker of one dash
// per byte before the cursor (tabs kept) ending in "^".
func syntaxErrorAt(text string, line, cur int, msg string) error {
	if cur > len(text) {
		cur = len(text)
	}
	if cur < 0 {
		cur = 0
	}
	at := func(i int) byte {
		if i >= len(text) {
			return 0
		}
		return text[i]
	}
	eol := func(b byte) bool { return b == '\n' || b == '\r' }
	c := cur
	for c > 0 && eol(at(c)) {
		c--
	}
	for c > 0 && !eol(at(c)) {
		c--
	}
	if eol(at(c)) {
		c++
	}
	col := cur - c
	e := c
	for e < len(text) && !eol(text[e]) {
		e++
	}
	context := text[c:e]
	var marker strings.Builder
	for n := 0; n < col && n < len(context); n++ {
		if context[n] == '\t' {
			marker.WriteByte('\t')
		} else {
			marker.WriteByte('-')
		}
	}
	marker.WriteByte('^')
	if context == "" {
		context = "(null)"
	}
	return virterror.Raw(virterror.XMLDetail, virterror.FromDomain,
		fmt.Sprintf("%s:%d: %s\n%s\n%s", docName, line, msg, context, marker.String()))
}

// Format renders d as libvirt formats a definition. With inactive set the
// live-only parts (id, console ptys, aliases, generated interface names)
// are left out, as with virsh dumpxml --inactive.
func Format(d *libvirtxml.Domain, inactive bool) (string, error) {
	if inactive && HasLive(d) {
		c, err := Clone(d)
		if err != nil {
			return "", err
		}
		StripLive(c)
		d = c
	}
	s, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("format domain %q: %w", d.Name, err)
	}
	return libvirtStyle(s) + "\n", nil
}

// Clone deep-copies a definition, so that a live definition can diverge
// from the persistent one.
func Clone(d *libvirtxml.Domain) (*libvirtxml.Domain, error) {
	s, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("copy domain %q: %w", d.Name, err)
	}
	c := &libvirtxml.Domain{}
	if err := c.Unmarshal(s); err != nil {
		return nil, fmt.Errorf("copy domain %q: %w", d.Name, err)
	}
	return c, nil
}
