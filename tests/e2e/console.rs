//! The web console in a real browser (Chromium through WebDriver) on a collector fed by the
//! simulated facility: each role signs in; the biomedical engineer finds the unknown pulse
//! oximeter from the overview, reads its evidence, approves it and sees `unmanaged` clear; a
//! viewer fails to; a CMMS file with errors is reviewed before anything changes; a device with
//! a hostile host name and service is rendered inert (no script runs); the auditor checks the
//! chain and downloads a snapshot that verifies offline. Screenshots of the overview, an asset
//! page and the events page are kept under target/console-screenshots/.
//!
//! Needs root (namespaces) and chromium + chromium-driver (tests/setup.sh installs them).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, Locator};
use hygie_collector::store::{InventoryReader, SqliteStore};
use hygie_proto::MacAddr;
use hygie_tests::bins::binary;
use hygie_tests::browser::{self, downloaded, screenshot, sign_in, sign_out};
use hygie_tests::facility::{
    DeviceSpec, DhcpSpec, Facility, Role, ServiceSpec, agent_config, standard_devices,
};
use hygie_tests::netns;
use hygie_tests::pki::TestPki;
use hygie_tests::process::Collector;
use hygie_tests::wait_until;

const OXIMETER: &str = "e0:c2:b7:11:22:09";
const HOSTILE: &str = "02:00:5e:11:22:66";
/// Lower case: agents keep host names in their normal form.
const HOSTILE_NAME: &str = "<script>window.hygiepwned=1</script>";
const HOSTILE_TXT: &str = "\"><img src=x onerror=window.hygiePwned=2>";
const PASSWORD: &str = "console test password";
const BASE: &str = "https://127.0.0.1:8443";

fn hostile_device() -> DeviceSpec {
    DeviceSpec {
        name: "hostile-cam",
        kind: "camera with a hostile name",
        mac: HOSTILE.parse().unwrap(),
        host: 90,
        services: vec![ServiceSpec {
            instance: "Cam \"><img src=x onerror=window.hygiePwned=3>",
            service_type: "_http._tcp",
            port: 80,
            txt: &[("md", HOSTILE_TXT)],
        }],
        dhcp: Some(DhcpSpec {
            hostname: HOSTILE_NAME,
            vendor_class: "udhcp",
            parameters: None,
        }),
        ssdp: Vec::new(),
        lldp: None,
        netbios: None,
        role: Role::Device,
        verdict: None,
    }
}

fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut command = Command::new(binary("hygie-collector").unwrap());
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "hygie-collector {args:?}: {text}");
    text
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots")
}

struct Paths {
    database: PathBuf,
    downloads: PathBuf,
    profile: PathBuf,
    import: PathBuf,
    config: PathBuf,
}

#[test]
fn the_console_in_a_real_browser() {
    if !netns::is_root() {
        assert!(
            std::env::var_os("HYGIE_REQUIRE_NETNS").is_none(),
            "the console's browser test needs root (network namespaces)"
        );
        eprintln!("SKIPPED the_console_in_a_real_browser: needs root");
        return;
    }
    assert!(
        browser::available(),
        "chromium and chromium-driver are missing: run tests/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(&dir.path().join("pki")).unwrap();
    let mut devices = standard_devices();
    devices.push(hostile_device());
    let mut facility = Facility::build("con", &devices, &[]).unwrap();
    let collector = Collector::configure(
        &dir.path().join("collector"),
        &pki.paths,
        7443,
        "[console]\nlisten = \"127.0.0.1:8443\"",
    )
    .unwrap();
    let _collector = facility.start_collector(&collector).unwrap();
    let config = dir.path().join("collector/collector.toml");
    for (name, role) in [
        ("vera", "viewer"),
        ("bruno", "biomed"),
        ("iris", "it"),
        ("ada", "auditor"),
        ("root", "admin"),
    ] {
        let added = cli(
            &config,
            &["user", "add", name, "--role", role],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(added.contains("added"), "{added}");
    }
    // Hospital IT's registry: what nobody registered stands out.
    let registry = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/examples/registry.csv"
    );
    cli(&config, &["registry", "import", registry], None);

    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let agent_config = agent_config(
        &agent_dir,
        &pki,
        7443,
        "interfaces = [\"eth0\"]\n[discovery.arp]\nrate = 200\ntimeout = \"500ms\"\n\
         [discovery.mdns]\nround_duration = \"5s\"\n",
    )
    .unwrap();
    let agent_log = agent_dir.join("agent.log");
    let _agent = facility.start_agent(&agent_config, &agent_log).unwrap();
    let database = collector.database();
    let found = wait_until(Duration::from_secs(90), Duration::from_millis(250), || {
        SqliteStore::open_reader(&database).is_ok_and(|store| {
            [OXIMETER, HOSTILE].iter().all(|mac| {
                store.asset(mac.parse().unwrap()).is_ok_and(|view| {
                    view.is_some_and(|view| {
                        *mac == OXIMETER || view.hostnames.iter().any(|name| name == HOSTILE_NAME)
                    })
                })
            })
        })
    });
    assert!(
        found,
        "the facility did not reach the inventory:\n{}",
        std::fs::read_to_string(&agent_log).unwrap_or_default()
    );

    let namespace = facility.agent.namespace.clone();
    let _driver = browser::start_driver(
        &mut facility.lan,
        &namespace,
        &dir.path().join("chromedriver.log"),
    )
    .unwrap();
    let paths = Paths {
        database,
        downloads: dir.path().join("downloads"),
        profile: dir.path().join("profile"),
        import: dir.path().join("cmms-export.csv"),
        config,
    };
    std::fs::create_dir_all(&paths.downloads).unwrap();
    std::fs::write(
        &paths.import,
        format!("mac,name,criticality\n00:30:e6:11:22:04,Evita V500,life_critical\nnot-a-mac,Pump,low\n{HOSTILE},Camera,extreme\n"),
    )
    .unwrap();
    let result = facility
        .lan
        .in_namespace(&namespace, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(scenario(&paths))
        })
        .unwrap();
    if let Err(error) = result {
        panic!("{error:#}\ncollector log:\n{}", collector.log());
    }
}

async fn scenario(paths: &Paths) -> anyhow::Result<()> {
    let client = browser::open(&paths.profile, &paths.downloads).await?;
    let outcome = steps(&client, paths).await;
    if outcome.is_err() {
        let _ = screenshot(&client, &screenshots_dir(), "failure").await;
        let url = client
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_default();
        let source = client.source().await.unwrap_or_default();
        eprintln!("the browser was at {url}:\n{source}");
    }
    let _ = client.close().await;
    outcome
}

async fn body(client: &Client) -> anyhow::Result<String> {
    Ok(client.find(Locator::Css("main")).await?.text().await?)
}

async fn steps(client: &Client, paths: &Paths) -> anyhow::Result<()> {
    let shots = screenshots_dir();
    // Every role signs in and sees the overview.
    for user in ["vera", "iris", "ada", "root"] {
        sign_in(client, BASE, user, PASSWORD).await?;
        anyhow::ensure!(
            body(client).await?.contains("Unmanaged"),
            "{user} sees the overview"
        );
        sign_out(client).await?;
    }

    // The biomedical engineer finds the unknown pulse oximeter from the overview, whose counts
    // (taken when the collector started, before the agent reported) are recounted within
    // seconds while it is viewed.
    sign_in(client, BASE, "bruno", PASSWORD).await?;
    let mut counted = String::new();
    for _ in 0..40 {
        counted = client
            .find(Locator::Css(
                "a.tile[href=\"/assets?flag=unmanaged\"] strong",
            ))
            .await?
            .text()
            .await?;
        if counted != "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.goto(&format!("{BASE}/")).await?;
    }
    anyhow::ensure!(
        counted != "0",
        "the overview still counts no unmanaged device"
    );
    screenshot(client, &shots, "overview").await?;
    let link = format!("#unmanaged + table a[href=\"/assets/{OXIMETER}\"]");
    browser::click_then(client, &link, "#evidence").await?;
    let evidence = client.find(Locator::Css("#evidence")).await?.text().await?;
    anyhow::ensure!(
        evidence.to_lowercase().contains("masimo"),
        "evidence: {evidence}"
    );
    anyhow::ensure!(
        client
            .find(Locator::Css("#flags"))
            .await?
            .text()
            .await?
            .contains("unmanaged")
    );
    screenshot(client, &shots, "asset").await?;
    client
        .find(Locator::Css("#registry-form input[name=asset_tag]"))
        .await?
        .send_keys("BIO-01203")
        .await?;
    client
        .find(Locator::Css("#registry-form input[name=name]"))
        .await?
        .send_keys("Masimo Root ICU bed 3")
        .await?;
    browser::click_then(client, "#approve", "#registry").await?;
    // The writer takes the change in within a tick or two: the flag clears.
    let mut cleared = false;
    for _ in 0..40 {
        client.goto(&format!("{BASE}/assets/{OXIMETER}")).await?;
        if !client
            .find(Locator::Css("#flags"))
            .await?
            .text()
            .await?
            .contains("unmanaged")
        {
            cleared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::ensure!(cleared, "unmanaged did not clear after the approval");

    // The hostile device: its text is shown, nothing of it runs.
    client.goto(&format!("{BASE}/assets/{HOSTILE}")).await?;
    let page = body(client).await?;
    anyhow::ensure!(
        page.contains(HOSTILE_NAME),
        "the host name is shown as text: {page}"
    );
    anyhow::ensure!(page.contains(HOSTILE_TXT), "the TXT value is shown as text");
    let pwned = client
        .execute(
            "return window.hygiePwned === undefined && window.hygiepwned === undefined",
            vec![],
        )
        .await?;
    anyhow::ensure!(pwned == serde_json::json!(true), "a hostile script ran");
    anyhow::ensure!(
        client.find_all(Locator::Css("main img")).await?.is_empty(),
        "an injected image"
    );

    // The listing sorts by a column heading.
    client.goto(&format!("{BASE}/assets")).await?;
    browser::click_then(
        client,
        "thead a[href*=\"sort=last-seen\"]",
        "th[aria-sort=descending]",
    )
    .await?;
    let sorted = client.current_url().await?;
    anyhow::ensure!(
        sorted.as_str().contains("sort=last-seen"),
        "sorted by last sighting: {sorted}"
    );

    // A CMMS file with errors: the errors are listed, nothing changes before the confirmation.
    let before = SqliteStore::open_reader(&paths.database)?.registry()?.len();
    client.goto(&format!("{BASE}/import")).await?;
    client
        .find(Locator::Css("input[type=file]"))
        .await?
        .send_keys(&paths.import.to_string_lossy())
        .await?;
    browser::click_then(client, "#review", "#import-lines").await?;
    let errors = client.find_all(Locator::Css("#import-errors li")).await?;
    anyhow::ensure!(
        errors.len() == 2,
        "two invalid lines listed, got {}",
        errors.len()
    );
    anyhow::ensure!(
        SqliteStore::open_reader(&paths.database)?.registry()?.len() == before,
        "nothing changed yet"
    );
    client
        .find(Locator::Css("input[name=skip_invalid]"))
        .await?
        .click()
        .await?;
    browser::click_then(client, "#apply", "#import-result").await?;
    let result = client
        .find(Locator::Css("#import-result"))
        .await?
        .text()
        .await?;
    anyhow::ensure!(result.contains("1 valid line(s)"), "{result}");
    sign_out(client).await?;

    // A viewer has no form, and the server refuses the change anyway.
    sign_in(client, BASE, "vera", PASSWORD).await?;
    client.goto(&format!("{BASE}/assets/{HOSTILE}")).await?;
    anyhow::ensure!(
        client
            .find_all(Locator::Css("#registry-form"))
            .await?
            .is_empty()
    );
    client
        .execute(
            "const f = document.createElement('form'); f.method = 'post'; \
             f.action = '/assets/' + arguments[0] + '/approve'; \
             const t = document.createElement('input'); t.name = 'csrf'; \
             t.value = document.querySelector('input[name=csrf]').value; f.appendChild(t); \
             document.body.appendChild(f); f.submit();",
            vec![serde_json::json!(HOSTILE)],
        )
        .await?;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("main.narrow h1"))
        .await?;
    let refused = body(client).await?;
    anyhow::ensure!(
        refused.contains("Not allowed"),
        "viewer approval: {refused}"
    );
    let hostile: MacAddr = HOSTILE.parse()?;
    let entry = SqliteStore::open_reader(&paths.database)?.registry_entry(hostile)?;
    anyhow::ensure!(
        entry.is_none(),
        "the viewer changed nothing (its import line was invalid)"
    );
    client.goto(&format!("{BASE}/")).await?;
    sign_out(client).await?;

    // The auditor checks the chain and downloads a snapshot that verifies offline.
    sign_in(client, BASE, "ada", PASSWORD).await?;
    client.goto(&format!("{BASE}/events")).await?;
    screenshot(client, &shots, "events").await?;
    browser::click_then(client, "#verify", "#chain").await?;
    let chain = client.find(Locator::Css("#chain")).await?.text().await?;
    anyhow::ensure!(chain.contains("event chain: OK"), "{chain}");
    client.goto(&format!("{BASE}/snapshots")).await?;
    client
        .find(Locator::Css("#snapshot-json"))
        .await?
        .click()
        .await?;
    let snapshot = downloaded(&paths.downloads, "hygie-snapshot.json").await?;
    client
        .find(Locator::Css("#public-key"))
        .await?
        .click()
        .await?;
    let key = downloaded(&paths.downloads, "hygie-signing-key.pub").await?;
    let verified = cli(
        &paths.config,
        &[
            "verify",
            &snapshot.to_string_lossy(),
            "--key",
            &key.to_string_lossy(),
        ],
        None,
    );
    anyhow::ensure!(
        verified.contains("OK") || verified.contains("verified"),
        "{verified}"
    );
    Ok(())
}
