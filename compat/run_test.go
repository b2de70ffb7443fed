package compat

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
)

// mode is how virsh reaches a daemon.
type mode int

const (
	modeRW     mode = iota // read-write socket
	modeRO                 // virsh -r on the read-only socket (client refuses locally)
	modeROSock             // read-only socket without -r (the server refuses)
	modeURI                // the step gives its own -c; {SOCK} is the rw socket
)

func (s *side) virsh(m mode, args ...string) daemontest.Result {
	var pre []string
	switch m {
	case modeRW:
		pre = []string{"-c", "lxc+unix:///system?socket=" + s.rw}
	case modeRO:
		pre = []string{"-r", "-c", "lxc+unix:///system?socket=" + s.ro}
	case modeROSock:
		pre = []string{"-c", "lxc+unix:///system?socket=" + s.ro}
	}
	return daemontest.Run("virsh", append(pre, args...)...)
}

// outcome is one command line's result on one side, normalised.
type outcome struct {
	cmdline string
	code    int
	stdout  string
	stderr  string
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", o.code, o.stdout, o.stderr)
}

// env is what a step's placeholders expand to on one side.
type env struct {
	side  *side
	files map[string]string
	id    string // the running id of domain A, "" when not running
	idC   string // the same for the transient domain C
}

func (e *env) expand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "{A}", nameA)
		a = strings.ReplaceAll(a, "{B}", nameB)
		a = strings.ReplaceAll(a, "{C}", nameC)
		a = strings.ReplaceAll(a, "{ID}", e.id)
		a = strings.ReplaceAll(a, "{SOCK}", e.side.rw)
		a = strings.ReplaceAll(a, "{RO}", e.side.ro)
		for k, p := range e.files {
			a = strings.ReplaceAll(a, "{F:"+k+"}", p)
		}
		out[i] = a
	}
	return out
}

var (
	ptsRe      = regexp.MustCompile(`/dev/pts/[0-9]+`)
	emuRe      = regexp.MustCompile(`<emulator>[^<]*</emulator>`)
	digitsRe   = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)
	cpuTimeRe  = regexp.MustCompile(`(CPU time:\s+)[0-9.]+s`)
	dashesRe   = regexp.MustCompile(`(?m)^-{4,}$`)
	spaceRunRe = regexp.MustCompile(` {2,}`)
	usedMemRe  = regexp.MustCompile(`(Used memory:\s+)[0-9]+ KiB`)
	spacesRe   = regexp.MustCompile(`[ \t]+\n`)
)

// normalise hides what legitimately differs between the two daemons or two
// runs: ids, socket paths, pts numbers, times, the emulator path.
func (e *env) normalise(s string, st step) string {
	s = strings.ReplaceAll(s, e.side.rw, "<SOCK>")
	if dir, ok := e.files["dir"]; ok {
		s = strings.ReplaceAll(s, dir, "<DIR>")
	}
	s = strings.ReplaceAll(s, e.side.ro, "<SOCK-RO>")
	for _, id := range []string{e.id, e.idC} {
		if id != "" {
			s = regexp.MustCompile(`\b`+id+`\b`).ReplaceAllString(s, "<ID>")
		}
	}
	s = ptsRe.ReplaceAllString(s, "/dev/pts/<N>")
	s = emuRe.ReplaceAllString(s, "<emulator>EMULATOR</emulator>")
	s = cpuTimeRe.ReplaceAllString(s, "${1}<T>s")
	// A running container's used memory is the cgroup's charge.
	if e.id != "" || e.idC != "" {
		s = usedMemRe.ReplaceAllString(s, "${1}<N> KiB")
	}
	// The id's width sets the width of list's columns.
	if strings.Contains(s, "<ID>") {
		s = dashesRe.ReplaceAllString(s, "----")
		s = spaceRunRe.ReplaceAllString(s, "  ")
	}
	if st.numbers {
		s = digitsRe.ReplaceAllString(s, "<N>")
	}
	return s
}

// domID is a domain's id on a side, "" when it has none.
func (e *env) domID(name string) string {
	r := e.side.virsh(modeRW, "domid", name)
	id := strings.TrimSpace(r.Stdout)
	if r.Code != 0 || id == "-" || id == "" {
		return ""
	}
	return id
}

// runSteps runs every step on one side and returns the outcomes of the
// compared ones by step key.
func runSteps(t *testing.T, s *side, files map[string]string, steps []step) map[string]outcome {
	e := &env{side: s, files: files}
	res := map[string]outcome{}
	pending := map[string]chan daemontest.Result{}
	for _, st := range steps {
		if st.collect != "" {
			r := <-pending[st.collect]
			res[st.collect] = outcome{cmdline: st.collect, code: r.Code,
				stdout: spacesRe.ReplaceAllString(e.normalise(r.Stdout, st), "\n"), stderr: e.normalise(r.Stderr, st)}
			continue
		}
		e.id, e.idC = e.domID(nameA), e.domID(nameC)
		args := e.expand(st.args)
		if st.wait != "" {
			res[st.key()] = waitState(e, st.wait)
			continue
		}
		if st.oursOnly != "" && s.name == "libvirtd" {
			continue
		}
		if st.sleep > 0 {
			time.Sleep(st.sleep)
			continue
		}
		if st.bg {
			ch := make(chan daemontest.Result, 1)
			pending[st.key()] = ch
			go func() { ch <- s.virsh(st.mode, args...) }()
			continue
		}
		r := s.virsh(st.mode, args...)
		if st.force {
			continue
		}
		o := outcome{
			cmdline: st.cmdline(),
			code:    r.Code,
			stdout:  spacesRe.ReplaceAllString(e.normalise(r.Stdout, st), "\n"),
			stderr:  e.normalise(r.Stderr, st),
		}
		res[st.key()] = o
	}
	return res
}

// waitState polls domstate of A until it reads want; the outcome says
// whether it got there, not how fast (the daemons need different times).
func waitState(e *env, want string) outcome {
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		r := e.side.virsh(modeRW, "domstate", nameA)
		last = strings.TrimSpace(r.Stdout)
		if last == want {
			return outcome{cmdline: "wait", stdout: "reached " + want + "\n"}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return outcome{cmdline: "wait", code: 1, stdout: "still " + last + " after 20 s\n"}
}

var (
	nameA = fmt.Sprintf("cmpa%d", os.Getpid())
	nameB = fmt.Sprintf("cmpb%d", os.Getpid())
	nameC = fmt.Sprintf("cmpc%d", os.Getpid())
)
