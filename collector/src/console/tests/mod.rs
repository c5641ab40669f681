//! The console over HTTPS, against a real inventory: sessions, CSRF, roles, the login
//! throttle, the security headers, hostile text, registry changes, imports and the audit pages.

mod client;
mod fixture;

use fixture::{
    BREAKER, HOSTILE_ATTRIBUTE, HOSTILE_SCRIPT, OXIMETER, PASSWORD, SCRIPTED, start, start_with,
};

use crate::store::InventoryReader;

#[tokio::test]
async fn no_session_redirects_to_login() {
    let fixture = start().await;
    let mut client = fixture.client();
    for path in [
        "/",
        "/assets",
        &format!("/assets/{OXIMETER}"),
        "/events",
        "/snapshots/snapshot.json",
    ] {
        let reply = client.get(path).await;
        assert_eq!(reply.status, 303, "{path}");
        assert_eq!(reply.header("location"), "/login", "{path}");
    }
    let reply = client
        .post(&format!("/assets/{OXIMETER}/approve"), &[("csrf", "x")])
        .await;
    assert_eq!(reply.status, 303);
    let forged = client.post("/logout", &[("csrf", "x")]).await;
    assert_eq!(forged.header("location"), "/login");
    assert!(
        fixture
            .reader()
            .registry_entry(OXIMETER.parse().unwrap())
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn headers_are_present_on_every_page() {
    let fixture = start().await;
    let mut client = fixture.signed_in("vera").await;
    for path in [
        "/login",
        "/",
        "/assets",
        "/no-such-page",
        "/static/console.css",
    ] {
        let reply = client.get(path).await;
        assert_eq!(
            reply.header("content-security-policy"),
            crate::console::app::CSP,
            "{path}"
        );
        assert!(
            reply
                .header("content-security-policy")
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(
            reply.header("strict-transport-security"),
            "max-age=31536000",
            "{path}"
        );
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(reply.header("referrer-policy"), "no-referrer", "{path}");
    }
    let page = client.get("/").await;
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(!page.body.contains("<script"), "no script at all");
    assert!(!page.body.contains("style=\""), "no inline style");
    let login = fixture.client().get("/login").await;
    let cookie = login.header("set-cookie");
    for attribute in ["__Host-", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
}

#[tokio::test]
async fn hostile_host_names_are_rendered_inert() {
    let fixture = start().await;
    let mut client = fixture.signed_in("vera").await;
    let listing = client.get("/assets?search=198.18.3").await;
    assert_eq!(listing.status, 200);
    for page in [
        listing,
        client.get(&format!("/assets/{SCRIPTED}")).await,
        client.get(&format!("/assets/{BREAKER}")).await,
        client.get("/").await,
    ] {
        assert!(!page.body.contains(HOSTILE_SCRIPT), "{}", page.body);
        assert!(!page.body.contains(HOSTILE_ATTRIBUTE));
        assert!(!page.body.contains("<img"));
        assert!(!page.body.contains("<script"));
    }
    let scripted = client.get(&format!("/assets/{SCRIPTED}")).await;
    assert!(
        scripted
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    let breaker = client.get(&format!("/assets/{BREAKER}")).await;
    assert!(
        breaker
            .body
            .contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;")
    );
}

#[tokio::test]
async fn a_wrong_csrf_token_is_refused() {
    let fixture = start().await;
    let mut bruno = fixture.signed_in("bruno").await;
    let mut other = fixture.signed_in("bruno").await;
    let page = other.get(&format!("/assets/{OXIMETER}")).await;
    let path = format!("/assets/{OXIMETER}/approve");
    for token in [String::new(), "0".repeat(128), page.csrf()] {
        let reply = bruno
            .post(&path, &[("csrf", &token), ("name", "SpO2")])
            .await;
        assert_eq!(reply.status, 403, "token {token:?}: {}", reply.body);
    }
    // Another site's page posting with a stolen token is refused by the browser's own word.
    let own = bruno.get(&format!("/assets/{OXIMETER}")).await.csrf();
    let body = client::form_body(&[("csrf", &own)]);
    let reply = bruno
        .send(
            "POST",
            &path,
            Some("application/x-www-form-urlencoded"),
            body,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(
        fixture
            .reader()
            .registry_entry(OXIMETER.parse().unwrap())
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_viewer_cannot_change_the_registry() {
    let fixture = start().await;
    let mut vera = fixture.signed_in("vera").await;
    let page = vera.get(&format!("/assets/{OXIMETER}")).await;
    assert!(!page.body.contains("registry-form"), "no form for a viewer");
    let csrf = page.csrf();
    for action in ["approve", "edit", "remove"] {
        let reply = vera
            .post(&format!("/assets/{OXIMETER}/{action}"), &[("csrf", &csrf)])
            .await;
        assert_eq!(reply.status, 403, "{action}");
    }
    assert_eq!(
        vera.get("/events").await.status,
        403,
        "events are for auditors"
    );
    assert_eq!(vera.get("/import").await.status, 403);
    assert!(
        fixture
            .reader()
            .registry_entry(OXIMETER.parse().unwrap())
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn login_brute_force_is_slowed() {
    let fixture = start().await;
    let mut client = fixture.client();
    for attempt in 0..crate::console::throttle::FREE_FAILURES {
        let reply = client.login("bruno", "wrong password guess").await;
        assert_eq!(reply.status, 401, "attempt {attempt}");
    }
    let slowed = client.login("bruno", "wrong password guess").await;
    assert_eq!(slowed.status, 429);
    assert!(slowed.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Even the right password waits: the throttle answers before any hashing.
    assert_eq!(client.login("bruno", PASSWORD).await.status, 429);
    // Another account from another address is not held up... from this one, the address is.
    assert_eq!(client.login("ada", PASSWORD).await.status, 429);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(client.login("bruno", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn approving_records_the_user_in_the_chain() {
    let fixture = start().await;
    let mut bruno = fixture.signed_in("bruno").await;
    let page = bruno.get(&format!("/assets/{OXIMETER}")).await;
    assert!(page.body.contains("unmanaged"), "{}", page.body);
    let reply = bruno
        .post(
            &format!("/assets/{OXIMETER}/approve"),
            &[
                ("csrf", &page.csrf()),
                ("name", "SpO2 monitor ICU"),
                ("category", "biomedical"),
                ("location", "ICU bed 4"),
                ("criticality", "life_critical"),
            ],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let store = fixture.reader();
    let mac = OXIMETER.parse().unwrap();
    let entry = store.registry_entry(mac).unwrap().unwrap();
    assert_eq!(entry.fields.name, "SpO2 monitor ICU");
    let events = store
        .events(&crate::store::EventFilter {
            mac: Some(mac),
            ..Default::default()
        })
        .unwrap();
    let added = events
        .iter()
        .find(|event| event.kind == "registry_added")
        .unwrap();
    assert!(
        added.details.contains("\"by\":\"bruno\""),
        "{}",
        added.details
    );
    assert!(store.verify_events().unwrap().is_ok());

    // Edit clears what the form leaves empty; remove takes it out.
    let csrf = bruno.get(&format!("/assets/{OXIMETER}")).await.csrf();
    let edited = bruno
        .post(
            &format!("/assets/{OXIMETER}/edit"),
            &[("csrf", &csrf), ("name", "SpO2")],
        )
        .await;
    assert_eq!(edited.status, 303);
    let entry = store.registry_entry(mac).unwrap().unwrap();
    assert_eq!(
        (entry.fields.name.as_str(), entry.fields.location.as_str()),
        ("SpO2", "")
    );
    let removed = bruno
        .post(&format!("/assets/{OXIMETER}/remove"), &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, 303);
    assert!(store.registry_entry(mac).unwrap().is_none());
    assert!(store.verify_events().unwrap().is_ok());
}

#[tokio::test]
async fn sessions_end_when_the_password_changes() {
    let fixture = start().await;
    let mut vera = fixture.signed_in("vera").await;
    assert_eq!(vera.get("/").await.status, 200);
    let mut store = crate::store::SqliteStore::open_writer(
        &fixture.config.database,
        crate::store::Durability::Normal,
    )
    .unwrap();
    store
        .change_user(
            "vera",
            Some("$argon2id$other"),
            None,
            "root",
            jiff::Timestamp::now(),
        )
        .unwrap();
    assert_eq!(vera.get("/").await.status, 303);
    let mut bruno = fixture.signed_in("bruno").await;
    let csrf = bruno.get("/").await.csrf();
    assert_eq!(bruno.post("/logout", &[("csrf", &csrf)]).await.status, 303);
    assert_eq!(bruno.get("/").await.status, 303, "logged out");
}

#[tokio::test]
async fn an_import_is_reviewed_before_it_is_applied() {
    let fixture = start().await;
    let mut bruno = fixture.signed_in("bruno").await;
    let csrf = bruno.get("/import").await.csrf();
    let file = format!(
        "mac,name,criticality\n{OXIMETER},Oximeter,high\nnot-a-mac,Pump,low\n{SCRIPTED},Cam,extreme\n"
    );
    let review = bruno.upload("/import", &csrf, "cmms.csv", &file).await;
    assert_eq!(review.status, 200, "{}", review.body);
    assert!(review.body.contains("cmms.csv:3:"), "{}", review.body);
    assert!(review.body.contains("cmms.csv:4:"), "{}", review.body);
    assert!(review.body.contains("Nothing has changed yet"));
    let store = fixture.reader();
    assert!(
        store.registry().unwrap().is_empty(),
        "invariant 1: nothing before confirming"
    );
    let marker = "name=\"token\" value=\"";
    let start = review.body.find(marker).unwrap() + marker.len();
    let token = review.body[start..start + 64].to_owned();
    let csrf = review.csrf();
    let refused = bruno
        .post("/import/apply", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(refused.status, 400, "invalid lines need skip_invalid");
    assert!(store.registry().unwrap().is_empty());
    // The refusal used the file up: upload it again, and skip the invalid lines.
    let review = bruno.upload("/import", &csrf, "cmms.csv", &file).await;
    let start = review.body.find(marker).unwrap() + marker.len();
    let token = review.body[start..start + 64].to_owned();
    let mut other = fixture.signed_in("bruno").await;
    let other_csrf = other.get("/import").await.csrf();
    let stolen = other
        .post(
            "/import/apply",
            &[
                ("csrf", &other_csrf),
                ("token", &token),
                ("skip_invalid", "yes"),
            ],
        )
        .await;
    assert_eq!(
        stolen.status, 400,
        "invariant 2: another session cannot apply it"
    );
    let applied = bruno
        .post(
            "/import/apply",
            &[("csrf", &csrf), ("token", &token), ("skip_invalid", "yes")],
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert!(
        applied.body.contains("1 valid line(s): 1 added"),
        "{}",
        applied.body
    );
    assert_eq!(store.registry().unwrap().len(), 1);
}

#[tokio::test]
async fn auditors_check_the_chain_and_download_verifiable_snapshots() {
    let fixture = start().await;
    let mut ada = fixture.signed_in("ada").await;
    let events = ada.get("/events").await;
    assert_eq!(events.status, 200);
    assert!(events.body.contains("asset_new"));
    let checked = ada.get("/events/verify").await;
    assert!(
        checked.body.contains("event chain: OK."),
        "{}",
        checked.body
    );
    let trusted = crate::export::signing::Verifier25519::load(
        &crate::export::signing::public_key_path(&fixture.config.signing_key),
    )
    .unwrap();
    for path in ["/snapshots/snapshot.json", "/snapshots/snapshot.csv"] {
        let snapshot = ada.get(path).await;
        assert_eq!(snapshot.status, 200, "{path}");
        assert!(
            snapshot
                .header("content-disposition")
                .contains("attachment")
        );
        let verified = crate::export::verify::verify(snapshot.body.as_bytes(), &trusted)
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        assert_eq!(verified.header.rows, 3, "{path}");
    }
    let key = ada.get("/snapshots/signing-key.pub").await;
    assert!(key.body.contains("PUBLIC KEY"));
    // A biomed user does not audit.
    let mut bruno = fixture.signed_in("bruno").await;
    assert_eq!(bruno.get("/snapshots/snapshot.json").await.status, 403);
}

#[tokio::test]
async fn listings_filter_page_and_download() {
    let fixture = start().await;
    let mut vera = fixture.signed_in("vera").await;
    let all = vera.get("/assets?limit=2").await;
    assert!(
        all.body.contains("<span id=\"total\">3</span>"),
        "{}",
        all.body
    );
    let next = all
        .body
        .find("rel=\"next\" href=\"/assets?")
        .expect("a next page");
    let link = &all.body[next + 17..];
    let link = html_unescape(&link[..link.find('"').unwrap()]);
    let second = vera.get(&link).await;
    assert!(second.body.contains(BREAKER), "{}", second.body);
    assert!(!second.body.contains(&format!(">{OXIMETER}<")));
    let filtered = vera.get("/assets?search=rad97").await;
    assert!(filtered.body.contains("<span id=\"total\">1</span>"));
    let bad = vera.get("/assets?flag=purple").await;
    assert_eq!(bad.status, 400);
    let csv = vera.get("/assets.csv?flag=unmanaged").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
    let json = vera.get("/assets.json?search=rad97").await;
    let rows: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
}

fn html_unescape(text: &str) -> String {
    text.replace("&amp;", "&")
}

#[tokio::test]
async fn listings_sort_by_a_column_across_pages_and_downloads() {
    let fixture = start().await;
    let mut vera = fixture.signed_in("vera").await;
    let json = vera.get("/assets.json?sort=vendor").await;
    let rows: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let expected: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["mac"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 3);
    // One row a page, following each page's next link: the download's order, every device once.
    let mut paged = Vec::new();
    let mut page = vera.get("/assets?sort=vendor&limit=1").await;
    assert!(
        page.body
            .contains("aria-sort=\"ascending\"><a href=\"/assets?sort=vendor\">Vendor</a>"),
        "the current column says so: {}",
        page.body
    );
    // A full last page still links to a next one, which is empty.
    while let Some(mac_at) = page.body.find("<td class=\"mono mac\"><a href=\"/assets/") {
        paged.push(page.body[mac_at + 38..mac_at + 38 + 17].to_owned());
        let Some(next) = page.body.find("rel=\"next\" href=\"/assets?") else {
            break;
        };
        let link = &page.body[next + 17..];
        let link = html_unescape(&link[..link.find('"').unwrap()]);
        assert!(link.contains("sort=vendor"), "{link}");
        page = vera.get(&link).await;
    }
    assert_eq!(paged, expected);
    let csv = vera.get("/assets.csv?sort=last-seen").await;
    assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
    assert_eq!(vera.get("/assets?sort=sideways").await.status, 400);
    let mac_cursor = format!("c1.{}", OXIMETER.replace(':', ""));
    let mismatched = vera
        .get(&format!("/assets?sort=vendor&after={mac_cursor}"))
        .await;
    assert_eq!(mismatched.status, 400, "a cursor pages its own order only");
}

#[tokio::test]
async fn a_trusted_sign_on_proxy_names_the_user_and_only_it_may() {
    let proxy = "[console.proxy]\nheader = \"X-Remote-User\"\nfrom = [\"127.0.0.1\"]";
    let fixture = start_with(proxy).await;
    let mut browser = fixture.client();
    let as_bruno = [("x-remote-user", "bruno")];
    let page = browser
        .send(
            "GET",
            &format!("/assets/{OXIMETER}"),
            None,
            Vec::new(),
            &as_bruno,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("bruno"), "signed in as the proxy says");
    // Changes still need the page's token, and the chain names the proxied user.
    let path = format!("/assets/{OXIMETER}/approve");
    let form = |csrf: &str| client::form_body(&[("csrf", csrf), ("name", "Radical-7")]);
    let content = Some("application/x-www-form-urlencoded");
    let forged = browser
        .send("POST", &path, content, form("x"), &as_bruno)
        .await;
    assert_eq!(forged.status, 403);
    let approved = browser
        .send("POST", &path, content, form(&page.csrf()), &as_bruno)
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let events = fixture
        .reader()
        .events(&crate::store::EventFilter::default())
        .unwrap();
    let added = events
        .iter()
        .find(|event| event.kind == "registry_added")
        .expect("the approval's event");
    assert!(
        added.details.contains("\"by\":\"bruno\""),
        "{}",
        added.details
    );
    // A name without an account, or that cannot be one, is refused, never given a role.
    for nobody in ["mallory", "a b"] {
        let refused = browser
            .send("GET", "/", None, Vec::new(), &[("x-remote-user", nobody)])
            .await;
        assert_eq!(refused.status, 403, "{nobody}: {}", refused.body);
    }
    // Without the header the proxy's requests sign in as usual.
    assert_eq!(browser.get("/").await.status, 303);

    // From an address that is not the proxy's, the header is ignored.
    let elsewhere =
        start_with("[console.proxy]\nheader = \"X-Remote-User\"\nfrom = [\"198.18.0.1\"]").await;
    let mut direct = elsewhere.client();
    let ignored = direct.send("GET", "/", None, Vec::new(), &as_bruno).await;
    assert_eq!(ignored.status, 303, "sent to the login page");
}
