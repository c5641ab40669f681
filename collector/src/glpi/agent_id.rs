//! The collector's `GLPI-Agent-ID`: a UUID made on the first push and kept in the data
//! directory, so GLPI sees one sender across restarts and upgrades.

use std::path::Path;

use uuid::Uuid;

use super::GlpiError;

/// The collector's agent id, from `path`; made and written (0600) if there is none yet.
pub fn load_or_create(path: &Path) -> Result<Uuid, GlpiError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Uuid::parse_str(text.trim()).map_err(|_| GlpiError::AgentId {
            path: path.to_owned(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = Uuid::new_v4();
            crate::files::create_private_parent(path)?;
            crate::files::write_atomic(path, crate::files::SECRET, format!("{id}\n").as_bytes())?;
            tracing::info!(agent_id = %id, file = %path.display(), "created the collector's GLPI agent id");
            Ok(id)
        }
        Err(source) => Err(GlpiError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}
