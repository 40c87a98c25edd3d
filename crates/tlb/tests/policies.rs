//! Hand-worked examples of FIFO, random, tree-PLRU and bit-PLRU in one fully associative set of
//! four ways, each step written out. Pages are small numbers; every access is a lookup followed by
//! a fill on a miss, and a fill goes to the lowest invalid way before any policy is asked.

use ptbench_core::{PageSize, Perms, Pfn, Pte};
use ptbench_tlb::{
    BitPlru, Geometry, RandomRepl, ReplPolicy, Replacement, SetAssocTlb, Tlb, TlbKey, TreePlru,
};

fn pte(page: u64) -> Pte {
    Pte {
        pfn: Pfn(100 + page),
        perms: Perms::R,
        size: PageSize::K4,
    }
}

/// One access: `(hit, evicted page)`.
fn access<T: Tlb>(tlb: &mut T, page: u64) -> (bool, Option<u64>) {
    let key = TlbKey::new(page, 0);
    if tlb.lookup(key).is_some() {
        return (true, None);
    }
    (false, tlb.fill(key, pte(page)).map(|(k, _)| k.vpn))
}

/// The resident pages, way 0 first.
fn ways<R: Replacement>(tlb: &SetAssocTlb<R>) -> Vec<u64> {
    tlb.entries().map(|(k, _)| k.vpn).collect()
}

const HIT: (bool, Option<u64>) = (true, None);
const MISS: (bool, Option<u64>) = (false, None);
fn evicts(page: u64) -> (bool, Option<u64>) {
    (false, Some(page))
}

#[test]
fn fifo_by_hand() {
    let mut t =
        SetAssocTlb::new(Geometry::new(4, 4).unwrap(), ReplPolicy::Fifo, PageSize::K4).unwrap();
    // 1 2 3 4: compulsory misses into ways 0..3; fill order 1, 2, 3, 4.
    for p in 1..=4 {
        assert_eq!(access(&mut t, p), MISS);
    }
    // 1: hit. FIFO ignores hits: the order stays 1, 2, 3, 4.
    assert_eq!(access(&mut t, 1), HIT);
    // 5: miss, evicts the oldest fill, 1 (LRU would have evicted 2). Order 2, 3, 4, 5.
    assert_eq!(access(&mut t, 5), evicts(1));
    // 1: miss, evicts 2 (way 1). Order 3, 4, 5, 1.
    assert_eq!(access(&mut t, 1), evicts(2));
    // 2: miss, evicts 3 (way 2). Order 4, 5, 1, 2.
    assert_eq!(access(&mut t, 2), evicts(3));
    // 6: miss, evicts 4 (way 3). Order 5, 1, 2, 6.
    assert_eq!(access(&mut t, 6), evicts(4));
    // 5: hit; 3: miss, evicts 5 (way 0).
    assert_eq!(access(&mut t, 5), HIT);
    assert_eq!(access(&mut t, 3), evicts(5));
    assert_eq!(ways(&t), [3, 1, 2, 6]);
    // An invalidated way is refilled first, and the refilled entry is the newest.
    assert!(t.invalidate(TlbKey::new(2, 0)).is_some());
    assert_eq!(access(&mut t, 7), MISS); // into way 2; order 1, 6, 3, 7
    assert_eq!(access(&mut t, 8), evicts(1));
    assert_eq!(ways(&t), [3, 8, 7, 6]);
}

#[test]
fn random_by_hand_seed_42() {
    // xorshift64 from x = 42 (x ^= x << 13; x ^= x >> 7; x ^= x << 17), victim = top two bits of
    // x (= (x * 4) >> 64):
    //   x1 = 0x0000_000a_9551_4aaa -> 0
    //   x2 = 0xa00a_aafd_f802_02bf -> 0b10 = 2
    //   x3 = 0x8b13_399c_d1d1_497a -> 2
    //   x4 = 0x283b_88fe_5fdf_f568 -> 0
    let mut g = RandomRepl::new(4, 42);
    assert_eq!(g.next_u64(), 0x0000_000a_9551_4aaa);
    assert_eq!(g.next_u64(), 0xa00a_aafd_f802_02bf);
    assert_eq!(g.next_u64(), 0x8b13_399c_d1d1_497a);
    assert_eq!(g.next_u64(), 0x283b_88fe_5fdf_f568);

    let mut t = SetAssocTlb::new(
        Geometry::new(4, 4).unwrap(),
        ReplPolicy::Random { seed: 42 },
        PageSize::K4,
    )
    .unwrap();
    // 1 2 3 4 fill ways 0..3 without drawing a number.
    for p in 1..=4 {
        assert_eq!(access(&mut t, p), MISS);
    }
    // Hits draw nothing either.
    assert_eq!(access(&mut t, 2), HIT);
    // 5: x1 -> way 0 (page 1).  [5, 2, 3, 4]
    assert_eq!(access(&mut t, 5), evicts(1));
    // 6: x2 -> way 2 (page 3).  [5, 2, 6, 4]
    assert_eq!(access(&mut t, 6), evicts(3));
    // 7: x3 -> way 2 (page 6).  [5, 2, 7, 4]
    assert_eq!(access(&mut t, 7), evicts(6));
    // 8: x4 -> way 0 (page 5).  [8, 2, 7, 4]
    assert_eq!(access(&mut t, 8), evicts(5));
    assert_eq!(ways(&t), [8, 2, 7, 4]);

    // Same seed, same victims; a flush does not rewind the generator.
    let mut u = SetAssocTlb::new(
        Geometry::new(4, 4).unwrap(),
        ReplPolicy::Random { seed: 42 },
        PageSize::K4,
    )
    .unwrap();
    for p in [1, 2, 3, 4, 2, 5, 6, 7, 8] {
        access(&mut u, p);
    }
    assert_eq!(ways(&u), ways(&t));
}

/// The three tree bits of a 4-way set as (b1 root, b2 ways 0/1, b3 ways 2/3).
fn tree(t: &SetAssocTlb<TreePlru>) -> (u64, u64, u64) {
    let b = t.replacement().bits(0);
    ((b >> 1) & 1, (b >> 2) & 1, (b >> 3) & 1)
}

#[test]
fn tree_plru_by_hand() {
    // Bits: 0 = the victim is on the left, 1 = on the right. An access sets every bit on its path
    // to point away from it.
    let g = Geometry::new(4, 4).unwrap();
    let mut t = SetAssocTlb::with_policy(g, TreePlru::new(1, 4).unwrap(), PageSize::K4);
    assert_eq!(tree(&t), (0, 0, 0));
    // 1 -> way 0 (left, left): b1 = 1, b2 = 1.
    assert_eq!(access(&mut t, 1), MISS);
    assert_eq!(tree(&t), (1, 1, 0));
    // 2 -> way 1 (left, right): b1 = 1, b2 = 0.
    assert_eq!(access(&mut t, 2), MISS);
    assert_eq!(tree(&t), (1, 0, 0));
    // 3 -> way 2 (right, left): b1 = 0, b3 = 1.
    assert_eq!(access(&mut t, 3), MISS);
    assert_eq!(tree(&t), (0, 0, 1));
    // 4 -> way 3 (right, right): b1 = 0, b3 = 0.
    assert_eq!(access(&mut t, 4), MISS);
    assert_eq!(tree(&t), (0, 0, 0));
    // 1 hits way 0: b1 = 1, b2 = 1.
    assert_eq!(access(&mut t, 1), HIT);
    assert_eq!(tree(&t), (1, 1, 0));
    // 5: victim: b1 = 1 -> right, b3 = 0 -> left: way 2, page 3 (true LRU would evict 2).
    // Filling way 2: b1 = 0, b3 = 1.
    assert_eq!(access(&mut t, 5), evicts(3));
    assert_eq!(tree(&t), (0, 1, 1));
    // 3: victim: b1 = 0 -> left, b2 = 1 -> right: way 1, page 2. Filling way 1: b1 = 1, b2 = 0.
    assert_eq!(access(&mut t, 3), evicts(2));
    assert_eq!(tree(&t), (1, 0, 1));
    // 6: victim: b1 = 1 -> right, b3 = 1 -> right: way 3, page 4. Filling way 3: b1 = 0, b3 = 0.
    assert_eq!(access(&mut t, 6), evicts(4));
    assert_eq!(tree(&t), (0, 0, 0));
    assert_eq!(ways(&t), [1, 3, 5, 6]);
    // The run-time policy makes the same choices.
    let mut any = SetAssocTlb::new(g, ReplPolicy::TreePlru, PageSize::K4).unwrap();
    for p in [1, 2, 3, 4, 1, 5, 3, 6] {
        access(&mut any, p);
    }
    assert_eq!(ways(&any), [1, 3, 5, 6]);
    // Non-power-of-two ways are rejected with a clear error.
    let err = SetAssocTlb::new(
        Geometry::new(12, 12).unwrap(),
        ReplPolicy::TreePlru,
        PageSize::K4,
    )
    .unwrap_err();
    assert!(err.to_string().contains("power-of-two"), "{err}");
}

fn mru(t: &SetAssocTlb<BitPlru>) -> u64 {
    t.replacement().bits(0)
}

#[test]
fn bit_plru_by_hand() {
    // One MRU bit per way (bit w = way w). An access sets its bit; if all four are then set, the
    // others are cleared. The victim is the lowest way whose bit is 0.
    let g = Geometry::new(4, 4).unwrap();
    let mut t = SetAssocTlb::with_policy(g, BitPlru::new(1, 4).unwrap(), PageSize::K4);
    // 1, 2, 3 -> ways 0, 1, 2: bits 0b0001, 0b0011, 0b0111.
    assert_eq!(access(&mut t, 1), MISS);
    assert_eq!(mru(&t), 0b0001);
    assert_eq!(access(&mut t, 2), MISS);
    assert_eq!(access(&mut t, 3), MISS);
    assert_eq!(mru(&t), 0b0111);
    // 4 -> way 3: all set, so only way 3's stays: 0b1000.
    assert_eq!(access(&mut t, 4), MISS);
    assert_eq!(mru(&t), 0b1000);
    // 1 hits way 0: 0b1001.
    assert_eq!(access(&mut t, 1), HIT);
    assert_eq!(mru(&t), 0b1001);
    // 5: lowest 0 bit is way 1 (page 2); filled: 0b1011.
    assert_eq!(access(&mut t, 5), evicts(2));
    assert_eq!(mru(&t), 0b1011);
    // 2: lowest 0 bit is way 2 (page 3); filled: 0b1111 -> reset to 0b0100.
    assert_eq!(access(&mut t, 2), evicts(3));
    assert_eq!(mru(&t), 0b0100);
    // 6: lowest 0 bit is way 0 (page 1); filled: 0b0101.
    assert_eq!(access(&mut t, 6), evicts(1));
    assert_eq!(mru(&t), 0b0101);
    assert_eq!(ways(&t), [6, 5, 2, 4]);
    // Invalidating way 2 clears its bit; a flush clears all.
    t.invalidate(TlbKey::new(2, 0));
    assert_eq!(mru(&t), 0b0001);
    t.flush();
    assert_eq!(mru(&t), 0);
    assert!(t.is_empty());
}

#[test]
fn lru_by_hand_for_contrast() {
    // The stream of the tree-PLRU example under true LRU: 5 evicts 2 (used longest ago), not 3.
    let mut t =
        SetAssocTlb::new(Geometry::new(4, 4).unwrap(), ReplPolicy::Lru, PageSize::K4).unwrap();
    for p in [1, 2, 3, 4, 1] {
        access(&mut t, p);
    }
    assert_eq!(access(&mut t, 5), evicts(2));
    assert_eq!(access(&mut t, 3), HIT);
    assert_eq!(access(&mut t, 6), evicts(4));
}
