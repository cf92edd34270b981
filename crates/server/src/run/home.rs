//! Where openbell keeps its files: `$OPENBELL_HOME`, else `~/.openbell`.

use std::path::PathBuf;

/// The openbell home folder. Not created here; commands create what they write.
pub fn openbell_home() -> PathBuf {
    if let Some(home) = std::env::var_os("OPENBELL_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from(".openbell"),
            |h| PathBuf::from(h).join(".openbell"),
        )
}

/// The folder of user calendar definitions, `<home>/calendars`.
pub fn calendars_dir() -> PathBuf {
    openbell_home().join("calendars")
}

/// The bar store folder: `--data`, else `$OPENBELL_DATA`, else `<home>/data`.
pub fn data_dir(flag: Option<&std::path::Path>) -> PathBuf {
    data_dir_or(flag, None)
}

/// The bar store folder: `--data`, else `$OPENBELL_DATA`, else the config file's `data.dir`,
/// else `<home>/data`.
pub fn data_dir_or(flag: Option<&std::path::Path>, file: Option<&std::path::Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_owned();
    }
    if let Some(dir) = std::env::var_os("OPENBELL_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    file.map_or_else(|| openbell_home().join("data"), std::path::Path::to_owned)
}
