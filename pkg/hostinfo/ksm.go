package hostinfo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// ksmDir holds the kernel's same-page merging knobs and counters; a
// variable so that tests can point it at a copy.
var ksmDir = "/sys/kernel/mm/ksm"

// ksmParam is one node memory parameter: the typed-parameter name, the
// KSM file behind it, and whether it is a 32-bit knob (settable) or a
// 64-bit counter.
type ksmParam struct {
	field    string
	file     string
	settable bool
}

// ksmParams is libvirt's order of the node memory parameters.
var ksmParams = []ksmParam{
	{"shm_pages_to_scan", "pages_to_scan", true},
	{"shm_sleep_millisecs", "sleep_millisecs", true},
	{"shm_pages_shared", "pages_shared", false},
	{"shm_pages_sharing", "pages_sharing", false},
	{"shm_pages_unshared", "pages_unshared", false},
	{"shm_pages_volatile", "pages_volatile", false},
	{"shm_full_scans", "full_scans", false},
	{"shm_merge_across_nodes", "merge_across_nodes", true},
}

// MemoryParamsCount is how many node memory parameters there are.
var MemoryParamsCount = len(ksmParams)

// MemoryParams reads the first n node memory parameters
// (virNodeGetMemoryParameters). Those the kernel lacks are left out.
func MemoryParams(n int) ([]typedparam.Param, error) {
	var out []typedparam.Param
	for _, p := range ksmParams[:min(n, len(ksmParams))] {
		b, err := os.ReadFile(filepath.Join(ksmDir, p.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, virterror.New(virterror.SystemError, virterror.FromNone, "Failed to read file '%s': %v", filepath.Join(ksmDir, p.file), err)
		}
		s := strings.TrimSpace(string(b))
		if p.settable {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, virterror.New(virterror.InternalError, virterror.FromNone, "failed to parse %s", p.file)
			}
			out = append(out, typedparam.UintParam(p.field, uint(v)))
			continue
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, virterror.New(virterror.InternalError, virterror.FromNone, "failed to parse %s", p.file)
		}
		out = append(out, typedparam.ULLongParam(p.field, v))
	}
	return out, nil
}

// SetMemoryParams writes the settable node memory parameters
// (virNodeSetMemoryParameters): all are checked before any is written.
func SetMemoryParams(params []typedparam.Param) error {
	allowed := map[string]typedparam.ParamType{}
	files := map[string]string{}
	for _, p := range ksmParams {
		if p.settable {
			allowed[p.field] = typedparam.ParamUint
			files[p.field] = p.file
		}
	}
	if err := typedparam.Validate(params, allowed); err != nil {
		return err
	}
	for _, p := range params {
		if _, err := os.Stat(filepath.Join(ksmDir, files[p.Field])); err != nil {
			return virterror.New(virterror.OperationInvalid, virterror.FromNone, "Parameter '%s' is not supported by this kernel", p.Field)
		}
	}
	for _, p := range params {
		path := filepath.Join(ksmDir, files[p.Field])
		// sysfs attributes take the value in one write; no temp file.
		if err := os.WriteFile(path, []byte(strconv.FormatUint(uint64(p.Uint), 10)), 0); err != nil {
			return virterror.New(virterror.SystemError, virterror.FromNone, "failed to set %s: %v", p.Field, unwrapPath(err))
		}
	}
	return nil
}

// unwrapPath drops the path from an *fs.PathError, as libvirt's system
// errors show only the errno text after their own message.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
