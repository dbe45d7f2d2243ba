//! DTDL schemas in resolved form, and conformance of JSON values to them (twin validation).

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike};
use serde_json::Value;

/// A resolved DTDL schema. Named complex schemas from `schemas` are inlined.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    Boolean,
    Date,
    DateTime,
    Double,
    Duration,
    Float,
    Integer,
    Long,
    String,
    Time,
    /// `point`, `multiPoint`, `lineString`, `multiLineString`, `polygon`, `multiPolygon`.
    Geospatial(String),
    Enum {
        /// `Integer` or `String`.
        value_schema: Box<Schema>,
        /// (name, enumValue)
        values: Vec<(String, Value)>,
    },
    Object {
        fields: Vec<(String, Schema)>,
    },
    Map {
        value: Box<Schema>,
    },
    Array {
        element: Box<Schema>,
    },
}

/// Why a value does not conform; `path` is a JSON Pointer relative to the checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub reason: String,
}

fn fail(path: &str, reason: impl Into<String>) -> Result<(), SchemaError> {
    Err(SchemaError {
        path: path.to_string(),
        reason: reason.into(),
    })
}

/// One JSON Pointer reference token (RFC 6901 escaping).
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Schema {
    /// Checks that `value` conforms to this schema, as ADT checks twin properties.
    pub fn check(&self, value: &Value) -> Result<(), SchemaError> {
        self.check_at(value, "")
    }

    fn check_at(&self, value: &Value, path: &str) -> Result<(), SchemaError> {
        match self {
            Schema::Boolean if value.is_boolean() => Ok(()),
            Schema::Integer if value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => Ok(()),
            Schema::Long if value.as_i64().is_some() => Ok(()),
            Schema::Double if value.is_number() => Ok(()),
            Schema::Float
                if value
                    .as_f64()
                    .is_some_and(|f| f.abs() <= f64::from(f32::MAX)) =>
            {
                Ok(())
            }
            Schema::String if value.is_string() => Ok(()),
            Schema::Date => text(value, path, "date", is_date),
            // chrono admits a leap second (`:60`); DTDL's dateTime does not.
            Schema::DateTime => text(value, path, "dateTime", |s| {
                DateTime::parse_from_rfc3339(s).is_ok_and(|d| d.nanosecond() < 1_000_000_000)
            }),
            Schema::Time => text(value, path, "time", is_time),
            Schema::Duration => text(value, path, "duration", is_duration),
            Schema::Geospatial(kind) => geospatial(kind, value, path),
            Schema::Enum { values, .. } => {
                if values.iter().any(|(_, v)| v == value) {
                    Ok(())
                } else {
                    fail(path, format!("{value} is not one of the enum values"))
                }
            }
            Schema::Object { fields } => {
                let Some(obj) = value.as_object() else {
                    return fail(path, "expected an object");
                };
                for (k, v) in obj {
                    let sub = format!("{path}/{}", token(k));
                    match fields.iter().find(|(name, _)| name == k) {
                        Some((_, s)) => s.check_at(v, &sub)?,
                        None => {
                            return fail(&sub, format!("'{k}' is not a field of the object schema"))
                        }
                    }
                }
                Ok(())
            }
            Schema::Map { value: schema } => {
                let Some(obj) = value.as_object() else {
                    return fail(path, "expected an object (map)");
                };
                for (k, v) in obj {
                    schema.check_at(v, &format!("{path}/{}", token(k)))?;
                }
                Ok(())
            }
            Schema::Array { element } => {
                let Some(items) = value.as_array() else {
                    return fail(path, "expected an array");
                };
                for (i, v) in items.iter().enumerate() {
                    element.check_at(v, &format!("{path}/{i}"))?;
                }
                Ok(())
            }
            other => fail(path, format!("expected a value of schema {}", other.name())),
        }
    }

    /// The DTDL term of a primitive schema, or the complex schema's class.
    pub fn name(&self) -> &str {
        match self {
            Schema::Boolean => "boolean",
            Schema::Date => "date",
            Schema::DateTime => "dateTime",
            Schema::Double => "double",
            Schema::Duration => "duration",
            Schema::Float => "float",
            Schema::Integer => "integer",
            Schema::Long => "long",
            Schema::String => "string",
            Schema::Time => "time",
            Schema::Geospatial(k) => k,
            Schema::Enum { .. } => "Enum",
            Schema::Object { .. } => "Object",
            Schema::Map { .. } => "Map",
            Schema::Array { .. } => "Array",
        }
    }
}

fn text(
    value: &Value,
    path: &str,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<(), SchemaError> {
    match value.as_str() {
        Some(s) if ok(s) => Ok(()),
        Some(s) => fail(path, format!("'{s}' is not a valid {what}")),
        None => fail(path, format!("expected a {what} string")),
    }
}

/// `YYYY-MM-DD`, a real calendar day from year 1 on.
fn is_date(s: &str) -> bool {
    s.len() == 10 && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok_and(|d| d.year() >= 1)
}

/// `hh:mm:ss[.fff]` with an optional `Z` or `±hh:mm` offset.
fn is_time(s: &str) -> bool {
    let (clock, offset) = match s.find(['Z', 'z', '+', '-']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let offset_ok = match offset.as_bytes() {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] => {
            NaiveTime::parse_from_str(&format!("{}:00", &offset[1..]), "%H:%M:%S").is_ok()
                && offset.len() == 6
        }
        _ => false,
    };
    clock.len() >= 8 && NaiveTime::parse_from_str(clock, "%H:%M:%S%.f").is_ok() && offset_ok
}

/// ISO 8601 duration: `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]`, at least one component.
pub(crate) fn is_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return false,
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let components = |part: &str, order: &[char]| -> Option<usize> {
        let mut count = 0;
        let mut pos = 0;
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                num.push(c);
                continue;
            }
            let at = order[pos..].iter().position(|o| *o == c)? + pos;
            let valid_number = !num.is_empty()
                && num.chars().filter(|c| *c == '.' || *c == ',').count() <= 1
                && num.starts_with(|c: char| c.is_ascii_digit())
                && num.ends_with(|c: char| c.is_ascii_digit());
            if !valid_number {
                return None;
            }
            num.clear();
            pos = at + 1;
            count += 1;
        }
        num.is_empty().then_some(count)
    };
    let Some(d) = components(date, &['Y', 'M', 'W', 'D']) else {
        return false;
    };
    let t = match time {
        Some(t) => match components(t, &['H', 'M', 'S']) {
            Some(n) if n > 0 => n,
            _ => return false,
        },
        None => 0,
    };
    d + t > 0
}

fn position(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| (2..=3).contains(&a.len()) && a.iter().all(Value::is_number))
}

fn positions(v: &Value, min: usize) -> bool {
    v.as_array()
        .is_some_and(|a| a.len() >= min && a.iter().all(position))
}

fn ring(v: &Value) -> bool {
    positions(v, 4)
}

fn polygon(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(ring))
}

/// A GeoJSON geometry of the given DTDL geospatial kind.
fn geospatial(kind: &str, value: &Value, path: &str) -> Result<(), SchemaError> {
    let (geo_type, coords_ok): (&str, fn(&Value) -> bool) = match kind {
        "point" => ("Point", position),
        "multiPoint" => ("MultiPoint", |v| positions(v, 0)),
        "lineString" => ("LineString", |v| positions(v, 2)),
        "multiLineString" => ("MultiLineString", |v| {
            v.as_array()
                .is_some_and(|a| a.iter().all(|l| positions(l, 2)))
        }),
        "polygon" => ("Polygon", polygon),
        _ => ("MultiPolygon", |v| {
            v.as_array().is_some_and(|a| a.iter().all(polygon))
        }),
    };
    let Some(obj) = value.as_object() else {
        return fail(path, format!("expected a GeoJSON {geo_type}"));
    };
    if obj.get("type").and_then(Value::as_str) != Some(geo_type) {
        return fail(
            &format!("{path}/type"),
            format!("GeoJSON type must be '{geo_type}'"),
        );
    }
    match obj.get("coordinates") {
        Some(c) if coords_ok(c) => Ok(()),
        _ => fail(
            &format!("{path}/coordinates"),
            format!("coordinates do not form a {geo_type}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(s: &Schema, v: Value) -> bool {
        s.check(&v).is_ok()
    }

    #[test]
    fn primitives() {
        assert!(ok(&Schema::Boolean, json!(true)) && !ok(&Schema::Boolean, json!(1)));
        assert!(
            ok(&Schema::Integer, json!(2147483647)) && !ok(&Schema::Integer, json!(2147483648_i64))
        );
        assert!(!ok(&Schema::Integer, json!(1.5)));
        assert!(ok(&Schema::Long, json!(2147483648_i64)) && !ok(&Schema::Long, json!(1.0)));
        assert!(
            ok(&Schema::Double, json!(1))
                && ok(&Schema::Float, json!(1.5))
                && !ok(&Schema::Double, json!("1"))
        );
        assert!(ok(&Schema::String, json!("x")) && !ok(&Schema::String, json!(null)));
    }

    #[test]
    fn temporal() {
        assert!(ok(&Schema::Date, json!("2024-02-29")) && !ok(&Schema::Date, json!("2023-02-29")));
        assert!(ok(&Schema::Date, json!("0001-01-01")) && !ok(&Schema::Date, json!("0000-01-01")));
        assert!(!ok(&Schema::DateTime, json!("1980-01-01T00:00:60Z")));
        assert!(ok(&Schema::Float, json!(3.402823e38)) && !ok(&Schema::Float, json!(3.402824e38)));
        assert!(!ok(&Schema::Date, json!("2024-2-9")));
        assert!(ok(&Schema::DateTime, json!("2024-01-02T03:04:05.123Z")));
        assert!(
            ok(&Schema::DateTime, json!("2024-01-02T03:04:05+01:00"))
                && !ok(&Schema::DateTime, json!("2024-01-02"))
        );
        assert!(ok(&Schema::Time, json!("13:45:00")) && ok(&Schema::Time, json!("13:45:00.25Z")));
        assert!(
            ok(&Schema::Time, json!("13:45:00-08:00")) && !ok(&Schema::Time, json!("25:00:00"))
        );
        for d in ["P1D", "PT1H30M", "P1Y2M3DT4H5M6.5S", "P2W", "PT0S"] {
            assert!(ok(&Schema::Duration, json!(d)), "{d}");
        }
        for d in ["P", "PT", "1D", "P1H", "PT1D", "P1M1Y", "P1.D"] {
            assert!(!ok(&Schema::Duration, json!(d)), "{d}");
        }
    }

    #[test]
    fn complex() {
        let e = Schema::Enum {
            value_schema: Box::new(Schema::Integer),
            values: vec![("a".into(), json!(1))],
        };
        assert!(ok(&e, json!(1)) && !ok(&e, json!(2)));
        let o = Schema::Object {
            fields: vec![
                ("x".into(), Schema::Integer),
                (
                    "y".into(),
                    Schema::Map {
                        value: Box::new(Schema::String),
                    },
                ),
            ],
        };
        assert!(ok(&o, json!({})) && ok(&o, json!({"x": 1, "y": {"k": "v"}})));
        let err = o.check(&json!({"y": {"k/1": 2}})).unwrap_err();
        assert_eq!(err.path, "/y/k~11");
        assert_eq!(o.check(&json!({"z": 1})).unwrap_err().path, "/z");
        let a = Schema::Array {
            element: Box::new(Schema::Boolean),
        };
        assert!(ok(&a, json!([true, false])));
        assert_eq!(a.check(&json!([true, 1])).unwrap_err().path, "/1");
    }

    #[test]
    fn geojson() {
        let p = Schema::Geospatial("point".into());
        assert!(ok(&p, json!({"type": "Point", "coordinates": [1.0, 2.0]})));
        assert!(!ok(
            &p,
            json!({"type": "LineString", "coordinates": [1.0, 2.0]})
        ));
        let poly = Schema::Geospatial("polygon".into());
        assert!(ok(
            &poly,
            json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]})
        ));
        assert!(!ok(
            &poly,
            json!({"type": "Polygon", "coordinates": [[[0,0],[1,0]]]})
        ));
        let ls = Schema::Geospatial("lineString".into());
        assert!(ok(
            &ls,
            json!({"type": "LineString", "coordinates": [[0,0],[1,1]]})
        ));
    }
}
