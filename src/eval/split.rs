//! Reproducible randomness: numpy's legacy `RandomState` (MT19937) shuffle, so
//! that dataset splits equal those of the original preprocessing scripts,
//! which call `sklearn.model_selection.train_test_split(..., test_size=0.25,
//! random_state=42)`.

/// The Mersenne Twister MT19937, seeded as numpy's `RandomState(seed)` does.
#[derive(Debug, Clone)]
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    /// numpy seeds an integer with `init_genrand`, not `init_by_array`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let previous = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    /// The next 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn twist(&mut self) {
        for i in 0..624 {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
            let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    /// A uniform integer in `0..=max` by masked rejection (numpy's legacy `random_interval`).
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mask = u32::MAX >> max.leading_zeros();
        loop {
            let value = self.next_u32() & mask;
            if value <= max {
                return value;
            }
        }
    }

    /// `RandomState.permutation(n)`: Fisher–Yates from the end.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut items: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u32) as usize;
            items.swap(i, j);
        }
        items
    }
}

/// `train_test_split(items, test_size=0.25, random_state=seed)`: (train, test),
/// each in permutation order.
pub fn train_test_split<T: Clone>(items: &[T], seed: u32) -> (Vec<T>, Vec<T>) {
    let permutation = Mt19937::new(seed).permutation(items.len());
    let test_count = (items.len() as f64 * 0.25).ceil() as usize;
    let pick = |indices: &[usize]| indices.iter().map(|&i| items[i].clone()).collect();
    (
        pick(&permutation[test_count..]),
        pick(&permutation[..test_count]),
    )
}

/// `k` distinct items drawn with `seed` (the first `k` of a seeded permutation).
pub fn sample<T: Clone>(items: &[T], k: usize, seed: u32) -> Vec<T> {
    let permutation = Mt19937::new(seed).permutation(items.len());
    permutation
        .iter()
        .take(k)
        .map(|&i| items[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by numpy 2.4.6 / scikit-learn 1.9.1.

    #[test]
    fn raw_outputs_match_numpy() {
        let mut rng = Mt19937::new(42);
        let first: Vec<u32> = (0..5).map(|_| rng.next_u32()).collect();
        assert_eq!(
            first,
            [1608637542, 3421126067, 4083286876, 787846414, 3143890026]
        );
    }

    #[test]
    fn permutations_match_numpy() {
        assert_eq!(
            Mt19937::new(42).permutation(10),
            [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]
        );
        assert_eq!(
            Mt19937::new(42).permutation(37),
            [
                17, 13, 4, 29, 35, 25, 6, 26, 24, 16, 8, 15, 12, 32, 9, 19, 0, 31, 5, 11, 1, 27,
                21, 2, 36, 34, 3, 33, 23, 30, 10, 22, 18, 20, 7, 14, 28
            ]
        );
    }

    #[test]
    fn split_matches_scikit_learn() {
        let (train, test) = train_test_split(&(0..10).collect::<Vec<_>>(), 42);
        assert_eq!((train, test), (vec![0, 7, 2, 9, 4, 3, 6], vec![8, 1, 5]));
        let (train, test) = train_test_split(&(0..1508).collect::<Vec<_>>(), 42);
        assert_eq!((train.len(), test.len()), (1131, 377));
        assert_eq!(
            test[..10],
            [578, 1146, 382, 583, 966, 1173, 175, 1084, 705, 1102]
        );
        assert_eq!(
            train[..10],
            [534, 1061, 813, 1236, 1488, 522, 179, 1157, 1253, 416]
        );
    }

    #[test]
    fn samples_are_distinct_and_reproducible() {
        let items: Vec<u32> = (0..50).collect();
        let a = sample(&items, 8, 7);
        assert_eq!(a, sample(&items, 8, 7));
        assert_ne!(a, sample(&items, 8, 8));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
    }
}
