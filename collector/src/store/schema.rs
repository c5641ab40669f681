//! The inventory schema, as append-only migrations tracked in SQLite's `user_version`.
//!
//! Rules: never edit a migration that has shipped; add a new one at the end. Each migration
//! runs in its own transaction together with the `user_version` bump, so a crash mid-migration
//! leaves the previous version intact.
//!
//! Conventions: MAC addresses are stored as 48-bit integers (`assets.mac` is the rowid, the
//! fastest key SQLite has; the `asset_macs` view shows the usual spelling); times are Unix
//! microseconds (UTC); IP addresses are text in their canonical form. Referential integrity is
//! kept by the single writer rather than by foreign keys, which would cost a lookup per row.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Migrations, in order; index + 1 is the schema version each one produces.
const MIGRATIONS: &[&str] = &[
    // 1: agents, assets and their facts, observation history, outbox cursors.
    r#"
    CREATE TABLE agents (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL,
        site            TEXT NOT NULL,
        hostname        TEXT NOT NULL DEFAULT '',
        version         TEXT NOT NULL DEFAULT '',
        interfaces      TEXT NOT NULL DEFAULT '[]',   -- JSON, from the agent's last Hello
        first_connected INTEGER NOT NULL,
        last_connected  INTEGER NOT NULL,
        UNIQUE (site, name)
    );

    CREATE TABLE assets (
        mac        INTEGER PRIMARY KEY,                -- EUI-48 as an integer
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    );

    CREATE TABLE asset_addresses (
        mac        INTEGER NOT NULL,
        ip         TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, ip)
    ) WITHOUT ROWID;
    CREATE INDEX asset_addresses_by_ip ON asset_addresses (ip);

    CREATE TABLE asset_hostnames (
        mac        INTEGER NOT NULL,
        hostname   TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, hostname)
    ) WITHOUT ROWID;

    CREATE TABLE asset_services (
        mac          INTEGER NOT NULL,
        service_type TEXT NOT NULL,
        instance     TEXT NOT NULL,
        port         INTEGER NOT NULL,
        txt          TEXT NOT NULL DEFAULT '{}',      -- JSON object, latest announcement
        first_seen   INTEGER NOT NULL,
        last_seen    INTEGER NOT NULL,
        PRIMARY KEY (mac, service_type, instance)
    ) WITHOUT ROWID;

    CREATE TABLE asset_sightings (
        mac        INTEGER NOT NULL,
        agent_id   INTEGER NOT NULL,
        interface  TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, agent_id)
    ) WITHOUT ROWID;

    -- Every observation as received, bounded by the retention settings.
    CREATE TABLE observations (
        id          INTEGER PRIMARY KEY,
        mac         INTEGER NOT NULL,
        agent_id    INTEGER NOT NULL,
        seen_at     INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        source      TEXT NOT NULL,
        interface   TEXT NOT NULL,
        ips         TEXT NOT NULL,                    -- JSON array
        hostname    TEXT,
        services    TEXT                              -- JSON array, NULL when none
    );
    CREATE INDEX observations_by_mac ON observations (mac, seen_at);

    -- Highest committed batch per agent outbox: a batch at or below it is a replay.
    CREATE TABLE outbox_cursors (
        agent_id     INTEGER NOT NULL,
        outbox_id    BLOB NOT NULL,
        sequence     INTEGER NOT NULL,
        committed_at INTEGER NOT NULL,
        PRIMARY KEY (agent_id, outbox_id)
    ) WITHOUT ROWID;

    CREATE VIEW asset_macs AS
        SELECT mac,
               printf('%02x:%02x:%02x:%02x:%02x:%02x',
                      (mac >> 40) & 255, (mac >> 32) & 255, (mac >> 24) & 255,
                      (mac >> 16) & 255, (mac >> 8) & 255, mac & 255) AS mac_text
        FROM assets;
    "#,
    // 2: flags on assets, the approved registry, the hash-chained event log.
    r#"
    ALTER TABLE assets ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE registry (
        mac           INTEGER PRIMARY KEY,
        asset_tag     TEXT NOT NULL DEFAULT '',
        name          TEXT NOT NULL DEFAULT '',
        category      TEXT,                          -- declared; NULL when not given
        location      TEXT NOT NULL DEFAULT '',
        owner         TEXT NOT NULL DEFAULT '',
        criticality   TEXT,
        registered_at INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        source        TEXT NOT NULL,                 -- 'import:<file>' or 'approve'
        unseen_flags  INTEGER NOT NULL DEFAULT 0     -- flags of a registered device never seen
    );

    -- Every change, chained: hash = SHA-256(prev_hash, id, at, mac, kind, details).
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        mac       INTEGER,
        kind      TEXT NOT NULL,
        details   TEXT NOT NULL,                     -- JSON, hashed as stored
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE INDEX events_by_mac ON events (mac, id);
    CREATE INDEX events_by_time ON events (at);

    -- Small counters; registry_generation changes whenever the registry does, so the running
    -- collector knows to reload it.
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('registry_generation', 0);
    "#,
    // 3: the signed seal of the event chain's head, and settings the running collector
    // publishes (the flag rules it computes with, so the command line computes alike).
    r#"
    CREATE TABLE events_seal (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        event_id  INTEGER NOT NULL,
        hash      TEXT NOT NULL,
        signature TEXT NOT NULL                      -- Ed25519 over audit::seal_message, hex
    );

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL                          -- JSON
    );
    "#,
    // 4: protocol details (DHCP fingerprint, SSDP headers, LLDP/CDP, NetBIOS, IPv6 ND), the
    // latest per asset and key, and the detail each observation carried. A service heard only
    // by its TXT record is stored with port 0.
    r#"
    CREATE TABLE asset_details (
        mac        INTEGER NOT NULL,
        kind       TEXT NOT NULL,                    -- dhcp, ssdp, lldp, cdp, netbios, nd
        slot       TEXT NOT NULL,                    -- see hygie_domain::DetailKey
        detail     TEXT NOT NULL,                    -- JSON of hygie_domain::Detail
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, kind, slot)
    ) WITHOUT ROWID;

    ALTER TABLE observations ADD COLUMN detail TEXT;  -- JSON, NULL when none
    "#,
    // 5: the log of the certificates the collector's CA issued (`ca init`, `ca issue-agent`,
    // `ca issue-server`) and their revocations. The running collector refuses revoked serials;
    // revocation_generation changes whenever one is revoked, so it knows to reload them.
    r#"
    CREATE TABLE certificates (
        serial        TEXT PRIMARY KEY,              -- lower-case hex, no colons, no leading 0s
        kind          TEXT NOT NULL,                 -- agent, server
        name          TEXT NOT NULL,                 -- subject CN
        site          TEXT,                          -- subject OU; NULL for a server
        not_before    INTEGER NOT NULL,
        not_after     INTEGER NOT NULL,
        fingerprint   TEXT NOT NULL,                 -- SHA-256 of the DER, hex
        issued_at     INTEGER NOT NULL,
        revoked_at    INTEGER,                       -- NULL while not revoked
        revoke_reason TEXT
    );                                               -- rowid: the order of issue
    CREATE INDEX certificates_by_holder ON certificates (kind, name, site);

    INSERT INTO meta (key, value) VALUES ('revocation_generation', 0);
    "#,
    // 6: sequences below an outbox cursor that were never committed (an agent set the batch
    // aside or evicted it), so that one arriving late is applied, not taken for a duplicate.
    r#"
    ALTER TABLE outbox_cursors ADD COLUMN gaps TEXT NOT NULL DEFAULT '';  -- "3-5,9-9"
    "#,
    // 7: the clinical scan policy. Registry entries marked do-not-probe (at the site they
    // name, or every site); operators' decisions per device (override_generation changes with
    // them, so the running collector knows to reload them); and each site's policy as its
    // agents were last told it, so that versions only grow across restarts (the next one is
    // above max(version)) and `policy show` reads what agents were told.
    r#"
    ALTER TABLE registry ADD COLUMN site TEXT NOT NULL DEFAULT '';           -- '': every site
    ALTER TABLE registry ADD COLUMN do_not_probe INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE probe_overrides (
        mac        INTEGER PRIMARY KEY,
        decision   TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason     TEXT NOT NULL,
        decided_by TEXT NOT NULL,                    -- the OS user who ran the command
        decided_at INTEGER NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('override_generation', 0);

    CREATE TABLE policy_sites (
        site         TEXT PRIMARY KEY,
        version      INTEGER NOT NULL,
        networks     TEXT NOT NULL DEFAULT '[]',     -- JSON array of CIDRs
        passive_only INTEGER NOT NULL DEFAULT 0,     -- too large to send: probe nothing
        published_at INTEGER NOT NULL
    );

    CREATE TABLE policy_devices (
        site      TEXT NOT NULL,
        mac       INTEGER NOT NULL,
        reasons   TEXT NOT NULL,                     -- JSON array: operator, registry, site, biomedical
        addresses TEXT NOT NULL DEFAULT '[]',        -- JSON array, the most recent few
        since     INTEGER NOT NULL,                  -- entered the site's policy
        PRIMARY KEY (site, mac)
    ) WITHOUT ROWID;
    "#,
    // 8: verdicts stored with the asset, so that reads never classify: one row per listed
    // device (a seen asset, or a registered device never seen), written by the writer when
    // the evidence, the registry, the rules or the clock change (see `inventory::verdict`).
    // Indexed for the listing filters; `search` is the lower-case text `--search` looks in.
    // The partial indexes serve `--flag` (bit i of `flags` is flag i of `Flag::ALL`), and
    // `asset_sightings_by_agent` serves `--site`. `settings.verdicts` says which rules and
    // flag windows the rows were computed with, and how far a recomputation has gone.
    r#"
    CREATE TABLE verdicts (
        mac            INTEGER PRIMARY KEY,
        seen           INTEGER NOT NULL,             -- 0: registered, never seen
        vendor         TEXT,                         -- IEEE organization
        category       TEXT NOT NULL,                -- the registry's declaration applied
        kind           TEXT NOT NULL,
        model          TEXT,
        confidence     REAL NOT NULL,
        flags          INTEGER NOT NULL,
        classification TEXT NOT NULL,                -- JSON of hygie_classify::Classification
        search         TEXT NOT NULL,
        computed_at    INTEGER NOT NULL
    );
    CREATE INDEX verdicts_by_category ON verdicts (category, mac);
    CREATE INDEX verdicts_by_kind ON verdicts (kind, mac);
    CREATE INDEX verdicts_by_vendor ON verdicts (vendor, mac);
    CREATE INDEX verdicts_flag_0 ON verdicts (mac) WHERE (flags & 1) != 0;
    CREATE INDEX verdicts_flag_1 ON verdicts (mac) WHERE (flags & 2) != 0;
    CREATE INDEX verdicts_flag_2 ON verdicts (mac) WHERE (flags & 4) != 0;
    CREATE INDEX verdicts_flag_3 ON verdicts (mac) WHERE (flags & 8) != 0;
    CREATE INDEX verdicts_flag_4 ON verdicts (mac) WHERE (flags & 16) != 0;
    CREATE INDEX verdicts_flag_5 ON verdicts (mac) WHERE (flags & 32) != 0;
    CREATE INDEX asset_sightings_by_agent ON asset_sightings (agent_id, mac);
    "#,
    // 9: the web console. Its local accounts (`hygie-collector user`): an argon2id hash in PHC
    // form, a role, and `changed_at`, bumped whenever the password or role changes, which ends
    // the sessions opened before. And the console's chart of assets and unmanaged devices over
    // time: partial indexes holding only the times of the events it counts, so the chart
    // reads a covering index of the events in its window and never the table.
    r#"
    CREATE TABLE users (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL,                    -- viewer, biomed, it, auditor, admin
        password   TEXT NOT NULL,                    -- argon2id, PHC string
        created_at INTEGER NOT NULL,
        changed_at INTEGER NOT NULL
    );
    CREATE INDEX events_asset_new ON events (at) WHERE kind = 'asset_new';
    CREATE INDEX events_unmanaged_raised ON events (at)
        WHERE kind = 'flag_raised' AND details = '{"flag":"unmanaged"}';
    CREATE INDEX events_unmanaged_cleared ON events (at)
        WHERE kind = 'flag_cleared' AND details = '{"flag":"unmanaged"}';
    "#,
    // 10: listings sorted by last or first sighting (`assets --sort`, the console's columns)
    // walk an index of the asset's time; its rowid, the MAC, breaks ties in the same index.
    r#"
    CREATE INDEX assets_by_last_seen ON assets (last_seen);
    CREATE INDEX assets_by_first_seen ON assets (first_seen);
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: usize = MIGRATIONS.len();

/// Brings the database to [`CURRENT_VERSION`], refusing one written by a newer collector.
pub fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found = schema_version(connection)?;
    if found > CURRENT_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            known: CURRENT_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        let version = index + 1;
        let migration = |source| StoreError::Migration { version, source };
        let transaction = connection.transaction().map_err(migration)?;
        transaction.execute_batch(sql).map_err(migration)?;
        transaction
            .pragma_update(
                None,
                "user_version",
                i64::try_from(version).unwrap_or(i64::MAX),
            )
            .map_err(migration)?;
        transaction.commit().map_err(migration)?;
        tracing::info!(version, "inventory schema migrated");
    }
    Ok(())
}

/// The schema version a database is at (0 for a new file).
pub fn schema_version(connection: &Connection) -> Result<usize, StoreError> {
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::sqlite("reading the schema version"))?;
    Ok(usize::try_from(version).unwrap_or(usize::MAX))
}
