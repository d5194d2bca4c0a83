package jobs

// Hook observes the phase boundaries of job runs: it is called with a point name each time a run
// reaches one. It exists for tests (the crash test's binary kills itself at a chosen point; a
// test server waits for a job to pause) and does nothing in production, where it is nil: an unset
// Hook costs one nil check per point.
type Hook func(point string)

// At calls h with point unless h is nil.
func (h Hook) At(point string) {
	if h != nil {
		h(point)
	}
}

// Hook points, in the order a job reaches them. The engine's points are the job kind followed by
// PointBeforeTerminal, PointAfterTerminal or PointPaused, e.g. "import.before-terminal".
const (
	// PointImportListed: the input listing is committed; no file is started.
	PointImportListed = "import.listed"
	// PointImportCommitted: one batch of a file's resources and report lines is committed.
	PointImportCommitted = "import.committed"
	// PointImportFileCommitted: every line of a file is committed; its reports are not written yet.
	PointImportFileCommitted = "import.file-committed"
	// PointImportReportsWritten: a file's SUCCESS/FAILURE objects are written; the file is not yet
	// marked done.
	PointImportReportsWritten = "import.reports-written"
	// PointImportFileDone: the commit that marks a file done and drops its staged report lines.
	PointImportFileDone = "import.file-done"
	// PointImportManifestWritten: manifest.json is written; the job is not yet terminal.
	PointImportManifestWritten = "import.manifest-written"

	// PointExportObjectWritten: an output object is written; the checkpoint that records it is not.
	PointExportObjectWritten = "export.object-written"
	// PointExportCheckpointed: the export's checkpoint and progress are committed.
	PointExportCheckpointed = "export.checkpointed"

	// PointBeforeTerminal: the run has its result; the terminal state is not written yet.
	PointBeforeTerminal = "before-terminal"
	// PointAfterTerminal: the terminal state is committed.
	PointAfterTerminal = "after-terminal"
	// PointPaused: the run ended in a fault and the job waits to be retried.
	PointPaused = "paused"
)
