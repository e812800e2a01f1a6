//! Watching the files of the processes with `watch` (or `--watch`): one
//! inotify watcher for all of them, filtered by each process's globs,
//! `.git/`, and the `.gitignore`/`.ignore` files; debounced per process
//! (trailing edge); each burst ends as one [`ChildEvent::FilesChanged`].
//!
//! Owns: the watches (one per folder, added while walking the roots with
//! ripgrep's `ignore` walker, so that ignored trees such as `target/` or
//! `node_modules/` cost no watch; folders created later are added as they
//! appear), the matching and the debounce. No polling: with nothing
//! changing, the watcher's thread and task sleep in the kernel.
//! Must not decide what a change does (the supervisor's core does).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use ::notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use ::notify::{RecursiveMode, Watcher as _};
use globset::GlobSet;
use ignore::gitignore::Gitignore;
use ignore::Match;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::plan::watching::glob_set;
use crate::plan::ProcessSpec;
use crate::process::launcher::ChildEvent;

/// One watching process: where its globs start and what they match.
struct Target {
    index: usize,
    dir: PathBuf,
    patterns: Vec<String>,
    paths: GlobSet,
    ignore: GlobSet,
    debounce: std::time::Duration,
}

/// Changes of one target not sent yet: the paths in the order seen, and
/// when the burst will have been quiet long enough.
#[derive(Default)]
struct Pending {
    files: Vec<String>,
    seen: HashSet<String>,
    due: Option<Instant>,
}

/// One `.gitignore` or `.ignore` file.
struct IgnoreFile {
    /// Its folder: it speaks of paths under it.
    dir: PathBuf,
    file: PathBuf,
    matcher: Gitignore,
}

/// What every watched path is checked against.
struct Filter {
    targets: Vec<Target>,
    /// Each `.gitignore`/`.ignore` found, deepest first.
    ignores: Vec<IgnoreFile>,
    /// drover's own files under a watched folder (the log folder, the
    /// control socket): a change there is drover's, never the app's.
    own: Vec<PathBuf>,
}

/// Starts the file watcher as a janitor job when a process watches; it
/// ends when `stopped` turns true. `own` are drover's own paths, never a
/// change.
pub fn spawn(
    specs: &[ProcessSpec],
    own: Vec<PathBuf>,
    events: mpsc::UnboundedSender<ChildEvent>,
    stopped: watch::Receiver<bool>,
) {
    let targets = targets(specs);
    if targets.is_empty() {
        return;
    }
    let processes: Vec<String> = specs.iter().map(|s| s.process.clone()).collect();
    janitor::job("file watcher").spawn(async move {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let watcher =
            ::notify::recommended_watcher(move |ev: ::notify::Result<::notify::Event>| {
                // Reads (inotify's IN_OPEN, which notify always asks for) end
                // here, on notify's thread, without waking the task.
                if ev
                    .as_ref()
                    .is_ok_and(|ev| !counts(ev.kind) && !ev.need_rescan())
                {
                    return;
                }
                // The receiver is gone only once drover is stopping.
                let _ = raw_tx.send(ev);
            });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot watch files: {e}; no process restarts on changes");
                return;
            }
        };
        let own = own.iter().map(|p| canonical(p)).collect();
        let mut filter = Filter {
            targets,
            ignores: Vec::new(),
            own,
        };
        let started = std::time::Instant::now();
        // Walking a big tree blocks: off the runtime's threads.
        let walked = tokio::task::spawn_blocking(move || {
            let folders = roots(&filter.targets)
                .iter()
                .map(|(root, recursive)| filter.add_root(&mut watcher, root, *recursive))
                .sum::<usize>();
            (filter, watcher, folders)
        })
        .await;
        let Ok((mut filter, mut watcher, folders)) = walked else {
            tracing::warn!("cannot watch files: the walk of the watched folders failed");
            return;
        };
        let names: Vec<&str> = filter
            .targets
            .iter()
            .map(|t| processes[t.index].as_str())
            .collect();
        tracing::info!(
            "watching files for {}: {folders} folder{} (set up in {:.0?})",
            names.join(", "),
            if folders == 1 { "" } else { "s" },
            started.elapsed()
        );
        run(&mut filter, &mut watcher, raw_rx, &events, stopped).await;
    });
}

/// Collects the raw events until `stopped`, and sends each target's
/// changes once they have been quiet for its debounce.
async fn run(
    filter: &mut Filter,
    watcher: &mut ::notify::RecommendedWatcher,
    mut raw: mpsc::UnboundedReceiver<::notify::Result<::notify::Event>>,
    events: &mpsc::UnboundedSender<ChildEvent>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut pending: Vec<Pending> = filter.targets.iter().map(|_| Pending::default()).collect();
    loop {
        let due = pending.iter().filter_map(|p| p.due).min();
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    return;
                }
            }
            Some(ev) = raw.recv() => match ev {
                Ok(ev) => filter.event(watcher, &ev, &mut pending, Instant::now()),
                Err(e) => tracing::debug!("file watcher: {e}"),
            },
            () = sleep_until_opt(due) => {
                let now = Instant::now();
                for (t, p) in filter.targets.iter().zip(&mut pending) {
                    if p.due.is_some_and(|d| d <= now) {
                        let files = std::mem::take(&mut p.files);
                        p.seen.clear();
                        p.due = None;
                        let _ = events.send(ChildEvent::FilesChanged { index: t.index, files });
                    }
                }
            }
        }
    }
}

impl Filter {
    /// Adds a watch on `root` and, when `recursive`, on each folder under
    /// it that is not ignored; remembers the ignore files found. Returns
    /// the number of folders watched.
    fn add_root(
        &mut self,
        watcher: &mut ::notify::RecommendedWatcher,
        root: &Path,
        recursive: bool,
    ) -> usize {
        self.add_ancestor_ignores(root);
        if !recursive {
            return usize::from(add_watch(watcher, root));
        }
        let mut folders = 0;
        let own = self.own.clone();
        let walk = ignore::WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .filter_entry(move |e| e.file_name() != ".git" && !own.iter().any(|o| o == e.path()))
            .build();
        for entry in walk.flatten() {
            let name = entry.file_name();
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                folders += usize::from(add_watch(watcher, entry.path()));
            } else if name == ".gitignore" || name == ".ignore" {
                self.add_ignore_file(entry.path());
            }
        }
        folders
    }

    /// The ignore files of the folders above `root`, up to the repository's
    /// top (the folder with `.git`) or `/`.
    fn add_ancestor_ignores(&mut self, root: &Path) {
        for dir in root.ancestors().skip(1) {
            for name in [".gitignore", ".ignore"] {
                let file = dir.join(name);
                if file.is_file() {
                    self.add_ignore_file(&file);
                }
            }
            if dir.join(".git").exists() {
                break;
            }
        }
    }

    fn add_ignore_file(&mut self, file: &Path) {
        let Some(dir) = file.parent() else { return };
        if self.ignores.iter().any(|i| i.file == file) {
            return;
        }
        let (matcher, error) = Gitignore::new(file);
        if let Some(e) = error {
            tracing::debug!("{}: {e}", file.display());
        }
        self.ignores.push(IgnoreFile {
            dir: dir.to_path_buf(),
            file: file.to_path_buf(),
            matcher,
        });
        // Deepest first; in one folder `.ignore` before `.gitignore`, as
        // ripgrep ranks them.
        let rank = |i: &IgnoreFile| {
            let depth = i.dir.components().count();
            (std::cmp::Reverse(depth), i.file.ends_with(".gitignore"))
        };
        self.ignores.sort_by_key(rank);
    }

    /// Whether `.git/`, drover's own files or an ignore file exclude `path`.
    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        if path
            .components()
            .any(|c| c == Component::Normal(".git".as_ref()))
        {
            return true;
        }
        if self.own.iter().any(|o| path.starts_with(o)) {
            return true;
        }
        for i in &self.ignores {
            if !path.starts_with(&i.dir) {
                continue;
            }
            match i.matcher.matched_path_or_any_parents(path, is_dir) {
                Match::None => continue,
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
            }
        }
        false
    }

    /// One raw event: folders created are watched; each path a target
    /// matches is added to its pending changes.
    fn event(
        &mut self,
        watcher: &mut ::notify::RecommendedWatcher,
        ev: &::notify::Event,
        pending: &mut [Pending],
        now: Instant,
    ) {
        if ev.need_rescan() {
            // The kernel's queue overflowed: changes were lost, so every
            // watching process restarts once.
            for (t, p) in self.targets.iter().zip(pending.iter_mut()) {
                let lost = "(more changes than inotify could queue)".to_string();
                if p.seen.insert(lost.clone()) {
                    p.files.push(lost);
                }
                p.due = Some(now + t.debounce);
            }
            return;
        }
        if !counts(ev.kind) {
            return;
        }
        let mut paths: Vec<PathBuf> = Vec::new();
        for path in &ev.paths {
            let is_dir = path.is_dir();
            if self.ignored(path, is_dir) {
                continue;
            }
            let arrived = matches!(
                ev.kind,
                EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
            );
            if is_dir && arrived {
                // A new folder (made, or moved in): watch it, and count
                // what is in it already (written before its watch was added).
                self.add_root(watcher, path, true);
                let files = self.files_under(path);
                if !files.is_empty() {
                    // The files name the change better than their folder.
                    paths.extend(files);
                    continue;
                }
            }
            paths.push(path.clone());
        }
        for path in &paths {
            self.pend(path, pending, now);
        }
    }

    fn pend(&self, path: &Path, pending: &mut [Pending], now: Instant) {
        for (t, p) in self.targets.iter().zip(pending.iter_mut()) {
            let Ok(rel) = path.strip_prefix(&t.dir) else {
                continue;
            };
            if !t.paths.is_match(rel) || t.ignore.is_match(rel) {
                continue;
            }
            let rel = rel.to_string_lossy().into_owned();
            if p.seen.insert(rel.clone()) {
                p.files.push(rel);
            }
            p.due = Some(now + t.debounce);
        }
    }

    /// The files under a new folder, not ignored.
    fn files_under(&self, dir: &Path) -> Vec<PathBuf> {
        ignore::WalkBuilder::new(dir)
            .hidden(false)
            .require_git(false)
            .build()
            .flatten()
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .map(ignore::DirEntry::into_path)
            .filter(|p| !self.ignored(p, false))
            .collect()
    }
}

/// `path` as inotify will name it: symbolic links resolved, also for a
/// file not made yet (the control socket) through its folder.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|e| match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir).map(|d| d.join(name)),
            _ => Err(e),
        })
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Whether an event of this kind is a change: a write, a creation, a
/// removal, a rename, a touch; not a read.
fn counts(kind: EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    }
}

/// Adds a watch on one folder; says why when the kernel refuses.
fn add_watch(watcher: &mut ::notify::RecommendedWatcher, dir: &Path) -> bool {
    match watcher.watch(dir, RecursiveMode::NonRecursive) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                "cannot watch {}: {e} (too many folders? see fs.inotify.max_user_watches)",
                dir.display()
            );
            false
        }
    }
}

/// The watching processes, their globs compiled (the plan checked them):
/// one for each process, named by its first instance, since its instances
/// share the watch (the core restarts each of them).
fn targets(specs: &[ProcessSpec]) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let Some(w) = &spec.watch else { continue };
        if targets
            .iter()
            .any(|t| specs[t.index].process == spec.process)
        {
            continue;
        }
        let (paths, ignore) = match (glob_set(&w.paths), glob_set(&w.ignore)) {
            (Ok(p), Ok(i)) => (p, i),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("{}: not watching: {e}", spec.name);
                continue;
            }
        };
        targets.push(Target {
            index,
            dir: canonical(&w.dir),
            patterns: w.paths.clone(),
            paths,
            ignore,
            debounce: w.debounce,
        });
    }
    targets
}

/// The folders to watch for every target, each once: the literal part of
/// each glob (`src/` of `src/**/*.py`), recursively, or the folder of a
/// literal file, alone; a folder that does not exist yet is watched from
/// its nearest existing parent.
fn roots(targets: &[Target]) -> Vec<(PathBuf, bool)> {
    let mut found: Vec<(PathBuf, bool)> = targets
        .iter()
        .flat_map(|t| t.patterns.iter().map(|p| root_of(&t.dir, p)))
        .collect();
    // Recursive roots first, shortest first, so that each covers the rest.
    found.sort_by_key(|(path, recursive)| (!*recursive, path.components().count()));
    let mut roots: Vec<(PathBuf, bool)> = Vec::new();
    for (path, recursive) in found {
        let covered = roots
            .iter()
            .any(|(r, whole)| (*whole && path.starts_with(r)) || (!recursive && *r == path));
        if !covered {
            roots.push((path, recursive));
        }
    }
    roots
}

/// Where a `watch` entry's watching starts, and whether recursively.
fn root_of(dir: &Path, pattern: &str) -> (PathBuf, bool) {
    let p = pattern.trim_start_matches("./").trim_end_matches('/');
    let mut literal = dir.to_path_buf();
    let mut all_literal = true;
    for part in p.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if part.contains(['*', '?', '[', '{']) {
            all_literal = false;
            break;
        }
        literal.push(part);
    }
    let mut at = literal.as_path();
    while !at.exists() {
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    if at != literal {
        return (at.to_path_buf(), true);
    }
    if all_literal && at.is_file() {
        return (at.parent().unwrap_or(dir).to_path_buf(), false);
    }
    (at.to_path_buf(), true)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> Filter {
        Filter {
            targets: Vec::new(),
            ignores: Vec::new(),
            own: Vec::new(),
        }
    }

    #[test]
    fn nested_ignore_files_speak_of_their_own_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join(".gitignore"), "*.log\n/build/\n").unwrap();
        std::fs::write(d.join("sub/.gitignore"), "!keep.log\nlocal/\n").unwrap();
        std::fs::write(d.join("sub/.ignore"), "keep.log\n").unwrap();
        let mut f = filter();
        f.add_ignore_file(&d.join(".gitignore"));
        f.add_ignore_file(&d.join("sub/.gitignore"));
        f.add_ignore_file(&d.join("sub/.ignore"));
        f.add_ignore_file(&d.join("sub/.ignore"));
        assert_eq!(f.ignores.len(), 3, "each file once");
        assert!(f.ignored(&d.join("a.log"), false));
        assert!(f.ignored(&d.join("build/x.o"), false));
        assert!(
            !f.ignored(&d.join("sub/build/x.o"), false),
            "anchored at the top"
        );
        assert!(f.ignored(&d.join("sub/local/x.py"), false));
        assert!(f.ignored(&d.join("sub/keep.log"), false), ".ignore wins");
        assert!(!f.ignored(&d.join("sub/app.py"), false));
        assert!(f.ignored(&d.join(".git/index"), false));
        assert!(f.ignored(&d.join("sub/.git/HEAD"), false));
    }

    #[test]
    fn roots_are_the_literal_folders_of_the_globs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("src/a")).unwrap();
        std::fs::write(d.join("main.rs"), "").unwrap();
        assert_eq!(root_of(d, "src/**/*.py"), (d.join("src"), true));
        assert_eq!(root_of(d, "./src/a/"), (d.join("src/a"), true));
        assert_eq!(root_of(d, "main.rs"), (d.to_path_buf(), false));
        assert_eq!(root_of(d, "missing/x/*.py"), (d.to_path_buf(), true));
        assert_eq!(root_of(d, "*.py"), (d.to_path_buf(), true));
        assert_eq!(root_of(d, "."), (d.to_path_buf(), true));
    }
}
