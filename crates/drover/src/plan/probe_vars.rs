//! Variables in a probe's text: `$NAME` and `${NAME}` in `ready = { tcp =
//! ... }` and `{ http = ... }`, expanded per instance so that `-m web=2`
//! probes each instance's own `PORT`.
//!
//! Owns only the syntax and the substitution; what a name stands for is the
//! caller's lookup, and what the text must then be is `readiness`'s.

use crate::types::is_env_var_name;

/// What a name in a probe stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    /// Its value.
    Value(String),
    /// A named port, known once allocated at the start: left as `${NAME}`.
    Later,
    /// Nothing: an error.
    Unknown,
}

/// A reference that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// A name that is set nowhere.
    #[error("${0} is not set")]
    Unset(String),
    /// `${` without a closing `}` or with no name inside.
    #[error("{0:?} is not a variable reference")]
    Bad(String),
}

/// `text` with each `$NAME` and `${NAME}` replaced by `lookup`'s value, and
/// whether any was left for later (as `${NAME}`). A `$` not followed by a
/// name or `{` is kept.
pub(crate) fn expand(text: &str, lookup: &dyn Fn(&str) -> Var) -> Result<(String, bool), VarError> {
    let mut out = String::with_capacity(text.len());
    let mut later = false;
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            let close = braced.find('}');
            let Some(close) = close.filter(|&c| is_env_var_name(&braced[..c])) else {
                let shown = close.map_or(after, |c| &after[..c + 2]);
                return Err(VarError::Bad(format!("${shown}")));
            };
            (&braced[..close], &braced[close + 1..])
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..len], &after[len..])
        };
        if !is_env_var_name(name) {
            out.push('$');
            rest = after;
            continue;
        }
        match lookup(name) {
            Var::Value(v) => out.push_str(&v),
            Var::Later => {
                later = true;
                out.push_str(&format!("${{{name}}}"));
            }
            Var::Unknown => return Err(VarError::Unset(name.to_owned())),
        }
        rest = next;
    }
    out.push_str(rest);
    Ok((out, later))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Var {
        match name {
            "PORT" => Var::Value("5001".into()),
            "HOST" => Var::Value("db$x".into()),
            "PORT_HTTP" => Var::Later,
            _ => Var::Unknown,
        }
    }

    #[test]
    fn both_forms_expand_and_named_ports_wait() {
        assert_eq!(
            expand("http://$HOST:${PORT}/a$", &lookup),
            Ok(("http://db$x:5001/a$".into(), false))
        );
        assert_eq!(expand("$PORT", &lookup), Ok(("5001".into(), false)));
        assert_eq!(
            expand("127.0.0.1:$PORT_HTTP", &lookup),
            Ok(("127.0.0.1:${PORT_HTTP}".into(), true))
        );
        assert_eq!(expand("$1 $-", &lookup), Ok(("$1 $-".into(), false)));
    }

    #[test]
    fn unknown_and_bad_references_are_errors() {
        assert_eq!(
            expand("$NOPE:1", &lookup),
            Err(VarError::Unset("NOPE".into()))
        );
        assert_eq!(
            expand("${PORT", &lookup),
            Err(VarError::Bad("${PORT".into()))
        );
        assert_eq!(
            expand("${PORT:-80}", &lookup),
            Err(VarError::Bad("${PORT:-80}".into()))
        );
    }
}
