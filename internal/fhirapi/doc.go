// Package fhirapi is the FHIR R4 REST data plane of fhirlake, served under
// /datastore/{id}/r4/ of each data store, over the same storage the import jobs write.
//
// Routes (relative to [base] = <public-url>/datastore/{id}/r4):
//
//	GET    [base]/metadata                       CapabilityStatement
//	POST   [base]/                               batch or transaction Bundle
//	GET    [base]/{type}?params                  search (searchset Bundle, keyset paging)
//	POST   [base]/{type}/_search                 search with a form body
//	POST   [base]/{type}                         create (server-assigned id, 201)
//	GET    [base]/{type}/_history                type history
//	GET    [base]/{type}/{id}                    read (410 once deleted)
//	PUT    [base]/{type}/{id}                    update, or create with that id
//	PATCH  [base]/{type}/{id}                    JSON Patch (RFC 6902)
//	DELETE [base]/{type}/{id}                    delete (204)
//	GET    [base]/{type}/{id}/_history           instance history
//	GET    [base]/{type}/{id}/_history/{vid}     vread
//	GET    [base]/$export                        bulk export kick-off (also POST), 202 + Content-Location
//	GET    [base]/Patient/$export                ... of the Patient compartments of all patients
//	GET    [base]/Group/{id}/$export             ... of the Patient compartments of a Group's members
//	GET    [base]/export/{jobId}                 export status: 202 while running, 200 once ended
//	DELETE [base]/export/{jobId}                 cancel an export (202; 409 once ended)
//
// Bulk export (export.go) takes _type, _since and _outputFormat (NDJSON only) from the query
// string or a FHIR Parameters body; a POST may instead carry HealthLake's JSON body (JobName,
// OutputDataConfig.S3Configuration, DataAccessRoleArn). The output location is the body's S3Uri,
// else the outputS3Uri parameter, else Options.ExportS3URI. A kick-off only records an export job
// (the same jobs as StartFHIRExportJob, listed by ListFHIRExportJobs) and wakes the job engine;
// the exporter package writes the files. The status document is HealthLake's camelCase
// exportJobProperties plus the bulk-data manifest fields (transactionTime, request,
// requiresAccessToken, output, error).
//
// The package owns routing, the interactions' HTTP semantics (ETag, Last-Modified, If-Match,
// Location, x-amz-fhir-idempotency-key), Bundles, the CapabilityStatement and the one function
// that turns any error into an OperationOutcome with its HTTP status (outcome.go). It does not
// own authentication (the sigv4 middleware in front of it puts the tenant in the context),
// validation rules (package fhir), search semantics and index extraction (package search) or
// storage (the store contract).
//
// Not supported: conditional create/update/delete (If-None-Exist and search URLs on writes),
// PATCH entries inside Bundles, _has, composite and special parameters, system-level search and
// history, $operations other than $export, the $export parameters _typeFilter, _elements,
// patient and includeAssociatedData, XML, and _summary/_elements other than _summary=count.
package fhirapi
