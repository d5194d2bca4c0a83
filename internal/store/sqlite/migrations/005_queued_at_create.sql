-- JobCreate now inserts a job behind an unfinished one of its store and kind as QUEUED (JobClaim
-- used to mark it later): queue the jobs that were submitted before this change.
UPDATE jobs SET status = 'QUEUED' WHERE status = 'SUBMITTED'
    AND EXISTS (SELECT 1 FROM jobs e WHERE e.ds = jobs.ds AND e.kind = jobs.kind AND e.seq < jobs.seq
        AND e.status IN ('SUBMITTED', 'QUEUED', 'IN_PROGRESS', 'CANCEL_SUBMITTED', 'CANCEL_IN_PROGRESS'));
