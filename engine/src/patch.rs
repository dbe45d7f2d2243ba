//! JSON Patch (RFC 6902) as ADT allows it: only `add`, `replace` and `remove`, paths as JSON
//! Pointers (RFC 6901). Parsing is strict; application follows the RFC (the parent of an
//! `add` must exist, `replace` and `remove` need an existing target).

use serde_json::Value;

use crate::error::{Error, Invalid, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Replace => "replace",
            OpKind::Remove => "remove",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub kind: OpKind,
    /// Decoded reference tokens; empty for the whole document.
    pub path: Vec<String>,
    pub value: Option<Value>,
}

impl PatchOp {
    /// The operation as a JSON Patch object, for the change log.
    pub fn to_json(&self) -> Value {
        let path: String = self
            .path
            .iter()
            .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
            .collect();
        crate::twin::op(self.kind.as_str(), &path, self.value.as_ref())
    }
}

fn patch_error(message: impl Into<String>) -> Error {
    Error::invalid(Invalid::JsonPatch, message)
}

/// Parses a JSON Patch document, refusing what ADT refuses.
pub fn parse(patch: &Value) -> Result<Vec<PatchOp>> {
    let ops = patch
        .as_array()
        .ok_or_else(|| patch_error("a JSON Patch document must be a JSON array of operations"))?;
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(op).map_err(|e| patch_error(format!("operation {i}: {e}"))))
        .collect()
}

fn parse_op(op: &Value) -> Result<PatchOp, String> {
    let obj = op.as_object().ok_or("an operation must be a JSON object")?;
    let kind = match obj.get("op").and_then(Value::as_str) {
        Some("add") => OpKind::Add,
        Some("replace") => OpKind::Replace,
        Some("remove") => OpKind::Remove,
        Some(other @ ("move" | "copy" | "test")) => {
            return Err(format!(
                "'{other}' is not supported: operations are limited to add, replace and remove"
            ))
        }
        Some(other) => return Err(format!("unknown operation '{other}'")),
        None => return Err("'op' is required".into()),
    };
    let path = obj
        .get("path")
        .and_then(Value::as_str)
        .ok_or("'path' is required and must be a string")?;
    let path = parse_pointer(path)?;
    let value = obj.get("value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(format!("'{}' requires a 'value'", kind.as_str()));
    }
    Ok(PatchOp {
        kind,
        path,
        value: if kind == OpKind::Remove { None } else { value },
    })
}

/// Decodes an RFC 6901 pointer into reference tokens.
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("path '{pointer}' must start with '/'"))?;
    rest.split('/').map(unescape_token).collect()
}

fn unescape_token(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(format!("invalid escape in path token '{token}'")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Applies one operation to `doc` with RFC 6902 semantics.
pub fn apply_op(doc: &mut Value, op: &PatchOp) -> Result<()> {
    let Some((last, parents)) = op.path.split_last() else {
        return Err(patch_error("the whole document cannot be patched"));
    };
    let parent = navigate(doc, parents)?;
    let display = || format!("/{}", op.path.join("/"));
    match parent {
        Value::Object(map) => match op.kind {
            OpKind::Add => {
                map.insert(last.clone(), op.value.clone().unwrap_or(Value::Null));
            }
            OpKind::Replace => {
                let slot = map.get_mut(last).ok_or_else(|| {
                    patch_error(format!("replace: nothing at {}; use add", display()))
                })?;
                *slot = op.value.clone().unwrap_or(Value::Null);
            }
            OpKind::Remove => {
                map.shift_remove(last)
                    .ok_or_else(|| patch_error(format!("remove: nothing at {}", display())))?;
            }
        },
        Value::Array(items) => {
            let index = if last == "-" && op.kind == OpKind::Add {
                items.len()
            } else {
                array_index(last, items.len() + usize::from(op.kind == OpKind::Add))
                    .ok_or_else(|| patch_error(format!("{}: index out of range", display())))?
            };
            let value = op.value.clone().unwrap_or(Value::Null);
            match op.kind {
                OpKind::Add => items.insert(index, value),
                OpKind::Replace => items[index] = value,
                OpKind::Remove => {
                    items.remove(index);
                }
            }
        }
        _ => {
            return Err(patch_error(format!(
                "{}: the parent is not an object or array",
                display()
            )))
        }
    }
    Ok(())
}

fn navigate<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value> {
    let mut current = doc;
    for (depth, token) in tokens.iter().enumerate() {
        let missing = || {
            patch_error(format!(
                "path /{} does not exist; add the enclosing object first",
                tokens[..=depth].join("/")
            ))
        };
        current = match current {
            Value::Object(map) => map.get_mut(token).ok_or_else(missing)?,
            Value::Array(items) => {
                let len = items.len();
                let i = array_index(token, len).ok_or_else(missing)?;
                &mut items[i]
            }
            _ => return Err(missing()),
        };
    }
    Ok(current)
}

/// An RFC 6901 array index below `len`: digits only, no leading zeros.
fn array_index(token: &str, len: usize) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok().filter(|i| *i < len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn run(doc: Value, patch: Value) -> Result<Value> {
        let mut doc = doc;
        for op in parse(&patch)? {
            apply_op(&mut doc, &op)?;
        }
        Ok(doc)
    }

    #[test]
    fn add_replace_remove() {
        let doc = json!({"a": 1, "o": {"x": 1}, "l": [1, 2]});
        let out = run(
            doc,
            json!([
                {"op": "add", "path": "/b", "value": 2},
                {"op": "replace", "path": "/o/x", "value": 5},
                {"op": "remove", "path": "/a"},
                {"op": "add", "path": "/l/1", "value": 9},
                {"op": "add", "path": "/l/-", "value": 3},
                {"op": "add", "path": "/a~1b", "value": "slash"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"o": {"x": 5}, "l": [1, 9, 2, 3], "b": 2, "a/b": "slash"})
        );
    }

    #[test]
    fn refusals() {
        let doc = json!({"a": 1});
        for patch in [
            json!({"op": "add"}),
            json!([{"op": "move", "from": "/a", "path": "/b"}]),
            json!([{"op": "copy", "from": "/a", "path": "/b"}]),
            json!([{"op": "test", "path": "/a", "value": 1}]),
            json!([{"op": "add", "path": "/b"}]),
            json!([{"op": "add", "path": "b", "value": 1}]),
            json!([{"op": "replace", "path": "/missing", "value": 1}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "add", "path": "/x/y", "value": 1}]),
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
            json!(["add"]),
        ] {
            let err = run(doc.clone(), patch.clone()).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        kind: Invalid::JsonPatch,
                        ..
                    }
                ),
                "{patch}: {err:?}"
            );
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,5}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ]
    }

    proptest! {
        /// add then remove of a fresh key restores the document; replace of an existing key
        /// then replace back restores it too.
        #[test]
        fn add_remove_round_trip(
            keys in proptest::collection::btree_map("[a-z~/]{1,4}", leaf(), 0..6),
            new_key in "[a-z~/]{1,4}",
            value in leaf(),
        ) {
            let doc = Value::Object(keys.clone().into_iter().collect());
            prop_assume!(!keys.contains_key(&new_key));
            let pointer = format!("/{}", new_key.replace('~', "~0").replace('/', "~1"));
            let added = run(doc.clone(), json!([{"op": "add", "path": pointer, "value": value}])).unwrap();
            prop_assert_eq!(added.get(&new_key), Some(&value));
            let removed = run(added, json!([{"op": "remove", "path": pointer}])).unwrap();
            prop_assert_eq!(removed, doc);
        }

        #[test]
        fn pointer_round_trip(tokens in proptest::collection::vec("[a-z~/0-9]{0,4}", 0..4)) {
            let op = PatchOp { kind: OpKind::Remove, path: tokens.clone(), value: None };
            let json = op.to_json();
            let pointer = json["path"].as_str().unwrap();
            prop_assert_eq!(parse_pointer(pointer).unwrap(), tokens);
        }

        #[test]
        fn failed_ops_leave_arrays_alone(items in proptest::collection::vec(leaf(), 0..5), index in 0usize..10) {
            let doc = json!({"l": items.clone()});
            let result = run(doc.clone(), json!([{"op": "replace", "path": format!("/l/{index}"), "value": 0}]));
            if index < items.len() {
                prop_assert_eq!(result.unwrap()["l"][index].clone(), json!(0));
            } else {
                prop_assert!(result.is_err());
            }
        }
    }
}
