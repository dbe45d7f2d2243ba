//! Digital Twin Model Identifiers: the general DTMI grammar (`Dtmi::parse`), the stricter
//! per-DTDL-version rules for identifiers written in models, and the helpers the rest of the
//! engine needs (`versionless`, `major_version`) to compare model versions.

use std::fmt;

/// Longest DTMI of any kind.
pub const MAX_DTMI_LEN: usize = 4096;
/// Longest user DTMI (an element `@id`, a Relationship `target`).
pub const MAX_USER_DTMI_LEN: usize = 2048;
/// Longest Interface `@id`.
pub const MAX_INTERFACE_ID_LEN: usize = 128;

/// A parsed DTMI: `dtmi:<labels>[;major[.minor]][#fragment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dtmi {
    labels: Vec<String>,
    major: Option<u32>,
    minor: Option<u32>,
    fragment: Option<String>,
}

impl Dtmi {
    /// Parses the general DTMI grammar, which admits system segments (`_x`) and a `#fragment`;
    /// see [`is_valid_user_dtmi`] for what a model may write as an identifier.
    pub fn parse(text: &str) -> Option<Dtmi> {
        if text.len() > MAX_DTMI_LEN {
            return None;
        }
        let rest = text.strip_prefix("dtmi:")?;
        let (rest, fragment) = match rest.split_once('#') {
            Some((before, frag)) => {
                if !frag.is_empty() && !is_segment(frag) {
                    return None;
                }
                (before, Some(frag.to_string()))
            }
            None => (rest, None),
        };
        let (path, version) = match rest.split_once(';') {
            Some((p, v)) => (p, Some(v)),
            None => (rest, None),
        };
        let labels: Vec<String> = path.split(':').map(str::to_string).collect();
        if !labels.iter().all(|l| is_segment(l)) {
            return None;
        }
        let (major, minor) = match version {
            None => (None, None),
            Some(v) => {
                let (maj, min) = parse_version(v)?;
                (Some(maj), min)
            }
        };
        Some(Dtmi {
            labels,
            major,
            minor,
            fragment,
        })
    }

    /// Path segments, without the `dtmi` scheme.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Major version; 0 when the DTMI has no version.
    pub fn major_version(&self) -> u32 {
        self.major.unwrap_or(0)
    }

    /// Minor version; 0 when absent.
    pub fn minor_version(&self) -> u32 {
        self.minor.unwrap_or(0)
    }

    /// `major + minor / 1_000_000`, the parser's single-number form of a version.
    pub fn complete_version(&self) -> f64 {
        f64::from(self.major_version()) + f64::from(self.minor_version()) / 1_000_000.0
    }

    /// The identifier without `;version`, fragment kept.
    pub fn versionless(&self) -> String {
        let mut s = format!("dtmi:{}", self.labels.join(":"));
        if let Some(f) = &self.fragment {
            s.push('#');
            s.push_str(f);
        }
        s
    }

    /// `#fragment`, or the empty string.
    pub fn fragment(&self) -> String {
        self.fragment
            .as_ref()
            .map(|f| format!("#{f}"))
            .unwrap_or_default()
    }

    /// True for a system DTMI: some segment (or the fragment) starts with `_`.
    pub fn is_reserved(&self) -> bool {
        self.labels.iter().any(|l| l.starts_with('_'))
            || self.fragment.as_deref().is_some_and(|f| f.starts_with('_'))
    }
}

impl fmt::Display for Dtmi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dtmi:{}", self.labels.join(":"))?;
        if let Some(maj) = self.major {
            write!(f, ";{maj}")?;
            if let Some(min) = self.minor {
                write!(f, ".{min}")?;
            }
        }
        if let Some(frag) = &self.fragment {
            write!(f, "#{frag}")?;
        }
        Ok(())
    }
}

/// User segment: letter first, then letters, digits, underscores, not ending in `_`.
fn is_user_segment(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphabetic()
                && (l.is_ascii_alphanumeric())
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        _ => false,
    }
}

/// User or system segment (a system segment starts with `_`, e.g. `_contents`, `__name`, `_16`).
fn is_segment(s: &str) -> bool {
    if is_user_segment(s) {
        return true;
    }
    let b = s.as_bytes();
    b.len() >= 2
        && b[0] == b'_'
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `major[.minor]`, no leading zeros, major ≤ 9 digits, minor ≤ 6 digits and non-zero.
fn parse_version(v: &str) -> Option<(u32, Option<u32>)> {
    let (maj, min) = match v.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let major = parse_number(maj, 9)?;
    let minor = match min {
        Some(m) => Some(parse_number(m, 6)?),
        None => None,
    };
    Some((major, minor))
}

fn parse_number(s: &str, max_digits: usize) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > max_digits || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

/// Whether `id` may be written as an identifier in a model of DTDL `version` (2 or 3):
/// user segments only, no fragment; v2 needs a single-number version, v3 makes it optional
/// and allows `major.minor`.
pub fn is_valid_user_dtmi(id: &str, version: u8) -> bool {
    if id.len() > MAX_USER_DTMI_LEN || id.contains('#') {
        return false;
    }
    let Some(rest) = id.strip_prefix("dtmi:") else {
        return false;
    };
    let (path, ver) = match rest.split_once(';') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    if !path.split(':').all(is_user_segment) {
        return false;
    }
    match (ver, version) {
        (None, 2) => false,
        (None, _) => true,
        (Some(v), 2) => parse_number(v, 9).is_some(),
        (Some(v), _) => parse_version(v).is_some(),
    }
}

/// Whether `id` is a valid model (Interface) id for some supported DTDL version.
pub fn dtmi_is_valid(id: &str) -> bool {
    id.len() <= MAX_INTERFACE_ID_LEN && (is_valid_user_dtmi(id, 3) || is_valid_user_dtmi(id, 2))
}

/// The id without `;version` (and without fragment handling: model ids carry none).
pub fn versionless(id: &str) -> &str {
    match id.split_once(';') {
        Some((base, _)) => base,
        None => id.split_once('#').map_or(id, |(base, _)| base),
    }
}

/// Major version of a model id, `None` when it has none or is not a DTMI.
pub fn major_version(id: &str) -> Option<u32> {
    Dtmi::parse(id).and_then(|d| d.major)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_and_fragments() {
        let d = Dtmi::parse("dtmi:foo:bar;3.14").unwrap();
        assert_eq!(d.labels(), ["foo", "bar"]);
        assert_eq!((d.major_version(), d.minor_version()), (3, 14));
        assert!((d.complete_version() - 3.000014).abs() < 1e-9);
        let d = Dtmi::parse("dtmi:foo:bar;1.34#myFrag").unwrap();
        assert_eq!(d.versionless(), "dtmi:foo:bar#myFrag");
        assert_eq!(d.fragment(), "#myFrag");
        assert!(Dtmi::parse("dtmi:foo:bar;1#").is_some());
        assert!(Dtmi::parse("dtmi:foo:bar;1#_sys").unwrap().is_reserved());
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "dtmi:;1",
            "http://foo/bar",
            "dtmi:foo:bar;01",
            "dtmi:foo:bar;6.02",
            "dtmi:foo:bar;1a",
            "dtmi:foo;1#bar.baz",
            "dtmi:foo:bar;1#invalidId_",
            "dtmi:foo::bar;1",
            "dtmi:foo:bar;",
            "dtmi:foo:bar;1234567890",
            "dtmi:foo:bar;3.1415926",
            "dtmi:foo:bar;3.0",
        ] {
            assert!(Dtmi::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn user_dtmi_rules_differ_by_version() {
        assert!(is_valid_user_dtmi("dtmi:com:example:Thermostat;1", 2));
        assert!(!is_valid_user_dtmi("dtmi:com:example:Thermostat", 2));
        assert!(is_valid_user_dtmi("dtmi:com:example:Thermostat", 3));
        assert!(!is_valid_user_dtmi("dtmi:a;1.2", 2));
        assert!(is_valid_user_dtmi("dtmi:a;1.2", 3));
        assert!(!is_valid_user_dtmi("dtmi:a:_b;1", 3));
        assert!(!is_valid_user_dtmi("dtmi:a:b_;1", 3));
        assert!(!is_valid_user_dtmi("dtmi:a:1b;1", 3));
        assert!(!is_valid_user_dtmi("dtmi:a;0", 3));
        assert!(is_valid_user_dtmi("dtmi:a;999999999", 3));
    }

    #[test]
    fn versionless_and_major() {
        assert_eq!(versionless("dtmi:a:b;3"), "dtmi:a:b");
        assert_eq!(versionless("dtmi:a:b"), "dtmi:a:b");
        assert_eq!(major_version("dtmi:a:b;12"), Some(12));
        assert_eq!(major_version("dtmi:a:b"), None);
        assert!(dtmi_is_valid("dtmi:a:b;1"));
        assert!(!dtmi_is_valid(&format!("dtmi:{};1", "a".repeat(130))));
    }
}
