//! Approve, edit and remove a registry entry from the asset page: the operation of `approve`
//! and `registry remove` ([`crate::store::SqliteStore::change_registry_by`]), with the user's
//! name in the events.

use std::sync::Arc;

use axum::extract::{Form, Path, State as Shared};
use axum::response::{IntoResponse, Redirect, Response};
use hygie_proto::MacAddr;
use serde::Deserialize;

use crate::classify::Category;
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State};
use crate::console::auth::SignedIn;
use crate::registry::{Criticality, RegistryFields};
use crate::store::{RegistryChange, StoreError};

/// The registry form's fields, as sent and as shown.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Fields {
    #[serde(default)]
    pub(crate) asset_tag: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) category: String,
    #[serde(default)]
    pub(crate) location: String,
    #[serde(default)]
    pub(crate) owner: String,
    #[serde(default)]
    pub(crate) criticality: String,
    #[serde(default)]
    pub(crate) site: String,
    /// A checkbox: present (`yes`) or absent.
    #[serde(default)]
    pub(crate) do_not_probe: Option<String>,
}

impl Fields {
    /// The form filled with an entry's values (empty for a device not registered).
    pub(crate) fn of(fields: Option<&RegistryFields>) -> Self {
        let Some(fields) = fields else {
            return Fields::default();
        };
        Fields {
            asset_tag: fields.asset_tag.clone(),
            name: fields.name.clone(),
            category: fields
                .category
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            location: fields.location.clone(),
            owner: fields.owner.clone(),
            criticality: fields
                .criticality
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            site: fields.site.clone(),
            do_not_probe: fields.do_not_probe.then(|| "yes".to_owned()),
        }
    }

    /// Whether the checkbox is ticked.
    pub(crate) fn probing_forbidden(&self) -> bool {
        self.do_not_probe.is_some()
    }

    /// The fields checked as the command line checks them.
    fn checked(&self) -> Result<RegistryFields, PageError> {
        let bad = |reason: String| PageError::BadRequest(reason);
        let category = match self.category.trim() {
            "" => None,
            text => Some(text.parse::<Category>().map_err(|e| bad(e.to_string()))?),
        };
        let criticality = match self.criticality.trim() {
            "" => None,
            text => Some(
                text.parse::<Criticality>()
                    .map_err(|e| bad(e.to_string()))?,
            ),
        };
        RegistryFields {
            asset_tag: self.asset_tag.clone(),
            name: self.name.clone(),
            category,
            location: self.location.clone(),
            owner: self.owner.clone(),
            criticality,
            site: self.site.clone(),
            do_not_probe: self.probing_forbidden(),
        }
        .check()
        .map_err(bad)
    }
}

/// A registry form: its token and fields.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangeForm {
    csrf: String,
    #[serde(flatten)]
    fields: Fields,
}

fn device(mac: &str) -> Result<MacAddr, PageError> {
    let mac: MacAddr = mac
        .parse()
        .map_err(|_| PageError::BadRequest("that is not a MAC address".into()))?;
    if !mac.is_device() {
        return Err(PageError::BadRequest(format!(
            "{mac} is a multicast or all-zero address, not a device"
        )));
    }
    Ok(mac)
}

async fn apply(
    state: &Arc<State>,
    user: &SignedIn,
    mac: MacAddr,
    change: RegistryChange,
) -> Result<Response, PageError> {
    let by = user.user.clone();
    let now = state.now();
    let outcome = state
        .changes
        .write(move |store| -> Result<_, PageError> {
            match store.change_registry_by(change, Some(&by), now) {
                Ok(outcome) => Ok(outcome),
                Err(StoreError::NotRegistered(mac)) => Err(PageError::BadRequest(format!(
                    "{mac} is not in the registry"
                ))),
                Err(error) => Err(error.into()),
            }
        })
        .await?;
    tracing::info!(
        user = %user.user, %mac, added = outcome.added, updated = outcome.updated,
        removed = outcome.removed, "console: registry changed"
    );
    Ok(Redirect::to(&format!("/assets/{mac}")).into_response())
}

/// Registers the device, or sets the fields given (as `approve` does).
pub(crate) async fn approve(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Path(mac): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    user.require(Capability::ChangeRegistry)?;
    let mac = device(&mac)?;
    let fields = form.fields.checked()?;
    let do_not_probe = Some(fields.do_not_probe);
    apply(
        &state,
        &user,
        mac,
        RegistryChange::Approve {
            mac,
            fields,
            do_not_probe,
        },
    )
    .await
}

/// Sets every field to the form's, empty ones included.
pub(crate) async fn edit(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Path(mac): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    user.require(Capability::ChangeRegistry)?;
    let mac = device(&mac)?;
    let fields = form.fields.checked()?;
    apply(&state, &user, mac, RegistryChange::Replace { mac, fields }).await
}

/// The removal form: only its token.
#[derive(Debug, Deserialize)]
pub(crate) struct RemoveForm {
    csrf: String,
}

/// Removes the entry.
pub(crate) async fn remove(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Path(mac): Path<String>,
    Form(form): Form<RemoveForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    user.require(Capability::ChangeRegistry)?;
    let mac = device(&mac)?;
    apply(&state, &user, mac, RegistryChange::Remove { mac }).await
}
