//! The `jq` processor: a jq query over each message's JSON document, run by jaq (an
//! embedded jq implementation). As upstream's: no output filters the message, one output
//! replaces it, several become an array; `raw` feeds the payload as a string, `output_raw`
//! writes string results without quotes. A failing query flags the message.
//!
//! jaq cannot bound an evaluation: a recursive query (`def f: 1 + f; f`) overflows the stack,
//! which aborts a process, and `[repeat(1)]` allocates until memory runs out. So the `sluice`
//! binary runs queries in worker processes of its own (`sluice __jq-worker`, registered with
//! [`set_worker_executable`]), each limited in address space (its base and the per-message
//! memory budget): a query that crashes or
//! exhausts its worker flags the message and the worker is replaced, and a forced stop kills
//! a worker still evaluating. A program embedding the runtime without registering a worker
//! runs queries in-process.

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Ctx, Vars};
use jaq_json::Val;

use crate::config::stream::ComponentConfig;
use crate::registry::{ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{Batch, BuildContext, ComponentError, Processor, SharedProcessor};

/// The spec.
pub fn spec() -> ComponentSpec {
    ComponentSpec::new(
        "jq",
        ComponentKind::Processor,
        "Transforms and filters messages using jq queries.",
        vec![
            F::string("query", "The jq query to filter and transform messages with."),
            F::bool("raw", "Whether to process the input as a raw string instead of as JSON.")
                .default(false)
                .advanced(),
            F::bool("output_raw", "Whether to output raw text (unquoted) instead of JSON strings when the emitted values are string types.")
                .default(false)
                .advanced(),
        ],
    )
}

/// The typed config (read from the spec's normalised output).
#[derive(serde::Deserialize)]
struct Config {
    query: String,
    raw: bool,
    output_raw: bool,
}

/// The address space a worker needs besides what a message may use (the executable's
/// mappings, its stack, the parsed query): about 75 MiB is mapped when it starts.
const WORKER_BASE_ADDRESS_SPACE: u64 = 128 << 20;

/// The address space a worker may use: its base and the per-message memory budget
/// (`SLUICE_MESSAGE_MEMORY_LIMIT`, 256 MiB by default), as every evaluation is held to.
fn worker_address_space() -> u64 {
    WORKER_BASE_ADDRESS_SPACE + sluice_compiler::limits::message_memory() as u64
}

static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// Runs jq queries in worker processes started as `exe __jq-worker` (the `sluice` binary
/// calls this with itself at start, and runs [`worker_main`] for that argument).
pub fn set_worker_executable(exe: PathBuf) {
    let _ = WORKER.set(exe);
}

/// Builds it: the query is compiled (in a worker when there is one), so a bad query is a
/// build error.
pub fn build(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let c: Config = cfg.typed()?;
    let query = Query {
        text: c.query,
        raw: c.raw,
        output_raw: c.output_raw,
    };
    let engine = match WORKER.get() {
        Some(exe) => {
            let pool = Pool {
                exe: exe.clone(),
                query: query.clone(),
                idle: Mutex::new(Vec::new()),
            };
            // Compiling in a worker checks the query; the worker is kept for the first message.
            let w = pool.spawn().map_err(ComponentError::new)?;
            pool.release(w);
            Engine::Workers(pool)
        }
        None => Engine::InProcess(Compiled::new(&query).map_err(ComponentError::new)?),
    };
    Ok(Arc::new(Jq { engine }))
}

/// A query and how its input and output are read.
#[derive(Clone)]
struct Query {
    text: String,
    raw: bool,
    output_raw: bool,
}

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// A compiled query, evaluated in this process.
struct Compiled {
    filter: Filter,
    raw: bool,
    output_raw: bool,
}

impl Compiled {
    fn new(q: &Query) -> Result<Compiled, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: q.text.as_str(),
                    path: (),
                },
            )
            .map_err(|errs| format!("error parsing jq query: {:?}", errs))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| format!("error compiling jq query: {:?}", errs))?;
        Ok(Compiled {
            filter,
            raw: q.raw,
            output_raw: q.output_raw,
        })
    }

    /// The new payload, `None` when the query emitted nothing (the message is filtered).
    fn run(&self, payload: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let input = if self.raw {
            Val::utf8_str(payload.to_vec())
        } else {
            jaq_json::read::parse_single(payload)
                .map_err(|e| format!("failed to parse message as JSON: {}", e))?
        };
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = Vec::new();
        for v in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            sluice_compiler::limits::check().map_err(|e| e.message)?;
            outputs.push(v.map_err(|e| format!("jq query failed: {}", e))?);
        }
        Ok(match outputs.len() {
            0 => None,
            1 => Some(self.render(&outputs[0])),
            _ => Some(self.render(&outputs.into_iter().collect::<Val>())),
        })
    }

    fn render(&self, v: &Val) -> Vec<u8> {
        match v {
            Val::TStr(s) if self.output_raw => s.to_vec(),
            Val::BStr(s) if self.output_raw => s.to_vec(),
            v => v.to_string().into_bytes(),
        }
    }
}

// ------------------------------------------------------------------------ worker protocol
//
// Frames are a little-endian u32 length and that many bytes. The parent sends the query
// frame and a flags byte (bit 0 `raw`, bit 1 `output_raw`); the worker answers a frame that
// is empty when the query compiled, or the error. Then, per message, the parent sends the
// payload frame and the worker answers a tag byte (0 result, 1 nothing, 2 error) and a frame.

fn write_frame(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(bytes)
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// The worker process: compiles the query it is sent, then answers one message at a time
/// until its input closes.
pub fn worker_main() -> std::process::ExitCode {
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut serve = || -> std::io::Result<()> {
        let query = String::from_utf8_lossy(&read_frame(&mut input)?).into_owned();
        let mut flags = [0u8; 1];
        input.read_exact(&mut flags)?;
        let q = Query {
            text: query,
            raw: flags[0] & 1 != 0,
            output_raw: flags[0] & 2 != 0,
        };
        let compiled = match Compiled::new(&q) {
            Ok(c) => {
                write_frame(&mut output, b"")?;
                output.flush()?;
                c
            }
            Err(e) => {
                write_frame(&mut output, e.as_bytes())?;
                output.flush()?;
                return Ok(());
            }
        };
        loop {
            let payload = match read_frame(&mut input) {
                Ok(p) => p,
                Err(_) => return Ok(()),
            };
            match compiled.run(&payload) {
                Ok(Some(p)) => {
                    output.write_all(&[0])?;
                    write_frame(&mut output, &p)?;
                }
                Ok(None) => {
                    output.write_all(&[1])?;
                    write_frame(&mut output, b"")?;
                }
                Err(e) => {
                    output.write_all(&[2])?;
                    write_frame(&mut output, e.as_bytes())?;
                }
            }
            output.flush()?;
        }
    };
    match serve() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

/// A running worker: its stdin and stdout (read on the thread that asked, waiting in
/// `poll(2)` so the stream's interrupt is checked while the worker evaluates).
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    /// Waits until the worker's stdout has data (or the buffer already holds some), checking
    /// the stream's interrupt every 20 ms.
    fn wait_readable(&mut self) -> Result<(), String> {
        use std::os::fd::AsRawFd;
        if !self.stdout.buffer().is_empty() {
            return Ok(());
        }
        let fd = self.stdout.get_ref().as_raw_fd();
        loop {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is a valid pollfd for the duration of the call and `fd` is the
            // open read end of the worker's stdout, owned by `self.stdout`.
            let n = unsafe { libc::poll(&mut pfd, 1, 20) };
            if n > 0 {
                return Ok(());
            }
            if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(CRASHED.into());
            }
            sluice_compiler::limits::check().map_err(|e| e.message)?;
        }
    }

    /// Reads one reply: the tag and its frame.
    fn reply(&mut self) -> Result<(u8, Vec<u8>), String> {
        self.wait_readable()?;
        let mut tag = [0u8; 1];
        self.stdout
            .read_exact(&mut tag)
            .and_then(|_| read_frame(&mut self.stdout))
            .map(|body| (tag[0], body))
            .map_err(|_| CRASHED.to_string())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Idle workers of one query; one is taken per message being evaluated.
struct Pool {
    exe: PathBuf,
    query: Query,
    idle: Mutex<Vec<Worker>>,
}

/// Why a worker stopped answering.
const CRASHED: &str =
    "jq query failed: the evaluation crashed its worker (unbounded recursion or memory)";

impl Pool {
    /// Starts a worker and compiles the query in it.
    fn spawn(&self) -> Result<Worker, String> {
        let space = worker_address_space();
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__jq-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec and only calls
            // setrlimit, which is async-signal-safe; it touches no memory of the parent.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: space,
                        rlim_max: space,
                    };
                    libc::setrlimit(libc::RLIMIT_AS, &limit);
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("failed to start a jq worker: {}", e))?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let flags = u8::from(self.query.raw) | (u8::from(self.query.output_raw) << 1);
        write_frame(&mut stdin, self.query.text.as_bytes())
            .and_then(|_| stdin.write_all(&[flags]))
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("failed to start a jq worker: {}", e))?;
        let compiled = read_frame(&mut stdout).map_err(|_| CRASHED.to_string())?;
        if !compiled.is_empty() {
            return Err(String::from_utf8_lossy(&compiled).into_owned());
        }
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    fn acquire(&self) -> Result<Worker, String> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(w) => Ok(w),
            None => self.spawn(),
        }
    }

    fn release(&self, w: Worker) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    }

    /// Evaluates a batch's payloads in one worker, one request and its reply at a time (so
    /// neither side ever waits on a full pipe), waiting while the stream is not forced to
    /// stop; then the worker is killed. A worker that dies fails the messages it had not
    /// answered, and the next batch gets a new one.
    fn run_batch(&self, payloads: &[&[u8]]) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut w = match self.acquire() {
            Ok(w) => w,
            Err(e) => return payloads.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut out = Vec::with_capacity(payloads.len());
        for p in payloads {
            let sent = write_frame(&mut w.stdin, p).and_then(|_| w.stdin.flush());
            let reply = match sent {
                Ok(()) => w.reply(),
                Err(_) => Err(CRASHED.to_string()),
            };
            match reply {
                Ok((0, body)) => out.push(Ok(Some(body))),
                Ok((1, _)) => out.push(Ok(None)),
                Ok((_, body)) => out.push(Err(String::from_utf8_lossy(&body).into_owned())),
                Err(e) => {
                    // The worker is gone (or the stream is stopping): dropping it kills it.
                    while out.len() < payloads.len() {
                        out.push(Err(e.clone()));
                    }
                    return out;
                }
            }
        }
        self.release(w);
        out
    }
}

enum Engine {
    Workers(Pool),
    InProcess(Compiled),
}

struct Jq {
    engine: Engine,
}

impl Processor for Jq {
    fn process(&self, batch: Batch) -> Batch {
        let results: Vec<Result<Option<Vec<u8>>, String>> = match &self.engine {
            Engine::Workers(pool) => {
                let payloads: Vec<&[u8]> = batch.iter().map(|m| &m.payload[..]).collect();
                pool.run_batch(&payloads)
            }
            Engine::InProcess(c) => batch.iter().map(|m| c.run(&m.payload)).collect(),
        };
        let mut out = Vec::with_capacity(batch.len());
        for (mut m, result) in batch.into_iter().zip(results) {
            match result {
                Ok(Some(p)) => {
                    m.payload = p.into();
                    out.push(m);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "jq failed");
                    m.error = Some(e);
                    out.push(m);
                }
            }
        }
        out
    }
}
