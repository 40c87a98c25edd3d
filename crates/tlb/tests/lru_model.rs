//! Exactness of the LRU (and FIFO) TLBs against independent models written here, not with the
//! TLB code: an LRU stack-distance count over a `Vec`, per set, and a FIFO queue per set.

use proptest::prelude::*;
use ptbench_core::{PageSize, Perms, Pfn, Pte};
use ptbench_tlb::{Geometry, Lru, ReplPolicy, SetAssocTlb, Tlb, TlbKey};

fn pte(page: u64) -> Pte {
    Pte {
        pfn: Pfn(page * 7 + 3),
        perms: Perms::RW,
        size: PageSize::K4,
    }
}

/// Hit (true) or miss per access of an LRU cache of `capacity` entries: an access hits iff its page
/// is among the `capacity` most recently used distinct pages, i.e. its stack distance is below
/// `capacity`. The stack is a `Vec`, most recent last.
fn lru_stack_model<T: PartialEq + Copy>(stream: &[T], capacity: usize) -> Vec<bool> {
    let mut stack: Vec<T> = Vec::new();
    stream
        .iter()
        .map(|&p| {
            let hit = match stack.iter().rposition(|&q| q == p) {
                Some(pos) => {
                    let distance = stack.len() - 1 - pos; // distinct pages used since p
                    stack.remove(pos);
                    distance < capacity
                }
                None => false,
            };
            stack.push(p);
            hit
        })
        .collect()
}

/// The same, per set: the stream is partitioned by `page & (sets - 1)` and each part is an LRU
/// cache of `ways` entries.
fn set_assoc_lru_model(stream: &[(u64, u16)], sets: u64, ways: usize) -> Vec<bool> {
    let mut hits = vec![false; stream.len()];
    for set in 0..sets {
        let idx: Vec<usize> = (0..stream.len())
            .filter(|&i| stream[i].0 & (sets - 1) == set)
            .collect();
        let part: Vec<(u64, u16)> = idx.iter().map(|&i| stream[i]).collect();
        for (h, &i) in lru_stack_model(&part, ways).into_iter().zip(&idx) {
            hits[i] = h;
        }
    }
    hits
}

/// FIFO per set: a queue of resident pages; a miss appends and drops the front when over `ways`.
fn set_assoc_fifo_model(stream: &[u64], sets: u64, ways: usize) -> Vec<bool> {
    let mut queues: Vec<std::collections::VecDeque<u64>> = vec![Default::default(); sets as usize];
    stream
        .iter()
        .map(|&p| {
            let q = &mut queues[(p & (sets - 1)) as usize];
            if q.contains(&p) {
                true
            } else {
                q.push_back(p);
                if q.len() > ways {
                    q.pop_front();
                }
                false
            }
        })
        .collect()
}

/// Replays `stream` through `tlb` (lookup, fill on a miss) and returns hit/miss per access,
/// checking that every hit returns the PTE filled for that page.
fn replay<T: Tlb>(tlb: &mut T, stream: &[(u64, u16)]) -> Vec<bool> {
    stream
        .iter()
        .map(|&(p, asid)| {
            let key = TlbKey::new(p, asid);
            match tlb.lookup(key) {
                Some(found) => {
                    assert_eq!(found, pte(p));
                    true
                }
                None => {
                    tlb.fill(key, pte(p));
                    false
                }
            }
        })
        .collect()
}

fn untagged(stream: &[u64]) -> Vec<(u64, u16)> {
    stream.iter().map(|&p| (p, 0)).collect()
}

#[test]
fn stack_model_sanity() {
    // capacity 2: 1 2 1 3 2 1 -> M M H M M M (2 is at distance 2 when re-used).
    assert_eq!(
        lru_stack_model(&[1, 2, 1, 3, 2, 1], 2),
        [false, false, true, false, false, false]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn fully_associative_lru_misses_equal_stack_distance_misses(
        n in 1u32..=16,
        stream in prop::collection::vec(0u64..40, 0..400),
    ) {
        let mut tlb = SetAssocTlb::new(
            Geometry::fully_associative(n).unwrap(), ReplPolicy::Lru, PageSize::K4).unwrap();
        let s = untagged(&stream);
        let got = replay(&mut tlb, &s);
        let want = lru_stack_model(&s, n as usize);
        prop_assert_eq!(got.iter().filter(|h| !**h).count(), want.iter().filter(|h| !**h).count());
        prop_assert_eq!(got, want);
    }

    #[test]
    fn set_associative_lru_is_lru_per_set(
        sets_log in 0u32..4,
        ways in 1u32..=7,
        stream in prop::collection::vec(0u64..64, 0..400),
    ) {
        let sets = 1u32 << sets_log;
        let g = Geometry::from_sets(sets, ways).unwrap();
        let s = untagged(&stream);
        let want = set_assoc_lru_model(&s, u64::from(sets), ways as usize);
        // Run-time policy ...
        let mut any = SetAssocTlb::new(g, ReplPolicy::Lru, PageSize::K4).unwrap();
        prop_assert_eq!(&replay(&mut any, &s), &want);
        // ... and the monomorphized one.
        let mut mono = SetAssocTlb::with_policy(
            g, Lru::new(sets as usize, ways as usize), PageSize::K4);
        prop_assert_eq!(&replay(&mut mono, &s), &want);
    }

    #[test]
    fn asids_are_part_of_the_key(
        n in 1u32..=8,
        stream in prop::collection::vec((0u64..12, 0u16..3), 0..300),
    ) {
        let mut tlb = SetAssocTlb::new(
            Geometry::fully_associative(n).unwrap(), ReplPolicy::Lru, PageSize::K4).unwrap();
        prop_assert_eq!(replay(&mut tlb, &stream), lru_stack_model(&stream, n as usize));
    }

    #[test]
    fn fifo_is_a_queue_per_set(
        sets_log in 0u32..3,
        ways in 1u32..=6,
        stream in prop::collection::vec(0u64..32, 0..300),
    ) {
        let sets = 1u32 << sets_log;
        let g = Geometry::from_sets(sets, ways).unwrap();
        let mut tlb = SetAssocTlb::new(g, ReplPolicy::Fifo, PageSize::K4).unwrap();
        prop_assert_eq!(
            replay(&mut tlb, &untagged(&stream)),
            set_assoc_fifo_model(&stream, u64::from(sets), ways as usize)
        );
    }

    #[test]
    fn every_policy_returns_what_was_filled_and_keeps_capacity(
        policy in prop_oneof![
            Just(ReplPolicy::Lru), Just(ReplPolicy::Fifo), Just(ReplPolicy::TreePlru),
            Just(ReplPolicy::BitPlru), (1u64..1000).prop_map(|seed| ReplPolicy::Random { seed }),
        ],
        sets_log in 0u32..3,
        ways_log in 0u32..4,
        stream in prop::collection::vec(0u64..48, 0..300),
    ) {
        let g = Geometry::from_sets(1 << sets_log, 1 << ways_log).unwrap();
        let mut tlb = SetAssocTlb::new(g, policy, PageSize::K4).unwrap();
        let s = untagged(&stream);
        let hits = replay(&mut tlb, &s);
        prop_assert!(tlb.len() <= g.entries() as usize);
        // A miss is compulsory or the page was evicted: no policy can hit a page never seen.
        let mut seen = std::collections::HashSet::new();
        for (&(p, _), &h) in s.iter().zip(&hits) {
            prop_assert!(!h || seen.contains(&p));
            seen.insert(p);
        }
        // A set never holds more distinct pages than ways, and resident pages are all distinct.
        let mut keys: Vec<_> = tlb.entries().map(|(k, _)| k).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), n);
    }
}

#[test]
fn skylake_stlb_geometry_1536x12_behaves_as_lru_per_set() {
    // 128 sets x 12 ways; a stream over 3 * 1536 pages cycling twice, then a reuse window.
    let g = Geometry::new(1536, 12).unwrap();
    let mut tlb = SetAssocTlb::new(g, ReplPolicy::Lru, PageSize::K4).unwrap();
    let mut stream: Vec<u64> = (0..1536).collect();
    stream.extend(0..1536); // all hits: exactly fits
    stream.extend(1536..1536 + 128); // evicts one LRU page per set: pages 0..128
    stream.extend(0..256); // 0..128 miss (and evict 128..256), then 128..256 miss
    let s = untagged(&stream);
    let got = replay(&mut tlb, &s);
    assert_eq!(got, set_assoc_lru_model(&s, 128, 12));
    assert_eq!(got.iter().filter(|h| **h).count(), 1536);
}
