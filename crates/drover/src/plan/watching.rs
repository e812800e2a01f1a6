//! A process's file watch: `watch`, `watch_ignore`, `watch_debounce`,
//! `restart_on_dependency`, and `--watch`, checked into a [`WatchSpec`].
//!
//! Also the one rule that turns the globs and folders into a matcher
//! ([`glob_set`]): the plan checks them with it (a bad glob is a
//! `drover.toml:LINE` error) and the watcher compiles them with it again,
//! so the two never disagree. Reads no file.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use toml::Spanned;

use crate::plan::config_file::{ConfigFile, ProcessConfig};
use crate::plan::input::InputError;
use crate::plan::spec::WatchSpec;

/// A glob of `watch` or `watch_ignore` that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("{pattern:?} is not a valid glob")]
pub struct BadGlob {
    /// The entry as written.
    pub pattern: String,
    /// What globset said.
    #[source]
    pub source: globset::Error,
}

/// The matcher of a list of `watch` (or `watch_ignore`) entries, for paths
/// relative to the watch's folder: `src/**/*.py` is a glob (`*` stays
/// within a folder), `templates/` and `templates` also match everything
/// under that folder, `.` is the whole folder.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, BadGlob> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let bad = |source| BadGlob {
            pattern: pattern.clone(),
            source,
        };
        let p = pattern.trim_start_matches("./").trim_end_matches('/');
        let globs = if p.is_empty() || p == "." {
            vec!["**".to_string()]
        } else {
            vec![p.to_string(), format!("{p}/**")]
        };
        for g in globs {
            let glob = GlobBuilder::new(&g)
                .literal_separator(true)
                .build()
                .map_err(bad)?;
            set.add(glob);
        }
    }
    set.build().map_err(|source| BadGlob {
        pattern: patterns.join(", "),
        source,
    })
}

/// The watch of process `name`: its table's keys, or with `--watch`
/// (`watch_all`) the whole `root` for a process that sets no `watch`.
pub(super) fn watch(
    toml: &ConfigFile,
    name: &str,
    config: Option<&ProcessConfig>,
    cwd: &Path,
    (root, watch_all): (&Path, bool),
) -> Result<Option<WatchSpec>, InputError> {
    let debounce = match config.and_then(|c| c.watch_debounce.as_ref()) {
        Some(d) => toml
            .checked(format_args!("{name}: watch_debounce"), d)?
            .get(),
        None => WatchSpec::DEFAULT_DEBOUNCE,
    };
    let ignore = match config.and_then(|c| c.watch_ignore.as_ref()) {
        Some(list) => checked_globs(toml, name, "watch_ignore", list)?,
        None => Vec::new(),
    };
    match config.and_then(|c| c.watch.as_ref()) {
        Some(list) => Ok(Some(WatchSpec {
            dir: cwd.to_path_buf(),
            paths: checked_globs(toml, name, "watch", list)?,
            ignore,
            debounce,
        })),
        None if watch_all => Ok(Some(WatchSpec {
            dir: root.to_path_buf(),
            paths: vec![".".to_string()],
            ignore,
            debounce,
        })),
        None => Ok(None),
    }
}

fn checked_globs(
    toml: &ConfigFile,
    name: &str,
    key: &str,
    list: &Spanned<Vec<String>>,
) -> Result<Vec<String>, InputError> {
    let patterns = list.get_ref().clone();
    for p in &patterns {
        if Path::new(p).is_absolute() || p.split('/').any(|part| part == "..") {
            return Err(toml
                .error(
                    toml.line(list),
                    format!("{name}: {key}: {p:?} is outside its folder"),
                )
                .with_hint("write globs and folders relative to the process's cwd"));
        }
    }
    glob_set(&patterns).map_err(|e| {
        toml.error(toml.line(list), format!("{name}: {key}: {e}: {}", e.source))
            .with_hint("e.g. watch = [\"src/**/*.py\", \"templates/\"]")
    })?;
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::glob_set;

    fn set(p: &[&str]) -> globset::GlobSet {
        glob_set(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn globs_folders_and_the_whole_folder() {
        let s = set(&["src/**/*.py", "templates/", "main.rs"]);
        assert!(s.is_match("src/app.py"));
        assert!(s.is_match("src/a/b/app.py"));
        assert!(!s.is_match("src/app.pyc"));
        assert!(s.is_match("templates/a/b.html"));
        assert!(s.is_match("main.rs"));
        assert!(!s.is_match("other/main.rs"));
        let star = set(&["*.py"]);
        assert!(star.is_match("a.py"));
        assert!(!star.is_match("src/a.py"), "* stays within a folder");
        assert!(set(&["."]).is_match("any/thing"));
        assert!(set(&["./src"]).is_match("src/x"));
    }

    #[test]
    fn a_bad_glob_names_itself() {
        let e = glob_set(&["src/[".to_string()]).unwrap_err();
        assert_eq!(e.pattern, "src/[");
    }
}
