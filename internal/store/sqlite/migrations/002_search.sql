-- Search parameters seen in index entries, interned so index rows carry a small integer.
CREATE TABLE search_params (
    seq  INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    code TEXT NOT NULL,
    UNIQUE (type, code)
);

-- Scans of one type in insertion (pk) order, for searches without a selective parameter.
CREATE INDEX resources_scan ON resources (ds, type, deleted);

-- Index rows of the current version of each resource (rpk = resources.pk), one table per kind.
-- The primary keys serve the value lookups; the (rpk, param) indexes serve deletes, :missing,
-- _include and sorting.
CREATE TABLE idx_string (
    ds    INTEGER NOT NULL,
    param INTEGER NOT NULL,
    value TEXT NOT NULL, -- lower case, accents removed
    exact TEXT NOT NULL,
    rpk   INTEGER NOT NULL,
    PRIMARY KEY (ds, param, value, exact, rpk)
) WITHOUT ROWID;
CREATE INDEX idx_string_rpk ON idx_string (rpk, param);

CREATE TABLE idx_token (
    ds     INTEGER NOT NULL,
    param  INTEGER NOT NULL,
    code   TEXT NOT NULL,
    system TEXT NOT NULL,
    text   TEXT NOT NULL, -- display or text, normalised like idx_string.value
    rpk    INTEGER NOT NULL,
    PRIMARY KEY (ds, param, code, system, text, rpk)
) WITHOUT ROWID;
CREATE INDEX idx_token_rpk ON idx_token (rpk, param);

CREATE TABLE idx_ref (
    ds       INTEGER NOT NULL,
    param    INTEGER NOT NULL,
    ref_id   TEXT NOT NULL,
    ref_type TEXT NOT NULL, -- '' for absolute URLs and canonicals, kept whole in ref_id
    rpk      INTEGER NOT NULL,
    PRIMARY KEY (ds, param, ref_id, ref_type, rpk)
) WITHOUT ROWID;
CREATE INDEX idx_ref_rpk ON idx_ref (rpk, param);

CREATE TABLE idx_date (
    ds    INTEGER NOT NULL,
    param INTEGER NOT NULL,
    lo    INTEGER NOT NULL, -- unix ms, inclusive
    hi    INTEGER NOT NULL, -- unix ms, inclusive
    rpk   INTEGER NOT NULL,
    PRIMARY KEY (ds, param, lo, hi, rpk)
) WITHOUT ROWID;
CREATE INDEX idx_date_rpk ON idx_date (rpk, param);
CREATE INDEX idx_date_hi ON idx_date (ds, param, hi);

-- Numbers and quantities (system and code are '' for plain numbers).
CREATE TABLE idx_number (
    ds     INTEGER NOT NULL,
    param  INTEGER NOT NULL,
    lo     REAL NOT NULL,
    hi     REAL NOT NULL,
    system TEXT NOT NULL,
    code   TEXT NOT NULL,
    rpk    INTEGER NOT NULL,
    PRIMARY KEY (ds, param, lo, hi, system, code, rpk)
) WITHOUT ROWID;
CREATE INDEX idx_number_rpk ON idx_number (rpk, param);

CREATE TABLE idx_uri (
    ds    INTEGER NOT NULL,
    param INTEGER NOT NULL,
    value TEXT NOT NULL,
    rpk   INTEGER NOT NULL,
    PRIMARY KEY (ds, param, value, rpk)
) WITHOUT ROWID;
CREATE INDEX idx_uri_rpk ON idx_uri (rpk, param);

-- Create idempotency keys (x-amz-fhir-idempotency-key) and the resource each one created.
CREATE TABLE idempotency_keys (
    ds      INTEGER NOT NULL,
    key     TEXT NOT NULL,
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (ds, key)
) WITHOUT ROWID;
