-- 014_reviews: what the remote sender's page (ingress-console's public listener) needs of the
-- store.  review_requests: a sender's "request a review" of one refused decision, given only its
-- reference, waiting in the support desk's queue until someone closes it with a reason.
-- explanations: the site's own words per check, shown on that page in place of the built-in
-- ones; kept in the store so that every MX host of a fleet shows the same text.  The runner wraps
-- this file in a transaction and sets PRAGMA user_version itself.

CREATE TABLE review_requests (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL,                     -- the decision's reference, as the sender gave it
    at INTEGER NOT NULL,                   -- unix seconds
    client TEXT NOT NULL,                  -- the address the request came from
    contact TEXT NOT NULL,                 -- the sender's address for the answer (validated)
    text TEXT NOT NULL,                    -- the sender's words, bounded; escape before printing
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    closed_by TEXT NOT NULL DEFAULT '',
    closed_at INTEGER,                     -- unix seconds; NULL while open
    reason TEXT NOT NULL DEFAULT ''        -- why it was closed
);
CREATE INDEX review_requests_ref ON review_requests (ref, state);
CREATE INDEX review_requests_at ON review_requests (at);

CREATE TABLE explanations (
    check_name TEXT PRIMARY KEY,           -- "iprev", "spf", ... as in the decision log
    text TEXT NOT NULL,
    set_by TEXT NOT NULL DEFAULT '',
    set_at INTEGER NOT NULL
);
