//! File resources: list (pagination, order, ignore rules, metadata), templates, read (text, blob,
//! directory), and the not-found and invalid-cursor errors in both eras.

use std::collections::BTreeSet;
use std::fs;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::TestServer;

/// Every resource URI, following `nextCursor` to the end; fails on a repeated cursor.
fn list_all(server: &mut TestServer) -> (Vec<String>, usize) {
    let mut uris = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let response = server.request("resources/list", params);
        let result = &response["result"];
        for resource in result["resources"].as_array().unwrap_or_else(|| panic!("{response}")) {
            uris.push(resource["uri"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(next) => {
                assert_ne!(Some(next), cursor.as_deref(), "the cursor did not advance");
                cursor = Some(next.to_owned());
            }
            None => return (uris, pages),
        }
    }
}

#[test]
fn list_shows_every_file_with_metadata_and_honours_gitignore() {
    let mut server = TestServer::start();
    let response = server.request("resources/list", json!({}));
    let resources = response["result"]["resources"].as_array().unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    let root = server.path("");
    assert!(
        uris.contains(&crate::support::file_uri(&format!("{root}/README.md")).as_str()),
        "{uris:?}"
    );
    assert!(uris.contains(
        &crate::support::file_uri(&format!("{root}/src/bookshop/inventory.py")).as_str()
    ));
    assert!(!uris.iter().any(|u| u.contains("/build/")), "ignored files are not listed: {uris:?}");
    assert!(response["result"].get("nextCursor").is_none(), "one page for the sample");
    let readme =
        resources.iter().find(|r| r["uri"].as_str().unwrap().ends_with("/README.md")).unwrap();
    assert_eq!(readme["mimeType"], "text/markdown");
    assert_eq!(readme["size"], fs::metadata(server.root.join("README.md")).unwrap().len());
    assert!(readme["annotations"]["lastModified"].as_str().unwrap().ends_with('Z'), "{readme}");
    let logo = resources.iter().find(|r| r["uri"].as_str().unwrap().ends_with("logo.png")).unwrap();
    assert_eq!(logo["mimeType"], "image/png");
    // Stable order: the same list twice.
    let again = server.request("resources/list", json!({}));
    assert_eq!(response["result"]["resources"], again["result"]["resources"]);
}

#[test]
fn pagination_visits_every_file_exactly_once() {
    let mut server =
        TestServer::builder().empty().args(["--resource-page-size", "97"]).start_with(|_, root| {
            for d in 0..40 {
                let dir =
                    root.join(format!("d{d:02}")).join(if d % 3 == 0 { "deeper" } else { "" });
                fs::create_dir_all(&dir).unwrap();
                for f in 0..60 {
                    fs::write(dir.join(format!("f{f}.txt")), "x").unwrap();
                }
            }
            fs::write(root.join("d05-sibling.txt"), "sorts between d05 and d06").unwrap();
            fs::write(root.join(".gitignore"), "ignored/\n").unwrap();
            fs::create_dir(root.join("ignored")).unwrap();
            fs::write(root.join("ignored/skip.txt"), "x").unwrap();
        });
    let (uris, pages) = list_all(&mut server);
    let unique: BTreeSet<&String> = uris.iter().collect();
    assert_eq!(unique.len(), uris.len(), "a file was listed twice");
    assert_eq!(uris.len(), 40 * 60 + 2, "every file once (2400 + the sibling + .gitignore)");
    assert_eq!(pages, (uris.len() as f64 / 97.0).ceil() as usize);
    assert!(!uris.iter().any(|u| u.contains("/ignored/")));
}

#[test]
fn invalid_cursor_is_invalid_params() {
    let mut server = TestServer::start();
    for cursor in ["garbage!", "MTAwCmE", ""] {
        let response = server.request("resources/list", json!({"cursor": cursor}));
        assert_eq!(response["error"]["code"], -32602, "{cursor}: {response}");
    }
}

#[test]
fn templates_list_the_file_template() {
    let mut server = TestServer::start();
    let response = server.request("resources/templates/list", json!({}));
    let templates = response["result"]["resourceTemplates"].as_array().unwrap();
    assert!(templates.iter().any(|t| t["uriTemplate"] == "file:///{+path}"), "{response}");
}

#[test]
fn read_returns_text_or_blob_and_a_directory_is_not_found() {
    let mut server = TestServer::start();
    let root = server.path("");
    let text = server.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{root}/README.md"))}),
    );
    let contents = &text["result"]["contents"][0];
    assert_eq!(contents["text"], fs::read_to_string(server.root.join("README.md")).unwrap());
    assert_eq!(contents["mimeType"], "text/markdown");
    let blob = server.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{root}/assets/logo.png"))}),
    );
    let contents = &blob["result"]["contents"][0];
    assert_eq!(contents["mimeType"], "image/png");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(contents["blob"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, fs::read(server.root.join("assets/logo.png")).unwrap());
    // Ignored files are not listed but can be read through the template.
    let ignored = server.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{root}/build/bundle.js"))}),
    );
    assert!(ignored["result"]["contents"][0]["text"].as_str().unwrap().contains("generated"));
    // A directory is no resource (issue 10): not found, with a pointer to list_directory.
    for uri in [
        crate::support::file_uri(&format!("{root}/src")),
        crate::support::file_uri(&format!("{root}/src/")),
        crate::support::file_uri(&root),
    ] {
        let dir = server.request("resources/read", json!({ "uri": uri }));
        assert_eq!(dir["error"]["code"], -32002, "{uri}: {dir}");
        let message = dir["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("list_directory"), "{uri}: {dir}");
    }
}

#[test]
fn missing_resources_are_not_found_in_both_eras() {
    let mut legacy = TestServer::start();
    let root = legacy.path("");
    for uri in [
        crate::support::file_uri(&format!("{root}/nope.txt")),
        "sqlite://nothing/schema".to_owned(),
        "https://example.com/".to_owned(),
    ] {
        let response = legacy.request("resources/read", json!({"uri": uri}));
        assert_eq!(response["error"]["code"], -32002, "{uri}: {response}");
        assert!(response.get("result").is_none(), "never empty contents: {response}");
    }
    let mut modern = TestServer::builder().modern().start();
    let response = modern.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{}/nope.txt", modern.path("")))}),
    );
    assert_eq!(
        response["error"]["code"], -32602,
        "2026-07-28 clients get invalid params: {response}"
    );
    let found = modern.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{}/README.md", modern.path("")))}),
    );
    assert!(found["result"]["contents"][0]["text"].is_string(), "{found}");
}

#[test]
fn read_refuses_files_over_the_limits() {
    let mut server = TestServer::builder()
        .args(["--max-read-bytes", "1KiB", "--max-media-bytes", "2KiB"])
        .start_with(|_, root| {
            fs::write(root.join("big.txt"), "a".repeat(1500)).unwrap();
            fs::write(root.join("big.bin"), vec![0u8; 3000]).unwrap();
            fs::write(root.join("ok.bin"), vec![0u8; 1500]).unwrap();
        });
    let root = server.path("");
    let big = server.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{root}/big.txt"))}),
    );
    assert_eq!(big["error"]["code"], -32602, "{big}");
    assert!(big["error"]["message"].as_str().unwrap().contains("--max-read-bytes"), "{big}");
    let bin = server.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{root}/big.bin"))}),
    );
    assert!(bin["error"]["message"].as_str().unwrap().contains("--max-media-bytes"), "{bin}");
    let ok = server.request(
        "resources/read",
        json!({"uri": crate::support::file_uri(&format!("{root}/ok.bin"))}),
    );
    assert!(ok["result"]["contents"][0]["blob"].is_string(), "{ok}");
}
