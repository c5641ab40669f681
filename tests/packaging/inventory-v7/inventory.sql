-- An inventory database written by the collector of commit df20cfb (schema version 7, the
-- last before migration 8 added the verdicts table), as `sqlite3 inventory.sqlite .dump`
-- printed it. tests/packaging.sh loads it into /var/lib/hygie-collector before upgrading, and
-- the upgraded collector must migrate it on start (user_version 7 -> current) and keep its
-- data. How it was made (README.md beside this file): 24 devices of
-- packaging/examples/facility.jsonl sent by an agent through its file source, the 21 devices
-- of packaging/examples/registry.csv imported, one approved, one denied probing: 61 events,
-- sealed with signing.key beside this file.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
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
INSERT INTO agents VALUES(1,'fixture-agent','chu-fixture','vm','0.1.0','[{"name":"ifb0","mac":"82:df:e8:6e:5d:04","networks":[]},{"name":"ifb1","mac":"b6:a3:e1:36:4f:c1","networks":[]},{"name":"eth0","mac":"02:fc:00:00:00:01","networks":["192.0.2.2/24","fd00::2/64","fe80::fc:ff:fe00:1/64"]}]',1796140157457823,1796140157457823);
CREATE TABLE assets (
        mac        INTEGER PRIMARY KEY,                -- EUI-48 as an integer
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    , flags INTEGER NOT NULL DEFAULT 0);
INSERT INTO assets VALUES(8322621965,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(21895389708,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(40199332353,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(42866909698,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(71086187019,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(77864182279,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(81236402702,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(115864576522,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(118800589331,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(144805274130,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(210018312708,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(277093622289,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(688118637061,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(895317254664,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(13700175045136,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(75090474639875,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(97044317413894,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(141144437629463,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(158835911238164,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(172056105787926,1796140157435242,1796140157435242,5);
INSERT INTO assets VALUES(203015840670223,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(228986685825557,1796140157435242,1796140157435242,4);
INSERT INTO assets VALUES(240385445143064,1796140157435242,1796140157435242,37);
INSERT INTO assets VALUES(247126899630601,1796140157435242,1796140157435242,5);
CREATE TABLE asset_addresses (
        mac        INTEGER NOT NULL,
        ip         TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, ip)
    ) WITHOUT ROWID;
INSERT INTO asset_addresses VALUES(8322621965,'198.18.0.33',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(21895389708,'198.18.0.32',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(40199332353,'198.18.0.11',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(42866909698,'198.18.0.12',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(71086187019,'198.18.0.31',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(77864182279,'198.18.0.17',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(81236402702,'198.18.0.34',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(115864576522,'198.18.0.20',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(118800589331,'198.18.0.52',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(144805274130,'198.18.0.51',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(210018312708,'198.18.0.14',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(277093622289,'198.18.0.43',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(688118637061,'198.18.0.15',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(895317254664,'198.18.0.18',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(13700175045136,'198.18.0.42',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(75090474639875,'198.18.0.13',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(97044317413894,'198.18.0.16',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(141144437629463,'198.18.0.63',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(158835911238164,'198.18.0.53',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(172056105787926,'198.18.0.62',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(203015840670223,'198.18.0.41',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(228986685825557,'198.18.0.61',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(240385445143064,'198.18.0.99',1796140157435242,1796140157435242);
INSERT INTO asset_addresses VALUES(247126899630601,'198.18.0.19',1796140157435242,1796140157435242);
CREATE TABLE asset_hostnames (
        mac        INTEGER NOT NULL,
        hostname   TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, hostname)
    ) WITHOUT ROWID;
INSERT INTO asset_hostnames VALUES(8322621965,'niagara-jace',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(21895389708,'desigo-pxc',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(40199332353,'mon-icu-01',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(42866909698,'mon-icu-02',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(71086187019,'jci-nae-01',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(77864182279,'spaceplus-01',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(81236402702,'trane-tracer',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(115864576522,'connex-vsm',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(118800589331,'brother-admissions',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(144805274130,'lexmark-ward3',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(210018312708,'vent-rea-1',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(277093622289,'badge-reader-b2',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(688118637061,'mindray-bs-01',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(895317254664,'alaris-gw',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(13700175045136,'cam-parking',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(75090474639875,'carescape-b450',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(97044317413894,'pump-baxter-7',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(141144437629463,'phone-ward3',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(158835911238164,'zebra-lab-labels',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(172056105787926,'ws-pharmacy',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(203015840670223,'axis-cam-hall',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(228986685825557,'ws-nurse-station-3',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(240385445143064,'visitor-phone',1796140157435242,1796140157435242);
INSERT INTO asset_hostnames VALUES(247126899630601,'masimo-root-3',1796140157435242,1796140157435242);
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
INSERT INTO asset_services VALUES(8322621965,'_http._tcp.local.','JACE-8000._http._tcp.local.',80,'{}',1796140157435242,1796140157435242);
INSERT INTO asset_services VALUES(40199332353,'_philips-mon._tcp.local.','MON-ICU-01._philips-mon._tcp.local.',24105,'{"md":"IntelliVue MX450"}',1796140157435242,1796140157435242);
INSERT INTO asset_services VALUES(118800589331,'_ipp._tcp.local.','Brother HL-L2350DW._ipp._tcp.local.',631,'{"ty":"Brother HL-L2350DW series"}',1796140157435242,1796140157435242);
INSERT INTO asset_services VALUES(144805274130,'_ipp._tcp.local.','Lexmark MX622 Ward 3._ipp._tcp.local.',631,'{"ty":"Lexmark MX622ade","usb_MFG":"Lexmark"}',1796140157435242,1796140157435242);
INSERT INTO asset_services VALUES(203015840670223,'_axis-video._tcp.local.','AXIS P3245 - hall._axis-video._tcp.local.',80,'{"macaddress":"B8A44F11220F"}',1796140157435242,1796140157435242);
CREATE TABLE asset_sightings (
        mac        INTEGER NOT NULL,
        agent_id   INTEGER NOT NULL,
        interface  TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, agent_id)
    ) WITHOUT ROWID;
INSERT INTO asset_sightings VALUES(8322621965,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(21895389708,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(40199332353,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(42866909698,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(71086187019,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(77864182279,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(81236402702,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(115864576522,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(118800589331,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(144805274130,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(210018312708,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(277093622289,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(688118637061,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(895317254664,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(13700175045136,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(75090474639875,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(97044317413894,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(141144437629463,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(158835911238164,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(172056105787926,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(203015840670223,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(228986685825557,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(240385445143064,1,'eth0',1796140157435242,1796140157435242);
INSERT INTO asset_sightings VALUES(247126899630601,1,'eth0',1796140157435242,1796140157435242);
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
    , detail TEXT);
INSERT INTO observations VALUES(1,40199332353,1,1796140157435242,1796140158037167,'mdns','eth0','["198.18.0.11"]','mon-icu-01','[{"instance":"MON-ICU-01._philips-mon._tcp.local.","service_type":"_philips-mon._tcp.local.","port":24105,"txt":{"md":"IntelliVue MX450"}}]',NULL);
INSERT INTO observations VALUES(2,42866909698,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.12"]','mon-icu-02',NULL,NULL);
INSERT INTO observations VALUES(3,75090474639875,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.13"]','carescape-b450',NULL,NULL);
INSERT INTO observations VALUES(4,210018312708,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.14"]','vent-rea-1',NULL,NULL);
INSERT INTO observations VALUES(5,688118637061,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.15"]','mindray-bs-01',NULL,NULL);
INSERT INTO observations VALUES(6,97044317413894,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.16"]','pump-baxter-7',NULL,NULL);
INSERT INTO observations VALUES(7,77864182279,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.17"]','spaceplus-01',NULL,NULL);
INSERT INTO observations VALUES(8,895317254664,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.18"]','alaris-gw',NULL,NULL);
INSERT INTO observations VALUES(9,247126899630601,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.19"]','masimo-root-3',NULL,NULL);
INSERT INTO observations VALUES(10,115864576522,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.20"]','connex-vsm',NULL,NULL);
INSERT INTO observations VALUES(11,71086187019,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.31"]','jci-nae-01',NULL,NULL);
INSERT INTO observations VALUES(12,21895389708,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.32"]','desigo-pxc',NULL,NULL);
INSERT INTO observations VALUES(13,8322621965,1,1796140157435242,1796140158037167,'mdns','eth0','["198.18.0.33"]','niagara-jace','[{"instance":"JACE-8000._http._tcp.local.","service_type":"_http._tcp.local.","port":80}]',NULL);
INSERT INTO observations VALUES(14,81236402702,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.34"]','trane-tracer',NULL,NULL);
INSERT INTO observations VALUES(15,203015840670223,1,1796140157435242,1796140158037167,'mdns','eth0','["198.18.0.41"]','axis-cam-hall','[{"instance":"AXIS P3245 - hall._axis-video._tcp.local.","service_type":"_axis-video._tcp.local.","port":80,"txt":{"macaddress":"B8A44F11220F"}}]',NULL);
INSERT INTO observations VALUES(16,13700175045136,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.42"]','cam-parking',NULL,NULL);
INSERT INTO observations VALUES(17,277093622289,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.43"]','badge-reader-b2',NULL,NULL);
INSERT INTO observations VALUES(18,144805274130,1,1796140157435242,1796140158037167,'mdns','eth0','["198.18.0.51"]','lexmark-ward3','[{"instance":"Lexmark MX622 Ward 3._ipp._tcp.local.","service_type":"_ipp._tcp.local.","port":631,"txt":{"ty":"Lexmark MX622ade","usb_MFG":"Lexmark"}}]',NULL);
INSERT INTO observations VALUES(19,118800589331,1,1796140157435242,1796140158037167,'mdns','eth0','["198.18.0.52"]','brother-admissions','[{"instance":"Brother HL-L2350DW._ipp._tcp.local.","service_type":"_ipp._tcp.local.","port":631,"txt":{"ty":"Brother HL-L2350DW series"}}]',NULL);
INSERT INTO observations VALUES(20,158835911238164,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.53"]','zebra-lab-labels',NULL,NULL);
INSERT INTO observations VALUES(21,228986685825557,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.61"]','ws-nurse-station-3',NULL,NULL);
INSERT INTO observations VALUES(22,172056105787926,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.62"]','ws-pharmacy',NULL,NULL);
INSERT INTO observations VALUES(23,141144437629463,1,1796140157435242,1796140158037167,'arp_passive','eth0','["198.18.0.63"]','phone-ward3',NULL,NULL);
INSERT INTO observations VALUES(24,240385445143064,1,1796140157435242,1796140158037167,'mdns','eth0','["198.18.0.99"]','visitor-phone',NULL,NULL);
CREATE TABLE outbox_cursors (
        agent_id     INTEGER NOT NULL,
        outbox_id    BLOB NOT NULL,
        sequence     INTEGER NOT NULL,
        committed_at INTEGER NOT NULL, gaps TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (agent_id, outbox_id)
    ) WITHOUT ROWID;
INSERT INTO outbox_cursors VALUES(1,X'5887868c4e4666ab941a31e5e47b2a5e',1,1796140158037327,'');
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
    , site TEXT NOT NULL DEFAULT '', do_not_probe INTEGER NOT NULL DEFAULT 0);
INSERT INTO registry VALUES(8322621965,'BLD-0052','Niagara JACE','building','Plant room B','Facilities','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(21895389708,'BLD-0044','Desigo PXC air handler','building','Roof plant','Facilities','high',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(40199332353,'BIO-00412','IntelliVue MX800 ICU bed 1','biomedical','ICU bed 1','Biomedical engineering','life_critical',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(40199332505,'BIO-00921','PageWriter TC70 ECG cart','biomedical','Cardiology','Biomedical engineering','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(42866909698,'BIO-00413','IntelliVue MX800 ICU bed 2','biomedical','ICU bed 2','Biomedical engineering','life_critical',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(71086187019,'BLD-0031','Metasys NAE','building','Plant room B','Facilities','high',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(77864182279,'BIO-01150','Space infusion station','biomedical','ICU bed 3','Biomedical engineering','high',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(81236402702,'BLD-0061','Tracer chiller controller','building','Roof plant','Facilities','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(115864576522,'BIO-00854','Connex vital signs monitor','biomedical','Ward 3 corridor','Biomedical engineering','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(118800589331,'IT-P-0117','Admissions printer','it','Admissions','IT service desk','low',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(144805274130,'IT-P-0301','Ward 3 printer','it','Ward 3 office','IT service desk','low',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(210018312708,'BIO-00231','Evita V500 ventilator','biomedical','Intensive care bay 1','Biomedical engineering','life_critical',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(277093622289,'SEC-0019','Badge reader block B','building','Block B entrance','Security','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(688118637061,'BIO-00690','BeneVision N12','biomedical','Step-down unit bed 4','Biomedical engineering','high',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(895317254664,'BIO-01177','Alaris gateway','biomedical','ICU server room','Biomedical engineering','high',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(13700175045136,'BLD-0101','Parking camera','building','Car park','',NULL,1796140175134079,1796140175134079,'approve',0,'',0);
INSERT INTO registry VALUES(75090474639875,'BIO-00577','CARESCAPE B450','biomedical','Recovery room 2','Biomedical engineering','life_critical',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(97044317413894,'BIO-01102','Sigma Spectrum pump','biomedical','Oncology day unit','Biomedical engineering','high',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(141144437629463,'IT-T-2210','Ward 3 phone','it','Ward 3 office','IT service desk','low',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(158835911238164,'IT-P-0420','Lab label printer','it','Laboratory','IT service desk','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(203015840670223,'SEC-0007','Main hall camera','building','Main hall','Security','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
INSERT INTO registry VALUES(228986685825557,'IT-W-1033','Nurse station 3 workstation','it','Ward 3 nurse station','IT service desk','medium',1796140154960597,1796140154960597,'import:registry.csv',0,'',0);
CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        mac       INTEGER,
        kind      TEXT NOT NULL,
        details   TEXT NOT NULL,                     -- JSON, hashed as stored
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
INSERT INTO events VALUES(1,1796140154580175,NULL,'certificate_issued','{"serial":"41460405302f995e166f1cd6e329e457","kind":"server","name":"localhost","not_before":"2026-12-01T14:49:14Z","not_after":"2029-03-05T15:49:14Z","fingerprint":"1d708effbee67e3e1a4d16e9da0a4b9a20a83acac8137eaecb90986f37ece651"}','0000000000000000000000000000000000000000000000000000000000000000','211262bc8c55d1a3070fd02858befa29523633b089cbe2b0564e0d4410b8056a');
INSERT INTO events VALUES(2,1796140154871992,NULL,'certificate_issued','{"serial":"1bd9225346404a1ba91cafe4b7c976ac","kind":"agent","name":"fixture-agent","site":"chu-fixture","not_before":"2026-12-01T14:49:14Z","not_after":"2029-03-05T15:49:14Z","fingerprint":"99f9c9fdc48a622794f4118ca79ed8d643c9b1d3c36bbdeabace1ea2e5e98013"}','211262bc8c55d1a3070fd02858befa29523633b089cbe2b0564e0d4410b8056a','a8733f8ba8776948c31a61bf914dffe7fdc80c777f56fd3d3dae0f9c00826e62');
INSERT INTO events VALUES(3,1796140154960597,40199332353,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00412","name":"IntelliVue MX800 ICU bed 1","category":"biomedical","location":"ICU bed 1","owner":"Biomedical engineering","criticality":"life_critical"}}','a8733f8ba8776948c31a61bf914dffe7fdc80c777f56fd3d3dae0f9c00826e62','e5956a22417615a00229a8b8563695a30d0ea79ce4bac01a8af721e4fd774e75');
INSERT INTO events VALUES(4,1796140154960597,42866909698,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00413","name":"IntelliVue MX800 ICU bed 2","category":"biomedical","location":"ICU bed 2","owner":"Biomedical engineering","criticality":"life_critical"}}','e5956a22417615a00229a8b8563695a30d0ea79ce4bac01a8af721e4fd774e75','ad9bfb9bee4415448f81c2e5cf68f1f5796e55dd271fad3a0211e2f87c454ac1');
INSERT INTO events VALUES(5,1796140154960597,75090474639875,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00577","name":"CARESCAPE B450","category":"biomedical","location":"Recovery room 2","owner":"Biomedical engineering","criticality":"life_critical"}}','ad9bfb9bee4415448f81c2e5cf68f1f5796e55dd271fad3a0211e2f87c454ac1','d730455c26293ba0520869055f00bcc96350270a1a07c98da2dfc460509ef698');
INSERT INTO events VALUES(6,1796140154960597,210018312708,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00231","name":"Evita V500 ventilator","category":"biomedical","location":"Intensive care bay 1","owner":"Biomedical engineering","criticality":"life_critical"}}','d730455c26293ba0520869055f00bcc96350270a1a07c98da2dfc460509ef698','7a35ea379d45842fb8997fc6670d7ecad2bb89d1140f59d3f9e1069aa6d4d85f');
INSERT INTO events VALUES(7,1796140154960597,688118637061,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00690","name":"BeneVision N12","category":"biomedical","location":"Step-down unit bed 4","owner":"Biomedical engineering","criticality":"high"}}','7a35ea379d45842fb8997fc6670d7ecad2bb89d1140f59d3f9e1069aa6d4d85f','7b835d674f06c3a2dd51ec9d23860319df6f4726d904f230f125627ed6d17621');
INSERT INTO events VALUES(8,1796140154960597,97044317413894,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-01102","name":"Sigma Spectrum pump","category":"biomedical","location":"Oncology day unit","owner":"Biomedical engineering","criticality":"high"}}','7b835d674f06c3a2dd51ec9d23860319df6f4726d904f230f125627ed6d17621','8106e2a29715e9f92c41a3c39b669192eff11c8f4c0bdd112c2d56d26bc97e25');
INSERT INTO events VALUES(9,1796140154960597,77864182279,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-01150","name":"Space infusion station","category":"biomedical","location":"ICU bed 3","owner":"Biomedical engineering","criticality":"high"}}','8106e2a29715e9f92c41a3c39b669192eff11c8f4c0bdd112c2d56d26bc97e25','a57e049eef95281f220f414ce3866756fa53bf4f653e7a1ed1d5531e9bb3db04');
INSERT INTO events VALUES(10,1796140154960597,895317254664,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-01177","name":"Alaris gateway","category":"biomedical","location":"ICU server room","owner":"Biomedical engineering","criticality":"high"}}','a57e049eef95281f220f414ce3866756fa53bf4f653e7a1ed1d5531e9bb3db04','f3792a3830a406a8490ee646b7e9422217183067337091d5fc02812ab7c2622c');
INSERT INTO events VALUES(11,1796140154960597,115864576522,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00854","name":"Connex vital signs monitor","category":"biomedical","location":"Ward 3 corridor","owner":"Biomedical engineering","criticality":"medium"}}','f3792a3830a406a8490ee646b7e9422217183067337091d5fc02812ab7c2622c','16ebb7922c587a66ecb564cbb689d21a89ef9c91b9da656f34f87991c8c79459');
INSERT INTO events VALUES(12,1796140154960597,40199332505,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BIO-00921","name":"PageWriter TC70 ECG cart","category":"biomedical","location":"Cardiology","owner":"Biomedical engineering","criticality":"medium"}}','16ebb7922c587a66ecb564cbb689d21a89ef9c91b9da656f34f87991c8c79459','9852008bffb6678bc49b6f6377a3286053d186314e5848245e41c15488397b30');
INSERT INTO events VALUES(13,1796140154960597,71086187019,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BLD-0031","name":"Metasys NAE","category":"building","location":"Plant room B","owner":"Facilities","criticality":"high"}}','9852008bffb6678bc49b6f6377a3286053d186314e5848245e41c15488397b30','025f0b1bf7099c8bd890b9c118e7c4500274984b97fecd68eb8060ebbcef8197');
INSERT INTO events VALUES(14,1796140154960597,21895389708,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BLD-0044","name":"Desigo PXC air handler","category":"building","location":"Roof plant","owner":"Facilities","criticality":"high"}}','025f0b1bf7099c8bd890b9c118e7c4500274984b97fecd68eb8060ebbcef8197','8e9873510a5c3b9bd03267356f56574d1c897a398c6a5d2df84b278fe91fb875');
INSERT INTO events VALUES(15,1796140154960597,8322621965,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BLD-0052","name":"Niagara JACE","category":"building","location":"Plant room B","owner":"Facilities","criticality":"medium"}}','8e9873510a5c3b9bd03267356f56574d1c897a398c6a5d2df84b278fe91fb875','5cf7c20feb4c1cc4b659b687c4700b290b16087645925b85628068623c6ea6f2');
INSERT INTO events VALUES(16,1796140154960597,81236402702,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"BLD-0061","name":"Tracer chiller controller","category":"building","location":"Roof plant","owner":"Facilities","criticality":"medium"}}','5cf7c20feb4c1cc4b659b687c4700b290b16087645925b85628068623c6ea6f2','a4265d0d3496d690a89939338ca0a9f0f2a866c5c021b0c1fa4c1069d894a39b');
INSERT INTO events VALUES(17,1796140154960597,203015840670223,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"SEC-0007","name":"Main hall camera","category":"building","location":"Main hall","owner":"Security","criticality":"medium"}}','a4265d0d3496d690a89939338ca0a9f0f2a866c5c021b0c1fa4c1069d894a39b','051f20dfeaa60cd90cdb30e38251618077f202370eaaccb02446dd26d4992e76');
INSERT INTO events VALUES(18,1796140154960597,277093622289,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"SEC-0019","name":"Badge reader block B","category":"building","location":"Block B entrance","owner":"Security","criticality":"medium"}}','051f20dfeaa60cd90cdb30e38251618077f202370eaaccb02446dd26d4992e76','a43a650ee327215c79d73b25b1cf329c1a39cf9925b057dd17a4bdb37ea98127');
INSERT INTO events VALUES(19,1796140154960597,144805274130,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"IT-P-0301","name":"Ward 3 printer","category":"it","location":"Ward 3 office","owner":"IT service desk","criticality":"low"}}','a43a650ee327215c79d73b25b1cf329c1a39cf9925b057dd17a4bdb37ea98127','5134124c237eded54411e8352e5e10938cca69b3aa6edcdc4de13fb840cd7640');
INSERT INTO events VALUES(20,1796140154960597,118800589331,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"IT-P-0117","name":"Admissions printer","category":"it","location":"Admissions","owner":"IT service desk","criticality":"low"}}','5134124c237eded54411e8352e5e10938cca69b3aa6edcdc4de13fb840cd7640','14002357ea58bd671b26b35b66a02e7404b3c4b9f16025e5c2f47e182aa8f4f8');
INSERT INTO events VALUES(21,1796140154960597,158835911238164,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"IT-P-0420","name":"Lab label printer","category":"it","location":"Laboratory","owner":"IT service desk","criticality":"medium"}}','14002357ea58bd671b26b35b66a02e7404b3c4b9f16025e5c2f47e182aa8f4f8','1a4e68954e0bc20154c6228754095fa3a49a2dfa7617b77441a85327541e9cdf');
INSERT INTO events VALUES(22,1796140154960597,228986685825557,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"IT-W-1033","name":"Nurse station 3 workstation","category":"it","location":"Ward 3 nurse station","owner":"IT service desk","criticality":"medium"}}','1a4e68954e0bc20154c6228754095fa3a49a2dfa7617b77441a85327541e9cdf','aa5d4573f88f21d9beac3fa4868f09263ce04198718445feaf514c80d3d71fb7');
INSERT INTO events VALUES(23,1796140154960597,141144437629463,'registry_added','{"source":"import:registry.csv","after":{"asset_tag":"IT-T-2210","name":"Ward 3 phone","category":"it","location":"Ward 3 office","owner":"IT service desk","criticality":"low"}}','aa5d4573f88f21d9beac3fa4868f09263ce04198718445feaf514c80d3d71fb7','d1ef965a22a66de690b08262fb7d7fb8a6783723a572b4219003904794539701');
INSERT INTO events VALUES(24,1796140158037327,8322621965,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.33"],"hostnames":["niagara-jace"],"flags":["new"]}','d1ef965a22a66de690b08262fb7d7fb8a6783723a572b4219003904794539701','ca7e4c351667ef0e4956f39433b9ca2c34e608bae6f2e6b9362331c494678c5a');
INSERT INTO events VALUES(25,1796140158037327,21895389708,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.32"],"hostnames":["desigo-pxc"],"flags":["new"]}','ca7e4c351667ef0e4956f39433b9ca2c34e608bae6f2e6b9362331c494678c5a','8683f86ddaf6753c2e8aa66cb5050cc4ce5d84fc9b26a24899da9212f9ef35d8');
INSERT INTO events VALUES(26,1796140158037327,40199332353,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.11"],"hostnames":["mon-icu-01"],"flags":["new"]}','8683f86ddaf6753c2e8aa66cb5050cc4ce5d84fc9b26a24899da9212f9ef35d8','c130f9f5f3d381158e84ff5d72c80dc0a3578719a1418b46fcc6920e89625e48');
INSERT INTO events VALUES(27,1796140158037327,42866909698,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.12"],"hostnames":["mon-icu-02"],"flags":["new"]}','c130f9f5f3d381158e84ff5d72c80dc0a3578719a1418b46fcc6920e89625e48','e948dd8c20913dfef7305ac981f95de8cedb8e83a78275364b2dce5cbd134dfd');
INSERT INTO events VALUES(28,1796140158037327,71086187019,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.31"],"hostnames":["jci-nae-01"],"flags":["new"]}','e948dd8c20913dfef7305ac981f95de8cedb8e83a78275364b2dce5cbd134dfd','5cc57c184fba20e91d6a053e5986d3dddcecb6edd9b46b0dfb91fad6080428d8');
INSERT INTO events VALUES(29,1796140158037327,77864182279,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.17"],"hostnames":["spaceplus-01"],"flags":["new"]}','5cc57c184fba20e91d6a053e5986d3dddcecb6edd9b46b0dfb91fad6080428d8','5eda2f6fdca1d7ccd59966949aa0fbbe716f4cbce36985fc16afafa3e73d28aa');
INSERT INTO events VALUES(30,1796140158037327,81236402702,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.34"],"hostnames":["trane-tracer"],"flags":["new"]}','5eda2f6fdca1d7ccd59966949aa0fbbe716f4cbce36985fc16afafa3e73d28aa','5d340180981b5fc2e624d04025b0067de437ab49c25bc5ffdad001a3cce5ee14');
INSERT INTO events VALUES(31,1796140158037327,115864576522,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.20"],"hostnames":["connex-vsm"],"flags":["new"]}','5d340180981b5fc2e624d04025b0067de437ab49c25bc5ffdad001a3cce5ee14','ba7e7dcc09c65a1b2c96159eb91c7fd1529f4008934f94048da7699baee50db9');
INSERT INTO events VALUES(32,1796140158037327,118800589331,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.52"],"hostnames":["brother-admissions"],"flags":["new"]}','ba7e7dcc09c65a1b2c96159eb91c7fd1529f4008934f94048da7699baee50db9','d95d51bdd6e51910fece3c431a72ac084ac001dadcd9af9c5bcbf5bd96bc50d7');
INSERT INTO events VALUES(33,1796140158037327,144805274130,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.51"],"hostnames":["lexmark-ward3"],"flags":["new"]}','d95d51bdd6e51910fece3c431a72ac084ac001dadcd9af9c5bcbf5bd96bc50d7','196d1067a138cd109c56ea3899ea9a522f78296643767f7ec62be6da19424def');
INSERT INTO events VALUES(34,1796140158037327,210018312708,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.14"],"hostnames":["vent-rea-1"],"flags":["new"]}','196d1067a138cd109c56ea3899ea9a522f78296643767f7ec62be6da19424def','5117007d84deb151b426800296e4148ff6ccd5600c0bff95da3a05f4bddcc9ea');
INSERT INTO events VALUES(35,1796140158037327,277093622289,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.43"],"hostnames":["badge-reader-b2"],"flags":["new"]}','5117007d84deb151b426800296e4148ff6ccd5600c0bff95da3a05f4bddcc9ea','62d8370d93293fa36cbc3405946d257afda5847ccc7969fd51db7af0708075ad');
INSERT INTO events VALUES(36,1796140158037327,688118637061,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.15"],"hostnames":["mindray-bs-01"],"flags":["new"]}','62d8370d93293fa36cbc3405946d257afda5847ccc7969fd51db7af0708075ad','e774c3ee9891927d041ec53ae5a5e133c102e46cccaebc259a2345681fa2ca87');
INSERT INTO events VALUES(37,1796140158037327,895317254664,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.18"],"hostnames":["alaris-gw"],"flags":["new"]}','e774c3ee9891927d041ec53ae5a5e133c102e46cccaebc259a2345681fa2ca87','3ab2627a17513b8473094cf1cd68db5ba3e310255f79ca2cf6a02e5cca579b89');
INSERT INTO events VALUES(38,1796140158037327,13700175045136,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.42"],"hostnames":["cam-parking"],"flags":["unmanaged","new"]}','3ab2627a17513b8473094cf1cd68db5ba3e310255f79ca2cf6a02e5cca579b89','892cc2a5fc19dedb896457bfbf6fcddf49f74f8060663ed253914ad4141d2afe');
INSERT INTO events VALUES(39,1796140158037327,75090474639875,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.13"],"hostnames":["carescape-b450"],"flags":["new"]}','892cc2a5fc19dedb896457bfbf6fcddf49f74f8060663ed253914ad4141d2afe','eb6228902532a752ed6be2590d38acc0005edb13cc1b1d23c5af8c7d244ac15a');
INSERT INTO events VALUES(40,1796140158037327,97044317413894,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.16"],"hostnames":["pump-baxter-7"],"flags":["new"]}','eb6228902532a752ed6be2590d38acc0005edb13cc1b1d23c5af8c7d244ac15a','dc30822d443b7a3091e3e0022a991204220d87c945c6cee95da5addfe8af6ce6');
INSERT INTO events VALUES(41,1796140158037327,141144437629463,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.63"],"hostnames":["phone-ward3"],"flags":["new"]}','dc30822d443b7a3091e3e0022a991204220d87c945c6cee95da5addfe8af6ce6','c67bc3e9fddc679dfdf3bb179a934a898902680345d5e3febffc5d58bd10f866');
INSERT INTO events VALUES(42,1796140158037327,158835911238164,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.53"],"hostnames":["zebra-lab-labels"],"flags":["new"]}','c67bc3e9fddc679dfdf3bb179a934a898902680345d5e3febffc5d58bd10f866','f656b4d6efc86b8e58b83367a5b4ca3d19ea48cf1fd5e8921da4f4634f6cce2d');
INSERT INTO events VALUES(43,1796140158037327,172056105787926,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.62"],"hostnames":["ws-pharmacy"],"flags":["unmanaged","new"]}','f656b4d6efc86b8e58b83367a5b4ca3d19ea48cf1fd5e8921da4f4634f6cce2d','4638fd9e634b0ed377ebd56ad41c93c80daa0309f90fac77d0ede6ff8b9c74be');
INSERT INTO events VALUES(44,1796140158037327,203015840670223,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.41"],"hostnames":["axis-cam-hall"],"flags":["new"]}','4638fd9e634b0ed377ebd56ad41c93c80daa0309f90fac77d0ede6ff8b9c74be','adb3f0df139ad1c7079b941b05dce63c7542a04c56176a2b4b63b5aac6322d5a');
INSERT INTO events VALUES(45,1796140158037327,228986685825557,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.61"],"hostnames":["ws-nurse-station-3"],"flags":["new"]}','adb3f0df139ad1c7079b941b05dce63c7542a04c56176a2b4b63b5aac6322d5a','cf5e9538640e9561f7bf20a1d90e7c59c0920822e48a16afda08a0ad77188731');
INSERT INTO events VALUES(46,1796140158037327,240385445143064,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.99"],"hostnames":["visitor-phone"],"flags":["unmanaged","new","randomized_mac"]}','cf5e9538640e9561f7bf20a1d90e7c59c0920822e48a16afda08a0ad77188731','a198e8dc8a834598bbadac45d70112c6f10907737fec10260b627d26d11dfdaa');
INSERT INTO events VALUES(47,1796140158037327,247126899630601,'asset_new','{"seen_at":"2026-12-01T15:49:17.435242832Z","ips":["198.18.0.19"],"hostnames":["masimo-root-3"],"flags":["unmanaged","new"]}','a198e8dc8a834598bbadac45d70112c6f10907737fec10260b627d26d11dfdaa','0235b678479ac120a74b441625d64243bfecdbfa8fd123b9af00f0bbb9740871');
INSERT INTO events VALUES(48,1796140158037327,40199332353,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','0235b678479ac120a74b441625d64243bfecdbfa8fd123b9af00f0bbb9740871','d42b6f881d78e884148649e57693763f28d0299db0ddf64ff5cba0234b86fd23');
INSERT INTO events VALUES(49,1796140158037327,42866909698,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','d42b6f881d78e884148649e57693763f28d0299db0ddf64ff5cba0234b86fd23','46a1553fd1c58f1a8f2c324fe63845e9c793daeb9eabe0f6d735248a19c5e406');
INSERT INTO events VALUES(50,1796140158037327,77864182279,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','46a1553fd1c58f1a8f2c324fe63845e9c793daeb9eabe0f6d735248a19c5e406','e2114cfefacfa4a4fcbc571cfa0c79d5c36db053678494acdf47996c72355d67');
INSERT INTO events VALUES(51,1796140158037327,115864576522,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','e2114cfefacfa4a4fcbc571cfa0c79d5c36db053678494acdf47996c72355d67','c08bf75fcdd26706bff8761dbd069b4253af59511afe0dd8775c207984e0f27c');
INSERT INTO events VALUES(52,1796140158037327,210018312708,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','c08bf75fcdd26706bff8761dbd069b4253af59511afe0dd8775c207984e0f27c','36a64d8d389e3f09c9eb3530275becadbb65e8da501061f02ca5bda183ce3fdd');
INSERT INTO events VALUES(53,1796140158037327,688118637061,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','36a64d8d389e3f09c9eb3530275becadbb65e8da501061f02ca5bda183ce3fdd','29f31a9035aec581e69c4bd863271cb7c6e8c280faa02caa53f61387aea670f5');
INSERT INTO events VALUES(54,1796140158037327,895317254664,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','29f31a9035aec581e69c4bd863271cb7c6e8c280faa02caa53f61387aea670f5','d613ffb12a9f600f0cc235b482c1a080ea3bde5d79078e285a9ee4910ac52bce');
INSERT INTO events VALUES(55,1796140158037327,75090474639875,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','d613ffb12a9f600f0cc235b482c1a080ea3bde5d79078e285a9ee4910ac52bce','326fa4592a73df07977b8e015071ecb035a8c9bdf47545ff908ccaa0b387581d');
INSERT INTO events VALUES(56,1796140158037327,97044317413894,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','326fa4592a73df07977b8e015071ecb035a8c9bdf47545ff908ccaa0b387581d','074bc57b8e7c6c19c6e2f7459369af336a910b1da2f30d1c0fa2c1ddd0f6794e');
INSERT INTO events VALUES(57,1796140158037327,247126899630601,'probing_forbidden','{"site":"chu-fixture","reason":"biomedical","reasons":["biomedical"]}','074bc57b8e7c6c19c6e2f7459369af336a910b1da2f30d1c0fa2c1ddd0f6794e','40d7d950a1e3d4a87d900193c359c6736da9d2611d42ed3cc934a943d802782f');
INSERT INTO events VALUES(58,1796140175134079,13700175045136,'registry_added','{"source":"approve","after":{"asset_tag":"BLD-0101","name":"Parking camera","category":"building","location":"Car park"}}','40d7d950a1e3d4a87d900193c359c6736da9d2611d42ed3cc934a943d802782f','728ef986838887236f0822f4b4bd091443a42ab6815f0853ef5eb936a601a68a');
INSERT INTO events VALUES(59,1796140175219324,172056105787926,'probing_denied','{"reason":"pharmacy workstation: never probe","by":"root"}','728ef986838887236f0822f4b4bd091443a42ab6815f0853ef5eb936a601a68a','c9bab52906a7597864f7dda6d36363ff72d8f6a4077446bfc138da275b9240aa');
INSERT INTO events VALUES(60,1796140177094714,13700175045136,'flag_cleared','{"flag":"unmanaged"}','c9bab52906a7597864f7dda6d36363ff72d8f6a4077446bfc138da275b9240aa','0f86cc056557c0c181218fe9363d4e20b221fe320e497a50af2201c5079b9c96');
INSERT INTO events VALUES(61,1796140177094714,172056105787926,'probing_forbidden','{"site":"chu-fixture","reason":"operator","reasons":["operator"]}','0f86cc056557c0c181218fe9363d4e20b221fe320e497a50af2201c5079b9c96','070a54a46ad0f81ed5e43217fe57357d75e06c3b454fa8e459f5553048d5d85a');
CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
INSERT INTO meta VALUES('registry_generation',2);
INSERT INTO meta VALUES('revocation_generation',0);
INSERT INTO meta VALUES('override_generation',1);
CREATE TABLE events_seal (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        event_id  INTEGER NOT NULL,
        hash      TEXT NOT NULL,
        signature TEXT NOT NULL                      -- Ed25519 over audit::seal_message, hex
    );
INSERT INTO events_seal VALUES(1,61,'070a54a46ad0f81ed5e43217fe57357d75e06c3b454fa8e459f5553048d5d85a','6e80673cc8b4832813265bd571569561530bb5889d76cca74581487c06973802bab73f3e0472bc68467e787a67be9be0ef408199c56bb2089e6aef034e506c08');
CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL                          -- JSON
    );
INSERT INTO settings VALUES('flag_rules','{"stale_after":"PT720H","new_window":"PT168H","ip_change_window":"PT24H","conflict_window":"PT10M","conflict_hold":"PT24H","gateways":[]}');
CREATE TABLE asset_details (
        mac        INTEGER NOT NULL,
        kind       TEXT NOT NULL,                    -- dhcp, ssdp, lldp, cdp, netbios, nd
        slot       TEXT NOT NULL,                    -- see hygie_domain::DetailKey
        detail     TEXT NOT NULL,                    -- JSON of hygie_domain::Detail
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (mac, kind, slot)
    ) WITHOUT ROWID;
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
    );
INSERT INTO certificates VALUES('41460405302f995e166f1cd6e329e457','server','localhost',NULL,1796136554000000,1867420154000000,'1d708effbee67e3e1a4d16e9da0a4b9a20a83acac8137eaecb90986f37ece651',1796140154580175,NULL,NULL);
INSERT INTO certificates VALUES('1bd9225346404a1ba91cafe4b7c976ac','agent','fixture-agent','chu-fixture',1796136554000000,1867420154000000,'99f9c9fdc48a622794f4118ca79ed8d643c9b1d3c36bbdeabace1ea2e5e98013',1796140154871992,NULL,NULL);
CREATE TABLE probe_overrides (
        mac        INTEGER PRIMARY KEY,
        decision   TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason     TEXT NOT NULL,
        decided_by TEXT NOT NULL,                    -- the OS user who ran the command
        decided_at INTEGER NOT NULL
    );
INSERT INTO probe_overrides VALUES(172056105787926,'deny','pharmacy workstation: never probe','root',1796140175219324);
CREATE TABLE policy_sites (
        site         TEXT PRIMARY KEY,
        version      INTEGER NOT NULL,
        networks     TEXT NOT NULL DEFAULT '[]',     -- JSON array of CIDRs
        passive_only INTEGER NOT NULL DEFAULT 0,     -- too large to send: probe nothing
        published_at INTEGER NOT NULL
    );
INSERT INTO policy_sites VALUES('chu-fixture',3,'[]',0,1796140177094714);
CREATE TABLE policy_devices (
        site      TEXT NOT NULL,
        mac       INTEGER NOT NULL,
        reasons   TEXT NOT NULL,                     -- JSON array: operator, registry, site, biomedical
        addresses TEXT NOT NULL DEFAULT '[]',        -- JSON array, the most recent few
        since     INTEGER NOT NULL,                  -- entered the site's policy
        PRIMARY KEY (site, mac)
    ) WITHOUT ROWID;
INSERT INTO policy_devices VALUES('chu-fixture',40199332353,'["biomedical"]','["198.18.0.11"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',42866909698,'["biomedical"]','["198.18.0.12"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',77864182279,'["biomedical"]','["198.18.0.17"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',115864576522,'["biomedical"]','["198.18.0.20"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',210018312708,'["biomedical"]','["198.18.0.14"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',688118637061,'["biomedical"]','["198.18.0.15"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',895317254664,'["biomedical"]','["198.18.0.18"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',75090474639875,'["biomedical"]','["198.18.0.13"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',97044317413894,'["biomedical"]','["198.18.0.16"]',1796140158037327);
INSERT INTO policy_devices VALUES('chu-fixture',172056105787926,'["operator"]','["198.18.0.62"]',1796140177094714);
INSERT INTO policy_devices VALUES('chu-fixture',247126899630601,'["biomedical"]','["198.18.0.19"]',1796140158037327);
CREATE INDEX asset_addresses_by_ip ON asset_addresses (ip);
CREATE INDEX observations_by_mac ON observations (mac, seen_at);
CREATE VIEW asset_macs AS
        SELECT mac,
               printf('%02x:%02x:%02x:%02x:%02x:%02x',
                      (mac >> 40) & 255, (mac >> 32) & 255, (mac >> 24) & 255,
                      (mac >> 16) & 255, (mac >> 8) & 255, mac & 255) AS mac_text
        FROM assets;
CREATE INDEX events_by_mac ON events (mac, id);
CREATE INDEX events_by_time ON events (at);
CREATE INDEX certificates_by_holder ON certificates (kind, name, site);
COMMIT;
-- .dump does not carry the schema version.
PRAGMA user_version = 7;
