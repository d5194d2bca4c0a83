package fhir

import "github.com/fhirlake/fhirlake/internal/jsonscan"

// envelope is what scanEnvelope finds at the top level of an object.
type envelope struct {
	end          int    // offset after the object
	rt, id       []byte // raw string bodies (escapes not decoded)
	rtEsc, idEsc bool
	rtFound      bool // a resourceType member exists
	rtString     bool // and its value is a string
	idFound      bool
	idString     bool
	firstKeyRT   bool // resourceType is the first member
	rtValueStart int  // offset of the resourceType value
}

// scanEnvelope validates the object starting at d[i] and records its
// resourceType and id members; the first occurrence of each wins.
func scanEnvelope(d []byte, i int) (envelope, bool) {
	var env envelope
	if i >= len(d) || d[i] != '{' {
		return env, false
	}
	i = jsonscan.SkipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		env.end = i + 1
		return env, true
	}
	first := true
	for {
		if i >= len(d) || d[i] != '"' {
			return env, false
		}
		kStart := i + 1
		kEnd, kEsc, ok := jsonscan.String(d, i)
		if !ok {
			return env, false
		}
		key := d[kStart : kEnd-1]
		i = jsonscan.SkipWS(d, kEnd)
		if i >= len(d) || d[i] != ':' {
			return env, false
		}
		i = jsonscan.SkipWS(d, i+1)
		vStart := i
		if i, ok = jsonscan.Skip(d, i, 1); !ok {
			return env, false
		}
		if kEsc {
			key = jsonscan.Unescape(nil, key)
		}
		isString := d[vStart] == '"'
		switch string(key) {
		case "resourceType":
			if !env.rtFound {
				env.rtFound, env.rtString, env.firstKeyRT, env.rtValueStart = true, isString, first, vStart
				if isString {
					_, env.rtEsc, _ = jsonscan.String(d, vStart)
					env.rt = d[vStart+1 : i-1]
				}
			}
		case "id":
			if !env.idFound {
				env.idFound, env.idString = true, isString
				if isString {
					_, env.idEsc, _ = jsonscan.String(d, vStart)
					env.id = d[vStart+1 : i-1]
				}
			}
		}
		first = false
		i = jsonscan.SkipWS(d, i)
		if i >= len(d) {
			return env, false
		}
		if d[i] == '}' {
			env.end = i + 1
			return env, true
		}
		if d[i] != ',' {
			return env, false
		}
		i = jsonscan.SkipWS(d, i+1)
	}
}
