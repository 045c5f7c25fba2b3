//! A queue kept in fixed-size chunks: it grows and shrinks a chunk at a
//! time, so a long history never moves as a whole (a growing `VecDeque`
//! copies everything it holds on each reallocation, and holds the old and
//! the new buffer at once while it does), and any position is found by
//! arithmetic.

use std::collections::VecDeque;

/// Bytes per chunk: a power of two, which the allocator (mimalloc) packs
/// without waste (with 24 KiB chunks a retained 96-byte event cost 112 bytes
/// of RSS), and small, so a history's last, part-filled chunk and its spare
/// add little to a default 4096-event history (bench/README.md).
const CHUNK_BYTES: usize = 8 << 10;

#[derive(Debug, Default)]
pub struct Chunks<T> {
    /// Every chunk but the last holds exactly PER_CHUNK items.
    chunks: VecDeque<Vec<T>>,
    /// Items already taken from the front chunk.
    head: usize,
    len: usize,
    /// The last chunk emptied, kept for the next one needed: a full history
    /// turns over a chunk every PER_CHUNK items without allocating.
    spare: Option<Vec<T>>,
}

impl<T> Chunks<T> {
    pub const PER_CHUNK: usize = CHUNK_BYTES / size_of::<T>();
    /// Bytes one chunk takes: its items and its `Vec`.
    pub const COST: usize = Self::PER_CHUNK * size_of::<T>() + size_of::<Vec<T>>();

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn push_back(&mut self, item: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < Self::PER_CHUNK => last.push(item),
            _ => {
                let mut chunk = self.spare.take().unwrap_or_else(|| Vec::with_capacity(Self::PER_CHUNK));
                chunk.push(item);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// Removes the oldest item, after `f` has seen it in place; the item
    /// itself is dropped with its chunk, so `f` takes what must be freed now.
    /// (Moving each item out was a fifth of the ingest path's time with a
    /// full history.)
    #[inline]
    pub fn pop_front_with<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let front = self.chunks.front_mut()?;
        let out = f(front.get_mut(self.head)?);
        self.head += 1;
        self.len -= 1;
        if self.head == front.len() {
            let mut emptied = self.chunks.pop_front();
            if let Some(chunk) = &mut emptied {
                chunk.clear();
            }
            self.spare = emptied;
            self.head = 0;
        }
        Some(out)
    }

    /// The items from the `i`-th oldest on.
    pub fn iter_from(&self, i: usize) -> impl Iterator<Item = &T> {
        let at = self.head + i.min(self.len);
        let (first, offset) = (at / Self::PER_CHUNK, at % Self::PER_CHUNK);
        self.chunks
            .range(first.min(self.chunks.len())..)
            .enumerate()
            .flat_map(move |(k, chunk)| chunk[if k == 0 { offset } else { 0 }..].iter())
    }

    /// Items in the oldest chunk: taking that many from the front frees it.
    pub fn front_len(&self) -> usize {
        self.chunks.front().map_or(0, |c| c.len() - self.head)
    }

    /// Bytes allocated for the items (not what they own themselves).
    pub fn allocated(&self) -> usize {
        (self.chunks.len() + self.spare.is_some() as usize) * Self::COST
    }

    /// Frees the spare chunk (to get under a memory cap).
    pub fn release_spare(&mut self) {
        self.spare = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: usize = Chunks::<u32>::PER_CHUNK;

    fn from(range: std::ops::Range<u32>) -> Chunks<u32> {
        let mut c = Chunks::default();
        range.for_each(|i| c.push_back(i));
        c
    }

    #[test]
    fn a_queue_across_chunk_boundaries() {
        let n = 3 * CHUNK as u32 + 5;
        let mut c = from(0..n);
        assert_eq!(c.len(), n as usize);
        for expect in 0..CHUNK as u32 + 1 {
            assert_eq!(c.pop_front_with(|x| *x), Some(expect));
        }
        assert_eq!(c.len(), n as usize - CHUNK - 1);
        assert_eq!(c.iter_from(0).next(), Some(&(CHUNK as u32 + 1)));
        assert!(c.iter_from(0).copied().eq(CHUNK as u32 + 1..n));
        assert!(c.iter_from(300).copied().eq(CHUNK as u32 + 301..n));
        assert_eq!(c.iter_from(c.len()).count(), 0);
        assert_eq!(c.iter_from(usize::MAX).count(), 0);
    }

    #[test]
    fn memory_follows_the_items_a_chunk_at_a_time() {
        let per_chunk = CHUNK_BYTES + size_of::<Vec<u32>>();
        let mut c = from(0..CHUNK as u32 + 1);
        assert_eq!(c.allocated(), 2 * per_chunk);
        for _ in 0..CHUNK {
            c.pop_front_with(|x| *x);
        }
        assert_eq!(c.allocated(), 2 * per_chunk, "the emptied chunk is kept as the spare");
        c.release_spare();
        assert_eq!(c.allocated(), per_chunk);
        assert_eq!(c.pop_front_with(|x| *x), Some(CHUNK as u32));
        c.release_spare();
        assert_eq!((c.len(), c.allocated(), c.pop_front_with(|x| *x)), (0, 0, None));
        c.push_back(7);
        assert!(c.iter_from(0).eq([7].iter()));
    }

    #[test]
    fn a_full_history_turns_over_without_growing() {
        let mut c = from(0..4 * CHUNK as u32);
        let steady = c.allocated() + CHUNK_BYTES + size_of::<Vec<u32>>();
        for i in 4 * CHUNK as u32..40 * CHUNK as u32 {
            c.pop_front_with(|x| *x);
            c.push_back(i);
            assert!(c.allocated() <= steady);
        }
        assert!(c.iter_from(0).copied().eq(36 * CHUNK as u32..40 * CHUNK as u32));
    }

    #[test]
    fn a_full_last_chunk_then_the_end() {
        let c = from(0..2 * CHUNK as u32);
        assert_eq!(c.iter_from(2 * CHUNK).count(), 0);
        assert_eq!(c.iter_from(2 * CHUNK - 1).copied().collect::<Vec<_>>(), vec![2 * CHUNK as u32 - 1]);
    }
}
