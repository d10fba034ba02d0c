//! The core's imports run one way: every module of `shared/src` imports only from its own layer or
//! the layers below it (docs/architecture.md, "Layers"). A `crate::` path that reaches up a layer — a
//! rule importing a service, a port importing a queue helper — fails here, naming the file and the
//! import, as do two services importing each other. Only `crate::` paths (grouped ones too) are
//! followed: a `super::` import stays inside its own module, so its layer is never crossed, and a
//! circle among one module's files through `super::` is not seen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules of `shared/src`, lowest first; a module may import its own rank or lower.
/// Services are ranked among themselves, so no two import each other.
const LAYERS: &[(&str, u32)] = &[
    // utilities, at the bottom: errors, time, locks, counting windows, backoff, logging
    ("error", 0),
    ("clock", 0),
    ("sync", 0),
    ("window", 0),
    ("retry", 1),
    ("telemetry", 1),
    // the rules: no transport, storage or queue
    ("domain", 2),
    // OCPP-J frames, the official schemas, what a charger's own CALL is answered with
    ("ocpp", 3),
    // what travels between the functions: queue messages, answers, in-flight CALLs
    ("messages", 4),
    // the traits the handlers talk through
    ("ports", 5),
    // services over the ports
    ("plans", 6),
    ("queue_message", 7),
    ("webhook", 8),
    ("answers", 9),
    ("reports", 9),
    ("follow_ups", 9),
    ("views", 9),
    // adapters: each implements the ports, neither imports the other
    ("aws", 10),
    ("embedded", 10),
];

/// From this rank up (services, adapters) no two modules of one rank import each other.
const SERVICES: u32 = 6;

fn rank(module: &str) -> u32 {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, rank)| *rank)
        .unwrap_or_else(|| panic!("module {module} has no layer: add it to LAYERS here and to docs/architecture.md"))
}

/// Every source file of `shared/src`: its path there, and its text.
fn core_files() -> Vec<(String, String)> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files
        .iter()
        .map(|file| {
            let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
            (relative, std::fs::read_to_string(file).expect("source"))
        })
        .collect()
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("shared/src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level modules a source file names through `crate::`, outside comments and its tests.
fn imports(text: &str) -> Vec<String> {
    paths(text).into_iter().map(|mut path| path.swap_remove(0)).collect()
}

#[test]
fn the_cores_imports_run_one_way() {
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (relative, text) in core_files().into_iter().filter(|(relative, _)| relative != "lib.rs") {
        let module = relative.split(['/', '.']).next().unwrap_or_default().to_owned();
        for target in imports(&text).into_iter().filter(|target| *target != module) {
            let (from, to) = (rank(&module), rank(&target));
            if to > from || (to == from && from >= SERVICES) {
                upward.entry(relative.clone()).or_default().push(format!("crate::{target}"));
            }
        }
    }
    for list in upward.values_mut() {
        list.sort();
        list.dedup();
    }
    assert!(upward.is_empty(), "imports that reach up a layer (or across one of services or adapters): {upward:#?}");
}

/// The source file a `crate::` path names: `crate::a::b::…` is `a/b.rs` or `a/b/mod.rs` when that
/// module exists, else `a.rs` or `a/mod.rs`.
fn file_of(src: &Path, path: &[String]) -> Option<String> {
    let candidates = |parts: &[String]| {
        let joined = parts.join("/");
        [format!("{joined}.rs"), format!("{joined}/mod.rs")]
    };
    for len in (1..=path.len().min(2)).rev() {
        for candidate in candidates(&path[..len]) {
            if src.join(&candidate).exists() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Every `crate::a::b` path a source file names outside comments and its tests, as its segments.
fn paths(text: &str) -> Vec<Vec<String>> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    let mut found = Vec::new();
    for line in code.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
        let line = line.split(" //").next().unwrap_or_default();
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            // A group, `crate::{a::X, b::Y}`, names each of its paths.
            let group = rest.strip_prefix('{').map(|inner| {
                let (inner, _) = inner.split_once('}').expect("a grouped crate:: import on one line");
                inner.split(',').map(str::trim).collect::<Vec<_>>()
            });
            for rest in group.unwrap_or_else(|| vec![rest]) {
                let segments = segments_of(rest);
                if !segments.is_empty() {
                    found.push(segments);
                }
            }
        }
    }
    found
}

/// The module path a `crate::` path starts with: its lowercase segments.
fn segments_of(rest: &str) -> Vec<String> {
    rest.split("::")
        .map(|s| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
        .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .collect()
}

#[test]
fn grouped_imports_name_each_of_their_paths() {
    let found = paths("use crate::{ports::RunStore, answers::record, Error};\nlet x = crate::plans::get();");
    assert_eq!(
        found,
        [
            vec!["ports".to_owned()],
            vec!["answers".to_owned(), "record".to_owned()],
            vec!["plans".to_owned(), "get".to_owned()]
        ]
    );
}

#[test]
fn no_two_files_of_the_core_import_each_other_round_a_circle() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (relative, text) in core_files() {
        let mut targets: Vec<String> =
            paths(&text).iter().filter_map(|p| file_of(&src, p)).filter(|t| *t != relative).collect();
        targets.sort();
        targets.dedup();
        graph.insert(relative, targets);
    }
    // Depth-first, three colours: a grey file met again closes a circle.
    fn visit(
        file: &str,
        graph: &BTreeMap<String, Vec<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) {
        state.insert(file.to_owned(), 1);
        path.push(file.to_owned());
        for next in graph.get(file).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                0 => visit(next, graph, state, path),
                1 => {
                    let start = path.iter().position(|f| f == next).unwrap_or(0);
                    panic!("the core's files import each other round a circle: {} → {next}", path[start..].join(" → "));
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(file.to_owned(), 2);
    }
    let mut state = BTreeMap::new();
    for file in graph.keys() {
        if state.get(file.as_str()).copied().unwrap_or(0) == 0 {
            visit(file, &graph, &mut state, &mut Vec::new());
        }
    }
}

/// No source file of the workspace holds over 400 lines before its tests: a file that grows past
/// that is split by what it does.
#[test]
fn no_file_is_over_400_lines_outside_its_tests() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["shared/src", "functions/api/src", "functions/worker/src", "functions/websocket/src", "cli/src"] {
        sources(&root.join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).expect("source");
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            let lines = code.lines().count();
            (lines > 400).then(|| format!("{} ({lines} lines)", file.strip_prefix(&root).unwrap_or(file).display()))
        })
        .collect();
    assert!(long.is_empty(), "files over 400 lines outside their tests: {long:?}");
}
