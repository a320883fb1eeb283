//! Deterministic workloads under a temporary directory: the same bytes every run.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The token `grep_files` and `rg` look for: in exactly three files of the tree.
pub const RARE_TOKEN: &str = "zanzibar_quokka_42";

/// A project tree of `files` files spread over `dirs` directories (two levels: `dNNN/sNNN`), in
/// four languages, with a `.gitignore` that hides a `target/` directory and `*.log` files.
pub fn make_tree(root: &Path, files: usize, dirs: usize) {
    fs::create_dir_all(root).unwrap();
    fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
    fs::write(root.join("README.md"), "# bench tree\n").unwrap();
    let top = (dirs as f64).sqrt().ceil().max(1.0) as usize;
    let dir_names: Vec<String> =
        (0..dirs).map(|i| format!("d{:03}/s{:03}", i % top, i / top)).collect();
    for name in &dir_names {
        fs::create_dir_all(root.join(name)).unwrap();
    }
    let extensions = ["rs", "py", "md", "txt"];
    let rare = [files / 5, files / 2, files - 1];
    for i in 0..files {
        let dir = &dir_names[i % dir_names.len()];
        let ext = extensions[i % extensions.len()];
        let mut body = format!("// file {i}\nfn item_{i}() -> u64 {{ {} }}\n", i * 7919 % 10007);
        if rare.contains(&i) {
            body.push_str(&format!("// {RARE_TOKEN}\n"));
        }
        fs::write(root.join(dir).join(format!("f{i:06}.{ext}")), body).unwrap();
    }
    fs::create_dir_all(root.join("target/debug")).unwrap();
    for i in 0..100 {
        fs::write(root.join(format!("target/debug/obj{i}.o")), format!("obj {RARE_TOKEN}"))
            .unwrap();
    }
    fs::write(root.join("build.log"), format!("log {RARE_TOKEN}\n")).unwrap();
}

/// A directory of small files for per-call operations: `small.rs` (about 2 KB) and `list/` with
/// 50 entries.
pub fn make_small(root: &Path) {
    fs::create_dir_all(root.join("list")).unwrap();
    let line = "    let total: u64 = items.iter().map(|item| item.price * item.qty).sum();\n";
    fs::write(root.join("small.rs"), line.repeat(28)).unwrap();
    for i in 0..50 {
        fs::write(root.join(format!("list/entry{i:02}.txt")), "x".repeat(i * 10)).unwrap();
    }
}

/// A text file of about `bytes` bytes in numbered lines of about 100 bytes.
pub fn make_big_file(path: &Path, bytes: u64) -> u64 {
    let mut out = BufWriter::new(fs::File::create(path).unwrap());
    let mut written = 0u64;
    let mut lines = 0u64;
    while written < bytes {
        let line = format!(
            "{lines:09} the quick brown fox jumps over the lazy dog, line {lines} of a big log file\n"
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        lines += 1;
    }
    out.flush().unwrap();
    lines
}

/// A database with `rows` sales rows over 8 regions and 500 products.
pub fn make_database(path: &Path, rows: usize) {
    let _ = fs::remove_file(path);
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE sales(id INTEGER PRIMARY KEY, region TEXT NOT NULL, product TEXT NOT NULL,
                            qty INTEGER NOT NULL, price REAL NOT NULL, day TEXT NOT NULL);",
    )
    .unwrap();
    let regions = ["north", "south", "east", "west", "central", "islands", "coast", "hills"];
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO sales(region, product, qty, price, day) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .unwrap();
        for i in 0..rows {
            let region = regions[i % regions.len()];
            let product = format!("product-{:03}", i * 31 % 500);
            let qty = (i * 7 % 20 + 1) as i64;
            let price = (i * 13 % 10_000) as f64 / 100.0;
            let day = format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1);
            insert.execute(rusqlite::params![region, product, qty, price, day]).unwrap();
        }
    }
    tx.commit().unwrap();
}
