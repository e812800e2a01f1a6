//! The checks of the names `drover export` writes into every format: the
//! app (`-a`, or the root folder's name), the user (`-u`) and the image
//! (`--image`). Each accepts only what every format takes without quoting.

use std::path::Path;

use super::{bad_option, ExportError};

/// Checks a name given with `-a`.
pub fn check_app_name(name: &str) -> Result<String, ExportError> {
    let ok = name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(bad_option(
            "--app",
            format!("{name:?} cannot name services"),
            Some("use up to 64 letters, digits, '_', '-' and '.', starting with a letter or digit"),
        ))
    }
}

/// The app's default name: the root folder's name, with every run of other
/// characters than letters, digits, `_`, `-` and `.` made one `-`.
pub fn app_name_from(root: &Path) -> Result<String, ExportError> {
    let folder = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for c in folder.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_matches(|c| c == '-' || c == '.' || c == '_');
    let name: String = name.chars().take(64).collect();
    let name = name.trim_end_matches(['-', '.', '_']);
    if name.is_empty() {
        return Err(bad_option(
            "--app",
            format!("cannot make an app name from the folder {}", root.display()),
            Some("name the app with -a, e.g. -a myapp"),
        ));
    }
    Ok(name.to_owned())
}

/// Checks a user given with `-u`: a name as `useradd` accepts it, or a
/// numeric id. Every format takes these without quoting.
pub fn check_user(user: &str) -> Result<(), ExportError> {
    let ok = user.len() <= 32
        && user
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad_option(
            "--user",
            format!("{user:?} is not a user name or id"),
            Some("use letters, digits, '_', '-' and '.', e.g. -u deploy"),
        ))
    }
}

pub(crate) fn check_image(image: &str) -> Result<String, ExportError> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad_option(
            "--image",
            format!("{image:?} is not an image reference"),
            Some("e.g. --image registry.example/app:1.2"),
        ));
    }
    Ok(image.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_name_from_folder_is_sanitized() {
        let name = |p: &str| app_name_from(Path::new(p));
        assert_eq!(name("/srv/my app!").unwrap(), "my-app");
        assert_eq!(name("/srv/--x_y.z--").unwrap(), "x_y.z");
        assert_eq!(name("/srv/Été 2").unwrap(), "t-2");
        let e = name("/").unwrap_err().to_string();
        assert!(e.starts_with("--app: cannot make an app name"), "{e}");
    }

    #[test]
    fn app_and_user_options_are_checked() {
        assert!(check_app_name("shop.v2").is_ok());
        assert!(check_app_name("-x").is_err());
        assert!(check_app_name("a b").is_err());
        assert!(check_user("deploy").is_ok());
        assert!(check_user("1000").is_ok());
        let e = check_user("a b").unwrap_err().to_string();
        assert!(e.starts_with("--user: \"a b\" is not a user name"), "{e}");
        assert!(check_user("%i").is_err());
    }
}
