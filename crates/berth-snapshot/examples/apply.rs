//! Applies layer blobs (bottom first) into a store, all layers on their own
//! threads with the overlay driver, and prints the time taken:
//!
//! ```text
//! cargo run --release -p berth-snapshot --example apply -- /var/tmp/store layer1.tar.gz layer2.tar.gz ...
//! ```
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use berth_snapshot::{Snapshotter, UnpackOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().ok_or("usage: apply STORE BLOB...")?);
    let blobs: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let store = Snapshotter::open(&root, None)?;
    let start = Instant::now();
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = blobs
            .iter()
            .enumerate()
            .map(|(i, blob)| {
                let store = &store;
                scope.spawn(move || -> Result<String, String> {
                    let file = File::open(blob).map_err(|e| e.to_string())?;
                    // Layer names here are positional, not real chain IDs.
                    let name = format!("layer{i}");
                    let parent = (i > 0).then(|| format!("layer{}", i - 1));
                    let applied = store
                        .apply_layer(
                            &name,
                            parent.as_deref(),
                            file,
                            &UnpackOptions::new(blob.display().to_string()),
                        )
                        .map_err(|e| e.to_string())?;
                    Ok(format!(
                        "{name}: {:?}",
                        applied.unpacked.map(|u| (u.diff_id, u.size))
                    ))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = start.elapsed();
    for r in results {
        println!("{}", r?);
    }
    println!(
        "driver {:?}, {} layers in {:.3}s",
        store.driver(),
        blobs.len(),
        took.as_secs_f64()
    );
    Ok(())
}
