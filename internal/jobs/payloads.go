package jobs

import "strings"

// ImportParams is the request of an import job as kept in store.Job.Params.
type ImportParams struct {
	InputS3URI        string `json:"inputS3Uri"`
	OutputS3URI       string `json:"outputS3Uri"` // the caller's prefix, as given
	KmsKeyID          string `json:"kmsKeyId"`
	DataAccessRoleArn string `json:"dataAccessRoleArn"`
	ValidationLevel   string `json:"validationLevel"`
}

// ExportParams is the request of an export job as kept in store.Job.Params.
type ExportParams struct {
	OutputS3URI       string   `json:"outputS3Uri"`
	KmsKeyID          string   `json:"kmsKeyId"`
	DataAccessRoleArn string   `json:"dataAccessRoleArn"`
	Types             []string `json:"types,omitempty"` // resource types to export; empty means all
	Since             int64    `json:"since,omitempty"` // unix milliseconds; 0 means no lower bound
	PatientIDs        []string `json:"patientIds,omitempty"`
	Group             string   `json:"group,omitempty"`
	Level             string   `json:"level,omitempty"` // "system" (default), "patient" or "group"
}

// ImportProgress is the live progress report of an import job as kept in store.Job.Progress.
// Scanned == Imported + CustomerErrors + ServerErrors at every commit.
type ImportProgress struct {
	ScannedFiles           int64   `json:"scannedFiles"`
	ScannedBytes           int64   `json:"scannedBytes"`
	ImportedFiles          int64   `json:"importedFiles"`
	FilesWithCustomerError int64   `json:"filesWithCustomerError"`
	ResourcesScanned       int64   `json:"resourcesScanned"`
	ResourcesImported      int64   `json:"resourcesImported"`
	ImportedBytes          int64   `json:"importedBytes"`
	ResourcesCustomerError int64   `json:"resourcesCustomerError"`
	ResourcesServerError   int64   `json:"resourcesServerError"`
	ActiveSeconds          float64 `json:"activeSeconds"` // processing time summed over attempts
}

// Throughput is resources imported per second of processing.
func (p ImportProgress) Throughput() float64 {
	if p.ActiveSeconds <= 0 {
		return 0
	}
	return float64(p.ResourcesImported) / p.ActiveSeconds
}

// JobFolder returns the output folder of a job: the caller's prefix joined with
// "<DatastoreId>-FHIR_<KIND>-<JobId>/".
func JobFolder(prefix, datastoreID, kind, jobID string) string {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix + datastoreID + "-FHIR_" + kind + "-" + jobID + "/"
}

// DeleteParams is the request of a delete job (the FHIR $erase and $purge operations) as kept in
// store.Job.Params.
type DeleteParams struct {
	// Operation is "erase" (one resource, or one earlier version of it) or "purge" (the
	// compartment of the Patient ID).
	Operation string `json:"operation"`
	Type      string `json:"type"`
	ID        string `json:"id"`
	Version   int64  `json:"version,omitempty"` // erase of one earlier version; 0 for the resource
	// DeleteAuditEvent also removes the AuditEvents of the erased resource (entity) or of the
	// patient (its compartment).
	DeleteAuditEvent bool `json:"deleteAuditEvent,omitempty"`
	// Since and Until bound the last update of the resources a purge removes (unix ms,
	// inclusive; 0 means unbounded).
	Since int64 `json:"since,omitempty"`
	Until int64 `json:"until,omitempty"`
}

// DeleteProgress is the progress record of a delete job (store.Job.Progress).
type DeleteProgress struct {
	// Resources counts the resources removed (the version, for the erase of one version).
	Resources int64 `json:"resources"`
}
