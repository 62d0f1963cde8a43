//! The tutorial (`docs/tutorial/first-order.md`) is this test's input: the api binary is
//! started as its step 0 says (`cargo run --bin api -- ARGS` becomes the built `api ARGS`,
//! with the command's `VAR=value` prefix as its environment, a fresh database and a free
//! port), every command it marks is run in `bash` from one scratch directory against that
//! api (`localhost:8080` becoming the api's address), and each answer must be what the page
//! shows. So the page cannot drift from what the system answers.
//!
//! Marks, HTML comments the repository browser does not show, each before a fenced block:
//! `<!-- tutorial: start -->` (the command that starts the system), `<!-- tutorial: run -->`
//! (a command), `<!-- tutorial: run, again until the answer matches -->` (a command that may
//! be repeated: it is run until its answer matches, within a deadline), and
//! `<!-- tutorial: answer -->` (what the command before it prints). In an answer `…` stands
//! for any text; a `json` answer is compared as JSON (the same keys, the same values), a
//! `text` one line by line.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use crate::helpers::{
    drop_database, fresh_database_url, main_cluster, one_at_a_time, spawn_api_with,
};
use crate::tutorial_answers::differences;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tutorial/first-order.md");
const REPEAT_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
enum Mark {
    Start,
    Run,
    RunUntilMatch,
    Answer,
}

/// A marked fenced block: its mark, its language and its text.
#[derive(Debug, Clone)]
struct Block {
    mark: Mark,
    lang: String,
    text: String,
}

#[derive(Debug, Clone)]
struct Step {
    command: String,
    repeat: bool,
    answer: Block,
}

/// The marked blocks of a page, in order.
fn marked_blocks(page: &str) -> Vec<Block> {
    let mut blocks = vec![];
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let mark = match line.trim() {
            "<!-- tutorial: start -->" => Mark::Start,
            "<!-- tutorial: run -->" => Mark::Run,
            "<!-- tutorial: run, again until the answer matches -->" => Mark::RunUntilMatch,
            "<!-- tutorial: answer -->" => Mark::Answer,
            other => {
                assert!(!other.starts_with("<!-- tutorial"), "unknown mark: {other}");
                continue;
            }
        };
        let fence = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or("");
        let lang = fence
            .strip_prefix("```")
            .unwrap_or_else(|| panic!("a fenced block after {line}, not {fence:?}"));
        let text: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push(Block {
            mark,
            lang: lang.trim().to_owned(),
            text: text.join("\n") + "\n",
        });
    }
    blocks
}

/// The start command, and the steps: each command with the answer after it.
fn steps(page: &str) -> (String, Vec<Step>) {
    let blocks = marked_blocks(page);
    let (start, rest) = blocks.split_first().expect("marked blocks");
    assert_eq!(start.mark, Mark::Start, "the first mark starts the system");
    let steps = rest
        .chunks(2)
        .map(|pair| {
            let [command, answer] = pair else {
                panic!("a command without its answer: {pair:?}")
            };
            assert!(
                matches!(command.mark, Mark::Run | Mark::RunUntilMatch)
                    && answer.mark == Mark::Answer,
                "a command, then its answer: {pair:?}"
            );
            Step {
                command: command.text.clone(),
                repeat: command.mark == Mark::RunUntilMatch,
                answer: answer.clone(),
            }
        })
        .collect();
    (start.text.trim().to_owned(), steps)
}

/// `VAR=v cargo run --bin api -- ARGS`: the environment and the api's arguments.
fn start_command(command: &str) -> (Vec<(String, String)>, Vec<String>) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| !w.contains('='))
        .expect("a command");
    let env = words[..at]
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .unwrap()
        })
        .collect();
    let rest = words[at..].join(" ");
    let args = rest
        .strip_prefix("cargo run --bin api --")
        .unwrap_or_else(|| panic!("step 0 runs the api with cargo: {command}"));
    (env, args.split_whitespace().map(str::to_owned).collect())
}

/// Runs one command in `dir`, `localhost:8080` meaning `address`; its stdout.
fn run(command: &str, dir: &Path, address: &str) -> String {
    let command = command.replace("localhost:8080", address);
    let out = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-ec", &command])
        .current_dir(dir)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return format!(
            "{stdout}[exit {:?}: {}]",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

/// Runs a step (again until it fits, if it may be repeated); what differed, if it never fit.
async fn check_step(step: &Step, dir: &Path, address: &str) -> Result<(), String> {
    let end = Instant::now() + REPEAT_FOR;
    loop {
        let output = run(&step.command, dir, address);
        let found = differences(&step.answer.lang, &step.answer.text, &output);
        if found.is_empty() {
            return Ok(());
        }
        if !step.repeat || Instant::now() > end {
            return Err(format!("{}\n{output}\n{}", step.command, found.join("\n")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_tutorial_answers_what_the_tutorial_shows() {
    let _serial = one_at_a_time().await;
    let page = std::fs::read_to_string(PAGE).expect("the tutorial");
    let (start, steps) = steps(&page);
    assert!(
        steps.len() >= 8,
        "the tutorial's steps were found: {steps:?}"
    );
    let (env, mut args) = start_command(&start);
    let db = fresh_database_url(&main_cluster(), "faults_tutorial");
    args.extend(["--database-url".to_owned(), db.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut api = spawn_api_with(&args, &env).await;
    let address = api.base_url.trim_start_matches("http://").to_owned();
    let dir = std::env::temp_dir().join(format!("h2s-tutorial-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    for (i, step) in steps.iter().enumerate() {
        if let Err(e) = check_step(step, &dir, &address).await {
            panic!(
                "the tutorial's command {} answers otherwise than the page:\n{e}\n\napi log:\n{}",
                i + 1,
                api.proc.log_tail(20)
            );
        }
    }
    // The check can fail: the last step, against the same api, with its answer changed.
    let mut broken = steps.last().unwrap().clone();
    broken.answer.text = broken.answer.text.replacen("refunded", "paid", 1);
    broken.repeat = false;
    assert!(
        check_step(&broken, &dir, &address).await.is_err(),
        "a changed answer still fits"
    );

    assert_eq!(api.proc.terminate(Duration::from_secs(15)), Some(0));
    std::fs::remove_dir_all(&dir).ok();
    drop_database(&db).await;
}
