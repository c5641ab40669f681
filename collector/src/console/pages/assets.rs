//! The assets: every filter and order of `hygie-collector assets`, paged with the listing's
//! keyset cursor (each order has its index, so a deep page costs what the first does), the
//! sortable columns as links, and CSV/JSON downloads of the current filter and order, streamed.

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
use crate::report::{ListingWriter, RowFormat};
use crate::store::InventoryReader;
use crate::store::listing::{Cursor, Filter, Listing, Order, Page};

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
    sort: String,
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

    fn order(&self) -> Result<Order, PageError> {
        Ok(text(&self.sort)
            .map(|sort| sort.parse::<Order>())
            .transpose()
            .map_err(|error| PageError::BadRequest(error.to_string()))?
            .unwrap_or_default())
    }

    /// The listing it asks for (a page of it when `limit` is given).
    fn listing(&self, limit: Option<u64>) -> Result<Listing, PageError> {
        let listing = Listing {
            filter: self.filter()?,
            order: self.order()?,
            after: self.cursor()?,
            limit,
        };
        listing
            .check()
            .map_err(|error| PageError::BadRequest(error.to_string()))?;
        Ok(listing)
    }

    fn cursor(&self) -> Result<Option<Cursor>, PageError> {
        text(&self.after)
            .map(|after| after.parse::<Cursor>())
            .transpose()
            .map_err(|error| PageError::BadRequest(error.to_string()))
    }

    /// The query string of this filter in `sort` order, without paging.
    fn link_sorted(&self, sort: &str) -> String {
        query_string(&[
            ("flag", &self.flag),
            ("category", &self.category),
            ("kind", &self.kind),
            ("site", &self.site),
            ("vendor", &self.vendor),
            ("search", &self.search),
            ("sort", sort),
        ])
    }

    /// The query string of this filter and order, without paging.
    fn link(&self) -> String {
        self.link_sorted(&self.sort)
    }
}

/// How a person reads an order.
fn order_label(order: Order) -> &'static str {
    match order {
        Order::Mac => "MAC",
        Order::LastSeen => "last seen, most recent first",
        Order::FirstSeen => "first seen, newest first",
        Order::Vendor => "vendor",
        Order::Category => "category",
        Order::Kind => "kind",
    }
}

/// A column heading of the listing; sortable ones link to the listing in their order.
struct Column {
    label: &'static str,
    /// The query string sorting by it; empty when it does not sort.
    href: String,
    /// `aria-sort` of the current order's column; empty otherwise.
    aria: &'static str,
    marker: &'static str,
}

fn columns(form: &FilterQuery, current: Order) -> Vec<Column> {
    let heading = |label: &'static str, order: Option<Order>| {
        let Some(order) = order else {
            return Column {
                label,
                href: String::new(),
                aria: "",
                marker: "",
            };
        };
        let descending = matches!(order, Order::LastSeen | Order::FirstSeen);
        let (aria, marker) = match (order == current, descending) {
            (false, _) => ("", ""),
            (true, true) => ("descending", " \u{25bc}"),
            (true, false) => ("ascending", " \u{25b2}"),
        };
        Column {
            label,
            href: form.link_sorted(if order == Order::Mac {
                ""
            } else {
                order.as_str()
            }),
            aria,
            marker,
        }
    };
    vec![
        heading("MAC", Some(Order::Mac)),
        heading("Addresses", None),
        heading("Host name", None),
        heading("Vendor", Some(Order::Vendor)),
        heading("Category / kind", Some(Order::Category)),
        heading("Model", None),
        heading("Registry name", None),
        heading("Flags", None),
        heading("Last seen", Some(Order::LastSeen)),
    ]
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
    sort: &'static str,
    sort_label: &'static str,
    orders: Vec<(&'static str, &'static str)>,
    columns: Vec<Column>,
}

pub(crate) async fn list(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Query(form): Query<FilterQuery>,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let listing = form.listing(Some(
        form.limit.unwrap_or(PAGE_ROWS).clamp(1, MAX_PAGE_ROWS),
    ))?;
    let order = listing.order;
    let filter = listing.filter.clone();
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
    // The next page keeps the filter, the order and the page size.
    let next = page.next.map(|cursor| {
        let separator = if filter_link.is_empty() { "" } else { "&" };
        let size = form
            .limit
            .map_or_else(String::new, |limit| format!("&limit={limit}"));
        format!("{filter_link}{separator}after={cursor}{size}")
    });
    render(&AssetsPage {
        title: "Assets",
        nav: user.nav(),
        sort: if order == Order::Mac {
            ""
        } else {
            order.as_str()
        },
        sort_label: order_label(order),
        orders: Order::ALL
            .iter()
            .map(|order| {
                let value = if *order == Order::Mac {
                    ""
                } else {
                    order.as_str()
                };
                (value, order_label(*order))
            })
            .collect(),
        columns: columns(&form, order),
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
    download_listing(&state, &user, &form, RowFormat::Csv)
}

/// Every asset of the filter, as a JSON array (one asset a line), as `assets --format json`
/// writes them.
pub(crate) async fn json(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Query(form): Query<FilterQuery>,
) -> Result<Response, PageError> {
    download_listing(&state, &user, &form, RowFormat::Json)
}

/// The whole listing of the form's filter and order, streamed in `format`.
fn download_listing(
    state: &Arc<State>,
    user: &SignedIn,
    form: &FilterQuery,
    format: RowFormat,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let listing = form.listing(None)?;
    let (content_type, file_name) = match format {
        RowFormat::Csv => ("text/csv; charset=utf-8", "hygie-assets.csv"),
        RowFormat::Json => ("application/json", "hygie-assets.json"),
    };
    Ok(download::stream(
        &state.readers,
        content_type,
        file_name,
        move |query, out| write_listing(query, &listing, format, out),
    ))
}

/// Writes every view of `listing` in `format`, stopping at the first error.
fn write_listing(
    query: &crate::query::Query<crate::store::SqliteStore>,
    listing: &Listing,
    format: RowFormat,
    out: &mut impl Write,
) -> Result<(), String> {
    let mut writer = ListingWriter::new(format, out);
    let mut failed = None;
    query
        .list(listing, &mut |view| match writer.row(&view) {
            Ok(()) => true,
            Err(error) => {
                failed = Some(error.to_string());
                false
            }
        })
        .map_err(|error| hygie_proto::error_chain(&error))?;
    if let Some(error) = failed {
        return Err(error);
    }
    writer.finish().map(drop).map_err(|error| error.to_string())
}
