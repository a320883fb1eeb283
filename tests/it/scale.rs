//! Large trees under a small open-file limit: walks hold a bounded number of descriptors, so with
//! `ulimit -n 256` search, grep, tree and resource listing still succeed on a 3,000-file directory
//! and on a 100,000-file tree. (Speed is measured by the benchmark suite, not here.)

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::TestServer;

const SLOW: Duration = Duration::from_secs(300);

fn flat_dir(root: &Path, files: usize) {
    let dir = root.join("flat");
    fs::create_dir(&dir).unwrap();
    for n in 0..files {
        fs::write(dir.join(format!("file{n:05}.txt")), format!("line one\nneedle {n}\n")).unwrap();
    }
}

#[test]
fn three_thousand_files_in_one_directory_with_256_descriptors() {
    let mut server = TestServer::builder()
        .empty()
        .nofile(256)
        .args(["--max-entries", "10000", "--max-result-bytes", "16MiB"])
        .start_with(|_, root| flat_dir(root, 3000));
    let search =
        server.call_tool_timeout("search_files", json!({"path": ".", "pattern": "*.txt"}), SLOW);
    assert_eq!(search["isError"], false, "{search}");
    assert_eq!(search["structuredContent"]["matches"].as_array().unwrap().len(), 3000);
    let grep =
        server.call_tool_timeout("grep_files", json!({"path": ".", "pattern": "needle"}), SLOW);
    assert_eq!(grep["structuredContent"]["matches"], 3000, "{}", grep["content"]);
    assert_eq!(grep["structuredContent"]["filesSearched"], 3000);
    let tree = server.call_tool_timeout("directory_tree", json!({"path": "."}), SLOW);
    assert_eq!(tree["structuredContent"]["entries"].as_array().unwrap().len(), 3001);
    let listing = server.call_tool_timeout("list_directory", json!({"path": "flat"}), SLOW);
    assert_eq!(listing["structuredContent"]["total"], 3000);
    let page = server.request_timeout("resources/list", json!({}), SLOW);
    assert_eq!(
        page["result"]["resources"].as_array().unwrap().len(),
        2500,
        "the default page size"
    );
}

#[test]
fn hundred_thousand_file_tree_with_256_descriptors() {
    // 2,000 directories of 50 files, nested two levels deep.
    let mut server = TestServer::builder()
        .empty()
        .nofile(256)
        .args(["--max-entries", "200000", "--max-result-bytes", "64MiB"])
        .start_with(|_, root| {
            for top in 0..40 {
                for sub in 0..50 {
                    let dir = root.join(format!("t{top:02}")).join(format!("s{sub:02}"));
                    fs::create_dir_all(&dir).unwrap();
                    for f in 0..50 {
                        fs::write(dir.join(format!("f{f:02}.rs")), "fn main() {}\n").unwrap();
                    }
                }
            }
            fs::write(root.join("t39/s49/f49.rs"), "fn rare_token() {}\n").unwrap();
        });
    let search = server.call_tool_timeout(
        "search_files",
        json!({"path": ".", "pattern": "**/f07.rs"}),
        SLOW,
    );
    assert_eq!(
        search["structuredContent"]["matches"].as_array().unwrap().len(),
        2000,
        "{}",
        search["content"]
    );
    let grep =
        server.call_tool_timeout("grep_files", json!({"path": ".", "pattern": "rare_token"}), SLOW);
    assert_eq!(grep["structuredContent"]["matches"], 1, "{}", grep["content"]);
    assert_eq!(grep["structuredContent"]["filesSearched"], 100_000);
    let tree = server.call_tool_timeout("directory_tree", json!({"path": "."}), SLOW);
    assert_eq!(tree["structuredContent"]["entries"].as_array().unwrap().len(), 100_000 + 2000 + 40);
    // Every page of resources, to the last: resuming deep in the tree works without holding it
    // all, and the default page size lists 100,000 files in at most 50 pages (the MCP Inspector
    // gives up after 64).
    let (pages, files) = all_resource_pages(&mut server);
    assert_eq!(files, 100_000);
    assert!(pages <= 50, "{pages} pages for 100,000 files");
}

/// Lists every page of `resources/list`; returns the number of pages and of resources, checking
/// that no resource appears twice.
fn all_resource_pages(server: &mut TestServer) -> (usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = cursor.as_ref().map_or_else(|| json!({}), |c| json!({ "cursor": c }));
        let page = server.request_timeout("resources/list", params, SLOW);
        pages += 1;
        for resource in page["result"]["resources"].as_array().expect("resources") {
            let uri = resource["uri"].as_str().expect("uri").to_owned();
            assert!(seen.insert(uri.clone()), "{uri} listed twice");
        }
        match page["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (pages, seen.len()),
        }
    }
}
