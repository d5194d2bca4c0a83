package fhir

import (
	"fmt"
	"sort"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// The FHIRPath model of R4, built from the generated tables: every type with
// its base type and elements, so that the engine reads resource JSON with
// the element and type of each value.

// primitiveKinds maps the R4 primitive types to the System type their values
// are read as.
var primitiveKinds = map[string]fhirpath.Kind{
	"boolean": fhirpath.KindBoolean, "integer": fhirpath.KindInteger, "unsignedInt": fhirpath.KindInteger,
	"positiveInt": fhirpath.KindInteger, "decimal": fhirpath.KindDecimal, "date": fhirpath.KindDate,
	"dateTime": fhirpath.KindDateTime, "instant": fhirpath.KindDateTime, "time": fhirpath.KindTime,
	"string": fhirpath.KindString, "code": fhirpath.KindString, "id": fhirpath.KindString,
	"markdown": fhirpath.KindString, "uri": fhirpath.KindString, "url": fhirpath.KindString,
	"canonical": fhirpath.KindString, "oid": fhirpath.KindString, "uuid": fhirpath.KindString,
	"base64Binary": fhirpath.KindString, "xhtml": fhirpath.KindString,
}

// buildModel makes the FHIRPath model and links each typeDef and elemType
// to its FHIRPath type.
func buildModel(t *tables) (*fhirpath.Model, map[string]*fhirpath.Type, error) {
	fp := map[string]*fhirpath.Type{}
	var all []*fhirpath.Type
	add := func(ft *fhirpath.Type) {
		fp[ft.Name] = ft
		all = append(all, ft)
	}
	primNames := make([]string, 0, len(t.primBase))
	for name := range t.primBase {
		primNames = append(primNames, name)
	}
	sort.Strings(primNames)
	typeNames := make([]string, 0, len(t.types))
	for name := range t.types {
		typeNames = append(typeNames, name)
	}
	sort.Strings(typeNames)
	for _, name := range primNames {
		k, ok := primitiveKinds[name]
		if !ok {
			return nil, nil, fmt.Errorf("fhir model: primitive %s has no System kind", name)
		}
		add(&fhirpath.Type{Name: name, Kind: k})
	}
	for _, name := range typeNames {
		td := t.types[name]
		ft := &fhirpath.Type{Name: td.name, Resource: td.resource, Backbone: td.backbone}
		td.fp = ft
		add(ft)
	}
	for name, base := range t.primBase {
		fp[name].Base = fp[base]
	}
	for _, td := range t.types {
		if td.base != "" {
			b := fp[td.base]
			if b == nil {
				return nil, nil, fmt.Errorf("fhir model: %s: unknown base %s", td.name, td.base)
			}
			td.fp.Base = b
		}
	}
	str, ext := fp["string"], fp["Extension"]
	if str == nil || ext == nil {
		return nil, nil, fmt.Errorf("fhir model: string or Extension missing")
	}
	// Primitives have the elements of Element: id and extension.
	for _, name := range primNames {
		pt := fp[name]
		pt.Elements = []*fhirpath.Element{
			{Name: "id", Path: name + ".id", Types: []*fhirpath.Type{str}},
			{Name: "extension", Path: name + ".extension", Types: []*fhirpath.Type{ext}, Many: true},
		}
	}
	for _, name := range typeNames {
		td := t.types[name]
		for i := range td.elems {
			e := &td.elems[i]
			fe := &fhirpath.Element{Name: e.name, Path: e.path, Many: e.many, Choice: e.choice}
			for j := range e.types {
				et := &e.types[j]
				var ft *fhirpath.Type
				switch {
				case et.def != nil:
					ft = et.def.fp
				case et.prim == primResource:
					ft = fp["Resource"]
				default:
					ft = fp[et.code]
				}
				if ft == nil {
					return nil, nil, fmt.Errorf("fhir model: %s: unknown type %s", e.path, et.code)
				}
				et.fp = ft
				fe.Types = append(fe.Types, ft)
			}
			e.fp = fe
			td.fp.Elements = append(td.fp.Elements, fe)
		}
	}
	m, err := fhirpath.NewModel(all)
	if err != nil {
		return nil, nil, err
	}
	return m, fp, nil
}
