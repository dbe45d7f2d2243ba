//! Stored model records: the definition as uploaded plus upload time and the decommissioned
//! flag, encoded as one JSON value in `CF_MODELS`.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// A stored model: the definition as uploaded plus ADT's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub id: String,
    /// The Interface document (JSON object) as uploaded, BOM stripped.
    pub definition: Value,
    /// RFC 3339 with 7 fractional digits, as ADT prints it.
    pub upload_time: String,
    pub decommissioned: bool,
}

pub(crate) fn encode(model: &StoredModel) -> Result<Vec<u8>> {
    serde_json::to_vec(&json!({
        "definition": model.definition,
        "uploadTime": model.upload_time,
        "decommissioned": model.decommissioned,
    }))
    .map_err(|e| Error::Internal(format!("encoding a model: {e}")))
}

pub(crate) fn decode(id: &str, bytes: &[u8]) -> Result<StoredModel> {
    let record: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Corruption(format!("model record {id}: {e}")))?;
    let definition = record
        .get("definition")
        .cloned()
        .ok_or_else(|| Error::Corruption(format!("model record {id} has no definition")))?;
    Ok(StoredModel {
        id: id.to_string(),
        definition,
        upload_time: record
            .get("uploadTime")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        decommissioned: record
            .get("decommissioned")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = StoredModel {
            id: "dtmi:a:b;1".into(),
            definition: json!({"@id": "dtmi:a:b;1", "@type": "Interface"}),
            upload_time: "2022-02-28T00:30:00.1234567Z".into(),
            decommissioned: true,
        };
        assert_eq!(decode(&m.id, &encode(&m).unwrap()).unwrap(), m);
        assert!(decode("x", b"{}").is_err());
    }
}
