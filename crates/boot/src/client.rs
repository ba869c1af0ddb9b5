//! The async core: start a kernel, connect its channels, wait for it to answer, run
//! code, interrupt and shut it down. [`crate::RunningKernel`] and [`crate::boot`] wrap it.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zeromq::{DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, SubSocket, ZmqError};

use crate::connection::{ConnectionFile, ConnectionInfo};
use crate::error::BootError;
use crate::execute::ExecuteResult;
use crate::launch;
use crate::process::{Exit, KernelProcess, Signal};
use crate::spec::{BootOptions, InterruptMode, LaunchSpec};
use crate::vars;
use crate::wire::{Channel, Message, Session};

/// jupyter_client re-sends `kernel_info_request` this often while waiting.
const RESEND_EVERY: Duration = Duration::from_secs(1);
/// Upper bound of one wait before re-checking the child and the deadline.
const TICK: Duration = Duration::from_millis(100);
/// One connect attempt; a kernel that is not listening yet is retried after this.
const CONNECT_ATTEMPT: Duration = Duration::from_millis(250);
/// How long `start` waits for a first iopub message after the reply (jupyter_client
/// waits 0.2 s; we are a little more patient so `execute` does not miss output).
const IOPUB_GRACE: Duration = Duration::from_secs(2);
/// How long the output readers get to finish after the kernel died.
const SETTLE_OUTPUT: Duration = Duration::from_millis(500);
/// At most this many messages are kept for later while waiting for something else.
const BACKLOG_LIMIT: usize = 10_000;
/// How long `execute_start` waits for the kernel to pick the request up.
const ACK_LIMIT: Duration = Duration::from_secs(5);
/// How long a send may wait for room in the socket's queue.
const SEND_LIMIT: Duration = Duration::from_secs(5);
/// jupyter_client's `shutdown_wait_time`.
pub(crate) const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What went wrong while starting, with what we learned about the process.
#[derive(Debug)]
pub(crate) struct StartFailure {
    /// The error.
    pub(crate) error: BootError,
    /// Process id, when it was spawned.
    pub(crate) pid: Option<u32>,
    /// Last stdout lines.
    pub(crate) stdout_tail: Vec<String>,
    /// Last stderr lines.
    pub(crate) stderr_tail: Vec<String>,
    /// Messages dropped for a bad signature or shape (many suggest a wrong key).
    pub(crate) invalid_messages: u64,
}

impl From<BootError> for StartFailure {
    fn from(error: BootError) -> Self {
        Self {
            error,
            pid: None,
            stdout_tail: Vec::new(),
            stderr_tail: Vec::new(),
            invalid_messages: 0,
        }
    }
}

/// A started kernel with connected channels.
#[derive(Debug)]
pub(crate) struct Kernel {
    name: String,
    interrupt_mode: InterruptMode,
    process: KernelProcess,
    connection: ConnectionInfo,
    connection_file: Option<ConnectionFile>,
    session: Session,
    channels: Channels,
    kernel_info: Value,
    started_at: Instant,
    replied_at: Instant,
    invalid_messages: u64,
    /// Messages read while looking for something else, handed out again first.
    backlog: VecDeque<(Channel, Message)>,
}

/// The three sockets we use.
struct Channels {
    shell: DealerSocket,
    iopub: SubSocket,
    control: DealerSocket,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channels { shell, iopub, control }")
    }
}

/// One thing that happened while waiting.
enum Event {
    /// A valid message arrived.
    Message(Channel, Box<Message>),
    /// Nothing valid arrived within a tick.
    Idle,
}

impl Kernel {
    /// Launch `spec`, connect, and wait for the first `kernel_info_reply`.
    ///
    /// On failure the process group is stopped before returning.
    pub(crate) async fn start(spec: &LaunchSpec, opts: &BootOptions) -> Result<Self, StartFailure> {
        let started_at = Instant::now();
        let deadline = started_at + opts.timeout;
        let session_name = opts.inherited_env.get(vars::JPY_SESSION_NAME).cloned();
        let connection = ConnectionInfo::generate(&spec.name, session_name)?;
        let dir = opts.runtime_dir.clone().unwrap_or_else(|| {
            opts.inherited_env
                .get(vars::TMPDIR)
                .filter(|d| !d.is_empty())
                .map_or_else(|| "/tmp".into(), Into::into)
        });
        let connection_file = ConnectionFile::write(&dir, &connection)?;
        let command = launch::command(spec, opts, connection_file.path())?;
        let process = KernelProcess::spawn(
            &spec.name,
            &command.program,
            &command.args,
            &command.env,
            opts.cwd.as_deref(),
        )?;
        let mut starting = Starting {
            name: spec.name.clone(),
            process,
            deadline,
            timeout: opts.timeout,
        };
        let result = async {
            let channels = starting.connect(&connection).await?;
            let session = Session::new(&connection.key)?;
            Ok::<_, BootError>((channels, session))
        }
        .await;
        let (channels, session) = match result {
            Ok(parts) => parts,
            Err(error) => return Err(starting.fail(error).await),
        };
        let mut kernel = Self {
            name: spec.name.clone(),
            interrupt_mode: spec.interrupt_mode,
            process: starting.process,
            connection,
            connection_file: Some(connection_file),
            session,
            channels,
            kernel_info: Value::Null,
            started_at,
            replied_at: started_at,
            invalid_messages: 0,
            backlog: VecDeque::new(),
        };
        match kernel.wait_ready(deadline, opts.timeout).await {
            Ok(()) => Ok(kernel),
            Err(error) => Err(kernel.fail(error).await),
            // `kernel` is dropped here: its connection file is removed.
        }
    }

    /// Re-send `kernel_info_request` every second until a matching reply, the child's
    /// exit, or `deadline`; then give iopub a moment to deliver its first message.
    async fn wait_ready(&mut self, deadline: Instant, timeout: Duration) -> Result<(), BootError> {
        const WAITING: &str = "waiting for the first kernel_info_reply";
        let mut sent = HashSet::new();
        let mut iopub_seen = false;
        let reply = 'outer: loop {
            match self
                .send(Channel::Shell, "kernel_info_request", &json!({}))
                .await
            {
                Ok(id) => {
                    sent.insert(id);
                }
                Err(error) => {
                    // A send fails when the kernel went away: say so if it did.
                    self.check_alive(WAITING).await?;
                    return Err(error);
                }
            }
            let resend_at = (Instant::now() + RESEND_EVERY).min(deadline);
            while Instant::now() < resend_at {
                self.check_alive(WAITING).await?;
                match self.next_event(resend_at).await {
                    Event::Message(Channel::Shell, msg)
                        if msg.header.msg_type == "kernel_info_reply"
                            && sent.contains(&msg.parent_header.msg_id) =>
                    {
                        break 'outer *msg;
                    }
                    Event::Message(Channel::Iopub, _) => iopub_seen = true,
                    _ => {}
                }
            }
            self.check_in_time(WAITING, deadline, timeout).await?;
        };
        self.replied_at = Instant::now();
        self.kernel_info = reply.content;
        let status = self.kernel_info["status"].as_str().unwrap_or("");
        if status != "ok" {
            return Err(BootError::ErrorReply {
                name: self.name.clone(),
                msg_type: reply.header.msg_type,
                status: status.to_owned(),
                message: error_text(&self.kernel_info),
            });
        }
        let grace_until = Instant::now() + IOPUB_GRACE;
        while !iopub_seen && Instant::now() < grace_until {
            if let Event::Message(Channel::Iopub, _) = self.next_event(grace_until).await {
                iopub_seen = true;
            }
        }
        Ok(())
    }

    /// Content of the `kernel_info_reply` that made the kernel ready.
    pub(crate) fn kernel_info(&self) -> &Value {
        &self.kernel_info
    }

    /// When the launch began and when the first reply came.
    pub(crate) fn times(&self) -> (Instant, Instant) {
        (self.started_at, self.replied_at)
    }

    /// Process id (and process group id) of the kernel.
    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The connection info written for this kernel.
    pub(crate) fn connection(&self) -> &ConnectionInfo {
        &self.connection
    }

    /// Path of the connection file, while it exists.
    pub(crate) fn connection_file(&self) -> Option<std::path::PathBuf> {
        self.connection_file
            .as_ref()
            .map(|f| f.path().to_path_buf())
    }

    /// Messages dropped for a bad signature or shape.
    pub(crate) fn invalid_messages(&self) -> u64 {
        self.invalid_messages
    }

    /// Last stdout and stderr lines.
    pub(crate) fn tails(&self) -> (Vec<String>, Vec<String>) {
        (self.process.stdout_tail(), self.process.stderr_tail())
    }

    /// A fresh `kernel_info_request`, answered within `timeout`.
    pub(crate) async fn request_kernel_info(
        &mut self,
        timeout: Duration,
    ) -> Result<Value, BootError> {
        let id = self
            .send(Channel::Shell, "kernel_info_request", &json!({}))
            .await?;
        let reply = self
            .wait_reply(Channel::Shell, &id, "kernel_info_reply", timeout)
            .await?;
        Ok(reply.content)
    }

    /// Send an `execute_request` and wait (up to 5 s) until the kernel picks it up
    /// (`status: busy` or `execute_input` on iopub), so that an interrupt sent next
    /// reaches running code. Returns the request's message id.
    pub(crate) async fn execute_start(&mut self, code: &str) -> Result<String, BootError> {
        const WAITING: &str = "waiting for the kernel to pick up an execute_request";
        let content = json!({
            "code": code,
            "silent": false,
            "store_history": true,
            "user_expressions": {},
            "allow_stdin": false,
            "stop_on_error": true,
        });
        let id = self
            .send(Channel::Shell, "execute_request", &content)
            .await?;
        let deadline = Instant::now() + ACK_LIMIT;
        let (seen, picked_up) = self
            .read_until(WAITING, deadline, |_, msg| {
                msg.parent_header.msg_id == id
                    && (msg.header.msg_type == "execute_input"
                        || msg.header.msg_type == "execute_reply"
                        || (msg.header.msg_type == "status"
                            && msg.content["execution_state"] == "busy"))
            })
            .await;
        // Everything is kept, the message that shows the pick-up too: `execute_wait` reads it.
        self.keep(seen);
        // Not picked up in time is not an error by itself: `execute_wait` reports what
        // happens next.
        picked_up.map(|_| id)
    }

    /// Collect iopub output for `msg_id` until both its `execute_reply` and its
    /// `status: idle` arrived.
    pub(crate) async fn execute_wait(
        &mut self,
        msg_id: &str,
        timeout: Duration,
    ) -> Result<ExecuteResult, BootError> {
        const WAITING: &str = "waiting for an execute_reply";
        let deadline = Instant::now() + timeout;
        let mut result = ExecuteResult::default();
        let mut replied = false;
        let mut idle = false;
        while !(replied && idle) {
            self.check_in_time(WAITING, deadline, timeout).await?;
            let Event::Message(channel, msg) = self.next_event(deadline).await else {
                continue;
            };
            if msg.parent_header.msg_id != msg_id {
                continue;
            }
            match (channel, msg.header.msg_type.as_str()) {
                (Channel::Shell, "execute_reply") => {
                    result.apply_reply(&msg.content);
                    replied = true;
                }
                (Channel::Iopub, "status") => {
                    idle |= msg.content["execution_state"] == "idle";
                }
                (Channel::Iopub, msg_type) => result.apply_iopub(msg_type, &msg.content),
                _ => {}
            }
        }
        Ok(result)
    }

    /// Interrupt: SIGINT to the process group, or `interrupt_request` on control and
    /// wait up to `timeout` for its `interrupt_reply`.
    pub(crate) async fn interrupt(&mut self, timeout: Duration) -> Result<(), BootError> {
        match self.interrupt_mode {
            InterruptMode::Signal => self.process.signal_group(Signal::Int),
            InterruptMode::Message => {
                let id = self
                    .send(Channel::Control, "interrupt_request", &json!({}))
                    .await?;
                self.wait_reply(Channel::Control, &id, "interrupt_reply", timeout)
                    .await
                    .map(drop)
            }
        }
    }

    /// `shutdown_request` on control, then jupyter_client's stop schedule, then remove
    /// the connection file.
    pub(crate) async fn shutdown(&mut self) -> Result<Exit, BootError> {
        // A kernel that cannot take the request is stopped by signals below.
        let _ = self
            .send(
                Channel::Control,
                "shutdown_request",
                &json!({"restart": false}),
            )
            .await;
        let exit = self.process.stop(SHUTDOWN_WAIT).await;
        let removed = match self.connection_file.take() {
            Some(file) => file.remove(),
            None => Ok(()),
        };
        let exit = exit?;
        removed?;
        Ok(exit)
    }

    /// Stop the process after a failed start and package what we know.
    async fn fail(&mut self, error: BootError) -> StartFailure {
        let mut failure = stop_after_failure(&mut self.process, error).await;
        failure.invalid_messages = self.invalid_messages;
        failure
    }

    /// Wait for a reply of `msg_type` to `msg_id` on `channel`; everything else read
    /// meanwhile is kept for later.
    async fn wait_reply(
        &mut self,
        channel: Channel,
        msg_id: &str,
        msg_type: &'static str,
        timeout: Duration,
    ) -> Result<Message, BootError> {
        let deadline = Instant::now() + timeout;
        let (mut seen, found) = self
            .read_until(msg_type, deadline, |got, msg| {
                got == channel
                    && msg.header.msg_type == msg_type
                    && msg.parent_header.msg_id == msg_id
            })
            .await;
        let reply = match found {
            Ok(true) => seen.pop().map(|(_, msg)| msg),
            _ => None,
        };
        self.keep(seen);
        found?;
        reply.ok_or_else(|| BootError::Timeout {
            name: self.name.clone(),
            waiting_for: msg_type,
            waited: timeout,
        })
    }

    /// Read messages until `wanted` accepts one (`Ok(true)`), `deadline` passes
    /// (`Ok(false)`) or the kernel dies while we wait for `waiting_for`. Returns every message
    /// read, in order, the accepted one last, for the caller to take or [`Kernel::keep`].
    async fn read_until(
        &mut self,
        waiting_for: &'static str,
        deadline: Instant,
        wanted: impl Fn(Channel, &Message) -> bool,
    ) -> (Vec<(Channel, Message)>, Result<bool, BootError>) {
        let mut seen = Vec::new();
        let found = loop {
            if let Err(error) = self.check_alive(waiting_for).await {
                break Err(error);
            }
            if Instant::now() >= deadline {
                break Ok(false);
            }
            if let Event::Message(channel, msg) = self.next_event(deadline).await {
                let accepted = wanted(channel, &msg);
                seen.push((channel, *msg));
                if accepted {
                    break Ok(true);
                }
            }
        };
        (seen, found)
    }

    /// Put messages back in front of the backlog, in order, within its limit.
    fn keep(&mut self, seen: Vec<(Channel, Message)>) {
        for item in seen.into_iter().rev() {
            self.backlog.push_front(item);
        }
        while self.backlog.len() > BACKLOG_LIMIT {
            self.backlog.pop_front();
        }
    }

    /// Sign and send a request; returns its msg_id.
    async fn send(
        &mut self,
        channel: Channel,
        msg_type: &str,
        content: &Value,
    ) -> Result<String, BootError> {
        let header = self.session.header(msg_type)?;
        let message = self.session.encode(&header, content)?;
        let sending = async {
            match channel {
                Channel::Shell => self.channels.shell.send(message).await,
                Channel::Control => self.channels.control.send(message).await,
                // We never publish; a SUB socket cannot send.
                Channel::Iopub => Err(ZmqError::Socket("cannot send on iopub")),
            }
        };
        let sent = tokio::time::timeout(SEND_LIMIT, sending)
            .await
            .unwrap_or(Err(ZmqError::Other("send queue stayed full")));
        sent.map_err(|source| BootError::Send {
            name: self.name.clone(),
            channel,
            msg_type: msg_type.to_owned(),
            source,
        })?;
        Ok(header.msg_id)
    }

    /// Return `Died` when the process has exited.
    async fn check_alive(&mut self, waiting_for: &'static str) -> Result<(), BootError> {
        match self.process.try_exit()? {
            None => Ok(()),
            Some(exit) => {
                self.process.settle_output(SETTLE_OUTPUT).await;
                Err(died(&self.name, waiting_for, exit, &self.process))
            }
        }
    }

    /// [`Self::check_alive`], then a timeout error once `deadline` (`timeout` after the
    /// wait began) has passed.
    async fn check_in_time(
        &mut self,
        waiting_for: &'static str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), BootError> {
        self.check_alive(waiting_for).await?;
        if Instant::now() >= deadline {
            return Err(BootError::Timeout {
                name: self.name.clone(),
                waiting_for,
                waited: timeout,
            });
        }
        Ok(())
    }

    /// The next valid message on any channel, or `Idle` after at most one tick.
    async fn next_event(&mut self, until: Instant) -> Event {
        if let Some((channel, msg)) = self.backlog.pop_front() {
            return Event::Message(channel, Box::new(msg));
        }
        let wait = until.saturating_duration_since(Instant::now()).min(TICK);
        let Channels {
            shell,
            iopub,
            control,
        } = &mut self.channels;
        let (channel, received) = tokio::select! {
            r = shell.recv() => (Channel::Shell, r),
            r = iopub.recv() => (Channel::Iopub, r),
            r = control.recv() => (Channel::Control, r),
            () = tokio::time::sleep(wait) => return Event::Idle,
        };
        match received {
            Ok(raw) => match self.session.decode_zmq(&raw) {
                Ok(msg) => Event::Message(channel, Box::new(msg)),
                Err(_) => {
                    self.invalid_messages += 1;
                    Event::Idle
                }
            },
            Err(_) => {
                // A peer went away (usually the kernel exiting); let the caller look.
                tokio::time::sleep(wait).await;
                Event::Idle
            }
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // Never leave a kernel behind: a dropped, still running kernel is killed.
        self.process.kill_now();
    }
}

/// A spawned process whose channels are not connected yet.
struct Starting {
    name: String,
    process: KernelProcess,
    deadline: Instant,
    timeout: Duration,
}

impl Starting {
    /// Connect shell, iopub (subscribed to everything) and control, retrying while the
    /// kernel is not listening yet.
    async fn connect(&mut self, connection: &ConnectionInfo) -> Result<Channels, BootError> {
        let mut shell = DealerSocket::with_options(attempt_options());
        let mut iopub = SubSocket::with_options(attempt_options());
        let mut control = DealerSocket::with_options(attempt_options());
        // Remembered by the socket and sent to the kernel once connected.
        let _ = iopub.subscribe("").await;
        let c = connection;
        self.connect_one(&mut shell, Channel::Shell, &c.endpoint(c.shell_port))
            .await?;
        self.connect_one(&mut iopub, Channel::Iopub, &c.endpoint(c.iopub_port))
            .await?;
        self.connect_one(&mut control, Channel::Control, &c.endpoint(c.control_port))
            .await?;
        Ok(Channels {
            shell,
            iopub,
            control,
        })
    }

    async fn connect_one<S: Socket>(
        &mut self,
        socket: &mut S,
        channel: Channel,
        endpoint: &str,
    ) -> Result<(), BootError> {
        const WAITING: &str = "waiting for it to listen on its ports";
        loop {
            if let Some(exit) = self.process.try_exit()? {
                self.process.settle_output(SETTLE_OUTPUT).await;
                return Err(died(&self.name, WAITING, exit, &self.process));
            }
            if Instant::now() >= self.deadline {
                return Err(BootError::Timeout {
                    name: self.name.clone(),
                    waiting_for: WAITING,
                    waited: self.timeout,
                });
            }
            match socket.connect(endpoint).await {
                Ok(()) => return Ok(()),
                Err(source @ (ZmqError::Endpoint(_) | ZmqError::UnsupportedVersion(_))) => {
                    // Not a timing problem: report it.
                    return Err(BootError::Connect {
                        name: self.name.clone(),
                        channel,
                        endpoint: endpoint.to_owned(),
                        source,
                    });
                }
                Err(_) => {
                    // Not listening yet or a handshake cut short: try again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Stop the process group and package the failure with the output tails.
    async fn fail(&mut self, error: BootError) -> StartFailure {
        stop_after_failure(&mut self.process, error).await
    }
}

/// Terminate a kernel that failed to start (a no-op beyond reaping when it already
/// died) and package the failure with the output tails.
async fn stop_after_failure(process: &mut KernelProcess, error: BootError) -> StartFailure {
    // Failing to stop it is not the error to report; the drop guard kills it anyway.
    let _ = process.terminate(SHUTDOWN_WAIT / 2).await;
    process.settle_output(SETTLE_OUTPUT).await;
    StartFailure {
        error,
        pid: Some(process.pid()),
        stdout_tail: process.stdout_tail(),
        stderr_tail: process.stderr_tail(),
        invalid_messages: 0,
    }
}

/// Socket options whose connect gives up after one short attempt window.
fn attempt_options() -> SocketOptions {
    let mut options = SocketOptions::default();
    options.connect_timeout(CONNECT_ATTEMPT);
    options
}

fn died(name: &str, waiting_for: &'static str, exit: Exit, process: &KernelProcess) -> BootError {
    BootError::Died {
        name: name.to_owned(),
        waiting_for,
        exit_code: exit.code,
        signal: exit.signal,
        stderr_tail: process.stderr_tail(),
    }
}

/// `ename: evalue` of an error reply, or an empty string.
pub(crate) fn error_text(content: &Value) -> String {
    match (content["ename"].as_str(), content["evalue"].as_str()) {
        (Some(name), Some(value)) => format!("{name}: {value}"),
        (Some(name), None) => name.to_owned(),
        (None, Some(value)) => value.to_owned(),
        (None, None) => String::new(),
    }
}
