//! ADT's documented limits, and the checks that enforce them on the way in.

use serde_json::Value;

use crate::error::{Error, Invalid, Result};

/// A string property value, in UTF-8 bytes.
pub const MAX_STRING_BYTES: usize = 4 * 1024;
/// Twin, relationship and event route ids, in UTF-8 bytes. ADT does not document one; ids end
/// up in URLs and keys, so keep them bounded.
pub const MAX_ID_BYTES: usize = 1024;
/// Nesting of property values (objects, maps, arrays). DTDL bounds complex schemas at depth 5;
/// this guards the recursive walkers against hostile input that no schema could accept.
pub const MAX_VALUE_DEPTH: usize = 32;
/// Outgoing and incoming relationships per twin.
pub const MAX_RELATIONSHIPS_PER_TWIN: usize = 50_000;
/// Models per `POST /models`.
pub const MAX_MODELS_PER_BATCH: usize = 250;
/// One model's JSON text.
pub const MAX_MODEL_BYTES: usize = 1024 * 1024;

/// Checks an id from a URL: non-empty, bounded, no control characters (NUL separates key parts).
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(
            Invalid::Argument,
            format!("{what} id must not be empty"),
        ));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::invalid(
            Invalid::Argument,
            format!(
                "{what} id is {} bytes; at most {MAX_ID_BYTES} are allowed",
                id.len()
            ),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid(
            Invalid::Argument,
            format!("{what} id must not contain control characters"),
        ));
    }
    // Clients remove `.` and `..` path segments from URLs, so such a resource could never
    // be addressed again (an import file could otherwise create one).
    if id == "." || id == ".." {
        return Err(Error::invalid(
            Invalid::Argument,
            format!("{what} id must not be '{id}'"),
        ));
    }
    Ok(())
}

/// Every string inside a property value is at most 4 KiB, and the value nests boundedly.
pub fn check_strings(value: &Value, path: &str) -> Result<()> {
    check_value(value, path, 0)
}

fn check_value(value: &Value, path: &str, depth: usize) -> Result<()> {
    if depth > MAX_VALUE_DEPTH {
        return Err(Error::validation(format!(
            "{path}: value nests deeper than {MAX_VALUE_DEPTH} levels"
        )));
    }
    match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(Error::validation(format!(
            "{path}: string of {} bytes exceeds the {MAX_STRING_BYTES}-byte limit",
            s.len()
        ))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_value(v, &format!("{path}/{i}"), depth + 1)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_value(v, &format!("{path}/{k}"), depth + 1)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        assert!(check_id("twin", "room-1 ✓").is_ok());
        assert!(check_id("twin", "").is_err());
        assert!(check_id("twin", "a\0b").is_err());
        assert!(check_id("twin", ".").is_err());
        assert!(check_id("twin", "..").is_err());
        assert!(check_id("twin", "...").is_ok());
        assert!(check_id("twin", &"x".repeat(MAX_ID_BYTES + 1)).is_err());
    }

    #[test]
    fn strings_and_depth() {
        assert!(check_strings(&json!({"a": ["x"]}), "/p").is_ok());
        let long = json!({"a": "y".repeat(MAX_STRING_BYTES + 1)});
        let err = check_strings(&long, "/p").unwrap_err().to_string();
        assert!(err.contains("/p/a"), "{err}");
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(check_strings(&deep, "/p").is_err());
    }
}
