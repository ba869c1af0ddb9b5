//! The Jupyter wire protocol: message frames, headers and HMAC-SHA256 signing.
//!
//! A message is `[prefix…, "<IDS|MSG>", signature, header, parent_header, metadata,
//! content, buffers…]`; the signature is the lowercase hex HMAC-SHA256 of the exact
//! bytes of the four JSON frames.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use zeromq::ZmqMessage;

use crate::error::BootError;
use crate::ids::{from_hex, iso8601_utc, new_id, to_hex};

/// The frame separating routing prefixes from the message.
pub(crate) const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Protocol version we put in our headers (what jupyter_client sends).
pub(crate) const PROTOCOL_VERSION: &str = "5.4";

/// Username we put in our headers.
pub(crate) const USERNAME: &str = "kernels";

/// A kernel channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Requests and replies.
    Shell,
    /// Broadcast output and status.
    Iopub,
    /// Shutdown and interrupt requests.
    Control,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Shell => "shell",
            Self::Iopub => "iopub",
            Self::Control => "control",
        })
    }
}

/// HMAC-SHA256 signer for one connection key (an empty key disables signing).
#[derive(Clone)]
pub(crate) struct Signer {
    mac: Option<Hmac<Sha256>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("enabled", &self.mac.is_some())
            .finish()
    }
}

impl Signer {
    /// Signer keyed by the UTF-8 bytes of `key`.
    pub(crate) fn new(key: &str) -> Self {
        let mac = if key.is_empty() {
            None
        } else {
            // HMAC accepts keys of any length, so this never fails.
            Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()
        };
        Self { mac }
    }

    /// Hex signature of `parts` concatenated; empty when signing is disabled.
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                to_hex(&mac.finalize().into_bytes())
            }
        }
    }

    /// Constant-time check of a hex `signature` over `parts`.
    pub(crate) fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> bool {
        match &self.mac {
            None => true,
            Some(mac) => {
                let Some(raw) = from_hex(signature) else {
                    return false;
                };
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                mac.verify_slice(&raw).is_ok()
            }
        }
    }
}

/// A message header. Unknown fields from the kernel are ignored; missing ones are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Header {
    /// Unique message id.
    pub msg_id: String,
    /// Session id of the sender.
    pub session: String,
    /// User name of the sender.
    pub username: String,
    /// ISO 8601 timestamp.
    pub date: String,
    /// Message type, e.g. `kernel_info_reply`.
    pub msg_type: String,
    /// Protocol version of the sender.
    pub version: String,
}

/// A decoded, signature-checked message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Frames before the delimiter (iopub topic or routing ids).
    pub prefix: Vec<Vec<u8>>,
    /// This message's header.
    pub header: Header,
    /// Header of the request this answers (all fields empty if none).
    pub parent_header: Header,
    /// Metadata object.
    pub metadata: Value,
    /// Content object.
    pub content: Value,
    /// Raw buffers after the content frame.
    pub buffers: Vec<Vec<u8>>,
}

/// Why an incoming multipart message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    /// No `<IDS|MSG>` frame.
    #[error("no <IDS|MSG> delimiter frame")]
    NoDelimiter,
    /// Fewer than five frames after the delimiter.
    #[error("only {0} frames after the delimiter, need 5")]
    TooFewFrames(usize),
    /// Signature missing or wrong.
    #[error("invalid signature")]
    BadSignature,
    /// A JSON frame did not parse.
    #[error("frame `{frame}` is not valid JSON: {message}")]
    Json {
        /// Which frame.
        frame: &'static str,
        /// Parser message.
        message: String,
    },
}

/// Builds our outgoing messages for one client session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    session_id: String,
    signer: Signer,
}

impl Session {
    /// A new session (random session id) signing with `key`.
    pub(crate) fn new(key: &str) -> Result<Self, BootError> {
        Ok(Self {
            session_id: new_id()?,
            signer: Signer::new(key),
        })
    }

    /// A fresh header for `msg_type`.
    pub(crate) fn header(&self, msg_type: &str) -> Result<Header, BootError> {
        Ok(Header {
            msg_id: new_id()?,
            session: self.session_id.clone(),
            username: USERNAME.to_owned(),
            date: iso8601_utc(SystemTime::now()),
            msg_type: msg_type.to_owned(),
            version: PROTOCOL_VERSION.to_owned(),
        })
    }

    /// Serialise and sign a request with no parent and empty metadata.
    pub(crate) fn encode(&self, header: &Header, content: &Value) -> Result<ZmqMessage, BootError> {
        let encode_err = |source| BootError::Encode {
            msg_type: header.msg_type.clone(),
            source,
        };
        let header_bytes = serde_json::to_vec(header).map_err(encode_err)?;
        let parent = b"{}".to_vec();
        let metadata = b"{}".to_vec();
        let content_bytes = serde_json::to_vec(content).map_err(encode_err)?;
        let signature = self
            .signer
            .sign(&[&header_bytes, &parent, &metadata, &content_bytes]);
        let frames: Vec<Bytes> = vec![
            Bytes::from_static(DELIMITER),
            Bytes::from(signature.into_bytes()),
            Bytes::from(header_bytes),
            Bytes::from(parent),
            Bytes::from(metadata),
            Bytes::from(content_bytes),
        ];
        // The frame list is never empty, so this conversion cannot fail.
        ZmqMessage::try_from(frames).map_err(|_| BootError::Encode {
            msg_type: header.msg_type.clone(),
            source: serde::ser::Error::custom("empty frame list"),
        })
    }

    /// Find the delimiter, check the signature, parse the JSON frames.
    pub(crate) fn decode(&self, frames: &[&[u8]]) -> Result<Message, WireError> {
        let at = frames
            .iter()
            .position(|f| *f == DELIMITER)
            .ok_or(WireError::NoDelimiter)?;
        let rest = &frames[at + 1..];
        if rest.len() < 5 {
            return Err(WireError::TooFewFrames(rest.len()));
        }
        let (signature, parts) = (rest[0], &rest[1..5]);
        if self.signer.mac.is_some() && signature.is_empty() {
            return Err(WireError::BadSignature);
        }
        if !self.signer.verify(signature, parts) {
            return Err(WireError::BadSignature);
        }
        let json = |frame: &'static str, bytes: &[u8]| {
            serde_json::from_slice::<Value>(bytes).map_err(|err| WireError::Json {
                frame,
                message: err.to_string(),
            })
        };
        let header_of = |frame: &'static str, bytes: &[u8]| {
            serde_json::from_slice::<Header>(bytes).map_err(|err| WireError::Json {
                frame,
                message: err.to_string(),
            })
        };
        Ok(Message {
            prefix: frames[..at].iter().map(|f| f.to_vec()).collect(),
            header: header_of("header", parts[0])?,
            parent_header: header_of("parent_header", parts[1])?,
            metadata: json("metadata", parts[2])?,
            content: json("content", parts[3])?,
            buffers: rest[5..].iter().map(|f| f.to_vec()).collect(),
        })
    }

    /// [`Session::decode`] on a received ZMQ message.
    pub(crate) fn decode_zmq(&self, message: &ZmqMessage) -> Result<Message, WireError> {
        let frames: Vec<&[u8]> = message.iter().map(|f| f.as_ref()).collect();
        self.decode(&frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(message: &ZmqMessage) -> Vec<Vec<u8>> {
        message.iter().map(|f| f.to_vec()).collect()
    }

    #[test]
    fn hmac_matches_rfc4231_split_across_frames() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let signer = Signer::new("Jefe");
        let sig = signer.sign(&[b"what do ", b"ya want ", b"for ", b"nothing?"]);
        assert_eq!(
            sig,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(signer.verify(sig.as_bytes(), &[b"what do ya want for nothing?"]));
        assert!(signer.verify(
            sig.to_uppercase().as_bytes(),
            &[b"what do ya want for nothing?"]
        ));
        assert!(!signer.verify(sig.as_bytes(), &[b"what do ya want for nothing!"]));
        assert!(!signer.verify(b"00", &[b"what do ya want for nothing?"]));
        assert!(!signer.verify(b"not hex", &[b"x"]));
    }

    #[test]
    fn encoded_request_has_the_reference_layout() {
        let session = Session::new("4104e944-e5e4cc7770df8a876374973b").unwrap();
        let header = session.header("kernel_info_request").unwrap();
        let message = session.encode(&header, &json!({})).unwrap();
        let f = frames(&message);
        assert_eq!(f.len(), 6);
        assert_eq!(f[0], DELIMITER);
        assert_eq!(f[3], b"{}");
        assert_eq!(f[4], b"{}");
        assert_eq!(f[5], b"{}");
        let expected =
            Signer::new("4104e944-e5e4cc7770df8a876374973b").sign(&[&f[2], &f[3], &f[4], &f[5]]);
        assert_eq!(f[1], expected.as_bytes());
        assert_eq!(f[1].len(), 64);
        let parsed: Value = serde_json::from_slice(&f[2]).unwrap();
        let keys: Vec<&str> = parsed
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["msg_id", "session", "username", "date", "msg_type", "version"]
        );
        assert_eq!(parsed["username"], "kernels");
        assert_eq!(parsed["version"], "5.4");
        assert_eq!(parsed["msg_type"], "kernel_info_request");
    }

    #[test]
    fn decode_round_trips_with_prefix_and_rejects_tampering() {
        let session = Session::new("secret").unwrap();
        let header = session.header("status").unwrap();
        let message = session
            .encode(&header, &json!({"execution_state": "idle"}))
            .unwrap();
        let mut f = frames(&message);
        f.insert(0, b"kernel.abc.status".to_vec());
        f.push(b"raw buffer".to_vec());
        let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
        let decoded = session.decode(&refs).unwrap();
        assert_eq!(decoded.prefix, vec![b"kernel.abc.status".to_vec()]);
        assert_eq!(decoded.header, header);
        assert_eq!(decoded.parent_header, Header::default());
        assert_eq!(decoded.content["execution_state"], "idle");
        assert_eq!(decoded.buffers, vec![b"raw buffer".to_vec()]);

        // Tampered content, a different key, no delimiter, too few frames, empty signature.
        let mut tampered = f.clone();
        tampered[6] = br#"{"execution_state": "busy"}"#.to_vec();
        let refs: Vec<&[u8]> = tampered.iter().map(Vec::as_slice).collect();
        assert_eq!(session.decode(&refs), Err(WireError::BadSignature));
        let other = Session::new("other").unwrap();
        let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
        assert_eq!(other.decode(&refs), Err(WireError::BadSignature));
        assert_eq!(session.decode(&refs[2..]), Err(WireError::NoDelimiter));
        assert_eq!(session.decode(&refs[..5]), Err(WireError::TooFewFrames(3)));
        let mut unsigned = f.clone();
        unsigned[2] = Vec::new();
        let refs: Vec<&[u8]> = unsigned.iter().map(Vec::as_slice).collect();
        assert_eq!(session.decode(&refs), Err(WireError::BadSignature));
    }

    #[test]
    fn empty_key_sends_and_accepts_unsigned_messages() {
        let session = Session::new("").unwrap();
        let header = session.header("kernel_info_request").unwrap();
        let f = frames(&session.encode(&header, &json!({})).unwrap());
        assert!(f[1].is_empty());
        let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
        assert!(session.decode(&refs).is_ok());
    }

    #[test]
    fn decodes_a_header_with_extra_fields() {
        let session = Session::new("").unwrap();
        let header = br#"{"msg_id": "9889ebd5-c95237fefd16bf26223a0975_12707_3", "msg_type": "kernel_info_reply", "username": "username", "session": "9889ebd5-c95237fefd16bf26223a0975", "date": "2026-11-26T18:23:35.567055Z", "version": "5.4", "subshell_id": null}"#;
        let frames: Vec<&[u8]> = vec![DELIMITER, b"", header, b"{}", b"{}", br#"{"status": "ok"}"#];
        let decoded = session.decode(&frames).unwrap();
        assert_eq!(decoded.header.msg_type, "kernel_info_reply");
        assert_eq!(
            decoded.header.msg_id,
            "9889ebd5-c95237fefd16bf26223a0975_12707_3"
        );
    }
}
