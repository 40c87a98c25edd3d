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

#[test]
fn batches_come_with_their_page_runs_at_every_depth() {
    // Fetches and loads over a few pages, runs of several lengths, some accesses crossing.
    let mut text = String::new();
    for i in 0..150_000u64 {
        let page = (i / 7) % 5;
        text += &format!("I  {:08x},4\n", 0x40_0000 + page * 4096 + (i % 7) * 4);
        text += &format!(" L {:08x},8\n", 0x1000_0ffc + (i % 3) * 4096);
    }
    let (_dir, path) = write("r.lackey", text.as_bytes());
    let direct = drain(&mut ptbench_trace::open(&path).unwrap()).0;
    for (depth, ahead) in [(0, false), (1, false), (2, true)] {
        let mut p = Prefetched::with_runs(ptbench_trace::open(&path).unwrap(), depth, ahead);
        let (mut batch, mut runs, mut want) = (Vec::new(), Vec::new(), Vec::new());
        let mut all = Vec::new();
        while p.read_batch_runs(&mut batch, &mut runs).unwrap() > 0 {
            ptbench_core::page_runs(&batch, &mut want);
            assert_eq!(runs, want, "depth {depth}, runs on the thread: {ahead}");
            assert!(runs.len() > 1 && runs.len() < batch.len());
            all.extend_from_slice(&batch);
        }
        assert_eq!(all, direct, "depth {depth}");
    }
}

#[test]
fn a_batch_read_ahead_without_runs_comes_with_its_widest_access() {
    // Sizes 1..=8, one access of 200 bytes in the second batch, and a region event (its size
    // counts pages, not bytes) that must not count.
    let mut text = String::new();
    for i in 0..150_000u64 {
        let size = if i == 100_000 { 200 } else { 1 + i % 8 };
        text += &format!(" L {:08x},{size}\n", 0x1000_0000 + i * 64);
    }
    let (_dir, path) = write("w.lackey", text.as_bytes());
    for (depth, runs) in [(0, false), (2, false), (2, true)] {
        let mut p = Prefetched::with_runs(ptbench_trace::open(&path).unwrap(), depth, runs);
        let mut batch = Vec::new();
        let mut seen = Vec::new();
        while p.read_batch(&mut batch).unwrap() > 0 {
            let want = ptbench_core::widest_access(&batch);
            match p.widest() {
                Some(w) => assert_eq!(w, want, "depth {depth}"),
                None => assert!(depth == 0 || runs, "depth {depth}, runs {runs}"),
            }
            seen.push(want);
        }
        assert!(seen.len() > 1, "several batches");
        assert_eq!(
            seen.iter().filter(|&&w| w == 200).count(),
            1,
            "depth {depth}"
        );
        assert!(
            seen.iter().all(|&w| w == 8 || w == 200),
            "depth {depth}: {seen:?}"
        );
    }
    // A plain read-ahead (`inspect`'s) finds nothing it is not asked for.
    let mut p = Prefetched::new(ptbench_trace::open(&path).unwrap(), 2);
    let mut batch = Vec::new();
    while p.read_batch(&mut batch).unwrap() > 0 {
        assert_eq!(p.widest(), None);
    }
    let mut events = vec![ptbench_core::Access::new(
        ptbench_core::AccessKind::Read,
        0,
        8,
    )];
    let mut mmap = ptbench_core::Access::new(ptbench_core::AccessKind::Mmap, 0x1000, 1 << 20);
    mmap.flags = 3;
    events.push(mmap);
    assert_eq!(ptbench_core::widest_access(&events), 8);
}

/// Runs found where a batch is parsed (`parse_runs`: on the cores that parse a plain file's
/// chunks, on the reading thread for a compressed one) are the batch's page runs, in every cut
/// into chunks, with events among the accesses and up to an error, which comes after them.
#[test]
fn runs_found_where_parsed_are_each_batch_s_page_runs() {
    let mut text = String::from("ptbench-trace v1\n");
    for i in 0..40_000u64 {
        let page = (i / 5) % 7;
        text += &format!("I {:x} 4\n", 0x40_0000 + page * 4096 + (i % 5) * 4);
        text += &format!("R {:x} 8\n", 0x1000_0ffc + (i % 3) * 4096);
        if i % 1000 == 999 {
            text += &format!("switch {}\n", (i / 1000) % 3);
        }
    }
    text += "R zz 8\n";
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("t.txt");
    std::fs::write(&plain, &text).unwrap();
    let packed = dir.path().join("t.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    std::fs::write(&packed, gz.finish().unwrap()).unwrap();
    for path in [&plain, &packed] {
        for chunk in [0, 100, 4096] {
            let opts = ptbench_trace::ReaderOptions {
                chunk_bytes: chunk,
                ..Default::default()
            };
            let direct = drain(&mut ptbench_trace::open_with(path, &opts).unwrap());
            assert_eq!(direct.0.len(), 80_000 + 40);
            let mut t = ptbench_trace::open_with(path, &opts).unwrap();
            assert!(t.parse_runs());
            let (mut batch, mut runs, mut want, mut all) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let err = loop {
                match t.read_batch_runs(&mut batch, &mut runs) {
                    Ok(0) => break None,
                    Ok(_) => {
                        ptbench_core::page_runs(&batch, &mut want);
                        assert_eq!(runs, want, "{} in chunks of {chunk}", path.display());
                        all.extend_from_slice(&batch);
                    }
                    Err(e) => break Some(e.to_string()),
                }
            };
            assert_eq!((all, err), (direct.0, direct.2), "{}", path.display());
        }
    }
}
