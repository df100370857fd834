-- An Odoo-style CRM: the columns of crm.lead, crm.stage and crm.lost.reason that dealpulse
-- follows, with Odoo's meanings (addons/crm/models/). Idempotent: `dealpulse postgres up`
-- runs it on every start.
CREATE TABLE IF NOT EXISTS crm_team (
    id serial PRIMARY KEY,
    name varchar NOT NULL
);
CREATE TABLE IF NOT EXISTS crm_stage (
    id serial PRIMARY KEY,
    name varchar NOT NULL,
    sequence integer DEFAULT 1,
    is_won boolean NOT NULL DEFAULT false,
    team_id integer REFERENCES crm_team (id)
);
CREATE TABLE IF NOT EXISTS crm_lost_reason (
    id serial PRIMARY KEY,
    name varchar NOT NULL,
    active boolean DEFAULT true
);
CREATE TABLE IF NOT EXISTS crm_lead (
    id serial PRIMARY KEY,
    name varchar NOT NULL,
    type varchar NOT NULL DEFAULT 'opportunity',
    active boolean DEFAULT true,               -- false: archived (lost, with a reason)
    stage_id integer REFERENCES crm_stage (id),
    team_id integer REFERENCES crm_team (id),  -- the sales team: dealpulse's pipeline
    user_id integer,                           -- the salesperson
    expected_revenue numeric,                  -- in the company's currency
    probability double precision,
    lost_reason_id integer REFERENCES crm_lost_reason (id),
    date_deadline date,                        -- expected closing
    date_closed timestamp,                     -- when won or lost, UTC
    create_date timestamp DEFAULT (now() AT TIME ZONE 'UTC'),
    write_date timestamp DEFAULT (now() AT TIME ZONE 'UTC')
);
-- Every column in `before`, so the bridge sees what an UPDATE changed.
ALTER TABLE crm_lead REPLICA IDENTITY FULL;

INSERT INTO crm_team (id, name) VALUES (1, 'Sales'), (2, 'Renewals')
    ON CONFLICT (id) DO NOTHING;
INSERT INTO crm_stage (id, name, sequence, is_won) VALUES
    (1, 'New', 1, false), (2, 'Qualified', 2, false), (3, 'Proposition', 3, false),
    (4, 'Won', 70, true)
    ON CONFLICT (id) DO NOTHING;
INSERT INTO crm_lost_reason (id, name) VALUES
    (1, 'Too expensive'), (2, 'We don''t have people/skills'), (3, 'Not enough stock')
    ON CONFLICT (id) DO NOTHING;

-- The publication Debezium's pgoutput slot reads (publication.autocreate.mode=disabled).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'dealpulse_crm') THEN
        CREATE PUBLICATION dealpulse_crm FOR TABLE crm_lead;
    END IF;
END
$$;
