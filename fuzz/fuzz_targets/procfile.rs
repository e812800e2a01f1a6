//! The Procfile parser on arbitrary text: it never panics, and an error
//! names the file and a line that exists.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = Path::new("Procfile");
    if let Err(e) = drover::plan::procfile::parse(path, text) {
        check_error(&e, path, text);
    }
});

fn check_error(e: &drover::plan::input::InputError, path: &Path, text: &str) {
    assert_eq!(e.path, path, "{e}");
    if let Some(line) = e.line {
        assert!(
            line >= 1 && line <= drover::plan::input::lines(text).len(),
            "line {line}: {e}"
        );
    }
    assert!(e.to_string().starts_with("Procfile"), "{e}");
}
