//! How a server instance behaves: TLS, who may call it, limits and timeouts. Built by the
//! `twingraph serve` command line (or by tests) and handed to `serve`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What a bearer token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Owner,
    /// Reads and queries; any write is refused with 403.
    Reader,
}

/// The accepted bearer tokens, from a file with one `token role` pair per line.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    roles: HashMap<String, Role>,
}

impl Tokens {
    /// Parses the tokens file: `token role` per line, role `owner` or `reader`; blank lines
    /// and lines starting with `#` are ignored.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut roles = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(token), Some(role), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("line {}: expected `token role`", n + 1));
            };
            let role = match role {
                "owner" => Role::Owner,
                "reader" => Role::Reader,
                other => {
                    return Err(format!(
                        "line {}: unknown role '{other}' (use owner or reader)",
                        n + 1
                    ))
                }
            };
            roles.insert(token.to_string(), role);
        }
        if roles.is_empty() {
            return Err("the tokens file holds no tokens".into());
        }
        Ok(Tokens { roles })
    }

    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn role(&self, token: &str) -> Option<Role> {
        self.roles.get(token).copied()
    }
}

#[derive(Clone)]
pub struct ServerConfig {
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN); `None` serves plain HTTP (h1 and h2c).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: any bearer token (or none) is accepted.
    pub tokens: Option<Tokens>,
    /// Origins allowed by CORS; empty disables CORS (as ADT does).
    pub cors_origins: Vec<String>,
    /// Requests handled at once; more get 429 with `Retry-After`.
    pub max_in_flight: usize,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    /// How long a client may take to send its request body.
    pub body_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Endpoints, delivery retries and change-log retention.
    pub events: crate::events::EventsConfig,
    /// Read MATCH hop ranges as Cypher does (`*1..3` = 1 to 3 hops) instead of as ADT
    /// documents them (2 or 3 hops).
    pub cypher_hops: bool,
    /// The folder import jobs read their input from and write their logs to; `None`
    /// refuses import jobs.
    pub import_dir: Option<std::path::PathBuf>,
    /// Paged queries that keep their snapshot for their next pages at once; beyond it the
    /// least recently used is closed (its next token gets an "expired" error).
    pub query_sessions: usize,
    /// How long a paged query keeps its snapshot without a request for its next page.
    pub query_session_idle: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tls: None,
            tokens: None,
            cors_origins: Vec::new(),
            max_in_flight: 256,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            events: crate::events::EventsConfig::default(),
            cypher_hops: false,
            import_dir: None,
            query_sessions: 128,
            query_session_idle: Duration::from_secs(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file() {
        let t = Tokens::parse("# comment\nabc owner\n\n  def reader  \n").unwrap();
        assert_eq!(t.role("abc"), Some(Role::Owner));
        assert_eq!(t.role("def"), Some(Role::Reader));
        assert_eq!(t.role("x"), None);
        assert!(Tokens::parse("abc admin").is_err());
        assert!(Tokens::parse("abc").is_err());
        assert!(Tokens::parse("a b c").is_err());
        assert!(Tokens::parse("\n# only\n").is_err());
    }
}
