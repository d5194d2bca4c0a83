-- The fencing token of a job's current claim: unique per JobClaim, checked by every write made
-- under the lease, '' when no claim holds the job.
ALTER TABLE jobs ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
