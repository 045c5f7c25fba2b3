//! A process's syscall counters, for /metrics: calls, errors by errno and a
//! latency histogram, per syscall. Counting is on the drain's path, so an
//! event costs an array index and a few additions: a table by syscall number
//! points at the syscall's counters (made the first time the process makes
//! that call, the only allocation), the latency bucket is a bit length.
//! They are turned into metric families only when /metrics is read.

/// Syscall numbers counted by their own row; any other number (none of the
/// native ABI's is as high) is counted in one row of its own (`OTHER`).
pub const MAX_NR: usize = 512;
/// The row of numbers outside `0..MAX_NR`.
const OTHER: usize = MAX_NR;

/// Latency buckets: upper bounds of 2^10, 2^12, … 2^30 ns (1.02 µs to
/// 1.07 s, a factor of 4 apart), then +Inf.
pub const BUCKETS: usize = 12;

/// The upper bound of bucket `i` in nanoseconds (`None`: +Inf).
pub fn bucket_bound_ns(i: usize) -> Option<u64> {
    (i + 1 < BUCKETS).then(|| 1u64 << (10 + 2 * i))
}

/// The bucket of a call that took `ns`: the first whose bound is ≥ `ns`.
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    // ns ≤ 2^k exactly when ns - 1 has at most k bits: one load from a
    // table by its leading zeros.
    BUCKET_BY_LEADING_ZEROS[ns.saturating_sub(1).leading_zeros() as usize].into()
}

/// `bucket_of` by the leading zeros of ns - 1 (0 to 64).
const BUCKET_BY_LEADING_ZEROS: [u8; 65] = {
    let mut t = [0u8; 65];
    let mut zeros: usize = 0;
    while zeros <= 64 {
        let bits = 64 - zeros;
        let b = if bits <= 10 { 0 } else { (bits - 10).div_ceil(2) };
        t[zeros] = if b < BUCKETS { b as u8 } else { (BUCKETS - 1) as u8 };
        zeros += 1;
    }
    t
};

/// One syscall's counters in one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyscallCount {
    /// The syscall number (for `OTHER`'s row, the first one seen).
    pub nr: i16,
    /// Whether this is the row of numbers outside `0..MAX_NR`.
    pub other: bool,
    pub calls: u64,
    /// Timed calls (those that returned, with durations on) by bucket, not
    /// cumulative; their durations' sum.
    pub buckets: [u64; BUCKETS],
    pub duration_sum_ns: u64,
    /// Failed calls by errno (a few a syscall; looked up by a linear scan,
    /// on failures only).
    pub errors: Vec<(u16, u64)>,
}

impl SyscallCount {
    pub fn timed(&self) -> u64 {
        self.buckets.iter().sum()
    }

    #[cold]
    fn error(&mut self, errno: u16) {
        match self.errors.iter_mut().find(|(e, _)| *e == errno) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((errno, 1)),
        }
    }
}

/// A process's counters.
#[derive(Debug)]
pub struct Counts {
    /// Row + 1 in `rows` of each syscall number (0: not seen yet).
    index: Box<[u16; MAX_NR + 1]>,
    rows: Vec<SyscallCount>,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts { index: Box::new([0; MAX_NR + 1]), rows: Vec::new() }
    }
}

impl Counts {
    /// Counts a call: `ret` when it returned, `duration_ns` when it was timed.
    #[inline]
    pub fn add(&mut self, nr: i16, ret: Option<i64>, duration_ns: Option<u64>) {
        // A negative number is ≥ 32768 as a u16: OTHER's row, as any ≥ MAX_NR.
        let at = usize::from(nr as u16).min(OTHER);
        let row = match self.index[at] {
            0 => self.new_row(at, nr),
            r => usize::from(r) - 1,
        };
        let c = &mut self.rows[row];
        c.calls += 1;
        if let Some(ns) = duration_ns {
            c.buckets[bucket_of(ns)] += 1;
            c.duration_sum_ns = c.duration_sum_ns.wrapping_add(ns);
        }
        // The kernel's error returns: -4095..=-1 (ERESTARTSYS and friends included).
        if let Some(r) = ret
            && (-4095..0).contains(&r)
        {
            c.error((-r) as u16);
        }
    }

    #[cold]
    fn new_row(&mut self, at: usize, nr: i16) -> usize {
        self.rows.push(SyscallCount { nr, other: at == OTHER, ..Default::default() });
        self.index[at] = self.rows.len() as u16;
        self.rows.len() - 1
    }

    /// Each syscall the process made, in the order first seen.
    pub fn rows(&self) -> &[SyscallCount] {
        &self.rows
    }

    /// Heap bytes these counters take.
    pub fn bytes(&self) -> usize {
        size_of::<[u16; MAX_NR + 1]>()
            + self.rows.capacity() * size_of::<SyscallCount>()
            + self.rows.iter().map(|r| r.errors.capacity() * size_of::<(u16, u64)>()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_goes_to_the_first_bucket_whose_bound_holds_it() {
        for ns in [0, 1, 1023, 1024, 1025, 4096, 4097, 1 << 20, 1 << 30, (1 << 30) + 1, u64::MAX] {
            let b = bucket_of(ns);
            assert!(bucket_bound_ns(b).is_none_or(|bound| ns <= bound), "{ns} in {b}");
            assert!(b == 0 || bucket_bound_ns(b - 1).is_some_and(|below| ns > below), "{ns} in {b}");
        }
        assert_eq!(bucket_bound_ns(0), Some(1024));
        assert_eq!(bucket_bound_ns(BUCKETS - 2), Some(1 << 30));
        assert_eq!(bucket_bound_ns(BUCKETS - 1), None);
    }

    #[test]
    fn calls_errors_and_durations_by_syscall() {
        let mut c = Counts::default();
        c.add(39, Some(100), Some(2000));
        c.add(257, Some(-2), Some(5000));
        c.add(257, Some(-2), Some(5000));
        c.add(257, Some(-13), None);
        c.add(257, Some(3), Some(100));
        c.add(231, None, None);
        c.add(-1, Some(0), None);
        c.add(i16::MIN, Some(0), None);
        let rows = c.rows();
        assert_eq!(rows.len(), 4, "getppid, openat, exit_group and one row for numbers out of range");
        assert_eq!((rows[0].nr, rows[0].calls, rows[0].timed(), rows[0].duration_sum_ns), (39, 1, 1, 2000));
        assert_eq!((rows[1].calls, rows[1].timed(), rows[1].duration_sum_ns), (4, 3, 10_100));
        assert_eq!(rows[1].errors, vec![(2, 2), (13, 1)]);
        assert_eq!((rows[2].calls, rows[2].errors.len()), (1, 0));
        assert_eq!((rows[3].nr, rows[3].other, rows[3].calls), (-1, true, 2));
        assert!(c.bytes() >= 1024);
    }
}
