//! The event log with the filters of `hygie-collector events`, and the chain check of
//! `verify --events`: every hash, then the seal against the public key.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State as Shared};
use axum::response::Response;
use hygie_proto::MacAddr;
use serde::Deserialize;

use crate::audit::{self, Event};
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, render};
use crate::console::auth::{Nav, SignedIn};
use crate::console::db::DbError;
use crate::console::html::when_exact;
use crate::export::signing::Verifier25519;
use crate::store::{EventFilter, InventoryReader};

const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 5000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    since: String,
    #[serde(default)]
    mac: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// One event as the table shows it.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub(crate) id: i64,
    pub(crate) at: String,
    pub(crate) mac: String,
    pub(crate) kind: String,
    pub(crate) details: String,
}

impl EventRow {
    fn of(event: Event) -> Self {
        EventRow {
            id: event.id,
            at: when_exact(event.at),
            mac: event.mac.map(|mac| mac.to_string()).unwrap_or_default(),
            kind: event.kind,
            details: event.details,
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    title: &'static str,
    nav: Nav,
    since: String,
    mac: String,
    limit: usize,
    rows: Vec<EventRow>,
    check: Option<(bool, String)>,
}

pub(crate) async fn list(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Query(query): Query<EventsQuery>,
) -> Result<Response, PageError> {
    user.require(Capability::Audit)?;
    let now = state.now();
    let since = match query.since.trim() {
        "" => None,
        text => Some(crate::query::parse_since(text, now).map_err(PageError::BadRequest)?),
    };
    let mac = match query.mac.trim() {
        "" => None,
        text => Some(
            text.parse::<MacAddr>()
                .map_err(|_| PageError::BadRequest(format!("{text:?} is not a MAC address")))?,
        ),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let events = state
        .readers
        .read(move |reader| {
            reader
                .store()
                .events(&EventFilter {
                    since,
                    mac,
                    limit: Some(limit),
                })
                .map_err(DbError::from)
        })
        .await?;
    render(&EventsPage {
        title: "Events",
        nav: user.nav(),
        since: query.since,
        mac: query.mac,
        limit,
        // Newest first on a page (the store hands them oldest first).
        rows: events.into_iter().rev().map(EventRow::of).collect(),
        check: None,
    })
}

/// The outcome of checking the whole chain and its seal, as one line.
fn check_chain<R: InventoryReader>(
    store: &R,
    trusted: &Verifier25519,
) -> Result<(bool, String), DbError> {
    let head = match store.verify_events()? {
        Ok(head) => head,
        Err(broken) => return Ok((false, format!("event chain NOT VERIFIED: {broken}"))),
    };
    let seal = store.events_seal()?;
    if let Err(problem) = audit::check_seal(&head, seal.as_ref(), |message, signature| {
        trusted.verify(message, signature)
    }) {
        return Ok((false, format!("event chain NOT VERIFIED: {problem}")));
    }
    Ok((
        true,
        format!(
            "event chain: OK. {} events, head #{} {}, sealed by key {}",
            head.events,
            head.id,
            head.hash,
            trusted.key_id()
        ),
    ))
}

pub(crate) async fn verify(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Audit)?;
    let trusted = Verifier25519::load(&state.public_key)?;
    let (check, events) = state
        .readers
        .read(move |reader| -> Result<_, DbError> {
            let store = reader.store();
            let check = check_chain(store, &trusted)?;
            let events = store.events(&EventFilter {
                limit: Some(DEFAULT_LIMIT),
                ..EventFilter::default()
            })?;
            Ok((check, events))
        })
        .await?;
    tracing::info!(user = %user.user, verified = check.0, "console: event chain checked");
    render(&EventsPage {
        title: "Events",
        nav: user.nav(),
        since: String::new(),
        mac: String::new(),
        limit: DEFAULT_LIMIT,
        rows: events.into_iter().rev().map(EventRow::of).collect(),
        check: Some(check),
    })
}
