//! ptbench's binary format and its text form: hand-written files, round trips through every
//! format that can hold a trace, and errors that name the byte offset.

use ptbench_core::{Access, AccessKind};
use ptbench_trace::native::{self, NativeWriter};
use ptbench_trace::write::{self, WriteFormat};
use ptbench_trace::{Format, Location, ReaderOptions, TraceErrorKind, TraceReader};
use std::path::Path;

fn read_all(path: &Path) -> Result<Vec<Access>, ptbench_trace::TraceError> {
    let mut r = ptbench_trace::open(path)?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while r.read_batch(&mut buf)? > 0 {
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

fn sample() -> Vec<Access> {
    let mut mmap = Access::new(AccessKind::Mmap, 0x40_0000, 16).in_asid(1);
    mmap.flags = 5;
    vec![
        Access::new(AccessKind::Fetch, 0x400d7d4, 8),
        Access::new(AccessKind::Read, 0x7ff0005b8, 8),
        Access::new(AccessKind::Write, 0x7ff0005c8, 4),
        Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(1),
        mmap,
        Access::new(AccessKind::Read, 0x40_0010, 2).in_asid(1),
        Access::new(AccessKind::Fork, 2, 0).in_asid(1),
        Access::new(AccessKind::Munmap, 0x40_0000, 16).in_asid(1),
        Access::new(AccessKind::Exit, 0, 0).in_asid(2),
    ]
}

#[test]
fn a_hand_written_binary_file_decodes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.bin");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"PTBTRACE");
    bytes.extend_from_slice(&1u16.to_le_bytes()); // version
    bytes.extend_from_slice(&32u16.to_le_bytes()); // header bytes
    bytes.extend_from_slice(&16u16.to_le_bytes()); // record bytes
    bytes.extend_from_slice(&0u16.to_le_bytes()); // flags
    bytes.extend_from_slice(&2u64.to_le_bytes()); // records
    bytes.extend_from_slice(&0u64.to_le_bytes()); // reserved
                                                  // A 4-byte store at 0x1234 in asid 3, then an instruction fetch of 8 bytes at 0x400000.
    bytes.extend_from_slice(&[0x34, 0x12, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 0, 1, 0]);
    bytes.extend_from_slice(&[0, 0, 0x40, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 2, 0]);
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(
        read_all(&p).unwrap(),
        vec![
            Access::new(AccessKind::Write, 0x1234, 4).in_asid(3),
            Access::new(AccessKind::Fetch, 0x40_0000, 8),
        ]
    );
    let r = ptbench_trace::open(&p).unwrap();
    assert_eq!(r.format(), Some(Format::Native));

    // A truncated record names its byte offset, after the whole records are handed out.
    std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
    let mut r = ptbench_trace::open(&p).unwrap();
    let mut buf = Vec::new();
    assert_eq!(r.read_batch(&mut buf).unwrap(), 1);
    let e = r.read_batch(&mut buf).unwrap_err();
    assert_eq!(e.location, Location::Offset(48));
    assert!(matches!(
        e.kind,
        TraceErrorKind::TruncatedRecord {
            partial_bytes: 11,
            ..
        }
    ));
    assert!(e.to_string().contains("t.bin: byte 48"), "{e}");

    // An unknown kind names its record's offset.
    let mut bad = bytes.clone();
    bad[32 + 16 + 14] = 9;
    std::fs::write(&p, &bad).unwrap();
    let e = read_all(&p).unwrap_err();
    assert_eq!(e.location, Location::Offset(48));
    assert!(e.to_string().contains("record kind 9"), "{e}");

    // A header that declares more records than the file holds: the file was cut short.
    std::fs::write(&p, &bytes[..48]).unwrap();
    let e = ptbench_trace::open(&p).unwrap_err();
    assert!(
        e.to_string()
            .contains("declares 2 records but the file holds 1"),
        "{e}"
    );

    // Not the right version.
    let mut v2 = bytes.clone();
    v2[8] = 2;
    std::fs::write(&p, &v2).unwrap();
    let e = ptbench_trace::open(&p).unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");
}

#[test]
fn writer_round_trips_plain_and_compressed_with_events() {
    let dir = tempfile::tempdir().unwrap();
    let trace = sample();
    for name in [
        "t.ptbt",
        "t.ptbt.gz",
        "t.ptbt.zst",
        "t.ptbt.xz",
        "t.ptbt.bz2",
    ] {
        let p = dir.path().join(name);
        let mut w = NativeWriter::create(&p).unwrap();
        w.write(&trace).unwrap();
        assert_eq!(w.finish().unwrap(), trace.len() as u64);
        assert_eq!(read_all(&p).unwrap(), trace, "{name}");
        assert!(
            native::sniff_path(&p).unwrap(),
            "{name} is recognised through its compression"
        );
    }
    let plain = std::fs::read(dir.path().join("t.ptbt")).unwrap();
    assert_eq!(plain.len(), 32 + 16 * trace.len());
    assert_eq!(
        u64::from_le_bytes(plain[16..24].try_into().unwrap()),
        trace.len() as u64
    );
    assert_eq!(
        u16::from_le_bytes([plain[14], plain[15]]),
        native::FLAG_EVENTS
    );
}

#[test]
fn the_text_form_round_trips_and_is_recognised_by_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.txt");
    let mut w = write::create(&p, WriteFormat::NativeText, false).unwrap();
    w.write(&sample()).unwrap();
    w.finish().unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(
        text,
        "ptbench-trace v1\nI 400d7d4 8\nR 7ff0005b8 8\nW 7ff0005c8 4\nswitch 1\n\
         mmap 1 400000 16 r-x\nR 400010 2 1\nfork 1 2\nmunmap 1 400000 16\nexit 2\n"
    );
    assert_eq!(read_all(&p).unwrap(), sample());
    std::fs::write(&p, "ptbench-trace v1\nR 10 4\nmmap 1 400000 16 rwz\n").unwrap();
    let e = read_all(&p).unwrap_err();
    assert_eq!(e.location, Location::Line(3));
    assert!(e.to_string().contains("expected permissions"), "{e}");
    // A file-backed and a huge-advised (madvise) region: `f` and `h` after the permissions,
    // bits 3 and 4 of the flags, written back the same; `h` is an mmap's only.
    std::fs::write(
        &p,
        "ptbench-trace v1\nmmap 0 400000 512 rw-h\nmmap 0 800000 4 r-xfh\nmmap 0 900000 1 r--f\n",
    )
    .unwrap();
    let got = read_all(&p).unwrap();
    let flags: Vec<u8> = got.iter().map(|a| a.flags).collect();
    assert_eq!(
        flags,
        [
            3 | ptbench_core::HUGE_ADVISED,
            5 | ptbench_core::FILE_BACKED | ptbench_core::HUGE_ADVISED,
            1 | ptbench_core::FILE_BACKED
        ]
    );
    let q = dir.path().join("u.txt");
    let mut w = write::create(&q, WriteFormat::NativeText, false).unwrap();
    w.write(&got).unwrap();
    w.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&q).unwrap(),
        std::fs::read_to_string(&p).unwrap()
    );
    for bad in [
        "mmap 0 400000 1 rw-hf",
        "mmap 0 400000 1 rw-hh",
        "mprotect 0 400000 1 rw-h",
    ] {
        std::fs::write(&p, format!("ptbench-trace v1\n{bad}\n")).unwrap();
        assert!(read_all(&p).is_err(), "{bad}");
    }
}

/// Every format that can hold a lackey trace's accesses: the trace converted to it and back to
/// ptbt gives the same records as converting straight to ptbt.
#[test]
fn conversions_through_every_writable_format_keep_the_accesses() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces/sha256sum.lackey.gz");
    let original = read_all(&src).unwrap();
    type Shape = fn(&Access) -> Option<Access>;
    let cases: &[(&str, WriteFormat, Shape)] = &[
        ("a.ptbt", WriteFormat::Native, |a| Some(*a)),
        ("a.ptbt.zst", WriteFormat::Native, |a| Some(*a)),
        ("a.txt", WriteFormat::NativeText, |a| Some(*a)),
        ("a.lackey", WriteFormat::Text(Format::Lackey), |a| Some(*a)),
        ("a.xdin", WriteFormat::Text(Format::DinExtended), |a| {
            Some(*a)
        }),
        // Formats that hold less: 1-byte reads and writes only, or aligned 4-byte accesses.
        ("a.hexrw", WriteFormat::Text(Format::HexRw), |a| {
            (a.kind != AccessKind::Fetch).then_some(Access { size: 1, ..*a })
        }),
        ("a.pin", WriteFormat::Text(Format::Pinatrace), |a| {
            (a.kind != AccessKind::Fetch).then_some(Access { size: 1, ..*a })
        }),
        ("a.din", WriteFormat::Text(Format::Din), |a| {
            Some(Access {
                size: 4,
                addr: a.addr & !3,
                ..*a
            })
        }),
    ];
    for (name, format, shape) in cases {
        let want: Vec<Access> = original.iter().filter_map(shape).collect();
        // What the format can hold, written out and read back.
        let p = dir.path().join(name);
        let mut w = write::create(&p, *format, false).unwrap();
        w.write(&want).unwrap();
        assert_eq!(w.finish().unwrap(), want.len() as u64, "{name}");
        let back = read_all(&p).unwrap();
        assert_eq!(back, want, "{name}");
    }
    // A format that cannot hold a record says which one, unless told to drop it.
    let p = dir.path().join("b.hexrw");
    let mut w = write::create(&p, WriteFormat::Text(Format::HexRw), false).unwrap();
    let e = w.write(&original).unwrap_err().to_string();
    assert!(e.contains("cannot hold record #0"), "{e}");
    let mut w = write::create(&p, WriteFormat::Text(Format::HexRw), true).unwrap();
    w.write(&original).unwrap();
    assert!(w.finish().unwrap() < original.len() as u64);
    let _ = ReaderOptions::default();
}
