//! Namespaces and track names: the checks every name from C++ passes before use.

use moq_transport::coding::{TrackNamespace, TupleField};

use crate::error::{Error, Result};

/// MoQT allows 1..=32 namespace fields (draft 18 §2.4.1).
pub const MAX_NAMESPACE_FIELDS: usize = 32;
/// Namespace fields plus track name may not exceed 4096 bytes.
pub const MAX_FULL_TRACK_NAME_LEN: usize = 4096;

/// A validated namespace tuple. Each field is non-empty UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    parts: Vec<String>,
}

impl Namespace {
    pub fn from_parts<S: AsRef<[u8]>>(parts: &[S]) -> Result<Self> {
        if parts.is_empty() {
            return Err(Error::invalid_argument(
                "namespace is empty: give 1 to 32 fields, e.g. \"live/cam1\"",
            ));
        }
        if parts.len() > MAX_NAMESPACE_FIELDS {
            return Err(Error::invalid_argument(format!(
                "namespace has {} fields, MoQT allows at most {MAX_NAMESPACE_FIELDS}",
                parts.len()
            )));
        }
        let mut out = Vec::with_capacity(parts.len());
        let mut total = 0;
        for (i, part) in parts.iter().enumerate() {
            let bytes = part.as_ref();
            if bytes.is_empty() {
                return Err(Error::invalid_argument(format!(
                    "namespace field {i} is empty: fields must be non-empty (no leading, \
                     trailing or doubled '/')"
                )));
            }
            let text = std::str::from_utf8(bytes).map_err(|_| {
                Error::invalid_argument(format!("namespace field {i} is not valid UTF-8"))
            })?;
            total += bytes.len();
            out.push(text.to_owned());
        }
        if total > MAX_FULL_TRACK_NAME_LEN {
            return Err(Error::invalid_argument(format!(
                "namespace is {total} bytes long, MoQT allows {MAX_FULL_TRACK_NAME_LEN} for \
                 namespace and track name together"
            )));
        }
        Ok(Self { parts: out })
    }

    /// Parses `"a/b/c"` into three fields.
    pub fn parse(path: &str) -> Result<Self> {
        if path.is_empty() {
            return Err(Error::invalid_argument(
                "namespace is empty: give 1 to 32 fields, e.g. \"live/cam1\"",
            ));
        }
        let parts: Vec<&str> = path.split('/').collect();
        Self::from_parts(&parts)
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    pub fn byte_len(&self) -> usize {
        self.parts.iter().map(String::len).sum()
    }

    pub fn to_engine(&self) -> TrackNamespace {
        let mut ns = TrackNamespace::new();
        for part in &self.parts {
            ns.add(TupleField::from_utf8(part));
        }
        ns
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.parts.join("/"))
    }
}

/// Checks a track name: non-empty UTF-8, within the full-name length limit.
pub fn track_name(namespace: &Namespace, name: &[u8]) -> Result<String> {
    if name.is_empty() {
        return Err(Error::invalid_argument(
            "track name is empty: give the track a name, e.g. \"video\"",
        ));
    }
    let text = std::str::from_utf8(name)
        .map_err(|_| Error::invalid_argument("track name is not valid UTF-8"))?;
    let total = namespace.byte_len() + name.len();
    if total > MAX_FULL_TRACK_NAME_LEN {
        return Err(Error::invalid_argument(format!(
            "namespace and track name are {total} bytes together, MoQT allows \
             {MAX_FULL_TRACK_NAME_LEN}"
        )));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(Namespace::parse("a/b").unwrap().parts(), ["a", "b"]);
        assert!(Namespace::parse("").is_err());
        assert!(Namespace::parse("a//b").is_err());
        assert!(Namespace::parse("/a").is_err());
        let many = vec!["x"; 33].join("/");
        assert!(Namespace::parse(&many).is_err());
        assert!(Namespace::parse(&vec!["x"; 32].join("/")).is_ok());
        assert!(Namespace::from_parts(&[&b"\xff"[..]]).is_err());
        let ns = Namespace::parse("a").unwrap();
        assert!(track_name(&ns, b"").is_err());
        assert!(track_name(&ns, b"\xc3").is_err());
        assert_eq!(track_name(&ns, b"video").unwrap(), "video");
    }
}
