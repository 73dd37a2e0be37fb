//! The office directory in service, reloaded like the menu tree: on SIGHUP or when the
//! file changes, a new version that loads replaces the old one; a broken one is refused
//! (every problem logged with file:line:column) and the old one stays in service.

use crate::directory::Directory;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

pub struct Offices {
    /// `None`: the daemon runs without a directory file.
    path: Option<PathBuf>,
    /// The file's modification time when last read.
    seen: Option<SystemTime>,
    current: Arc<Directory>,
}

impl Offices {
    pub fn new(path: Option<PathBuf>, directory: Directory) -> Offices {
        let seen = path.as_deref().and_then(mtime);
        Offices {
            path,
            seen,
            current: Arc::new(directory),
        }
    }

    pub fn current(&self) -> &Arc<Directory> {
        &self.current
    }

    pub fn changed_on_disk(&self) -> bool {
        let now = self.path.as_deref().and_then(mtime);
        now.is_some() && now != self.seen
    }

    /// Reads the file again. Returns whether a new version is in service.
    pub fn reload(&mut self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        self.seen = mtime(path);
        if !path.exists() {
            tracing::warn!(file = %path.display(), "office directory gone: the loaded one stays");
            return false;
        }
        match Directory::load(path) {
            Ok((directory, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{w}");
                }
                tracing::info!(
                    file = %path.display(),
                    offices = directory.offices().count(),
                    "office directory in service"
                );
                self.current = Arc::new(directory);
                true
            }
            Err(diagnostics) => {
                for d in &diagnostics {
                    tracing::error!("{d}");
                }
                tracing::error!(file = %path.display(), "office directory refused: the previous one stays");
                false
            }
        }
    }
}

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "\
default_office: a
offices:
  a:
    name: Agenzia A
    kind: agenzia-territoriale
    numbers: [\"06 0100 9000\"]
    province: RM
";

    #[test]
    fn a_good_new_version_replaces_the_old_and_a_broken_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("uffici.yaml");
        std::fs::write(&file, ONE).unwrap();
        let (first, _) = Directory::load(&file).unwrap();
        let mut offices = Offices::new(Some(file.clone()), first);
        assert_eq!(
            offices.current().resolve("0601009000").region.as_deref(),
            Some("Lazio")
        );

        // Milan's number moves to a new office in Lombardia.
        let two = format!(
            "{ONE}  b:\n    name: Agenzia B\n    kind: agenzia-territoriale\n    numbers: [\"02 0100 9000\"]\n    province: MI\n"
        );
        std::fs::write(&file, two).unwrap();
        assert!(offices.reload());
        let b = offices.current().resolve("02 0100 9000");
        assert_eq!(b.region.as_deref(), Some("Lombardia"));
        assert!(b.known);

        // A mistake (unknown province) is refused: the second version stays.
        std::fs::write(&file, ONE.replace("RM", "XX")).unwrap();
        assert!(!offices.reload());
        assert!(offices.current().resolve("02 0100 9000").known);
        // A missing file keeps the directory too.
        std::fs::remove_file(&file).unwrap();
        assert!(!offices.reload());
        assert!(!offices.changed_on_disk());
        assert!(offices.current().resolve("02 0100 9000").known);
    }
}
