//! A string-keyed map with a hard size limit and second-chance ("CLOCK")
//! eviction: the oldest entry that was not used since the last sweep goes
//! first. Insertion and eviction are amortised O(1), so a flood of new keys
//! costs no more than ordinary traffic.

use ahash::AHashMap;
use std::collections::VecDeque;

struct Slot<V> {
    value: V,
    referenced: bool,
}

pub(crate) struct BoundedMap<V> {
    map: AHashMap<String, Slot<V>>,
    order: VecDeque<String>,
    cap: usize,
    evicted: u64,
}

impl<V> BoundedMap<V> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: AHashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            evicted: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|s| &s.value)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let slot = self.map.get_mut(key)?;
        slot.referenced = true;
        Some(&mut slot.value)
    }

    /// The entry for `key`, created with `make` (evicting if full).
    pub(crate) fn entry(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(key) {
            self.make_room();
            self.order.push_back(key.to_owned());
        }
        let slot = self.map.entry(key.to_owned()).or_insert_with(|| Slot {
            value: make(),
            referenced: false,
        });
        slot.referenced = true;
        &mut slot.value
    }

    fn make_room(&mut self) {
        // Each sweep clears reference bits, so two passes always free a slot.
        let mut budget = 2 * self.order.len() + 1;
        while self.map.len() >= self.cap && budget > 0 {
            budget -= 1;
            let Some(key) = self.order.pop_front() else {
                break;
            };
            match self.map.get_mut(&key) {
                Some(slot) if slot.referenced => {
                    slot.referenced = false;
                    self.order.push_back(key);
                }
                Some(_) => {
                    self.map.remove(&key);
                    self.evicted += 1;
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_keeps_recently_used() {
        let mut m = BoundedMap::new(3);
        *m.entry("a", || 0) += 1;
        *m.entry("b", || 0) += 1;
        *m.entry("c", || 0) += 1;
        // One sweep clears all bits; "a" is then the oldest unreferenced.
        m.entry("d", || 0);
        assert_eq!(m.len(), 3);
        assert!(m.get("a").is_none());
        // Touch "b": it survives the next eviction, "c" goes.
        m.get_mut("b");
        m.entry("e", || 0);
        assert_eq!(m.len(), 3);
        assert!(m.get("b").is_some());
        assert!(m.get("c").is_none());
        assert_eq!(m.evicted(), 2);
        for i in 0..10_000 {
            m.entry(&i.to_string(), || 0);
        }
        assert_eq!(m.len(), 3);
        assert!(m.get("9999").is_some());
    }
}
