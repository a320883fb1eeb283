//! The 1,000,000-file tree (issue 14): watcher start and idle memory, glob search and grep
//! against fd and rg, and every page of `resources/list`, on a tree ten times the main one.
//! Generated after the other scenarios ran and removed when the run ends.

use std::time::Instant;

use serde_json::json;

use crate::client::{Client, memory_kib};
use crate::{Bench, Walk, stats, workload};

impl Bench {
    pub(crate) fn million(&mut self) {
        let (files, dirs) = (self.plan.million_files, self.plan.million_dirs);
        let tree = self.work.join("million");
        let started = Instant::now();
        workload::make_tree(&tree, files, dirs);
        eprintln!("generated the {files}-file tree in {:?}", started.elapsed());
        let tree = tree.display().to_string();
        let runs = self.plan.runs.min(3);

        // The watcher indexes the tree in the background after initialize.
        let mut ready = Vec::new();
        let mut idle = Vec::new();
        for _ in 0..runs {
            let mut client = Client::spawn(&self.server, std::slice::from_ref(&tree));
            client.initialize();
            ready.push(client.wait_stderr("watching for changes") - client.spawned);
            std::thread::sleep(self.plan.idle.min(std::time::Duration::from_secs(3)));
            idle.push(memory_kib(client.pid()).0);
        }
        self.report.row(
            &format!("watcher ready in the background, {files} files"),
            stats(ready).show(),
            String::new(),
            "after initialize",
            None,
        );
        self.report.idle_rss(&format!("idle RSS while watching {files} files"), idle, 64);

        // Uncapped walks, interleaved with fd and rg, on a server that watches the tree.
        let mut client = Client::spawn(
            &self.server,
            &[
                tree.clone(),
                "--max-entries".into(),
                "100000000".into(),
                "--max-result-bytes".into(),
                "4GiB".into(),
            ],
        );
        client.initialize();
        client.wait_stderr("watching for changes");
        let ignore_file = format!("{tree}/.gitignore");
        let fd_rs: Vec<String> =
            ["--hidden", "--color", "never", "--ignore-file", &ignore_file, "-e", "rs", ".", &tree]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        let rg: Vec<String> = ["--hidden", "--no-require-git", "-n", workload::RARE_TOKEN, &tree]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let walks = [
            Walk {
                name: "search_files `**/*.rs`",
                tool: "search_files",
                args: json!({ "path": tree, "pattern": "**/*.rs" }),
                other: "fd -e rs",
                program: self.fd,
                other_args: fd_rs,
                budget: None,
            },
            Walk {
                name: "grep_files, a rare token",
                tool: "grep_files",
                args: json!({ "path": tree, "pattern": workload::RARE_TOKEN }),
                other: "rg",
                program: self.rg.then_some("rg"),
                other_args: rg,
                budget: None,
            },
        ];
        for walk in walks {
            self.compare_walk(&mut client, &walk, files, runs);
        }
        drop(client);

        // Every page of resources/list, default page size.
        let mut client =
            Client::spawn(&self.server, &[tree.clone(), "--watch".into(), "off".into()]);
        client.initialize();
        let idle_kib = memory_kib(client.pid()).0;
        let mut times = Vec::new();
        let mut pages = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let mut cursor: Option<String> = None;
            pages = 0;
            loop {
                let params = cursor.as_ref().map_or_else(|| json!({}), |c| json!({ "cursor": c }));
                let (_, response) = client.request("resources/list", params);
                pages += 1;
                match response["result"]["nextCursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            times.push(started.elapsed());
        }
        self.report.row(
            &format!("resources/list, every page ({pages} pages), {files} files"),
            stats(times).show(),
            String::new(),
            "",
            None,
        );
        self.report.memory(&format!("resources/list over {files} files"), idle_kib, client.pid());
        drop(client);
        let started = Instant::now();
        let _ = std::fs::remove_dir_all(self.work.join("million"));
        // Deleting a million files leaves the disk busy writing back for a while: wait for it,
        // so that the scenarios after this one do not measure it.
        let _ = std::process::Command::new("sync").status();
        eprintln!("removed the {files}-file tree in {:?}", started.elapsed());
    }
}
