//! The floor of `benches/peers.sh`: read NDJSON from stdin, parse each line with serde_json
//! and serialise it back, one line out per line in. No mapper can do less work.

use std::io::{BufRead, BufWriter, Write};

fn main() {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.split(b'\n') {
        let line = line.expect("read stdin");
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&line).expect("valid JSON");
        serde_json::to_writer(&mut out, &v).expect("write");
        out.write_all(b"\n").expect("write");
    }
}
