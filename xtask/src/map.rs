//! ARCHITECTURE.md is a true map: every workspace member has its section (a heading
//! ``### `name` ``), every crate the server is built from appears in the bird's-eye diagram, and
//! every module of the server, the connectors and the store is named in its crate's section.
//! `cargo xtask test` runs this check, so a new crate or module cannot land unmapped.

use anyhow::Context;
use std::path::Path;

/// Crates drawn in the bird's-eye diagram (the build tooling and the tests are not parts of the
/// running system).
const DRAWN: &[&str] = &[
    "shared", "wire", "broker", "demo", "store", "backend", "frontend",
];

/// Crates whose top-level modules are each named in their section.
const MODULES_NAMED: &[&str] = &["broker", "demo", "store", "backend"];

/// Checks the map of the workspace at `root`; the error lists everything unnamed.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let map =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("reading ARCHITECTURE.md")?;
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let problems = unmapped(&map, &members(&manifest), |krate| modules(root, krate));
    if problems.is_empty() {
        eprintln!("xtask: ARCHITECTURE.md names every crate and module");
        Ok(())
    } else {
        anyhow::bail!(
            "ARCHITECTURE.md is not a true map:\n  {}",
            problems.join("\n  ")
        )
    }
}

/// What the map leaves out.
fn unmapped(
    map: &str,
    members: &[String],
    modules_of: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let diagram = diagram(map);
    for member in members {
        let heading = format!("### `{member}`");
        let Some(section) = section(map, &heading) else {
            problems.push(format!(
                "the workspace member `{member}` has no section `{heading}`"
            ));
            continue;
        };
        if DRAWN.contains(&member.as_str()) && !diagram.contains(member.as_str()) {
            problems.push(format!(
                "the crate `{member}` is not in the bird's-eye diagram"
            ));
        }
        if MODULES_NAMED.contains(&member.as_str()) {
            for module in modules_of(member) {
                if !section.contains(&format!("`{module}`"))
                    && !section.contains(&format!("`{module}::"))
                {
                    problems.push(format!(
                        "the module `{member}::{module}` is not named in `{member}`'s section"
                    ));
                }
            }
        }
    }
    problems
}

/// The workspace's members, from the `members = [...]` list of the root manifest.
fn members(manifest: &str) -> Vec<String> {
    let Some(start) = manifest.find("members = [") else {
        return Vec::new();
    };
    let rest = &manifest[start + "members = [".len()..];
    let list = rest.split(']').next().unwrap_or_default();
    list.split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The first fenced block after "## Bird's-eye view".
fn diagram(map: &str) -> &str {
    let Some(start) = map.find("## Bird's-eye view") else {
        return "";
    };
    let rest = &map[start..];
    let mut fences = rest.match_indices("```").map(|(at, _)| at);
    match (fences.next(), fences.next()) {
        (Some(open), Some(close)) => &rest[open..close],
        _ => "",
    }
}

/// The text under `heading` up to the next heading of the same or a higher level.
fn section<'a>(map: &'a str, heading: &str) -> Option<&'a str> {
    let start = map
        .match_indices(heading)
        .find(|(at, _)| *at == 0 || map[..*at].ends_with('\n'))?
        .0;
    let body = &map[start + heading.len()..];
    let end = body
        .match_indices("\n## ")
        .chain(body.match_indices("\n### "))
        .map(|(at, _)| at)
        .min()
        .unwrap_or(body.len());
    Some(&body[..end])
}

/// A crate's top-level modules: the files and folders of its `src` (not `lib`, `main`, `bin`).
fn modules(root: &Path, krate: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(krate).join("src")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let module = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
            let is_module = name.ends_with(".rs") || entry.path().is_dir();
            (is_module && !["lib", "main", "bin"].contains(&module.as_str())).then_some(module)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "# A\n\n## Bird's-eye view\n\n```\n shared ──► backend\n```\n\n\
        ## Code map\n\n### `shared` (pure)\n\n- `engine`: rules.\n\n\
        ### `backend` (the server)\n\n- `tracker`: one loop. `routes::openapi`: the document.\n\n\
        ## Invariants\n\n- `hub`: not in the section.\n";

    #[test]
    fn a_member_without_a_section_a_crate_off_the_diagram_and_an_unnamed_module_are_reported() {
        let members = ["shared", "backend", "store"].map(String::from);
        let problems = unmapped(MAP, &members, |krate| match krate {
            "backend" => vec!["tracker".into(), "routes".into(), "hub".into()],
            _ => Vec::new(),
        });
        assert_eq!(
            problems,
            [
                "the module `backend::hub` is not named in `backend`'s section",
                "the workspace member `store` has no section `### `store``",
            ]
        );
    }

    #[test]
    fn the_members_list_is_read_from_the_manifest() {
        let manifest =
            "[workspace]\nmembers = [\"shared\", \"wire\",\n \"tests\"]\nother = [\"x\"]\n";
        assert_eq!(members(manifest), ["shared", "wire", "tests"]);
    }

    #[test]
    fn the_projects_own_map_is_true() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits in the workspace");
        check(root).expect("ARCHITECTURE.md names every crate and module");
    }
}
