-- Data stores. seq is the compact integer key used by resource rows.
CREATE TABLE datastores (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL, -- unix milliseconds
    ready_at     INTEGER NOT NULL, -- unix milliseconds
    type_version TEXT NOT NULL,
    config       BLOB,
    error_cause  BLOB,
    client_token TEXT NOT NULL DEFAULT '',
    request_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX datastores_tenant ON datastores (account, region, created_at DESC, id);
CREATE UNIQUE INDEX datastores_token ON datastores (account, region, client_token) WHERE client_token <> '';

CREATE TABLE tags (
    ds    INTEGER NOT NULL REFERENCES datastores (seq),
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (ds, key)
);

-- Jobs of both kinds. seq gives FIFO order among jobs submitted in the same millisecond.
CREATE TABLE jobs (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    ds            INTEGER NOT NULL REFERENCES datastores (seq),
    name          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    submit_time   INTEGER NOT NULL,
    end_time      INTEGER NOT NULL DEFAULT 0,
    client_token  TEXT NOT NULL DEFAULT '',
    request_hash  TEXT NOT NULL DEFAULT '',
    params        BLOB,
    message       TEXT NOT NULL DEFAULT '',
    progress      BLOB,
    checkpoint    BLOB,
    lease_owner   TEXT NOT NULL DEFAULT '',
    lease_expires INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_list ON jobs (ds, kind, submit_time DESC, id);
CREATE INDEX jobs_list_status ON jobs (ds, kind, status, submit_time DESC, id);
CREATE INDEX jobs_list_name ON jobs (ds, kind, name, submit_time DESC, id);
CREATE UNIQUE INDEX jobs_token ON jobs (ds, kind, client_token) WHERE client_token <> '';
CREATE INDEX jobs_active ON jobs (ds, kind, seq)
    WHERE status IN ('SUBMITTED', 'QUEUED', 'IN_PROGRESS', 'CANCEL_SUBMITTED', 'CANCEL_IN_PROGRESS');

-- Report lines staged with the resources they describe, written out per file by the worker.
CREATE TABLE report_chunks (
    seq    INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    data   BLOB NOT NULL
);
CREATE INDEX report_chunks_job ON report_chunks (job_id, name, seq);

-- Current version of every resource.
CREATE TABLE resources (
    pk      INTEGER PRIMARY KEY,
    ds      INTEGER NOT NULL,
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    body    BLOB
);
CREATE UNIQUE INDEX resources_key ON resources (ds, type, id);

-- Earlier versions of every resource.
CREATE TABLE resource_history (
    ds      INTEGER NOT NULL,
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    body    BLOB,
    PRIMARY KEY (ds, type, id, version)
);
