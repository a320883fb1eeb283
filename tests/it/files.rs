//! File tools against the real binary: behaviour, limits at their edges, and rendered output
//! (snapshots, with the temporary root replaced by `<root>`).

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{TestServer, fingerprint, slashed, text};

/// Replaces the temporary root in every string with `<root>` and drops timestamps.
fn scrub(server: &TestServer, value: &Value) -> Value {
    let mut raw = value
        .to_string()
        .replace(&server.uri(""), "file://<root>")
        .replace(&server.path("").replace('\\', "\\\\"), "<root>");
    if cfg!(windows) {
        // One snapshot for both systems: paths below the root with `/`.
        raw = raw.replace("\\\\", "/");
    }
    let mut value: Value = serde_json::from_str(&raw).unwrap();
    if let Some(structured) = value.get_mut("structuredContent").and_then(Value::as_object_mut) {
        for key in ["created", "modified", "accessed"] {
            if structured.contains_key(key) {
                structured.insert(key.to_owned(), json!("<time>"));
            }
        }
    }
    value
}

#[test]
fn read_text_file_whole_head_tail_and_range() {
    let mut server = TestServer::start();
    let whole = text(&server.call_ok("read_text_file", json!({"path": "src/bookshop/pricing.py"})));
    assert_eq!(whole, fs::read_to_string(server.root.join("src/bookshop/pricing.py")).unwrap());
    let head =
        server.call_ok("read_text_file", json!({"path": "src/bookshop/pricing.py", "head": 2}));
    insta::assert_json_snapshot!("read_head", scrub(&server, &head));
    let tail =
        server.call_ok("read_text_file", json!({"path": "src/bookshop/pricing.py", "tail": 2}));
    insta::assert_json_snapshot!("read_tail", scrub(&server, &tail));
    let range = server.call_ok(
        "read_text_file",
        json!({"path": "src/bookshop/pricing.py", "offset": 3, "limit": 2}),
    );
    insta::assert_json_snapshot!("read_range", scrub(&server, &range));
    let past = server
        .call_ok("read_text_file", json!({"path": "src/bookshop/pricing.py", "offset": 1000}));
    assert!(text(&past).contains("past the end"), "{past}");
}

#[test]
fn read_text_file_accepts_absolute_relative_and_file_uri_paths() {
    let mut server = TestServer::start();
    let expected = fs::read_to_string(server.root.join("README.md")).unwrap();
    for path in [
        server.path("README.md"),
        "README.md".to_owned(),
        "./README.md".to_owned(),
        crate::support::file_uri(&server.path("README.md")),
    ] {
        assert_eq!(
            text(&server.call_ok("read_text_file", json!({"path": path}))),
            expected,
            "{path}"
        );
    }
}

#[test]
fn read_text_file_refuses_binary_and_directories_with_hints() {
    let mut server = TestServer::start();
    let err = server.call_err("read_text_file", json!({"path": "assets/logo.png"}));
    assert!(err.contains("not UTF-8 text") && err.contains("read_media_file"), "{err}");
    let err = server.call_err("read_text_file", json!({"path": "src"}));
    assert!(err.contains("is a directory") && err.contains("list_directory"), "{err}");
    let err = server.call_err("read_text_file", json!({"path": "nope.txt"}));
    assert!(err.contains("does not exist") && err.contains(&server.path("nope.txt")), "{err}");
}

#[test]
fn non_ascii_text_round_trips() {
    let mut server = TestServer::start();
    let labels = text(&server.call_ok("read_text_file", json!({"path": "docs/shelf-labels.md"})));
    assert!(labels.contains("日本の文学・小説") && labels.contains("📚"), "{labels}");
}

#[test]
fn whole_read_over_the_limit_is_refused_but_parts_work_on_any_size() {
    let mut server =
        TestServer::builder().args(["--max-read-bytes", "1KiB"]).start_with(|_, root| {
            let lines: String = (1..=5000).map(|n| format!("line {n}: ünïcödé €\n")).collect();
            fs::write(root.join("big.txt"), lines).unwrap();
        });
    let size = fs::metadata(server.root.join("big.txt")).unwrap().len();
    let err = server.call_err("read_text_file", json!({"path": "big.txt"}));
    assert!(
        err.contains(&format!("is {size} bytes"))
            && err.contains("1024-byte limit")
            && err.contains("head, tail"),
        "{err}"
    );
    let head = text(&server.call_ok("read_text_file", json!({"path": "big.txt", "head": 2})));
    assert!(head.starts_with("line 1: ünïcödé €\nline 2: ünïcödé €\n"), "{head}");
    let tail = text(&server.call_ok("read_text_file", json!({"path": "big.txt", "tail": 2})));
    assert!(tail.starts_with("line 4999: ünïcödé €\nline 5000: ünïcödé €\n"), "{tail}");
    let range = text(
        &server.call_ok("read_text_file", json!({"path": "big.txt", "offset": 2500, "limit": 2})),
    );
    assert!(range.starts_with("line 2500: ünïcödé €\nline 2501: ünïcödé €\n"), "{range}");
    assert!(range.contains("continue with offset=2502"), "{range}");
    // Asking for more lines than fit: cut at a line end, with a note.
    let many = text(&server.call_ok("read_text_file", json!({"path": "big.txt", "head": 4000})));
    assert!(many.contains("--max-read-bytes"), "{many}");
    let many_tail =
        text(&server.call_ok("read_text_file", json!({"path": "big.txt", "tail": 4000})));
    assert!(
        many_tail.contains("line 5000") && many_tail.contains("--max-read-bytes"),
        "{many_tail}"
    );
}

#[test]
fn multibyte_characters_at_chunk_and_limit_borders_are_never_split() {
    // Lines long enough to cross the 64 KiB scan chunks, made of 3- and 4-byte characters, and a
    // limit that falls inside a character.
    let mut server =
        TestServer::builder().args(["--max-read-bytes", "70001"]).start_with(|_, root| {
            let mut content = String::new();
            for n in 0..6 {
                content.push_str(&format!("{n}:"));
                content.push_str(&"€😀".repeat(9000 + n * 7));
                content.push('\n');
            }
            fs::write(root.join("wide.txt"), content).unwrap();
        });
    let original = fs::read_to_string(server.root.join("wide.txt")).unwrap();
    let lines: Vec<&str> = original.split_inclusive('\n').collect();
    let last = lines[lines.len() - 1];
    let tail = server.call_ok("read_text_file", json!({"path": "wide.txt", "tail": 1}));
    assert_eq!(
        tail["content"][0]["text"].as_str().unwrap(),
        last,
        "the last line, found across 64 KiB chunks"
    );
    // Two lines do not fit in the limit: the last whole line comes back, with a note saying so.
    let tail = server.call_ok("read_text_file", json!({"path": "wide.txt", "tail": 2}));
    assert_eq!(tail["content"][0]["text"].as_str().unwrap(), last);
    assert!(text(&tail).contains("fewer lines than asked"), "{tail}");
    // One line is 63 KB; three lines exceed the 70001-byte limit and are cut inside a character.
    let head = server.call_ok("read_text_file", json!({"path": "wide.txt", "head": 3}));
    let blocks = head["content"].as_array().unwrap();
    let body = blocks[0]["text"].as_str().unwrap();
    assert!(body.len() <= 70001 && body.len() > 69990, "{}", body.len());
    assert!(original.starts_with(body), "the cut text is a prefix of the file");
    assert!(text(&head).contains("--max-read-bytes"));
}

#[test]
fn read_media_file_returns_an_image_block() {
    let mut server = TestServer::start();
    let result = server.call_ok("read_media_file", json!({"path": "assets/logo.png"}));
    let block = &result["content"][0];
    assert_eq!(block["type"], "image", "{result}");
    assert_eq!(block["mimeType"], "image/png");
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(block["data"].as_str().unwrap()).unwrap();
    assert_eq!(bytes, fs::read(server.root.join("assets/logo.png")).unwrap());
}

#[test]
fn read_multiple_files_reports_errors_inline() {
    let mut server = TestServer::start();
    let result = server.call_ok(
        "read_multiple_files",
        json!({"paths": ["README.md", "missing.txt", "docs/ordering.md"]}),
    );
    let body = text(&result);
    assert!(
        body.contains("# Corner Bookshop") && body.contains("# Ordering from distributors"),
        "{body}"
    );
    assert!(body.contains("missing.txt: Error - ") && body.contains("does not exist"), "{body}");
}

#[test]
fn write_file_creates_replaces_and_keeps_permissions() {
    let mut server = TestServer::start();
    let created =
        server.call_ok("write_file", json!({"path": "notes/new/todo.txt", "content": "buy ink\n"}));
    assert_eq!(created["structuredContent"]["created"], true, "{created}");
    assert_eq!(fs::read_to_string(server.root.join("notes/new/todo.txt")).unwrap(), "buy ink\n");
    assert!(
        created["content"].as_array().unwrap().iter().any(|b| b["type"] == "resource_link"),
        "{created}"
    );
    let file = server.root.join("src/bookshop/pricing.py");
    // Mode bits are Unix's; the read-only attribute of Windows has its own test (windows.rs).
    #[cfg(unix)]
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let replaced = server
        .call_ok("write_file", json!({"path": "src/bookshop/pricing.py", "content": "VAT = 0\n"}));
    assert_eq!(replaced["structuredContent"]["created"], false);
    assert_eq!(fs::read_to_string(&file).unwrap(), "VAT = 0\n");
    #[cfg(unix)]
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o7777, 0o640);
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(server.root.join("src/bookshop"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mcp-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// The line at `n` of the indexed-file tests: widths vary so no two checkpoints are evenly spaced.
fn numbered_line(n: u64) -> String {
    format!("line {n}: {}\n", "x".repeat((n * 7 % 41) as usize))
}

#[test]
fn line_ranges_deep_in_a_large_file_are_right_on_every_read_and_after_every_change() {
    const LINES: u64 = 200_000;
    let mut server = TestServer::builder().start_with(|_, root| {
        let text: String = (1..=LINES).map(numbered_line).collect();
        fs::write(root.join("big.log"), text).unwrap();
    });
    let path = server.root.join("big.log");
    assert!(fs::metadata(&path).unwrap().len() > 2 << 20, "large enough to be indexed");
    let read =
        |server: &mut TestServer, offset: u64| {
            text(&server.call_ok(
                "read_text_file",
                json!({"path": "big.log", "offset": offset, "limit": 2}),
            ))
        };
    // First reads build the index, later ones use it: around checkpoints (every 256 lines), far
    // before and after the indexed end, and the last line.
    for offset in
        [150_000, 3, 257, 256, 258, 70_001, 150_000, 199_999, 200_000, 150_001, 77 * 256 + 1]
    {
        let got = read(&mut server, offset);
        let want = if offset < LINES {
            numbered_line(offset) + &numbered_line(offset + 1)
        } else {
            numbered_line(offset)
        };
        assert!(got.starts_with(&want), "offset {offset}: {got}");
    }
    assert!(read(&mut server, LINES + 1).contains("past the end"));

    // A change of size drops the index: two lines added at the top shift every line down.
    let old = fs::read(&path).unwrap();
    let mut shifted = b"new 1\nnew 2\n".to_vec();
    shifted.extend_from_slice(&old);
    fs::write(&path, &shifted).unwrap();
    let got = read(&mut server, 150_002);
    assert!(got.starts_with(&numbered_line(150_000)), "after the change: {got}");

    // The same size, inode and modification time but other content (a rewrite in place with the
    // time set back): lines of `width` bytes, the width chosen so that no place where a line
    // started before (so no checkpoint) starts a line now. The read notices and scans from the
    // start: a stale index would count lines from a checkpoint and find line 190,000.
    let _ = read(&mut server, 190_000);
    let modified = fs::metadata(&path).unwrap().modified().unwrap();
    let old_starts: Vec<usize> = std::iter::once(0)
        .chain(shifted.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
        .collect();
    let width =
        (101..).find(|w| old_starts.iter().all(|start| *start == 0 || start % w != 0)).unwrap();
    let rewritten: Vec<u8> = (0..shifted.len())
        .map(|i| if i % width == width - 1 || i == shifted.len() - 1 { b'\n' } else { b'z' })
        .collect();
    let mut file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &rewritten).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), modified);
    let got = read(&mut server, 190_000);
    assert!(got.contains("offset 190000 is past the end"), "a stale index was used: {got}");
    let got = read(&mut server, 3);
    assert!(got.starts_with(&"z".repeat(width - 1)), "{got}");
}

#[test]
fn edit_file_applies_edits_and_returns_a_diff() {
    let mut server = TestServer::start();
    let result = server.call_ok(
        "edit_file",
        json!({"path": "src/bookshop/pricing.py", "edits": [{"oldText": "VAT_RATE = 0.07", "newText": "VAT_RATE = 0.05"}]}),
    );
    insta::assert_json_snapshot!("edit_diff", scrub(&server, &result));
    assert!(
        fs::read_to_string(server.root.join("src/bookshop/pricing.py"))
            .unwrap()
            .contains("VAT_RATE = 0.05")
    );
}

#[test]
fn ambiguous_edit_is_refused_and_changes_nothing() {
    let mut server = TestServer::start();
    let before = fingerprint(&server.root);
    let err = server.call_err("edit_file", json!({"path": "src/bookshop/pricing.py", "edits": [{"oldText": "price_cents", "newText": "cents"}]}));
    assert!(
        err.contains("matches") && err.contains("places") && err.contains("replaceAll"),
        "{err}"
    );
    assert_eq!(before, fingerprint(&server.root));
    // The same edit with replaceAll applies everywhere.
    let all = server.call_ok("edit_file", json!({"path": "src/bookshop/pricing.py", "edits": [{"oldText": "price_cents", "newText": "cents", "replaceAll": true}]}));
    assert!(all["structuredContent"]["replacements"].as_u64().unwrap() > 1, "{all}");
    assert!(
        !fs::read_to_string(server.root.join("src/bookshop/pricing.py"))
            .unwrap()
            .contains("price_cents")
    );
}

#[test]
fn edit_dry_run_changes_nothing() {
    let mut server = TestServer::start();
    let before = fingerprint(&server.root);
    let result = server.call_ok(
        "edit_file",
        json!({"path": "README.md", "dryRun": true, "edits": [{"oldText": "Corner Bookshop", "newText": "Big Bookshop"}]}),
    );
    assert!(
        text(&result).contains("-# Corner Bookshop") && text(&result).contains("+# Big Bookshop"),
        "{result}"
    );
    assert_eq!(result["structuredContent"]["dryRun"], true);
    assert_eq!(before, fingerprint(&server.root));
}

#[test]
fn edit_with_one_failing_edit_applies_none() {
    let mut server = TestServer::start();
    let before = fingerprint(&server.root);
    let err = server.call_err(
        "edit_file",
        json!({"path": "README.md", "edits": [{"oldText": "Corner", "newText": "Big"}, {"oldText": "no such text", "newText": "x"}]}),
    );
    assert!(err.starts_with("edit 2 of"), "{err}");
    assert_eq!(before, fingerprint(&server.root));
}

#[test]
fn edit_tolerates_indentation_differences() {
    let mut server = TestServer::start();
    server.call_ok(
        "edit_file",
        json!({"path": "src/bookshop/inventory.py", "edits": [{"oldText": "book = self._books.get(isbn)\nif book is None or book.stock < quantity:", "newText": "book = self._books.get(isbn)\nif book is None or quantity <= 0 or book.stock < quantity:"}]}),
    );
    let content = fs::read_to_string(server.root.join("src/bookshop/inventory.py")).unwrap();
    assert!(
        content.contains("        if book is None or quantity <= 0 or book.stock < quantity:"),
        "{content}"
    );
}

#[test]
fn create_directory_makes_parents_and_is_idempotent() {
    let mut server = TestServer::start();
    server.call_ok("create_directory", json!({"path": "a/b/c"}));
    assert!(server.root.join("a/b/c").is_dir());
    let again = server.call_ok("create_directory", json!({"path": "a/b/c"}));
    assert_eq!(again["structuredContent"]["changed"], false);
    let err = server.call_err("create_directory", json!({"path": "README.md"}));
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn list_directory_and_sizes() {
    let mut server = TestServer::start();
    let listing = server.call_ok("list_directory", json!({"path": "."}));
    insta::assert_json_snapshot!("list_root", scrub(&server, &listing));
    let sized = server
        .call_ok("list_directory_with_sizes", json!({"path": "src/bookshop", "sortBy": "size"}));
    let names: Vec<&str> = sized["structuredContent"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "inventory.py", "largest first: {names:?}");
    assert!(text(&sized).contains("Total: 4 files, 0 directories"), "{sized}");
}

#[test]
fn listing_is_capped_with_a_truncation_note() {
    let mut server = TestServer::builder().args(["--max-entries", "3"]).start();
    let listing = server.call_ok("list_directory", json!({"path": "."}));
    assert_eq!(listing["structuredContent"]["entries"].as_array().unwrap().len(), 3);
    assert_eq!(listing["structuredContent"]["truncated"], true);
    assert!(text(&listing).contains("[truncated: showing the first 3"), "{listing}");
    let tree = server.call_ok("directory_tree", json!({"path": "."}));
    assert_eq!(tree["structuredContent"]["entries"].as_array().unwrap().len(), 3);
    assert!(text(&tree).contains("maxDepth"), "{tree}");
}

#[test]
fn directory_tree_honours_gitignore_unless_asked() {
    let mut server = TestServer::start();
    let tree = server.call_ok("directory_tree", json!({"path": "."}));
    insta::assert_json_snapshot!("tree_root", scrub(&server, &tree));
    assert!(!text(&tree).contains("bundle.js"));
    let all = server.call_ok("directory_tree", json!({"path": ".", "includeIgnored": true}));
    assert!(text(&all).contains("bundle.js"), "{all}");
    let shallow = server.call_ok("directory_tree", json!({"path": ".", "maxDepth": 1}));
    assert!(
        shallow["structuredContent"]["entries"].as_array().unwrap().iter().all(|e| e["depth"] == 1)
    );
    let excluded =
        server.call_ok("directory_tree", json!({"path": ".", "excludePatterns": ["src", "*.md"]}));
    let body = text(&excluded);
    assert!(
        !body.contains("inventory.py") && !body.contains("README.md") && body.contains("app.js"),
        "{body}"
    );
}

#[test]
fn directory_tree_of_a_subdirectory_still_honours_the_root_gitignore() {
    let mut server = TestServer::builder().start_with(|_, root| {
        fs::create_dir_all(root.join("web/build")).unwrap();
        fs::write(root.join("web/build/out.js"), "x").unwrap();
    });
    let tree = server.call_ok("directory_tree", json!({"path": "web"}));
    assert!(!text(&tree).contains("out.js"), "{tree}");
}

#[test]
fn search_files_by_name_and_path_globs() {
    let mut server = TestServer::start();
    let py = server.call_ok("search_files", json!({"path": ".", "pattern": "*.py"}));
    insta::assert_json_snapshot!("search_py", scrub(&server, &py));
    let rs = server.call_ok("search_files", json!({"path": ".", "pattern": "**/*.rs"}));
    assert_eq!(rs["structuredContent"]["matches"], json!([server.path("tools/report.rs")]));
    let scoped = server.call_ok(
        "search_files",
        json!({"path": "src", "pattern": "bookshop/*.py", "excludePatterns": ["app.py"]}),
    );
    assert_eq!(scoped["structuredContent"]["matches"].as_array().unwrap().len(), 3, "{scoped}");
    let ignored = server.call_ok("search_files", json!({"path": ".", "pattern": "*.js"}));
    assert!(!text(&ignored).contains("bundle.js"));
    let with_ignored = server
        .call_ok("search_files", json!({"path": ".", "pattern": "*.js", "includeIgnored": true}));
    assert!(slashed(&text(&with_ignored)).contains("build/bundle.js"));
    let none = server.call_ok("search_files", json!({"path": ".", "pattern": "*.cobol"}));
    assert!(text(&none).starts_with("No matches"), "{none}");
    let err = server.call_err("search_files", json!({"path": ".", "pattern": "a["}));
    assert!(err.contains("invalid pattern"), "{err}");
}

#[test]
fn grep_files_finds_lines_with_context() {
    let mut server = TestServer::start();
    let todo = server.call_ok("grep_files", json!({"path": ".", "pattern": "TODO"}));
    insta::assert_json_snapshot!("grep_todo", scrub(&server, &todo));
    let context = server.call_ok(
        "grep_files",
        json!({"path": "src", "pattern": "def member_price", "contextLines": 1}),
    );
    let body = text(&context);
    assert!(
        body.contains("pricing.py-10-")
            && body.contains("pricing.py:11:def member_price")
            && body.contains("pricing.py-12-"),
        "{body}"
    );
    let insensitive = server.call_ok(
        "grep_files",
        json!({"path": ".", "pattern": "corner bookshop", "caseInsensitive": true, "glob": "*.md"}),
    );
    assert!(insensitive["structuredContent"]["matches"].as_u64().unwrap() >= 1, "{insensitive}");
    assert!(!text(&insensitive).contains("index.html"));
    let literal = server
        .call_ok("grep_files", json!({"path": ".", "pattern": "b.stock <=", "fixedStrings": true}));
    assert_eq!(literal["structuredContent"]["matches"], 1, "{literal}");
    let single = server.call_ok("grep_files", json!({"path": "web/app.js", "pattern": "fetch"}));
    assert_eq!(single["structuredContent"]["filesSearched"], 1);
    let err = server.call_err("grep_files", json!({"path": ".", "pattern": "("}));
    assert!(err.contains("invalid regular expression"), "{err}");
}

#[test]
fn grep_skips_ignored_and_binary_files() {
    let mut server = TestServer::start();
    let result = server.call_ok("grep_files", json!({"path": ".", "pattern": "shelf"}));
    let body = slashed(&text(&result));
    assert!(body.contains("web/app.js") && !body.contains("build/bundle.js"), "{body}");
    let png = server.call_ok("grep_files", json!({"path": ".", "pattern": "IHDR"}));
    assert_eq!(png["structuredContent"]["matches"], 0, "{png}");
}

#[test]
fn grep_caps_matches_and_long_lines() {
    let mut server = TestServer::builder()
        .args(["--max-entries", "5", "--max-line-bytes", "20"])
        .start_with(|_, root| {
            let lines: String =
                (0..50).map(|n| format!("needle {n} {}\n", "x".repeat(100))).collect();
            fs::write(root.join("hay.txt"), lines).unwrap();
        });
    let result = server.call_ok("grep_files", json!({"path": "hay.txt", "pattern": "needle"}));
    assert_eq!(result["structuredContent"]["matches"], 5);
    assert_eq!(result["structuredContent"]["truncated"], true);
    let first = result["structuredContent"]["lines"][0]["text"].as_str().unwrap();
    assert!(first.starts_with("needle 0 xxxxxxxxxxx") && first.contains("[line cut:"), "{first}");
}

#[test]
fn grep_over_many_files_keeps_walk_order_and_cuts_at_the_same_place_every_time() {
    let mut server = TestServer::builder().empty().start_with(|_, root| {
        for d in 0..10 {
            fs::create_dir(root.join(format!("d{d}"))).unwrap();
            for f in 0..20 {
                let body = format!("needle a\nhay\nneedle b\nneedle c\n{}", "hay\n".repeat(f * 50));
                fs::write(root.join(format!("d{d}/f{f:02}.txt")), body).unwrap();
            }
        }
    });
    let all = server.call_ok("grep_files", json!({"path": ".", "pattern": "needle"}));
    assert_eq!(all["structuredContent"]["matches"], 600, "{}", text(&all));
    assert_eq!(all["structuredContent"]["filesSearched"], 200);
    assert_eq!(all["structuredContent"]["filesMatched"], 200);
    let lines = all["structuredContent"]["lines"].as_array().unwrap();
    let keys: Vec<(String, u64)> = lines
        .iter()
        .map(|l| (l["path"].as_str().unwrap().to_owned(), l["line"].as_u64().unwrap()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "lines come in walk order (paths sorted, then line numbers)");
    for _ in 0..3 {
        let cut = server
            .call_ok("grep_files", json!({"path": ".", "pattern": "needle", "maxResults": 50}));
        assert_eq!(cut["structuredContent"]["truncated"], true);
        assert_eq!(cut["structuredContent"]["lines"].as_array().unwrap()[..], lines[..50]);
    }
}

#[test]
fn get_file_info_describes_files_and_directories() {
    let mut server = TestServer::start();
    let info = server.call_ok("get_file_info", json!({"path": "README.md"}));
    insta::assert_json_snapshot!("info_readme", scrub(&server, &info), {".structuredContent.size" => "<size>", ".structuredContent.permissions" => "<mode>", ".content[0].text" => "<text>"});
    let dir = server.call_ok("get_file_info", json!({"path": "src"}));
    assert_eq!(dir["structuredContent"]["isDirectory"], true);
}

/// A server with a read-only `specs` directory (holding `spec.md`) next to the writable root.
fn server_with_read_only_specs() -> (TestServer, String) {
    let server = TestServer::builder()
        .setup_args(|base, _| {
            fs::create_dir(base.join("specs")).unwrap();
            fs::write(base.join("specs/spec.md"), "# spec\n").unwrap();
            vec![
                "--ro-root".to_owned(),
                crate::support::canonical(&base.join("specs")).display().to_string(),
            ]
        })
        .start();
    let specs = crate::support::canonical(&server.base.path().join("specs")).display().to_string();
    (server, specs)
}

#[test]
fn list_allowed_directories_shows_modes() {
    let (mut server, specs) = server_with_read_only_specs();
    let result = server.call_ok("list_allowed_directories", json!({}));
    let body = text(&result);
    assert!(body.contains(&format!("{} (read-write)", server.path(""))), "{body}");
    assert!(body.contains(&format!("{specs} (read-only)")), "{body}");
    assert_eq!(
        result["structuredContent"]["directories"][1],
        json!({"path": specs, "writable": false})
    );
}

#[test]
fn move_file_renames_and_never_overwrites() {
    let mut server = TestServer::start();
    server.call_ok(
        "move_file",
        json!({"source": "docs/ordering.md", "destination": "docs/archive/ordering-2024.md"}),
    );
    assert!(server.root.join("docs/archive/ordering-2024.md").is_file());
    assert!(!server.root.join("docs/ordering.md").exists());
    let before = fingerprint(&server.root);
    let err = server.call_err(
        "move_file",
        json!({"source": "README.md", "destination": "docs/shelf-labels.md"}),
    );
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(before, fingerprint(&server.root));
    let err = server
        .call_err("move_file", json!({"source": "src", "destination": "src/bookshop/inside"}));
    assert!(err.contains("into itself"), "{err}");
    server.call_ok("move_file", json!({"source": "web", "destination": "frontend"}));
    assert!(server.root.join("frontend/app.js").is_file());
}

#[test]
fn copy_file_copies_files_and_directories_and_overwrites_only_when_asked() {
    let mut server = TestServer::start();
    server.call_ok("copy_file", json!({"source": "README.md", "destination": "README.copy.md"}));
    assert_eq!(
        fs::read(server.root.join("README.md")).unwrap(),
        fs::read(server.root.join("README.copy.md")).unwrap()
    );
    let err = server.call_err(
        "copy_file",
        json!({"source": "docs/ordering.md", "destination": "README.copy.md"}),
    );
    assert!(err.contains("already exists"), "{err}");
    server.call_ok(
        "copy_file",
        json!({"source": "docs/ordering.md", "destination": "README.copy.md", "overwrite": true}),
    );
    assert_eq!(
        fs::read(server.root.join("docs/ordering.md")).unwrap(),
        fs::read(server.root.join("README.copy.md")).unwrap()
    );
    let dir = server.call_ok("copy_file", json!({"source": "src", "destination": "src-backup"}));
    assert_eq!(dir["structuredContent"]["filesCopied"], 4, "{dir}");
    assert!(server.root.join("src-backup/bookshop/inventory.py").is_file());
    let err =
        server.call_err("copy_file", json!({"source": "src", "destination": "src/bookshop/copy"}));
    assert!(err.contains("into itself"), "{err}");
}

#[test]
fn delete_file_removes_files_and_directories_carefully() {
    let mut server = TestServer::start();
    server.call_ok("delete_file", json!({"path": "docs/ordering.md"}));
    assert!(!server.root.join("docs/ordering.md").exists());
    let err = server.call_err("delete_file", json!({"path": "src"}));
    assert!(err.contains("not empty") && err.contains("recursive: true"), "{err}");
    server.call_ok("delete_file", json!({"path": "src", "recursive": true}));
    assert!(!server.root.join("src").exists());
    let err = server.call_err("delete_file", json!({"path": ".", "recursive": true}));
    assert!(err.contains("cannot be deleted"), "{err}");
    assert!(server.root.join("README.md").exists());
}

#[test]
fn read_only_roots_refuse_every_write_tool_with_a_hint() {
    let (mut server, specs) = server_with_read_only_specs();
    let specs_dir = std::path::PathBuf::from(&specs);
    let before = fingerprint(&specs_dir);
    let spec = format!("{specs}/spec.md");
    let calls = [
        ("write_file", json!({"path": spec, "content": "x"})),
        ("edit_file", json!({"path": spec, "edits": [{"oldText": "spec", "newText": "x"}]})),
        ("create_directory", json!({"path": format!("{specs}/new")})),
        ("move_file", json!({"source": spec, "destination": format!("{specs}/moved.md")})),
        ("move_file", json!({"source": "README.md", "destination": format!("{specs}/README.md")})),
        ("copy_file", json!({"source": "README.md", "destination": format!("{specs}/README.md")})),
        ("delete_file", json!({"path": spec})),
    ];
    for (tool, args) in calls {
        let err = server.call_err(tool, args.clone());
        assert!(
            err.contains("is read-only") && err.contains("--root instead of --ro-root"),
            "{tool} {args}: {err}"
        );
    }
    assert_eq!(before, fingerprint(&specs_dir));
    assert!(server.root.join("README.md").is_file(), "the failed move left the source alone");
    // Reading and a dry-run edit still work, and copying out of the read-only root is fine.
    server.call_ok("read_text_file", json!({"path": spec}));
    server.call_ok(
        "edit_file",
        json!({"path": spec, "dryRun": true, "edits": [{"oldText": "spec", "newText": "x"}]}),
    );
    server.call_ok("copy_file", json!({"source": spec, "destination": "spec-copy.md"}));
}

#[test]
fn a_read_only_root_nested_in_a_writable_root_stays_read_only() {
    let mut server = TestServer::builder()
        .setup_args(|_, root| vec!["--ro-root".to_owned(), root.join("docs").display().to_string()])
        .start();
    for path in ["docs/new.md".to_owned(), server.path("docs/new.md")] {
        let err = server.call_err("write_file", json!({"path": path, "content": "x"}));
        assert!(err.contains("read-only"), "{err}");
    }
    let err = server.call_err("delete_file", json!({"path": "docs/ordering.md"}));
    assert!(err.contains("read-only"), "{err}");
    server.call_ok("write_file", json!({"path": "src/new.py", "content": "x"}));
}

/// A file marked read-only (no write permission; the read-only attribute on Windows) is not
/// replaced by any tool, as an editor would refuse it.
#[test]
fn a_read_only_file_is_not_replaced() {
    let mut server = TestServer::start();
    let file = server.root.join("README.md");
    let mut permissions = fs::metadata(&file).unwrap().permissions();
    permissions.set_readonly(true);
    fs::set_permissions(&file, permissions).unwrap();
    let before = fs::read(&file).unwrap();
    for (tool, args) in [
        ("write_file", json!({"path": "README.md", "content": "x"})),
        (
            "edit_file",
            json!({"path": "README.md", "edits": [{"oldText": "Corner", "newText": "x"}]}),
        ),
        (
            "copy_file",
            json!({"source": "docs/ordering.md", "destination": "README.md", "overwrite": true}),
        ),
    ] {
        let err = server.call_err(tool, args.clone());
        assert!(err.contains("read-only"), "{tool} {args}: {err}");
    }
    assert_eq!(fs::read(&file).unwrap(), before);
    let dry = server.call_ok(
        "edit_file",
        json!({"path": "README.md", "edits": [{"oldText": "Corner", "newText": "x"}], "dryRun": true}),
    );
    assert!(text(&dry).contains("-# Corner"), "a dry run only reads: {dry}");
}

#[test]
fn special_characters_in_names_work() {
    let mut server = TestServer::start();
    // `?` is not allowed in Windows names; `#`, spaces and `%` are.
    let (name, encoded) = if cfg!(windows) {
        ("a b#c%.txt", "a%20b%23c%25.txt")
    } else {
        ("a b#c?.txt", "a%20b%23c%3F.txt")
    };
    server.call_ok("write_file", json!({"path": format!("odd names/{name}"), "content": "odd\n"}));
    let found = server.call_ok("search_files", json!({"path": ".", "pattern": "*#*"}));
    assert_eq!(
        found["structuredContent"]["matches"],
        json!([server.path(&format!("odd names/{name}"))])
    );
    let read = server.call_ok(
        "read_text_file",
        json!({"path": crate::support::file_uri(&format!("{}/odd%20names/{encoded}", server.path("")))}),
    );
    assert_eq!(text(&read), "odd\n");
}

#[test]
fn tools_answer_within_the_timeout_while_others_run() {
    let mut server = TestServer::start();
    let id = server.send_request(
        "tools/call",
        json!({"name": "grep_files", "arguments": {"path": ".", "pattern": "x"}}),
    );
    let pong = server.request_timeout("ping", json!({}), Duration::from_secs(10));
    assert_eq!(pong["result"], json!({}));
    let grep = server.wait_response(id, Duration::from_secs(20));
    assert!(grep["result"].is_object(), "{grep}");
}

#[test]
fn walks_honour_dot_ignore_git_exclusions_and_whitelists() {
    let mut server = TestServer::builder().start_with(|_, root| {
        fs::create_dir_all(root.join(".git/info")).unwrap();
        fs::write(root.join(".git/config"), "[core]\n").unwrap();
        fs::write(root.join(".git/info/exclude"), "*.local\n").unwrap();
        fs::write(root.join("settings.local"), "secret=1\n").unwrap();
        // `.ignore` hides Markdown files but whitelists README.md; `.gitignore` still hides build/.
        fs::write(root.join(".ignore"), "*.md\n!README.md\n").unwrap();
    });
    let found = server.call_ok("search_files", json!({"path": ".", "pattern": "*"}));
    let matches: Vec<String> = found["structuredContent"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| slashed(m.as_str().unwrap().trim_start_matches(&server.path(""))))
        .collect();
    assert!(!matches.iter().any(|m| m == "/.git" || m.starts_with("/.git/")), "{matches:?}");
    assert!(!matches.iter().any(|m| m.ends_with(".md") && m != "/README.md"), "{matches:?}");
    assert!(
        matches.contains(&"/README.md".to_owned()) && matches.contains(&"/.gitignore".to_owned()),
        "{matches:?}"
    );
    assert!(!matches.contains(&"/settings.local".to_owned()), "{matches:?}");
    assert!(!matches.contains(&"/build/bundle.js".to_owned()), "{matches:?}");
    assert!(matches.contains(&"/src/bookshop/app.py".to_owned()), "{matches:?}");
    let grep = server.call_ok("grep_files", json!({"path": ".", "pattern": "secret=1|\\[core\\]"}));
    assert_eq!(grep["structuredContent"]["matches"], 0, "{grep}");
    let all = server.call_ok(
        "grep_files",
        json!({"path": ".", "pattern": "secret=1|\\[core\\]", "includeIgnored": true}),
    );
    assert_eq!(all["structuredContent"]["matches"], 2, "{all}");
}
