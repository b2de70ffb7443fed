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
		return restyle(s[:i+len(open)]) + s[i+len(open):j] + restyle(s[j:])
	}
	return restyle(s)
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
	return strings.ReplaceAll(b.String(), `"`, "'")
}
