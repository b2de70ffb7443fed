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

// checkRoot reports a document whose first element is not <domain> the
// way libvirt does, instead of encoding/xml's wording.
func checkRoot(text string) error {
	dec := xml.NewDecoder(strings.NewReader(text))
	for {
		tok, err := dec.Token()
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return syntaxError(text, se.Line, se.Msg)
			}
			line, _ := dec.InputPos()
			return syntaxError(text, line, "Premature end of data")
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "domain" {
				return virterror.New(virterror.XMLError, virterror.FromDomain,
					"unexpected root element <%s>, expecting <domain>", se.Name.Local)
			}
			return nil
		}
	}
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
