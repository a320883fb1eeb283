//! Deterministic workloads under a temporary directory: the same tree, byte for byte, every run.

use std::fs;
use std::path::Path;

/// A project tree of `files` files spread over `dirs` directories (two levels: `dNN/sNN`), in
/// four languages, with a `.gitignore` that hides a `target/` directory holding a few more files
/// and `*.log` files.
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
    for i in 0..files {
        let dir = &dir_names[i % dir_names.len()];
        let ext = extensions[i % extensions.len()];
        let body = format!("// file {i}\nfn item_{i}() -> u64 {{ {} }}\n", i * 7919 % 10007);
        fs::write(root.join(dir).join(format!("f{i:06}.{ext}")), body).unwrap();
    }
    fs::create_dir_all(root.join("target/debug")).unwrap();
    for i in 0..100 {
        fs::write(root.join(format!("target/debug/obj{i}.o")), "obj").unwrap();
    }
    fs::write(root.join("build.log"), "log\n").unwrap();
}
