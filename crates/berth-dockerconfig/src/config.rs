//! Docker's client config file (`$DOCKER_CONFIG/config.json`, by default
//! `~/.docker/config.json`), the credentials part of it:
//!
//! * `auths`: `{"<server>": {"auth": base64("user:pass")}}`, or
//!   `{"identitytoken": "..."}` for an OAuth2 refresh token;
//! * `credsStore`: the default helper `docker-credential-<name>`, and
//!   `credHelpers`: `{"<server>": "<name>"}` per registry. Helpers speak the
//!   docker-credential-helpers protocol: `get` reads the server URL on stdin
//!   and prints `{"ServerURL","Username","Secret"}` (a `Username` of
//!   `<token>` marks an identity token), `store` reads that JSON, `erase`
//!   reads the server URL.
//!
//! Every other field of the file is kept as it was when the file is saved
//! (it is rewritten atomically, mode 0600). Docker Hub's entry is keyed
//! `https://index.docker.io/v1/`, as docker writes it.
//!
//! Everything here is synchronous: a credential helper is a short-lived
//! process run to its end (see helper.rs).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use berth_oci::reference::is_docker_hub;
use serde_json::{Map, Value};

use crate::credentials::Credentials;
use crate::error::ConfigError;
use crate::helper::{helper_get, helper_run};

/// The key docker uses for Docker Hub in `auths` and with helpers.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The config file path: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// The key under which a registry's credentials are stored, and the server
/// address docker names it by: Docker Hub's v1 URL for its names, else the host.
pub fn auth_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_AUTH_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// `https://host/v1/` and `host` name the same registry (docker normalises
/// keys the same way when it reads them).
fn normalise_key(key: &str) -> String {
    let s = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = s.split('/').next().unwrap_or(s);
    if is_docker_hub(host) {
        "docker.io".to_owned()
    } else {
        host.to_owned()
    }
}

/// A loaded docker config file.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// Loads the file; a missing file is an empty config.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let path = path.into();
        let doc = match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(config_error(&path, "not a JSON object")),
                Err(e) => return Err(config_error(&path, format!("invalid JSON: {e}"))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(config_error(&path, format!("cannot read: {e}"))),
        };
        Ok(Self { path, doc })
    }

    /// Loads the file at [`default_config_path`].
    pub fn load_default() -> Result<Self, ConfigError> {
        let path = default_config_path().ok_or_else(|| {
            config_error(
                Path::new("~/.docker/config.json"),
                "neither DOCKER_CONFIG nor HOME is set",
            )
        })?;
        Self::load(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper that holds `registry`'s credentials, if any.
    fn helper_for(&self, registry: &str) -> Option<String> {
        let wanted = normalise_key(&auth_key(registry));
        if let Some(Value::Object(helpers)) = self.doc.get("credHelpers") {
            for (key, name) in helpers {
                if normalise_key(key) == wanted {
                    if let Some(name) = name.as_str().filter(|n| !n.is_empty()) {
                        return Some(name.to_owned());
                    }
                }
            }
        }
        self.doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }

    /// The credentials stored for `registry` (a host such as
    /// `127.0.0.1:5000` or `docker.io`), from its helper or from `auths`.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, ConfigError> {
        let key = auth_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            return helper_get(&helper, &key);
        }
        let Some(Value::Object(auths)) = self.doc.get("auths") else {
            return Ok(None);
        };
        let wanted = normalise_key(&key);
        let entry = auths
            .get(&key)
            .or_else(|| {
                auths
                    .iter()
                    .find(|(k, _)| normalise_key(k) == wanted)
                    .map(|(_, v)| v)
            })
            .and_then(Value::as_object);
        let Some(entry) = entry else { return Ok(None) };
        if let Some(token) = entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            return Ok(Some(Credentials::IdentityToken {
                token: token.to_owned(),
            }));
        }
        let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| {
                config_error(&self.path, format!("auths.{key}.auth is not base64: {e}"))
            })?;
        let text = String::from_utf8(decoded)
            .map_err(|_| config_error(&self.path, format!("auths.{key}.auth is not UTF-8")))?;
        let Some((user, pass)) = text.split_once(':') else {
            return Err(config_error(
                &self.path,
                format!("auths.{key}.auth is not base64 of user:password"),
            ));
        };
        Ok(Some(Credentials::basic(user, pass)))
    }

    /// Stores credentials for `registry` (in its helper if it has one, else
    /// in `auths`) and saves the file.
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<(), ConfigError> {
        let key = auth_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            let (username, secret) = match creds {
                Credentials::Basic { username, password } => (username.as_str(), password.as_str()),
                Credentials::IdentityToken { token } => ("<token>", token.as_str()),
            };
            let input =
                serde_json::json!({"ServerURL": key, "Username": username, "Secret": secret});
            helper_run(&helper, "store", &key, input.to_string().as_bytes())?;
            // docker keeps an empty entry in auths so `docker info` lists it.
            self.edit_auths(|auths| {
                auths.insert(key, Value::Object(Map::new()));
            });
            return self.save();
        }
        let mut entry = Map::new();
        match creds {
            Credentials::Basic { .. } => {
                let token = creds.basic_token().unwrap_or_default();
                entry.insert("auth".into(), Value::String(token));
            }
            Credentials::IdentityToken { token } => {
                entry.insert("identitytoken".into(), Value::String(token.clone()));
            }
        }
        self.edit_auths(|auths| {
            auths.insert(key, Value::Object(entry));
        });
        self.save()
    }

    /// Removes `registry`'s credentials (`docker logout`) and saves the file.
    pub fn erase(&mut self, registry: &str) -> Result<(), ConfigError> {
        let key = auth_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            helper_run(&helper, "erase", &key, key.as_bytes())?;
        }
        let wanted = normalise_key(&key);
        self.edit_auths(|auths| auths.retain(|k, _| normalise_key(k) != wanted));
        self.save()
    }

    /// Runs `edit` on the `auths` object (made if missing or not an object).
    fn edit_auths(&mut self, edit: impl FnOnce(&mut Map<String, Value>)) {
        let mut auths = match self.doc.remove("auths") {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        edit(&mut auths);
        self.doc.insert("auths".into(), Value::Object(auths));
    }

    /// Writes the file atomically (temp file in the same directory, mode
    /// 0600, then rename), creating its directory if needed.
    pub fn save(&self) -> Result<(), ConfigError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| config_error(&self.path, format!("cannot create its directory: {e}")))?;
        let text = serde_json::to_vec_pretty(&Value::Object(self.doc.clone()))
            .map_err(|e| config_error(&self.path, format!("cannot serialise: {e}")))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("config.json"),
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            config_error(&self.path, format!("cannot write: {e}"))
        })
    }
}

fn config_error(path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::Config {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_in_docker_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
                "http://reg.example:5000/v2/":{"auth":"YTpi"},
                "tok.example":{"identitytoken":"refresh"}
            },"psFormat":"table"}"#,
        )
        .unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        assert_eq!(
            cfg.credentials("docker.io").unwrap(),
            Some(Credentials::basic("user", "pa:ss"))
        );
        assert_eq!(
            cfg.credentials("reg.example:5000").unwrap(),
            Some(Credentials::basic("a", "b"))
        );
        assert_eq!(
            cfg.credentials("tok.example").unwrap(),
            Some(Credentials::IdentityToken {
                token: "refresh".into()
            })
        );
        assert_eq!(cfg.credentials("other").unwrap(), None);
    }

    #[test]
    fn store_keeps_other_fields_and_erase_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"psFormat":"table"}"#).unwrap();
        let mut cfg = DockerConfig::load(&path).unwrap();
        cfg.store("docker.io", &Credentials::basic("u", "p"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["psFormat"], "table");
        assert_eq!(v["auths"][DOCKER_HUB_AUTH_KEY]["auth"], "dTpw");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let reloaded = DockerConfig::load(&path).unwrap();
        assert_eq!(
            reloaded.credentials("index.docker.io").unwrap(),
            Some(Credentials::basic("u", "p"))
        );
        cfg.erase("docker.io").unwrap();
        let reloaded = DockerConfig::load(&path).unwrap();
        assert_eq!(reloaded.credentials("docker.io").unwrap(), None);
    }

    #[test]
    fn docker_config_env_wins_over_home() {
        // nextest runs every test in its own process: the env is ours.
        std::env::set_var("HOME", "/home/someone");
        std::env::remove_var("DOCKER_CONFIG");
        assert_eq!(
            default_config_path(),
            Some(PathBuf::from("/home/someone/.docker/config.json"))
        );
        std::env::set_var("DOCKER_CONFIG", "/etc/berth-docker");
        assert_eq!(
            default_config_path(),
            Some(PathBuf::from("/etc/berth-docker/config.json"))
        );
    }

    #[test]
    fn bad_files_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "[1]").unwrap();
        let e = DockerConfig::load(&path).unwrap_err();
        assert!(matches!(e, ConfigError::Config { .. }), "{e}");
        std::fs::write(&path, "{").unwrap();
        assert!(DockerConfig::load(&path).is_err());
        assert!(DockerConfig::load(dir.path().join("missing.json")).is_ok());
    }
}
