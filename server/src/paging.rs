//! List paging. A nextLink carries *all* of its state in one opaque, URL-safe
//! `continuationToken` parameter (the Python SDK re-sends none of the original parameters):
//! the key of the last item returned plus the original filters and page size. Pages resume
//! *after* that key, so items present throughout a listing are returned exactly once even
//! while others are written.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::Req;
use crate::error::ApiError;

/// The name of the query parameter a nextLink carries its token in.
pub const TOKEN_PARAM: &str = "continuationToken";

pub fn encode<T: Serialize>(state: &T) -> Result<String, ApiError> {
    let json = serde_json::to_vec(state)
        .map_err(|e| ApiError::internal(format!("encoding a continuation token: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

pub fn decode<T: DeserializeOwned>(token: &str) -> Result<T, ApiError> {
    let bad = || ApiError::invalid("the continuation token is not valid for this list");
    let json = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    serde_json::from_slice(&json).map_err(|_| bad())
}

/// The token of this request, when it is a follow-up page.
pub fn token<T: DeserializeOwned>(req: &Req) -> Result<Option<T>, ApiError> {
    req.param(TOKEN_PARAM).map(decode).transpose()
}

/// The absolute URL of the next page: `path` (already percent-encoded) plus the token.
pub fn next_link<T: Serialize>(req: &Req, path: &str, state: &T) -> Result<String, ApiError> {
    Ok(format!(
        "{}{path}?{TOKEN_PARAM}={}&api-version={}",
        req.base_url(),
        encode(state)?,
        req.api_version
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_url_safe() {
        let state = ("dtmi:a:b;1".to_string(), vec!["x+/=?&".to_string()], 7usize);
        let token = encode(&state).unwrap();
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let back: (String, Vec<String>, usize) = decode(&token).unwrap();
        assert_eq!(back, state);
        assert!(decode::<(String, Vec<String>, usize)>("!!").is_err());
        assert!(decode::<(String, Vec<String>, usize)>("e30").is_err());
    }
}
