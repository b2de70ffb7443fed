package lxc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// SetMetadata changes the title, the description or one namespaced
// element of <metadata>, live and/or in the persistent definition, and
// emits METADATA_CHANGE. metadata nil (or "" for title and description)
// removes it.
func (d *Driver) SetMetadata(ref domain.Ref, typ int32, metadata, key, uri *string, flags uint32) error {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig, "lxcDomainSetMetadata"); err != nil {
		return err
	}
	if err := checkMetadataArgs("virDomainSetMetadata", typ, uri, func() error {
		if typ == domain.MetadataTitle && metadata != nil && strings.Contains(*metadata, "\n") {
			return virterror.New(virterror.InvalidArg, virterror.FromDomain, "metadata title can't contain newlines")
		}
		if typ == domain.MetadataTitle || typ == domain.MetadataDescription {
			if key != nil {
				return nullArg("key", "virDomainSetMetadata", true)
			}
		} else if metadata != nil && key == nil {
			return nullArg("key", "virDomainSetMetadata", false)
		}
		return nil
	}); err != nil {
		return err
	}
	if typ > domain.MetadataElement || typ < 0 {
		return virterror.New(virterror.InvalidArg, virterror.FromDomain, "unknown metadata type '%d'", typ)
	}
	// The element is prepared once, so that a bad document changes
	// nothing.
	var elem string
	if typ == domain.MetadataElement && metadata != nil {
		var err error
		if elem, err = namespacedElement(*metadata, *key, *uri); err != nil {
			return err
		}
	}
	change := func(def *libvirtxml.Domain) {
		text := ""
		if metadata != nil {
			text = *metadata
		}
		switch typ {
		case domain.MetadataDescription:
			def.Description = text
		case domain.MetadataTitle:
			def.Title = text
		case domain.MetadataElement:
			setMetadataElement(def, *uri, elem)
		}
	}
	mod, err := d.beginModify(ref, flags)
	if err != nil {
		return err
	}
	defer mod.end()
	if mod.c != nil {
		d.changeLive(mod, change)
	}
	if mod.conf {
		if err := d.updateConf(mod.m, change); err != nil {
			return err
		}
	}
	d.mu.RLock()
	out := mod.m.ref
	d.mu.RUnlock()
	ev := domain.Event{ID: domain.EventIDMetadata, Dom: out, Detail: typ}
	if uri != nil {
		ev.URI = *uri
	}
	d.bus.emit(ev)
	return nil
}

// GetMetadata returns the title, the description or the element of
// namespace uri (without its namespace) of the live or persistent
// definition.
func (d *Driver) GetMetadata(ref domain.Ref, typ int32, uri *string, flags uint32) (string, error) {
	if flags&domain.AffectLive != 0 && flags&domain.AffectConfig != 0 {
		return "", virterror.New(virterror.InvalidArg, virterror.FromDomain,
			"Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive")
	}
	if err := checkMetadataArgs("virDomainGetMetadata", typ, uri, nil); err != nil {
		return "", err
	}
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig, "virDomainObjGetMetadata"); err != nil {
		return "", err
	}
	if typ > domain.MetadataElement || typ < 0 {
		return "", virterror.New(virterror.InvalidArg, virterror.FromDomain, "unknown metadata type '%d'", typ)
	}
	var out string
	var found bool
	err := d.view(ref, func(m *dom) error {
		live, _, err := pickDef(m, flags)
		if err != nil {
			return err
		}
		def := m.conf
		if live {
			def = m.live
		}
		if def == nil {
			def = m.cur()
		}
		switch typ {
		case domain.MetadataDescription:
			out, found = def.Description, def.Description != ""
		case domain.MetadataTitle:
			out, found = def.Title, def.Title != ""
		case domain.MetadataElement:
			if def.Metadata != nil {
				out, found = extractElement(def.Metadata.XML, *uri)
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if !found {
		return "", virterror.New(virterror.NoDomainMetadata, virterror.FromDomain, "Requested metadata element is not present")
	}
	return out, nil
}

// checkMetadataArgs applies the public API's argument rules: uri only
// (and always) for the element kind, then extra for the setter's.
func checkMetadataArgs(fn string, typ int32, uri *string, extra func() error) error {
	switch typ {
	case domain.MetadataTitle, domain.MetadataDescription:
		if extra != nil {
			if err := extra(); err != nil {
				return err
			}
		}
		if uri != nil {
			return nullArg("uri", fn, true)
		}
	case domain.MetadataElement:
		if uri == nil {
			return nullArg("uri", fn, false)
		}
		if extra != nil {
			return extra()
		}
	}
	return nil
}

func nullArg(arg, fn string, mustBeNull bool) error {
	if mustBeNull {
		return virterror.New(virterror.InvalidArg, virterror.FromDomain, "%s in %s must be NULL", arg, fn)
	}
	return virterror.New(virterror.InvalidArg, virterror.FromDomain, "%s in %s must not be NULL", arg, fn)
}

// namespacedElement checks that text is one XML element and puts it and
// its unqualified descendants into namespace uri under prefix key.
func namespacedElement(text, key, uri string) (string, error) {
	if !validNCName(key) {
		return "", virterror.New(virterror.InternalError, virterror.FromNone, "failed to validate prefix for a new XML namespace")
	}
	dec := xml.NewDecoder(strings.NewReader(text))
	var out elementWriter
	depth, roots := 0, 0
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", virterror.New(virterror.XMLError, virterror.FromNone, "(metadata_xml): %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return "", virterror.New(virterror.XMLError, virterror.FromNone, "(metadata_xml): Extra content at the end of the document")
				}
			}
			name := rawName(t.Name)
			if t.Name.Space == "" {
				name = key + ":" + t.Name.Local
			}
			attrs := t.Attr
			if depth == 0 {
				attrs = append([]xml.Attr{{Name: xml.Name{Space: "xmlns", Local: key}, Value: uri}}, attrs...)
			}
			out.start(name, attrs)
			depth++
		case xml.EndElement:
			name := rawName(t.Name)
			if t.Name.Space == "" {
				name = key + ":" + t.Name.Local
			}
			out.end(name)
			depth--
		case xml.CharData:
			if depth > 0 {
				out.text(t)
			}
		case xml.Comment:
			if depth > 0 {
				out.comment(t)
			}
		}
	}
	if roots == 0 || depth != 0 {
		return "", virterror.New(virterror.XMLError, virterror.FromNone, "(metadata_xml): Start tag expected, '<' not found")
	}
	return out.String(), nil
}

// elementWriter writes raw-named XML tokens; an element with no content
// is closed as <name/>, as libxml2 writes it.
type elementWriter struct {
	bytes.Buffer
	open bool // a start tag waits for its ">"
}

func (w *elementWriter) flush() {
	if w.open {
		w.WriteString(">")
		w.open = false
	}
}

func (w *elementWriter) start(name string, attrs []xml.Attr) {
	w.flush()
	w.WriteString("<" + name)
	for _, a := range attrs {
		w.WriteString(" " + rawName(a.Name) + `="`)
		xml.EscapeText(w, []byte(a.Value))
		w.WriteString(`"`)
	}
	w.open = true
}

func (w *elementWriter) end(name string) {
	if w.open {
		w.WriteString("/>")
		w.open = false
		return
	}
	w.WriteString("</" + name + ">")
}

// textEscaper leaves white space alone (xml.EscapeText would turn line
// breaks of an indented document into character references).
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func (w *elementWriter) text(b []byte) {
	w.flush()
	w.WriteString(textEscaper.Replace(string(b)))
}

func (w *elementWriter) comment(b []byte) {
	w.flush()
	w.WriteString("<!--" + string(b) + "-->")
}

func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func validNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '-' || r == '.')) {
			return false
		}
	}
	return true
}

// topElement is one child element of <metadata>: its namespace and its
// span in the inner XML.
type topElement struct {
	space      string
	start, end int64
}

// topElements lists the child elements of a <metadata> inner XML.
func topElements(inner string) []topElement {
	const open = "<metadata>"
	dec := xml.NewDecoder(strings.NewReader(open + inner + "</metadata>"))
	var out []topElement
	depth := 0
	var cur topElement
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				cur = topElement{space: t.Name.Space, start: before - int64(len(open))}
			}
		case xml.EndElement:
			if depth == 2 {
				cur.end = dec.InputOffset() - int64(len(open))
				out = append(out, cur)
			}
			depth--
		}
	}
}

// setMetadataElement replaces the children of namespace uri by elem ("" =
// remove them).
func setMetadataElement(def *libvirtxml.Domain, uri, elem string) {
	inner := ""
	if def.Metadata != nil {
		inner = def.Metadata.XML
	}
	els := topElements(inner)
	for i := len(els) - 1; i >= 0; i-- {
		if els[i].space == uri {
			inner = inner[:els[i].start] + inner[els[i].end:]
		}
	}
	inner += elem
	if strings.TrimSpace(inner) == "" {
		def.Metadata = nil
		return
	}
	def.Metadata = &libvirtxml.DomainMetadata{XML: inner}
}

// extractElement returns the first child of namespace uri with the
// namespace taken out, as libvirt hands it back.
func extractElement(inner, uri string) (string, bool) {
	for _, e := range topElements(inner) {
		if e.space != uri {
			continue
		}
		return stripNamespace(inner[e.start:e.end], uri), true
	}
	return "", false
}

// stripNamespace removes the prefix bound to uri from the element names
// of text and drops its declaration.
func stripNamespace(text, uri string) string {
	dec := xml.NewDecoder(strings.NewReader(text))
	var out elementWriter
	prefix := ""
	for {
		tok, err := dec.RawToken()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if prefix == "" {
				for _, a := range t.Attr {
					if a.Name.Space == "xmlns" && a.Value == uri {
						prefix = a.Name.Local
					}
				}
			}
			var attrs []xml.Attr
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" && a.Name.Local == prefix && a.Value == uri {
					continue
				}
				attrs = append(attrs, a)
			}
			out.start(unprefixed(t.Name, prefix), attrs)
		case xml.EndElement:
			out.end(unprefixed(t.Name, prefix))
		case xml.CharData:
			out.text(t)
		case xml.Comment:
			out.comment(t)
		}
	}
	return out.String()
}

func unprefixed(n xml.Name, prefix string) string {
	if prefix != "" && n.Space == prefix {
		return n.Local
	}
	return rawName(n)
}
