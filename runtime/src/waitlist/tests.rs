//! Unit tests of the wait list: each operation, and a bounded randomized
//! model test against `VecDeque`.

use std::collections::VecDeque;

use super::*;

/// A test record: its index, and its links.
struct Rec {
    id: usize,
    links: Links<Rec>,
}

// SAFETY: `links` returns the record's own embedded field, every time.
unsafe impl Linked for Rec {
    fn links(&self) -> &Links<Rec> {
        &self.links
    }
}

fn recs(n: usize) -> Vec<Rec> {
    (0..n).map(|id| Rec { id, links: Links::new() }).collect()
}

/// The list's ids first to last, checking every link on the way: `prev`
/// mirrors `next`, the first has a null `prev`, `tail` is the last, and
/// `is_empty` agrees.
fn ids(l: &WaitList<Rec>) -> Vec<usize> {
    let mut out = Vec::new();
    let mut prev: *const Rec = ptr::null();
    // SAFETY: test-only: the test holds no lock, but the list is used by
    // this thread alone and every record is a live local of the test.
    for r in unsafe { l.iter() } {
        assert_eq!(r.links.prev.get(), prev, "prev link of {}", r.id);
        prev = r;
        out.push(r.id);
    }
    assert_eq!(l.tail.get(), prev, "tail");
    assert_eq!(l.is_empty(), out.is_empty(), "is_empty");
    out
}

/// The detached ids, in the order `release` hands them out.
fn drained(d: Detached<Rec>) -> Vec<usize> {
    let mut out = Vec::new();
    d.release(|r| {
        assert!(r.links.prev.get().is_null() && r.links.next.get().is_null(), "released record unlinked");
        out.push(r.id)
    });
    out
}

// In the tests below, every `unsafe` list call stands for "under the
// owner's lock": the list is used by the test's one thread, and its
// records are locals of the test that outlive every use.

#[test]
fn push_back_and_pop_front_are_fifo() {
    let r = recs(3);
    let l = WaitList::new();
    assert!(l.is_empty());
    // SAFETY: one thread, records outlive the list's use (see above).
    unsafe {
        assert!(l.pop_front().is_none());
        for x in &r {
            l.push_back(x);
        }
        assert_eq!(ids(&l), [0, 1, 2]);
        assert_eq!(l.front().map(|x| x.id), Some(0));
        assert_eq!(l.pop_front().map(|x| x.id), Some(0));
        assert_eq!(ids(&l), [1, 2]);
        assert_eq!(l.pop_front().map(|x| x.id), Some(1));
        assert_eq!(l.pop_front().map(|x| x.id), Some(2));
        assert!(l.pop_front().is_none());
    }
    assert_eq!(ids(&l), [] as [usize; 0]);
    assert!(r.iter().all(|x| x.links.prev.get().is_null() && x.links.next.get().is_null()));
}

#[test]
fn push_front_goes_first() {
    let r = recs(3);
    let l = WaitList::new();
    // SAFETY: one thread, records outlive the list's use.
    unsafe {
        l.push_front(&r[0]);
        l.push_back(&r[1]);
        l.push_front(&r[2]);
    }
    assert_eq!(ids(&l), [2, 0, 1]);
}

#[test]
fn remove_unlinks_from_any_place() {
    let r = recs(5);
    let l = WaitList::new();
    // SAFETY: one thread, records outlive the list's use.
    unsafe {
        for x in &r {
            l.push_back(x);
        }
        assert!(l.remove(&r[2]), "middle");
        assert_eq!(ids(&l), [0, 1, 3, 4]);
        assert!(l.remove(&r[0]), "head");
        assert_eq!(ids(&l), [1, 3, 4]);
        assert!(l.remove(&r[4]), "tail");
        assert_eq!(ids(&l), [1, 3]);
        assert!(l.remove(&r[1]) && l.remove(&r[3]), "the last two");
    }
    assert_eq!(ids(&l), [] as [usize; 0]);
}

#[test]
fn remove_of_a_record_not_linked_says_so() {
    let r = recs(3);
    let l = WaitList::new();
    // SAFETY: one thread, records outlive the list's use.
    unsafe {
        assert!(!l.remove(&r[0]), "never linked, empty list");
        l.push_back(&r[1]);
        assert!(!l.contains(&r[0]));
        assert!(!l.remove(&r[0]), "never linked, non-empty list");
        assert!(l.contains(&r[1]));
        assert!(l.remove(&r[1]));
        assert!(!l.remove(&r[1]), "removed twice");
        l.push_back(&r[1]);
        l.push_back(&r[2]);
        let w = l.pop_front().unwrap();
        assert!(!l.remove(w), "popped");
        let mut d = Detached::new();
        l.detach_all(&mut d);
        assert!(!l.remove(&r[2]), "detached");
        assert_eq!(drained(d), [2]);
    }
    assert_eq!(ids(&l), [] as [usize; 0]);
}

#[test]
fn detach_all_keeps_the_order_and_empties_the_list() {
    let r = recs(4);
    let l = WaitList::new();
    let mut d = Detached::new();
    assert!(d.is_empty());
    // SAFETY: one thread, records outlive the list's use.
    unsafe {
        for x in &r[1..] {
            l.push_back(x);
        }
        d.push(&r[0]);
        l.detach_all(&mut d);
        // The list is usable again at once, with the records off it.
        l.push_back(&r[3]);
        assert!(l.remove(&r[3]));
    }
    assert!(!d.is_empty());
    assert_eq!(ids(&l), [] as [usize; 0]);
    assert_eq!(drained(d), [0, 1, 2, 3]);
}

#[test]
fn append_moves_a_whole_list() {
    let r = recs(5);
    let (a, b) = (WaitList::new(), WaitList::new());
    // SAFETY: one thread, records outlive the lists' use.
    unsafe {
        a.append(&b);
        assert_eq!(ids(&a), [] as [usize; 0]);
        b.push_back(&r[0]);
        b.push_back(&r[1]);
        a.append(&b);
        assert_eq!((ids(&a), ids(&b)), (vec![0, 1], vec![]));
        for x in &r[2..] {
            b.push_back(x);
        }
        a.append(&b);
        assert_eq!((ids(&a), ids(&b)), (vec![0, 1, 2, 3, 4], vec![]));
        assert!(a.remove(&r[2]));
    }
    assert_eq!(ids(&a), [0, 1, 3, 4]);
}

#[test]
fn iter_allows_removing_the_yielded_record() {
    let r = recs(6);
    let l = WaitList::new();
    let mut d = Detached::new();
    // SAFETY: one thread, records outlive the list's use.
    unsafe {
        for x in &r {
            l.push_back(x);
        }
        for x in l.iter() {
            if x.id % 2 == 0 {
                assert!(l.remove(x));
                d.push(x);
            }
        }
    }
    assert_eq!(ids(&l), [1, 3, 5]);
    assert_eq!(drained(d), [0, 2, 4]);
}

/// A small xorshift generator: the model test needs no crate for this.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Random operations on two lists and a `Detached`, each checked against
/// a `VecDeque` model after every step (all links, both directions).
/// Bounded: 64 seeds × 2,000 steps over 12 records.
#[test]
fn model_against_vecdeque() {
    const N: usize = 12;
    for seed in 1..=64u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let r = recs(N);
        let lists = [WaitList::new(), WaitList::new()];
        let mut model: [VecDeque<usize>; 2] = [VecDeque::new(), VecDeque::new()];
        let mut d = Detached::new();
        let mut dmodel: Vec<usize> = Vec::new();
        // Which list holds record i (None: off every list).
        let in_list = |model: &[VecDeque<usize>; 2], i: usize| model.iter().position(|m| m.contains(&i));
        for _ in 0..2000 {
            let k = rng.below(2);
            let i = rng.below(N);
            let at = in_list(&model, i);
            let free = at.is_none() && !dmodel.contains(&i);
            let (l, m) = (&lists[k], &mut model[k]);
            // SAFETY: one thread; records outlive the lists; each call's
            // "in this list or in none" holds by the model's bookkeeping.
            unsafe {
                match rng.below(8) {
                    0 | 1 if free => {
                        l.push_back(&r[i]);
                        m.push_back(i);
                    }
                    2 if free => {
                        l.push_front(&r[i]);
                        m.push_front(i);
                    }
                    3 => assert_eq!(l.pop_front().map(|x| x.id), m.pop_front()),
                    4 if at != Some(1 - k) => {
                        let want = m.iter().position(|&x| x == i).map(|at| m.remove(at));
                        assert_eq!(l.contains(&r[i]), want.is_some());
                        assert_eq!(l.remove(&r[i]), want.is_some(), "remove {i}");
                    }
                    5 if rng.below(8) == 0 => {
                        l.detach_all(&mut d);
                        dmodel.extend(m.drain(..));
                    }
                    6 if rng.below(4) == 0 => {
                        lists[k].append(&lists[1 - k]);
                        let moved: Vec<usize> = model[1 - k].drain(..).collect();
                        model[k].extend(moved);
                    }
                    7 if rng.below(8) == 0 => {
                        let got = drained(std::mem::take(&mut d));
                        assert_eq!(got, std::mem::take(&mut dmodel));
                    }
                    _ => {}
                }
            }
            for (l, m) in lists.iter().zip(&model) {
                assert_eq!(ids(l), m.iter().copied().collect::<Vec<_>>(), "seed {seed}");
            }
        }
        assert_eq!(drained(d), dmodel);
    }
}
