package lxc

import (
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

func TestMetadataElements(t *testing.T) {
	const a, b = "http://example.org/a/", "http://example.org/b/"
	def := &libvirtxml.Domain{}
	el, err := namespacedElement(`<cfg id="1"><item>x &amp; y</item><!-- c --></cfg>`, "app", a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<app:cfg xmlns:app="http://example.org/a/" id="1"><app:item>x &amp; y</app:item><!-- c --></app:cfg>`; el != want {
		t.Errorf("namespaced element:\n%s\nwant\n%s", el, want)
	}
	setMetadataElement(def, a, el)
	other, _ := namespacedElement(`<other/>`, "o", b)
	setMetadataElement(def, b, other)
	got, ok := extractElement(def.Metadata.XML, a)
	if !ok || got != `<cfg id="1"><item>x &amp; y</item><!-- c --></cfg>` {
		t.Errorf("extract a = %q %v", got, ok)
	}
	if got, ok := extractElement(def.Metadata.XML, b); !ok || got != `<other/>` {
		t.Errorf("extract b = %q %v", got, ok)
	}
	// Replacing keeps the other namespace; removing the last drops
	// <metadata>.
	repl, _ := namespacedElement(`<cfg id="2"/>`, "app", a)
	setMetadataElement(def, a, repl)
	if strings.Count(def.Metadata.XML, a) != 1 || !strings.Contains(def.Metadata.XML, `id="2"`) || !strings.Contains(def.Metadata.XML, b) {
		t.Errorf("after replace: %s", def.Metadata.XML)
	}
	setMetadataElement(def, a, "")
	setMetadataElement(def, b, "")
	if def.Metadata != nil {
		t.Errorf("metadata left: %+v", def.Metadata)
	}
	// Indentation survives.
	el, _ = namespacedElement("<cfg>\n  <v>1</v>\n</cfg>", "app", a)
	if got := stripNamespace(el, a); got != "<cfg>\n  <v>1</v>\n</cfg>" {
		t.Errorf("indented element round trip: %q", got)
	}
	if _, ok := extractElement(`<x:y xmlns:x="http://other/"/>`, a); ok {
		t.Error("found an element of another namespace")
	}
	// Elements that keep their own prefix stay as they are.
	el, _ = namespacedElement(`<cfg xmlns:q="http://q/"><q:keep/></cfg>`, "app", a)
	if !strings.Contains(el, "<q:keep/>") {
		t.Errorf("foreign prefix lost: %s", el)
	}
}

func TestMetadataElementErrors(t *testing.T) {
	for _, c := range []struct {
		doc, key string
		code     virterror.Code
	}{
		{`<a>`, "k", virterror.XMLError},
		{`<a/><b/>`, "k", virterror.XMLError},
		{`text`, "k", virterror.XMLError},
		{`<a/>`, "1bad", virterror.InternalError},
		{`<a/>`, "", virterror.InternalError},
	} {
		if _, err := namespacedElement(c.doc, c.key, "http://x/"); !virterror.Is(err, c.code) {
			t.Errorf("%q key %q: %v, want code %d", c.doc, c.key, err, c.code)
		}
	}
}
