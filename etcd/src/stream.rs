//! The gateway's streaming answers: `{"result": ...}` or `{"error": ...}`,
//! one JSON object per line.
//!
//! Go: grpc-gateway's `ForwardResponseStream` (runtime/handler.go), which
//! etcd's gateway uses for the bidirectional `LeaseKeepAlive` and `Watch`
//! RPCs. The error object's fields differ between gateway versions
//! (`grpc_code`/`http_code` in etcd 3.4, `code` in 3.5); both are read.

use serde::Deserialize;

use crate::error::Error;

/// One message of a stream.
#[derive(Debug, Deserialize)]
pub(crate) struct Msg<T> {
    pub(crate) result: Option<T>,
    pub(crate) error: Option<StreamError>,
}

/// An error inside a stream.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamError {
    #[serde(default)]
    grpc_code: i32,
    #[serde(default)]
    code: i32,
    #[serde(default)]
    http_code: u16,
    #[serde(default)]
    message: String,
}

impl<T> Msg<T> {
    /// The result, or the stream's error (or a malformed-answer error if
    /// it has neither).
    pub(crate) fn into_result(self, ep: &str) -> Result<T, Error> {
        match (self.result, self.error) {
            (_, Some(e)) => {
                let code = if e.grpc_code != 0 { e.grpc_code } else { e.code };
                Err(crate::client::classify_message(ep, e.http_code, code, e.message, 0))
            }
            (Some(r), None) => Ok(r),
            (None, None) => Err(Error::Malformed {
                endpoint: ep.to_string(),
                detail: "a stream message with neither result nor error".into(),
            }),
        }
    }
}
