//! One asset: what `hygie-collector asset MAC` shows (identity, vendor, classification with its
//! evidence strongest first, addresses and names over time, services and TXT, protocol
//! details, agents, recent observations, events), the registry entry, each flag with the
//! event that raised it, and the registry forms for those who may change it.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State as Shared};
use axum::response::Response;
use hygie_proto::MacAddr;

use crate::classify::Category;
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, render};
use crate::console::auth::{Nav, SignedIn};
use crate::console::db::DbError;
use crate::console::html::{when, when_exact};
use crate::inventory::flags::Flag;
use crate::query::AssetPage;
use crate::registry::{Criticality, RegistryEntry};
use crate::store::{EventFilter, InventoryReader};

/// Observations and events shown.
const RECENT: usize = 20;
/// Events read to find what raised each flag.
const FLAG_EVENTS: usize = 500;

/// A flag and what raised it.
#[derive(Debug)]
pub(crate) struct FlagRow {
    pub(crate) flag: &'static str,
    pub(crate) meaning: &'static str,
    pub(crate) raised: String,
}

/// What each flag means, for people.
pub(crate) fn meaning(flag: Flag) -> &'static str {
    match flag {
        Flag::Unmanaged => "seen on the network, not in the registry",
        Flag::Stale => "registered, not seen lately",
        Flag::New => "seen for the first time recently",
        Flag::IpChanged => "changed address recently",
        Flag::ArpConflict => "an address claimed by two devices, or a gateway impersonated",
        Flag::RandomizedMac => "locally administered (randomized or private) MAC address",
    }
}

#[derive(Template)]
#[template(path = "asset.html")]
struct AssetTemplate {
    title: String,
    nav: Nav,
    page: AssetPage,
    vendor: String,
    entry: Option<RegistryEntry>,
    flags: Vec<FlagRow>,
    categories: Vec<&'static str>,
    criticalities: Vec<&'static str>,
    form: super::registry::Fields,
}

fn flag_rows(page: &AssetPage, raised: &[crate::audit::Event]) -> Vec<FlagRow> {
    page.view
        .flags
        .iter()
        .map(|flag| FlagRow {
            flag: flag.as_str(),
            meaning: meaning(flag),
            raised: raised_by(flag, raised),
        })
        .collect()
}

/// The latest event that raised `flag`: a `flag_raised`, or the `asset_new` that listed it.
fn raised_by(flag: Flag, events: &[crate::audit::Event]) -> String {
    use crate::audit::EventKind;
    let details = format!("{{\"flag\":\"{}\"}}", flag.as_str());
    let listed = |event: &crate::audit::Event| {
        serde_json::from_str::<serde_json::Value>(&event.details).is_ok_and(|details| {
            details["flags"]
                .as_array()
                .is_some_and(|flags| flags.iter().any(|name| name == flag.as_str()))
        })
    };
    let event = events.iter().rev().find(|event| {
        (event.kind == EventKind::FlagRaised.as_str() && event.details == details)
            || (event.kind == EventKind::AssetNew.as_str() && listed(event))
    });
    match event {
        Some(event) if event.kind == EventKind::AssetNew.as_str() => format!(
            "raised when first seen, {} (event #{})",
            when(event.at),
            event.id
        ),
        Some(event) => format!("raised {} (event #{})", when(event.at), event.id),
        None => "raised when read: its event is older than the asset's last 500".to_owned(),
    }
}

fn vendor_line(page: &AssetPage) -> String {
    match (&page.view.vendor, &page.vendor_block) {
        (Some(vendor), Some(block)) => format!("{vendor} (IEEE block {block})"),
        (Some(vendor), None) => vendor.clone(),
        (None, _) if page.view.mac.is_locally_administered() => {
            "none: locally administered (randomized or private) address".to_owned()
        }
        (None, _) => "none: not in the IEEE registry".to_owned(),
    }
}

pub(crate) async fn show(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Path(mac): Path<String>,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let mac: MacAddr = mac
        .parse()
        .map_err(|_| PageError::BadRequest("that is not a MAC address".into()))?;
    let read = state
        .readers
        .read(move |query| -> Result<_, DbError> {
            let Some(page) = query.asset_page(mac, RECENT)? else {
                return Ok(None);
            };
            let store = query.store();
            let entry = store.registry_entry(mac)?;
            let events = store.events(&EventFilter {
                mac: Some(mac),
                limit: Some(FLAG_EVENTS),
                ..EventFilter::default()
            })?;
            Ok(Some((page, entry, events)))
        })
        .await?;
    let Some((page, entry, events)) = read else {
        return Err(PageError::NotFound);
    };
    let form = super::registry::Fields::of(entry.as_ref().map(|entry| &entry.fields));
    render(&AssetTemplate {
        title: page.view.mac.to_string(),
        nav: user.nav(),
        vendor: vendor_line(&page),
        flags: flag_rows(&page, &events),
        categories: Category::ALL
            .iter()
            .map(|category| category.as_str())
            .collect(),
        criticalities: Criticality::ALL
            .iter()
            .map(|value| value.as_str())
            .collect(),
        page,
        entry,
        form,
    })
}

/// Template helpers: askama calls these on the page's values.
impl AssetTemplate {
    fn exact(&self, at: &jiff::Timestamp) -> String {
        when_exact(*at)
    }

    fn short(&self, at: &jiff::Timestamp) -> String {
        when(*at)
    }

    fn maybe(&self, at: &Option<jiff::Timestamp>) -> String {
        at.map_or_else(|| "never".to_owned(), when)
    }

    fn evidence_note(&self, evidence: &crate::classify::Evidence) -> &'static str {
        match evidence.role {
            crate::classify::Role::Counted => "",
            crate::classify::Role::Overruled => "overruled",
            crate::classify::Role::Deferred => "deferred: gives way to what the device says",
        }
    }

    fn ips(&self, ips: &[std::net::IpAddr]) -> String {
        ips.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
