//! `depends_on`: each entry checked against the app's processes, the graph
//! checked for cycles, and the processes a selection (`drover start web`)
//! needs.

use std::collections::BTreeSet;

use toml::Spanned;

use crate::plan::config_file::{Checked, ConfigFile, DependsOnValue};
use crate::plan::input::InputError;
use crate::plan::spec::{Condition, Dependency};

/// The entries of `name`'s `depends_on`; `names` are the app's processes.
pub(super) fn depends_on(
    toml: &ConfigFile,
    name: &str,
    deps: &Spanned<DependsOnValue>,
    names: &[&str],
) -> Result<Vec<Dependency>, InputError> {
    let line = toml.line(deps);
    let list: Vec<(&String, Checked<Condition>)> = match deps.get_ref() {
        DependsOnValue::List(l) => l
            .iter()
            .map(|n| (n, Checked::Valid(Condition::Started)))
            .collect(),
        DependsOnValue::Table(t) => t.iter().map(|(k, v)| (k, v.clone())).collect(),
    };
    let mut out = Vec::new();
    for (dep, condition) in list {
        if !names.contains(&dep.as_str()) {
            return Err(toml
                .error(
                    line,
                    format!("{name} depends on {dep:?}, which is not a process"),
                )
                .with_hint(format!("the app defines: {}", names.join(", "))));
        }
        if dep == name {
            return Err(toml.error(line, format!("{name} depends on itself")));
        }
        let condition = match condition {
            Checked::Valid(c) => c,
            Checked::Invalid { given, .. } => {
                return Err(toml
                    .error(
                        line,
                        format!("{name}: {given} is not a dependency condition"),
                    )
                    .with_hint("use \"started\", \"ready\" or \"exited_ok\""))
            }
        };
        out.push(Dependency {
            process: dep.clone(),
            condition,
        });
    }
    Ok(out)
}

/// A dependency cycle, as names from the first back to it, if any.
/// `deps[i]` are the dependencies of `names[i]`, each on one of `names`.
pub(super) fn find_cycle(names: &[&str], deps: &[&[Dependency]]) -> Option<Vec<String>> {
    let mut search = CycleSearch {
        names,
        deps,
        marks: vec![Mark::New; names.len()],
        path: Vec::new(),
    };
    (0..names.len()).find_map(|i| match search.marks[i] {
        Mark::New => search.visit(i),
        _ => None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    New,
    Active,
    Done,
}

/// A depth-first search; the path holds the active nodes, in order.
struct CycleSearch<'a> {
    names: &'a [&'a str],
    deps: &'a [&'a [Dependency]],
    marks: Vec<Mark>,
    path: Vec<usize>,
}

impl CycleSearch<'_> {
    fn visit(&mut self, i: usize) -> Option<Vec<String>> {
        self.marks[i] = Mark::Active;
        self.path.push(i);
        for d in self.deps[i] {
            let j = self
                .names
                .iter()
                .position(|x| *x == d.process)
                .expect("dependencies were checked");
            match self.marks[j] {
                Mark::Active => {
                    let start = self
                        .path
                        .iter()
                        .position(|p| *p == j)
                        .expect("active nodes are on the path");
                    let mut cycle: Vec<String> = self.path[start..]
                        .iter()
                        .map(|p| self.names[*p].to_owned())
                        .collect();
                    cycle.push(self.names[j].to_owned());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = self.visit(j) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        self.path.pop();
        self.marks[i] = Mark::Done;
        None
    }
}

/// `wanted` and, transitively, what they depend on; empty when `wanted` is
/// (every process runs).
pub(super) fn select(
    wanted: &[String],
    names: &[&str],
    deps: &[&[Dependency]],
) -> BTreeSet<String> {
    let mut selected: BTreeSet<String> = wanted.iter().cloned().collect();
    let mut todo: Vec<String> = selected.iter().cloned().collect();
    while let Some(n) = todo.pop() {
        let i = names
            .iter()
            .position(|x| *x == n)
            .expect("selected names exist");
        for dep in deps[i] {
            if selected.insert(dep.process.clone()) {
                todo.push(dep.process.clone());
            }
        }
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(process: &str) -> Dependency {
        Dependency {
            process: process.into(),
            condition: Condition::Started,
        }
    }

    #[test]
    fn cycles_are_found_from_the_first_process() {
        let names = ["a", "b", "c", "d"];
        let deps: Vec<Vec<Dependency>> = vec![vec![on("b")], vec![on("c")], vec![on("a")], vec![]];
        let deps: Vec<&[Dependency]> = deps.iter().map(Vec::as_slice).collect();
        assert_eq!(
            find_cycle(&names, &deps),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let acyclic: Vec<&[Dependency]> = vec![&[], &[], &[], &[]];
        assert_eq!(find_cycle(&names, &acyclic), None);
    }

    #[test]
    fn a_selection_takes_what_it_depends_on() {
        let names = ["web", "db", "cache", "worker"];
        let deps: Vec<Vec<Dependency>> = vec![vec![on("db")], vec![on("cache")], vec![], vec![]];
        let deps: Vec<&[Dependency]> = deps.iter().map(Vec::as_slice).collect();
        let picked = select(&["web".into()], &names, &deps);
        assert_eq!(
            picked.into_iter().collect::<Vec<_>>(),
            vec!["cache", "db", "web"]
        );
        assert!(select(&[], &names, &deps).is_empty());
    }
}
