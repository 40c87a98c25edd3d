//! The buddy allocator against a reference that keeps one bit per frame: no frame handed out
//! twice, every block aligned to its order and inside memory, an allocation fails exactly when no
//! aligned free block of its order is left, the free lists offer exactly the aligned free blocks
//! of every order (so frees always coalesce), freeing everything gives back the first state, and
//! the same calls give the same frames.

use proptest::prelude::*;
use ptbench_os::buddy::MAX_ORDER;
use ptbench_os::{Buddy, BuddyError};

#[derive(Clone, Debug)]
enum Op {
    Alloc(u8),
    /// Frees the allocated block at this index (modulo how many there are).
    Free(usize),
    /// Takes this frame (modulo memory).
    Take(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..11).prop_map(Op::Alloc),
        3 => any::<usize>().prop_map(Op::Free),
        1 => any::<u64>().prop_map(Op::Take),
    ]
}

/// Aligned blocks of `order` wholly inside `0..used.len()` and wholly free.
fn free_aligned(used: &[bool], order: u8) -> u64 {
    let size = 1usize << order;
    (0..used.len() / size)
        .filter(|k| used[k * size..(k + 1) * size].iter().all(|u| !u))
        .count() as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_allocator_matches_a_bit_per_frame(
        frames in 1u64..3000,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let mut b = Buddy::new(frames);
        let mut used = vec![false; frames as usize];
        let mut blocks: Vec<(u64, u8)> = Vec::new();
        let mut results = Vec::new();
        for op in &ops {
            match *op {
                Op::Alloc(order) => {
                    let r = b.alloc(order);
                    results.push(r.clone().map(|s| (s, order)));
                    match r {
                        Ok(start) => {
                            let size = 1u64 << order;
                            prop_assert_eq!(start % size, 0, "aligned");
                            prop_assert!(start + size <= frames, "inside memory");
                            for f in start..start + size {
                                prop_assert!(!used[f as usize], "frame {} handed out twice", f);
                                used[f as usize] = true;
                            }
                            blocks.push((start, order));
                        }
                        Err(e) => {
                            prop_assert_eq!(e, BuddyError::OutOfMemory { order });
                            prop_assert_eq!(free_aligned(&used, order), 0);
                        }
                    }
                }
                Op::Free(i) if !blocks.is_empty() => {
                    let (start, order) = blocks.swap_remove(i % blocks.len());
                    prop_assert_eq!(b.free(start), Ok(order));
                    for f in start..start + (1u64 << order) {
                        used[f as usize] = false;
                    }
                }
                Op::Free(_) => prop_assert!(b.free(0).is_err()),
                Op::Take(f) => {
                    let f = f % frames;
                    let r = b.take(f);
                    results.push(r.clone().map(|_| (f, 0)));
                    if used[f as usize] {
                        prop_assert_eq!(r, Err(BuddyError::NotFree(f)));
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        used[f as usize] = true;
                        blocks.push((f, 0));
                    }
                }
            }
            let free = used.iter().filter(|u| !**u).count() as u64;
            prop_assert_eq!(b.free_frames(), free);
            for order in 0..=MAX_ORDER.min(12) {
                prop_assert_eq!(b.available(order), free_aligned(&used, order), "order {}", order);
            }
        }
        // The same calls, the same frames.
        let mut again = Buddy::new(frames);
        let mut replayed = Vec::new();
        let mut live: Vec<(u64, u8)> = Vec::new();
        for op in &ops {
            match *op {
                Op::Alloc(order) => {
                    let r = again.alloc(order).map(|s| (s, order));
                    if let Ok(x) = r {
                        live.push(x);
                    }
                    replayed.push(r);
                }
                Op::Free(i) if !live.is_empty() => {
                    let (start, _) = live.swap_remove(i % live.len());
                    again.free(start).unwrap();
                }
                Op::Free(_) => {}
                Op::Take(f) => {
                    let f = f % frames;
                    let r = again.take(f).map(|_| (f, 0));
                    if r.is_ok() {
                        live.push((f, 0));
                    }
                    replayed.push(r);
                }
            }
        }
        prop_assert_eq!(&replayed, &results);
        prop_assert_eq!(&again, &b);
        // Everything freed: the first state, every block coalesced back to its first order.
        for (start, _) in blocks {
            b.free(start).unwrap();
        }
        prop_assert_eq!(b, Buddy::new(frames));
    }
}

#[test]
fn orders_above_1_gib_are_refused() {
    let mut b = Buddy::new(1 << 20);
    assert_eq!(
        b.alloc(MAX_ORDER + 1),
        Err(BuddyError::Order(MAX_ORDER + 1))
    );
    assert_eq!(b.alloc(MAX_ORDER), Ok(0));
    assert_eq!(b.alloc(MAX_ORDER), Ok(1 << 18));
    assert_eq!(b.available(MAX_ORDER), 2);
}
