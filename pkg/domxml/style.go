package domxml

import "strings"

// libvirtStyle rewrites encoding/xml output into the shape libvirt prints:
// attributes in single quotes and empty elements as <x/>. Both rewrites
// are safe on encoder output because the encoder escapes every quote and
// angle bracket inside text and attribute values; the raw inner XML of
// <metadata> is passed through untouched.
func libvirtStyle(s string) string {
	const open, close = "<metadata>", "</metadata>"
	if i, j := strings.Index(s, open), strings.LastIndex(s, close); i >= 0 && j > i {
		return restyle(s[:i+len(open)]) + indentMetadata(s[i+len(open):j]) + restyle(s[j:])
	}
	return restyle(s)
}

// libvirtEscapes are encoding/xml's character references and what libvirt
// writes instead (virBufferEscapeString names the quotes and keeps line
// ends and tabs as they are).
var libvirtEscapes = strings.NewReplacer("&#39;", "&apos;", "&#34;", "&quot;", "&#xA;", "\n", "&#x9;", "\t")

// indentMetadata lays out the elements inside <metadata> as libvirt's
// formatter (libxml2 with formatting on) does: each element on its own
// line, two spaces deeper per level, starting at the level of <metadata>'s
// children; elements holding text are left as they are.
func indentMetadata(inner string) string {
	nodes, ok := parseRaw(inner)
	if !ok || len(nodes) == 0 {
		return inner
	}
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString("\n")
		n.write(&b, 2)
	}
	b.WriteString("\n  ")
	return b.String()
}

// compactMetadata drops the whitespace between the elements of metadata,
// as libvirt's parser does (it reads definitions without blank text
// nodes), so that the layout indentMetadata adds does not come back as
// content when a definition is read again.
func compactMetadata(inner string) string {
	nodes, ok := parseRaw(inner)
	if !ok {
		return inner
	}
	var b strings.Builder
	for _, n := range nodes {
		n.writeCompact(&b)
	}
	return b.String()
}

func (n *rawNode) writeCompact(b *strings.Builder) {
	b.WriteString(n.start)
	if n.end == "" {
		return
	}
	if len(n.children) == 0 {
		b.WriteString(n.text)
	}
	for _, c := range n.children {
		c.writeCompact(b)
	}
	b.WriteString(n.end)
}

// rawNode is an element of metadata kept as written: its start and end
// tags verbatim, and either children or text.
type rawNode struct {
	start, end string // end is "" for <x/>
	text       string
	children   []*rawNode
}

func (n *rawNode) write(b *strings.Builder, level int) {
	pad := strings.Repeat("  ", level)
	b.WriteString(pad)
	if n.end != "" && len(n.children) == 0 && n.text == "" {
		// libxml2 writes an empty element as <x/>.
		b.WriteString(strings.TrimSuffix(n.start, ">") + "/>")
		return
	}
	b.WriteString(n.start)
	if n.end == "" {
		return
	}
	if len(n.children) == 0 {
		b.WriteString(n.text)
		b.WriteString(n.end)
		return
	}
	for _, c := range n.children {
		b.WriteString("\n")
		c.write(b, level+1)
	}
	b.WriteString("\n")
	b.WriteString(pad)
	b.WriteString(n.end)
}

// parseRaw splits well-formed element content into element trees; it
// gives up (false) on anything else (text beside elements, comments),
// which then stays as it is.
func parseRaw(s string) ([]*rawNode, bool) {
	var top []*rawNode
	var stack []*rawNode
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			if strings.TrimSpace(s) != "" {
				return nil, false
			}
			break
		}
		text := s[:lt]
		s = s[lt:]
		gt := strings.IndexByte(s, '>')
		if gt < 0 || strings.HasPrefix(s, "<!") || strings.HasPrefix(s, "<?") {
			return nil, false
		}
		tag := s[:gt+1]
		s = s[gt+1:]
		switch {
		case strings.HasPrefix(tag, "</"):
			if len(stack) == 0 {
				return nil, false
			}
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(n.children) == 0 {
				n.text = text
			} else if strings.TrimSpace(text) != "" {
				return nil, false
			}
			n.end = tag
		default:
			if strings.TrimSpace(text) != "" {
				return nil, false
			}
			n := &rawNode{start: tag}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				top = append(top, n)
			}
			if !strings.HasSuffix(tag, "/>") {
				stack = append(stack, n)
			}
		}
	}
	if len(stack) > 0 {
		return nil, false
	}
	return top, true
}

func restyle(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for {
		k := strings.Index(s, "></")
		if k < 0 {
			break
		}
		end := strings.IndexByte(s[k+3:], '>')
		start := strings.LastIndexByte(s[:k], '<')
		if end < 0 || start < 0 || s[start+1] == '/' {
			b.WriteString(s[:k+3])
			s = s[k+3:]
			continue
		}
		name := s[k+3 : k+3+end]
		tag := s[start+1 : k]
		if tag == name || strings.HasPrefix(tag, name+" ") {
			b.WriteString(s[:k])
			b.WriteString("/>")
		} else {
			b.WriteString(s[:k+3+end+1])
		}
		s = s[k+3+end+1:]
	}
	b.WriteString(s)
	return libvirtEscapes.Replace(strings.ReplaceAll(b.String(), `"`, "'"))
}
