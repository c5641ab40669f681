//! Signing in and out, the signed-in user of a request, role and CSRF checks.

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, FromRequestParts, Query, State as Shared};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::accounts::{Capability, Role, decoy_hash, verify_password};
use super::app::{PageError, State, lock};
use super::db::DbError;
use super::html::{mask_token, unmask_token};
use super::listener::ClientAddress;
use super::proxy::Proxied;
use super::session::csrf_matches;

const SESSION_COOKIE: &str = "__Host-hygie-session";
const LOGIN_COOKIE: &str = "__Host-hygie-login";

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn set_cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// The user a request comes from, with a live session.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) user: String,
    pub(crate) role: Role,
    csrf: String,
}

/// What the page header shows and every form carries.
#[derive(Debug, Clone)]
pub(crate) struct Nav {
    pub(crate) user: String,
    pub(crate) role: Role,
    /// The session's CSRF token, masked afresh for this page.
    pub(crate) csrf: String,
    pub(crate) can_change: bool,
    pub(crate) can_audit: bool,
}

impl SignedIn {
    /// Refuses the request unless the user's role allows `capability`.
    pub(crate) fn require(&self, capability: Capability) -> Result<(), PageError> {
        if self.role.may(capability) {
            Ok(())
        } else {
            Err(PageError::Forbidden(match capability {
                Capability::Read => "your role cannot read the inventory",
                Capability::ChangeRegistry => {
                    "your role cannot change the registry (biomed, it and admin can)"
                }
                Capability::Audit => "this is for auditors (and admins)",
            }))
        }
    }

    /// Refuses a change whose form does not carry this session's token.
    pub(crate) fn check_csrf(&self, field: &str) -> Result<(), PageError> {
        match unmask_token(field) {
            Some(token) if csrf_matches(&self.csrf, &token) => Ok(()),
            _ => Err(PageError::Forbidden(
                "this form has expired or did not come from your session: reload the page and try again",
            )),
        }
    }

    /// What names this session for what is bound to it (its CSRF token: one per session,
    /// never shown unmasked).
    pub(crate) fn session_token(&self) -> &str {
        &self.csrf
    }

    /// The header of a page.
    pub(crate) fn nav(&self) -> Nav {
        Nav {
            user: self.user.clone(),
            role: self.role,
            csrf: mask_token(&self.csrf, rand::random()),
            can_change: self.role.may(Capability::ChangeRegistry),
            can_audit: self.role.may(Capability::Audit),
        }
    }
}

impl FromRequestParts<Arc<State>> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, PageError> {
        if let Some(proxy) = &state.settings.proxy {
            match proxy.user(client_ip(&parts.extensions), &parts.headers) {
                Proxied::No => {}
                Proxied::BadName => {
                    return Err(PageError::Forbidden(
                        "the sign-on proxy named no valid console account: check its user header",
                    ));
                }
                Proxied::User(name) => return proxied(state, name).await,
            }
        }
        let cookie = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or(PageError::SignIn)?
            .to_owned();
        let session = lock(&state.sessions)
            .get(state.now(), &cookie)
            .ok_or(PageError::SignIn)?;
        let name = session.user.clone();
        let record = state
            .readers
            .read(move |query| query.store().user(&name).map_err(DbError::from))
            .await?;
        // Invariant 2 of the sessions: a changed or removed account ends them.
        let current = record.is_some_and(|record| {
            record.changed_at == session.user_changed_at
                && record.role.parse::<Role>() == Ok(session.role)
        });
        if !current {
            lock(&state.sessions).close(&cookie);
            return Err(PageError::SignIn);
        }
        Ok(SignedIn {
            user: session.user,
            role: session.role,
            csrf: session.csrf,
        })
    }
}

/// The user a trusted sign-on proxy named, with the session kept for them (Invariants 2 and 3
/// of [`super::proxy`]).
async fn proxied(state: &Arc<State>, name: String) -> Result<SignedIn, PageError> {
    let lookup = name.clone();
    let record = state
        .readers
        .read(move |query| query.store().user(&lookup).map_err(DbError::from))
        .await?;
    let Some(record) = record else {
        tracing::warn!(user = %name, "console: the sign-on proxy names a user without an account");
        return Err(PageError::Forbidden(
            "the sign-on proxy names a user who has no console account: an admin adds it with `hygie-collector user add NAME --role ROLE`",
        ));
    };
    let Ok(role) = record.role.parse::<Role>() else {
        return Err(PageError::Forbidden("this account has no known role"));
    };
    let now = state.now();
    let mut sessions = lock(&state.sessions);
    let mut kept = lock(&state.proxy_sessions);
    if let Some(cookie) = kept.cookie(&record.name).map(str::to_owned) {
        match sessions.get(now, &cookie) {
            Some(session)
                if session.user_changed_at == record.changed_at && session.role == role =>
            {
                return Ok(SignedIn {
                    user: session.user,
                    role,
                    csrf: session.csrf,
                });
            }
            // The account changed since: that session ends, as a cookie's would.
            Some(_) => sessions.close(&cookie),
            None => {}
        }
    }
    let (cookie, session) = sessions.open(
        now,
        &record.name,
        role,
        record.changed_at,
        rand::random(),
        rand::random(),
    );
    kept.keep(&record.name, cookie);
    tracing::info!(user = %record.name, role = %role, "console: signed in through the sign-on proxy");
    Ok(SignedIn {
        user: session.user,
        role: session.role,
        csrf: session.csrf,
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    token: String,
    message: String,
    user: String,
}

fn login_form(status: StatusCode, message: String, user: String) -> Response {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let page = LoginPage {
        token: token.clone(),
        message,
        user,
    };
    match page.render() {
        Ok(body) => (
            status,
            [(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, 3600))],
            Html(body),
        )
            .into_response(),
        Err(error) => PageError::from(error).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
}

pub(crate) async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    let message = if query.expired.is_some() {
        "Your session ended: sign in again.".to_owned()
    } else {
        String::new()
    };
    login_form(StatusCode::OK, message, String::new())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    user: String,
    password: String,
    token: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn client_ip(parts: &axum::http::Extensions) -> IpAddr {
    parts
        .get::<ClientAddress>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |address| address.0.ip())
}

pub(crate) async fn login(
    Shared(state): Shared<Arc<State>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let fresh_form =
        |status, message: &str, user: &str| login_form(status, message.into(), user.into());
    // The login form's own token: a page of another site cannot sign a browser in.
    if cookie(&headers, LOGIN_COOKIE).is_none_or(|token| !csrf_matches(token, &form.token)) {
        return fresh_form(
            StatusCode::FORBIDDEN,
            "The form expired: sign in again.",
            &form.user,
        );
    }
    let address = client_ip(&extensions);
    let name: String = form.user.trim().chars().take(64).collect();
    let now = state.now();
    if let Err(wait) = lock(&state.throttle).check(now, address, &name) {
        let seconds = wait.as_secs().max(1);
        let mut response = fresh_form(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed attempts: wait {seconds} s before the next one."),
            &name,
        );
        if let Ok(value) = seconds.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    match check_password(&state, name.clone(), form.password).await {
        Ok(Some(record)) => {
            lock(&state.throttle).succeeded(address, &name);
            let Ok(role) = record.role.parse::<Role>() else {
                return fresh_form(
                    StatusCode::FORBIDDEN,
                    "This account has no known role.",
                    &name,
                );
            };
            let (cookie, _) = lock(&state.sessions).open(
                now,
                &record.name,
                role,
                record.changed_at,
                rand::random(),
                rand::random(),
            );
            tracing::info!(user = %record.name, role = %role, %address, "console: signed in");
            let lifetime = state.settings.session_lifetime.as_secs();
            (
                AppendHeaders([
                    (
                        header::SET_COOKIE,
                        set_cookie(SESSION_COOKIE, &cookie, lifetime),
                    ),
                    (header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0)),
                ]),
                Redirect::to("/"),
            )
                .into_response()
        }
        Ok(None) => {
            lock(&state.throttle).failed(now, address, &name);
            tracing::warn!(user = %hygie_proto::text::terminal_safe(&name, 64), %address, "console: failed sign-in");
            fresh_form(
                StatusCode::UNAUTHORIZED,
                "Wrong user name or password.",
                &name,
            )
        }
        Err(error) => error.into_response(),
    }
}

/// The account if `password` is its own; an unknown name costs the same hashing.
async fn check_password(
    state: &Arc<State>,
    name: String,
    password: String,
) -> Result<Option<crate::store::UserRecord>, PageError> {
    let lookup = name.clone();
    let record = state
        .readers
        .read(move |query| query.store().user(&lookup).map_err(DbError::from))
        .await?;
    let _turn = state
        .hashing
        .acquire()
        .await
        .map_err(|_| PageError::Db(DbError::Join))?;
    let hash = record
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |record| record.password.clone());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|_| PageError::Db(DbError::Join))?;
    Ok(record.filter(|_| matches))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

pub(crate) async fn logout(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    if let Some(cookie) = cookie(&headers, SESSION_COOKIE) {
        lock(&state.sessions).close(cookie);
    }
    tracing::info!(user = %user.user, "console: signed out");
    Ok((
        [(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0))],
        Redirect::to("/login"),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "x__Host-hygie-session=bad; __Host-hygie-session=good"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("good"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
        let set = set_cookie(SESSION_COOKIE, "abc", 60);
        for attribute in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(set.contains(attribute), "{set}");
        }
    }

    #[test]
    fn roles_are_refused_what_they_may_not_do() {
        let viewer = SignedIn {
            user: "v".into(),
            role: Role::Viewer,
            csrf: "ab".repeat(32),
        };
        assert!(viewer.require(Capability::Read).is_ok());
        assert!(matches!(
            viewer.require(Capability::ChangeRegistry),
            Err(PageError::Forbidden(_))
        ));
        let nav = viewer.nav();
        assert!(viewer.check_csrf(&nav.csrf).is_ok());
        assert!(viewer.check_csrf(&viewer.nav().csrf).is_ok(), "every mask");
        assert!(viewer.check_csrf(&"ab".repeat(32)).is_err(), "unmasked");
        assert!(viewer.check_csrf("").is_err());
    }
}
