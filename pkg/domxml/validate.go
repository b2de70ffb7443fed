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

// schemaFile is where libvirt keeps the schema it names in validation
// errors.
const schemaFile = "/usr/share/libvirt/schemas/domain.rng"

// Validate checks a document as VIR_DOMAIN_DEFINE_VALIDATE asks: every
// element must be one the domain schema knows. libvirtxml models the whole
// schema, so an element it does not keep when d (parsed from text, not yet
// normalized) is formatted again is one the schema does not have there.
// Elements without attributes, children or text carry nothing and may be
// dropped by the formatter, so they are not checked; <metadata> holds
// foreign XML and is not checked either.
func Validate(text string, d *libvirtxml.Domain) error {
	in, err := walk(text)
	if err != nil {
		return err
	}
	formatted, err := d.Marshal()
	if err != nil {
		return virterror.From(err, virterror.FromDomain)
	}
	kept, err := walk(formatted)
	if err != nil {
		return err
	}
	out := make(map[string]bool, len(kept))
	for _, e := range kept {
		out[e.path] = true
	}
	for _, e := range in {
		if e.filled && !out[e.path] {
			p := e.path
			return virterror.Raw(virterror.Code(92), virterror.Domain(5), fmt.Sprintf(
				"XML document failed to validate against schema: Unable to validate doc against %s\nElement %s is not allowed here",
				schemaFile, p))
		}
	}
	return nil
}

type elem struct {
	path   string
	filled bool
}

// walk returns the elements of a document in order, with their
// slash-joined paths (e.g. domain/devices/console) and whether they carry
// anything (attributes, child elements or text). The content of
// <metadata> is skipped.
func walk(text string) ([]elem, error) {
	dec := xml.NewDecoder(strings.NewReader(text))
	var out []elem
	var stack []int // indexes into out
	skip := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, virterror.From(err, virterror.FromDomain)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if skip > 0 {
				skip++
				continue
			}
			if len(stack) > 0 {
				out[stack[len(stack)-1]].filled = true
			}
			parent := ""
			if len(stack) > 0 {
				parent = out[stack[len(stack)-1]].path + "/"
			}
			out = append(out, elem{path: parent + t.Name.Local, filled: len(t.Attr) > 0})
			stack = append(stack, len(out)-1)
			if t.Name.Local == "metadata" && len(stack) == 2 {
				skip = 1
			}
		case xml.EndElement:
			if skip > 0 {
				skip--
				if skip > 0 {
					continue
				}
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if skip == 0 && len(stack) > 0 && strings.TrimSpace(string(t)) != "" {
				out[stack[len(stack)-1]].filled = true
			}
		}
	}
}
