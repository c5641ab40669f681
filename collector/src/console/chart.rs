//! The overview's chart: assets seen and unmanaged devices over the last days, as SVG drawn on
//! the server (no script, no external resource). Pure: counts in, markup out. The markup holds
//! only numbers and fixed words, never device-supplied text.

use jiff::Timestamp;
use std::fmt::Write;

use crate::store::Timeline;

/// The count at the end of each bucket, worked back from the counts now: `assets_now` seen
/// assets and `unmanaged_now` unmanaged ones.
pub(crate) fn series(
    timeline: &Timeline,
    assets_now: u64,
    unmanaged_now: u64,
) -> (Vec<u64>, Vec<u64>) {
    let count = timeline.buckets.len();
    let mut assets = Vec::with_capacity(count);
    let mut unmanaged = Vec::with_capacity(count);
    for index in 0..count {
        let after = timeline.since(index + 1);
        assets.push(assets_now.saturating_sub(after.new_assets));
        unmanaged
            .push((unmanaged_now + after.unmanaged_cleared).saturating_sub(after.unmanaged_raised));
    }
    (assets, unmanaged)
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

fn polyline(values: &[u64], top: u64, class: &str) -> String {
    let steps = values.len().saturating_sub(1).max(1) as f64;
    let mut points = String::new();
    for (index, value) in values.iter().enumerate() {
        let x = LEFT + (WIDTH - LEFT - 8.0) * index as f64 / steps;
        let y = TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - *value as f64 / top.max(1) as f64);
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    format!(
        "<polyline class=\"{class}\" points=\"{}\"/>",
        points.trim_end()
    )
}

/// The SVG of both series, the first bucket ending at `first` and the last at `last`.
pub(crate) fn svg(first: Timestamp, last: Timestamp, assets: &[u64], unmanaged: &[u64]) -> String {
    let top = assets
        .iter()
        .chain(unmanaged)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let baseline = HEIGHT - BOTTOM;
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"Assets seen and unmanaged devices per day\">"
    );
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{baseline}\" x2=\"{WIDTH}\" y2=\"{baseline}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{baseline}\"/>\
         <text x=\"{x}\" y=\"{y}\" class=\"label\" text-anchor=\"end\">{top}</text>\
         <text x=\"{x}\" y=\"{baseline}\" class=\"label\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{HEIGHT}\" class=\"label\">{first}</text>\
         <text x=\"{WIDTH}\" y=\"{HEIGHT}\" class=\"label\" text-anchor=\"end\">{last}</text>",
        x = LEFT - 6.0,
        y = TOP + 8.0,
        first = first.strftime("%Y-%m-%d"),
        last = last.strftime("%Y-%m-%d"),
    );
    out.push_str(&polyline(assets, top, "series-assets"));
    out.push_str(&polyline(unmanaged, top, "series-unmanaged"));
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TimelineBucket;

    #[test]
    fn counts_are_worked_back_from_now() {
        let bucket = |new_assets, unmanaged_raised, unmanaged_cleared| TimelineBucket {
            new_assets,
            unmanaged_raised,
            unmanaged_cleared,
        };
        let timeline = Timeline {
            start: "2026-11-01T00:00:00Z".parse().unwrap(),
            width: jiff::SignedDuration::from_hours(24),
            buckets: vec![bucket(5, 5, 0), bucket(2, 2, 0), bucket(1, 1, 3)],
        };
        // Now: 10 assets, 6 unmanaged (5 + 2 + 1 raised, 3 cleared on the last day, 1 before).
        let (assets, unmanaged) = series(&timeline, 10, 6);
        assert_eq!(assets, [7, 9, 10]);
        assert_eq!(unmanaged, [6, 8, 6]);
        let drawn = svg(timeline.start, timeline.start, &assets, &unmanaged);
        assert!(drawn.starts_with("<svg") && drawn.ends_with("</svg>"));
        assert_eq!(drawn.matches("<polyline").count(), 2);
        assert!(!drawn.contains("style="), "no inline style under the CSP");
    }
}
