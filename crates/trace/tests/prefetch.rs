//! `Prefetched` hands out what its reader would, batch for batch, with or without a thread.

mod common;

use common::write;
use ptbench_trace::{Prefetched, TraceReader};

/// Reads `r` to its end (or error): the accesses, the bytes read after each batch, the error.
fn drain(r: &mut impl TraceReader) -> (Vec<ptbench_core::Access>, Vec<u64>, Option<String>) {
    let (mut all, mut bytes, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        match r.read_batch(&mut buf) {
            Ok(0) => return (all, bytes, None),
            Ok(n) => {
                assert_eq!(n, buf.len());
                all.extend_from_slice(&buf);
                bytes.push(r.bytes_read());
            }
            Err(e) => return (all, bytes, Some(e.to_string())),
        }
    }
}

#[test]
fn every_depth_reads_what_the_reader_reads() {
    // 200,000 lackey lines (several batches), then a malformed record on line 200,001.
    let mut text = String::new();
    for i in 0..200_000u64 {
        text += &format!(" L {:08x},8\n", 0x1000_0000 + i * 64);
    }
    text += " S zz,8\n";
    let (_dir, path) = write("t.lackey", text.as_bytes());
    let mut reader = ptbench_trace::open(&path).unwrap();
    let direct = drain(&mut reader);
    assert_eq!(direct.0.len(), 200_000);
    assert!(direct.1.len() > 1, "several batches");
    let err = direct.2.clone().expect("the bad line stops the reader");
    assert!(err.contains("200001"), "{err}");
    for depth in [0, 1, 2] {
        let mut p = Prefetched::new(ptbench_trace::open(&path).unwrap(), depth);
        assert_eq!(drain(&mut p), direct, "depth {depth}");
        let back = p.into_inner().expect("the reader comes back");
        assert_eq!(back.lines(), reader.lines(), "depth {depth}");
    }
}
