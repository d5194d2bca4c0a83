// Package store is the storage contract of fhirlake: the records it keeps (data stores, tags, jobs,
// versioned FHIR resources), the Store interface every backend implements, and the sentinel errors
// callers test with errors.Is.
//
// It owns no protocol: wire shapes, validation and AWS error names live in the protocol packages.
// Backends live in sub-packages (sqlite, postgres) and prove themselves with the storetest suite.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned (wrapped) by every backend.
var (
	// ErrNotFound means the addressed record does not exist for the caller's tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the record exists but is in a state that forbids the change.
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost means a job write came from a claim that no longer holds the job's lease: the
	// job was claimed again (its lease expired, or leases were released) or it is terminal.
	ErrLeaseLost = errors.New("job lease lost")
	// ErrVersionMismatch means a conditional resource write named a version that is not current.
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrBadQuery means a search query or its cursor cannot be run as given.
	ErrBadQuery = errors.New("invalid query")
	// ErrConditionChanged means a write's WriteCondition no longer held when the write was applied:
	// its search matched other resources than the caller decided on. Nothing was written.
	ErrConditionChanged = errors.New("write condition changed")
	// ErrNotActive means the data store exists but is not in a state that takes the call; the
	// error is a *NotActiveError naming the state.
	ErrNotActive = errors.New("data store not active")
	// ErrLimitExceeded means the call would pass a limit it was given (DatastoreCreate's limit).
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrDiskFull means a write failed because the backend's storage is full. The write was rolled
	// back; it can succeed once space is freed.
	ErrDiskFull = errors.New("data store disk full")
	// ErrUnavailable means the backend could not be reached (a database server that is down,
	// restarting or cut off). The call had no effect, or its transaction was rolled back; it can
	// succeed once the backend is back.
	ErrUnavailable = errors.New("data store unavailable")
)

// NotActiveError reports a data store whose state forbids the call: jobs start only on an ACTIVE
// store, and resources are written only to an ACTIVE store or a CREATING one (its preload). It
// matches ErrNotActive with errors.Is.
type NotActiveError struct {
	ID     string
	Status DatastoreStatus
}

func (e *NotActiveError) Error() string { return "datastore " + e.ID + " is " + string(e.Status) }

// Is makes errors.Is(err, ErrNotActive) true.
func (e *NotActiveError) Is(target error) bool { return target == ErrNotActive }

// Tenant identifies the owner of every record: an AWS account in one region.
type Tenant struct {
	AccountID string
	Region    string
}

// DatastoreStatus is a data store's lifecycle state; values are the AWS wire strings.
type DatastoreStatus string

// Data store states.
const (
	DatastoreCreating     DatastoreStatus = "CREATING"
	DatastoreActive       DatastoreStatus = "ACTIVE"
	DatastoreDeleting     DatastoreStatus = "DELETING"
	DatastoreDeleted      DatastoreStatus = "DELETED"
	DatastoreCreateFailed DatastoreStatus = "CREATE_FAILED"
)

// Datastore is one FHIR data store.
type Datastore struct {
	Tenant
	ID          string // 32 lowercase hex characters
	Name        string // "" when none was given
	Status      DatastoreStatus
	CreatedAt   time.Time
	TypeVersion string // "R4"
	// Config is the JSON of the creation options that are echoed back (SseConfiguration,
	// PreloadDataConfig, IdentityProviderConfiguration); opaque to the store.
	Config []byte
	// ErrorCause is the JSON of the ErrorCause member, nil when none.
	ErrorCause []byte
	// ClientToken and RequestHash implement CreateFHIRDatastore idempotency.
	ClientToken string
	RequestHash string
	// ReadyAt is when a CREATING store becomes ACTIVE, and a DELETING store DELETED.
	ReadyAt time.Time
}

// DatastoreListParams selects a page of data stores, newest first (CreatedAt desc, ID asc).
type DatastoreListParams struct {
	Tenant
	Name          string          // exact match when not ""
	Status        DatastoreStatus // exact match when not ""
	CreatedBefore *time.Time      // CreatedAt < CreatedBefore
	CreatedAfter  *time.Time      // CreatedAt > CreatedAfter
	After         *PageKey        // keyset: continue after this key
	Limit         int             // page size, > 0
}

// PageKey is a keyset pagination position: the sort key of the last row of the previous page.
type PageKey struct {
	Time time.Time
	ID   string
}

// Tag is one resource tag.
type Tag struct {
	Key   string
	Value string
}

// JobKind separates the two job families that share the engine.
type JobKind string

// Job kinds.
const (
	JobImport JobKind = "import"
	JobExport JobKind = "export"
	// JobDelete jobs remove resources for good (the FHIR $erase and $purge operations).
	JobDelete JobKind = "delete"
)

// JobStatus is a job's state; values are the AWS wire strings.
type JobStatus string

// Job states.
const (
	JobSubmitted        JobStatus = "SUBMITTED"
	JobQueued           JobStatus = "QUEUED"
	JobInProgress       JobStatus = "IN_PROGRESS"
	JobCompleted        JobStatus = "COMPLETED"
	JobCompletedErrors  JobStatus = "COMPLETED_WITH_ERRORS"
	JobFailed           JobStatus = "FAILED"
	JobCancelSubmitted  JobStatus = "CANCEL_SUBMITTED"
	JobCancelInProgress JobStatus = "CANCEL_IN_PROGRESS"
	JobCancelCompleted  JobStatus = "CANCEL_COMPLETED"
	JobCancelFailed     JobStatus = "CANCEL_FAILED"
)

// Terminal reports whether s is a final state (EndTime set).
func (s JobStatus) Terminal() bool {
	switch s {
	case JobCompleted, JobCompletedErrors, JobFailed, JobCancelCompleted, JobCancelFailed:
		return true
	}
	return false
}

// Job is one import or export job.
type Job struct {
	Tenant
	ID          string
	Kind        JobKind
	DatastoreID string
	Name        string
	Status      JobStatus
	SubmitTime  time.Time
	EndTime     time.Time // zero until terminal
	ClientToken string
	RequestHash string
	// Params is the JSON of the job's request (input and output locations, role, level); opaque here.
	Params []byte
	// Message explains a FAILED job; "" otherwise.
	Message string
	// Progress is the JSON of the live progress report; opaque here, nil before the job starts.
	Progress []byte
	// Checkpoint is the worker's resume position, committed atomically with the work it covers.
	Checkpoint []byte
	// LeaseOwner names the node whose claim holds the job (for logs and for releasing a node's
	// leases); several claims of one node share it, so it does not fence writes.
	LeaseOwner string
	// LeaseToken is the fencing token of the current claim: JobClaim sets a new one, unique to that
	// claim, and every write under the lease must present it. "" when no claim holds the job.
	LeaseToken   string
	LeaseExpires time.Time
	Attempts     int
}

// JobListParams selects a page of one data store's jobs of one kind, newest first
// (SubmitTime desc, ID asc).
type JobListParams struct {
	Tenant
	DatastoreID     string
	Kind            JobKind
	Name            string     // exact when not ""
	Status          JobStatus  // exact when not ""
	SubmittedBefore *time.Time // SubmitTime < SubmittedBefore
	SubmittedAfter  *time.Time // SubmitTime > SubmittedAfter
	After           *PageKey
	Limit           int
}

// JobClaimParams asks for the next runnable job.
type JobClaimParams struct {
	Kinds []JobKind
	Owner string // the claiming node's name, recorded as Job.LeaseOwner
	Now   time.Time
	Lease time.Duration
}

// JobFinishParams moves a leased job to a terminal state.
type JobFinishParams struct {
	ID         string
	LeaseToken string // Job.LeaseToken of the claim the write is made under
	Status     JobStatus
	Message    string
	Progress   []byte
	EndTime    time.Time
}

// JobProgressParams records progress and the resume checkpoint of a leased job and extends its lease.
type JobProgressParams struct {
	ID           string
	LeaseToken   string // Job.LeaseToken of the claim the write is made under
	Progress     []byte
	Checkpoint   []byte
	LeaseExpires time.Time
}

// ResourceWrite is one create-or-update (or delete) of a resource by type and id.
type ResourceWrite struct {
	Type   string
	ID     string
	Body   []byte // the resource JSON as received; meta.versionId/lastUpdated are applied on read
	Delete bool
	// IfVersion, when > 0, makes the write conditional on the current version (else ErrVersionMismatch).
	IfVersion int64
	// IfNoneExist makes the write a pure create: it fails with ErrConflict when a current
	// (non-deleted) version exists.
	IfNoneExist bool
	// Index holds the search index entries of the new version; they replace the entries of the
	// previous version in the same transaction. A delete drops all entries (Index is ignored).
	Index []IndexEntry
	// IdempotencyKey, when not "", is remembered per data store with the written resource. A
	// later write with the same key is not applied: its result has Replayed set and names the
	// resource the key first created.
	IdempotencyKey string
	// Condition, when set, is checked in the write's transaction just before this write (after
	// the earlier writes of the same call): unless its search matches exactly Condition.Matches,
	// the call fails with ErrConditionChanged and writes nothing.
	Condition *WriteCondition
}

// WriteCondition ties a write to the outcome of a search, as FHIR conditional interactions
// (If-None-Exist, PUT/PATCH/DELETE [type]?query) decide on one: the write stands only if the
// search over the current, non-deleted resources of Type still matches exactly the resources the
// caller saw, so that two concurrent conditional creates cannot both create.
type WriteCondition struct {
	Type  string
	Where [][]SearchPredicate // as SearchQuery.Where
	// Matches are the ids the search must match, in any order; empty for "no match".
	Matches []string
}

// IndexKind is the search parameter type of an index entry (FHIR SearchParameter.type).
type IndexKind uint8

// Index kinds. The fields of IndexEntry each kind uses are listed with it.
const (
	IndexString    IndexKind = iota + 1 // Value (normalised), Exact
	IndexToken                          // System, Code, Value (normalised display/text, for :text)
	IndexReference                      // RefType, RefID (RefType "" for an absolute URL or canonical in RefID)
	IndexDate                           // Low, High
	IndexNumber                         // NumLow, NumHigh
	IndexQuantity                       // NumLow, NumHigh, System, Code (the unit code)
	IndexURI                            // Value
)

// String returns the FHIR name of the kind ("token", ...).
func (k IndexKind) String() string {
	switch k {
	case IndexString:
		return "string"
	case IndexToken:
		return "token"
	case IndexReference:
		return "reference"
	case IndexDate:
		return "date"
	case IndexNumber:
		return "number"
	case IndexQuantity:
		return "quantity"
	case IndexURI:
		return "uri"
	}
	return "unknown"
}

// IndexEntry is one value of one search parameter of a resource version, computed at write time.
type IndexEntry struct {
	Param  string // the parameter code, e.g. "code", "subject", "birthdate"
	Kind   IndexKind
	System string
	Code   string
	Value  string
	Exact  string
	// RefType and RefID are a reference's target ("Patient", "123").
	RefType string
	RefID   string
	// Low and High bound a date as inclusive unix milliseconds (math.MinInt64/MaxInt64 for an
	// open end).
	Low, High int64
	// NumLow and NumHigh bound a number or quantity (equal for a point value).
	NumLow, NumHigh float64
}

// ResourceWriteResult is the outcome of one ResourceWrite.
type ResourceWriteResult struct {
	Version     int64
	LastUpdated time.Time
	Created     bool // no current (non-deleted) version existed before
	// Replayed reports a write skipped because its IdempotencyKey was used before; ID and Version
	// then name the resource that the key created (of the write's Type).
	Replayed bool
	ID       string
}

// Resource is one stored version of a resource.
type Resource struct {
	Type        string
	ID          string
	Version     int64
	LastUpdated time.Time
	Deleted     bool
	Body        []byte // nil when Deleted
}

// TypeHistoryParams selects a page of the history of one resource type, or of every type.
type TypeHistoryParams struct {
	DatastoreID string
	Type        string    // "" for every type (system history)
	Since       time.Time // LastUpdated >= Since when not zero
	// After continues after this version (the last of the previous page) when not nil.
	After *Resource
	Limit int
}

// ResourceKey names a resource, or one earlier version of it.
type ResourceKey struct {
	Type    string
	ID      string
	Version int64 // 0: the resource and every version of it; > 0: that one earlier version
}

// EraseParams is one atomic erase. When JobID is set, the erase is made under that job's lease
// and records its progress, as ImportCommit does.
type EraseParams struct {
	DatastoreID string
	Keys        []ResourceKey
	JobID       string
	LeaseToken  string // Job.LeaseToken of the claim the erase is made under
	Progress    []byte
	Checkpoint  []byte
	// LeaseExpires extends the job's lease.
	LeaseExpires time.Time
}

// ReportChunk is a piece of a job report (e.g. SUCCESS or FAILURE lines of one input file), stored
// in the same transaction as the resources it describes so a crash never loses or repeats a line.
type ReportChunk struct {
	Name string // report object name relative to the job's output folder, e.g. "FAILURE/Patient.ndjson"
	Data []byte
}

// ImportStep is one atomic step of an import: writes, report lines, progress and checkpoint.
type ImportStep struct {
	Writes []ResourceWrite
	// Reports, when set, is called inside the transaction with the results of Writes and returns the
	// report chunks to stage with them.
	Reports func(results []ResourceWriteResult) []ReportChunk
	// DeleteReports names reports whose chunks are dropped in the same transaction (written out).
	DeleteReports []string
	Progress      []byte
	Checkpoint    []byte
}

// ImportCommitParams is one or more atomic steps of an import. Writes, Reports, DeleteReports,
// Progress and Checkpoint are the first step; Steps, when set, are the steps that follow it.
type ImportCommitParams struct {
	JobID       string
	LeaseToken  string // Job.LeaseToken of the claim the write is made under
	DatastoreID string
	Writes      []ResourceWrite
	// Reports, when set, is called inside the transaction with the results of Writes and returns the
	// report chunks to stage with them.
	Reports func(results []ResourceWriteResult) []ReportChunk
	// DeleteReports names reports whose chunks are dropped in the same transaction (written out).
	DeleteReports []string
	Progress      []byte
	Checkpoint    []byte
	// Steps are further steps, applied in order after the first.
	Steps        []ImportStep
	LeaseExpires time.Time
	Now          time.Time
}

// Store is the storage contract. Every method is safe for concurrent use. Methods scoped to a tenant
// return ErrNotFound for records of other tenants.
//
// Preconditions of a write (a data store's state, a quota, an idempotency token) are checked in the
// transaction that writes, atomically with it: no concurrent call can change what was checked
// before the write commits.
type Store interface {
	// DatastoreCreate inserts d. If d.ClientToken is not "" and the tenant already has a store created
	// with that token, it returns that store and created=false instead; this lookup comes first, so
	// a replay succeeds even at a full quota. Otherwise, when limit > 0 and the tenant already has
	// limit or more stores that are not DELETED, it gives ErrLimitExceeded; concurrent creates never
	// pass the limit.
	DatastoreCreate(ctx context.Context, d Datastore, tags []Tag, limit int) (got Datastore, created bool, err error)
	// DatastoreGet returns one store of the tenant, after applying due lifecycle transitions.
	DatastoreGet(ctx context.Context, t Tenant, id string) (Datastore, error)
	// DatastoreList returns a page of the tenant's stores in any status.
	DatastoreList(ctx context.Context, p DatastoreListParams) ([]Datastore, error)
	// DatastoreDelete moves an ACTIVE or CREATE_FAILED store to DELETING (ready at readyAt); other
	// states give ErrConflict, as does a store with a running or queued job.
	DatastoreDelete(ctx context.Context, t Tenant, id string, readyAt time.Time) (Datastore, error)
	// DatastoreCreating lists the stores of every tenant that are CREATING now.
	DatastoreCreating(ctx context.Context) ([]Datastore, error)
	// DatastoreSetReady sets when a CREATING store becomes ACTIVE (ErrConflict in other states).
	DatastoreSetReady(ctx context.Context, id string, readyAt time.Time) error
	// DatastoreAdvance applies due lifecycle transitions (CREATING→ACTIVE, DELETING→DELETED with its
	// resources purged) for all tenants and returns the stores that became ACTIVE.
	DatastoreAdvance(ctx context.Context, now time.Time) ([]Datastore, error)

	// TagsPut upserts tags by key; TagsDelete removes keys (absent keys are ignored); TagsList lists
	// them sorted by key. All give ErrNotFound for an unknown store of the tenant.
	TagsPut(ctx context.Context, t Tenant, datastoreID string, tags []Tag) error
	TagsDelete(ctx context.Context, t Tenant, datastoreID string, keys []string) error
	TagsList(ctx context.Context, t Tenant, datastoreID string) ([]Tag, error)

	// JobCreate inserts j: QUEUED when another non-terminal job of the same store and kind exists,
	// else SUBMITTED (j.Status is ignored). If a job of the same kind, store and ClientToken exists
	// it returns that job and created=false, whatever the store's state. Otherwise a store that is
	// not ACTIVE gives a *NotActiveError, so no job is ever created on a store being deleted.
	JobCreate(ctx context.Context, j Job) (got Job, created bool, err error)
	// JobGet returns one job of a tenant's store.
	JobGet(ctx context.Context, t Tenant, datastoreID string, kind JobKind, id string) (Job, error)
	// JobList returns a page of jobs.
	JobList(ctx context.Context, p JobListParams) ([]Job, error)
	// JobClaim leases the oldest runnable job: per (store, kind) only the earliest non-terminal job
	// runs; it is claimable when SUBMITTED/QUEUED or when its lease expired, and becomes
	// IN_PROGRESS. Returns ErrNotFound when nothing is runnable.
	//
	// Each claim gets a new LeaseToken, unique to it, and records p.Owner as LeaseOwner. The token
	// fences the claim: JobProgress, JobFinish and ImportCommit check it inside their transaction
	// and give ErrLeaseLost, writing nothing, unless it is the job's current token and the job is
	// not terminal. A claim whose lease expired may still write until another claim takes over.
	JobClaim(ctx context.Context, p JobClaimParams) (Job, error)
	// JobProgress records progress/checkpoint and sets the lease expiry (ErrLeaseLost unless
	// p.LeaseToken is current).
	JobProgress(ctx context.Context, p JobProgressParams) error
	// JobFinish sets a terminal state and clears the lease (ErrLeaseLost unless p.LeaseToken is
	// current) and, in the same transaction, drops every report chunk staged for the job:
	// whatever a worker kept until its last step goes with the terminal write, so a crash never
	// leaves a terminal job with staged chunks or an unfinished job without them.
	JobFinish(ctx context.Context, p JobFinishParams) error
	// JobReleaseAll drops every lease, tokens included, so jobs resume at once and writes of the
	// released claims fail (used at start-up by a sole owner).
	JobReleaseAll(ctx context.Context) error
	// JobSetStatus changes a job's status without a lease (cancel requests). Terminal jobs give ErrConflict.
	JobSetStatus(ctx context.Context, t Tenant, datastoreID string, kind JobKind, id string, from []JobStatus, to JobStatus) (Job, error)

	// ImportCommit applies the steps of p in order, each atomically: its resource writes (results
	// of all steps in order), report chunks, progress and checkpoint, with a lease extension. A
	// backend may commit consecutive steps together or apart (SQLite commits early to let a
	// waiting REST write in); when it returns an error, a prefix of the steps may be committed,
	// each with its own checkpoint, and none of the rest. It is fenced like JobProgress:
	// ErrLeaseLost (p.LeaseToken is not current) commits nothing more. Its writes need the store's
	// state as ResourceWrite does.
	ImportCommit(ctx context.Context, p ImportCommitParams) ([]ResourceWriteResult, error)
	// ReportRead streams the stored chunks of one report of a job in commit order.
	ReportRead(ctx context.Context, jobID, name string, fn func([]byte) error) error
	// ReportNames lists the report names that have chunks for a job.
	ReportNames(ctx context.Context, jobID string) ([]string, error)

	// ResourceWrite applies writes in one transaction (all or nothing) at time now. A store that is
	// not ACTIVE or CREATING (being preloaded) gives a *NotActiveError and nothing is written, so no
	// write lands in a store being deleted or purged.
	ResourceWrite(ctx context.Context, datastoreID string, writes []ResourceWrite, now time.Time) ([]ResourceWriteResult, error)
	// ResourceGet returns the current version (Deleted set if the latest version is a delete).
	ResourceGet(ctx context.Context, datastoreID, typ, id string) (Resource, error)
	// ResourceVersion returns one version.
	ResourceVersion(ctx context.Context, datastoreID, typ, id string, version int64) (Resource, error)
	// ResourceHistory returns all versions of one resource, newest first.
	ResourceHistory(ctx context.Context, datastoreID, typ, id string) ([]Resource, error)
	// ResourceTypeHistory returns a page of the versions (deletes included) of all resources of
	// one type (of every type when p.Type is ""), newest first (LastUpdated desc, then Type, ID
	// asc, Version desc).
	ResourceTypeHistory(ctx context.Context, p TypeHistoryParams) ([]Resource, error)
	// ResourceCount counts current, non-deleted resources of a store by type.
	ResourceCount(ctx context.Context, datastoreID string) (map[string]int64, error)
	// ResourceScan streams current, non-deleted resources of one type in id order, starting after
	// afterID; fn returning an error stops the scan.
	ResourceScan(ctx context.Context, datastoreID, typ, afterID string, fn func(Resource) error) error

	// ResourceErase removes resources for good, in one transaction: for a key without Version
	// the resource's current version, every earlier version, its index entries and the
	// idempotency keys that name it; for a key with Version that one earlier version. Nothing of
	// them is left for read, vread, history or search. Keys that name nothing are skipped; a key
	// naming the current version alone gives ErrConflict (erase the resource, or update it first)
	// and erases nothing. It returns the number of versions erased. With p.JobID it is fenced like
	// JobProgress (ErrLeaseLost erases nothing) and records p.Progress and p.Checkpoint with the
	// erase. The store's state must take writes, as for ResourceWrite.
	ResourceErase(ctx context.Context, p EraseParams) (int64, error)

	// ResourceSearch runs a search over the current, non-deleted resources of one type of a store.
	// Parameters that no resource has ever been indexed with match nothing (":missing=true" and
	// ":not" match everything). An unknown store gives ErrNotFound.
	ResourceSearch(ctx context.Context, q SearchQuery) (SearchResult, error)

	// Close releases the backend.
	Close() error
}
