//! `inspect`: every statistic against a naive model written here, the reuse histogram against
//! an O(n x distinct) LRU stack, and a small example worked by hand.

use proptest::prelude::*;
use ptbench_core::{Access, AccessKind};
mod common;

use ptbench_trace::inspect::{
    inspect, inspect_path, inspect_trace, AddressWidths, AsidCounts, InspectOptions,
    ReuseHistogram, StackDistance, TraceStats, DEFAULT_REUSE_TREE_MIN, REUSE_BUCKETS,
};
use ptbench_trace::write::{self, WriteFormat};
use ptbench_trace::{Format, ReaderOptions, Trace, TraceError, TraceFile, TraceReader, BATCH};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

/// Hands out a vector's accesses in batches of `batch`.
struct VecReader<'a> {
    accesses: &'a [Access],
    pos: usize,
    batch: usize,
}

impl VecReader<'_> {
    fn new(accesses: &[Access], batch: usize) -> VecReader<'_> {
        VecReader {
            accesses,
            pos: 0,
            batch: batch.clamp(1, BATCH),
        }
    }
}

impl TraceReader for VecReader<'_> {
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError> {
        buf.clear();
        let end = (self.pos + self.batch).min(self.accesses.len());
        buf.extend_from_slice(&self.accesses[self.pos..end]);
        self.pos = end;
        Ok(buf.len())
    }

    fn bytes_read(&self) -> u64 {
        self.pos as u64
    }
}

fn acc(kind: AccessKind, addr: u64, size: u32, asid: u16) -> Access {
    let mut a = Access::new(kind, addr, size);
    a.asid = asid;
    a
}

fn opts(reuse: bool, tree_min: usize) -> InspectOptions {
    InspectOptions {
        reuse,
        reuse_tree_min: tree_min,
    }
}

fn run(accesses: &[Access], o: &InspectOptions, batch: usize) -> TraceStats {
    inspect(&mut VecReader::new(accesses, batch), o).unwrap()
}

/// The LRU stack distance of every key, the obvious way: the stack as a vector, most recent
/// last; `None` for a first access.
fn naive_distances<K: PartialEq + Copy>(keys: &[K]) -> Vec<Option<u64>> {
    let mut stack: Vec<K> = Vec::new();
    keys.iter()
        .map(|k| {
            let d = stack.iter().rposition(|x| x == k).map(|pos| {
                stack.remove(pos);
                (stack.len() - pos) as u64
            });
            stack.push(*k);
            d
        })
        .collect()
}

fn naive_histogram(distances: &[Option<u64>]) -> ReuseHistogram {
    let mut h = ReuseHistogram {
        cold: 0,
        buckets: [0; REUSE_BUCKETS],
    };
    for d in distances {
        match d {
            None => h.cold += 1,
            Some(d) => {
                // Bucket by the definition: 0; then 2^(i-1) ..= 2^i - 1.
                let mut i = 0;
                while i + 1 < REUSE_BUCKETS && *d >= (1u64 << i) {
                    i += 1;
                }
                h.buckets[i] += 1;
            }
        }
    }
    h
}

/// Every statistic, computed the obvious way.
fn naive_stats(accesses: &[Access]) -> TraceStats {
    let mut s = TraceStats::default();
    let mut p4 = BTreeSet::new();
    let mut p2 = BTreeSet::new();
    let mut p1 = BTreeSet::new();
    let mut keys = Vec::new();
    let mut per_asid: BTreeMap<u16, AsidCounts> = BTreeMap::new();
    let mut range: Option<(u64, u64)> = None;
    for a in accesses {
        if a.kind.is_event() {
            s.events += 1;
            *s.events_by_kind.entry(a.kind).or_insert(0) += 1;
            per_asid.entry(a.asid).or_default().events += 1;
            continue;
        }
        match a.kind {
            AccessKind::Read => s.reads += 1,
            AccessKind::Write => s.writes += 1,
            AccessKind::Fetch => s.fetches += 1,
            k => unreachable!("{k:?} is an event"),
        }
        per_asid.entry(a.asid).or_default().accesses += 1;
        s.bytes += u64::from(a.size);
        let last = a.addr + (u64::from(a.size) - 1);
        if last / 4096 != a.addr / 4096 {
            s.crossing_4k += 1;
        }
        let fits = |bits: u32, canonical: bool| {
            let top = if canonical { bits - 1 } else { bits };
            let ok = |x: u64| {
                let high = x >> top;
                high == 0 || (canonical && high == u64::MAX >> top)
            };
            // Both ends in the same half.
            u64::from(ok(a.addr) && ok(last) && (a.addr >> top == last >> top))
        };
        s.widths.bits32 += fits(32, false);
        s.widths.bits39 += fits(39, false);
        s.widths.bits48 += fits(48, false);
        s.widths.bits57 += fits(57, false);
        s.widths.canonical48 += fits(48, true);
        s.widths.canonical57 += fits(57, true);
        range = Some(match range {
            None => (a.addr, last),
            Some((lo, hi)) => (lo.min(a.addr), hi.max(last)),
        });
        p4.insert((a.asid, a.addr / 4096));
        p2.insert((a.asid, a.addr / (2 << 20)));
        p1.insert((a.asid, a.addr / (1 << 30)));
        keys.push((a.asid, a.addr / 4096));
    }
    s.accesses = s.reads + s.writes + s.fetches;
    s.pages_4k = p4.len() as u64;
    s.pages_2m = p2.len() as u64;
    s.pages_1g = p1.len() as u64;
    s.footprint_bytes = 4096 * s.pages_4k;
    s.address_range = range;
    s.per_asid = per_asid;
    s.reuse = Some(naive_histogram(&naive_distances(&keys)));
    s
}

const KINDS: [AccessKind; 9] = [
    AccessKind::Read,
    AccessKind::Write,
    AccessKind::Fetch,
    AccessKind::ContextSwitch,
    AccessKind::Fork,
    AccessKind::Mmap,
    AccessKind::Munmap,
    AccessKind::Mprotect,
    AccessKind::Exit,
];

/// Accesses over a few pages spread over 2 MiB and 1 GiB regions and the top of the
/// address space, a few address spaces, some crossing pages, some events.
fn accesses() -> impl Strategy<Value = Vec<Access>> {
    let region = prop_oneof![
        Just(0u64),
        Just(2 << 20),
        Just(3 << 30),
        Just(0x7fff_ffe0_0000),
        Just(u64::MAX - (64 << 12) + 1),
    ];
    let one = (
        region,
        0u64..48,
        0u64..4096,
        prop_oneof![1u32..=16, 1u32..=9000],
        0u16..4,
        prop_oneof![8 => 0usize..3, 1 => 3usize..9],
    )
        .prop_map(|(base, page, off, size, asid, k)| {
            let addr = base.wrapping_add(page * 4096 + off);
            // Never past the top of the address space (readers refuse such accesses).
            let size = size.min((u64::MAX - addr).saturating_add(1).min(u32::MAX.into()) as u32);
            acc(KINDS[k], addr, size.max(1), asid)
        });
    prop::collection::vec(one, 0..600)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn stack_distance_equals_the_naive_lru_stack(
        // Keys both among the 32 most recent and below them.
        pages in prop::collection::vec(prop_oneof![0u64..40, 0u64..300], 0..3000),
        tree_min in 1usize..9,
    ) {
        let mut s = StackDistance::with_tree_min(tree_min);
        let got: Vec<Option<u64>> = pages.iter().map(|p| s.access(*p)).collect();
        prop_assert_eq!(&got, &naive_distances(&pages));
        let distinct = pages.iter().collect::<BTreeSet<_>>().len() as u64;
        prop_assert_eq!(s.distinct(), distinct);
        // The tree stays proportional to the distinct pages.
        prop_assert!(s.tree_slots() <= tree_min.max(2 * distinct as usize));
    }

    #[test]
    fn inspect_equals_the_naive_model(
        accesses in accesses(),
        tree_min in prop_oneof![1usize..6, Just(0usize)],
        batch in prop_oneof![1usize..7, Just(BATCH)],
    ) {
        let want = naive_stats(&accesses);
        let got = run(&accesses, &opts(true, tree_min), batch);
        prop_assert_eq!(&got, &want);
        // Without the histogram, everything else is the same.
        let got = run(&accesses, &opts(false, 0), batch);
        prop_assert_eq!(got, TraceStats { reuse: None, ..want });
    }
}

#[test]
fn long_streams_compact_many_times_and_stay_exact() {
    // Working sets that grow and shrink, so the tree is compacted at many sizes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut pages = Vec::new();
    for phase in 0..40u64 {
        let span = 1 + (rnd() % 300);
        for _ in 0..2_000 {
            pages.push(phase * 7 + rnd() % span);
        }
    }
    for tree_min in [1, 3, 64, 0] {
        let mut s = if tree_min == 0 {
            StackDistance::new()
        } else {
            StackDistance::with_tree_min(tree_min)
        };
        let got: Vec<Option<u64>> = pages.iter().map(|p| s.access(*p)).collect();
        assert_eq!(got, naive_distances(&pages), "tree_min {tree_min}");
        if tree_min != 0 {
            assert!(s.compactions() >= 10, "{} compactions", s.compactions());
        }
        assert!(
            s.tree_slots()
                <= tree_min
                    .max(2 * s.distinct() as usize)
                    .max(DEFAULT_REUSE_TREE_MIN)
        );
    }
}

#[test]
fn more_address_spaces_than_narrow_keys_hold() {
    // 4,200 address spaces (past the 4,095 that fit in a 64-bit key), the new ones appearing
    // midway through, with pages shared by number between address spaces.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accesses = Vec::new();
    for i in 0..14_000u64 {
        // A few address spaces first; then every one of 4,200 in turn, between random ones.
        let asid = match i {
            0..4_000 => rnd() % 50,
            _ if i % 2 == 0 => (i / 2) % 4_200,
            _ => rnd() % 4_200,
        } as u16;
        let page = if i % 3 == 0 {
            u64::MAX >> 12
        } else {
            rnd() % 3
        };
        accesses.push(acc(AccessKind::Read, page << 12, 8, asid));
    }
    for tree_min in [1, 0] {
        let got = run(&accesses, &opts(true, tree_min), 1000);
        assert_eq!(got, naive_stats(&accesses));
        assert!(got.per_asid.len() > 4_095);
    }
    // Counted in chunks on every core, some accumulators go wide and some stay narrow; merged,
    // the same statistics.
    let (_dir, path, back) = native_text(&accesses);
    assert_eq!(back, accesses);
    for chunk in [4096, 1 << 16] {
        let got = inspect_trace(
            &mut chunked(&path, chunk, false),
            &InspectOptions::without_reuse(),
        );
        assert_eq!(
            got.unwrap(),
            TraceStats {
                reuse: None,
                ..naive_stats(&accesses)
            }
        );
    }
}

#[test]
fn a_small_example_worked_by_hand() {
    use AccessKind::*;
    let trace = [
        acc(Fetch, 0x1000, 4, 0),      // 1: page (0,1): cold
        acc(Read, 0x1ffe, 4, 0),       // 2: page (0,1), crosses into page 2: distance 0
        acc(Write, 0x5000, 8, 0),      // 3: page (0,5): cold
        acc(Read, 0x1008, 8, 0),       // 4: page (0,1): since 2, page 5 -> distance 1
        acc(Fetch, 0x4020_0000, 2, 0), // 5: page (0,0x40200), 2 MiB 0x201, 1 GiB 1: cold
        acc(Write, 0x5010, 1, 0),      // 6: page (0,5): since 3, pages 1, 0x40200 -> 2
        acc(Read, 0x1000, 4, 1),       // 7: page (1,1): another address space, cold
        acc(Mmap, 0x7000, 2, 1),       // 8: an event: counted apart
        acc(Read, 0x1000, 4, 0),       // 9: page (0,1): since 4, 0x40200, 5, (1,1) -> 3
        acc(Fetch, 0x1000, 4, 0),      // 10: page (0,1) again: distance 0
    ];
    let s = run(&trace, &InspectOptions::default(), BATCH);
    let mut buckets = [0; REUSE_BUCKETS];
    buckets[0] = 2; // accesses 2 and 10
    buckets[1] = 1; // access 4
    buckets[2] = 2; // accesses 6 and 9 (distances 2 and 3)
    let want = TraceStats {
        accesses: 9,
        reads: 4,
        writes: 2,
        fetches: 3,
        events: 1,
        events_by_kind: BTreeMap::from([(Mmap, 1)]),
        threads: 0,
        cpus: 0,
        bytes: 4 + 4 + 8 + 8 + 2 + 1 + 4 + 4 + 4,
        pages_4k: 4,
        pages_2m: 3, // (0,0), (0,0x201), (1,0)
        pages_1g: 3, // (0,0), (0,1), (1,0)
        footprint_bytes: 4 * 4096,
        crossing_4k: 1,
        address_range: Some((0x1000, 0x4020_0001)),
        widths: AddressWidths {
            bits32: 9,
            bits39: 9,
            bits48: 9,
            bits57: 9,
            canonical48: 9,
            canonical57: 9,
        },
        per_asid: BTreeMap::from([
            (
                0,
                AsidCounts {
                    accesses: 8,
                    events: 0,
                },
            ),
            (
                1,
                AsidCounts {
                    accesses: 1,
                    events: 1,
                },
            ),
        ]),
        reuse: Some(ReuseHistogram { cold: 4, buckets }),
    };
    assert_eq!(s, want);
    assert_eq!(s.bytes, 39);
    let h = s.reuse.as_ref().unwrap();
    assert_eq!(h.total(), 9);
    // A 2-page LRU TLB hits distances 0 and 1: 3 of the 9.
    assert_eq!(h.below_pow2(1), 3);

    let text = s.to_string();
    for line in [
        "accesses          9 (reads 4, writes 2, fetches 3)",
        "events            1 (mmap 1)",
        "distinct pages    4 KiB: 4, 2 MiB: 3, 1 GiB: 3 (page of each access's first byte)",
        "footprint         16,384 bytes (16.0 KiB, distinct 4 KiB pages x 4096)",
        "address range     0x1000 ..= 0x40200001",
        "address widths    accesses that fit: 32 bits 9, 39 bits 9, 48 bits 9, 57 bits 9; canonical 48 bits 9, canonical 57 bits 9 (of 9)",
        "  asid 1     1 accesses (11.11%), 1 events",
        "  2-3                             2   22.222       55.556",
        "  cold                            4   44.444",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn an_empty_trace() {
    let s = run(&[], &InspectOptions::default(), BATCH);
    assert_eq!(s.accesses, 0);
    assert_eq!(s.address_range, None);
    assert_eq!(s.reuse.as_ref().unwrap().total(), 0);
    assert!(s.per_asid.is_empty());
    assert!(s.to_string().contains("address range     none"));
    let s = run(&[], &InspectOptions::without_reuse(), BATCH);
    assert!(s.to_string().contains("reuse distance    not computed"));
}

fn shipped(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../traces")
        .join(name)
}

#[test]
fn the_shipped_sort_trace_matches_its_readme() {
    // traces/README.md: 1,673,198 fetches, 444,050 loads (L+M), 229,008 stores (S+M),
    // 227 distinct 4 KiB pages.
    let path = shipped("sort.lackey.gz");
    let s = inspect_path(&path, &InspectOptions::default()).unwrap();
    assert_eq!(
        (s.fetches, s.reads, s.writes),
        (1_673_198, 444_050, 229_008)
    );
    assert_eq!(s.accesses, 1_673_198 + 444_050 + 229_008);
    assert_eq!(s.pages_4k, 227);
    assert_eq!(s.footprint_bytes, 227 * 4096);
    assert_eq!(s.events, 0);
    assert_eq!(s.reuse.as_ref().unwrap().cold, 227);
    assert_eq!(s.reuse.as_ref().unwrap().total(), s.accesses);
    // The same with a tiny tree, compacted all the time.
    let tiny = inspect_path(&path, &opts(true, 2)).unwrap();
    assert_eq!(tiny, s);
}

/// Throughput on the shipped `sort` trace: `cargo test --release -p ptbench-trace --test
/// inspect -- --ignored --nocapture`.
#[test]
#[ignore]
fn reuse_speed_on_the_sort_trace() {
    let path = shipped("sort.lackey.gz");
    let mut r = ptbench_trace::open(&path).unwrap();
    let mut all = Vec::new();
    let mut buf = Vec::new();
    while r.read_batch(&mut buf).unwrap() > 0 {
        all.extend_from_slice(&buf);
    }
    let n = all.len() as f64;
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let report = |what: &str, secs: f64| {
        eprintln!(
            "{what:<44} {:>8.1} ms  {:>7.1} M accesses/s",
            secs * 1e3,
            n / secs / 1e6
        )
    };
    let pages: Vec<u64> = all.iter().map(|a| a.addr >> 12).collect();
    report(
        "StackDistance alone (pages in memory)",
        best(&mut || {
            let mut s = StackDistance::new();
            let mut h = ReuseHistogram::default();
            for p in &pages {
                h.add(s.access(*p));
            }
            assert_eq!(h.cold, 227);
        }),
    );
    for (what, o) in [
        ("inspect, reuse on (accesses in memory)", opts(true, 0)),
        ("inspect, reuse off (accesses in memory)", opts(false, 0)),
    ] {
        report(
            what,
            best(&mut || {
                let s = run(&all, &o, BATCH);
                assert_eq!(s.pages_4k, 227);
            }),
        );
    }
    report(
        "inspect_path, reuse on (gunzip + parse)",
        best(&mut || {
            inspect_path(&path, &InspectOptions::default()).unwrap();
        }),
    );
    report(
        "inspect_path, reuse off (gunzip + parse)",
        best(&mut || {
            inspect_path(&path, &InspectOptions::without_reuse()).unwrap();
        }),
    );
    let s = inspect_path(&path, &InspectOptions::default()).unwrap();
    eprintln!("{s}");

    // At scale: 8 Mi accesses, random over 1 Mi pages (every access a cache miss somewhere).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let pages: Vec<u64> = (0..8 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % (1 << 20)
        })
        .collect();
    let t = Instant::now();
    let mut sd = StackDistance::new();
    let mut h = ReuseHistogram::default();
    for p in &pages {
        h.add(sd.access(*p));
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "StackDistance, 8 Mi random accesses over 1 Mi pages: {:.1} ms, {:.1} M accesses/s, {} tree slots, {} compactions",
        secs * 1e3,
        pages.len() as f64 / secs / 1e6,
        sd.tree_slots(),
        sd.compactions()
    );
}

#[test]
fn address_widths_count_every_byte_and_the_canonical_halves() {
    use AccessKind::*;
    let trace = [
        acc(Read, 0xffff_ffff, 1, 0),           // fits 32 bits
        acc(Read, 0xffff_ffff, 2, 0),           // its last byte needs 33
        acc(Read, 0x7f_ffff_ffff, 1, 0),        // 39 bits
        acc(Read, 0x7fff_ffff_f000, 8, 0),      // 47 bits: canonical at 48 and 57
        acc(Read, 0x8000_0000_0000, 8, 0),      // 48 bits, not canonical at 48
        acc(Read, 0xffff_8000_0000_0000, 8, 0), // upper half at 48 (and at 57)
        acc(Read, 0xff00_0000_0000_0000, 8, 0), // upper half at 57 only
        acc(Read, 0x0100_0000_0000_0000, 8, 0), // bit 56: 57 bits, not canonical at 57
    ];
    let s = run(&trace, &InspectOptions::without_reuse(), BATCH);
    assert_eq!(
        s.widths,
        AddressWidths {
            bits32: 1,
            bits39: 3,
            bits48: 5,
            bits57: 6,
            canonical48: 5,
            canonical57: 7,
        }
    );
}

/// Opens `path` as a plain file cut into chunks of `chunk` bytes.
fn chunked(path: &std::path::Path, chunk: usize, skip_bad_lines: bool) -> Trace {
    let o = ReaderOptions {
        chunk_bytes: chunk,
        skip_bad_lines,
        ..ReaderOptions::default()
    };
    Trace::open_with(path, &o).unwrap()
}

/// Writes the records of `accesses` a reader could give ([`Access::check`]) as the native text
/// form and reads them back, so that the expected statistics are those of what a reader gives.
fn native_text(accesses: &[Access]) -> (tempfile::TempDir, PathBuf, Vec<Access>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    let valid: Vec<Access> = accesses
        .iter()
        .filter(|a| a.check().is_ok())
        .copied()
        .collect();
    let mut w = write::create(&path, WriteFormat::NativeText, false).unwrap();
    w.write(&valid).unwrap();
    w.finish().unwrap();
    let back = common::read_all(&path).unwrap();
    (dir, path, back)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Counted on every core where each chunk is parsed, in no set order, the statistics are
    /// those of the naive model over the whole trace, in any cut into chunks.
    #[test]
    fn inspect_trace_counts_every_chunk_where_it_is_parsed(
        accesses in accesses(),
        chunk in prop_oneof![16usize..400, Just(1 << 20)],
    ) {
        let (_dir, path, back) = native_text(&accesses);
        let want = naive_stats(&back);
        let mut t = chunked(&path, chunk, false);
        prop_assert!(t.parses_in_parallel());
        let got = inspect_trace(&mut t, &InspectOptions::without_reuse()).unwrap();
        prop_assert_eq!(got, TraceStats { reuse: None, ..want.clone() });
        // The header, then a record a line.
        prop_assert_eq!(t.lines(), back.len() as u64 + 1);
        // With the histogram it reads in order, as `inspect` does.
        let got = inspect_trace(&mut chunked(&path, chunk, false), &InspectOptions::new()).unwrap();
        prop_assert_eq!(got, want);
    }
}

/// A lackey trace with the traced program's output and a bad line among its records.
fn noisy_lackey(bad: bool) -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..3000u64 {
        let line = match i % 7 {
            0 => format!("I  {:08x},{}\n", 0x0400_0000 + i * 4, 1 + i % 8),
            1 => format!(" L {:09x},8\n", 0x1_fff0_0000 + i * 4096),
            2 => format!(" S {:08x},4\n", 0x0500_0000 + (i % 97) * 64),
            3 => format!(" M {:08x},2\n", 0x0600_0ffe + (i % 5) * 4096),
            4 if i % 5 == 0 => "total 9624\n".to_string(),
            _ => format!("I  {:08x},3\n", 0x0400_0000 + (i % 13) * 4096),
        };
        text.extend_from_slice(line.as_bytes());
        if bad && i == 2222 {
            text.extend_from_slice(b" L 10,x\n");
        }
    }
    text
}

#[test]
fn inspect_trace_counts_and_skips_lines_as_a_plain_read_does() {
    for skip in [false, true] {
        let (_dir, path) = common::write("noisy.lackey", &noisy_lackey(skip));
        for chunk in [64, 1000, 1 << 20] {
            let whole = common::drain(TraceFile::Parsed(chunked(&path, chunk, skip)));
            assert_eq!(whole.error, None);
            let mut t = chunked(&path, chunk, skip);
            let got = inspect_trace(&mut t, &InspectOptions::without_reuse()).unwrap();
            let want = naive_stats(&whole.accesses);
            assert_eq!(
                got,
                TraceStats {
                    reuse: None,
                    ..want
                }
            );
            // A record a line, two for a modify.
            let records = |k: &str| {
                String::from_utf8_lossy(&noisy_lackey(skip))
                    .lines()
                    .filter(|l| l.starts_with(k))
                    .count() as u64
            };
            let m = records(" M");
            assert_eq!(
                got.accesses,
                records("I ") + records(" L") + records(" S") + 2 * m - u64::from(skip)
            );
            assert_eq!(
                (t.lines(), t.skipped_lines(), t.noise_lines()),
                (whole.lines, whole.skipped, whole.noise),
                "chunks of {chunk}"
            );
            // `i % 7 == 4` and `i % 5 == 0`: i = 25 + 35k below 3000.
            assert_eq!((t.noise_lines(), t.skipped_lines()), (85, u64::from(skip)));
            assert_eq!(
                t.first_noise().map(|(n, s)| (n, s.to_string())),
                whole.first_noise
            );
        }
    }
}

#[test]
fn inspect_trace_stops_at_a_bad_line_as_a_plain_read_does() {
    let (_dir, path) = common::write("bad.lackey", &noisy_lackey(true));
    for chunk in [64, 1000, 1 << 20] {
        let whole = common::drain(TraceFile::Parsed(chunked(&path, chunk, false)));
        let want = whole.error.expect("the bad line stops the read");
        assert!(want.contains(":2224:"), "{want}");
        let got = inspect_trace(
            &mut chunked(&path, chunk, false),
            &InspectOptions::without_reuse(),
        );
        assert_eq!(got.unwrap_err().to_string(), want, "chunks of {chunk}");
    }
}

/// The shipped lackey traces, unpacked to plain text (so that they are parsed in parallel
/// chunks): the same statistics as read in order.
#[test]
fn inspect_trace_on_the_shipped_traces_equals_inspect() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sort.lackey.gz", "gzip.lackey.gz", "listwalk.lackey.gz"] {
        let accesses = common::read_all(&shipped(name)).unwrap();
        let path = dir.path().join(name.trim_end_matches(".gz"));
        let mut w = write::create(&path, WriteFormat::Text(Format::Lackey), false).unwrap();
        w.write(&accesses).unwrap();
        w.finish().unwrap();
        let want = inspect_path(&shipped(name), &InspectOptions::without_reuse()).unwrap();
        let mut t = Trace::open(&path).unwrap();
        assert!(t.parses_in_parallel());
        let got = inspect_trace(&mut t, &InspectOptions::without_reuse()).unwrap();
        assert_eq!(got, want, "{name}");
    }
}
