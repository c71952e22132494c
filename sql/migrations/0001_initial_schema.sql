-- Initial schema: sites, accounts, the hot event tables and their bookkeeping.
--
-- Columns, types, defaults and CHECKs follow the migration plan; the additions the plan needs
-- (event_uid, daily partitioning, the compliance salt, outcome counters) are marked below.
-- The migration runner applies each file in its own transaction and records it in
-- schema_migrations; never edit a file once it has been applied anywhere: add a new one.

CREATE TABLE sites (
    site_id           TEXT        PRIMARY KEY,                 -- a ULID
    owner_sub         TEXT        NOT NULL,                    -- Cognito sub of the owner
    name              TEXT        NOT NULL,
    domains           TEXT[]      NOT NULL,                    -- normalised host names
    plan              TEXT        NOT NULL DEFAULT 'free_tier',
    request_allowance BIGINT      NOT NULL DEFAULT 10000,
    compliance_level  SMALLINT    NOT NULL DEFAULT 1,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT sites_compliance_level_check CHECK (compliance_level IN (0, 1, 2)),
    -- Addition: the ingest transaction charges the allowance and must never drive it negative.
    CONSTRAINT sites_request_allowance_check CHECK (request_allowance >= 0)
);
CREATE INDEX sites_owner_sub_idx ON sites (owner_sub);
CREATE INDEX sites_plan_idx ON sites (plan);

CREATE TABLE accounts (                                        -- formerly user_preferences
    cognito_sub         TEXT        PRIMARY KEY,
    email_notifications TEXT        NOT NULL DEFAULT 'daily',
    created_at          TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT accounts_email_notifications_check
        CHECK (email_notifications IN ('daily', 'weekly', 'monthly', 'never'))
);

-- Event tables. Addition: range-partitioned by dt (one partition a day, created ahead by the
-- maintenance job, plus a DEFAULT partition so that a write never fails for a missing day),
-- hence the primary key (event_id, dt); and event_uid, the ULID the ingest Lambda gave the
-- event, unique per dt (dt is a function of the event, so this is unique per event) so that a
-- retried or replayed batch inserts nothing twice.
CREATE TABLE events (
    event_id   BIGSERIAL   NOT NULL,
    site_id    TEXT        NOT NULL,
    session_id TEXT        NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL,
    dt         DATE        NOT NULL,
    event      TEXT        NOT NULL,
    pathname   TEXT        NOT NULL,
    properties JSONB,
    event_uid  TEXT        NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (event_id, dt),
    CONSTRAINT events_event_uid_dt_key UNIQUE (event_uid, dt)
) PARTITION BY RANGE (dt);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_site_id_idx ON events (site_id);
CREATE INDEX events_session_id_idx ON events (session_id);
CREATE INDEX events_timestamp_idx ON events ("timestamp");
CREATE INDEX events_dt_idx ON events (dt);
CREATE INDEX events_site_id_timestamp_idx ON events (site_id, "timestamp");
CREATE INDEX events_session_id_timestamp_idx ON events (session_id, "timestamp");

CREATE TABLE initial_events (
    event_id       BIGSERIAL    NOT NULL,
    site_id        TEXT         NOT NULL,
    session_id     TEXT         NOT NULL,
    "timestamp"    TIMESTAMPTZ  NOT NULL,
    dt             DATE         NOT NULL,
    event          TEXT         NOT NULL,
    pathname       TEXT         NOT NULL,
    properties     JSONB,
    referer        TEXT,
    referer_domain TEXT,
    utm_source     VARCHAR(255),
    utm_medium     VARCHAR(255),
    utm_campaign   VARCHAR(255),
    utm_content    VARCHAR(255),
    utm_term       VARCHAR(255),
    device         VARCHAR(100),
    os             VARCHAR(100),
    browser        VARCHAR(100),
    country        VARCHAR(100),
    region         VARCHAR(100),
    city           VARCHAR(100),
    screen_width   SMALLINT,
    screen_height  SMALLINT,
    event_uid      TEXT         NOT NULL,
    CONSTRAINT initial_events_pkey PRIMARY KEY (event_id, dt),
    CONSTRAINT initial_events_event_uid_dt_key UNIQUE (event_uid, dt)
) PARTITION BY RANGE (dt);
CREATE TABLE initial_events_default PARTITION OF initial_events DEFAULT;
CREATE INDEX initial_events_site_id_idx ON initial_events (site_id);
CREATE INDEX initial_events_session_id_idx ON initial_events (session_id);
CREATE INDEX initial_events_timestamp_idx ON initial_events ("timestamp");
CREATE INDEX initial_events_dt_idx ON initial_events (dt);
CREATE INDEX initial_events_site_id_timestamp_idx ON initial_events (site_id, "timestamp");
CREATE INDEX initial_events_session_id_timestamp_idx ON initial_events (session_id, "timestamp");

-- Addition: the random salt of compliance level 0. Session ids of such sites are stored as
-- HMAC(salt of the day, site_id + session_id); a salt is created on first use for its day and
-- deleted two days later, after which nobody can link a stored id back to a visitor.
CREATE TABLE daily_salts (
    day        DATE        PRIMARY KEY,
    salt       BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT daily_salts_salt_check CHECK (octet_length(salt) >= 16)
);

-- Addition: why events were or were not stored, per site, UTC day and outcome, so that site
-- owners can see what was dropped. Updated in the ingest transaction.
CREATE TABLE ingest_outcomes (
    site_id TEXT   NOT NULL,
    dt      DATE   NOT NULL,
    outcome TEXT   NOT NULL,
    count   BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT ingest_outcomes_pkey PRIMARY KEY (site_id, dt, outcome),
    CONSTRAINT ingest_outcomes_outcome_check CHECK (outcome IN (
        'accepted', 'duplicate', 'malformed', 'unknown_site', 'domain_mismatch', 'bot',
        'over_allowance'
    )),
    CONSTRAINT ingest_outcomes_count_check CHECK (count >= 0)
);
