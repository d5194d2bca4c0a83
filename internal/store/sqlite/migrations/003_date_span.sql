-- The widest date range (hi - lo, in ms) indexed under each search parameter. A row with
-- hi >= L then has lo >= L - max_span, which lets a two-sided date search use the (lo) index range.
ALTER TABLE search_params ADD COLUMN max_span INTEGER NOT NULL DEFAULT 0;
UPDATE search_params SET max_span = coalesce((SELECT max(hi - lo) FROM idx_date WHERE param = search_params.seq), 0);
