-- 014_reviews: the remote sender's review requests and the site's explanations per check (the
-- PostgreSQL dialect of schema/sqlite/014_reviews.sql: the same tables and meaning).  The runner
-- wraps this file in a transaction and records the version itself.

CREATE TABLE review_requests (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref TEXT NOT NULL,
    at BIGINT NOT NULL,
    client TEXT NOT NULL,
    contact TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    closed_by TEXT NOT NULL DEFAULT '',
    closed_at BIGINT,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX review_requests_ref ON review_requests (ref, state);
CREATE INDEX review_requests_at ON review_requests (at);

CREATE TABLE explanations (
    check_name TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    set_by TEXT NOT NULL DEFAULT '',
    set_at BIGINT NOT NULL
);
