//! Versioned hot reload of the menu tree: a new file is loaded and checked in full; only
//! a valid tree replaces the current one, and calls keep the `Arc<Tree>` they started
//! with. Triggered by SIGHUP and by a change of the file's modification time.

use crate::ivr::tree::{self, HandoffKind, Node, PromptCatalog, Tree};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

pub struct Trees {
    path: PathBuf,
    catalog: PromptCatalog,
    current: Option<Arc<Tree>>,
    pub version: u64,
    /// Modification time of the file as last seen (loaded or refused).
    seen: Option<SystemTime>,
    queues: Vec<String>,
}

/// Why the daemon could not start with its tree.
#[derive(Debug)]
pub struct TreeErrors(pub String);

impl Trees {
    /// Loads the tree at start. A missing file is not an error (calls get the test line);
    /// an invalid one is: there is no working tree to keep.
    /// `queues`: the queues the daemon serves, to warn about `queue` nodes naming others.
    pub fn load(
        path: PathBuf,
        catalog: PromptCatalog,
        queues: Vec<String>,
    ) -> Result<Trees, TreeErrors> {
        let mut t = Trees {
            path,
            catalog,
            current: None,
            version: 0,
            seen: None,
            queues,
        };
        if !t.path.exists() {
            tracing::warn!(tree = %t.path.display(), "no menu tree: every call gets the DTMF test line");
            return Ok(t);
        }
        t.seen = mtime(&t.path);
        match tree::load(&t.path, &t.catalog) {
            Ok((tree, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{w}");
                }
                t.install(tree);
                Ok(t)
            }
            Err(diags) => Err(TreeErrors(
                diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
        }
    }

    pub fn current(&self) -> Option<Arc<Tree>> {
        self.current.clone()
    }

    /// True when the file changed since it was last looked at.
    pub fn changed_on_disk(&self) -> bool {
        let now = mtime(&self.path);
        now.is_some() && now != self.seen
    }

    /// Loads the file again. Returns whether a new version is in service.
    pub fn reload(&mut self) -> bool {
        self.seen = mtime(&self.path);
        match tree::load(&self.path, &self.catalog) {
            Ok((tree, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{w}");
                }
                self.install(tree);
                true
            }
            Err(diags) => {
                for d in &diags {
                    tracing::error!("{d}");
                }
                tracing::error!(
                    tree = %self.path.display(),
                    errors = diags.iter().filter(|d| d.is_error()).count(),
                    version = self.version,
                    "new tree refused; the current version stays in service"
                );
                false
            }
        }
    }

    fn install(&mut self, tree: Tree) {
        // The tree and the queue settings live in different files: say so when a `queue`
        // node names a queue this daemon does not serve (its callers get the fallback).
        for (i, node) in tree.nodes.iter().enumerate() {
            if let Node::Handoff {
                kind: HandoffKind::Queue,
                target,
                ..
            } = node
                && !self.queues.is_empty()
                && !self.queues.contains(target)
            {
                tracing::warn!(
                    node = %tree.ids[i],
                    queue = %target,
                    "the tree hands callers to a queue the configuration does not define: they will hear the fallback"
                );
            }
        }
        self.version += 1;
        tracing::info!(
            tree = %tree.name,
            file = %self.path.display(),
            nodes = tree.nodes.len(),
            version = self.version,
            "menu tree in service"
        );
        self.current = Some(Arc::new(tree));
    }
}

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
