//! The drover.toml parser on arbitrary text: it never panics, and an error
//! names the file and a line that exists.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = Path::new("drover.toml");
    if let Err(e) = drover::plan::config_file::parse(path, text) {
        assert_eq!(e.path, path, "{e}");
        if let Some(line) = e.line {
            assert!(
                line >= 1 && line <= text.split('\n').count(),
                "line {line}: {e}"
            );
        }
    }
});
