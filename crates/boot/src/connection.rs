//! The connection file: free ports, a fresh key, JSON in jupyter_client's key order, mode 0600.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::BootError;
use crate::ids::new_id;

/// Contents of a connection file, fields in the order jupyter_client writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    /// Shell channel port (ROUTER in the kernel).
    pub shell_port: u16,
    /// IOPub channel port (PUB in the kernel).
    pub iopub_port: u16,
    /// Stdin channel port (ROUTER in the kernel).
    pub stdin_port: u16,
    /// Control channel port (ROUTER in the kernel).
    pub control_port: u16,
    /// Heartbeat port (REP in the kernel).
    pub hb_port: u16,
    /// Address the kernel binds to.
    pub ip: String,
    /// HMAC key; its UTF-8 bytes key the signature. Empty disables signing.
    pub key: String,
    /// Transport, always `tcp` here.
    pub transport: String,
    /// Signature scheme, always `hmac-sha256` here.
    pub signature_scheme: String,
    /// Kernel name, possibly empty.
    pub kernel_name: String,
    /// Only written when the launch env has `JPY_SESSION_NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jupyter_session: Option<String>,
}

impl ConnectionInfo {
    /// Fresh info for `kernel_name`: five free loopback ports and a random key.
    pub fn generate(kernel_name: &str, jupyter_session: Option<String>) -> Result<Self, BootError> {
        let [shell_port, iopub_port, stdin_port, control_port, hb_port] = free_ports()?;
        Ok(Self {
            shell_port,
            iopub_port,
            stdin_port,
            control_port,
            hb_port,
            ip: Ipv4Addr::LOCALHOST.to_string(),
            key: new_id()?,
            transport: "tcp".to_owned(),
            signature_scheme: "hmac-sha256".to_owned(),
            kernel_name: kernel_name.to_owned(),
            jupyter_session,
        })
    }

    /// `json.dumps(info, indent=2)`, as jupyter_client writes it.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// `tcp://<ip>:<port>`.
    pub fn endpoint(&self, port: u16) -> String {
        format!("{}://{}:{}", self.transport, self.ip, port)
    }
}

/// Ports this process has already handed to a kernel. The OS may give a just-released port
/// to the next `bind(0)`, and `boot_many` picks ports for many kernels within milliseconds;
/// remembering them keeps two of our own kernels from ever being given the same port.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Bind five listeners to port 0 at once (so the ports differ), read them, close them.
/// A port this process already gave to another kernel is skipped (bounded retries).
///
/// Like jupyter_client this can race with another process taking a port before the
/// kernel binds it; the kernel then fails to start and is reported as such.
fn free_ports() -> Result<[u16; 5], BootError> {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut listeners = Vec::with_capacity(16);
    let mut ports = [0u16; 5];
    let mut found = 0;
    // Every listener stays open until all five are read, so the OS never repeats one here.
    for _ in 0..64 {
        if found == ports.len() {
            break;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|source| BootError::PickPorts { source })?;
        let port = listener
            .local_addr()
            .map_err(|source| BootError::PickPorts { source })?
            .port();
        listeners.push(listener);
        if handed_out.insert(port) {
            ports[found] = port;
            found += 1;
        }
    }
    if found < ports.len() {
        return Err(BootError::PickPorts {
            source: std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "no free port that this process has not already used",
            ),
        });
    }
    Ok(ports)
}

/// A written connection file, removed when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionFile {
    path: PathBuf,
    removed: bool,
}

impl ConnectionFile {
    /// Write `info` to `<dir>/kernel-<id>.json` with mode 0600 (creating `dir` if needed).
    pub(crate) fn write(dir: &Path, info: &ConnectionInfo) -> Result<Self, BootError> {
        fs::create_dir_all(dir).map_err(|source| BootError::CreateRuntimeDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(format!("kernel-{}.json", new_id()?));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| BootError::WriteConnectionFile {
                path: path.clone(),
                source,
            })?;
        let mut this = Self {
            path,
            removed: false,
        };
        file.write_all(info.to_json().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| BootError::WriteConnectionFile {
                path: this.path.clone(),
                source,
            })?;
        // `{connection_file}` is the real path, as `os.path.realpath` gives it.
        if let Ok(real) = fs::canonicalize(&this.path) {
            this.path = real;
        }
        Ok(this)
    }

    /// Absolute path of the file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Delete the file now, reporting failure (a missing file is not a failure).
    pub(crate) fn remove(mut self) -> Result<(), BootError> {
        self.removed = true;
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(BootError::RemoveConnectionFile {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

impl Drop for ConnectionFile {
    fn drop(&mut self) {
        if !self.removed {
            // Best effort on paths that already failed or were abandoned.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice_in_one_process() {
        let mut seen = BTreeSet::new();
        for _ in 0..40 {
            for port in free_ports().unwrap() {
                assert!(seen.insert(port), "port {port} handed out twice");
            }
        }
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn json_shape_and_key_order_match_jupyter_client() {
        let info = ConnectionInfo {
            shell_port: 55099,
            iopub_port: 52245,
            stdin_port: 38253,
            control_port: 34687,
            hb_port: 57601,
            ip: "127.0.0.1".to_owned(),
            key: "e38bb292-524a57ef8f89083104bf0280".to_owned(),
            transport: "tcp".to_owned(),
            signature_scheme: "hmac-sha256".to_owned(),
            kernel_name: "envtest".to_owned(),
            jupyter_session: Some("nb.ipynb".to_owned()),
        };
        // Reference §8.1, byte for byte.
        let expected = r#"{
  "shell_port": 55099,
  "iopub_port": 52245,
  "stdin_port": 38253,
  "control_port": 34687,
  "hb_port": 57601,
  "ip": "127.0.0.1",
  "key": "e38bb292-524a57ef8f89083104bf0280",
  "transport": "tcp",
  "signature_scheme": "hmac-sha256",
  "kernel_name": "envtest",
  "jupyter_session": "nb.ipynb"
}"#;
        assert_eq!(info.to_json(), expected);
        let without = ConnectionInfo {
            jupyter_session: None,
            ..info
        };
        assert!(!without.to_json().contains("jupyter_session"));
        assert!(without
            .to_json()
            .ends_with("\"kernel_name\": \"envtest\"\n}"));
    }

    #[test]
    fn generated_info_has_distinct_ports_and_a_key() {
        let info = ConnectionInfo::generate("k", None).unwrap();
        let mut ports = vec![
            info.shell_port,
            info.iopub_port,
            info.stdin_port,
            info.control_port,
            info.hb_port,
        ];
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 5);
        assert!(ports.iter().all(|p| *p != 0));
        assert_eq!(info.key.len(), 33);
        assert_eq!(
            info.endpoint(info.shell_port),
            format!("tcp://127.0.0.1:{}", info.shell_port)
        );
    }

    #[test]
    fn file_is_0600_absolute_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("runtime");
        let info = ConnectionInfo::generate("k", None).unwrap();
        let file = ConnectionFile::write(&runtime, &info).unwrap();
        let path = file.path().to_path_buf();
        assert!(path.is_absolute());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("kernel-") && name.ends_with(".json"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let read: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read["key"], info.key.as_str());
        assert_eq!(read["shell_port"], info.shell_port);
        file.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn dropping_the_guard_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let info = ConnectionInfo::generate("k", None).unwrap();
        let file = ConnectionFile::write(dir.path(), &info).unwrap();
        let path = file.path().to_path_buf();
        drop(file);
        assert!(!path.exists());
    }
}
