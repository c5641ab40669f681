//! The assets: every filter of `hygie-collector assets`, paged with the listing's keyset cursor
//! (MAC order: the order the read port pages in without a sort; another order would need an
//! index and a cursor per column), and CSV/JSON downloads of the current filter, streamed.

use std::io::Write;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State as Shared};
use axum::response::Response;
use serde::Deserialize;

use super::AssetRow;
use super::download;
use crate::classify::Category;
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, render};
use crate::console::auth::{Nav, SignedIn};
use crate::console::db::DbError;
use crate::console::html::query_string;
use crate::inventory::flags::Flag;
use crate::store::InventoryReader;
use crate::store::listing::{Cursor, Filter, Listing, Page};

/// Rows per page unless asked otherwise; most asked.
const PAGE_ROWS: u64 = 100;
const MAX_PAGE_ROWS: u64 = 1000;

/// The listing's query string, as the form sends it.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct FilterQuery {
    #[serde(default)]
    flag: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    search: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    limit: Option<u64>,
}

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.chars().take(200).collect())
}

impl FilterQuery {
    /// The filter it asks for; a value that is not one says so.
    fn filter(&self) -> Result<Filter, PageError> {
        Ok(Filter {
            flag: text(&self.flag)
                .map(|flag| flag.parse::<Flag>())
                .transpose()
                .map_err(|error| PageError::BadRequest(error.to_string()))?,
            category: text(&self.category)
                .map(|category| category.parse::<Category>())
                .transpose()
                .map_err(|error| PageError::BadRequest(error.to_string()))?,
            kind: text(&self.kind),
            site: text(&self.site),
            vendor: text(&self.vendor),
            search: text(&self.search),
        })
    }

    fn cursor(&self) -> Result<Option<Cursor>, PageError> {
        text(&self.after)
            .map(|after| after.parse::<Cursor>())
            .transpose()
            .map_err(|error| PageError::BadRequest(error.to_string()))
    }

    /// The query string of this filter, without paging.
    fn link(&self) -> String {
        query_string(&[
            ("flag", &self.flag),
            ("category", &self.category),
            ("kind", &self.kind),
            ("site", &self.site),
            ("vendor", &self.vendor),
            ("search", &self.search),
        ])
    }
}

#[derive(Template)]
#[template(path = "assets.html")]
struct AssetsPage {
    title: &'static str,
    nav: Nav,
    form: FilterQuery,
    flags: Vec<&'static str>,
    categories: Vec<&'static str>,
    rows: Vec<AssetRow>,
    total: u64,
    next: Option<String>,
    filter_link: String,
}

pub(crate) async fn list(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Query(form): Query<FilterQuery>,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let filter = form.filter()?;
    let listing = Listing {
        filter: filter.clone(),
        after: form.cursor()?,
        limit: Some(form.limit.unwrap_or(PAGE_ROWS).clamp(1, MAX_PAGE_ROWS)),
    };
    let (rows, page, total) = state
        .readers
        .read(
            move |query| -> Result<(Vec<AssetRow>, Page, u64), DbError> {
                let mut rows = Vec::new();
                let page = query.list(&listing, &mut |view| {
                    rows.push(AssetRow::of(&view));
                    true
                })?;
                Ok((rows, page, query.store().count(&filter)?))
            },
        )
        .await?;
    let filter_link = form.link();
    let next = page.next.map(|cursor| {
        let separator = if filter_link.is_empty() { "" } else { "&" };
        format!("{filter_link}{separator}after={cursor}")
    });
    render(&AssetsPage {
        title: "Assets",
        nav: user.nav(),
        flags: Flag::ALL.iter().map(|flag| flag.as_str()).collect(),
        categories: Category::ALL
            .iter()
            .map(|category| category.as_str())
            .collect(),
        form,
        rows,
        total,
        next,
        filter_link,
    })
}

/// Every asset of the filter, as `assets --format csv` writes them.
pub(crate) async fn csv(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Query(form): Query<FilterQuery>,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let filter = form.filter()?;
    Ok(download::stream(
        &state.readers,
        "text/csv; charset=utf-8",
        "hygie-assets.csv",
        move |query, out| {
            out.write_all(&crate::report::assets_csv_header())
                .map_err(|error| error.to_string())?;
            each_view(query, filter, |view| {
                out.write_all(&crate::report::assets_csv_row(view))
            })
        },
    ))
}

/// Every asset of the filter, as a JSON array (one asset a line).
pub(crate) async fn json(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Query(form): Query<FilterQuery>,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let filter = form.filter()?;
    Ok(download::stream(
        &state.readers,
        "application/json",
        "hygie-assets.json",
        move |query, out| {
            let mut first = true;
            out.write_all(b"[").map_err(|error| error.to_string())?;
            each_view(query, filter, |view| {
                out.write_all(if first { b"\n" } else { b",\n" })?;
                first = false;
                serde_json::to_writer(&mut *out, view).map_err(std::io::Error::other)
            })?;
            out.write_all(b"\n]\n").map_err(|error| error.to_string())
        },
    ))
}

/// Hands each view of `filter` to `each`, stopping at its first error.
fn each_view(
    query: &crate::query::Query<crate::store::SqliteStore>,
    filter: Filter,
    mut each: impl FnMut(&crate::views::AssetView) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut failed = None;
    query
        .list(
            &Listing {
                filter,
                ..Listing::default()
            },
            &mut |view| match each(&view) {
                Ok(()) => true,
                Err(error) => {
                    failed = Some(error.to_string());
                    false
                }
            },
        )
        .map_err(|error| hygie_proto::error_chain(&error))?;
    failed.map_or(Ok(()), Err)
}
