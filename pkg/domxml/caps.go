package domxml

import (
	"reflect"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// capSpec reads <features><capabilities policy=…> into the runtime's
// policy and per-capability overrides. The capability elements are the
// pointer fields of libvirtxml's struct; their XML names are libvirt's
// capability names.
func capSpec(c *libvirtxml.DomainFeatureCapabilities) (policy string, on, off []string) {
	if c == nil {
		return "", nil, nil
	}
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		capab, ok := v.Field(i).Interface().(*libvirtxml.DomainFeatureCapability)
		if !ok || capab == nil {
			continue
		}
		// libvirtxml spells one tag "dac_read_Search"; libvirt's name is
		// all lower case.
		name := strings.ToLower(strings.Split(t.Field(i).Tag.Get("xml"), ",")[0])
		switch capab.State {
		case "on":
			on = append(on, name)
		case "off":
			off = append(off, name)
		}
	}
	return c.Policy, on, off
}
