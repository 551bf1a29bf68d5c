//! No cycles between modules: within each crate, the modules side by side in one folder (the
//! children of one parent) must form a graph without cycles, where a module depends on a
//! sibling when any of its files names the sibling (or something inside it) by path
//! (`crate::a::b`, `super::b`, `use crate::{a, b}`). A cycle means two modules cannot be
//! understood, tested or moved apart; the fix is to move what both need to one side.
//!
//! The check reads the source text (comments and strings left out, test modules at the bottom
//! of a file too: a test may use its siblings freely). `cargo xtask test` runs it.

use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose modules are checked (folders of the workspace).
pub const CRATES: &[&str] = &[
    "shared", "wire", "broker", "demo", "store", "backend", "frontend", "xtask",
];

/// Checks every crate of the workspace at `root`; the error lists every cycle.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for name in CRATES {
        let src = root.join(name).join("src");
        if !src.is_dir() {
            continue;
        }
        let files = modules(&src)?;
        for cycle in cycles(&files) {
            problems.push(format!("{name}: {cycle}"));
        }
    }
    if problems.is_empty() {
        eprintln!("xtask: no cycles between modules");
        Ok(())
    } else {
        anyhow::bail!(
            "modules depend on each other in a cycle (move what both need to one of them):\n  {}",
            problems.join("\n  ")
        )
    }
}

/// Every module file under `src`, by module path, with its source text.
fn modules(src: &Path) -> anyhow::Result<BTreeMap<Vec<String>, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                // Binaries are crates of their own.
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("read {}", path.display()))?;
                out.insert(module_path(src, &path), text);
            }
        }
    }
    Ok(out)
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`; `src/lib.rs` and `src/main.rs` are `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative: PathBuf = file.strip_prefix(src).unwrap_or(file).to_path_buf();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// The text without comments, string and character literals, and without a `#[cfg(test)]`
/// module at the bottom.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied()) {
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            (c, _) => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// The module paths a module's code names: `crate::a::b`, `super::x`, `self::x`, and the
/// groups of `use` statements (`use crate::{a, b::c}`), each as an absolute path of names.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code = code(text);
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let rest: String = chars[i..chars.len().min(i + 8)].iter().collect();
        let start = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| boundary && rest.starts_with(p));
        let Some(start) = start else {
            i += 1;
            continue;
        };
        let (path, end) = read_path(&chars, i);
        i = end.max(i + start.len());
        let Some(base) = resolve(module, &path) else {
            continue;
        };
        // A group: `crate::{a, b::c}` names each member.
        if chars.get(end) == Some(&'{') {
            let close = chars[end..]
                .iter()
                .position(|c| *c == '}')
                .map_or(chars.len(), |p| end + p);
            let inner: String = chars[end + 1..close].iter().collect();
            for member in inner.split(',') {
                let names: Vec<String> = member
                    .split("::")
                    .map(|n| n.split_whitespace().next().unwrap_or("").to_owned())
                    .filter(|n| !n.is_empty() && n != "self" && n != "*")
                    .collect();
                if !names.is_empty() {
                    out.push([base.clone(), names].concat());
                }
            }
            i = close;
        }
        out.push(base);
    }
    out
}

/// Reads `crate::a::b::` at `start`: the names, and where the path ends.
fn read_path(chars: &[char], start: usize) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut i = start;
    loop {
        let from = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i == from {
            break;
        }
        names.push(chars[from..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            break;
        }
    }
    (names, i)
}

/// `path` (starting with `crate`, `super` or `self`) as an absolute path from `module`.
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = module.to_vec();
    let mut names = path.iter().peekable();
    match names.next()?.as_str() {
        "crate" => base.clear(),
        "self" => {}
        "super" => {
            base.pop()?;
            while names.next_if(|name| *name == "super").is_some() {
                base.pop()?;
            }
        }
        _ => return None,
    }
    base.extend(names.cloned());
    Some(base)
}

/// Every cycle among siblings, each written `a -> b -> a (in parent)`.
fn cycles(files: &BTreeMap<Vec<String>, String>) -> Vec<String> {
    // parent -> (child -> siblings it depends on)
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, text) in files {
        for target in references(module, text) {
            // The longest known module the path names.
            let Some(target) = (1..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|prefix| files.contains_key(prefix))
            else {
                continue;
            };
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // Itself, an ancestor or a descendant: no edge between siblings.
            if common == module.len() || common == target.len() {
                continue;
            }
            graphs
                .entry(module[..common].to_vec())
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &graphs {
        let mut reported = BTreeSet::new();
        for start in graph.keys() {
            if let Some(cycle) = cycle_from(graph, start)
                && reported.insert(canonical(&cycle))
            {
                let place = if parent.is_empty() {
                    "the crate root".to_owned()
                } else {
                    parent.join("::")
                };
                found.push(format!("{} (in {place})", cycle.join(" -> ")));
            }
        }
    }
    found
}

/// A cycle through `start`, as the names along it (first and last the same).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![start.to_owned()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

/// The same cycle whichever member it was found from.
fn canonical(cycle: &[String]) -> BTreeSet<String> {
    cycle.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<Vec<String>, String> {
        list.iter()
            .map(|(path, text)| {
                let module = path
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                (module, (*text).to_owned())
            })
            .collect()
    }

    #[test]
    fn siblings_naming_each_other_are_a_cycle_and_one_way_is_not() {
        let two_way = files(&[
            ("", "pub mod a; pub mod b;"),
            ("a", "use crate::b::Thing;"),
            ("b", "fn f() { crate::a::g() }"),
        ]);
        assert_eq!(cycles(&two_way), ["a -> b -> a (in the crate root)"]);
        let one_way = files(&[
            ("", "pub mod a; pub mod b;"),
            ("a", "use crate::b::Thing;"),
            (
                "b",
                "// crate::a is named only in a comment\nconst S: &str = \"crate::a\";",
            ),
        ]);
        assert!(cycles(&one_way).is_empty());
    }

    #[test]
    fn super_paths_groups_and_nested_modules_are_followed() {
        let nested = files(&[
            ("engine", "mod state; mod edit;"),
            ("engine/state", "use super::{clock, edit::RuleSet};"),
            ("engine/edit", "use super::state::Challenge;"),
            ("engine/clock", ""),
            ("engine/state/periods", "use super::super::edit::X;"),
        ]);
        assert_eq!(cycles(&nested), ["edit -> state -> edit (in engine)"]);
        // A child naming its parent, or a test module at the bottom, is no cycle.
        let fine = files(&[
            ("a", "mod b; use crate::c::X;"),
            ("a/b", "use super::Y;"),
            ("c", "#[cfg(test)]\nmod tests { use crate::a::Z; }"),
        ]);
        assert!(cycles(&fine).is_empty(), "{:?}", cycles(&fine));
    }
}
