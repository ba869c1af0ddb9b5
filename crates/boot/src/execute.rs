//! What running code produced: streams, the result, an error, and the reply status.

use serde_json::Value;

/// `status` of an `execute_reply`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExecuteStatus {
    /// The code ran.
    Ok,
    /// The code raised; see [`ExecuteResult::error`].
    Error,
    /// The request was aborted (an earlier request failed with `stop_on_error`).
    Aborted,
    /// Any other status string, kept as sent.
    Other(String),
    /// No reply was seen (the default before one arrives).
    #[default]
    Missing,
}

impl ExecuteStatus {
    fn parse(status: &str) -> Self {
        match status {
            "ok" => Self::Ok,
            "error" => Self::Error,
            "aborted" => Self::Aborted,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// An error raised by executed code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteError {
    /// Exception name, e.g. `KeyboardInterrupt`.
    pub ename: String,
    /// Exception value.
    pub evalue: String,
    /// Traceback lines (may contain terminal colour codes).
    pub traceback: Vec<String>,
}

/// Everything collected for one `execute_request`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteResult {
    /// The reply's status.
    pub status: ExecuteStatus,
    /// The reply's execution count, when given.
    pub execution_count: Option<i64>,
    /// Text of `stream` messages named `stdout`, concatenated.
    pub stdout: String,
    /// Text of `stream` messages named `stderr`, concatenated.
    pub stderr: String,
    /// `text/plain` of the `execute_result`, if any.
    pub result: Option<String>,
    /// The error, from iopub `error` or else from the reply.
    pub error: Option<ExecuteError>,
}

impl ExecuteResult {
    /// Fold in the `execute_reply` content.
    pub(crate) fn apply_reply(&mut self, content: &Value) {
        self.status = ExecuteStatus::parse(content["status"].as_str().unwrap_or(""));
        self.execution_count = content["execution_count"].as_i64();
        if self.status == ExecuteStatus::Error && self.error.is_none() {
            self.error = Some(error_of(content));
        }
    }

    /// Fold in one iopub message of `msg_type` for our request.
    pub(crate) fn apply_iopub(&mut self, msg_type: &str, content: &Value) {
        match msg_type {
            "stream" => {
                let text = content["text"].as_str().unwrap_or("");
                match content["name"].as_str() {
                    Some("stderr") => self.stderr.push_str(text),
                    _ => self.stdout.push_str(text),
                }
            }
            "execute_result" => {
                self.result = content["data"]["text/plain"].as_str().map(str::to_owned);
            }
            "error" => self.error = Some(error_of(content)),
            _ => {}
        }
    }
}

fn error_of(content: &Value) -> ExecuteError {
    ExecuteError {
        ename: content["ename"].as_str().unwrap_or("").to_owned(),
        evalue: content["evalue"].as_str().unwrap_or("").to_owned(),
        traceback: content["traceback"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folds_streams_results_and_errors() {
        let mut r = ExecuteResult::default();
        assert_eq!(r.status, ExecuteStatus::Missing);
        r.apply_iopub("stream", &json!({"name": "stdout", "text": "a\n"}));
        r.apply_iopub("stream", &json!({"name": "stderr", "text": "warn\n"}));
        r.apply_iopub("stream", &json!({"name": "stdout", "text": "b\n"}));
        r.apply_iopub("execute_result", &json!({"data": {"text/plain": "42"}}));
        r.apply_iopub(
            "error",
            &json!({"ename": "KeyboardInterrupt", "evalue": "", "traceback": ["x"]}),
        );
        r.apply_reply(
            &json!({"status": "error", "execution_count": 3, "ename": "Other", "evalue": "v"}),
        );
        assert_eq!(r.stdout, "a\nb\n");
        assert_eq!(r.stderr, "warn\n");
        assert_eq!(r.result.as_deref(), Some("42"));
        assert_eq!(r.status, ExecuteStatus::Error);
        assert_eq!(r.execution_count, Some(3));
        let error = r.error.unwrap();
        assert_eq!(error.ename, "KeyboardInterrupt");
        assert_eq!(error.traceback, ["x"]);
    }

    #[test]
    fn error_comes_from_the_reply_when_iopub_had_none() {
        let mut r = ExecuteResult::default();
        r.apply_reply(&json!({"status": "error", "ename": "NameError", "evalue": "x"}));
        assert_eq!(r.error.unwrap().ename, "NameError");
        let mut r = ExecuteResult::default();
        r.apply_reply(&json!({"status": "aborted"}));
        assert_eq!(r.status, ExecuteStatus::Aborted);
        assert!(r.error.is_none());
    }
}
