//! The overview: counts by category, flag and site, the unmanaged and new devices first, the
//! agents and when each last reported, and the chart of the last days (the counts and the
//! chart from [`crate::console::summary`], at most a minute or so old).

use std::sync::Arc;

use askama::Template;
use axum::extract::State as Shared;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};

use super::AssetRow;
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, render};
use crate::console::auth::{Nav, SignedIn};
use crate::console::db::DbError;
use crate::console::html::{ago, when, when_exact};
use crate::console::summary::Summaries;
use crate::inventory::flags::Flag;
use crate::store::InventoryReader;
use crate::store::listing::{Filter, Listing, Order, VerdictStatus};
use crate::views::Counts;

/// Rows of each short list on the overview.
const SHORT_LIST: u64 = 15;

#[derive(Debug)]
pub(crate) struct AgentRow {
    pub(crate) name: String,
    pub(crate) site: String,
    pub(crate) hostname: String,
    pub(crate) version: String,
    pub(crate) last_report: String,
    pub(crate) silent: bool,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    title: &'static str,
    nav: Nav,
    counts: Counts,
    unmanaged_count: usize,
    new_count: usize,
    staleness: Option<String>,
    counted_at: String,
    unmanaged: Vec<AssetRow>,
    new: Vec<AssetRow>,
    agents: Vec<AgentRow>,
    chart: String,
}

struct Read {
    status: VerdictStatus,
    unmanaged: Vec<AssetRow>,
    new: Vec<AssetRow>,
    agents: Vec<AgentRow>,
}

/// The devices with `flag` that were first seen last: what someone opening the console looks
/// for first.
fn newest_of<R: InventoryReader>(store: &R, flag: Flag) -> Result<Vec<AssetRow>, DbError> {
    let mut rows = Vec::new();
    store.list(
        &Listing {
            filter: Filter {
                flag: Some(flag),
                ..Filter::default()
            },
            order: Order::FirstSeen,
            after: None,
            limit: Some(SHORT_LIST),
        },
        &mut |view| {
            rows.push(AssetRow::of(&view));
            true
        },
    )?;
    Ok(rows)
}

fn agents<R: InventoryReader>(
    store: &R,
    now: Timestamp,
    silent_after: SignedDuration,
) -> Result<Vec<AgentRow>, DbError> {
    let reports = store.last_reports()?;
    Ok(store
        .agents()?
        .into_iter()
        .map(|agent| {
            let last = reports.get(&agent.id).copied();
            AgentRow {
                silent: last.is_none_or(|last| now.duration_since(last) > silent_after),
                last_report: last.map_or_else(
                    || "never".to_owned(),
                    |last| format!("{} ({} ago)", when(last), ago(now, last)),
                ),
                name: agent.name,
                site: agent.site,
                hostname: agent.hostname,
                version: agent.version,
            }
        })
        .collect())
}

pub(crate) async fn show(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let now = state.now();
    let silent_after =
        SignedDuration::try_from(state.settings.agent_silent_after).unwrap_or(SignedDuration::MAX);
    let summary = Summaries::get(&state).await?;
    let read = state
        .readers
        .read(move |query| {
            query
                .store()
                .consistent(|store| -> Result<Read, DbError> {
                    Ok(Read {
                        status: store.verdict_status()?,
                        unmanaged: newest_of(store, Flag::Unmanaged)?,
                        new: newest_of(store, Flag::New)?,
                        agents: agents(store, now, silent_after)?,
                    })
                })
                .map_err(DbError::from)?
        })
        .await?;
    let flag_count = |flag: Flag| {
        summary
            .counts
            .by_flag
            .get(flag.as_str())
            .copied()
            .unwrap_or(0)
    };
    render(&OverviewPage {
        title: "Overview",
        nav: user.nav(),
        unmanaged_count: flag_count(Flag::Unmanaged),
        new_count: flag_count(Flag::New),
        staleness: match read.status {
            VerdictStatus::Current => None,
            VerdictStatus::Previous(staleness) => Some(staleness.to_string()),
        },
        counted_at: when_exact(summary.taken),
        counts: summary.counts.clone(),
        unmanaged: read.unmanaged,
        new: read.new,
        agents: read.agents,
        chart: summary.chart.clone(),
    })
}
