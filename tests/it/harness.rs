//! Starts the real `twingraph serve` binary on a free loopback port with a temporary data
//! folder, and talks HTTP to it: a small request builder over ureq, plus raw TCP for
//! requests a well-behaved client cannot send.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use ureq::http;

pub const API_VERSION: &str = "2023-10-31";
pub const SPACE: &str = "dtmi:twingraph:test:Space;1";
pub const THERMOSTAT: &str = "dtmi:twingraph:test:Thermostat;1";
pub const SENSOR: &str = "dtmi:twingraph:test:Sensor;1";
pub const ROOM: &str = "dtmi:twingraph:test:Room;1";
pub const FLOOR: &str = "dtmi:twingraph:test:Floor;1";
pub const BUILDING: &str = "dtmi:twingraph:test:Building;1";

/// A test model file from `tests/data/http/`.
pub fn model(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/http")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The whole building model set, deliberately not in dependency order.
pub fn all_models() -> Value {
    json!([
        model("building"),
        model("floor"),
        model("room"),
        model("space"),
        model("thermostat"),
        model("sensor")
    ])
}

/// Percent-encodes an id as one path segment, as the SDKs do.
pub fn enc(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub base: String,
    pub addr: String,
    /// Every stdout line printed before `listening on`.
    pub banner: Vec<String>,
    agent: ureq::Agent,
    token: Option<String>,
    stderr: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// Asserts an ADT error: status, code in the body and in `x-ms-error-code`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "body: {}", self.body);
        assert!(body["error"]["message"].is_string(), "body: {}", self.body);
        assert_eq!(self.header("x-ms-error-code").as_deref(), Some(code));
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Resp {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::start_in(&data, args);
        server._dir = Some(dir);
        server
    }

    /// Starts on `data` (kept after the server stops, for restart tests).
    pub fn start_in(data: &Path, args: &[&str]) -> Server {
        Server::start_armed(data, args, "")
    }

    /// Starts on `data` with `failpoints` armed (`TWINGRAPH_FAILPOINTS`, engine/src/failpoint.rs).
    pub fn start_armed(data: &Path, args: &[&str], failpoints: &str) -> Server {
        let stderr = data.with_extension("stderr.log");
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        let log = std::fs::File::create(&stderr).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_twingraph"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("TWINGRAPH_FAILPOINTS", failpoints)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => match line.strip_prefix("listening on ") {
                    Some(url) => break url.to_string(),
                    None => banner.push(line),
                },
                _ => {
                    let status = child.wait().unwrap();
                    panic!(
                        "server exited ({status}) before listening: {}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr = base.split("://").nth(1).unwrap().to_string();
        let agent = agent(None);
        let server = Server {
            child: Some(child),
            base,
            addr,
            banner,
            agent,
            token: None,
            stderr,
            _dir: None,
        };
        if server.base.starts_with("http://") {
            server.wait_healthy();
        }
        server
    }

    /// Polls `/healthz` until it answers 200 (bounded).
    pub fn wait_healthy(&self) {
        for _ in 0..200 {
            if self.call("GET", "/healthz").no_api_version().send().status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("server never became healthy");
    }

    pub fn with_agent(mut self, agent: ureq::Agent) -> Server {
        self.agent = agent;
        self
    }

    /// Sends `Authorization: Bearer <token>` on every call from now on.
    pub fn with_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_string);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            server: self,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            api_version: true,
            absolute: false,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.call("GET", path).send()
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path).send()
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.call("PUT", path).json(body)
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path).json(body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.call("PATCH", path)
            .header("Content-Type", "application/json-patch+json")
            .body(body.to_string().into_bytes())
    }

    /// Follows a nextLink the way the Python SDK does: as-is, replacing only api-version.
    pub fn follow(&self, next_link: &str) -> Resp {
        assert!(next_link.starts_with(&self.base), "{next_link}");
        let mut c = self.call("GET", next_link);
        c.absolute = true;
        c.send()
    }

    /// Uploads the building model set.
    pub fn upload_models(&self) {
        self.post("/models", &all_models()).assert_status(201);
    }

    /// Creates a twin of `model` with optional properties.
    pub fn twin(&self, id: &str, model: &str, props: Value) -> Resp {
        let mut body = json!({"$metadata": {"$model": model}});
        if let Value::Object(p) = props {
            body.as_object_mut().unwrap().extend(p);
        }
        if model == ROOM && body.get("thermostat").is_none() {
            body["thermostat"] = json!({"$metadata": {}});
        }
        self.put(&format!("/digitaltwins/{}", enc(id)), &body)
    }

    /// Creates relationship `rel` from `src` to `target`.
    pub fn relate(&self, src: &str, rel: &str, name: &str, target: &str, props: Value) -> Resp {
        let mut body = json!({"$relationshipName": name, "$targetId": target});
        if let Value::Object(p) = props {
            body.as_object_mut().unwrap().extend(p);
        }
        self.put(
            &format!("/digitaltwins/{}/relationships/{}", enc(src), enc(rel)),
            &body,
        )
    }

    /// Sends `raw` bytes on a new connection and returns everything the server answered
    /// until it closed the connection (requests should carry `Connection: close`).
    pub fn raw(&self, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `head`, then `chunk` `repeat` times, from another thread while this one reads:
    /// the server may answer and close before the client has sent everything (a refused
    /// upload), and a client that only reads after writing would miss that answer. Returns
    /// everything the server sent until it closed the connection.
    pub fn raw_streamed(&self, head: &[u8], chunk: Vec<u8>, repeat: usize) -> String {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let head = head.to_vec();
        let sender = std::thread::spawn(move || {
            // Write errors are expected once the server has answered and closed.
            if writer.write_all(&head).is_ok() {
                for _ in 0..repeat {
                    if writer.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let mut out = Vec::new();
        // A reset after the answer is fine: the bytes read before it are kept.
        let _ = stream.read_to_end(&mut out);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        sender.join().unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Waits for the process to exit (after a signal was sent to it).
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }

    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- server stderr ---\n{}", self.stderr_log());
        }
    }
}

/// The twin `t` and the test model set are exactly as `before` left them, `t` is the only
/// twin, and the server serves.
#[track_caller]
pub fn assert_unchanged(s: &Server, before: &Value) {
    let after = s.get("/digitaltwins/t");
    after.assert_status(200);
    assert_eq!(&after.json(), before);
    let count = s.post(
        "/query",
        &json!({"query": "SELECT COUNT() FROM DIGITALTWINS"}),
    );
    count.assert_status(200);
    assert_eq!(count.json()["value"][0]["COUNT"], 1, "{}", count.body);
    let models = s.get("/models");
    models.assert_status(200);
    assert_eq!(models.json()["value"].as_array().unwrap().len(), 6);
}

/// The CA certificate of a `--tls-self-signed` server, from the path its banner names.
pub fn tls_ca(s: &Server) -> PathBuf {
    let line = s
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("TLS CA certificate: "))
        .expect("the CA path is printed");
    PathBuf::from(line)
}

/// A ureq agent that returns 4xx/5xx as responses; `ca_pem` is the only trusted root.
pub fn agent(ca_pem: Option<&[u8]>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(pem) = ca_pem {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let cert = Certificate::from_pem(pem).unwrap();
        config = config.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(std::sync::Arc::new(vec![cert])))
                .build(),
        );
    }
    config.build().new_agent()
}

pub struct Call<'a> {
    server: &'a Server,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    api_version: bool,
    absolute: bool,
}

impl Call<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn no_api_version(mut self) -> Self {
        self.api_version = false;
        self
    }

    pub fn json(self, body: &Value) -> Resp {
        self.header("Content-Type", "application/json")
            .body(body.to_string().into_bytes())
    }

    pub fn send(self) -> Resp {
        self.body(Vec::new())
    }

    pub fn body(self, body: Vec<u8>) -> Resp {
        let mut url = if self.absolute {
            self.path.clone()
        } else {
            format!("{}{}", self.server.base, self.path)
        };
        if self.api_version {
            if self.absolute {
                // Replace whatever api-version the link carries, as the SDKs do.
                let (base, query) = url.split_once('?').unwrap_or((&url, ""));
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|p| !p.is_empty() && !p.starts_with("api-version="))
                    .collect();
                url = format!("{base}?{}", kept.join("&"));
            }
            let sep = if url.contains('?') && !url.ends_with('?') {
                "&"
            } else if url.ends_with('?') {
                ""
            } else {
                "?"
            };
            url = format!("{url}{sep}api-version={API_VERSION}");
        }
        let mut request = http::Request::builder()
            .method(self.method.as_str())
            .uri(&url);
        if let Some(token) = &self.server.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let result = if body.is_empty() {
            self.server.agent.run(request.body(()).unwrap())
        } else {
            self.server.agent.run(request.body(body).unwrap())
        };
        // A transport failure (server gone, TLS refused) is status 0 with the error as body,
        // so tests that kill the server can tell; `assert_status` shows the error.
        let mut response = match result {
            Ok(response) => response,
            Err(e) => {
                return Resp {
                    status: 0,
                    headers: http::HeaderMap::new(),
                    body: format!("{} {url}: {e}", self.method),
                }
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }
}
