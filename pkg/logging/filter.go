package logging

import (
	"strconv"
	"strings"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// filter overrides the global level for categories matching pattern.
type filter struct {
	level   int
	pattern string // glob with '*' and '?', always "*MATCH*"
}

func (f filter) matches(category string) bool { return glob(f.pattern, category) }

func invalidArg(format string, args ...any) error {
	return virterror.New(virterror.InvalidArg, virterror.FromNone, format, args...)
}

// parseLevel reads the LEVEL of a filter or output: a plain decimal 1..4.
func parseLevel(s string) (int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < LevelDebug || n > LevelError {
		return 0, false
	}
	return n, true
}

// parseFilters reads "LEVEL:MATCH ..." separated by spaces. A leading '+'
// on MATCH (libvirt's former "print a stack trace" marker) is accepted and
// dropped, as libvirt now does. Text after a second ':' is ignored, again
// as in libvirt.
func parseFilters(spec string) ([]filter, error) {
	var out []filter
	for _, item := range strings.Split(spec, " ") {
		if item == "" {
			continue
		}
		fields := strings.Split(item, ":")
		if len(fields) < 2 {
			return nil, invalidArg("Malformed format for filter '%s'", item)
		}
		level, ok := parseLevel(fields[0])
		if !ok {
			return nil, invalidArg("Invalid priority '%s' for filter '%s'", fields[0], item)
		}
		match := strings.TrimPrefix(fields[1], "+")
		if match == "" {
			return nil, invalidArg("Invalid match string '%s'", fields[1])
		}
		// A plain word matches as a substring of the category.
		out = append(out, filter{level: level, pattern: "*" + match + "*"})
	}
	return out, nil
}

// glob matches s against pattern, where '*' matches any run of
// characters and '?' any one character (GLib's g_pattern_match_simple,
// which libvirt uses).
func glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case star >= 0:
			// Let the last '*' swallow one more character and retry.
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
