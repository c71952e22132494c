-- Allowance periods (issue 18): a site's request allowance is a monthly budget of its plan.
--
-- `plans` holds each plan's monthly allowance; `sites.allowance_period_start` is the first
-- day (UTC) of the site's current period. The daily maintenance starts a new period for every
-- site whose period began before the first day of the current UTC month: request_allowance
-- becomes its plan's monthly_allowance and the period starts on that first day (locking the
-- sites in site-id order, like ingest's charge). Existing sites start their period on the
-- first day of the current month; new sites on the first day of their creation month (the
-- default; the repository also passes it explicitly).

CREATE TABLE plans (
    plan              TEXT   PRIMARY KEY,
    monthly_allowance BIGINT NOT NULL,
    CONSTRAINT plans_monthly_allowance_check CHECK (monthly_allowance >= 0)
);

INSERT INTO plans (plan, monthly_allowance) VALUES ('free_tier', 10000);

ALTER TABLE sites
    ADD COLUMN allowance_period_start DATE NOT NULL
        DEFAULT (date_trunc('month', CURRENT_TIMESTAMP AT TIME ZONE 'UTC'))::date;
