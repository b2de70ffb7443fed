#!/usr/bin/env python3
"""Print the remote program's dispatch table as Go, from a libvirt
remote_protocol.x: the procedure numbers and names, the public API each one
stands for, whether it changes anything (from its @acl annotations: only
getattr/read/search_* permissions or "none" are allowed on read-only
connections; flag-dependent annotations are left to the handlers) and its
@priority.

Usage: gen-proctable.py remote_protocol.x implemented.txt > table.go
implemented.txt lists "NUM handlerName" for the procedures with a handler.
The output was generated once and is maintained by hand since.
"""
import re
import sys

FIX = [(r"^Nwfilter", "NWFilter"), (r"^Xml$", "XML"), (r"^Xml2$", "XML2"), (r"^Uri$", "URI"),
       (r"^Uuid$", "UUID"), (r"^Id$", "ID"), (r"^Mac$", "MAC"), (r"^Cpu$", "CPU"), (r"^Os$", "OS"),
       (r"^Nmi$", "NMI"), (r"^Pm", "PM"), (r"^Fstrim$", "FSTrim"), (r"^Fsfreeze$", "FSFreeze"),
       (r"^Fsthaw$", "FSThaw"), (r"^Fsinfo$", "FSInfo"), (r"^Iothread$", "IOThread"), (r"^Scsi", "SCSI"),
       (r"^Wwn$", "WWN"), (r"^Dhcp$", "DHCP")]


def api_name(name):
    out = []
    for w in name.split("_"):
        w = w.lower().capitalize()
        for pat, rep in FIX:
            w = re.sub(pat, rep, w)
        out.append(w)
    return "vir" + "".join(out)


def ro_safe(acl):
    parts = acl.split(":")
    if parts[0] == "none":
        return True
    if len(parts) > 2:  # depends on flags: the handler decides
        return True
    perm = parts[1]
    return perm in ("getattr", "read") or perm.startswith("search_")


def main():
    text = open(sys.argv[1]).read()
    impl = {}
    for line in open(sys.argv[2]):
        f = line.split()
        if f:
            impl[int(f[0])] = f[1]
    rows = []
    for m in re.finditer(r"/\*\*(.*?)\*/\s*REMOTE_PROC_(\w+)\s*=\s*(\d+)", text, re.S):
        doc, name, num = m.group(1), m.group(2), int(m.group(3))
        acls = re.findall(r"@acl:\s*(\S+)", doc)
        write = not all(ro_safe(a) for a in acls) if acls else False
        prio = "@priority: high" in doc
        rows.append((num, name, write, prio))
    rows.sort()
    print("// Code generated once by scripts/gen-proctable.py from libvirt 9.0's")
    print("// remote_protocol.x; maintained by hand since. Numbers, names and")
    print("// permissions are libvirt's; handlers are ours.")
    print()
    print("package remote")
    print()
    print('import "github.com/virtlxcd/virtlxcd/pkg/rpc"')
    print()
    print("// procedures is the remote program's dispatch table: every procedure")
    print("// libvirt 9.0 defines, whether a read-only connection may call it, and")
    print("// its handler (none = VIR_ERR_NO_SUPPORT, as libvirt's drivers answer).")
    print("func procedures(h *handlers) []rpc.Procedure {")
    print("\treturn []rpc.Procedure{")
    for num, name, write, prio in rows:
        fields = [f"Num: {num}", f'Name: "{name}"', f'API: "{api_name(name)}"']
        if write:
            fields.append("Write: true")
        if prio:
            fields.append("Priority: true")
        if "SNAPSHOT" in name:
            fields.append("Domain: virterror.FromDomainSnapshot")
        if num in impl:
            fields.append(f"Handler: h.{impl[num]}")
        print("\t\t{" + ", ".join(fields) + "},")
    print("\t}")
    print("}")


main()
