package fhirapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Conditional interactions decide on the result of a search (FHIR R4 http.html: conditional
// create, update, patch and delete) and write with a store.WriteCondition naming what they saw,
// so that the store applies the write only if the search still gives that result; when it does
// not (a concurrent write), the interaction decides again, a few times, then answers 409.

// conditionAttempts is how often a conditional interaction decides again after a concurrent
// change of its criteria's result.
const conditionAttempts = 3

// criteria parses the search of a conditional interaction ("identifier=x|y", with or without a
// leading "?" or "Type?"). Handling is strict: a parameter left out would select more resources
// than the client asked for.
func criteria(typ, raw string) (search.Query, error) {
	raw = strings.TrimPrefix(raw, typ)
	raw = strings.TrimPrefix(raw, "?")
	params, err := url.ParseQuery(raw)
	if err != nil {
		return search.Query{}, invalid("the conditional criteria %q cannot be parsed", raw)
	}
	for k := range params {
		if strings.HasPrefix(k, "_") && k != "_id" && k != "_lastUpdated" && k != "_tag" && k != "_profile" &&
			k != "_security" && k != "_source" && !strings.HasPrefix(k, "_has") {
			return search.Query{}, invalid("the conditional criteria may not use the result parameter %s", k)
		}
	}
	if len(params) == 0 {
		return search.Query{}, invalid("conditional interactions need search criteria")
	}
	q, err := search.Parse(typ, params, true)
	if err != nil {
		return q, err
	}
	return q, nil
}

// matches returns up to limit current resources that criteria q selects, in the store's order.
func (h *Handler) matches(c *call, q search.Query, limit int) ([]store.Resource, error) {
	sq := store.SearchQuery{DatastoreID: c.ds, Type: q.Type, Where: q.Where, Count: limit}
	res, err := h.st.ResourceSearch(c.r.Context(), sq)
	if err != nil {
		return nil, err
	}
	return res.Matches, nil
}

// condition is the write condition of criteria q decided on the resources found.
func condition(q search.Query, found []store.Resource) *store.WriteCondition {
	wc := &store.WriteCondition{Type: q.Type, Where: q.Where}
	for _, r := range found {
		wc.Matches = append(wc.Matches, r.ID)
	}
	return wc
}

func errConditionRace(typ string) error {
	return fail("conflict", "the %s resources matching the conditional criteria kept changing while the request ran; retry", typ)
}

func errMultipleMatches(what, typ string) error {
	return preconditionFailed("multiple-matches", "the %s criteria match more than one %s resource", what, typ)
}

// conditionalCreate answers POST [type] with If-None-Exist: no match creates (201), one match
// answers it (200) without writing, more than one is 412.
func (h *Handler) conditionalCreate(c *call, typ string, body []byte, ifNoneExist, idemKey string) (*response, error) {
	q, err := criteria(typ, ifNoneExist)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < conditionAttempts; attempt++ {
		found, err := h.matches(c, q, 2)
		if err != nil {
			return nil, err
		}
		switch len(found) {
		case 0:
		case 1:
			return c.resourceResponse(http.StatusOK, found[0])
		default:
			return nil, errMultipleMatches("If-None-Exist", typ)
		}
		w, err := h.createWrite(typ, body, idemKey)
		if err != nil {
			return nil, err
		}
		w.Condition = condition(q, nil)
		resp, err := h.applyCreate(c, w)
		if errors.Is(err, store.ErrConditionChanged) {
			continue
		}
		return resp, err
	}
	return nil, errConditionRace(typ)
}

// conditionalUpdate answers PUT [type]?criteria: no match creates (with the body's id when it
// has one, else a new id), one match updates it (the body's id, when given, must be its id), more
// than one is 412.
func (h *Handler) conditionalUpdate(c *call, typ, rawQuery string, body []byte, ifMatch string) (*response, error) {
	q, err := criteria(typ, rawQuery)
	if err != nil {
		return nil, err
	}
	bodyID, err := resourceID(body)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < conditionAttempts; attempt++ {
		found, err := h.matches(c, q, 2)
		if err != nil {
			return nil, err
		}
		var w store.ResourceWrite
		switch len(found) {
		case 0:
			if bodyID == "" {
				if w, err = h.createWrite(typ, body, ""); err != nil {
					return nil, err
				}
			} else {
				if w, err = h.updateWrite(typ, bodyID, body, ifMatch); err != nil {
					return nil, err
				}
				w.IfNoneExist = w.IfVersion == 0
			}
		case 1:
			id := found[0].ID
			if bodyID != "" && bodyID != id {
				return nil, invalid("the body's id %q is not the id %q of the resource the criteria match", bodyID, id)
			}
			if bodyID == "" {
				body = withIDBytes(body, typ, id)
			}
			if w, err = h.updateWrite(typ, id, body, ifMatch); err != nil {
				return nil, err
			}
			if w.IfVersion == 0 {
				w.IfVersion = found[0].Version
			}
		default:
			return nil, errMultipleMatches("conditional update", typ)
		}
		w.Condition = condition(q, found)
		var resp *response
		if len(found) == 0 && bodyID == "" {
			resp, err = h.applyCreate(c, w)
		} else {
			resp, err = h.applyUpdate(c, w)
		}
		if errors.Is(err, store.ErrConditionChanged) || (len(found) == 1 && ifMatch == "" && errors.Is(err, store.ErrVersionMismatch)) {
			continue
		}
		return resp, err
	}
	return nil, errConditionRace(typ)
}

// conditionalPatch answers PATCH [type]?criteria: one match is patched, none is 404, more than
// one is 412.
func (h *Handler) conditionalPatch(c *call, typ, rawQuery string, patch []byte, ctype, ifMatch string) (*response, error) {
	if err := checkPatchType(ctype); err != nil {
		return nil, err
	}
	q, err := criteria(typ, rawQuery)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < conditionAttempts; attempt++ {
		found, err := h.matches(c, q, 2)
		if err != nil {
			return nil, err
		}
		switch len(found) {
		case 0:
			return nil, fail("not-found", "the conditional patch criteria match no %s resource", typ)
		case 1:
		default:
			return nil, errMultipleMatches("conditional patch", typ)
		}
		w, release, err := h.patchWrite(found[0], patch, ifMatch)
		if err != nil {
			return nil, err
		}
		w.Condition = condition(q, found)
		resp, err := h.applyUpdate(c, w)
		release()
		if errors.Is(err, store.ErrConditionChanged) || (ifMatch == "" && errors.Is(err, store.ErrVersionMismatch)) {
			continue
		}
		return resp, err
	}
	return nil, errConditionRace(typ)
}

// conditionalDelete answers DELETE [type]?criteria: the matching resources are deleted (204,
// also when none match). More than one match is 412 unless Options.ConditionalDeleteMax allows
// that many, in which case all of them are deleted in one transaction.
func (h *Handler) conditionalDelete(c *call, typ, rawQuery string) (*response, error) {
	if _, err := deleteWrite(typ, ""); err != nil {
		return nil, err
	}
	q, err := criteria(typ, rawQuery)
	if err != nil {
		return nil, err
	}
	max := max(h.opt.ConditionalDeleteMax, 1)
	for attempt := 0; attempt < conditionAttempts; attempt++ {
		found, err := h.matches(c, q, max+1)
		if err != nil {
			return nil, err
		}
		if len(found) > max {
			if max == 1 {
				return nil, errMultipleMatches("conditional delete", typ)
			}
			return nil, preconditionFailed("too-costly", "the conditional delete criteria match more than %d %s resources, the most one request deletes", max, typ)
		}
		if len(found) == 0 {
			return &response{status: http.StatusNoContent}, nil
		}
		writes := make([]store.ResourceWrite, len(found))
		for i, r := range found {
			writes[i] = store.ResourceWrite{Type: typ, ID: r.ID, Delete: true}
		}
		writes[0].Condition = condition(q, found)
		res, err := h.st.ResourceWrite(c.r.Context(), c.ds, writes, h.opt.Now())
		if errors.Is(err, store.ErrConditionChanged) {
			continue
		}
		if err != nil {
			return nil, err
		}
		resp := &response{status: http.StatusNoContent}
		if len(res) == 1 {
			resp.etag = etag(res[0].Version)
		}
		return resp, nil
	}
	return nil, errConditionRace(typ)
}

// resourceID returns the id member of a resource body ("" when it has none).
func resourceID(body []byte) (string, error) {
	v, err := parseObject(body)
	if err != nil {
		return "", err
	}
	return string(v.GetStringBytes("id")), nil
}

// withIDBytes returns body with its id set to id.
func withIDBytes(body []byte, typ, id string) []byte {
	b, err := fhir.SetID(body, id)
	if err != nil {
		return body // prepare reports the problem
	}
	return b
}
