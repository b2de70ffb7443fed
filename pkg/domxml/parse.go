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
		return nil, virterror.Raw(virterror.XMLDetail, virterror.FromDomain,
			docName+":1: Document is empty\n\n^")
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
			return nil, syntaxError(text, strings.Count(text, "\n")+1, "Premature end of data")
		}
		return nil, virterror.New(virterror.XMLError, virterror.FromDomain, "%s", err.Error())
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
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if !errors.As(err, &se) && err != io.EOF {
				return syntaxError(text, line, err.Error())
			}
			end, _ := dec.InputPos()
			switch {
			case (err == io.EOF || se.Msg == "unexpected EOF") && len(stack) > 0:
				top := stack[len(stack)-1]
				return virterror.Raw(virterror.XMLDetail, virterror.FromDomain, fmt.Sprintf(
					"%s:%d: Premature end of data in tag %s line %d\n(null)\n^", docName, end, top.name, top.line))
			case strings.HasPrefix(se.Msg, "element <") && strings.Contains(se.Msg, "> closed by </") && len(stack) > 0:
				closing := strings.TrimSuffix(se.Msg[strings.Index(se.Msg, "</")+2:], ">")
				top := stack[len(stack)-1]
				return syntaxError(text, se.Line, fmt.Sprintf("Opening and ending tag mismatch: %s line %d and %s", top.name, top.line, closing))
			}
			return syntaxError(text, se.Line, se.Msg)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && t.Name.Local != "domain" {
				return virterror.New(virterror.XMLError, virterror.FromDomain,
					"unexpected root element <%s>, expecting <domain>", t.Name.Local)
			}
			startLine, _ := dec.InputPos()
			stack = append(stack, open{name: qualified(t.Name), line: startLine})
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
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
