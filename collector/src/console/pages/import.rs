//! Importing a CMMS export into the registry, reviewed before anything changes: the upload is
//! parsed and reported line by line as `registry import` reports it, with what each valid line
//! would do; the file stays on the server under a random token bound to the session that sent
//! it, and is applied only when that session confirms.
//!
//! Invariants (tests in `console/tests` are named after them):
//! 1. Nothing changes before the confirmation; an upload with invalid lines applies only with
//!    "skip invalid lines" ticked, as the command line's `--skip-invalid`.
//! 2. A pending file is applied at most once, by the session that uploaded it, within
//!    [`PENDING_FOR`]; at most [`MAX_PENDING`] files wait at once, each at most
//!    `[console] max_import` bytes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Form, Multipart, State as Shared};
use axum::response::Response;
use serde::Deserialize;

use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, lock, render};
use crate::console::auth::{Nav, SignedIn};
use crate::console::db::DbError;
use crate::registry::csv_import::{COLUMNS, ParsedCsv, parse_csv};
use crate::store::{InventoryReader, RegistryChange};

/// How long an uploaded file waits for its confirmation.
pub(crate) const PENDING_FOR: Duration = Duration::from_secs(30 * 60);
/// Files waiting at once, over every session.
pub(crate) const MAX_PENDING: usize = 16;

#[derive(Debug)]
struct PendingFile {
    /// The session's CSRF token: one per session, so it names the session.
    session: String,
    file_name: String,
    bytes: Vec<u8>,
    uploaded: Instant,
}

/// Uploaded files waiting for their confirmation, by token.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    files: HashMap<String, PendingFile>,
}

impl Pending {
    fn keep(&mut self, token: String, file: PendingFile) {
        self.files
            .retain(|_, file| file.uploaded.elapsed() < PENDING_FOR);
        if self.files.len() >= MAX_PENDING
            && let Some(oldest) = self
                .files
                .iter()
                .min_by_key(|(_, file)| file.uploaded)
                .map(|(token, _)| token.clone())
        {
            self.files.remove(&oldest);
        }
        self.files.insert(token, file);
    }

    /// The file of `token` if this session uploaded it and it has not expired (Invariant 2).
    fn take(&mut self, token: &str, session: &str) -> Option<PendingFile> {
        let file = self.files.get(token)?;
        if file.session != session || file.uploaded.elapsed() >= PENDING_FOR {
            return None;
        }
        self.files.remove(token)
    }
}

/// One line of the review.
#[derive(Debug)]
pub(crate) struct ReviewLine {
    pub(crate) line: u64,
    pub(crate) mac: String,
    pub(crate) outcome: &'static str,
    pub(crate) name: String,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    title: &'static str,
    nav: Nav,
    max_import: usize,
    file_name: String,
    token: String,
    errors: Vec<(u64, String)>,
    unknown_columns: Vec<String>,
    known_columns: String,
    lines: Vec<ReviewLine>,
    message: String,
    applied: bool,
}

impl ImportPage {
    fn empty(nav: Nav, max_import: usize) -> Self {
        ImportPage {
            title: "Import",
            nav,
            max_import,
            file_name: String::new(),
            token: String::new(),
            errors: Vec::new(),
            unknown_columns: Vec::new(),
            known_columns: COLUMNS.join(", "),
            lines: Vec::new(),
            message: String::new(),
            applied: false,
        }
    }
}

pub(crate) async fn form(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::ChangeRegistry)?;
    render(&ImportPage::empty(user.nav(), state.settings.max_import))
}

/// A name safe as the registry's `source` (`import:<name>`).
fn source_name(name: &str) -> String {
    let name: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    if name.is_empty() {
        "upload.csv".into()
    } else {
        name
    }
}

/// The upload's token and file.
async fn read_upload(
    mut multipart: Multipart,
    limit: usize,
) -> Result<(String, String, Vec<u8>), PageError> {
    let bad = |reason: String| PageError::BadRequest(reason);
    let (mut csrf, mut file) = (String::new(), None);
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| bad(format!("the upload is not a form: {error}")))?
    {
        match field.name() {
            Some("csrf") => {
                csrf = field.text().await.map_err(|e| bad(e.to_string()))?;
            }
            Some("file") => {
                let name = source_name(field.file_name().unwrap_or_default());
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| bad(e.to_string()))? {
                    if bytes.len() + chunk.len() > limit {
                        return Err(bad(format!(
                            "the file is larger than {limit} bytes ([console] max_import)"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    let (name, bytes) = file.ok_or_else(|| bad("choose a CSV file to import".into()))?;
    Ok((csrf, name, bytes))
}

/// What each valid line would do to the registry now.
fn review_lines<R: InventoryReader>(
    store: &R,
    parsed: &ParsedCsv,
) -> Result<Vec<ReviewLine>, DbError> {
    let mut lines = Vec::with_capacity(parsed.entries.len());
    for line in &parsed.entries {
        let outcome = match store.registry_entry(line.mac)? {
            None => "added",
            Some(entry) => {
                let mut after = entry.fields.clone();
                after.replace_columns(line.fields.clone(), &parsed.columns);
                if after == entry.fields {
                    "unchanged"
                } else {
                    "updated"
                }
            }
        };
        lines.push(ReviewLine {
            line: line.line,
            mac: line.mac.to_string(),
            outcome,
            name: line.fields.name.clone(),
        });
    }
    Ok(lines)
}

pub(crate) async fn review(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let (csrf, file_name, bytes) = read_upload(multipart, state.settings.max_import).await?;
    user.check_csrf(&csrf)?;
    user.require(Capability::ChangeRegistry)?;
    let parsed = parse_csv(&bytes).map_err(|error| PageError::BadRequest(error.to_string()))?;
    let mut page = ImportPage::empty(user.nav(), state.settings.max_import);
    page.errors = parsed
        .errors
        .iter()
        .map(|error| (error.line, error.reason.clone()))
        .collect();
    page.unknown_columns = parsed.unknown_columns.clone();
    page.lines = state
        .readers
        .read(move |query| review_lines(query.store(), &parsed))
        .await?;
    page.token = hex::encode(rand::random::<[u8; 32]>());
    page.file_name = file_name.clone();
    lock(&state.imports).keep(
        page.token.clone(),
        PendingFile {
            session: user.session_token().to_owned(),
            file_name,
            bytes,
            uploaded: Instant::now(),
        },
    );
    render(&page)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApplyForm {
    csrf: String,
    token: String,
    #[serde(default)]
    skip_invalid: Option<String>,
}

pub(crate) async fn apply(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
    Form(form): Form<ApplyForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&form.csrf)?;
    user.require(Capability::ChangeRegistry)?;
    let file = lock(&state.imports)
        .take(&form.token, user.session_token())
        .ok_or_else(|| {
            PageError::BadRequest(
                "this import expired or was applied already: upload the file again".into(),
            )
        })?;
    let parsed =
        parse_csv(&file.bytes).map_err(|error| PageError::BadRequest(error.to_string()))?;
    if !parsed.errors.is_empty() && form.skip_invalid.is_none() {
        return Err(PageError::BadRequest(format!(
            "{} invalid line(s): nothing imported. Fix them, or tick \"skip invalid lines\" to import the {} valid line(s)",
            parsed.errors.len(),
            parsed.entries.len()
        )));
    }
    let (valid, invalid) = (parsed.entries.len(), parsed.errors.len());
    let by = user.user.clone();
    let now = state.now();
    let source = format!("import:{}", file.file_name);
    let outcome = state
        .changes
        .write(move |store| {
            store
                .change_registry_by(
                    RegistryChange::Upsert {
                        columns: parsed.columns,
                        entries: parsed
                            .entries
                            .into_iter()
                            .map(|line| (line.mac, line.fields))
                            .collect(),
                        source,
                    },
                    Some(&by),
                    now,
                )
                .map_err(PageError::from)
        })
        .await?;
    tracing::info!(user = %user.user, file = %file.file_name, added = outcome.added, updated = outcome.updated, "console: registry imported");
    let mut page = ImportPage::empty(user.nav(), state.settings.max_import);
    page.file_name = file.file_name;
    page.applied = true;
    page.message = format!(
        "{valid} valid line(s): {} added, {} updated, {} unchanged{}",
        outcome.added,
        outcome.updated,
        outcome.unchanged,
        if invalid == 0 {
            String::new()
        } else {
            format!("; {invalid} invalid line(s) skipped")
        }
    );
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariant_2_pending_files_belong_to_their_session_once() {
        let mut pending = Pending::default();
        let file = |session: &str| PendingFile {
            session: session.into(),
            file_name: "a.csv".into(),
            bytes: b"mac\n".to_vec(),
            uploaded: Instant::now(),
        };
        pending.keep("t1".into(), file("s1"));
        assert!(pending.take("t1", "s2").is_none(), "another session");
        assert!(pending.take("t1", "s1").is_some());
        assert!(pending.take("t1", "s1").is_none(), "at most once");
        for index in 0..MAX_PENDING + 3 {
            pending.keep(format!("t{index}"), file("s1"));
        }
        assert_eq!(pending.files.len(), MAX_PENDING);
    }

    #[test]
    fn uploaded_names_are_tamed() {
        assert_eq!(source_name("C:\\exports\\cmms 2026.csv"), "cmms2026.csv");
        assert_eq!(source_name("../../<script>.csv"), "script.csv");
        assert_eq!(source_name(""), "upload.csv");
    }
}
