//! The console's routes, shared state, security headers and error pages.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use super::db::{Changes, DbError, Readers};
use super::session::{MAX_SESSIONS, Sessions};
use super::throttle::LoginThrottle;
use super::{ConsoleError, ConsoleSettings, pages};
use crate::config::CollectorConfig;
use crate::export::signing::{self, Signer25519};

/// What every request shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) settings: ConsoleSettings,
    pub(crate) readers: Arc<Readers>,
    pub(crate) changes: Arc<Changes>,
    pub(crate) sessions: Mutex<Sessions>,
    /// The sessions of users a sign-on proxy names (locked after `sessions`).
    pub(crate) proxy_sessions: Mutex<super::proxy::ProxySessions>,
    pub(crate) throttle: Mutex<LoginThrottle>,
    /// Password hashes being checked at once: argon2id costs 19 MiB and tens of ms each.
    pub(crate) hashing: Semaphore,
    pub(crate) signer: Arc<Signer25519>,
    pub(crate) public_key: PathBuf,
    pub(crate) hostname: String,
    /// Where CSV snapshots stage their rows (the data directory: private, and on a disk
    /// sized for the inventory).
    data_dir: PathBuf,
    pub(crate) imports: Mutex<pages::import::Pending>,
    pub(crate) summaries: super::summary::Summaries,
}

impl State {
    pub(crate) fn new(
        config: &CollectorConfig,
        settings: &ConsoleSettings,
    ) -> Result<Self, ConsoleError> {
        let span = |duration: std::time::Duration| {
            SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
        };
        Ok(State {
            settings: settings.clone(),
            readers: Arc::new(Readers::new(config.database.clone(), config.rules.clone())),
            changes: Arc::new(Changes::new(
                config.database.clone(),
                config.durability,
                config.signing_key.clone(),
            )),
            sessions: Mutex::new(Sessions::new(
                span(settings.session_idle),
                span(settings.session_lifetime),
                MAX_SESSIONS,
            )),
            proxy_sessions: Mutex::default(),
            throttle: Mutex::new(LoginThrottle::new()),
            hashing: Semaphore::new(2),
            signer: Arc::new(Signer25519::load(&config.signing_key)?),
            public_key: signing::public_key_path(&config.signing_key),
            hostname: hygie_proto::kernel_hostname().unwrap_or_default(),
            data_dir: config.data_dir.clone(),
            imports: Mutex::new(pages::import::Pending::default()),
            summaries: super::summary::Summaries::default(),
        })
    }

    /// Where CSV snapshots stage their rows.
    pub(crate) fn spool_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The time of a request.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Locks a mutex, taking over a poisoned one (its data stays consistent: every critical
/// section here is a single map operation).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The policy: nothing but this origin's stylesheet and pages; no script at all.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const CSS: &str = include_str!("static/console.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// Refuses a change whose browser says it comes from another site (a second line behind the
/// CSRF token and the SameSite cookie).
async fn same_origin_changes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == Method::POST {
        let cross = request
            .headers()
            .get("sec-fetch-site")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|site| site == "cross-site" || site == "same-site");
        if cross {
            return PageError::Forbidden("this change did not come from the console's own pages")
                .into_response();
        }
    }
    next.run(request).await
}

/// Every route.
pub(crate) fn router(state: Arc<State>) -> axum::Router {
    let body_limit = state.settings.max_import + 64 * 1024;
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    axum::Router::new()
        .route("/", get(pages::overview::show))
        .route(
            "/login",
            get(super::auth::login_page).post(super::auth::login),
        )
        .route("/logout", post(super::auth::logout))
        .route("/assets", get(pages::assets::list))
        .route("/assets.csv", get(pages::assets::csv))
        .route("/assets.json", get(pages::assets::json))
        .route("/assets/{mac}", get(pages::asset::show))
        .route("/assets/{mac}/approve", post(pages::registry::approve))
        .route("/assets/{mac}/edit", post(pages::registry::edit))
        .route("/assets/{mac}/remove", post(pages::registry::remove))
        .route(
            "/import",
            get(pages::import::form).post(pages::import::review),
        )
        .route("/import/apply", post(pages::import::apply))
        .route("/events", get(pages::events::list))
        .route("/events/verify", get(pages::events::verify))
        .route("/snapshots", get(pages::snapshots::show))
        .route("/snapshots/snapshot.json", get(pages::snapshots::json))
        .route("/snapshots/snapshot.csv", get(pages::snapshots::csv))
        .route(
            "/snapshots/signing-key.pub",
            get(pages::snapshots::public_key),
        )
        .route("/static/console.css", get(stylesheet))
        .fallback(|| async { PageError::NotFound })
        .layer(axum::middleware::from_fn(same_origin_changes))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CompressionLayer::new())
        .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000",
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// Why a page cannot be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("sign in first")]
    SignIn,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no such page")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the snapshot signing key cannot be loaded")]
    Key(#[from] crate::export::signing::KeyError),
    #[error("the page cannot be rendered")]
    Render(#[from] askama::Error),
}

impl From<crate::store::StoreError> for PageError {
    fn from(error: crate::store::StoreError) -> Self {
        PageError::Db(error.into())
    }
}

impl From<crate::query::QueryError> for PageError {
    fn from(error: crate::query::QueryError) -> Self {
        PageError::Db(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            PageError::SignIn => return Redirect::to("/login").into_response(),
            PageError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found"),
            PageError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Cannot do that"),
            PageError::Db(_) | PageError::Key(_) | PageError::Render(_) => {
                tracing::error!(error = %hygie_proto::error_chain(&self), "console: page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
        };
        let message = match &self {
            PageError::Db(_) | PageError::Key(_) | PageError::Render(_) => {
                "The collector's log says what failed.".to_owned()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message,
        };
        match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

/// A rendered page.
pub(crate) fn render(template: &impl Template) -> Result<Response, PageError> {
    Ok(Html(template.render()?).into_response())
}
