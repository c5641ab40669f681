//! The overview: counts by category, flag and site, the unmanaged and new devices first, the
//! agents and when each last reported, and the chart of the last days.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::State as Shared;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};

use super::AssetRow;
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, lock, render};
use crate::console::auth::{Nav, SignedIn};
use crate::console::chart::{self, Cached};
use crate::console::db::DbError;
use crate::console::html::{ago, when};
use crate::inventory::flags::Flag;
use crate::store::listing::{Filter, Listing, VerdictStatus};
use crate::store::{InventoryReader, Timeline};
use crate::views::Counts;

/// Rows of each short list on the overview.
const SHORT_LIST: u64 = 15;
/// Days the chart covers.
const CHART_DAYS: usize = 30;

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
    unmanaged: Vec<AssetRow>,
    new: Vec<AssetRow>,
    agents: Vec<AgentRow>,
    chart: String,
}

struct Read {
    counts: Counts,
    status: VerdictStatus,
    unmanaged: Vec<AssetRow>,
    new: Vec<AssetRow>,
    agents: Vec<AgentRow>,
    timeline: Option<Timeline>,
}

fn first_of<R: InventoryReader>(store: &R, flag: Flag) -> Result<Vec<AssetRow>, DbError> {
    let mut rows = Vec::new();
    store.list(
        &Listing {
            filter: Filter {
                flag: Some(flag),
                ..Filter::default()
            },
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

/// The chart's first bucket: midnight UTC, `CHART_DAYS - 1` days before today's.
fn chart_start(now: Timestamp) -> Timestamp {
    let day = SignedDuration::from_hours(24);
    let today = now.as_second().div_euclid(86_400) * 86_400;
    Timestamp::from_second(today).unwrap_or(now) - day * (CHART_DAYS as i32 - 1)
}

pub(crate) async fn show(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Read)?;
    let now = state.now();
    let cached = lock(&state.chart)
        .as_ref()
        .filter(|cached| cached.drawn.elapsed() < chart::REUSE_FOR)
        .map(|cached| cached.svg.clone());
    let need_timeline = cached.is_none();
    let silent_after =
        SignedDuration::try_from(state.settings.agent_silent_after).unwrap_or(SignedDuration::MAX);
    let read = state
        .readers
        .read(move |query| {
            query
                .store()
                .consistent(|store| -> Result<Read, DbError> {
                    Ok(Read {
                        counts: store.counts()?,
                        status: store.verdict_status()?,
                        unmanaged: first_of(store, Flag::Unmanaged)?,
                        new: first_of(store, Flag::New)?,
                        agents: agents(store, now, silent_after)?,
                        timeline: if need_timeline {
                            Some(store.timeline(
                                chart_start(now),
                                SignedDuration::from_hours(24),
                                CHART_DAYS,
                            )?)
                        } else {
                            None
                        },
                    })
                })
                .map_err(DbError::from)?
        })
        .await?;
    let flag_count = |flag: Flag| read.counts.by_flag.get(flag.as_str()).copied().unwrap_or(0);
    let chart = match (cached, &read.timeline) {
        (Some(svg), _) => svg,
        (None, Some(timeline)) => {
            let (assets, unmanaged) = chart::series(
                timeline,
                read.counts.seen as u64,
                flag_count(Flag::Unmanaged) as u64,
            );
            let last = timeline.start + timeline.width * (CHART_DAYS as i32 - 1);
            let svg = chart::svg(timeline.start, last, &assets, &unmanaged);
            *lock(&state.chart) = Some(Cached {
                drawn: Instant::now(),
                svg: svg.clone(),
            });
            svg
        }
        (None, None) => String::new(),
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
        counts: read.counts,
        unmanaged: read.unmanaged,
        new: read.new,
        agents: read.agents,
        chart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_starts_at_midnight_utc() {
        let now: Timestamp = "2026-11-30T15:04:05Z".parse().unwrap();
        assert_eq!(
            chart_start(now),
            "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
    }
}
