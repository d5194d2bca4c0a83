package fhirpath

// MaxNodes exposes maxNodes to the tests.
var MaxNodes = maxNodes
