-- Token and reference entries become posting lists (see postings.go): one row per parameter,
-- value and chunk of 4,096 resource keys, whose bits list the keys of that chunk with the value.
-- The rows of idx_token and idx_ref are converted by the migration step that follows this file
-- (sqlite.go), which also fills resources.ix, and then those tables are dropped.
CREATE TABLE post_token (
    ds     INTEGER NOT NULL,
    param  INTEGER NOT NULL,
    code   TEXT NOT NULL,
    system TEXT NOT NULL,
    text   TEXT NOT NULL, -- display or text, normalised like idx_string.value
    chunk  INTEGER NOT NULL, -- rpk >> 12
    bits   BLOB NOT NULL, -- sorted uint16 offsets (rpk & 4095), or a 512-byte bitmap
    PRIMARY KEY (ds, param, code, system, text, chunk)
) WITHOUT ROWID;

CREATE TABLE post_ref (
    ds       INTEGER NOT NULL,
    param    INTEGER NOT NULL,
    ref_id   TEXT NOT NULL,
    ref_type TEXT NOT NULL, -- '' for absolute URLs and canonicals, kept whole in ref_id
    chunk    INTEGER NOT NULL,
    bits     BLOB NOT NULL,
    PRIMARY KEY (ds, param, ref_id, ref_type, chunk)
) WITHOUT ROWID;

-- The token and reference entries of the current version, encoded (postings.go encodeIx).
ALTER TABLE resources ADD COLUMN ix BLOB;
