//! A strict reader of the exposition text, for tests: it accepts what a conforming scraper
//! accepts from us and refuses what a careless change would produce (a name outside the
//! prefix, a counter without `_total`, a duplicate series, a histogram that is not cumulative).
//! Both formats of [`crate::Format`] are read; `# EOF` is required only in OpenMetrics.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`hygie_x_total`, `hygie_y_bucket`).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A checked exposition.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Family name → declared type.
    pub families: BTreeMap<String, String>,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

/// Why an exposition is not well-formed, with the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}: {text:?}")]
pub struct FormatError {
    /// 1-based line number (0: the whole text).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// The line.
    pub text: String,
}

const TYPES: [&str; 9] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
    "untyped",
];

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    valid_name(name) && !name.contains(':')
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Splits `name{a="b",c="d"} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "a sample needs a value".to_owned())?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("{name:?} is not a metric name"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end = loop {
            // A label name, '=', a quoted value, then ',' or '}'.
            let start = match chars.peek() {
                Some(&(at, '}')) => break at,
                Some(&(at, _)) => at,
                None => return Err("unterminated label set".into()),
            };
            let eq = inner[start..]
                .find('=')
                .ok_or_else(|| "a label without '='".to_owned())?
                + start;
            let key = &inner[start..eq];
            if !valid_label_name(key) {
                return Err(format!("{key:?} is not a label name"));
            }
            while chars.peek().is_some_and(|&(at, _)| at <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key}: the value must be quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => {
                            return Err(format!("label {key}: bad escape {other:?}"));
                        }
                    },
                    Some((_, '\n')) | None => {
                        return Err(format!("label {key}: unterminated value"));
                    }
                    Some((_, c)) => value.push(c),
                }
            }
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} given twice"));
            }
            match chars.next() {
                Some((_, ',')) => {}
                Some((at, '}')) => break at,
                _ => return Err("labels must be separated by ','".into()),
            }
        };
        rest = &inner[end + 1..];
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or_else(|| "a single space must precede the value".to_owned())?
        .split(' ');
    let value_text = fields.next().unwrap_or_default();
    let value = parse_value(value_text).ok_or_else(|| format!("{value_text:?} is not a number"))?;
    if let Some(timestamp) = fields.next()
        && timestamp.parse::<f64>().is_err()
    {
        return Err(format!("{timestamp:?} is not a timestamp"));
    }
    if fields.next().is_some() {
        return Err("trailing fields after the value".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The suffixes a sample of a family of type `kind` may add to the family's name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created", ""],
        "histogram" | "gaugehistogram" => {
            &["_bucket", "_sum", "_count", "_created", "_gcount", "_gsum"]
        }
        "summary" => &["_sum", "_count", "_created", ""],
        "info" => &["_info", ""],
        _ => &[""],
    }
}

/// Reads `text`, an exposition in either format, and checks it (see the module docs). Every
/// family and sample name must start with `prefix`.
pub fn check(text: &str, prefix: &str) -> Result<Scrape, FormatError> {
    let mut scrape = Scrape::default();
    let mut helped = BTreeSet::new();
    let mut current: Option<(String, String)> = None;
    let mut series = BTreeSet::new();
    let mut eof = false;
    for (index, line) in text.lines().enumerate() {
        let error = |reason: String| FormatError {
            line: index + 1,
            reason,
            text: line.to_owned(),
        };
        if eof {
            return Err(error("text after # EOF".into()));
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let rest = parts.next();
            if !name.starts_with(prefix) || !valid_name(name) {
                return Err(error(format!("family {name:?} is not under {prefix}")));
            }
            match keyword {
                "HELP" => {
                    if rest.is_none_or(str::is_empty) {
                        return Err(error("empty help".into()));
                    }
                    if !helped.insert(name.to_owned()) {
                        return Err(error("help given twice".into()));
                    }
                }
                "TYPE" => {
                    let kind = rest.unwrap_or_default();
                    if !TYPES.contains(&kind) {
                        return Err(error(format!("unknown type {kind:?}")));
                    }
                    if scrape
                        .families
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return Err(error("family declared twice".into()));
                    }
                    current = Some((name.to_owned(), kind.to_owned()));
                }
                "UNIT" => {
                    if rest.is_none_or(|unit| !name.ends_with(&format!("_{unit}"))) {
                        return Err(error("the name must end with its unit".into()));
                    }
                }
                _ => return Err(error(format!("unexpected comment {keyword:?}"))),
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            return Err(error("empty line or stray comment".into()));
        }
        let sample = parse_sample(line).map_err(error)?;
        let Some((family, kind)) = &current else {
            return Err(error("a sample before any # TYPE".into()));
        };
        let suffix = sample
            .name
            .strip_prefix(family.as_str())
            .filter(|suffix| suffixes(kind).contains(suffix))
            .ok_or_else(|| error(format!("not a sample of the {kind} {family}")))?;
        if kind == "counter" && !sample.name.ends_with("_total") && suffix != "_created" {
            return Err(error("a counter's samples must end in _total".into()));
        }
        if !series.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(error("duplicate series".into()));
        }
        if kind == "counter" && sample.value < 0.0 {
            return Err(error("a negative counter".into()));
        }
        scrape.samples.push(sample);
    }
    if text.contains("# EOF") && !eof {
        return Err(FormatError {
            line: 0,
            reason: "# EOF is not the last line".into(),
            text: String::new(),
        });
    }
    check_histograms(&scrape)?;
    Ok(scrape)
}

/// Buckets cumulative and non-decreasing, `+Inf` equal to `_count`, per series.
fn check_histograms(scrape: &Scrape) -> Result<(), FormatError> {
    let whole = |reason: String| FormatError {
        line: 0,
        reason,
        text: String::new(),
    };
    for (family, kind) in &scrape.families {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{family}_bucket");
        let mut per_series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in scrape.samples.iter().filter(|s| s.name == bucket) {
            let mut labels = sample.labels.clone();
            let le = labels
                .remove("le")
                .and_then(|le| parse_value(&le))
                .ok_or_else(|| whole(format!("{bucket} without a numeric le")))?;
            per_series
                .entry(labels)
                .or_default()
                .push((le, sample.value));
        }
        for (labels, buckets) in per_series {
            let ordered = buckets
                .windows(2)
                .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1);
            if !ordered {
                return Err(whole(format!("{family}: buckets not cumulative")));
            }
            let inf = buckets
                .last()
                .filter(|(le, _)| le.is_infinite())
                .map(|b| b.1);
            let count = scrape
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .map(|s| s.value);
            if inf.is_none() || inf != count {
                return Err(whole(format!("{family}: +Inf bucket and _count differ")));
            }
        }
    }
    Ok(())
}

impl Scrape {
    /// The value of the one sample named `name` whose labels include `labels`; `None` if
    /// there is none. Several matching samples are summed.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut matching = self.matching(name, labels).peekable();
        matching.peek()?;
        Some(matching.map(|sample| sample.value).sum())
    }

    /// Like [`Scrape::value`], but an absent sample is an error naming what is there.
    pub fn require(&self, name: &str, labels: &[(&str, &str)]) -> Result<f64, String> {
        self.value(name, labels).ok_or_else(|| {
            let names: BTreeSet<&str> = self.samples.iter().map(|s| s.name.as_str()).collect();
            format!("no sample {name} with {labels:?}; the samples are {names:?}")
        })
    }

    /// Every label name used by some sample.
    pub fn label_names(&self) -> BTreeSet<&str> {
        self.samples
            .iter()
            .flat_map(|sample| sample.labels.keys().map(String::as_str))
            .collect()
    }

    /// The sum of the samples named `name` whose labels include `labels` (0 if none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|sample| sample.value).sum()
    }

    /// Samples named `name` whose labels include `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
        })
    }
}
