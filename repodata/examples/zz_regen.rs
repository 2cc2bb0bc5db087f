use kkoji_repodata::*;
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let cache = std::env::args().nth(2).unwrap();
    let n: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    for _ in 0..n {
        let t = Instant::now();
        let c = MetaCache::open(&cache).unwrap();
        let files = find_rpms(&dir).unwrap();
        let pkgs = read_packages(
            &files,
            &ReadPackagesOptions {
                cache: Some(&c),
                ..Default::default()
            },
        )
        .unwrap();
        let t1 = t.elapsed();
        write_repo(
            &dir,
            &pkgs,
            &WriteOptions {
                chunk_cache: Some(std::path::Path::new(&cache).join("chunks")),
                ..Default::default()
            },
        )
        .unwrap();
        println!("read {:?} write {:?}", t1, t.elapsed() - t1);
    }
}
