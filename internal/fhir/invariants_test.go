package fhir

import (
	"strings"
	"testing"
)

// invariantCases are hand-written pairs for constraints of the R4
// definitions: bad breaks the constraint (key) and nothing else, good is
// the same resource put right. where, when set, is the location the issue
// must carry.
var invariantCases = []struct {
	key, bad, good, where string
}{
	// Data types.
	{"per-1", // Period: start <= end
		`{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-02-01","end":"2020-01-01"}}`,
		`{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-01-01","end":"2020-02-01"}}`,
		"Encounter.period"},
	{"per-1", // a start and an end that could be in either order (a dateTime within the end's month) break it, as the HL7 validator reads it
		`{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-12-15T10:00:00Z","end":"2020-12"}}`,
		`{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-11-30T10:00:00Z","end":"2020-12"}}`,
		""},
	{"rng-2", // Range: low <= high
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueRange":{"low":{"value":10,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"},"high":{"value":5,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueRange":{"low":{"value":5,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"},"high":{"value":1,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}}}`,
		"Observation.valueRange"},
	{"qty-3", // Quantity: a code needs a system
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg"}}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg","system":"http://unitsofmeasure.org"}}`,
		"Observation.valueQuantity"},
	{"sqty-1", // SimpleQuantity: no comparator
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueRange":{"low":{"value":1,"comparator":"<"}}}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueRange":{"low":{"value":1}}}`,
		"Observation.valueRange.low"},
	{"age-1", // Age: UCUM, positive
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"onsetAge":{"value":-3,"system":"http://unitsofmeasure.org","code":"a"}}`,
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"onsetAge":{"value":3,"system":"http://unitsofmeasure.org","code":"a"}}`,
		"Condition.onsetAge"},
	{"drt-1", // Duration: a code needs UCUM and a value
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dispenseRequest":{"expectedSupplyDuration":{"code":"d","system":"http://unitsofmeasure.org"}}}`,
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dispenseRequest":{"expectedSupplyDuration":{"value":30,"code":"d","system":"http://unitsofmeasure.org"}}}`,
		""},
	{"rat-1", // Ratio: numerator and denominator together
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueRatio":{"numerator":{"value":1}}}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueRatio":{"numerator":{"value":1},"denominator":{"value":2}}}`,
		"Observation.valueRatio"},
	{"att-1", // Attachment: data needs a contentType
		`{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"data":"aGk="}}]}`,
		`{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"data":"aGk=","contentType":"text/plain"}}]}`,
		"DocumentReference.content[0].attachment"},
	{"cpt-2", // ContactPoint: a value needs a system
		`{"resourceType":"Patient","id":"p","telecom":[{"value":"555-1234"}]}`,
		`{"resourceType":"Patient","id":"p","telecom":[{"system":"phone","value":"555-1234"}]}`,
		"Patient.telecom[0]"},
	{"ref-1", // Reference: a local reference needs its contained resource
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"}}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"}]}`,
		"Observation.subject"},
	{"ext-1", // Extension: a value or extensions, not both
		`{"resourceType":"Patient","id":"p","extension":[{"url":"http://example.org/x","valueString":"a","extension":[{"url":"y","valueString":"b"}]}]}`,
		`{"resourceType":"Patient","id":"p","extension":[{"url":"http://example.org/x","extension":[{"url":"y","valueString":"b"}]}]}`,
		"Patient.extension[0]"},
	{"ele-1", // Element: a value or children (an id alone is not enough)
		`{"resourceType":"Patient","id":"p","maritalStatus":{"id":"m"}}`,
		`{"resourceType":"Patient","id":"p","maritalStatus":{"id":"m","text":"married"}}`,
		"Patient.maritalStatus"},
	{"ele-1", // an empty object (found by the walker, with the same key)
		`{"resourceType":"Patient","id":"p","maritalStatus":{}}`,
		`{"resourceType":"Patient","id":"p","maritalStatus":{"text":"married"}}`,
		"Patient.maritalStatus"},
	{"ele-1", // a primitive's _name with only an id
		`{"resourceType":"Patient","id":"p","_birthDate":{"id":"b"}}`,
		`{"resourceType":"Patient","id":"p","birthDate":"1970","_birthDate":{"id":"b"}}`,
		"Patient.birthDate"},
	{"tim-1", // Timing.repeat: duration needs durationUnit
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"duration":2}}}]}`,
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"duration":2,"durationUnit":"h"}}}]}`,
		"MedicationRequest.dosageInstruction[0].timing.repeat"},
	{"tim-2", // Timing.repeat: period needs periodUnit
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"frequency":1,"period":1}}}]}`,
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}}}]}`,
		""},
	{"tim-6", // Timing.repeat: periodMax needs period
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"periodMax":2,"periodUnit":"d"}}}]}`,
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"period":1,"periodMax":2,"periodUnit":"d"}}}]}`,
		""},
	{"tim-9", // Timing.repeat: an offset needs a when that is not C, CM, CD or CV
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"when":["C"],"offset":30}}}]}`,
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"when":["ACM"],"offset":30}}}]}`,
		""},
	{"tim-10", // Timing.repeat: timeOfDay or when, not both
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"when":["MORN"],"timeOfDay":["08:00:00"]}}}]}`,
		`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"dosageInstruction":[{"timing":{"repeat":{"timeOfDay":["08:00:00"]}}}]}`,
		""},
	{"txt-1", // Narrative: no scripts
		`{"resourceType":"Patient","id":"p","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script>x</div>"}}`,
		`{"resourceType":"Patient","id":"p","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><b>x</b></div>"}}`,
		"Patient.text.div"},
	{"txt-2", // Narrative: some content
		`{"resourceType":"Patient","id":"p","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"> <p/> </div>"}}`,
		`{"resourceType":"Patient","id":"p","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div>"}}`,
		"Patient.text.div"},

	// DomainResource.
	{"dom-2", // a contained resource contains no resources
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","managingOrganization":{"reference":"#q"},"contained":[{"resourceType":"Organization","id":"q","name":"x"}]}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"}]}`,
		"Observation"},
	{"dom-3", // a contained resource is referenced
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p"}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"}]}`,
		"Observation"},
	{"dom-3", // a canonical reference counts
		`{"resourceType":"Questionnaire","id":"q","status":"draft","contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}],"item":[{"linkId":"1","type":"choice"}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}],"item":[{"linkId":"1","type":"choice","answerValueSet":"#vs"}]}`,
		""},
	{"dom-4", // a contained resource has no meta.versionId
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"versionId":"1"}}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"source":"x"}}]}`,
		""},
	{"dom-5", // a contained resource has no security label
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"security":[{"code":"R"}]}}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"R"}]}}]}`,
		""},
	{"dom-6", // narrative (a warning)
		`{"resourceType":"Patient","id":"p"}`,
		`{"resourceType":"Patient","id":"p","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`,
		"Patient"},

	// Resources.
	{"obs-3", // referenceRange: low, high or text
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"referenceRange":[{"low":{"value":1}},{"appliesTo":[{"text":"adults"}]}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"referenceRange":[{"low":{"value":1}},{"text":"normal","appliesTo":[{"text":"adults"}]}]}`,
		"Observation.referenceRange[1]"},
	{"obs-6", // dataAbsentReason only without a value
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueString":"a","dataAbsentReason":{"text":"unknown"}}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"dataAbsentReason":{"text":"unknown"}}`,
		"Observation"},
	{"obs-7", // a value code is not repeated by a component code
		`{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueString":"a","component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueString":"b"}]}`,
		`{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueString":"a","component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueString":"b"}]}`,
		""},
	{"bdl-1", // total only for searchset and history
		`{"resourceType":"Bundle","id":"b","type":"collection","total":1}`,
		`{"resourceType":"Bundle","id":"b","type":"searchset","total":1}`,
		"Bundle"},
	{"bdl-2", // entry.search only in a searchset
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"},"search":{"mode":"match"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"p"},"search":{"mode":"match"}}]}`,
		""},
	{"bdl-3", // entry.request in batches and transactions only
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"},"request":{"method":"POST","url":"Patient"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"p"},"request":{"method":"POST","url":"Patient"}}]}`,
		""},
	{"bdl-4", // entry.response in responses only
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"},"response":{"status":"201"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"transaction-response","entry":[{"resource":{"resourceType":"Patient","id":"p"},"response":{"status":"201"}}]}`,
		""},
	{"bdl-5", // an entry has a resource, request or response
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}]}`,
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Patient","id":"p"}}]}`,
		"Bundle.entry[0]"},
	{"bdl-7", // fullUrl unique (with versionId)
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"http://x/Patient/p","resource":{"resourceType":"Patient","id":"p"}},{"fullUrl":"http://x/Patient/p","resource":{"resourceType":"Patient","id":"p"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"http://x/Patient/p","resource":{"resourceType":"Patient","id":"p"}},{"fullUrl":"http://x/Patient/q","resource":{"resourceType":"Patient","id":"q"}}]}`,
		""},
	{"bdl-8", // fullUrl has no version
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"http://x/Patient/p/_history/1","resource":{"resourceType":"Patient","id":"p"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"collection","entry":[{"fullUrl":"http://x/Patient/p","resource":{"resourceType":"Patient","id":"p"}}]}`,
		"Bundle.entry[0]"},
	{"bdl-9", // a document has an identifier
		`{"resourceType":"Bundle","id":"b","type":"document","timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},"timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t"}}]}`,
		""},
	{"bdl-10", // a document has a timestamp
		`{"resourceType":"Bundle","id":"b","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},"entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},"timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t"}}]}`,
		""},
	{"bdl-11", // a document starts with a Composition
		`{"resourceType":"Bundle","id":"b","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},"timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Patient","id":"p"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},"timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t"}}]}`,
		""},
	{"bdl-12", // a message starts with a MessageHeader
		`{"resourceType":"Bundle","id":"b","type":"message","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"Patient","id":"p"}}]}`,
		`{"resourceType":"Bundle","id":"b","type":"message","entry":[{"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520","resource":{"resourceType":"MessageHeader","id":"m","eventCoding":{"system":"http://example.org","code":"x"},"source":{"endpoint":"http://example.org"}}}]}`,
		""},
	{"que-1", // a group item has items
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"group"}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string"}]}]}`,
		"Questionnaire.item[0]"},
	{"que-2", // linkIds are unique
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"string"},{"linkId":"1","type":"string"}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"string"},{"linkId":"2","type":"string"}]}`,
		"Questionnaire"},
	{"que-3", // display items have no code
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"display","text":"hi","code":[{"code":"x"}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"display","text":"hi"}]}`,
		""},
	{"que-4", // answerOption or answerValueSet, not both
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"choice","answerValueSet":"http://example.org/vs","answerOption":[{"valueString":"a"}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"choice","answerOption":[{"valueString":"a"}]}]}`,
		""},
	{"que-6", // display items are not required
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"display","text":"hi","required":true}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"display","text":"hi"}]}`,
		""},
	{"que-7", // an 'exists' condition has a boolean answer (corrected expression)
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableWhen":[{"question":"1","operator":"exists","answerString":"x"}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableWhen":[{"question":"1","operator":"exists","answerBoolean":true}]}]}`,
		"Questionnaire.item[1].enableWhen[0]"},
	{"que-8", // no initial values for groups
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"group","initial":[{"valueString":"a"}],"item":[{"linkId":"1.1","type":"string"}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string","initial":[{"valueString":"a"}]}]}]}`,
		""},
	{"que-9", // display items are not read-only
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"display","text":"hi","readOnly":true}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"display","text":"hi"}]}`,
		""},
	{"que-10", // maxLength only on simple question types
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"date","maxLength":10}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"string","maxLength":10}]}`,
		""},
	{"que-11", // answerOption or initial, not both
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"choice","answerOption":[{"valueString":"a"}],"initial":[{"valueString":"a"}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"choice","answerOption":[{"valueString":"a","initialSelected":true}]}]}`,
		""},
	{"que-12", // two conditions need enableBehavior (corrected: the published expression waits for three)
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableWhen":[{"question":"1","operator":"=","answerBoolean":true},{"question":"1","operator":"exists","answerBoolean":true}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"boolean"},{"linkId":"2","type":"string","enableBehavior":"all","enableWhen":[{"question":"1","operator":"=","answerBoolean":true},{"question":"1","operator":"exists","answerBoolean":true}]}]}`,
		"Questionnaire.item[1]"},
	{"que-13", // one initial value unless repeating
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"string","initial":[{"valueString":"a"},{"valueString":"b"}]}]}`,
		`{"resourceType":"Questionnaire","id":"q","status":"draft","item":[{"linkId":"1","type":"string","repeats":true,"initial":[{"valueString":"a"},{"valueString":"b"}]}]}`,
		""},
	{"ras-2", // a probability is at most 100
		`{"resourceType":"RiskAssessment","id":"r","status":"final","subject":{"reference":"Patient/p"},"prediction":[{"probabilityDecimal":120}]}`,
		`{"resourceType":"RiskAssessment","id":"r","status":"final","subject":{"reference":"Patient/p"},"prediction":[{"probabilityDecimal":12}]}`,
		"RiskAssessment.prediction[0]"},
	{"app-2", // start and end together
		`{"resourceType":"Appointment","id":"a","status":"proposed","start":"2020-01-01T10:00:00Z","participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
		`{"resourceType":"Appointment","id":"a","status":"proposed","start":"2020-01-01T10:00:00Z","end":"2020-01-01T11:00:00Z","participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
		""},
	{"app-3", // only proposed, cancelled or waitlisted appointments lack times
		`{"resourceType":"Appointment","id":"a","status":"booked","participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
		`{"resourceType":"Appointment","id":"a","status":"proposed","participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
		""},
	{"app-4", // a cancelation reason only when cancelled or no-show
		`{"resourceType":"Appointment","id":"a","status":"proposed","cancelationReason":{"text":"x"},"participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
		`{"resourceType":"Appointment","id":"a","status":"cancelled","cancelationReason":{"text":"x"},"participant":[{"status":"accepted","actor":{"display":"x"}}]}`,
		""},
	{"app-1", // a participant has a type or an actor
		`{"resourceType":"Appointment","id":"a","status":"proposed","participant":[{"status":"accepted"}]}`,
		`{"resourceType":"Appointment","id":"a","status":"proposed","participant":[{"status":"accepted","type":[{"text":"x"}]}]}`,
		"Appointment.participant[0]"},
	{"ait-2", // entered-in-error has no clinicalStatus
		`{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"entered-in-error"}]}}`,
		`{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"entered-in-error"}]}}`,
		""},
	{"ait-1", // otherwise a clinicalStatus
		`{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"confirmed"}]}}`,
		`{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"confirmed"}]}}`,
		""},
	{"con-4", // abated conditions are resolved, in remission or inactive
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"abatementDateTime":"2020","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]}}`,
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"abatementDateTime":"2020","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"resolved"}]}}`,
		""},
	{"con-5", // entered-in-error has no clinicalStatus
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"entered-in-error"}]}}`,
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"entered-in-error"}]}}`,
		""},
	{"con-3", // problem-list items have a clinicalStatus (a warning; corrected expression)
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}]}]}`,
		`{"resourceType":"Condition","id":"c","subject":{"reference":"Patient/p"},"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}]}]}`,
		""},
	{"cpl-3", // an activity has a detail or a reference, not both
		`{"resourceType":"CarePlan","id":"c","status":"active","intent":"plan","subject":{"reference":"Patient/p"},"activity":[{"reference":{"reference":"ServiceRequest/s"},"detail":{"status":"scheduled"}}]}`,
		`{"resourceType":"CarePlan","id":"c","status":"active","intent":"plan","subject":{"reference":"Patient/p"},"activity":[{"detail":{"status":"scheduled"}}]}`,
		"CarePlan.activity[0]"},
	{"gol-1", // a target detail needs a measure
		`{"resourceType":"Goal","id":"g","lifecycleStatus":"active","description":{"text":"x"},"subject":{"reference":"Patient/p"},"target":[{"detailString":"less"}]}`,
		`{"resourceType":"Goal","id":"g","lifecycleStatus":"active","description":{"text":"x"},"subject":{"reference":"Patient/p"},"target":[{"measure":{"text":"weight"},"detailString":"less"}]}`,
		"Goal.target[0]"},
	{"lst-1", // emptyReason only when empty
		`{"resourceType":"List","id":"l","status":"current","mode":"working","emptyReason":{"text":"x"},"entry":[{"item":{"reference":"Patient/p"}}]}`,
		`{"resourceType":"List","id":"l","status":"current","mode":"working","entry":[{"item":{"reference":"Patient/p"}}]}`,
		""},
	{"lst-2", // deleted entries only in change lists
		`{"resourceType":"List","id":"l","status":"current","mode":"working","entry":[{"deleted":true,"item":{"reference":"Patient/p"}}]}`,
		`{"resourceType":"List","id":"l","status":"current","mode":"changes","entry":[{"deleted":true,"item":{"reference":"Patient/p"}}]}`,
		""},
	{"lst-3", // entry dates only in working lists
		`{"resourceType":"List","id":"l","status":"current","mode":"snapshot","entry":[{"date":"2020","item":{"reference":"Patient/p"}}]}`,
		`{"resourceType":"List","id":"l","status":"current","mode":"working","entry":[{"date":"2020","item":{"reference":"Patient/p"}}]}`,
		""},
	{"mdd-1", // handed over after prepared
		`{"resourceType":"MedicationDispense","id":"m","status":"completed","medicationCodeableConcept":{"text":"x"},"whenPrepared":"2020-02-01","whenHandedOver":"2020-01-01"}`,
		`{"resourceType":"MedicationDispense","id":"m","status":"completed","medicationCodeableConcept":{"text":"x"},"whenPrepared":"2020-01-01","whenHandedOver":"2020-02-01"}`,
		"MedicationDispense"},
	{"inv-1", // Task: last modified after authored
		`{"resourceType":"Task","id":"t","status":"draft","intent":"order","authoredOn":"2020-02-01","lastModified":"2020-01-01"}`,
		`{"resourceType":"Task","id":"t","status":"draft","intent":"order","authoredOn":"2020-01-01","lastModified":"2020-02-01"}`,
		"Task"},
	{"org-1", // a name or an identifier
		`{"resourceType":"Organization","id":"o","active":true}`,
		`{"resourceType":"Organization","id":"o","name":"x"}`,
		"Organization"},
	{"org-2", // no home address
		`{"resourceType":"Organization","id":"o","name":"x","address":[{"use":"home","city":"c"}]}`,
		`{"resourceType":"Organization","id":"o","name":"x","address":[{"use":"work","city":"c"}]}`,
		"Organization.address[0]"},
	{"org-3", // no home telecom
		`{"resourceType":"Organization","id":"o","name":"x","telecom":[{"system":"phone","value":"1","use":"home"}]}`,
		`{"resourceType":"Organization","id":"o","name":"x","telecom":[{"system":"phone","value":"1","use":"work"}]}`,
		"Organization.telecom[0]"},
	{"pat-1", // a contact has some detail
		`{"resourceType":"Patient","id":"p","contact":[{"gender":"male"}]}`,
		`{"resourceType":"Patient","id":"p","contact":[{"gender":"male","name":{"family":"x"}}]}`,
		"Patient.contact[0]"},
	{"prr-1", // orderDetail needs a code
		`{"resourceType":"ServiceRequest","id":"s","status":"active","intent":"order","subject":{"reference":"Patient/p"},"orderDetail":[{"text":"x"}]}`,
		`{"resourceType":"ServiceRequest","id":"s","status":"active","intent":"order","subject":{"reference":"Patient/p"},"code":{"text":"c"},"orderDetail":[{"text":"x"}]}`,
		""},
	{"grp-1", // members only in actual groups
		`{"resourceType":"Group","id":"g","type":"person","actual":false,"member":[{"entity":{"reference":"Patient/p"}}]}`,
		`{"resourceType":"Group","id":"g","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/p"}}]}`,
		""},
	{"lnk-1", // at least two items
		`{"resourceType":"Linkage","id":"l","item":[{"type":"source","resource":{"reference":"Patient/p"}}]}`,
		`{"resourceType":"Linkage","id":"l","item":[{"type":"source","resource":{"reference":"Patient/p"}},{"type":"alternate","resource":{"reference":"Patient/q"}}]}`,
		"Linkage"},
	{"mad-1", // a dosage has a dose or a rate
		`{"resourceType":"MedicationAdministration","id":"m","status":"completed","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"effectiveDateTime":"2020","dosage":{"text":"x"}}`,
		`{"resourceType":"MedicationAdministration","id":"m","status":"completed","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p"},"effectiveDateTime":"2020","dosage":{"text":"x","dose":{"value":1}}}`,
		""},
	{"ppc-1", // a policy or a policy rule
		`{"resourceType":"Consent","id":"c","status":"active","scope":{"text":"x"},"category":[{"text":"x"}]}`,
		`{"resourceType":"Consent","id":"c","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"policyRule":{"text":"x"}}`,
		"Consent"},
	{"fhs-1", // age or birth date, not both
		`{"resourceType":"FamilyMemberHistory","id":"f","status":"completed","patient":{"reference":"Patient/p"},"relationship":{"text":"father"},"ageAge":{"value":50,"system":"http://unitsofmeasure.org","code":"a"},"bornDate":"1950"}`,
		`{"resourceType":"FamilyMemberHistory","id":"f","status":"completed","patient":{"reference":"Patient/p"},"relationship":{"text":"father"},"bornDate":"1950"}`,
		""},
	{"fhs-2", // estimatedAge only with an age
		`{"resourceType":"FamilyMemberHistory","id":"f","status":"completed","patient":{"reference":"Patient/p"},"relationship":{"text":"father"},"estimatedAge":true}`,
		`{"resourceType":"FamilyMemberHistory","id":"f","status":"completed","patient":{"reference":"Patient/p"},"relationship":{"text":"father"},"estimatedAge":true,"ageString":"about 50"}`,
		""},
	{"imm-1", // education has a document type or a reference
		`{"resourceType":"Immunization","id":"i","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020","education":[{"presentationDate":"2020"}]}`,
		`{"resourceType":"Immunization","id":"i","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020","education":[{"documentType":"x","presentationDate":"2020"}]}`,
		"Immunization.education[0]"},
	{"cmp-1", // a section has text, entries or sections
		`{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t","section":[{"title":"s"}]}`,
		`{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t","section":[{"title":"s","entry":[{"reference":"Patient/p"}]}]}`,
		"Composition.section[0]"},
	{"cmp-2", // emptyReason only without entries
		`{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t","section":[{"title":"s","emptyReason":{"text":"x"},"entry":[{"reference":"Patient/p"}]}]}`,
		`{"resourceType":"Composition","id":"c","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"a"}],"title":"t","section":[{"title":"s","entry":[{"reference":"Patient/p"}]}]}`,
		""},
	{"cpb-1", // a CapabilityStatement has rest, messaging or document
		`{"resourceType":"CapabilityStatement","id":"c","status":"active","date":"2020","kind":"instance","implementation":{"description":"x"},"fhirVersion":"4.0.1","format":["json"]}`,
		`{"resourceType":"CapabilityStatement","id":"c","status":"active","date":"2020","kind":"instance","implementation":{"description":"x"},"fhirVersion":"4.0.1","format":["json","application/fhir+json"],"rest":[{"mode":"server"}]}`,
		"CapabilityStatement"},
	{"sev-1", // AuditEvent.entity: a name or a query
		`{"resourceType":"AuditEvent","id":"a","type":{"code":"rest"},"recorded":"2020-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}},"entity":[{"name":"n","query":"eA=="}]}`,
		`{"resourceType":"AuditEvent","id":"a","type":{"code":"rest"},"recorded":"2020-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}},"entity":[{"name":"n"}]}`,
		"AuditEvent.entity[0]"},
}

// alsoBroken are other constraints a bad case cannot help breaking: a
// resource contained in a contained resource cannot be referenced from its
// own container (ref-1 resolves against the outermost resource).
var alsoBroken = map[string]string{"dom-2": "ref-1"}

// TestInvariants checks each case: the bad resource breaks its constraint
// (with the constraint's key, severity and location), the good one is valid.
func TestInvariants(t *testing.T) {
	t.Parallel()
	v := NewValidator()
	keys := map[string]bool{}
	for _, c := range invariantCases {
		keys[c.key] = true
	}
	if len(keys) < 50 {
		t.Errorf("cases cover %d constraints, want at least 50", len(keys))
	}
	severity := map[string]string{}
	for _, ci := range Constraints() {
		severity[ci.Key] = ci.Severity
	}
	for k, c := range invariantCases {
		t.Run(c.key+"/"+itoa(k), func(t *testing.T) {
			t.Parallel()
			bad := v.Validate([]byte(c.bad), LevelStrict)
			var found *Issue
			for i := range bad.Issues {
				if bad.Issues[i].Key == c.key {
					found = &bad.Issues[i]
				}
			}
			if found == nil {
				t.Fatalf("bad resource: no %s issue; issues: %+v", c.key, bad.Issues)
			}
			if found.Severity != severity[c.key] {
				t.Errorf("bad resource: %s severity %s, want %s", c.key, found.Severity, severity[c.key])
			}
			if c.where != "" && found.Expression != c.where {
				t.Errorf("bad resource: %s at %q, want %q", c.key, found.Expression, c.where)
			}
			if !strings.HasPrefix(found.Diagnostics, c.key+": ") || found.Code != "invariant" {
				t.Errorf("bad resource: issue %+v", *found)
			}
			for _, is := range bad.Issues {
				if is.Severity == SeverityError && is.Key != c.key && is.Key != alsoBroken[c.key] {
					t.Errorf("bad resource: another error: %+v", is)
				}
			}
			good := v.Validate([]byte(c.good), LevelStrict)
			for _, is := range good.Issues {
				if is.Key == c.key || is.Severity == SeverityError {
					t.Errorf("good resource: %+v", is)
				}
			}
		})
	}
}
