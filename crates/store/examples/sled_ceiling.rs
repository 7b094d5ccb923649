//! What sled itself writes on this machine, with nothing else running: random 22-byte keys,
//! values of a given size, in atomic batches or one insert at a time, from one or more
//! threads. The ceiling any ingest on the store stays under (each stored row costs at least
//! one such write, plus its share of index entries).
//!
//! ```sh
//! cargo run --release -p rapport-store --example sled_ceiling -- 2000000 200 batch 1 20000
//! cargo run --release -p rapport-store --example sled_ceiling -- 2000000 200 insert 2
//! ```
//!
//! Arguments: writes, value bytes, `batch` or `insert`, threads (1), operations per batch
//! (20,000). Prints writes per second; run it under `/usr/bin/time -v` for peak memory.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| {
        args.get(i)
            .map(|s| s.parse::<usize>().expect("a number"))
            .unwrap_or(default)
    };
    let (n, value_len) = (arg(0, 1_000_000), arg(1, 200));
    let batched = args.get(2).is_none_or(|m| m == "batch");
    let (threads, batch_ops) = (arg(3, 1).max(1), arg(4, 20_000).max(1));
    let dir = std::env::temp_dir().join(format!("sled-ceiling-{}", std::process::id()));
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(1 << 30)
        .open()
        .expect("open sled");
    let began = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = db.clone();
            s.spawn(move || {
                let mut batch = sled::Batch::default();
                // xorshift: keys in no order, as index entries and interactions arrive.
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1).wrapping_mul(7919);
                for i in 0..n / threads {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut key = b"Xk/ceiling/key/".to_vec();
                    key.extend_from_slice(&x.to_be_bytes());
                    let value = vec![7u8; value_len];
                    if batched {
                        batch.insert(key, value);
                        if i % batch_ops == batch_ops - 1 {
                            db.apply_batch(std::mem::take(&mut batch)).expect("batch");
                        }
                    } else {
                        db.insert(key, value).expect("insert");
                    }
                }
                db.apply_batch(batch).expect("batch");
            });
        }
    });
    let applied = began.elapsed().as_secs_f64();
    db.flush().expect("flush");
    let total = began.elapsed().as_secs_f64();
    println!(
        "{n} writes of {value_len}-byte values, {} x{threads}: {applied:.2} s = {:.0} writes/s \
         ({total:.2} s with the final flush; {:.0} MB on disk)",
        if batched {
            format!("batches of {batch_ops}")
        } else {
            "one insert at a time".to_string()
        },
        n as f64 / applied,
        db.size_on_disk().unwrap_or(0) as f64 / 1e6,
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
