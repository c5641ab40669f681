//! The HTML report: for people, readable offline (no script, no external resource). Counts by
//! category and flag come first, then unmanaged assets, registered assets with flags, then the
//! rest; each section shows at most [`SECTION_ROWS`] assets (at a million rows the report says
//! where the full list is: the signed JSON and CSV exports). Every string is escaped.

use std::fmt::Write as _;

use super::signing::Signer25519;
use super::{Header, SnapshotInput, header};
use crate::safe::html;
use crate::views::AssetView;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em;\
text-align:left;vertical-align:top;font-size:.9em}th{background:#f2f2f2}\
.flag{display:inline-block;border-radius:3px;padding:0 .3em;margin:0 .1em;background:#eee}\
.unmanaged,.arp_conflict{background:#f8d0d0}.stale{background:#f3e3b5}.new,.ip_changed{background:#d6e8f7}\
.meta{color:#555}code{font-size:.95em}";

fn counts_table(title: &str, counts: &std::collections::BTreeMap<String, usize>, out: &mut String) {
    let _ = write!(
        out,
        "<table><tr><th>{}</th><th>assets</th></tr>",
        html(title)
    );
    for (name, count) in counts {
        let _ = write!(out, "<tr><td>{}</td><td>{count}</td></tr>", html(name));
    }
    out.push_str("</table>");
}

fn asset_rows(views: &[&AssetView], out: &mut String) {
    out.push_str(
        "<table><tr><th>MAC</th><th>vendor</th><th>category / kind</th><th>model</th><th>addresses</th>\
         <th>host names</th><th>flags</th><th>registry</th><th>last seen</th><th>services</th></tr>",
    );
    for view in views {
        let flags: String = view
            .flags
            .iter()
            .map(|flag| format!("<span class=\"flag {0}\">{0}</span>", html(flag.as_str())))
            .collect();
        let registry = view.registry.as_ref().map_or_else(String::new, |entry| {
            [&entry.asset_tag, &entry.name, &entry.location, &entry.owner]
                .into_iter()
                .filter(|field| !field.is_empty())
                .map(|field| html(field))
                .collect::<Vec<_>>()
                .join("<br>")
        });
        let services: Vec<String> = view
            .services
            .iter()
            .map(|service| match service.port {
                Some(port) => format!("{} ({port})", html(&service.service_type)),
                None => html(&service.service_type),
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{} / {} ({:.2})</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{flags}</td><td>{registry}</td><td>{}</td><td>{}</td></tr>",
            view.mac,
            html(view.vendor.as_deref().unwrap_or("")),
            html(view.category.as_str()),
            html(&view.kind),
            view.confidence,
            [
                &view.identity.manufacturer,
                &view.identity.model,
                &view.identity.firmware
            ]
            .into_iter()
            .flatten()
            .map(|text| html(text))
            .collect::<Vec<_>>()
            .join("<br>"),
            view.ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("<br>"),
            view.hostnames
                .iter()
                .map(|name| html(name))
                .collect::<Vec<_>>()
                .join("<br>"),
            view.last_seen.map_or_else(
                || "never".to_owned(),
                |at| at.strftime("%Y-%m-%d %H:%M").to_string()
            ),
            services.join("<br>"),
        );
    }
    out.push_str("</table>");
}

/// Most rows of each section: the report is for people; the full list is in the JSON and
/// CSV exports.
pub const SECTION_ROWS: usize = 1_000;

/// The assets a report shows, in bounded sections, gathered in one pass over the listing.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// Unmanaged assets, the first [`SECTION_ROWS`].
    pub unmanaged: Vec<AssetView>,
    /// Registered assets with a flag, the first [`SECTION_ROWS`].
    pub flagged: Vec<AssetView>,
    /// Other registered assets, the first [`SECTION_ROWS`].
    pub registered: Vec<AssetView>,
    /// Registered assets with a flag, all of them.
    pub flagged_total: usize,
}

impl Sections {
    /// Files `view` in its section (kept while the section has room).
    pub fn add(&mut self, view: AssetView) {
        let section = if !view.managed {
            &mut self.unmanaged
        } else if !view.flags.is_empty() {
            self.flagged_total += 1;
            &mut self.flagged
        } else {
            &mut self.registered
        };
        if section.len() < SECTION_ROWS {
            section.push(view);
        }
    }
}

/// The report of the inventory in `input`. It names the signing key and the event chain head,
/// but is not itself signed: the JSON and CSV snapshots are what an auditor verifies.
pub fn report(input: &SnapshotInput, signer: &Signer25519) -> String {
    let mut sections = Sections::default();
    for view in &input.assets {
        sections.add(view.clone());
    }
    let mut header = header(&input.meta(), signer);
    header.rows = input.assets.len();
    render(&header, &sections)
}

fn section(title: &str, shown: &[AssetView], total: usize, out: &mut String) {
    let _ = write!(out, "<h2>{} ({total})</h2>", html(title));
    if shown.len() < total {
        let _ = write!(
            out,
            "<p class=\"meta\">The first {} are shown; the full list is in the signed export \
             (<code>hygie-collector export --format json</code> or <code>--format csv</code>) \
             and in <code>hygie-collector assets</code>.</p>",
            shown.len()
        );
    }
    let rows: Vec<&AssetView> = shown.iter().collect();
    asset_rows(&rows, out);
}

/// Renders the report: counts first, then unmanaged assets, registered ones with flags, and
/// the other registered ones, each section bounded by [`SECTION_ROWS`].
pub fn render(header: &Header, sections: &Sections) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Hygie inventory {taken}</title><style>{STYLE}</style></head><body>\
         <h1>Network asset inventory</h1>\
         <p class=\"meta\">Taken {taken} by collector {host} (version {version}, signing key {key}). \
         Event chain head: {head_id} <code>{head_hash}</code>. The signed JSON and CSV exports of \
         the same inventory can be checked with <code>hygie-collector verify</code>.</p>",
        taken = html(&header.taken_at.to_string()),
        host = html(&header.collector.hostname),
        version = html(&header.collector.version),
        key = html(&header.collector.key_id),
        head_id = header.events_head.id,
        head_hash = html(&header.events_head.hash),
    );
    let counts = &header.counts;
    let _ = write!(
        out,
        "<h2>Summary</h2><p>{} assets: {} seen on the network, {} in the registry.</p>",
        counts.assets, counts.seen, counts.managed
    );
    counts_table("category", &counts.by_category, &mut out);
    counts_table("flag", &counts.by_flag, &mut out);
    let unmanaged = counts.assets.saturating_sub(counts.managed);
    section("Unmanaged assets", &sections.unmanaged, unmanaged, &mut out);
    section(
        "Registered assets with flags",
        &sections.flagged,
        sections.flagged_total,
        &mut out,
    );
    section(
        "Registered assets without flags",
        &sections.registered,
        counts.managed.saturating_sub(sections.flagged_total),
        &mut out,
    );
    out.push_str("</body></html>\n");
    out
}
