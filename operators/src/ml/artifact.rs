//! Model artifacts: a small versioned header, then the model in postcard.
//!
//! ```text
//! b"DAGCTLMODEL\0"                 magic, 12 bytes
//! u16 little-endian                format version (1)
//! u32 little-endian + JSON         header: format, kind, task, target, feature columns,
//!                                  classes, params, seed, dagctl and smartcore versions
//! postcard                         the fitted learners
//! ```
//!
//! The header is JSON so that `head -c 4096 model.bin` tells what a file is; the body is
//! postcard, which restores every float bit for bit (JSON text would not, and is six times
//! bigger). A file from a newer format, or cut short, is refused with a message.

use serde::{Deserialize, Serialize};

use super::MlError;
use super::learner::Learner;
use super::model::{Model, ModelInfo};

/// The artifact layout version written by this dagctl.
pub const FORMAT_VERSION: u16 = 2;
const MAGIC: &[u8; 12] = b"DAGCTLMODEL\0";

/// The readable header of an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u16,
    /// The model.
    #[serde(flatten)]
    pub info: ModelInfo,
    /// The dagctl-operators version that wrote it.
    pub dagctl_version: String,
    /// The smartcore version of its learners.
    pub smartcore_version: String,
}

/// Serializes a model.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>, MlError> {
    let header = Header {
        format_version: FORMAT_VERSION,
        info: model.info.clone(),
        dagctl_version: env!("CARGO_PKG_VERSION").to_string(),
        smartcore_version: "0.7.0".to_string(),
    };
    let head = serde_json::to_vec(&header).map_err(|e| MlError::Artifact(e.to_string()))?;
    let body = postcard::to_stdvec(&model.members).map_err(|e| MlError::Artifact(e.to_string()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 6 + head.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads an artifact's header only.
///
/// # Errors
/// [`MlError::Artifact`] when it is not an artifact, is cut short or comes from a newer dagctl.
pub fn read_header(data: &[u8]) -> Result<(Header, usize), MlError> {
    let bad = |m: &str| MlError::Artifact(m.to_string());
    if data.len() < MAGIC.len() + 6 || &data[..MAGIC.len()] != MAGIC {
        return Err(bad("not a dagctl model artifact (wrong magic bytes)"));
    }
    let at = MAGIC.len();
    let version = u16::from_le_bytes([data[at], data[at + 1]]);
    if version > FORMAT_VERSION {
        return Err(MlError::Artifact(format!(
            "artifact format {version} is newer than this dagctl reads ({FORMAT_VERSION}): upgrade dagctl"
        )));
    }
    if version < FORMAT_VERSION {
        // Format 1 held smartcore's learners, replaced by dagctl's own in format 2.
        return Err(MlError::Artifact(format!(
            "artifact format {version} was written by an older dagctl whose learners this one no \
             longer has: train the model again (format {FORMAT_VERSION})"
        )));
    }
    let len = u32::from_le_bytes([data[at + 2], data[at + 3], data[at + 4], data[at + 5]]) as usize;
    let start = at + 6;
    let head = data
        .get(start..start + len)
        .ok_or_else(|| bad("the artifact is cut short (header)"))?;
    let header: Header = serde_json::from_slice(head)
        .map_err(|e| MlError::Artifact(format!("unreadable artifact header: {e}")))?;
    Ok((header, start + len))
}

/// Deserializes a model.
///
/// # Errors
/// As [`read_header`], or a body that does not decode.
pub fn from_bytes(data: &[u8]) -> Result<Model, MlError> {
    let (header, body) = read_header(data)?;
    let members: Vec<Learner> = postcard::from_bytes(&data[body..])
        .map_err(|e| MlError::Artifact(format!("the artifact's model does not decode: {e}")))?;
    Ok(Model::new(header.info, members))
}
