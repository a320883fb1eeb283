//! Prompts: `prompts/list` for what is served, `prompts/get` of each (embedded resources read
//! through the sandbox and the database sessions), bad arguments, and completion of their
//! arguments, in both protocol eras.

use std::fs;

use serde_json::{Value, json};

use crate::support::{TestServer, file_uri};

/// The sample tree with its bookshop database as `shop`.
fn bookshop(modern: bool) -> TestServer {
    let builder = TestServer::builder().setup_args(|_, root| {
        vec!["--db".into(), format!("shop={}", root.join("data/bookshop.db").display())]
    });
    if modern { builder.modern().start() } else { builder.start() }
}

fn get(server: &mut TestServer, name: &str, arguments: Value) -> Value {
    server.request("prompts/get", json!({ "name": name, "arguments": arguments }))
}

/// The error of a `prompts/get` that must fail: code -32602 and its message.
fn get_err(server: &mut TestServer, name: &str, arguments: Value) -> String {
    let response = get(server, name, arguments);
    assert_eq!(response["error"]["code"], -32602, "{response}");
    response["error"]["message"].as_str().unwrap().to_owned()
}

fn messages_of(response: &Value) -> &Vec<Value> {
    response["result"]["messages"].as_array().unwrap_or_else(|| panic!("{response}"))
}

fn complete(server: &mut TestServer, prompt: &str, argument: &str, value: &str) -> Vec<String> {
    let response = server.request(
        "completion/complete",
        json!({
            "ref": { "type": "ref/prompt", "name": prompt },
            "argument": { "name": argument, "value": value }
        }),
    );
    let values = response["result"]["completion"]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"));
    values.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_list_offers_what_the_configuration_can_use_in_both_eras() {
    for modern in [false, true] {
        let mut server = bookshop(modern);
        let response = server.request("prompts/list", json!({}));
        let prompts = response["result"]["prompts"].as_array().unwrap();
        let names: Vec<&str> = prompts.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["explore_database", "ask_database", "summarize_directory", "find_and_fix"],
            "{response}"
        );
        let ask = &prompts[1];
        assert_eq!(ask["title"], "Ask a database");
        assert_eq!(ask["arguments"][0]["name"], "db");
        assert_eq!(ask["arguments"][0]["required"], false);
        assert_eq!(ask["arguments"][1]["name"], "question");
        assert_eq!(ask["arguments"][1]["required"], true);
        if !modern {
            assert!(server.initialize_result["capabilities"]["prompts"].is_object());
        }
    }
    // Read-only files and no database: only the prompt that reads files.
    let mut server = TestServer::builder().args(["--read-only"]).start();
    let response = server.request("prompts/list", json!({}));
    let names: Vec<&str> = response["result"]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["summarize_directory"]);
    assert!(get_err(&mut server, "find_and_fix", json!({"pattern": "x"})).contains("no prompt"));
}

#[test]
fn explore_database_embeds_the_schema_resource_as_resources_read_gives_it() {
    for modern in [false, true] {
        let mut server = bookshop(modern);
        let response = get(&mut server, "explore_database", json!({ "db": "shop" }));
        let messages = messages_of(&response);
        let resource = &messages[0]["content"]["resource"];
        assert_eq!(messages[0]["content"]["type"], "resource", "{response}");
        assert_eq!(resource["uri"], "sqlite://shop/schema");
        let read = server.request("resources/read", json!({ "uri": "sqlite://shop/schema" }));
        assert_eq!(resource["text"], read["result"]["contents"][0]["text"]);
        assert!(resource["text"].as_str().unwrap().contains("CREATE TABLE"));
        let ask = messages[1]["content"]["text"].as_str().unwrap();
        assert!(ask.contains("relationships") && ask.contains("five questions"), "{ask}");
        // One database: db may be left out.
        let again = get(&mut server, "explore_database", json!({}));
        assert_eq!(again["result"]["messages"], response["result"]["messages"]);
        let err = get_err(&mut server, "explore_database", json!({ "db": "nope" }));
        assert!(err.contains("nope") && err.contains("shop"), "{err}");
    }
}

#[test]
fn ask_database_needs_a_question_and_carries_it_with_the_guidance() {
    let mut server = bookshop(false);
    let err = get_err(&mut server, "ask_database", json!({ "db": "shop" }));
    assert!(err.contains("question"), "{err}");
    let err = get_err(&mut server, "ask_database", json!({ "db": "shop", "question": "" }));
    assert!(err.contains("question"), "an empty question is a missing one: {err}");
    let err = get_err(&mut server, "ask_database", json!({ "question": 5 }));
    assert!(err.contains("string"), "{err}");
    let err = get_err(&mut server, "ask_database", json!({ "question": "q", "sql": "DROP" }));
    assert!(err.contains("no argument \"sql\""), "{err}");
    let err = get_err(&mut server, "nope", json!({}));
    assert!(err.contains("ask_database"), "the error lists the prompts: {err}");

    let question = "Which author sold the most copies in 2024?";
    let response = get(&mut server, "ask_database", json!({ "question": question }));
    let messages = messages_of(&response);
    assert_eq!(messages[0]["content"]["resource"]["uri"], "sqlite://shop/schema");
    let ask = messages[1]["content"]["text"].as_str().unwrap();
    assert!(ask.contains(question) && ask.contains("read_query") && ask.contains("params"));
}

#[test]
fn summarize_directory_embeds_a_capped_tree_and_the_readme_through_the_sandbox() {
    // A walk of everything would stop at --max-entries inside many/, before src/ and web/.
    let mut server = TestServer::builder().args(["--max-entries", "100"]).start_with(|_, root| {
        fs::create_dir(root.join("many")).unwrap();
        for i in 0..300 {
            fs::write(root.join("many").join(format!("f{i:03}.txt")), "x").unwrap();
        }
        fs::create_dir(root.join("long")).unwrap();
        let lines: String = (1..=400).map(|i| format!("line {i}\n")).collect();
        fs::write(root.join("long/README"), lines).unwrap();
    });
    let root = server.path("");
    let response = get(&mut server, "summarize_directory", json!({ "path": root }));
    let messages = messages_of(&response);
    let tree = messages[0]["content"]["text"].as_str().unwrap();
    assert!(tree.contains("src/") && tree.contains("  bookshop/"), "{tree}");
    assert!(!tree.contains("inventory.py"), "two levels only: {tree}");
    assert!(!tree.contains("bundle"), "ignored files stay out: {tree}");
    assert!(
        tree.contains("    f019.txt\n    [more entries; directory_tree lists them]\n  src/\n"),
        "one big folder is capped: {tree}"
    );
    assert!(tree.contains("  web/"), "and hides no other: {tree}");
    let readme = &messages[1]["content"]["resource"];
    assert_eq!(readme["uri"], file_uri(&format!("{root}/README.md")));
    assert_eq!(readme["text"], fs::read_to_string(server.root.join("README.md")).unwrap());
    assert!(messages[2]["content"]["text"].as_str().unwrap().contains("Summarize"));

    // A long README: its first 300 lines.
    let long = server.path("long");
    let response = get(&mut server, "summarize_directory", json!({ "path": long }));
    let embedded = messages_of(&response)[1]["content"]["resource"]["text"].as_str().unwrap();
    assert_eq!(embedded.lines().count(), 300, "{response}");
    assert!(embedded.ends_with("line 300\n"), "{response}");

    // A directory without a README: the tree alone.
    let docs = server.path("src");
    let response = get(&mut server, "summarize_directory", json!({ "path": docs }));
    assert_eq!(messages_of(&response).len(), 2, "{response}");

    // Outside, missing, a file: refused as bad arguments, nothing read.
    let outside = server.base.path().display().to_string();
    let err = get_err(&mut server, "summarize_directory", json!({ "path": outside }));
    assert!(err.contains("path"), "{err}");
    let err = get_err(&mut server, "summarize_directory", json!({ "path": "../.." }));
    assert!(err.contains("path"), "{err}");
    let err = get_err(&mut server, "summarize_directory", json!({ "path": "README.md" }));
    assert!(err.contains("not a directory"), "{err}");
    let err = get_err(&mut server, "summarize_directory", json!({}));
    assert!(err.contains("needs the argument \"path\""), "{err}");
}

#[cfg(unix)]
#[test]
fn a_readme_linking_outside_the_root_is_not_embedded() {
    let mut server = TestServer::builder().empty().start_with(|base, root| {
        fs::write(base.join("secret.md"), "TOP SECRET").unwrap();
        std::os::unix::fs::symlink(base.join("secret.md"), root.join("README.md")).unwrap();
    });
    let root = server.path("");
    let response = get(&mut server, "summarize_directory", json!({ "path": root }));
    assert!(!response.to_string().contains("TOP SECRET"), "{response}");
    assert_eq!(messages_of(&response).len(), 2, "the tree and the request only: {response}");
}

#[test]
fn find_and_fix_checks_its_pattern_and_path_and_asks_for_dry_runs() {
    let mut server = TestServer::builder()
        .setup_args(|base, _| {
            fs::create_dir(base.join("specs")).unwrap();
            vec!["--ro-root".into(), base.join("specs").display().to_string()]
        })
        .start();
    let err = get_err(&mut server, "find_and_fix", json!({ "pattern": "(unclosed" }));
    assert!(err.contains("pattern"), "{err}");
    let err = get_err(&mut server, "find_and_fix", json!({ "pattern": "(x{1,1000}){1000}" }));
    assert!(err.contains("--max-regex-bytes"), "{err}");
    let outside = server.base.path().display().to_string();
    let err = get_err(&mut server, "find_and_fix", json!({ "pattern": "x", "path": outside }));
    assert!(err.contains("path"), "{err}");
    let specs = server.base.path().join("specs").display().to_string();
    let err = get_err(&mut server, "find_and_fix", json!({ "pattern": "x", "path": specs }));
    assert!(err.contains("read-only directory"), "{err}");

    let root = server.path("");
    let response = get(&mut server, "find_and_fix", json!({ "pattern": "TODO\\b" }));
    let ask = messages_of(&response)[0]["content"]["text"].as_str().unwrap();
    assert!(ask.contains("\n    TODO\\b\n") && ask.contains(&format!("\"{root}\"")), "{ask}");
    assert!(ask.contains("grep_files") && ask.contains("dryRun: true"), "{ask}");
    let src = server.path("src");
    let response = get(
        &mut server,
        "find_and_fix",
        json!({ "pattern": "print\\(", "path": src, "change": "use logging" }),
    );
    let ask = messages_of(&response)[0]["content"]["text"].as_str().unwrap();
    assert!(ask.contains(&format!("\"{src}\"")) && ask.contains("The fix: use logging"), "{ask}");
}

#[test]
fn prompt_arguments_complete_to_databases_and_paths_in_the_sandbox() {
    for modern in [false, true] {
        let mut server = bookshop(modern);
        assert_eq!(complete(&mut server, "explore_database", "db", "s"), ["shop"]);
        assert!(complete(&mut server, "ask_database", "db", "x").is_empty());
        assert!(complete(&mut server, "ask_database", "question", "").is_empty());
        let root = server.path("").replace('\\', "/");
        assert_eq!(complete(&mut server, "summarize_directory", "path", ""), [format!("{root}/")]);
        let below = complete(&mut server, "summarize_directory", "path", &format!("{root}/"));
        assert!(below.contains(&format!("{root}/src/")), "{below:?}");
        assert!(below.iter().all(|p| p.ends_with('/')), "directories only: {below:?}");
        let any = complete(&mut server, "find_and_fix", "path", &format!("{root}/R"));
        assert_eq!(any, [format!("{root}/README.md")]);
        let outside = server.base.path().display().to_string().replace('\\', "/");
        let above = complete(&mut server, "find_and_fix", "path", &format!("{outside}/"));
        assert!(above.iter().all(|p| p.starts_with(&format!("{root}/"))), "{above:?}");
        assert!(complete(&mut server, "nope", "path", "").is_empty());
    }
}
