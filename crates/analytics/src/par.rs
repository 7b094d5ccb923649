//! Work split across threads in more pieces than threads, taken in turn: customers differ in
//! cost (a long history, a slow series), so halves of a million customers finished 0.3-0.6 s
//! apart and one core idled meanwhile.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(0) .. f(pieces - 1)` on `threads` threads, each taking the next piece not yet taken;
/// the results in piece order. A panic in `f` resumes on the caller's thread.
pub fn map_pieces<T, F>(pieces: usize, threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    let threads = threads.clamp(1, pieces.max(1));
    if threads == 1 {
        return (0..pieces).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= pieces {
                            return mine;
                        }
                        mine.push((k, f(k)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(mine) => mine,
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    });
    done.sort_unstable_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_is_done_once_and_returned_in_order() {
        for threads in [1, 2, 3, 8] {
            let calls = AtomicUsize::new(0);
            let out = map_pieces(37, threads, |k| {
                calls.fetch_add(1, Ordering::Relaxed);
                // Uneven pieces: the early ones are slow.
                if k < 3 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                k * k
            });
            assert_eq!(out, (0..37).map(|k| k * k).collect::<Vec<_>>());
            assert_eq!(calls.load(Ordering::Relaxed), 37);
        }
        assert!(map_pieces(0, 2, |k| k).is_empty());
    }

    #[test]
    #[should_panic(expected = "piece 5")]
    fn a_panic_in_a_piece_reaches_the_caller() {
        map_pieces(8, 2, |k| {
            if k == 5 {
                panic!("piece 5");
            }
            k
        });
    }
}
