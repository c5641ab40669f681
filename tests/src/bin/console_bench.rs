//! Console page timings (issue 11): the web console of a release `hygie-collector serve` on an
//! inventory the reads benchmark kept (`reads-bench --assets 1000000 --keep DIR`), each page
//! fetched over HTTPS as a signed-in browser would, timed from request to last byte.
//! Targets: overview and first assets page within 200 ms, an asset page within 100 ms.
//!
//! `cargo run --release -p hygie-tests --bin console-bench -- --dir DIR [--rounds 20]`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hygie_tests::bins::binary;
use hygie_tests::{free_port, wait_until};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

const PASSWORD: &str = "console bench password";

struct Page {
    status: u16,
    cookie: Option<String>,
    body: String,
}

struct Browser {
    connector: TlsConnector,
    port: u16,
    cookie: String,
}

impl Browser {
    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<Page> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let tls = self
            .connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with("__Host-hygie-session="))
            .and_then(|value| value.split(';').next())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Page {
            status,
            cookie,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    async fn get(&self, path: &str) -> Result<Page> {
        let request = hyper::Request::get(path)
            .header("host", "localhost")
            .header("cookie", &self.cookie)
            .body(Full::new(Bytes::new()))?;
        self.send(request).await
    }

    async fn sign_in(&mut self) -> Result<()> {
        let form = self.get("/login").await?;
        let marker = "name=\"token\" value=\"";
        let start = form.body.find(marker).context("no login form")? + marker.len();
        let token = &form.body[start..start + 64];
        let login_cookie = format!("__Host-hygie-login={token}");
        let body = format!(
            "user=bench&password={}&token={token}",
            PASSWORD.replace(' ', "+")
        );
        let request = hyper::Request::post("/login")
            .header("host", "localhost")
            .header("cookie", login_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))?;
        let reply = self.send(request).await?;
        self.cookie = reply.cookie.context("signing in gave no session")?;
        Ok(())
    }
}

fn start_console(dir: &Path, port: u16) -> Result<(Child, PathBuf)> {
    let collector_dir = dir.join("collector");
    let base =
        std::fs::read_to_string(collector_dir.join("collector.toml")).with_context(|| {
            format!(
                "{} holds no reads-bench inventory (--keep DIR)",
                dir.display()
            )
        })?;
    let config = collector_dir.join("console-bench.toml");
    std::fs::write(
        &config,
        format!("{base}\n[console]\nlisten = \"127.0.0.1:{port}\"\n"),
    )?;
    let bin = binary("hygie-collector")?;
    let _ = Command::new(&bin)
        .args(["--config"])
        .arg(&config)
        .args(["user", "remove", "bench"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status();
    let mut add = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .args(["user", "add", "bench", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    {
        use std::io::Write as _;
        writeln!(add.stdin.take().context("stdin")?, "{PASSWORD}")?;
    }
    if !add.wait()?.success() {
        bail!("user add failed");
    }
    let log = collector_dir.join("console-bench.log");
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let started = wait_until(Duration::from_secs(120), Duration::from_millis(100), || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("console serving"))
    });
    if !started {
        bail!(
            "the console did not start:\n{}",
            std::fs::read_to_string(&log)?
        );
    }
    Ok((child, log))
}

fn connector(ca: &Path) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca)? {
        roots.add(certificate?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Median, 95th percentile and worst of `samples`, in ms.
fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let at = |quantile: f64| {
        let index = ((samples.len() as f64 - 1.0) * quantile).round() as usize;
        ms(samples[index])
    };
    (at(0.5), at(0.95), ms(samples[samples.len() - 1]))
}

async fn run(dir: PathBuf, rounds: usize) -> Result<()> {
    let port = free_port()?;
    let (mut child, _log) = start_console(&dir, port)?;
    let result = measure(&dir, port, rounds).await;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id())?),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    result
}

async fn measure(dir: &Path, port: u16, rounds: usize) -> Result<()> {
    let mut browser = Browser {
        connector: connector(&dir.join("pki/ca.pem"))?,
        port,
        cookie: String::new(),
    };
    browser.sign_in().await?;
    let started = Instant::now();
    let first = browser.get("/").await?;
    println!(
        "first overview (counts, and the 30-day chart drawn): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let listing = browser.get("/assets").await?;
    let marker = "href=\"/assets/";
    let at = listing.body.find(marker).context("an empty first page")? + marker.len();
    let mac = listing.body[at..at + 17].to_owned();
    let total = listing
        .body
        .split("<span id=\"total\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("?")
        .to_owned();
    println!(
        "inventory: {total} assets; overview {} bytes",
        first.body.len()
    );
    // A page deep in a sorted listing: after 10 pages of 1,000 by vendor.
    let mut deep = "/assets?sort=vendor&limit=1000".to_owned();
    for _ in 0..10 {
        let page = browser.get(&deep).await?;
        let marker = "rel=\"next\" href=\"";
        let Some(at) = page.body.find(marker) else {
            break;
        };
        let link = &page.body[at + marker.len()..];
        deep = link[..link.find('"').context("a next link")?].replace("&amp;", "&");
    }
    let deep = deep.replace("limit=1000", "limit=100");
    let pages = [
        ("overview", "/".to_owned(), 200.0),
        ("first assets page (100 rows)", "/assets".to_owned(), 200.0),
        (
            "unmanaged, first page",
            "/assets?flag=unmanaged".to_owned(),
            200.0,
        ),
        (
            "by last seen, first page",
            "/assets?sort=last-seen".to_owned(),
            200.0,
        ),
        (
            "unmanaged newest first, first page",
            "/assets?flag=unmanaged&sort=first-seen".to_owned(),
            200.0,
        ),
        (
            "by vendor, first page",
            "/assets?sort=vendor".to_owned(),
            200.0,
        ),
        ("by vendor, after 10,000 rows", deep, 200.0),
        (
            &*format!("asset page {mac}"),
            format!("/assets/{mac}"),
            100.0,
        ),
    ];
    println!(
        "{:<36} {:>8} {:>8} {:>8}  target",
        "page", "median", "p95", "max"
    );
    for (name, path, target) in pages {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let page = browser.get(&path).await?;
            samples.push(started.elapsed());
            if page.status != 200 {
                bail!("{path}: HTTP {}", page.status);
            }
        }
        let (median, p95, max) = summary(&mut samples);
        let verdict = if p95 <= target { "ok" } else { "OVER" };
        println!(
            "{name:<36} {median:>6.1}ms {p95:>6.1}ms {max:>6.1}ms  <= {target:.0} ms {verdict}"
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut rounds) = (None, 20usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            _ => bail!(
                "usage: console-bench --dir DIR [--rounds N] (DIR from reads-bench --keep DIR)"
            ),
        }
    }
    let dir = dir.context("usage: console-bench --dir DIR [--rounds N]")?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(dir, rounds.max(1)))
}
