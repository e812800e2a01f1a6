//! The one rule that turns a name given on the command line (`drover stop`,
//! `restart`, `kill`, `logs`) into instances.
//!
//! An argument names one instance when it equals an instance's name
//! (`web.2`); otherwise it names every instance of the process it equals
//! (`web`). Anything else is an error that lists the names there are.

/// A name that matches no instance and no process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no process named {name:?} (running here: {known})")]
pub struct UnknownName {
    /// The name as given.
    pub name: String,
    /// The instance names there are, comma-separated.
    pub known: String,
}

/// One instance as the rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    /// `web.2`.
    pub name: &'a str,
    /// `web`.
    pub process: &'a str,
}

/// The indexes into `instances` that `args` name, in first-named order,
/// each once.
pub fn resolve(args: &[String], instances: &[Instance<'_>]) -> Result<Vec<usize>, UnknownName> {
    let mut out = Vec::new();
    for arg in args {
        let exact: Vec<usize> = (0..instances.len())
            .filter(|i| instances[*i].name == arg)
            .collect();
        let found = if exact.is_empty() {
            (0..instances.len())
                .filter(|i| instances[*i].process == arg)
                .collect()
        } else {
            exact
        };
        if found.is_empty() {
            let known: Vec<&str> = instances.iter().map(|i| i.name).collect();
            return Err(UnknownName {
                name: arg.clone(),
                known: known.join(", "),
            });
        }
        for i in found {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<Instance<'static>> {
        [("web.1", "web"), ("web.2", "web"), ("web.v2.1", "web.v2")]
            .into_iter()
            .map(|(name, process)| Instance { name, process })
            .collect()
    }

    #[test]
    fn an_instance_name_wins_over_a_process_name() {
        let t = table();
        assert_eq!(resolve(&["web.2".into()], &t), Ok(vec![1]));
        assert_eq!(resolve(&["web".into()], &t), Ok(vec![0, 1]));
        assert_eq!(resolve(&["web.v2".into()], &t), Ok(vec![2]));
        assert_eq!(resolve(&["web".into(), "web.1".into()], &t), Ok(vec![0, 1]));
        let e = resolve(&["nope".into()], &t).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no process named \"nope\" (running here: web.1, web.2, web.v2.1)"
        );
    }
}
