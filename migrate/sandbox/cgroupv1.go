package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// v1Hierarchy is one of the host's cgroup v1 hierarchies.
type v1Hierarchy struct {
	name    string // directory name below /sys/fs/cgroup (cpu, memory, systemd)
	options string // mount options naming the controller (cpu, none,name=systemd)
	dir     string // the sandbox's cgroup in it, on the host
}

// makeV1Cgroups creates a cgroup named name in every v1 hierarchy of the
// host, below this process's own cgroup there (so limits that apply to
// the test keep applying to the sandbox).
func makeV1Cgroups(name string) ([]v1Hierarchy, error) {
	own := map[string]string{} // controller list → path
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && f[1] != "" {
			own[f[1]] = f[2]
		}
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer mi.Close()
	var out []v1Hierarchy
	sc := bufio.NewScanner(mi)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		var ctrl []string
		for _, o := range strings.Split(qf[2], ",") {
			switch {
			case o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent") || o == "clone_children" || o == "noprefix":
			default:
				ctrl = append(ctrl, o)
			}
		}
		key := strings.Join(ctrl, ",")
		opts := key
		if strings.HasPrefix(key, "name=") {
			opts = "none," + key
		}
		parent := filepath.Join(pf[4], own[key])
		h := v1Hierarchy{name: filepath.Base(pf[4]), options: opts, dir: filepath.Join(parent, name)}
		if err := os.Mkdir(h.dir, 0o755); err != nil {
			removeV1Cgroups(out)
			return nil, fmt.Errorf("cgroup %s: %w", h.dir, err)
		}
		// A v1 cpuset cgroup starts with no CPUs and no memory nodes, and
		// takes no process until it has some.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
				os.WriteFile(filepath.Join(h.dir, f), v, 0)
			}
		}
		out = append(out, h)
	}
	return out, sc.Err()
}

func removeV1Cgroups(hs []v1Hierarchy) error {
	var last error
	for _, h := range hs {
		if err := removeCgroup(h.dir); err != nil {
			last = err
		}
	}
	return last
}

// v1Env tells boot.sh which cgroups to join and which hierarchies to mount.
func v1Env(hs []v1Hierarchy) []string {
	var dirs, mounts []string
	for _, h := range hs {
		dirs = append(dirs, h.dir)
		mounts = append(mounts, h.name+":"+h.options)
	}
	return []string{"SANDBOX_CGROUPS_V1=" + strings.Join(dirs, " "), "SANDBOX_V1_MOUNTS=" + strings.Join(mounts, " ")}
}
