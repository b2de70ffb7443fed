// Package unitfile reads systemd unit files and drop-ins and rewrites the
// unit names in chosen entries, leaving every other byte as it was:
// comments, blank lines, spacing, other entries and line endings survive a
// rewrite untouched, so an administrator's file stays theirs.
//
// The grammar is systemd's: "[Section]" headers, "Key=Value" entries with
// blanks around "=" ignored, "#" and ";" comment lines, and a trailing
// backslash continuing a value on the next line (comment lines inside a
// continuation are skipped, as systemd does).
package unitfile

import (
	"bytes"
	"fmt"
	"slices"
)

// Entry is one logical "Key=Value" line, possibly continued over several
// physical lines.
type Entry struct {
	Section string
	Key     string
	// Start and End delimit the entry's bytes in the file, End included
	// the final line break.
	Start, End int
	// tokens are the value's words with their offsets in the file.
	tokens []token
}

type token struct {
	start, end int
	text       string
}

// Values are the entry's whitespace-separated words.
func (e Entry) Values() []string {
	out := make([]string, len(e.tokens))
	for i, t := range e.tokens {
		out[i] = t.text
	}
	return out
}

// File is a parsed unit file.
type File struct {
	data    []byte
	Entries []Entry
}

// Parse reads a unit file. It never fails on content systemd would merely
// warn about (unknown keys, entries before any section); it fails only on
// bytes that cannot be a unit file (a NUL byte, an unterminated section
// header), which systemd rejects too.
func Parse(data []byte) (*File, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, fmt.Errorf("unit file: NUL byte at offset %d", i)
	}
	f := &File{data: data}
	section := ""
	lineNo := 0
	for pos := 0; pos < len(data); {
		start := pos
		line, next := physicalLine(data, pos)
		lineNo++
		pos = next
		trimmed := bytes.TrimSpace(line)
		switch {
		case len(trimmed) == 0, trimmed[0] == '#', trimmed[0] == ';':
			continue
		case trimmed[0] == '[':
			if trimmed[len(trimmed)-1] != ']' {
				return nil, fmt.Errorf("unit file line %d: invalid section header %q", lineNo, trimmed)
			}
			section = string(trimmed[1 : len(trimmed)-1])
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			// systemd ignores such a line with a warning; so do we.
			continue
		}
		e := Entry{Section: section, Key: string(bytes.TrimSpace(line[:eq])), Start: start}
		valStart := start + eq + 1
		// Follow continuation lines: the value goes on while a physical
		// line ends in a backslash.
		segStart, segEnd := valStart, start+len(line)
		for {
			seg := data[segStart:segEnd]
			cont := len(bytes.TrimRight(seg, " \t")) > 0 && bytes.HasSuffix(bytes.TrimRight(seg, " \t"), []byte{'\\'})
			if cont {
				segEnd = segStart + len(bytes.TrimRight(seg, " \t")) - 1
			}
			e.tokens = append(e.tokens, words(data, segStart, segEnd)...)
			if !cont || pos >= len(data) {
				break
			}
			// Skip comment lines inside the continuation.
			for pos < len(data) {
				l, n := physicalLine(data, pos)
				if t := bytes.TrimSpace(l); len(t) > 0 && (t[0] == '#' || t[0] == ';') {
					lineNo++
					pos = n
					continue
				}
				break
			}
			if pos >= len(data) {
				break
			}
			l, n := physicalLine(data, pos)
			lineNo++
			segStart, segEnd = pos, pos+len(l)
			pos = n
		}
		e.End = pos
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

// physicalLine returns the line at pos without its line break, and the
// position after the break.
func physicalLine(data []byte, pos int) ([]byte, int) {
	i := bytes.IndexByte(data[pos:], '\n')
	if i < 0 {
		return data[pos:], len(data)
	}
	line := data[pos : pos+i]
	return bytes.TrimSuffix(line, []byte{'\r'}), pos + i + 1
}

func words(data []byte, start, end int) []token {
	var out []token
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }
	for i := start; i < end; {
		for i < end && isSpace(data[i]) {
			i++
		}
		j := i
		for j < end && !isSpace(data[j]) {
			j++
		}
		if j > i {
			out = append(out, token{i, j, string(data[i:j])})
		}
		i = j
	}
	return out
}

// Values returns every word assigned to key in section, in file order.
func (f *File) Values(section, key string) []string {
	var out []string
	for _, e := range f.Entries {
		if e.Section == section && e.Key == key {
			out = append(out, e.Values()...)
		}
	}
	return out
}

// Bytes is the file's content.
func (f *File) Bytes() []byte { return f.data }

// Rename describes one rewrite: in the given section and keys, every word in
// From becomes To (or is removed when To is empty; an entry left without
// words is then removed whole). A word whose entry already names To is dropped instead,
// so that an entry never lists a unit twice (the entry keeps To, so it never
// ends up empty).
type Rename struct {
	Section string
	Keys    []string
	From    []string
	To      string
}

// Rewrite applies r and returns the new content and whether anything
// changed. Applying the same Rename to its own output changes nothing.
func Rewrite(data []byte, r Rename) ([]byte, bool, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, false, err
	}
	out, changed := f.rewrite(r, true)
	if r.To == "" {
		if changed && !f.rewritten(out, r) {
			return nil, false, fmt.Errorf("cannot remove %v from %v here without changing other entries", r.From, r.Keys)
		}
		return out, changed, nil
	}
	// Dropping a word can change how the lines around it read (a comment
	// marker or a backslash that ends up first or last on its line). When
	// the result does not read as the intended rewrite, rename every word
	// in place instead: a duplicate is harmless, a changed entry is not.
	if changed && !f.rewritten(out, r) {
		out, changed = f.rewrite(r, false)
	}
	return out, changed, nil
}

// rewritten tells whether out holds f's entries with r applied and nothing
// else changed.
func (f *File) rewritten(out []byte, r Rename) bool {
	g, err := Parse(out)
	if err != nil {
		return false
	}
	i := 0
	for _, e := range f.Entries {
		want := e.Values()
		if e.Section == r.Section && slices.Contains(r.Keys, e.Key) {
			want = r.apply(want)
			if len(want) == 0 && len(e.tokens) > 0 {
				continue // removed whole
			}
		}
		if i >= len(g.Entries) {
			return false
		}
		h := g.Entries[i]
		i++
		if h.Section != e.Section || h.Key != e.Key || !slices.Equal(h.Values(), want) {
			return false
		}
	}
	return i == len(g.Entries)
}

// apply is the rewrite on an entry's words.
func (r Rename) apply(words []string) []string {
	hasTo := slices.Contains(words, r.To)
	var out []string
	for _, w := range words {
		switch {
		case !slices.Contains(r.From, w):
			out = append(out, w)
		case !hasTo && r.To != "":
			out = append(out, r.To)
			hasTo = true
		}
	}
	return out
}

func (f *File) rewrite(r Rename, drop bool) ([]byte, bool) {
	data := f.data
	var edits []edit
	for _, e := range f.Entries {
		if e.Section != r.Section || !slices.Contains(r.Keys, e.Key) {
			continue
		}
		if r.To == "" {
			n := 0
			for _, t := range e.tokens {
				if slices.Contains(r.From, t.text) {
					n++
				}
			}
			if n > 0 && n == len(e.tokens) {
				edits = append(edits, edit{e.Start, e.End, ""})
				continue
			}
		}
		hasTo := r.To == "" || slices.ContainsFunc(e.tokens, func(t token) bool { return t.text == r.To })
		for _, t := range e.tokens {
			switch {
			case !slices.Contains(r.From, t.text):
			case hasTo && drop:
				edits = append(edits, dropWord(data, t))
			default:
				edits = append(edits, edit{t.start, t.end, r.To})
				hasTo = true
			}
		}
	}
	if len(edits) == 0 {
		return data, false
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	pos := 0
	for _, ed := range edits {
		// Two dropped neighbours may both claim the blank between them.
		ed.start = max(ed.start, pos)
		out.Write(data[pos:ed.start])
		out.WriteString(ed.repl)
		pos = ed.end
	}
	out.Write(data[pos:])
	return out.Bytes(), true
}

// edit replaces data[start:end] with repl.
type edit struct {
	start, end int
	repl       string
}

// dropWord removes a word and the blanks before it (or after it, when it
// is the first word on its line).
func dropWord(data []byte, t token) edit {
	start, end := t.start, t.end
	for start > 0 && (data[start-1] == ' ' || data[start-1] == '\t') {
		start--
	}
	if start == 0 || data[start-1] == '=' || data[start-1] == '\n' {
		start = t.start
		for end < len(data) && (data[end] == ' ' || data[end] == '\t') {
			end++
		}
	}
	return edit{start, end, ""}
}
