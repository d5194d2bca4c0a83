package search

import "sort"

// Compartment returns the search parameters of resource type typ that make a resource a member of
// a compartment of type comp (Patient, Encounter, RelatedPerson, Practitioner or Device), from the
// R4 CompartmentDefinitions: a resource of typ is in the compartment of comp/id when one of them
// references comp/id. It is nil when typ has no members in such compartments. The compartment's
// own resource (comp/id itself) is a member too; "{def}" in the definitions is left out, and so
// is any parameter this package does not index as a reference (none in R4; a test checks).
func Compartment(comp, typ string) []string {
	return reg().compartments[comp][typ]
}

// CompartmentTypes returns the resource types that have members in compartments of type comp,
// sorted; nil when comp is not a compartment type.
func CompartmentTypes(comp string) []string {
	return reg().compartmentTypes[comp]
}

// buildCompartments fills r's compartment tables from the generated definitions.
func (r *registry) buildCompartments() {
	r.compartments = map[string]map[string][]string{}
	r.compartmentTypes = map[string][]string{}
	for comp, members := range compartmentDefs {
		m := map[string][]string{}
		for typ, params := range members {
			var ps []string
			for _, code := range params {
				if p, ok := r.byType[typ][code]; ok && p.Kind == kindReference && p.compiled != nil {
					ps = append(ps, code)
				}
			}
			if len(ps) > 0 {
				sort.Strings(ps)
				m[typ] = ps
				r.compartmentTypes[comp] = append(r.compartmentTypes[comp], typ)
			}
		}
		sort.Strings(r.compartmentTypes[comp])
		r.compartments[comp] = m
	}
}
