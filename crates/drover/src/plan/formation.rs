//! `-m all=1,web=2,worker=0`: how many instances of each process to run.

use std::collections::BTreeMap;

use crate::plan::options::ConfigError;
use crate::plan::settings::MAX_INSTANCES;
use crate::types::ProcessName;

/// Instance counts: a default (`all`) and per-process overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    all: Option<u32>,
    each: BTreeMap<String, u32>,
}

impl Formation {
    /// How many instances of `name` to run.
    pub fn count(&self, name: &str) -> u32 {
        self.count_or(name, None)
    }

    /// How many instances of `name` to run, `configured` (drover.toml's
    /// `instances`) applying when the formation names neither it nor `all`.
    pub fn count_or(&self, name: &str, configured: Option<u32>) -> u32 {
        self.each
            .get(name)
            .copied()
            .or(self.all)
            .or(configured)
            .unwrap_or(1)
    }
}

/// Parses `all=1,web=2,worker=0`; `names` are the app's processes.
pub fn parse_formation(text: Option<&str>, names: &[&str]) -> Result<Formation, ConfigError> {
    let mut f = Formation {
        all: None,
        each: BTreeMap::new(),
    };
    let Some(text) = text else { return Ok(f) };
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((name, count)) = item.split_once('=') else {
            return Err(ConfigError::cli(
                "--formation",
                format!("{item:?} is not NAME=COUNT"),
                Some("write it as all=1,web=2".into()),
            ));
        };
        let (name, count) = (name.trim(), count.trim());
        let count: u32 = count
            .parse()
            .ok()
            .filter(|c| *c <= MAX_INSTANCES)
            .ok_or_else(|| {
                ConfigError::cli(
                    "--formation",
                    format!("{count:?} in {item:?} is not a count from 0 to {MAX_INSTANCES}"),
                    None,
                )
            })?;
        if name == "all" {
            f.all = Some(count);
            continue;
        }
        if let Err(e) = ProcessName::new(name) {
            return Err(ConfigError::cli(
                "--formation",
                e.to_string(),
                Some(e.hint().into()),
            ));
        }
        if !names.contains(&name) {
            return Err(ConfigError::cli(
                "--formation",
                format!("no process named {name:?}"),
                Some(format!("the Procfile defines: {}", names.join(", "))),
            ));
        }
        f.each.insert(name.to_string(), count);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formation_defaults_and_overrides() {
        let f = parse_formation(Some("all=2, web=3,worker=0"), &["web", "worker", "x"]).unwrap();
        assert_eq!((f.count("web"), f.count("worker"), f.count("x")), (3, 0, 2));
        assert_eq!(parse_formation(None, &["web"]).unwrap().count("web"), 1);
    }

    #[test]
    fn formation_errors_name_the_problem() {
        let e = parse_formation(Some("web"), &["web"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--formation: \"web\" is not NAME=COUNT\n  hint: write it as all=1,web=2"
        );
        let e = parse_formation(Some("wbe=2"), &["web"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--formation: no process named \"wbe\""),
            "{e}"
        );
        assert!(e.contains("the Procfile defines: web"), "{e}");
        let e = parse_formation(Some("web=-1"), &["web"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a count"), "{e}");
    }

    #[test]
    fn formation_names_follow_the_procfile_rule() {
        let e = parse_formation(Some("web.1=2"), &["web"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--formation: invalid process name \"web.1\"\n  \
             hint: a process name may contain only letters, digits, '_' and '-'"
        );
    }
}
