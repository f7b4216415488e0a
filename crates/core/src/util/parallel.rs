//! Order-keeping parallel map for CPU-bound work (parsing and checking
//! many files): the results come back in input order, so diagnostics and
//! reports read the same whatever the number of cores.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

/// The number of threads worth running CPU-bound work on. Asked once:
/// the answer reads the affinity mask and cgroup quota, system calls that
/// every parse of a big file and every map would otherwise repeat.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

/// `items.iter().map(f).collect()`, spread over the machine's cores in
/// contiguous chunks. Small inputs stay on the calling thread: a thread
/// costs more than parsing a short file.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_chunks(items, MIN_PER_THREAD, f)
}

/// [`map`] for a few large items: each may get a thread of its own.
pub fn map_each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_chunks(items, 1, f)
}

fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = cores();
    if threads < 2 || items.len() < 2 * min_per_thread {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads).max(min_per_thread);
    let f = &f;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk);
        // The first chunk runs here; the others on threads of their own.
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part),
                // Re-raise on this thread, where the panic hook reports it.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Below this many items per thread, spreading the work does not pay.
const MIN_PER_THREAD: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order_for_every_size() {
        for n in [0, 1, 7, 8, 9, 100, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let doubled: Vec<usize> = items.iter().map(|i| i * 2).collect();
            assert_eq!(map(&items, |i| i * 2), doubled);
            assert_eq!(map_each(&items, |i| i * 2), doubled);
        }
    }
}
