//! A generational slab: stable `usize` keys that go stale when their entry is removed.
//!
//! Keys pack `generation << 32 | index`, so a handle to a removed timer,
//! watcher or task can never reach the entry that later reuses its index.
//! This is what makes "events for a watcher stopped earlier in the same pass
//! are dropped" hold without scanning the event list.

/// A generational slab.
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Head of the free list (an index into `entries`), or `u32::MAX`.
    free: u32,
    len: usize,
}

enum Entry<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

const NONE: u32 = u32::MAX;

fn split(key: usize) -> (usize, u32) {
    (key & 0xffff_ffff, (key >> 32) as u32)
}

fn join(index: usize, generation: u32) -> usize {
    ((generation as usize) << 32) | index
}

impl<T> Slab<T> {
    /// An empty slab.
    pub(crate) fn new() -> Slab<T> {
        Slab { entries: Vec::new(), free: NONE, len: 0 }
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The key the next [`insert`](Slab::insert) will return, so that a
    /// value may hold its own key (a task's waker does).
    pub(crate) fn next_key(&self) -> usize {
        match self.free {
            NONE => join(self.entries.len(), 0),
            index => match self.entries[index as usize] {
                Entry::Vacant { generation, .. } => join(index as usize, generation),
                Entry::Occupied { .. } => panic!("slab free list points at occupied entry {index}"),
            },
        }
    }

    /// Stores `value` and returns its key.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        if self.free != NONE {
            let index = self.free as usize;
            let Entry::Vacant { generation, next_free } = self.entries[index] else {
                panic!("slab free list points at occupied entry {index}");
            };
            self.free = next_free;
            self.entries[index] = Entry::Occupied { generation, value };
            join(index, generation)
        } else {
            let index = self.entries.len();
            assert!(index < NONE as usize, "slab full: {index} entries");
            self.entries.push(Entry::Occupied { generation: 0, value });
            join(index, 0)
        }
    }

    /// The entry under `key`, unless it was removed.
    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        let (index, gen) = split(key);
        match self.entries.get(index) {
            Some(Entry::Occupied { generation, value }) if *generation == gen => Some(value),
            _ => None,
        }
    }

    /// The entry under `key`, mutably, unless it was removed.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        let (index, gen) = split(key);
        match self.entries.get_mut(index) {
            Some(Entry::Occupied { generation, value }) if *generation == gen => Some(value),
            _ => None,
        }
    }

    /// Removes and returns the entry under `key`; its key goes stale.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let (index, gen) = split(key);
        match self.entries.get(index) {
            Some(Entry::Occupied { generation, .. }) if *generation == gen => {}
            _ => return None,
        }
        let next = Entry::Vacant { generation: gen.wrapping_add(1), next_free: self.free };
        let Entry::Occupied { value, .. } = std::mem::replace(&mut self.entries[index], next) else {
            unreachable!("checked occupied above");
        };
        self.free = index as u32;
        self.len -= 1;
        Some(value)
    }

    /// Removes and returns every entry; all their keys go stale
    /// ([`Loop::close`](crate::Loop::close)).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let keys: Vec<usize> = self.iter().map(|(key, _)| key).collect();
        keys.into_iter().filter_map(|key| self.remove(key)).collect()
    }

    /// Iterates over live entries with their keys.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.entries.iter().enumerate().filter_map(|(i, e)| match e {
            Entry::Occupied { generation, value } => Some((join(i, *generation), value)),
            Entry::Vacant { .. } => None,
        })
    }
}

/// What one entry of a `Slab<T>` costs, for the tests that keep entries small.
#[cfg(test)]
pub(crate) fn entry_size<T>() -> usize {
    std::mem::size_of::<Entry<T>>()
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn stale_keys_miss_reused_slots() {
        let mut s = Slab::new();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a & 0xffff_ffff, b & 0xffff_ffff, "index is reused");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn next_key_is_what_insert_returns() {
        let mut s = Slab::new();
        assert_eq!(s.next_key(), s.insert(1));
        let b = s.insert(2);
        s.remove(b);
        let next = s.next_key();
        assert_ne!(next, b, "a reused slot has a new generation");
        assert_eq!(next, s.insert(3));
        assert_eq!(s.next_key(), s.insert(4));
    }

    #[test]
    fn iter_sees_live_entries_only() {
        let mut s = Slab::new();
        let keys: Vec<usize> = (0..5).map(|i| s.insert(i)).collect();
        s.remove(keys[1]);
        s.remove(keys[3]);
        let live: Vec<i32> = s.iter().map(|(_, v)| *v).collect();
        assert_eq!(live, vec![0, 2, 4]);
    }
}
