package lxc

import (
	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// parseDef parses and normalizes a document for this driver; validate
// also checks it against the schema (the *_VALIDATE flags).
func (d *Driver) parseDef(text string, validate bool) (*libvirtxml.Domain, [16]byte, error) {
	def, err := domxml.Parse(text)
	if err != nil {
		return nil, [16]byte{}, err
	}
	if validate {
		if err := domxml.Validate(text, def); err != nil {
			return nil, [16]byte{}, err
		}
	}
	if err := domxml.Normalize(def, d.cfg.Exe); err != nil {
		return nil, [16]byte{}, err
	}
	uuid, err := domxml.ParseUUID(def.UUID)
	if err != nil {
		return nil, uuid, virterror.From(err, virterror.FromDomain)
	}
	return def, uuid, nil
}

// conflictLocked applies libvirt's rules for a new definition against the
// existing domains: a name may only be reused with its uuid and a uuid
// only with its name. It returns the existing domain to update, if any.
func (d *Driver) conflictLocked(name string, uuid [16]byte) (*dom, error) {
	if m := d.byUUID[uuid]; m != nil {
		if m.ref.Name != name {
			return nil, virterror.New(virterror.OperationFailed, virterror.FromDomain,
				"domain '%s' is already defined with uuid %s", m.ref.Name, domxml.FormatUUID(uuid))
		}
		return m, nil
	}
	if m := d.byName[name]; m != nil {
		return nil, virterror.New(virterror.OperationFailed, virterror.FromDomain,
			"domain '%s' already exists with uuid %s", name, domxml.FormatUUID(m.ref.UUID))
	}
	return nil, nil
}

// DefineXML adds or replaces a persistent definition. For a running
// domain the new definition applies from its next start.
//
// Writers of definitions do their disk work without d.mu, so lookups and
// lists never wait for an fsync, and defines of different domains write
// their files in parallel; d.mu is taken only to publish the result.
func (d *Driver) DefineXML(text string, flags uint32) (domain.Ref, error) {
	if err := checkFlags(flags, domain.DefineValidate, "lxcDomainDefineXMLFlags"); err != nil {
		return domain.Ref{}, err
	}
	def, uuid, err := d.parseDef(text, flags&domain.DefineValidate != 0)
	if err != nil {
		return domain.Ref{}, err
	}
	out, err := d.marshalConfig(def)
	if err != nil {
		return domain.Ref{}, err
	}
	d.files.Lock()
	// Another define of this domain writes its file: wait for it, so
	// that the two land in order.
	for d.defining[def.Name] || d.definingUUID[uuid] {
		d.filesCond.Wait()
	}
	d.mu.RLock()
	m, err := d.conflictLocked(def.Name, uuid)
	d.mu.RUnlock()
	if err != nil {
		d.files.Unlock()
		return domain.Ref{}, err
	}
	d.defining[def.Name], d.definingUUID[uuid] = true, true
	d.files.Unlock()
	err = d.store.SaveConfig(def.Name, out)
	d.files.Lock()
	defer d.files.Unlock()
	delete(d.defining, def.Name)
	delete(d.definingUUID, uuid)
	d.filesCond.Broadcast()
	if err != nil {
		return domain.Ref{}, virterror.From(err, virterror.FromLXC)
	}
	d.mu.Lock()
	detail := int32(domain.DetailDefinedUpdated)
	if m == nil || m.removed {
		// New, or a transient domain that stopped while the file was
		// written.
		m = &dom{ref: domain.Ref{Name: def.Name, UUID: uuid, ID: -1}, state: domain.Shutoff, reason: domain.ShutoffUnknown}
		d.insertLocked(m)
		detail = domain.DetailDefinedAdded
	} else if m.conf == nil {
		// A running transient domain becomes persistent: libvirt reports
		// this as a new definition.
		detail = domain.DetailDefinedAdded
	}
	m.conf = def
	ref := m.ref
	d.mu.Unlock()
	d.bus.lifecycle(ref, domain.EventDefined, detail)
	return ref, nil
}

func (d *Driver) marshalConfig(def *libvirtxml.Domain) (string, error) {
	s, err := domxml.Format(def, true)
	if err != nil {
		return "", virterror.From(err, virterror.FromLXC)
	}
	return s, nil
}

// Undefine removes the persistent definition. A running domain keeps
// running as a transient one.
func (d *Driver) Undefine(ref domain.Ref, flags uint32) error {
	if err := checkFlags(flags, 0, "lxcDomainUndefineFlags"); err != nil {
		return err
	}
	d.lockFiles()
	defer d.files.Unlock()
	d.mu.RLock()
	m := d.byUUID[ref.UUID]
	persistent := m != nil && m.conf != nil
	d.mu.RUnlock()
	if m == nil {
		return noDomain(ref)
	}
	if !persistent {
		return virterror.New(virterror.OperationInvalid, virterror.FromDomain, "Cannot undefine transient domain")
	}
	if err := d.store.RemoveConfig(m.ref.Name); err != nil {
		return virterror.From(err, virterror.FromLXC)
	}
	d.mu.Lock()
	m.conf = nil
	m.autostart = false
	if !m.active() && !m.starting {
		d.removeLocked(m)
	}
	out := m.ref
	d.mu.Unlock()
	d.bus.lifecycle(out, domain.EventUndefined, domain.DetailUndefinedRemoved)
	return nil
}

// SetAutostart creates or removes the autostart link.
func (d *Driver) SetAutostart(ref domain.Ref, on bool) error {
	d.lockFiles()
	defer d.files.Unlock()
	d.mu.RLock()
	m := d.byUUID[ref.UUID]
	var persistent, cur bool
	if m != nil {
		persistent, cur = m.conf != nil, m.autostart
	}
	d.mu.RUnlock()
	if m == nil {
		return noDomain(ref)
	}
	if !persistent {
		return virterror.New(virterror.OperationInvalid, virterror.FromDomain, "Cannot set autostart for transient domain")
	}
	if cur == on {
		return nil
	}
	if err := d.store.SetAutostart(m.ref.Name, on); err != nil {
		return virterror.From(err, virterror.FromLXC)
	}
	d.mu.Lock()
	m.autostart = on
	d.mu.Unlock()
	return nil
}

// Reload re-reads the persistent definitions (SIGHUP): new files become
// domains (DEFINED events), changed files replace the definitions of the
// domains they name.
func (d *Driver) Reload() error {
	d.loadConfigs(true)
	return nil
}

// loadConfigs reads ConfigDir. Files that do not parse, or whose name
// disagrees with their file name, are logged and skipped.
func (d *Driver) loadConfigs(notify bool) {
	d.lockFiles()
	defer d.files.Unlock()
	entries, errs := d.store.LoadConfigs()
	for _, err := range errs {
		d.log.Warn("cannot load domain config", "err", err)
	}
	for _, e := range entries {
		def, uuid, err := d.parseDef(e.XML, false)
		if err != nil {
			d.log.Warn("cannot load domain config", "name", e.Name, "err", err)
			continue
		}
		if def.Name != e.Name {
			d.log.Warn("domain config file name does not match domain name", "file", e.Name, "name", def.Name)
			continue
		}
		d.mu.Lock()
		m, err := d.conflictLocked(def.Name, uuid)
		if err != nil {
			d.mu.Unlock()
			d.log.Warn("cannot load domain config", "name", e.Name, "err", err)
			continue
		}
		added := m == nil
		if added {
			m = &dom{ref: domain.Ref{Name: def.Name, UUID: uuid, ID: -1}, state: domain.Shutoff, reason: domain.ShutoffUnknown}
			if r, ok := d.stoppedMeanwhile[uuid]; ok {
				m.reason = r
			}
			d.insertLocked(m)
		}
		m.conf = def
		m.autostart = e.Autostart
		ref := m.ref
		d.mu.Unlock()
		if added && notify {
			d.bus.lifecycle(ref, domain.EventDefined, domain.DetailDefinedAdded)
		}
	}
}
