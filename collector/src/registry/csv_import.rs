//! Parsing a registry CSV: header names matched case-insensitively, every bad line reported
//! with its number and reason, unknown columns reported. Pure: bytes in, entries and errors
//! out; the caller decides whether to import anything.

use std::collections::BTreeMap;

use hygie_proto::MacAddr;

use super::RegistryFields;
use crate::classify::Category;

/// Columns understood, in the documented order.
pub const COLUMNS: [&str; 9] = [
    "mac",
    "asset_tag",
    "name",
    "category",
    "location",
    "owner",
    "criticality",
    "site",
    "do_not_probe",
];

/// A file that cannot be read as a registry at all.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("the file is empty")]
    Empty,
    #[error("no `mac` column in the header (found: {0})")]
    NoMacColumn(String),
    #[error("column {0:?} appears twice in the header")]
    DuplicateColumn(String),
    #[error("cannot read the header: {0}")]
    Header(String),
}

/// A valid line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLine {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// The device.
    pub mac: MacAddr,
    /// Its fields.
    pub fields: RegistryFields,
}

/// A refused line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Line number in the file.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// What a file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedCsv {
    /// Valid lines.
    pub entries: Vec<ImportLine>,
    /// Refused lines.
    pub errors: Vec<LineError>,
    /// Header columns this importer does not know (ignored).
    pub unknown_columns: Vec<String>,
    /// Known columns the header has: an import changes only these fields of existing entries.
    pub columns: Vec<&'static str>,
}

/// `Asset Tag`, `asset-tag` and `ASSET_TAG` all name `asset_tag`; `mac address` names `mac`.
fn normal_column(name: &str) -> String {
    let normal = name
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '-'], "_");
    match normal.as_str() {
        "mac_address" | "macaddress" | "hw_address" => "mac".to_owned(),
        "donotprobe" | "no_probe" => "do_not_probe".to_owned(),
        _ => normal,
    }
}

/// The field separator of a file, read off its header line: `;` (what spreadsheets write where
/// the decimal mark is a comma, as in French CMMS/GMAO exports) or a tab when the header has
/// more of them than commas, else `,`. Separators inside quotes do not count.
fn delimiter(bytes: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &byte in bytes {
        match byte {
            b'\n' if !quoted => break,
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    match counts {
        [comma, semicolon, tab] if semicolon > comma && semicolon >= tab => b';',
        [comma, _, tab] if tab > comma => b'\t',
        _ => b',',
    }
}

/// Parses a registry CSV (fields separated by commas, semicolons or tabs).
pub fn parse_csv(bytes: &[u8]) -> Result<ParsedCsv, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(bytes))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|error| CsvError::Header(error.to_string()))?
        .clone();
    if header.is_empty() || header.iter().all(|field| field.is_empty()) {
        return Err(CsvError::Empty);
    }
    let mut positions: BTreeMap<String, usize> = BTreeMap::new();
    let mut parsed = ParsedCsv::default();
    for (index, raw) in header.iter().enumerate() {
        let name = normal_column(&String::from_utf8_lossy(raw));
        if name.is_empty() {
            continue;
        }
        if COLUMNS.contains(&name.as_str()) {
            if positions.insert(name.clone(), index).is_some() {
                return Err(CsvError::DuplicateColumn(name));
            }
        } else {
            parsed.unknown_columns.push(name);
        }
    }
    parsed.columns = COLUMNS
        .into_iter()
        .filter(|column| positions.contains_key(*column))
        .collect();
    let Some(&mac_at) = positions.get("mac") else {
        let found: Vec<String> = header
            .iter()
            .map(|raw| String::from_utf8_lossy(raw).into_owned())
            .collect();
        return Err(CsvError::NoMacColumn(found.join(", ")));
    };

    // Line numbers from byte offsets: the reader's own count skips blank lines.
    let newlines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b'\n')
        .map(|(at, _)| at)
        .collect();
    let line_at = |byte: u64| {
        // A record "starts" where the reader left off, before any blank lines it skips.
        let mut at = byte as usize;
        while bytes
            .get(at)
            .is_some_and(|byte| matches!(byte, b'\n' | b'\r'))
        {
            at += 1;
        }
        newlines.partition_point(|&newline| newline < at) as u64 + 1
    };
    let mut first_line_of: BTreeMap<MacAddr, u64> = BTreeMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let start = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let at = error.position().map_or(start, |position| position.byte());
                parsed.errors.push(LineError {
                    line: line_at(at),
                    reason: format!("not valid CSV: {error}"),
                });
                continue;
            }
        }
        let line = line_at(record.position().map_or(start, |position| position.byte()));
        if record.iter().all(|field| field.is_empty()) {
            continue;
        }
        match parse_line(&record, &positions, mac_at, header.len()) {
            Ok((mac, fields)) => {
                if let Some(first) = first_line_of.get(&mac) {
                    parsed.errors.push(LineError {
                        line,
                        reason: format!("{mac} already appears on line {first}"),
                    });
                    continue;
                }
                first_line_of.insert(mac, line);
                parsed.entries.push(ImportLine { line, mac, fields });
            }
            Err(reason) => parsed.errors.push(LineError { line, reason }),
        }
    }
    Ok(parsed)
}

/// A cell our own CSV listings defused (`'=x`: see [`crate::safe::csv_cell`]) reads back as
/// what was stored (`=x`), so `registry list --format csv` can be edited and imported again.
fn undo_defusing(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(crate::safe::FORMULA_STARTS) => rest.to_owned(),
        _ => cell.to_owned(),
    }
}

fn parse_line(
    record: &csv::ByteRecord,
    positions: &BTreeMap<String, usize>,
    mac_at: usize,
    columns: usize,
) -> Result<(MacAddr, RegistryFields), String> {
    if record.len() != columns {
        return Err(format!(
            "{} fields where the header has {columns}",
            record.len()
        ));
    }
    let text = |column: &str| -> Result<String, String> {
        match positions.get(column).and_then(|&at| record.get(at)) {
            Some(raw) => std::str::from_utf8(raw)
                .map(undo_defusing)
                .map_err(|_| format!("{column} is not valid UTF-8")),
            None => Ok(String::new()),
        }
    };
    let mac_text = std::str::from_utf8(record.get(mac_at).unwrap_or_default())
        .map_err(|_| "mac is not valid UTF-8".to_owned())?;
    if mac_text.is_empty() {
        return Err("mac is empty".into());
    }
    let mac: MacAddr = mac_text.parse().map_err(|error| format!("{error}"))?;
    if !mac.is_device() {
        return Err(format!(
            "{mac} is a multicast or all-zero address, not a device"
        ));
    }
    let category = text("category")?;
    let criticality = text("criticality")?;
    let fields = RegistryFields {
        asset_tag: text("asset_tag")?,
        name: text("name")?,
        category: (!category.is_empty())
            .then(|| category.parse::<Category>())
            .transpose()
            .map_err(|error| error.to_string())?,
        location: text("location")?,
        owner: text("owner")?,
        criticality: (!criticality.is_empty())
            .then(|| criticality.parse::<crate::registry::Criticality>())
            .transpose()
            .map_err(|error| error.to_string())?,
        site: text("site")?,
        do_not_probe: crate::registry::parse_yes_no(&text("do_not_probe")?)
            .map_err(|error| error.to_string())?,
    };
    Ok((mac, fields.check()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Category;
    use crate::registry::Criticality;

    #[test]
    fn a_defused_listing_reads_back_as_stored() {
        let csv = "mac,name,owner\n00:09:5c:11:22:01,'=SUM(A1),'-\n00:09:5c:11:22:02,'quoted',x\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.entries[0].fields.name, "=SUM(A1)");
        assert_eq!(parsed.entries[0].fields.owner, "-");
        assert_eq!(parsed.entries[1].fields.name, "'quoted'");
    }

    #[test]
    fn semicolon_and_tab_separated_exports_read_like_comma_separated_ones() {
        let semicolon = "asset_tag;MAC;name;location\n\
                         BIO-1;00:09:5c:11:22:01;\"Moniteur, r\u{e9}a\";R\u{e9}a lit 3\n";
        let parsed = parse_csv(semicolon.as_bytes()).unwrap();
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(parsed.entries[0].fields.name, "Moniteur, r\u{e9}a");
        assert_eq!(parsed.entries[0].fields.location, "R\u{e9}a lit 3");
        let tab = "mac\tname\n00:09:5c:11:22:01\tMonitor; ICU\n";
        let parsed = parse_csv(tab.as_bytes()).unwrap();
        assert_eq!(parsed.entries[0].fields.name, "Monitor; ICU");
        // A comma file whose header quotes a semicolon stays a comma file.
        let comma = "mac,\"name;alias\",owner\n00:09:5c:11:22:01,x,y\n";
        assert_eq!(
            parse_csv(comma.as_bytes()).unwrap().entries[0].fields.owner,
            "y"
        );
    }

    #[test]
    fn headers_match_case_insensitively_and_unknown_columns_are_reported() {
        let csv = "MAC Address,Asset Tag,NAME,Category,Location,Owner,Criticality,Purchase Date\n\
                   00:09:5C:11:22:01,INV-0042,Monitor ICU 1,Biomedical,ICU bed 1,Biomed team,life critical,2019-03-01\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(parsed.unknown_columns, vec!["purchase_date".to_owned()]);
        let line = &parsed.entries[0];
        assert_eq!(line.line, 2);
        assert_eq!(line.mac.to_string(), "00:09:5c:11:22:01");
        assert_eq!(line.fields.asset_tag, "INV-0042");
        assert_eq!(line.fields.category, Some(Category::Biomedical));
        assert_eq!(line.fields.criticality, Some(Criticality::LifeCritical));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number_and_reason() {
        let csv = "mac,name,category,criticality\n\
                   00:09:5c:11:22:01,ok,,\n\
                   not-a-mac,x,,\n\
                   01:00:5e:00:00:01,multicast,,\n\
                   00:09:5c:11:22:02,bad category,laboratory,\n\
                   00:09:5c:11:22:03,bad criticality,,urgent\n\
                   00:09:5c:11:22:01,duplicate,,\n\
                   00:09:5c:11:22:04,too,many,fields,here\n\
                   00:09:5c:11:22:05,\"bell\u{7}\",,\n\
                   ,no mac,,\n\
                   \n\
                   00:09:5c:11:22:06,ok too,it,low\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        let errors: Vec<(u64, &str)> = parsed
            .errors
            .iter()
            .map(|error| (error.line, error.reason.as_str()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (
                    3,
                    "\"not-a-mac\" is not a MAC address: expected 12 hex digits"
                ),
                (
                    4,
                    "01:00:5e:00:00:01 is a multicast or all-zero address, not a device"
                ),
                (
                    5,
                    "\"laboratory\" is not a category (biomedical, building, iot, it, network, unknown)"
                ),
                (
                    6,
                    "\"urgent\" is not a criticality (low, medium, high, life_critical)"
                ),
                (7, "00:09:5c:11:22:01 already appears on line 2"),
                (8, "5 fields where the header has 4"),
                (9, "name contains a control character"),
                (10, "mac is empty"),
            ]
        );
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.entries[1].line, 12);
    }

    #[test]
    fn do_not_probe_and_site_are_read_and_bad_values_named() {
        let csv = "mac,name,site,Do Not Probe\n\
                   00:09:5c:11:22:01,pump,chu-nord,yes\n\
                   00:09:5c:11:22:02,monitor,,TRUE\n\
                   00:09:5c:11:22:03,printer,,0\n\
                   00:09:5c:11:22:04,camera,,\n\
                   00:09:5c:11:22:05,bad,,maybe\n\
                   00:09:5c:11:22:06,bad site,chu nord,no\n";
        let parsed = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(parsed.columns, vec!["mac", "name", "site", "do_not_probe"]);
        let flags: Vec<(bool, &str)> = parsed
            .entries
            .iter()
            .map(|line| (line.fields.do_not_probe, line.fields.site.as_str()))
            .collect();
        assert_eq!(
            flags,
            [(true, "chu-nord"), (true, ""), (false, ""), (false, "")]
        );
        let errors: Vec<(u64, &str)> = parsed
            .errors
            .iter()
            .map(|error| (error.line, error.reason.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (
                    6,
                    "do_not_probe \"maybe\" is neither yes nor no (yes, no, true, false, 1, 0; empty is no)"
                ),
                (
                    7,
                    "site \"chu nord\" is not allowed: use 1 to 64 letters, digits, '.', '_' or '-'"
                ),
            ]
        );
    }

    #[test]
    fn files_without_a_mac_column_are_refused() {
        let error = parse_csv(b"asset_tag,name\nINV-1,x\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "no `mac` column in the header (found: asset_tag, name)"
        );
        assert!(matches!(parse_csv(b""), Err(CsvError::Empty)));
        assert!(matches!(
            parse_csv(b"mac,MAC\n"),
            Err(CsvError::DuplicateColumn(_))
        ));
    }

    #[test]
    fn invalid_utf8_is_a_line_error_not_a_crash() {
        let mut bytes = b"mac,name\n00:09:5c:11:22:01,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.push(b'\n');
        let parsed = parse_csv(&bytes).unwrap();
        assert_eq!(parsed.errors[0].reason, "name is not valid UTF-8");
    }
}
