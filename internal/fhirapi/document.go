package fhirapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/store"
)

// maxDocumentResources bounds the resources of one $document Bundle.
const maxDocumentResources = 1000

// document serves GET|POST [base]/Composition/{id}/$document: a Bundle of type document with the
// Composition first and every resource it references, directly or through the resources it
// brings in (literal references to this data store: "Type/id", "Type/id/_history/v" and absolute
// URLs under [base]; contained "#..." and other servers' URLs are left as they are). A literal
// reference to a resource that does not exist makes the document incomplete: 422. With persist
// (query string, or a Parameters body on POST) the Bundle is also stored as a Bundle resource,
// and the stored version is answered.
func (h *Handler) document(c *call, id string) (*response, error) {
	q := c.r.URL.Query()
	if err := onlyParams(q, "$document", "persist"); err != nil {
		return nil, err
	}
	if c.r.Method == http.MethodPost {
		body, err := h.readBody(c.r)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(string(body)) != "" {
			if err := readParameters(body, q); err != nil {
				return nil, err
			}
		}
		if err := onlyParams(q, "$document", "persist"); err != nil {
			return nil, err
		}
	}
	persist, err := boolParam(q, "persist")
	if err != nil {
		return nil, err
	}
	comp, err := h.st.ResourceGet(c.r.Context(), c.ds, "Composition", id)
	if err != nil {
		return nil, err
	}
	if comp.Deleted {
		return nil, gone("Composition", id)
	}
	entries, err := h.documentResources(c, comp)
	if err != nil {
		return nil, err
	}
	now := h.opt.Now().UTC()
	b := &bundle{ResourceType: "Bundle", ID: newID(), Type: "document"}
	for _, r := range entries {
		if err := b.addResource(c, r, "", subset{}); err != nil {
			return nil, err
		}
	}
	for i := range b.Entry {
		b.Entry[i].Search = nil
	}
	resp, err := b.response(http.StatusOK)
	if err != nil {
		return nil, err
	}
	// identifier and timestamp are members of a document Bundle that searchsets do not have.
	extra := `"identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:` + newID() + `"},"timestamp":"` + now.Format(time.RFC3339) + `",`
	doc := append([]byte(`{"resourceType":"Bundle",`+extra), resp.body[len(`{"resourceType":"Bundle",`):]...)
	if !persist {
		resp.body = doc
		return resp, nil
	}
	w, err := h.createWrite("Bundle", doc, "")
	if err != nil {
		return nil, err
	}
	return h.applyCreate(c, w)
}

// documentResources returns the Composition and the resources it brings in, in the order they
// are first referenced.
func (h *Handler) documentResources(c *call, comp store.Resource) ([]store.Resource, error) {
	out := []store.Resource{comp}
	seen := map[string]bool{"Composition/" + comp.ID: true}
	for i := 0; i < len(out); i++ {
		var p fastjson.Parser
		v, err := p.ParseBytes(out[i].Body)
		if err != nil {
			return nil, err
		}
		var refs []string
		collectReferences(v, &refs)
		for _, ref := range refs {
			typ, id, vid, ok := localReference(c, ref)
			if !ok || seen[typ+"/"+id] {
				continue
			}
			seen[typ+"/"+id] = true
			var r store.Resource
			if vid > 0 {
				r, err = h.st.ResourceVersion(c.r.Context(), c.ds, typ, id, vid)
			} else {
				r, err = h.st.ResourceGet(c.r.Context(), c.ds, typ, id)
			}
			if errors.Is(err, store.ErrNotFound) || err == nil && r.Deleted {
				return nil, fail("processing", "%s/%s references %s, which does not exist: the document would be incomplete", out[i].Type, out[i].ID, ref)
			}
			if err != nil {
				return nil, err
			}
			if len(out) == maxDocumentResources {
				return nil, fail("too-costly", "the document would hold more than %d resources", maxDocumentResources)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// collectReferences appends every Reference.reference string of a resource.
func collectReferences(v *fastjson.Value, refs *[]string) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(k []byte, m *fastjson.Value) {
			if string(k) == "reference" && m.Type() == fastjson.TypeString {
				*refs = append(*refs, string(m.GetStringBytes()))
				return
			}
			if string(k) == "contained" {
				return // contained resources travel inside their container
			}
			collectReferences(m, refs)
		})
	case fastjson.TypeArray:
		for _, e := range v.GetArray() {
			collectReferences(e, refs)
		}
	}
}

// localReference reads a literal reference to a resource of this data store.
func localReference(c *call, ref string) (typ, id string, version int64, ok bool) {
	if strings.HasPrefix(ref, c.base+"/") {
		ref = strings.TrimPrefix(ref, c.base+"/")
	} else if strings.Contains(ref, ":") || strings.HasPrefix(ref, "#") {
		return "", "", 0, false
	}
	segs := strings.Split(ref, "/")
	switch {
	case len(segs) == 2:
	case len(segs) == 4 && segs[2] == "_history":
		v, err := strconv.ParseInt(segs[3], 10, 64)
		if err != nil || v <= 0 {
			return "", "", 0, false
		}
		version = v
	default:
		return "", "", 0, false
	}
	if !fhir.IsResourceType(segs[0]) || !validFHIRID(segs[1]) {
		return "", "", 0, false
	}
	return segs[0], segs[1], version, true
}
