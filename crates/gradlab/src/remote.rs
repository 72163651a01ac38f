//! Burn's remote backend, both ends (cargo feature `remote`): [`connect`] makes a
//! `backend = "remote"` device on a `gradlab-serve` elsewhere; [`Server`] is that server (Burn's
//! `RemoteServer` over `WebSocketTransport`, behind a token check that logs every session it opens
//! or refuses); [`Loopback`] runs one inside this process on an ephemeral loopback port (the
//! bench's `remote` backend without `--remote`, and tests).
//!
//! Nothing here speaks a protocol of its own: tensors, operations and gradients travel in Burn's
//! remote protocol; gradlab only picks the address and the token and explains failures. What the
//! server runs on travels the same way: Burn's session handshake carries no adapter name, so a
//! [`Server`] answers one custom operation (`gradlab.served`, Burn's `with_custom_op`) with its
//! [`ResolvedBackend::describe`] line as a tensor of bytes, which [`connect`] reads once.
//!
//! Architecture Invariant: a server binds a loopback address unless it has an access token
//! ([`check_exposure`]), and a token never comes from the command line ([`crate::token`]).

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use anyhow::{Context, Result, bail};
#[cfg(feature = "ndarray")]
#[allow(deprecated)] // ndarray is deprecated upstream; gradlab-serve still serves it (opt-in).
use burn::backend::NdArray;
use burn::backend::ir::{BackendIr, CustomOpIr, HandleContainer, TensorIr};
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Cube, DispatchDevice, Flex, Remote};
use burn::server::{AuthorizationRequest, PeerAuthorizer, RemoteServer, TokenAuthorizer, WebSocketTransport};
use burn::tensor::remote::{ConnectError, CustomOpClient, RemoteHost};
use burn::tensor::{DType, Device, Shape, TensorData};

use crate::backend::{Adapter, BackendError, BackendName, REMOTE_TOKEN_ENV, RemoteSpec, RemoteUrl, ResolvedBackend};

/// How long [`connect`] waits for a TCP answer at the server's address before saying nobody
/// answers (Burn itself retries for ~16 s before giving up).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connect device 0 of the `gradlab-serve` at `spec.url`, with the access token from
/// `spec.token_file`, else `$GRADLAB_REMOTE_TOKEN`, else none.
///
/// In a gradlab binary (after [`crate::startup`]) a connection lost later — the server stopped
/// mid-run — ends the process with one `error:` line and exit code 2 instead of Burn's panic
/// (see [`stop_on_lost_server`]); the run's last checkpoint, written atomically after its last
/// finished epoch, stays as it was.
pub fn connect(spec: &RemoteSpec) -> Result<ResolvedBackend, BackendError> {
    let fail = |message: String| BackendError::RemoteFailed {
        url: spec.url.clone(),
        message,
    };
    let token = crate::token::read(spec.token_file.as_deref(), "remote_token_file", REMOTE_TOKEN_ENV)
        .map_err(|e| fail(format!("{e:#}")))?;
    probe(&spec.url).map_err(fail)?;
    let mut host = RemoteHost::websocket(spec.url.as_str());
    if let Some(t) = &token {
        host = host.with_credential(t.as_str());
    }
    let device = Device::remote_options(&host)
        .init()
        .map_err(|e| fail(explain(&e, token.is_some())))?;
    stop_on_lost_server(&spec.url);
    let served = ask_served(&device).map_err(fail)?;
    Ok(ResolvedBackend {
        requested: BackendName::Remote,
        backend: BackendName::Remote,
        device,
        adapter: Adapter {
            name: spec.url.to_string(),
            device_type: "remote".into(),
            api: "burn-remote (websocket)".into(),
            driver: served,
        },
        reason: None,
    })
}

/// The custom operation a [`Server`] answers with what it runs.
const SERVED_OP: &str = "gradlab.served";
/// Its answer's length: the text's UTF-8 bytes, one per element, then zeros.
const SERVED_BYTES: usize = 256;

/// `text` as the answer to [`SERVED_OP`] (cut at a character boundary to fit).
fn served_tensor(text: &str) -> TensorData {
    let mut end = text.len().min(SERVED_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut values = vec![0f32; SERVED_BYTES];
    for (v, b) in values.iter_mut().zip(text[..end].bytes()) {
        *v = f32::from(b);
    }
    TensorData::new(values, [SERVED_BYTES])
}

/// The text in an answer to [`SERVED_OP`].
fn served_text(data: &TensorData) -> Result<String, String> {
    let values = data
        .try_to_vec::<f32>()
        .map_err(|e| format!("the server's description is not a float tensor: {e:?}"))?;
    let bytes = values
        .iter()
        .take_while(|v| **v != 0.0)
        .map(|v| {
            if (1.0..=255.0).contains(v) {
                Ok(*v as u8)
            } else {
                Err(*v)
            }
        })
        .collect::<Result<Vec<u8>, f32>>()
        .map_err(|v| format!("the server's description holds {v}, not a byte"))?;
    String::from_utf8(bytes).map_err(|e| format!("the server's description is not UTF-8: {e}"))
}

/// Ask the server behind `device` what it runs ([`SERVED_OP`]).
fn ask_served(device: &Device) -> Result<String, String> {
    let plain = device.clone().inner();
    let DispatchDevice::Remote(remote) = plain.as_dispatch() else {
        return Err("not a remote device".into());
    };
    let client = CustomOpClient::new(remote);
    let out = TensorIr::uninit(client.create_empty_handle(), Shape::new([SERVED_BYTES]), DType::F32);
    let answer = client
        .register(CustomOpIr::new(SERVED_OP, &[], &[out]))
        .pop()
        .ok_or("the server gave no answer to what it runs")?;
    let data = pollster::block_on(<Remote as FloatTensorOps<Remote>>::float_into_data(answer))
        .map_err(|e| format!("reading what the server runs: {e:?}"))?;
    served_text(&data)
}

/// The handler of [`SERVED_OP`] on backend `B`.
fn answer_served<B: BackendIr>(
    text: String,
) -> impl Fn(&mut HandleContainer<B::Handle>, &CustomOpIr, &B::Device) + Send + Sync + 'static {
    move |handles, op, device| {
        let tensor = B::float_from_data(served_tensor(&text), device);
        handles.register_float_tensor::<B>(&op.outputs[0].id, tensor);
    }
}

/// A TCP connection to the server's address, so that a server that is not running is reported at
/// once, naming the address, instead of after Burn's retries.
fn probe(url: &RemoteUrl) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = url
        .host_port()
        .to_socket_addrs()
        .map_err(|e| format!("cannot look up the host: {e}"))?
        .collect();
    let mut last = String::from("the host name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "no server answers there ({last}); start one with `gradlab-serve` on that machine, or check the address"
    ))
}

/// One sentence for each way Burn's connect fails.
fn explain(err: &ConnectError, has_token: bool) -> String {
    match err {
        ConnectError::Unauthorized if has_token => {
            "the server refused this client's access token (its log says so); use the token the server was started with"
                .into()
        }
        ConnectError::Unauthorized => format!(
            "the server needs an access token: put it in a file named by `remote_token_file`, or in ${REMOTE_TOKEN_ENV}"
        ),
        ConnectError::Unreachable { reason } => {
            format!("no server answers there ({reason}); start one with `gradlab-serve`, or check the address")
        }
        ConnectError::IncompatibleProtocol {
            client_version,
            server_version,
        } => format!(
            "the server speaks Burn remote protocol v{server_version}, this client v{client_version}: build both from the same gradlab"
        ),
        ConnectError::NoSuchDevice { device_count } => {
            format!("the server hosts {device_count} device(s) and not the one asked for")
        }
        other => format!("could not open a session: {other}"),
    }
}

/// Whether this process is a gradlab binary (set by [`crate::startup`]), where a panic after a
/// remote device connected means the server went away.
static BINARY: AtomicBool = AtomicBool::new(false);

/// Mark this process as a gradlab binary (see [`stop_on_lost_server`]).
pub(crate) fn mark_binary() {
    BINARY.store(true, Ordering::SeqCst);
}

/// In a binary: from now on a panic — Burn's remote client panics, on some thread, when the
/// server's connection breaks — prints one `error:` line naming the server and what to do, and
/// exits with code 2 at once (so that no thread waits forever for an answer that cannot come).
/// Tests (not binaries) keep the default panic behaviour.
fn stop_on_lost_server(url: &RemoteUrl) {
    static URLS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static HOOK: Once = Once::new();
    if !BINARY.load(Ordering::SeqCst) {
        return;
    }
    let mut urls = URLS.lock().unwrap_or_else(|e| e.into_inner());
    if !urls.contains(&url.to_string()) {
        urls.push(url.to_string());
    }
    drop(urls);
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let what = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("a panic")
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let urls = URLS.lock().map(|u| u.join(", ")).unwrap_or_default();
            eprintln!(
                "error: backend `remote`: {urls}: the run stopped ({what}). If the server stopped, the last finished \
                 epoch's checkpoint is kept: start the server again and rerun with `--resume`"
            );
            std::process::exit(2);
        }));
    });
}

/// Refuse to listen on a non-loopback address without an access token: anyone who can reach the
/// port could run code on this machine's devices and read what they hold.
pub fn check_exposure(addr: SocketAddr, has_token: bool, token_hint: &str) -> Result<()> {
    if !addr.ip().is_loopback() && !has_token {
        bail!(
            "refusing to listen on {addr} without an access token: anyone who reaches it could use this machine's devices. \
             Give one ({token_hint}), or keep the default 127.0.0.1 and reach it through an SSH tunnel \
             (`ssh -N -L 3000:127.0.0.1:3000 this-host` on the client)"
        );
    }
    Ok(())
}

/// The token check of a [`Server`]: Burn's [`TokenAuthorizer`] (or everyone, on loopback without
/// a token), and a line on stderr for every session opened or refused.
struct Logged {
    token: Option<TokenAuthorizer>,
    log: SessionLog,
}

/// Every session a [`Server`] opened or refused, for its owner to read (tests).
#[derive(Debug, Clone, Default)]
pub struct SessionLog(Arc<Mutex<Vec<String>>>);

impl SessionLog {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, line: String) {
        eprintln!("{line}");
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

impl PeerAuthorizer for Logged {
    fn authorize(&self, request: AuthorizationRequest<'_>) -> Result<(), String> {
        let (client, device) = (request.client, request.device_index);
        let verdict = match &self.token {
            Some(t) => t.authorize(request),
            None => Ok(()),
        };
        match &verdict {
            Ok(()) => self
                .log
                .push(format!("gradlab-serve: session opened for {client} (device {device})")),
            Err(why) => self.log.push(format!("gradlab-serve: refused a session: {why}")),
        }
        verdict
    }
}

/// Burn's remote server for some of this machine's devices, bound to an address.
pub struct Server {
    listener: TcpListener,
    server: RemoteServer,
    log: SessionLog,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .finish()
    }
}

impl Server {
    /// Bind `addr` to serve `served`'s device, telling clients what it is
    /// ([`ResolvedBackend::describe`]); clients must present `token` when given. A non-loopback
    /// `addr` needs a token ([`check_exposure`]; `token_hint` says how to give one).
    pub fn new(addr: SocketAddr, served: &ResolvedBackend, token: Option<&str>, token_hint: &str) -> Result<Self> {
        check_exposure(addr, token.is_some(), token_hint)?;
        let token = token
            .map(TokenAuthorizer::new)
            .transpose()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let log = SessionLog::default();
        let text = served.describe();
        let server = RemoteServer::new([served.device.clone()]).with_authorizer(Logged {
            token,
            log: log.clone(),
        });
        let server = match served.device.clone().inner().as_dispatch() {
            DispatchDevice::Cube(_) => server.with_custom_op::<Cube, _>(SERVED_OP, answer_served::<Cube>(text)),
            DispatchDevice::Flex(_) => server.with_custom_op::<Flex, _>(SERVED_OP, answer_served::<Flex>(text)),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // ndarray is deprecated upstream; gradlab-serve still serves it (opt-in).
            DispatchDevice::NdArray(_) => {
                server.with_custom_op::<NdArray, _>(SERVED_OP, answer_served::<NdArray>(text))
            }
            _ => bail!("a server hosts this machine's devices, not {}", served.describe()),
        };
        Ok(Server { listener, server, log })
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().context("reading the listening address")
    }

    /// The sessions it opened and refused.
    pub fn log(&self) -> SessionLog {
        self.log.clone()
    }

    /// Serve until `shutdown` completes (then the sessions are dropped), or a serving error.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        self.listener.set_nonblocking(true).context("listener")?;
        let serving = self
            .server
            .serve_async(WebSocketTransport::from_listener(self.listener));
        tokio::select! {
            served = serving => served.map_err(|e| anyhow::anyhow!("serving: {e}")),
            () = shutdown => Ok(()),
        }
    }
}

/// A [`Server`] on `127.0.0.1` and a port the system picks, run by its own runtime inside this
/// process until dropped.
pub struct Loopback {
    url: RemoteUrl,
    log: SessionLog,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback").field("url", &self.url).finish()
    }
}

impl Loopback {
    /// Serve `served`'s device (clients must present `token` when given).
    pub fn start(served: &ResolvedBackend, token: Option<&str>) -> Result<Self> {
        let server = Server::new(SocketAddr::from(([127, 0, 0, 1], 0)), served, token, "a token")?;
        let addr = server.addr()?;
        let log = server.log();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the server's runtime")?;
        runtime.spawn(async move {
            if let Err(e) = server.run(std::future::pending()).await {
                eprintln!("loopback server: {e:#}");
            }
        });
        let url = format!("ws://{addr}").parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Loopback {
            url,
            log,
            runtime: Some(runtime),
        })
    }

    /// Where it listens.
    pub fn url(&self) -> &RemoteUrl {
        &self.url
    }

    /// The sessions it opened and refused.
    pub fn log(&self) -> SessionLog {
        self.log.clone()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_server_runs_survives_its_byte_tensor() {
        for text in [
            "flex on Intel(R) Xeon(R), cpu [2 threads]",
            "wgpu on NVIDIA H200 — ü",
            "",
        ] {
            assert_eq!(served_text(&served_tensor(text)).unwrap(), text);
        }
        // Longer than the answer holds: cut at a character boundary, never mid-character.
        let long = "é".repeat(SERVED_BYTES);
        let back = served_text(&served_tensor(&long)).unwrap();
        assert_eq!(back, "é".repeat(SERVED_BYTES / 2));
        let bad = TensorData::new(vec![300f32; 4], [4]);
        assert!(served_text(&bad).unwrap_err().contains("300"));
    }

    #[test]
    fn only_loopback_may_listen_without_a_token() {
        assert!(check_exposure("127.0.0.1:3000".parse().unwrap(), false, "x").is_ok());
        assert!(check_exposure("[::1]:3000".parse().unwrap(), false, "x").is_ok());
        assert!(check_exposure("0.0.0.0:3000".parse().unwrap(), true, "x").is_ok());
        let e = check_exposure("0.0.0.0:3000".parse().unwrap(), false, "--token-file FILE")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refusing to listen on 0.0.0.0:3000") && e.contains("--token-file FILE"),
            "{e}"
        );
    }
}
