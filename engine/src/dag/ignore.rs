//! `.airflowignore`: files and folders of a DAG folder that are not DAG files, in the glob
//! syntax Airflow 3 reads by default (a subset of `.gitignore`).
//!
//! Each line is a pattern; blank lines and lines starting with `#` are skipped. A pattern
//! without `/` (a trailing one aside) matches a file or folder name at any depth; one with a
//! `/` matches the path relative to the folder holding the `.airflowignore`. `*` matches any
//! characters but `/`, `**` any characters, `?` one character; a trailing `/` matches folders
//! only; a leading `!` takes a path matched by an earlier line back in. An ignored folder is
//! not read at all. `.airflowignore` files in subfolders add to those above them.

use std::path::Path;

/// The name of the file read in every folder scanned.
pub const IGNORE_FILE: &str = ".airflowignore";

/// The patterns in force in one folder, each with the folder it was written in.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The folder the pattern is relative to, relative to the scan root (`""` for the root).
    base: String,
    pattern: String,
    anchored: bool,
    dir_only: bool,
    negated: bool,
}

impl Ignore {
    /// These rules plus those of `folder/.airflowignore`, if present; `rel` is `folder`
    /// relative to the scan root, with `/` separators.
    /// These rules plus those of `folder`'s ignore file.
    pub fn with_folder(&self, folder: &Path, rel: &str) -> Ignore {
        let mut out = self.clone();
        let Ok(text) = std::fs::read_to_string(folder.join(IGNORE_FILE)) else {
            return out;
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, line) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (dir_only, line) = match line.strip_suffix('/') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let anchored = line.contains('/');
            out.rules.push(Rule {
                base: rel.to_string(),
                pattern: line.trim_start_matches('/').to_string(),
                anchored,
                dir_only,
                negated,
            });
        }
        out
    }

    /// Whether the entry at `rel` (relative to the scan root, `/` separators) is ignored.
    pub fn ignores(&self, rel: &str, is_dir: bool) -> bool {
        let mut ignored = false;
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            let Some(local) = strip_base(rel, &rule.base) else {
                continue;
            };
            let hit = if rule.anchored {
                glob(rule.pattern.as_bytes(), local.as_bytes())
            } else {
                let name = local.rsplit('/').next().unwrap_or(local);
                glob(rule.pattern.as_bytes(), name.as_bytes())
            };
            if hit {
                ignored = !rule.negated;
            }
        }
        ignored
    }
}

fn strip_base<'a>(rel: &'a str, base: &str) -> Option<&'a str> {
    if base.is_empty() {
        return Some(rel);
    }
    rel.strip_prefix(base)?.strip_prefix('/')
}

/// Matches `text` against a glob `pat` (`*`, `**`, `?`).
fn glob(pat: &[u8], text: &[u8]) -> bool {
    match pat.first() {
        None => text.is_empty(),
        Some(b'*') if pat.get(1) == Some(&b'*') => {
            // `**/` also matches no folder at all.
            let rest = &pat[2..];
            let rest_no_slash = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=text.len()).any(|i| glob(rest, &text[i..]) || glob(rest_no_slash, &text[i..]))
        }
        Some(b'*') => {
            let rest = &pat[1..];
            for i in 0..=text.len() {
                if glob(rest, &text[i..]) {
                    return true;
                }
                if text.get(i) == Some(&b'/') {
                    break;
                }
            }
            false
        }
        Some(b'?') => text.first().is_some_and(|c| *c != b'/') && glob(&pat[1..], &text[1..]),
        Some(c) => text.first() == Some(c) && glob(&pat[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Ignore {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IGNORE_FILE), text).unwrap();
        Ignore::default().with_folder(dir.path(), "")
    }

    #[test]
    fn names_paths_folders_and_negation() {
        let i = rules(
            "# data, not DAGs\nexpectations/\n*_draft.yaml\nteam_b/**/old_*.yml\n!keep_draft.yaml\n",
        );
        assert!(i.ignores("expectations", true));
        assert!(!i.ignores("expectations", false), "folder-only pattern");
        assert!(i.ignores("sub/x_draft.yaml", false));
        assert!(!i.ignores("keep_draft.yaml", false));
        assert!(i.ignores("team_b/old_a.yml", false));
        assert!(i.ignores("team_b/x/y/old_a.yml", false));
        assert!(!i.ignores("team_c/old_a.yml", false));
        assert!(!i.ignores("daily.yaml", false));
    }

    #[test]
    fn a_star_stays_within_one_folder() {
        let i = rules("a/*.yaml\n");
        assert!(i.ignores("a/x.yaml", false));
        assert!(!i.ignores("a/b/x.yaml", false));
    }
}
