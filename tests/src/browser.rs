//! A real browser for the console's tests: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver) by the fantoccini crate. Both run inside a facility namespace, beside
//! the collector, so that the console on that namespace's loopback is the only thing they
//! reach; the flags keep Chromium from calling out (updates, sync, safe browsing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::netns::{Lan, NsChild};

/// Where Debian puts them (`tests/setup.sh` installs the packages).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// chromedriver's port on the namespace's loopback.
pub const DRIVER_PORT: u16 = 9515;

/// Whether both are installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file()
}

/// chromedriver, started in `namespace`.
pub fn start_driver(lan: &mut Lan, namespace: &str, log: &Path) -> anyhow::Result<NsChild> {
    let mut command = lan.command(namespace, CHROMEDRIVER)?;
    command
        .arg(format!("--port={DRIVER_PORT}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::fs::File::create(log)?)
        .stderr(std::process::Stdio::null());
    Ok(lan.spawn(command)?)
}

/// A browser session: a fresh profile, downloads into `downloads`. Call from inside the
/// namespace (see [`Lan::in_namespace`]); retries while chromedriver starts.
pub async fn open(profile: &Path, downloads: &Path) -> anyhow::Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false,
            },
        }),
    );
    // The console's certificate is issued by the test CA, which this fresh profile does not
    // know; the HTTP-level tests check the chain against the CA.
    capabilities.insert("acceptInsecureCerts".into(), json!(true));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut last = None;
    for _ in 0..50 {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{DRIVER_PORT}"))
            .await
        {
            Ok(client) => return Ok(client),
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(anyhow::anyhow!("cannot open a browser session: {last:?}"))
}

/// Signs in on the console's login page.
pub async fn sign_in(
    client: &Client,
    base: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<()> {
    client.goto(&format!("{base}/login")).await?;
    client
        .find(Locator::Css("input[name=user]"))
        .await?
        .send_keys(user)
        .await?;
    client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(password)
        .await?;
    click_then(client, "main form button", "form.who").await
}

/// Signs out with the header's button.
pub async fn sign_out(client: &Client) -> anyhow::Result<()> {
    click_then(client, "form.who button", "input[name=password]").await
}

/// Clicks `selector` and waits for `then` on the page it leads to: a click returns before
/// the navigation it starts has ended.
pub async fn click_then(client: &Client, selector: &str, then: &str) -> anyhow::Result<()> {
    let old = client.find(Locator::Css("html")).await?;
    client.find(Locator::Css(selector)).await?.click().await?;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(then))
        .await?;
    // The old page may hold `then` too: wait until it is gone.
    for _ in 0..200 {
        if old.text().await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(then))
        .await?;
    Ok(())
}

/// Saves a screenshot of the page as `name`.png under `dir`.
pub async fn screenshot(client: &Client, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await?)?;
    Ok(path)
}

/// Waits for a download named `name` to appear whole in `dir`.
pub async fn downloaded(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    for _ in 0..100 {
        let partial = std::fs::read_dir(dir)?
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".crdownload"));
        if path.is_file() && !partial {
            return Ok(path);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!(
        "{name} was not downloaded into {}",
        dir.display()
    ))
}
