//! `sluice blobl [--file MAPPING_FILE | MAPPING]`: runs a mapping over documents read from
//! stdin, one per line, like `rpk connect blobl`. Each result goes to stdout on its own line;
//! a failing line's error goes to stderr with its input line number and processing goes on;
//! deleted messages print nothing.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use sluice_compiler::{Mapping, MappingOutcome, Message};

/// Arguments of `sluice blobl`.
#[derive(Debug, clap::Args)]
pub struct BloblArgs {
    /// Read the mapping from this file.
    #[arg(short, long, conflicts_with = "mapping")]
    pub file: Option<PathBuf>,
    /// The mapping text.
    pub mapping: Option<String>,
    /// Worker threads (0 = one per core). Output order is kept; with more than one thread,
    /// stateful functions such as `counter()` see lines in no particular order.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Runs `sluice blobl`: exit 0 when every line mapped, 1 when any line failed, 2 when the
/// mapping could not be read or compiled.
pub fn run(args: BloblArgs) -> ExitCode {
    let (src, origin) = match (&args.file, &args.mapping) {
        (Some(f), _) => match std::fs::read_to_string(f) {
            Ok(s) => (s, f.display().to_string()),
            Err(e) => {
                eprintln!("failed to read mapping file {}: {}", f.display(), e);
                return ExitCode::from(2);
            }
        },
        (None, Some(m)) => (m.clone(), "mapping".to_string()),
        (None, None) => {
            eprintln!("a mapping is required: sluice blobl 'root = this' or --file FILE");
            return ExitCode::from(2);
        }
    };
    let mapping = match Mapping::compile(&src) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: failed to compile mapping: {}", origin, e.render());
            return ExitCode::from(2);
        }
    };
    let threads = match args.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let failed = if threads <= 1 {
        match run_serial(&mapping, &mut out) {
            Ok(f) => f,
            Err(code) => return code,
        }
    } else {
        match run_parallel(&mapping, threads, &mut out) {
            Ok(f) => f,
            Err(code) => return code,
        }
    };
    let _ = out.flush();
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// What mapping one line gave: bytes to print (empty when deleted) or an error.
type LineResult = Result<Option<bytes::Bytes>, String>;

fn map_line(mapping: &Mapping, line: bytes::Bytes) -> LineResult {
    let line = match line.strip_suffix(b"\r") {
        Some(l) => line.slice(..l.len()),
        None => line,
    };
    match mapping.run(&Message::new(line)) {
        Ok(MappingOutcome::Message(m)) => Ok(Some(m.payload)),
        Ok(MappingOutcome::Deleted) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes one line's result; `Err(true)` when stdout is closed (stop quietly).
fn emit(out: &mut impl Write, number: usize, r: LineResult, failed: &mut bool) -> Result<(), ()> {
    match r {
        Ok(Some(payload)) => out
            .write_all(&payload)
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|_| ()),
        Ok(None) => Ok(()),
        Err(e) => {
            *failed = true;
            let _ = out.flush();
            eprintln!("failed to execute mapping on line {}: {}", number, e);
            Ok(())
        }
    }
}

/// One line at a time on this thread. Returns whether any line failed.
fn run_serial(mapping: &Mapping, out: &mut impl Write) -> Result<bool, ExitCode> {
    let mut failed = false;
    for (i, line) in Lines::new(std::io::stdin().lock()).enumerate() {
        let line = line.map_err(|e| {
            eprintln!("failed to read input: {}", e);
            ExitCode::from(2)
        })?;
        if emit(out, i + 1, map_line(mapping, line), &mut failed).is_err() {
            return Ok(failed);
        }
    }
    Ok(failed)
}

/// Lines in chunks over `threads` workers; results are written in input order.
fn run_parallel(mapping: &Mapping, threads: usize, out: &mut impl Write) -> Result<bool, ExitCode> {
    const CHUNK: usize = 4096;
    let (work_tx, work_rx) =
        std::sync::mpsc::sync_channel::<(usize, Vec<bytes::Bytes>)>(threads * 2);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<LineResult>)>(threads * 2);
    let mut failed = false;
    let read_error = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (work_rx, done_tx) = (&work_rx, done_tx.clone());
            scope.spawn(move || loop {
                let next = work_rx
                    .lock()
                    .map(|rx| rx.recv())
                    .unwrap_or(Err(std::sync::mpsc::RecvError));
                let Ok((seq, lines)) = next else { return };
                let results = lines.into_iter().map(|l| map_line(mapping, l)).collect();
                if done_tx.send((seq, results)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let read_error = &read_error;
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut seq = 0;
            for line in Lines::new(std::io::stdin().lock()) {
                match line {
                    Ok(l) => chunk.push(l),
                    Err(e) => {
                        eprintln!("failed to read input: {}", e);
                        read_error.store(true, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                }
                if chunk.len() == CHUNK {
                    if work_tx
                        .send((
                            seq,
                            std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)),
                        ))
                        .is_err()
                    {
                        return;
                    }
                    seq += 1;
                }
            }
            if !chunk.is_empty() {
                let _ = work_tx.send((seq, chunk));
            }
        });
        // Reorder chunks and write them in input order.
        let mut pending = std::collections::BTreeMap::new();
        let mut next = 0usize;
        let mut closed = false;
        for (seq, results) in done_rx.iter() {
            pending.insert(seq, results);
            while let Some(results) = pending.remove(&next) {
                for (i, r) in results.into_iter().enumerate() {
                    if !closed && emit(out, next * CHUNK + i + 1, r, &mut failed).is_err() {
                        closed = true;
                    }
                }
                next += 1;
            }
        }
    });
    if read_error.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ExitCode::from(2));
    }
    Ok(failed)
}

/// The lines of a reader, read in large blocks: each line is a `Bytes` view into its block,
/// so no line is copied or allocated on its own (the payload stays zero-copy from here to
/// the mapping).
struct Lines<R> {
    reader: R,
    buf: bytes::BytesMut,
    eof: bool,
}

impl<R: std::io::Read> Lines<R> {
    /// How much is read at a time.
    const BLOCK: usize = 1 << 20;

    fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buf: bytes::BytesMut::new(),
            eof: false,
        }
    }
}

impl<R: std::io::Read> Iterator for Lines<R> {
    type Item = std::io::Result<bytes::Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        // Where to resume looking for a newline (bytes before it have none).
        let mut scanned = 0;
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[scanned..]) {
                let line = self.buf.split_to(scanned + pos + 1).freeze();
                return Some(Ok(line.slice(..scanned + pos)));
            }
            if self.eof {
                return (!self.buf.is_empty()).then(|| Ok(self.buf.split().freeze()));
            }
            scanned = self.buf.len();
            self.buf.reserve(Self::BLOCK);
            let start = self.buf.len();
            self.buf.resize(start + Self::BLOCK, 0);
            match self.reader.read(&mut self.buf[start..]) {
                Ok(n) => {
                    self.buf.truncate(start + n);
                    self.eof = n == 0;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.buf.truncate(start),
                Err(e) => {
                    self.buf.truncate(start);
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn lines_split_like_bufread_split() {
        for input in ["", "a", "a\n", "a\nb", "a\n\nb\n", "\n"] {
            let want: Vec<Vec<u8>> = std::io::BufRead::split(input.as_bytes(), b'\n')
                .map(|l| l.unwrap())
                .collect();
            let got: Vec<Vec<u8>> = Lines::new(input.as_bytes())
                .map(|l| l.unwrap().to_vec())
                .collect();
            assert_eq!(got, want, "{:?}", input);
        }
    }
}
