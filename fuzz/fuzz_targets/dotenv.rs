//! The .env parser on arbitrary text: it never panics, and an error names
//! the file and a line that exists. Variables it does not define come from
//! a fixed lookup, as they would from drover's environment.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fn base(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/app".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fuzz_target!(|text: &str| {
    let path = Path::new(".env");
    match drover::plan::dotenv::parse(path, text, &base) {
        Ok(vars) => {
            // Each key once.
            let mut keys: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), n, "a key twice: {vars:?}");
        }
        Err(e) => {
            assert_eq!(e.path, path, "{e}");
            if let Some(line) = e.line {
                assert!(
                    line >= 1 && line <= drover::plan::input::lines(text).len(),
                    "line {line}: {e}"
                );
            }
        }
    }
});
