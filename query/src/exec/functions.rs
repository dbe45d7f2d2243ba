//! ADT's value semantics over JSON: property lookup, comparison, IN, and the WHERE functions.
//!
//! Conditions are three-valued, as in the Cosmos DB SQL dialect ADT's language descends from: a
//! missing property or a comparison of different types is `Unknown`, which WHERE treats as false
//! and NOT leaves unknown. So `x != 1` excludes twins without `x` (adt-api.md §5.4).

use std::cmp::Ordering;

use serde_json::Value;

use crate::ast::{CompareOp, StringTest, TypeCheck};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    pub(crate) fn of(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }

    pub(crate) fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

/// The value at `path` inside `doc`; `None` when a segment is missing or not an object.
pub(crate) fn lookup<'v>(doc: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter()
        .try_fold(doc, |value, key| value.as_object()?.get(key))
}

/// Equality of two defined values: `None` when their types differ. Numbers compare by value
/// (`1 = 1.0`); arrays and objects compare element by element.
pub(crate) fn equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Some(order(a, b) == Some(Ordering::Equal)),
        (Value::String(x), Value::String(y)) => Some(x == y),
        (Value::Bool(x), Value::Bool(y)) => Some(x == y),
        (Value::Null, Value::Null) => Some(true),
        (Value::Array(x), Value::Array(y)) => {
            Some(x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q) == Some(true)))
        }
        (Value::Object(x), Value::Object(y)) => Some(
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w) == Some(true))),
        ),
        _ => None,
    }
}

/// Order of two values of an ordered type (numbers, strings, booleans); `None` otherwise.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(x), int(y)) {
                (Some(p), Some(q)) => Some(p.cmp(&q)),
                _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
            }
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub(crate) fn compare(left: Option<&Value>, op: CompareOp, right: Option<&Value>) -> Truth {
    let (Some(a), Some(b)) = (left, right) else {
        return Truth::Unknown;
    };
    match op {
        CompareOp::Eq => equal(a, b).map_or(Truth::Unknown, Truth::of),
        CompareOp::Ne => equal(a, b).map_or(Truth::Unknown, |e| Truth::of(!e)),
        _ => match order(a, b) {
            None => Truth::Unknown,
            Some(o) => Truth::of(match op {
                CompareOp::Lt => o == Ordering::Less,
                CompareOp::Gt => o == Ordering::Greater,
                CompareOp::Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            }),
        },
    }
}

pub(crate) fn in_list(value: Option<&Value>, list: &[Value], negated: bool) -> Truth {
    let Some(value) = value else {
        return Truth::Unknown;
    };
    let found = list.iter().any(|item| equal(value, item) == Some(true));
    Truth::of(found != negated)
}

pub(crate) fn type_check(check: TypeCheck, value: Option<&Value>) -> Truth {
    Truth::of(match (check, value) {
        (TypeCheck::Defined, v) => v.is_some(),
        (_, None) => false,
        (TypeCheck::Null, Some(v)) => v.is_null(),
        (TypeCheck::Bool, Some(v)) => v.is_boolean(),
        (TypeCheck::Number, Some(v)) => v.is_number(),
        (TypeCheck::String, Some(v)) => v.is_string(),
        (TypeCheck::Object, Some(v)) => v.is_object(),
        (TypeCheck::Primitive, Some(v)) => !v.is_object() && !v.is_array(),
    })
}

/// Case-sensitive string tests; `Unknown` unless both sides are strings.
pub(crate) fn string_test(
    test: StringTest,
    value: Option<&Value>,
    pattern: Option<&Value>,
) -> Truth {
    match (
        value.and_then(Value::as_str),
        pattern.and_then(Value::as_str),
    ) {
        (Some(s), Some(p)) => Truth::of(match test {
            StringTest::StartsWith => s.starts_with(p),
            StringTest::EndsWith => s.ends_with(p),
            StringTest::Contains => s.contains(p),
        }),
        _ => Truth::Unknown,
    }
}

/// `ARRAY_CONTAINS`: top-level elements only, as ADT documents.
pub(crate) fn array_contains(array: Option<&Value>, value: Option<&Value>) -> Truth {
    match (array, value) {
        (Some(Value::Array(items)), Some(v)) => {
            Truth::of(items.iter().any(|item| equal(item, v) == Some(true)))
        }
        _ => Truth::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(a: Value, op: CompareOp, b: Value) -> Truth {
        compare(Some(&a), op, Some(&b))
    }

    #[test]
    fn comparisons_follow_types() {
        assert_eq!(cmp(json!(1), CompareOp::Eq, json!(1.0)), Truth::True);
        assert_eq!(cmp(json!(2), CompareOp::Gt, json!(1.5)), Truth::True);
        assert_eq!(
            cmp(json!(u64::MAX), CompareOp::Gt, json!(i64::MAX)),
            Truth::True
        );
        assert_eq!(cmp(json!("b"), CompareOp::Ge, json!("a")), Truth::True);
        assert_eq!(cmp(json!("1"), CompareOp::Eq, json!(1)), Truth::Unknown);
        assert_eq!(cmp(json!("1"), CompareOp::Ne, json!(1)), Truth::Unknown);
        assert_eq!(cmp(json!(true), CompareOp::Gt, json!(false)), Truth::True);
        assert_eq!(cmp(json!(null), CompareOp::Eq, json!(null)), Truth::True);
        assert_eq!(cmp(json!(null), CompareOp::Lt, json!(null)), Truth::Unknown);
        assert_eq!(
            cmp(json!({"a": [1]}), CompareOp::Eq, json!({"a": [1.0]})),
            Truth::True
        );
        assert_eq!(
            compare(None, CompareOp::Ne, Some(&json!(1))),
            Truth::Unknown
        );
    }

    #[test]
    fn functions() {
        let doc = json!({"a": {"b": [1, "x"]}, "n": null});
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(lookup(&doc, &path(&["a", "b"])), Some(&json!([1, "x"])));
        assert_eq!(lookup(&doc, &path(&["a", "b", "c"])), None);
        assert_eq!(lookup(&doc, &[]), Some(&doc));
        let arr = lookup(&doc, &path(&["a", "b"]));
        assert_eq!(array_contains(arr, Some(&json!(1.0))), Truth::True);
        assert_eq!(array_contains(arr, Some(&json!("y"))), Truth::False);
        assert_eq!(
            array_contains(Some(&json!("x")), Some(&json!("x"))),
            Truth::Unknown
        );
        assert_eq!(
            type_check(TypeCheck::Null, lookup(&doc, &path(&["n"]))),
            Truth::True
        );
        assert_eq!(type_check(TypeCheck::Null, None), Truth::False);
        assert_eq!(
            type_check(TypeCheck::Primitive, Some(&json!(null))),
            Truth::True
        );
        assert_eq!(
            in_list(Some(&json!(2)), &[json!(1), json!(2.0)], false),
            Truth::True
        );
        assert_eq!(in_list(Some(&json!(3)), &[json!(1)], true), Truth::True);
        assert_eq!(in_list(None, &[json!(1)], true), Truth::Unknown);
        let s = json!("area1-x");
        assert_eq!(
            string_test(StringTest::StartsWith, Some(&s), Some(&json!("area1"))),
            Truth::True
        );
        assert_eq!(
            string_test(StringTest::EndsWith, Some(&s), Some(&json!("X"))),
            Truth::False
        );
        assert_eq!(
            string_test(StringTest::Contains, Some(&json!(1)), Some(&json!("1"))),
            Truth::Unknown
        );
    }
}
