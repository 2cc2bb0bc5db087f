//! `createrepo_c DIR` with kkoji's repodata crate, for trying it out and timing it:
//! `cargo run --release -p kkoji-repodata --example createrepo -- DIR [--zstd] [--cache CACHEDIR] [--groups comps.xml]`

use std::path::PathBuf;
use std::time::Instant;

use kkoji_repodata::{
    Compression, Groups, MetaCache, ReadPackagesOptions, WriteOptions, find_rpms, read_packages,
    write_repo,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut cache = None;
    let mut opts = WriteOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--zstd" => opts.compression = Compression::Zstd,
            "--cache" => cache = args.next().map(PathBuf::from),
            "--groups" => opts.groups = args.next().map(|p| Groups::File(p.into())),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.ok_or("usage: createrepo DIR [--zstd] [--cache DIR] [--groups FILE]")?;
    let cache = cache.map(MetaCache::open).transpose()?;
    // as create_repo does: compressed chunks live next to the package metadata
    opts.chunk_cache = cache.as_ref().map(|c| c.dir().join("chunks"));
    let t = Instant::now();
    let read = ReadPackagesOptions {
        cache: cache.as_ref(),
        ..Default::default()
    };
    let files = find_rpms(&dir)?;
    let t_find = t.elapsed();
    let packages = read_packages(&files, &read)?;
    let t_read = t.elapsed();
    let md = write_repo(&dir, &packages, &opts)?;
    println!(
        "{} packages, {} records, revision {}: find {:.3}s, read {:.3}s, write {:.3}s, total {:.3}s; rpm reads {}",
        packages.len(),
        md.records.len(),
        md.revision,
        t_find.as_secs_f64(),
        (t_read - t_find).as_secs_f64(),
        (t.elapsed() - t_read).as_secs_f64(),
        t.elapsed().as_secs_f64(),
        cache.as_ref().map_or(0, |c| c.rpm_reads())
    );
    Ok(())
}
